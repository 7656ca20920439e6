"""Rule figure_regions: share of attention per facial region, humans vs each model x method."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import figures, io

    figures.plot_regions(io.read_table(snakemake.input.regions), snakemake.output.png)
