"""Rule report: results/report.html, the page a researcher reads first."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from pathlib import Path

    import pandas as pd

    from ferattention import report
    from ferattention.similarity import METRICS

    context = report.build_report_context(
        config=snakemake.params.config,
        accuracy=pd.read_csv(snakemake.input.accuracy),
        summary=pd.read_csv(snakemake.input.summary),
        stats=pd.read_csv(snakemake.input.stats),
        figure_paths={Path(p).stem: p for p in snakemake.input.figures},
        simulated_humans=snakemake.params.simulated_humans,
        higher_is_better={name: m.higher_is_better for name, m in METRICS.items()},
    )
    report.render_report(context, snakemake.output.html)
