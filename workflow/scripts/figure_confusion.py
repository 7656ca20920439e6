"""Rule figure_confusion: a model's row-normalised confusion matrix on the test split."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures

    confusion = pd.read_csv(snakemake.input.confusion, index_col="true")
    figures.plot_confusion(confusion.to_numpy(), list(confusion.columns), snakemake.output.png)
