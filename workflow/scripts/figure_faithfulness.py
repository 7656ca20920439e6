"""Rule figure_faithfulness: mean deletion and insertion curves per model and method."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures, io

    curves = pd.concat([io.read_table(p) for p in snakemake.input.curves], ignore_index=True)
    figures.plot_faithfulness(curves, io.read_table(snakemake.input.auc),
                              snakemake.output.png)
