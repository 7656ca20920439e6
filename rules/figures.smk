# Figures, each as PNG and PDF, one rule per figure so that each redraws only when its inputs change.


rule figure_accuracy:
    input:
        accuracy="results/tables/accuracy.csv",
    output:
        png="results/figures/accuracy.png",
        pdf="results/figures/accuracy.pdf",
    log:
        "logs/figures/accuracy.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_accuracy.py"


rule figure_similarity:
    input:
        similarity="results/tables/similarity.csv",
        summary="results/tables/similarity_summary.csv",
        reliability="results/humans/reliability.csv",
    output:
        png="results/figures/similarity.png",
        pdf="results/figures/similarity.pdf",
    log:
        "logs/figures/similarity.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_similarity.py"


rule figure_examples:
    input:
        manifest="results/data/manifest.csv",
        human_maps="results/humans/maps.npz",
        # The first shard of every method of the first model holds the example images.
        shards=expand("results/saliency/{model}/{method}/shard-0.npz", model=MODELS[0], method=METHODS),
    output:
        png="results/figures/examples.png",
        pdf="results/figures/examples.pdf",
    params:
        methods=METHODS,
        n_examples=6,
    log:
        "logs/figures/examples.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_examples.py"


rule figure_confusion:
    input:
        confusion="results/models/{model}/confusion.csv",
    output:
        png="results/figures/confusion_{model}.png",
        pdf="results/figures/confusion_{model}.pdf",
    log:
        "logs/figures/confusion_{model}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/figure_confusion.py"
