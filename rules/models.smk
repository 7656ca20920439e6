# Training and evaluation, one job each per model in `models:`.


rule train:
    input:
        manifest="results/data/manifest.csv",
        images="results/data/images",
    output:
        model="results/models/{model}/model.pt",
        history="results/models/{model}/history.csv",
    params:
        model=lambda wc: config["models"][wc.model],
        training=config["training"],
        expressions=config["dataset"]["expressions"],
        image_size=config["dataset"]["image_size"],
    threads: 4
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/train.py"


rule evaluate:
    input:
        model="results/models/{model}/model.pt",
        manifest="results/data/manifest.csv",
        trials="results/data/trials.csv",
    output:
        metrics="results/models/{model}/metrics.json",
        predictions="results/models/{model}/predictions.csv",
        confusion="results/models/{model}/confusion.csv",
    threads: 2
    log:
        "logs/evaluate/{model}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/evaluate.py"
