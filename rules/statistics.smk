# Accuracy of humans and models on the same trials, similarity summaries and the statistical tests.


rule accuracy:
    input:
        human_trials="results/humans/trials.csv",
        predictions=expand("results/models/{model}/predictions.csv", model=MODELS),
    output:
        table="results/tables/accuracy.csv",
        trials="results/tables/accuracy_trials.csv",
    params:
        models=MODELS,
        statistics=config["statistics"],
    log:
        "logs/accuracy.log",
    conda:
        ENV
    script:
        "../workflow/scripts/accuracy.py"


rule statistics:
    input:
        accuracy_trials="results/tables/accuracy_trials.csv",
        similarity="results/tables/similarity.csv",
        reliability="results/humans/reliability.csv",
    output:
        stats="results/tables/stats.csv",
        summary="results/tables/similarity_summary.csv",
    params:
        statistics=config["statistics"],
    log:
        "logs/statistics.log",
    conda:
        ENV
    script:
        "../workflow/scripts/statistics.py"
