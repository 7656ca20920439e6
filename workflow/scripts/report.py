"""Rule report: results/report.html, the page a researcher reads first."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from pathlib import Path

    from ferattention import instances, io, report
    from ferattention.similarity import METRICS

    agreement = io.read_table(snakemake.input.agreement)
    mixed_tests = io.read_table(snakemake.input.accuracy_tests)
    extra = report.extra_tables(
        io.read_table(snakemake.input.regions), agreement, mixed_tests,
        instances.fold(io.read_table(snakemake.input.faithfulness)),
        # results/saliency/{model}/seed-{seed}/extremal_perturbation/areas.csv
        {"/".join(Path(path).parts[-4:-2]): io.read_table(path)
         for path in snakemake.input.extremal_areas})
    context = report.build_report_context(
        config=snakemake.params.config,
        accuracy=io.read_table(snakemake.input.accuracy),
        summary=instances.fold(io.read_table(snakemake.input.summary)),
        stats=io.read_table(snakemake.input.stats),
        figure_paths={Path(p).stem: p for p in snakemake.input.figures},
        simulated_humans=snakemake.params.simulated_humans,
        higher_is_better={name: m.higher_is_better for name, m in METRICS.items()},
        extra_tables=extra,
        verdicts=instances.fold(io.read_table(snakemake.input.verdict)),
        expected_attention=(instances.fold(io.read_table(snakemake.input.expected[0]))
                            if snakemake.input.expected else None),
        # The recovery study is not part of the default run; shown once it has been run.
        recovery_figure=snakemake.input.recovery[0] if snakemake.input.recovery else None,
        mixed_tests=mixed_tests,
        agreement=agreement,
    )
    report.render_report(context, snakemake.output.html)
