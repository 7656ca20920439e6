"""Rule train: fit one model of `models:` on the train split, early-stopped on val."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import torch

    from ferattention import datasets, io, models, training

    name, spec = snakemake.wildcards.model, snakemake.params.model
    expressions = snakemake.params.expressions
    cfg = training.train_config(spec, snakemake.params.training)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = models.build_model(spec["arch"], len(expressions), spec["seed"])
    if spec.get("weights"):  # first: a file that does not fit fails before the images are read
        log.info("initial weights from %s", spec["weights"])
        models.load_initial_weights(model, spec["arch"], spec["weights"], classes=expressions)

    frame, images = datasets.read_prepared(snakemake.input.manifest)
    labels = frame["label"].map({e: i for i, e in enumerate(expressions)}).to_numpy()
    train, val = (frame["split"] == "train").to_numpy(), (frame["split"] == "val").to_numpy()
    device = training.device_for()
    log.info("training %s (%s) on %d images, validating on %d, on %s; %s", name, spec["arch"],
             train.sum(), val.sum(), device, cfg)
    model.to(device)
    model, history = training.train_model(model, images[train], labels[train], images[val],
                                          labels[val], cfg)
    best = history.loc[history["val_loss"].idxmin()]
    log.info("best epoch %d of %d: val accuracy %.3f", best["epoch"], len(history), best["val_accuracy"])
    io.write_csv(history, snakemake.output.history)
    models.save_checkpoint(model, snakemake.output.model, arch=spec["arch"], classes=expressions,
                           seed=spec["seed"], image_size=snakemake.params.image_size)
