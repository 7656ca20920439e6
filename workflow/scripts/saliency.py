"""Rule saliency: one method's maps for one shard of test images, target class per config."""

from ferattention.runtime import reuse_freed_memory, rule_job

with rule_job(snakemake) as log:
    reuse_freed_memory()  # fewer page faults in EP's loop (same values)
    import torch

    from ferattention import datasets, io, models, shards, training
    from ferattention.methods import RANDOM_MODEL_PREFIX, base_method
    from ferattention.saliency import compute_maps, random_model_maps, target_classes
    from ferattention.saliency.extremal import areas_table, extremal_maps_and_areas

    method, shard = snakemake.wildcards.method, int(snakemake.wildcards.shard)
    size = snakemake.params.shard_size
    device = training.device_for()
    model, meta = models.load_checkpoint(snakemake.input.model, device)
    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    frame, images = shards.select(frame, shard, size), shards.select(images, shard, size)
    x = torch.as_tensor(images).unsqueeze(1).to(device)

    targets = target_classes(frame["label"], meta["classes"], snakemake.params.target, model, images)
    log.info("%s on shard %d: %d images (%s)", method, shard, len(frame), device)
    params = snakemake.params.method_params
    if method.startswith(RANDOM_MODEL_PREFIX):
        # The same network at its initial weights (same seed): what training added is the difference.
        maps = random_model_maps(base_method(method), meta["arch"], len(meta["classes"]), meta["seed"],
                                 x, targets.to(device), params, device)
    elif "areas" in snakemake.output.keys():  # extremal_perturbation: also the areas reached
        maps, reached, areas = extremal_maps_and_areas(model, x, targets.to(device), params)
        io.write_csv(areas_table(frame["image_id"], areas, reached), snakemake.output.areas)
    else:
        maps = compute_maps(method, model, x, targets.to(device), params)
    io.save_maps(dict(zip(frame["image_id"], maps)), snakemake.output.maps)
