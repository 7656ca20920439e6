"""Rule figure_accuracy: accuracy of humans and models with CIs."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures

    figures.plot_accuracy(pd.read_csv(snakemake.input.accuracy), snakemake.output.png)
