"""Rule report: results/report.html, the page a researcher reads first."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from pathlib import Path

    import pandas as pd

    from ferattention import report
    from ferattention.similarity import METRICS

    extra = {}
    regions = pd.read_csv(snakemake.input.regions, dtype={"image_id": str})
    if not regions.empty:
        extra["regions"] = ("Share of attention per facial region, mean over images "
                            "(results/tables/regions.csv; area: a uniform map's share)",
                            report.region_summary(regions))

    faith = pd.read_csv(snakemake.input.faithfulness, dtype={"image_id": str})
    extra["faithfulness"] = ("Faithfulness to the model: mean deletion and insertion AUC over "
                             "images (results/tables/faithfulness.csv; deletion: lower is more "
                             "faithful, insertion: higher)", report.faithfulness_summary(faith))

    context = report.build_report_context(
        config=snakemake.params.config,
        accuracy=pd.read_csv(snakemake.input.accuracy),
        summary=pd.read_csv(snakemake.input.summary),
        stats=pd.read_csv(snakemake.input.stats),
        figure_paths={Path(p).stem: p for p in snakemake.input.figures},
        simulated_humans=snakemake.params.simulated_humans,
        higher_is_better={name: m.higher_is_better for name, m in METRICS.items()},
        extra_tables=extra,
    )
    report.render_report(context, snakemake.output.html)
