"""Rule figure_faithfulness: mean deletion and insertion curves per model and method."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures

    curves = pd.concat([pd.read_csv(p) for p in snakemake.input.curves], ignore_index=True)
    figures.plot_faithfulness(curves, pd.read_csv(snakemake.input.auc, dtype={"image_id": str}),
                              snakemake.output.png)
