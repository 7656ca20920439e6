# Figures, each as PNG and PDF, one rule per figure so that each redraws only when its inputs change.
# All are light: on SLURM they run beside Snakemake (`localrule`) instead of waiting in the queue.


rule figure_accuracy:
    localrule: True
    input:
        accuracy="results/tables/accuracy.csv",
    output:
        png=report(
            "results/figures/accuracy.png",
            caption="../workflow/report/accuracy.rst",
            category="Figures",
        ),
        pdf="results/figures/accuracy.pdf",
    log:
        "logs/figures/accuracy.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_accuracy.py"


rule figure_similarity:
    localrule: True
    input:
        similarity="results/tables/similarity.csv",
        summary="results/tables/similarity_summary.csv",
        reliability="results/humans/reliability.csv",
    output:
        png=report(
            "results/figures/similarity.png",
            caption="../workflow/report/similarity.rst",
            category="Figures",
        ),
        pdf="results/figures/similarity.pdf",
    log:
        "logs/figures/similarity.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_similarity.py"


rule figure_examples:
    localrule: True
    input:
        manifest="results/data/manifest.csv",
        human_maps="results/humans/maps.npz",
        # The first shard of every method of every model holds the example images.
        shards=shards.shard_paths(INSTANCES, METHODS, 1),
    output:
        png=report(
            "results/figures/examples.png",
            caption="../workflow/report/examples.rst",
            category="Figures",
        ),
        pdf="results/figures/examples.pdf",
    params:
        models=INSTANCES,
        methods=METHODS,
        n_examples=6,
    log:
        "logs/figures/examples.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_examples.py"


rule figure_confusion:
    localrule: True
    input:
        confusion="results/models/{model}/seed-{seed}/confusion.csv",
    output:
        png=report(
            "results/figures/confusion_{model}_seed-{seed}.png",
            caption="../workflow/report/confusion.rst",
            category="Figures",
        ),
        pdf="results/figures/confusion_{model}_seed-{seed}.pdf",
    log:
        "logs/figures/confusion_{model}_seed-{seed}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_confusion.py"


rule figure_dataset_examples:
    localrule: True
    input:
        manifest="results/data/manifest.csv",
    output:
        png=report(
            "results/figures/dataset_examples.png",
            caption="../workflow/report/dataset_examples.rst",
            category="Figures",
        ),
        pdf="results/figures/dataset_examples.pdf",
    params:
        expressions=config["dataset"]["expressions"],
        n_rows=6,
    log:
        "logs/figures/dataset_examples.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_dataset_examples.py"


rule figure_accuracy_by_pair:
    localrule: True
    input:
        accuracy_trials="results/tables/accuracy_trials.csv",
    output:
        png=report(
            "results/figures/accuracy_by_pair.png",
            caption="../workflow/report/accuracy_by_pair.rst",
            category="Figures",
        ),
        pdf="results/figures/accuracy_by_pair.pdf",
    params:
        statistics=config["statistics"],
    log:
        "logs/figures/accuracy_by_pair.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_accuracy_by_pair.py"


rule figure_regions:
    localrule: True
    input:
        regions="results/tables/regions.csv",
    output:
        png=report(
            "results/figures/regions.png",
            caption="../workflow/report/regions.rst",
            category="Figures",
        ),
        pdf="results/figures/regions.pdf",
    log:
        "logs/figures/regions.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_regions.py"


rule figure_faithfulness:
    localrule: True
    input:
        auc="results/tables/faithfulness.csv",
        curves=expand("results/faithfulness/{instance}/curves.csv", instance=FAITHFULNESS_INSTANCES),
    output:
        png=report(
            "results/figures/faithfulness.png",
            caption="../workflow/report/faithfulness.rst",
            category="Figures",
        ),
        pdf="results/figures/faithfulness.pdf",
    log:
        "logs/figures/faithfulness.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_faithfulness.py"


rule figure_agreement:
    localrule: True
    input:
        agreement="results/tables/agreement.csv",
        accuracy_trials="results/tables/accuracy_trials.csv",
    output:
        png=report(
            "results/figures/agreement.png",
            caption="../workflow/report/agreement_figure.rst",
            category="Figures",
        ),
        pdf="results/figures/agreement.pdf",
    log:
        "logs/figures/agreement.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_agreement.py"
