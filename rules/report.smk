# The one page a researcher reads first.

FIGURES = [
    "results/figures/accuracy.png",
    "results/figures/similarity.png",
    "results/figures/examples.png",
    "results/figures/dataset_examples.png",
    "results/figures/accuracy_by_pair.png",
    "results/figures/regions.png",
    "results/figures/faithfulness.png",
    "results/figures/agreement.png",
    *expand("results/figures/confusion_{instance}.png",
            instance=[k.replace("/", "_") for k in INSTANCES]),
]


rule report:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    input:
        accuracy="results/tables/accuracy.csv",
        summary="results/tables/similarity_summary.csv",
        stats="results/tables/stats.csv",
        verdict="results/tables/verdict.csv",
        accuracy_tests="results/tables/accuracy_tests.csv",
        agreement="results/tables/agreement.csv",
        regions="results/tables/regions.csv",
        faithfulness="results/tables/faithfulness.csv",
        metrics=expand("results/models/{instance}/metrics.json", instance=INSTANCES),
        figures=FIGURES,
        # simulated observers: how close each map is to the attention they were given
        expected=["results/humans/simulated/expected.csv"] if SIMULATED_HUMANS else [],
        # The recovery study is not part of `all`: once it has been run (`snakemake recovery`),
        # the next `snakemake` sees this new input and rewrites the report with its figure.
        recovery=lambda wc: ["results/figures/recovery.png"]
        if Path("results/figures/recovery.png").is_file() else [],
        extremal_areas=expand(
            "results/saliency/{instance}/extremal_perturbation/areas.csv",
            instance=INSTANCES if "extremal_perturbation" in METHODS else [],
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
