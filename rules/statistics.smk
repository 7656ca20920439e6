# Accuracy of humans and models on the same trials, similarity summaries and the statistical tests.


rule accuracy:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        human_trials="results/humans/trials.csv",
        predictions=expand("results/models/{instance}/predictions.csv", instance=INSTANCES),
        human_view=expand("results/models/{instance}/human_view_predictions.csv",
                          instance=INSTANCES),
    output:
        table="results/tables/accuracy.csv",
        trials="results/tables/accuracy_trials.csv",
    params:
        models=INSTANCES,
        statistics=config["statistics"],
    log:
        "logs/accuracy.log",
    conda:
        ENV
    script:
        "../workflow/scripts/accuracy.py"


rule accuracy_tests:
    # Question 1: the mixed model per instance and the pooled bootstrap per model, tens of seconds;
    # it runs beside the similarity jobs rather than at the end of the run, in rule statistics.
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    priority: 10
    input:
        accuracy_trials="results/tables/accuracy_trials.csv",
        manifest="results/data/manifest.csv",  # face identities, resampled with participants
    output:
        table=report(
            "results/tables/accuracy_tests.csv",
            caption="../workflow/report/accuracy_tests.rst",
            category="Tables",
        ),
    params:
        statistics=config["statistics"],
    log:
        "logs/accuracy_tests.log",
    benchmark:
        "benchmarks/accuracy_tests.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/accuracy_tests.py"


rule statistics:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    priority: 10  # on the longest chain (similarity_crossed)
    input:
        accuracy_trials="results/tables/accuracy_trials.csv",
        similarity="results/tables/similarity.csv",
        reliability="results/humans/reliability.csv",
        manifest="results/data/manifest.csv",  # image labels, for the per-expression breakdowns
        crossed="results/similarity/crossed_ci.csv",  # participants x images CIs of cc, spearman
        replicates="results/similarity/crossed_replicates.npz",  # question 2's verdict draws
        accuracy_tests="results/tables/accuracy_tests.csv",
    output:
        stats=report(
            "results/tables/stats.csv",
            caption="../workflow/report/stats.rst",
            category="Tables",
        ),
        summary=report(
            "results/tables/similarity_summary.csv",
            caption="../workflow/report/similarity_summary.rst",
            category="Tables",
        ),
        verdict="results/tables/verdict.csv",
    params:
        statistics=config["statistics"],
        primary=config["similarity"]["primary"],
    log:
        "logs/statistics.log",
    conda:
        ENV
    script:
        "../workflow/scripts/statistics.py"


rule agreement:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        accuracy_trials="results/tables/accuracy_trials.csv",
    output:
        table=report(
            "results/tables/agreement.csv",
            caption="../workflow/report/agreement.rst",
            category="Tables",
        ),
    log:
        "logs/agreement.log",
    params:
        statistics=config["statistics"],
    conda:
        ENV
    script:
        "../workflow/scripts/agreement.py"
