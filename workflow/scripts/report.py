"""Rule report: results/report.html, the page a researcher reads first."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from pathlib import Path

    from ferattention import io, report
    from ferattention.similarity import METRICS

    extra = {}
    regions = io.read_table(snakemake.input.regions)
    if not regions.empty:
        extra["regions"] = ("Share of attention per facial region, mean over images "
                            "(results/tables/regions.csv; area: a uniform map's share)",
                            report.region_summary(regions))

    agreement = io.read_table(snakemake.input.agreement)
    extra["agreement"] = ("Agreement beyond accuracy: error consistency and confusion patterns "
                          "(results/tables/agreement.csv)", agreement)
    extra["accuracy_tests"] = ("Humans vs each model, logistic mixed model (results/tables/"
                               "accuracy_tests.csv; odds ratio and difference: humans vs model)",
                               io.read_table(snakemake.input.accuracy_tests))

    faith = io.read_table(snakemake.input.faithfulness)
    extra["faithfulness"] = ("Faithfulness to the model: mean deletion and insertion AUC over "
                             "images (results/tables/faithfulness.csv; deletion: lower is more "
                             "faithful, insertion: higher)", report.faithfulness_summary(faith))

    if snakemake.input.extremal_areas:
        import pandas as pd

        areas = pd.concat([io.read_table(path).assign(model=Path(path).parts[-3])
                           for path in snakemake.input.extremal_areas], ignore_index=True)
        extra["extremal_areas"] = ("Extremal Perturbation: mask area reached against its target, "
                                   "fractions of the image (results/saliency/{model}/"
                                   "extremal_perturbation/areas.csv)",
                                   report.extremal_areas_summary(areas))

    context = report.build_report_context(
        config=snakemake.params.config,
        accuracy=io.read_table(snakemake.input.accuracy),
        summary=io.read_table(snakemake.input.summary),
        stats=io.read_table(snakemake.input.stats),
        figure_paths={Path(p).stem: p for p in snakemake.input.figures},
        simulated_humans=snakemake.params.simulated_humans,
        higher_is_better={name: m.higher_is_better for name, m in METRICS.items()},
        extra_tables=extra,
        verdicts=io.read_table(snakemake.input.verdict),
        expected_attention=(io.read_table(snakemake.input.expected[0])
                            if snakemake.input.expected else None),
        # The recovery study is not part of the default run; shown once it has been run.
        recovery_figure=snakemake.input.recovery[0] if snakemake.input.recovery else None,
        mixed_tests=io.read_table(snakemake.input.accuracy_tests),
        agreement=agreement,
    )
    report.render_report(context, snakemake.output.html)
