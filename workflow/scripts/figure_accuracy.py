"""Rule figure_accuracy: accuracy of humans and models with CIs."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import figures, io

    figures.plot_accuracy(io.read_table(snakemake.input.accuracy), snakemake.output.png)
