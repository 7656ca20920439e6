"""Rule figure_similarity: human-machine similarity per method and metric, with ceiling and floor."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures
    from ferattention.similarity import METRICS

    figures.plot_similarity(
        pd.read_csv(snakemake.input.similarity, dtype={"image_id": str}),
        pd.read_csv(snakemake.input.summary),
        pd.read_csv(snakemake.input.reliability, dtype={"image_id": str}),
        snakemake.output.png,
        higher_is_better={name: m.higher_is_better for name, m in METRICS.items()},
    )
