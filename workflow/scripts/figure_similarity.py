"""Rule figure_similarity: human-machine similarity per method and metric, with noise ceiling and floor."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import figures, instances, io
    from ferattention.similarity import METRICS

    figures.plot_similarity(
        instances.fold(io.read_table(snakemake.input.similarity)),
        instances.fold(io.read_table(snakemake.input.summary)),
        io.read_table(snakemake.input.reliability),
        snakemake.output.png,
        higher_is_better={name: m.higher_is_better for name, m in METRICS.items()},
    )
