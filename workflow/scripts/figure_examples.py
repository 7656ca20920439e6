"""Rule figure_examples: faces with the human map and every method's map."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import datasets, figures, io

    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    human = io.load_maps(snakemake.input.human_maps)
    method_maps = {m: io.load_maps(p) for m, p in zip(snakemake.params.methods, snakemake.input.shards)}
    # One example per expression where possible, among images that have human and machine maps.
    shown = frame[frame["image_id"].isin(human) & frame["image_id"].isin(method_maps[snakemake.params.methods[0]])]
    ids = shown.groupby("label", sort=False).head(1)["image_id"].tolist()[: snakemake.params.n_examples]
    figures.plot_examples(
        images=dict(zip(frame["image_id"], images)), human_maps=human, method_maps=method_maps,
        image_ids=ids, labels=dict(zip(frame["image_id"], frame["label"])), path=snakemake.output.png,
    )
