# Machine attention maps: one job per model x method x shard of test images, so the number of jobs
# grows with images / shard size and each job loads its model once. A method of many model passes
# per image (Extremal Perturbation, Score-CAM) is cut into saliency.shard_size images per job, the
# one-pass methods into saliency.one_pass_shard_size (their jobs are mostly starting Python).
# Extremal Perturbation's shards take half the cores scheduled (SIDE_BY_SIDE_THREADS, common.smk;
# 4 on a cluster): torch is multi-threaded, and each such process holds about 1 GB, so two run at
# once. The other saliency methods take one pass per image (seconds, most of it starting Python
# and torch): one thread each, so their jobs run side by side.
# On a machine with fewer cores than `--cores`, Snakemake schedules the cores it has (common.smk).


rule saliency:
    wildcard_constraints:
        # Extremal Perturbation has its own rule below; maps from outside are made by
        # rule external_saliency.
        method=rf"(?!(?:{_name_regex(['extremal_perturbation', *EXTERNAL])})(?![^/]))[a-z0-9_]+",
    input:
        model="results/models/{model}/seed-{seed}/model.pt",
        manifest="results/data/manifest.csv",
    output:
        maps=shards.SHARD_PATH,
    params:
        shard_size=lambda wc: shard_size(wc.method),
        target=config["saliency"]["target"],
        # Only this method's settings: changing another method's leaves these maps alone
        # (random_model_<m> takes m's settings).
        method_params=lambda wc: config["saliency"].get(base_method(wc.method), {}),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/saliency/{model}/seed-{seed}/{method}/shard-{shard}.log",
    benchmark:
        "benchmarks/saliency/{model}/seed-{seed}/{method}/shard-{shard}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/saliency.py"


# Extremal Perturbation also records the area each mask reached next to its target.
use rule saliency as saliency_extremal_perturbation with:
    output:
        maps="results/saliency/{model}/seed-{seed}/{method}/shard-{shard}.npz",
        areas="results/saliency/{model}/seed-{seed}/{method}/areas-shard-{shard}.csv",
    wildcard_constraints:
        method="extremal_perturbation",
    threads: SIDE_BY_SIDE_THREADS
    priority: 10  # the longest chain of the run: start it as soon as the model is trained


rule extremal_areas:
    localrule: True
    input:
        lambda wc: expand(
            "results/saliency/{model}/seed-{seed}/extremal_perturbation/areas-shard-{shard}.csv",
            model=wc.model,
            seed=wc.seed,
            shard=range(n_shards("extremal_perturbation")),
        ),
    output:
        table="results/saliency/{model}/seed-{seed}/extremal_perturbation/areas.csv",
    log:
        "logs/saliency/{model}/seed-{seed}/extremal_perturbation/areas.log",
    conda:
        ENV
    script:
        "../workflow/scripts/concat_tables.py"


# Maps from outside (saliency.external, recovery.external): read and checked once, then served
# as the shards of a model-free method, the same for every model.
rule external_maps:
    wildcard_constraints:
        name=_name_regex(list(EXTERNAL)),
    input:
        maps=lambda wc: EXTERNAL[wc.name]["path"],
        manifest="results/data/manifest.csv",
    output:
        maps="results/external/{name}/maps.npz",
        qc="results/external/{name}/qc.csv",
    params:
        on_invalid=lambda wc: EXTERNAL[wc.name]["on_invalid"],
        image_size=config["dataset"]["image_size"],
    log:
        "logs/external_maps/{name}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/external_maps.py"


rule external_saliency:
    localrule: True  # a copy of part of one file
    wildcard_constraints:
        method=_name_regex(list(EXTERNAL)),
    input:
        maps="results/external/{method}/maps.npz",
        manifest="results/data/manifest.csv",
    output:
        maps=shards.SHARD_PATH,
    params:
        shard_size=lambda wc: shard_size(wc.method),
    log:
        "logs/saliency/{model}/seed-{seed}/{method}/shard-{shard}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/external_saliency.py"


rule demo_eye_region_maps:
    # The default's demonstration of a map from outside: where the synthetic faces' eyes and
    # brows are (a researcher's "eye region" hypothesis), blurred; any other tool's maps plug in
    # the same way (saliency.external / recovery.external).
    input:
        regions="results/data/regions.npz",
    output:
        maps="results/data/external/eye_region.npz",
    log:
        "logs/demo_eye_region_maps.log",
    conda:
        ENV
    script:
        "../workflow/scripts/demo_eye_region_maps.py"
