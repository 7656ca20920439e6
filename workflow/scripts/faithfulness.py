"""Rule faithfulness: deletion and insertion curves of one map set (human maps included) on its model."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import torch

    from ferattention import datasets, faithfulness, io, models, training
    from ferattention.saliency import target_classes

    method = snakemake.wildcards.method
    device = training.device_for()
    model, meta = models.load_checkpoint(snakemake.input.model, device)
    human = io.load_maps(snakemake.input.human_maps)
    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    keep = frame["image_id"].isin(human).to_numpy()
    frame, images = frame[keep].reset_index(drop=True), images[keep]
    x = torch.as_tensor(images).unsqueeze(1).to(device)
    targets = target_classes(frame["label"], meta["classes"], snakemake.params.target, model, images)

    maps = human if method == "human" else io.load_map_shards(list(snakemake.input.maps))
    cfg = snakemake.params.faithfulness
    log.info("%s: %d images, %d steps, %s baseline (%s)", method, len(frame), cfg["steps"],
             cfg["baseline"], device)
    # Only forward passes from here: conv-BN folded, channels-last on the CPU (same values)
    auc, curves = faithfulness.faithfulness_tables(
        models.fast_inference_copy(model), x, frame["image_id"].tolist(), targets.to(device),
        {method: maps}, snakemake.wildcards.model, steps=cfg["steps"], baseline=cfg["baseline"],
        tie_draws=cfg["tie_draws"], seed=cfg["seed"])
    log.info("mean AUC: %s", auc.groupby("curve")["auc"].mean().round(4).to_dict())
    for table in (curves, auc):  # the instance: model and seed columns
        table.insert(table.columns.get_loc("model") + 1, "seed", int(snakemake.wildcards.seed))
    io.write_csv(curves, snakemake.output.curves)
    io.write_csv(auc, snakemake.output.auc)
