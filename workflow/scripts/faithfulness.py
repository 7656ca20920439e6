"""Rule faithfulness: deletion and insertion curves of every map set (human included) on one model."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import torch

    from ferattention import datasets, faithfulness, io, models, shards, training
    from ferattention.saliency import target_classes

    device = training.device_for()
    model, meta = models.load_checkpoint(snakemake.input.model, device)
    human = io.load_maps(snakemake.input.human_maps)
    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    keep = frame["image_id"].isin(human).to_numpy()
    frame, images = frame[keep].reset_index(drop=True), images[keep]
    x = torch.as_tensor(images).unsqueeze(1).to(device)
    targets = target_classes(frame["label"], meta["classes"], snakemake.params.target, model, images)

    # The shards of this model, grouped by method.
    maps = {"human": human, **{method: io.load_map_shards(files) for (_, method), files
                               in shards.group_shards(snakemake.input.shards).items()}}
    cfg = snakemake.params.faithfulness
    log.info("%d images x %d map sets, %d steps, %s baseline (%s)", len(frame), len(maps),
             cfg["steps"], cfg["baseline"], device)
    auc, curves = faithfulness.faithfulness_tables(
        model, x, frame["image_id"].tolist(), targets.to(device), maps, snakemake.wildcards.model,
        steps=cfg["steps"], baseline=cfg["baseline"], tie_draws=cfg["tie_draws"], seed=cfg["seed"])
    log.info("mean AUC:\n%s", auc.groupby(["method", "curve"])["auc"].mean().unstack().to_string())
    io.write_csv(curves, snakemake.output.curves)
    io.write_csv(auc, snakemake.output.auc)
