"""Rule figure_confusion: a model's row-normalised confusion matrix on the test split."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import figures, io

    confusion = io.read_table(snakemake.input.confusion, index_col="true")
    figures.plot_confusion(confusion.to_numpy(), list(confusion.columns), snakemake.output.png)
