# Training and evaluation, one job each per network instance (a model of `models:` per seed).


def initial_weights(wildcards):
    """The model's optional initial weights file (`models.<name>.weights`), as an input."""
    path = config["models"][wildcards.model].get("weights")
    return [path] if path else []


rule train:
    # First among the jobs ready once the click logs are validated (ingest_humans, 10): every
    # later stage of an instance waits for it.
    priority: 5
    input:
        manifest="results/data/manifest.csv",
        images="results/data/images",
        weights=initial_weights,
    output:
        model="results/models/{model}/seed-{seed}/model.pt",
        history="results/models/{model}/seed-{seed}/history.csv",
    params:
        model=instance_spec,  # the model's entry with this instance's seed
        training=config["training"],
        expressions=config["dataset"]["expressions"],
        image_size=config["dataset"]["image_size"],
    threads: TRAIN_THREADS
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "logs/train/{model}/seed-{seed}.log",
    benchmark:
        "benchmarks/train/{model}/seed-{seed}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/train.py"


rule evaluate:
    priority: 5  # its tables feed the statistics at the end of the run; do not leave it for last
    input:
        model="results/models/{model}/seed-{seed}/model.pt",
        manifest="results/data/manifest.csv",
        trials="results/data/trials.csv",
    output:
        metrics="results/models/{model}/seed-{seed}/metrics.json",
        predictions="results/models/{model}/seed-{seed}/predictions.csv",
        confusion="results/models/{model}/seed-{seed}/confusion.csv",
        by_expression="results/models/{model}/seed-{seed}/accuracy_by_expression.csv",
        by_pair="results/models/{model}/seed-{seed}/accuracy_by_pair.csv",
    threads: SIDE_BY_SIDE_THREADS
    log:
        "logs/evaluate/{model}/seed-{seed}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/evaluate.py"
