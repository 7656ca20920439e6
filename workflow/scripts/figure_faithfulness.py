"""Rule figure_faithfulness: mean deletion and insertion curves per model and method."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures, instances, io

    curves = pd.concat([io.read_table(p) for p in snakemake.input.curves], ignore_index=True)
    figures.plot_faithfulness(instances.fold(curves), instances.fold(io.read_table(snakemake.input.auc)),
                              snakemake.output.png)
