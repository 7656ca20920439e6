# The one page a researcher reads first.

FIGURES = [
    "results/figures/accuracy.png",
    "results/figures/similarity.png",
    "results/figures/examples.png",
    "results/figures/dataset_examples.png",
    "results/figures/accuracy_by_pair.png",
    "results/figures/regions.png",
    "results/figures/faithfulness.png",
    *expand("results/figures/confusion_{model}.png", model=MODELS),
]


rule report:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        accuracy="results/tables/accuracy.csv",
        summary="results/tables/similarity_summary.csv",
        stats="results/tables/stats.csv",
        regions="results/tables/regions.csv",
        faithfulness="results/tables/faithfulness.csv",
        metrics=expand("results/models/{model}/metrics.json", model=MODELS),
        figures=FIGURES,
        extremal_areas=expand(
            "results/saliency/{model}/extremal_perturbation/areas.csv",
            model=MODELS if "extremal_perturbation" in METHODS else [],
        ),
    output:
        html="results/report.html",
    params:
        config=config,
        simulated_humans=SIMULATED_HUMANS,
    log:
        "logs/report.log",
    conda:
        ENV
    script:
        "../workflow/scripts/report.py"


rule provenance:
    # Rewritten with the report, so that it always describes the run that made the results.
    input:
        report="results/report.html",
    output:
        provenance="results/provenance.json",
    params:
        config=config,
    localrule: True
    log:
        "logs/provenance.log",
    conda:
        ENV
    script:
        "../workflow/scripts/provenance.py"
