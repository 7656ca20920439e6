# Machine vs human maps, per image x model x method x metric.


rule similarity:
    wildcard_constraints:
        method="|".join(METHODS),  # shuffled_<m> is the next rule's
    input:
        shards=saliency_shards,
        human_maps="results/humans/maps.npz",
        fixations="results/humans/fixations.npz",
    output:
        table="results/similarity/{model}/{method}.csv",
    params:
        metrics=config["similarity"]["metrics"],
    log:
        "logs/similarity/{model}/{method}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/similarity.py"


# The shuffled baseline of method m: m's maps, each image scored with the map of another image of
# the same expression (a seeded derangement within expression), at no model cost.
rule similarity_shuffled:
    wildcard_constraints:
        method="|".join(attention_methods(METHODS)),
    input:
        shards=saliency_shards,
        human_maps="results/humans/maps.npz",
        fixations="results/humans/fixations.npz",
        manifest="results/data/manifest.csv",
    output:
        table="results/similarity/{model}/shuffled_{method}.csv",
    params:
        metrics=config["similarity"]["metrics"],
        seed=config["similarity"]["shuffle_seed"],
    log:
        "logs/similarity/{model}/shuffled_{method}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/similarity_shuffled.py"


rule similarity_table:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        expand("results/similarity/{model}/{method}.csv", model=MODELS, method=METHODS + SHUFFLED),
    output:
        table="results/tables/similarity.csv",
    log:
        "logs/similarity_table.log",
    conda:
        ENV
    script:
        "../workflow/scripts/concat_tables.py"


# Crossed-bootstrap CIs (participants x images) of the mean cc and spearman of every map set: each
# replicate rebuilds the human maps from resampled participants (statistics.crossed_n_boot).
rule similarity_crossed:
    input:
        shards=lambda wc: all_shards(MODELS, METHODS),
        trials="results/humans/trials.csv",
        clicks="results/humans/clicks.csv",
        geometry="results/data/geometry.csv",
        manifest="results/data/manifest.csv",
        reliability="results/humans/reliability.csv",
    output:
        table="results/similarity/crossed_ci.csv",
    params:
        metrics=config["similarity"]["metrics"],
        shuffle_seed=config["similarity"]["shuffle_seed"],
        statistics=config["statistics"],
        stimulus=config["humans"]["stimulus"],
        maps=HUMAN_MAP_SETTINGS,
        image_size=config["dataset"]["image_size"],
    resources:
        mem_mb=2000,
    log:
        "logs/similarity_crossed.log",
    benchmark:
        "benchmarks/similarity_crossed.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/similarity_crossed.py"


def all_saliency_shards(wildcards):
    """Every shard of every model and method."""
    return all_shards(MODELS, METHODS)


rule regions:
    # Share of each map's mass in brows, eyes, nose, mouth and the rest, where regions are known
    # (synthetic faces, AffectNet landmarks); an empty table otherwise.
    input:
        regions="results/data/regions.npz",
        human_maps="results/humans/maps.npz",
        shards=all_saliency_shards,
    output:
        table=report(
            "results/tables/regions.csv",
            caption="../workflow/report/regions.rst",
            category="Tables",
        ),
    log:
        "logs/regions.log",
    conda:
        ENV
    script:
        "../workflow/scripts/regions.py"


def model_saliency_shards(wildcards):
    """Every shard of every method of one model, except maps from outside (no model behind them)."""
    return all_shards([wildcards.model], MODEL_METHODS)


# Deletion/insertion faithfulness (RISE, Petsiuk et al. 2018) of each map set, human maps included.
rule faithfulness:
    input:
        model="results/models/{model}/model.pt",
        manifest="results/data/manifest.csv",
        human_maps="results/humans/maps.npz",
        shards=model_saliency_shards,
    output:
        auc="results/faithfulness/{model}/auc.csv",
        curves="results/faithfulness/{model}/curves.csv",
    params:
        target=config["saliency"]["target"],
        faithfulness=config["faithfulness"],
    threads: 4
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/faithfulness/{model}.log",
    benchmark:
        "benchmarks/faithfulness/{model}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/faithfulness.py"


rule faithfulness_table:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        expand("results/faithfulness/{model}/auc.csv", model=MODELS),
    output:
        table=report(
            "results/tables/faithfulness.csv",
            caption="../workflow/report/faithfulness.rst",
            category="Tables",
        ),
    log:
        "logs/faithfulness_table.log",
    conda:
        ENV
    script:
        "../workflow/scripts/concat_tables.py"
