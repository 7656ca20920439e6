"""Rule figure_regions: share of attention per facial region, humans vs each model x method."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures

    figures.plot_regions(pd.read_csv(snakemake.input.regions, dtype={"image_id": str}),
                         snakemake.output.png)
