# Machine vs human maps, per image x instance x method x metric. One job per instance scores every
# method, then shuffled_<m> for every attention method m: m's maps, each image scored with the map
# of another image of the same expression (a seeded derangement within expression), at no model
# cost. Scoring takes seconds: a job per method paid about as much again in script start and imports.
rule similarity:
    priority: 10  # seconds each, but the statistics wait for all of them: not behind faithfulness
    wildcard_constraints:
        # one file per instance: never results/similarity/crossed_ci.csv (rule similarity_crossed)
        model="[A-Za-z0-9_.-]+",
        seed=r"-?\d+",
    input:
        shards=instance_shards,
        human_maps="results/humans/maps.npz",
        fixations="results/humans/fixations.npz",
        manifest="results/data/manifest.csv",
    output:
        table="results/similarity/{model}/seed-{seed}.csv",
    params:
        metrics=config["similarity"]["metrics"],
        shuffle_seed=config["similarity"]["shuffle_seed"],
    log:
        "logs/similarity/{model}/seed-{seed}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/similarity.py"


rule similarity_table:
    priority: 10  # as similarity
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        expand("results/similarity/{instance}.csv", instance=INSTANCES),
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
    priority: 10  # on the longest chain: Extremal Perturbation -> this -> statistics -> report
    input:
        shards=lambda wc: all_shards(INSTANCES, METHODS),
        trials="results/humans/trials.csv",
        clicks="results/humans/clicks.csv",
        geometry="results/data/geometry.csv",
        manifest="results/data/manifest.csv",
        reliability="results/humans/reliability.csv",
    output:
        table="results/similarity/crossed_ci.csv",
        replicates="results/similarity/crossed_replicates.npz",
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
    """Every shard of every instance and method."""
    return all_shards(INSTANCES, METHODS)


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


# The map sets whose faithfulness is measured: the human maps and every method with a model
# behind it (maps from outside have none).
FAITHFULNESS_MAP_SETS = ["human", *MODEL_METHODS]


def faithfulness_maps(wildcards):
    """The maps of one map set of an instance: the human maps, or every shard of a method."""
    if wildcards.method == "human":
        return ["results/humans/maps.npz"]
    return method_maps(instance_of(wildcards), wildcards.method)


# Deletion/insertion faithfulness (RISE, Petsiuk et al. 2018) of one map set on its model
# (FAITHFULNESS_MAP_SETS). One 1-thread job per map set:
# each starts as soon as its maps exist, beside the Extremal Perturbation shards, instead of one
# job for all of them waiting for the slowest (issue 16: the default run's time).
rule faithfulness:
    wildcard_constraints:
        method=_name_regex(FAITHFULNESS_MAP_SETS),
    input:
        model="results/models/{model}/seed-{seed}/model.pt",
        manifest="results/data/manifest.csv",
        human_maps="results/humans/maps.npz",  # which images: those the humans saw
        maps=faithfulness_maps,
    output:
        auc="results/faithfulness/{model}/seed-{seed}/{method}/auc.csv",
        curves="results/faithfulness/{model}/seed-{seed}/{method}/curves.csv",
    params:
        target=config["saliency"]["target"],
        # the curves' settings only: which instances are measured does not redo them
        faithfulness={k: v for k, v in config["faithfulness"].items() if k != "instances"},
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    log:
        "logs/faithfulness/{model}/seed-{seed}/{method}.log",
    benchmark:
        "benchmarks/faithfulness/{model}/seed-{seed}/{method}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/faithfulness.py"


rule faithfulness_model:
    localrule: True  # concatenation
    input:
        auc=lambda wc: expand("results/faithfulness/{instance}/{method}/auc.csv",
                              instance=instance_of(wc), method=FAITHFULNESS_MAP_SETS),
        curves=lambda wc: expand("results/faithfulness/{instance}/{method}/curves.csv",
                                 instance=instance_of(wc), method=FAITHFULNESS_MAP_SETS),
    output:
        auc="results/faithfulness/{model}/seed-{seed}/auc.csv",
        curves="results/faithfulness/{model}/seed-{seed}/curves.csv",
    log:
        "logs/faithfulness/{model}/seed-{seed}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/concat_tables.py"


# The instances whose faithfulness is measured (faithfulness.instances: each model's first, or all).
FAITHFULNESS_INSTANCES = (
    INSTANCES
    if config["faithfulness"]["instances"] == "all"
    else [keys[0] for keys in instances.instances_of(config["models"]).values()]
)


rule faithfulness_table:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        expand("results/faithfulness/{instance}/auc.csv", instance=FAITHFULNESS_INSTANCES),
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
