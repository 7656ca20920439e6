# Machine attention maps: one job per model x method x shard of test images, so the number of jobs
# grows with images / shard_size and each job loads its model once.
# Every job that imports torch asks for 4 threads (train, evaluate, saliency, human views,
# faithfulness): torch is multi-threaded, and each such process holds about 1 GB, so `--cores 8`
# runs at most two of them at once (peak memory under 4 GB on a small machine).


rule saliency:
    input:
        model="results/models/{model}/model.pt",
        manifest="results/data/manifest.csv",
    output:
        maps="results/saliency/{model}/{method}/shard-{shard}.npz",
    wildcard_constraints:
        method="(?!extremal_perturbation(?![^/]))[^/]+",  # its own rule below
    params:
        shard_size=config["saliency"]["shard_size"],
        target=config["saliency"]["target"],
        # Only this method's settings: changing another method's leaves these maps alone.
        method_params=lambda wc: config["saliency"].get(wc.method, {}),
    threads: 4
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/saliency/{model}/{method}/shard-{shard}.log",
    benchmark:
        "benchmarks/saliency/{model}/{method}/shard-{shard}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/saliency.py"


# Extremal Perturbation also records the area each mask reached next to its target.
use rule saliency as saliency_extremal_perturbation with:
    output:
        maps="results/saliency/{model}/{method}/shard-{shard}.npz",
        areas="results/saliency/{model}/{method}/areas-shard-{shard}.csv",
    wildcard_constraints:
        method="extremal_perturbation",


rule extremal_areas:
    localrule: True
    input:
        lambda wc: expand(
            "results/saliency/{model}/extremal_perturbation/areas-shard-{shard}.csv",
            model=wc.model,
            shard=range(n_shards()),
        ),
    output:
        table="results/saliency/{model}/extremal_perturbation/areas.csv",
    log:
        "logs/saliency/{model}/extremal_perturbation/areas.log",
    conda:
        ENV
    script:
        "../workflow/scripts/concat_tables.py"
