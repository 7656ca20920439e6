"""Rule figure_dataset_examples: a grid of the prepared faces, identities (or examples) x expressions."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import datasets, figures

    frame, images = datasets.read_prepared(snakemake.input.manifest)
    cells, row_labels, col_labels = datasets.dataset_examples(
        frame, images, snakemake.params.expressions, n_rows=snakemake.params.n_rows)
    figures.plot_dataset_examples(cells, row_labels, col_labels, snakemake.output.png)
