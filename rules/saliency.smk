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
    params:
        shard_size=config["saliency"]["shard_size"],
        target=config["saliency"]["target"],
        # Only this method's settings: changing another method's leaves these maps alone
        # (random_model_<m> takes m's settings).
        method_params=lambda wc: config["saliency"].get(base_method(wc.method), {}),
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
