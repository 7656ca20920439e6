"""Rule figure_examples: faces with the human map and every method's map, of every model."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import datasets, figures, io

    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    human = io.load_maps(snakemake.input.human_maps)
    models, methods = snakemake.params.models, snakemake.params.methods
    # Shards come model by model (expand's order); with several models a column is "<method> [<model>]".
    names = [m if len(models) == 1 else f"{m} [{model}]" for model in models for m in methods]
    method_maps = {name: io.load_maps(p) for name, p in zip(names, snakemake.input.shards)}
    # One example per expression where possible, among images that have human and machine maps.
    # (a map from outside may lack some images: on_invalid: drop)
    has_all = frame["image_id"].map(lambda i: i in human and all(i in m for m in method_maps.values()))
    shown = frame[has_all]
    ids = shown.groupby("label", sort=False).head(1)["image_id"].tolist()[: snakemake.params.n_examples]
    figures.plot_examples(
        images=dict(zip(frame["image_id"], images)), human_maps=human, method_maps=method_maps,
        image_ids=ids, labels=dict(zip(frame["image_id"], frame["label"])), path=snakemake.output.png,
    )
