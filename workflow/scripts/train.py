"""Rule train: fit one model of `models:` on the train split, early-stopped on val."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import numpy as np
    import torch

    from ferattention import datasets, io, models, training

    spec, expressions = snakemake.params.model, snakemake.params.expressions
    frame, images = datasets.read_prepared(snakemake.input.manifest)
    labels = frame["label"].map({e: i for i, e in enumerate(expressions)}).to_numpy()
    train, val = (frame["split"] == "train").to_numpy(), (frame["split"] == "val").to_numpy()
    log.info("training %s (%s) on %d images, validating on %d", snakemake.wildcards.model,
             spec["arch"], train.sum(), val.sum())

    torch.use_deterministic_algorithms(True, warn_only=True)
    model = models.build_model(spec["arch"], len(expressions), spec["seed"])
    model.to(training.device_for())
    cfg = training.TrainConfig(epochs=spec["epochs"], seed=spec["seed"], **snakemake.params.training)
    model, history = training.train_model(model, images[train], labels[train], images[val],
                                          labels[val], cfg)
    best = history.loc[history["val_loss"].idxmin()]
    log.info("best epoch %d: val accuracy %.3f", best["epoch"], best["val_accuracy"])
    io.write_csv(history, snakemake.output.history)
    models.save_checkpoint(model, snakemake.output.model, arch=spec["arch"], classes=expressions,
                           seed=spec["seed"], image_size=snakemake.params.image_size)
