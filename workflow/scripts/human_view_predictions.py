"""Rule human_view_predictions: one model answers every human trial on what the participant saw."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import datasets, io, models, training
    from ferattention.humans import human_view_predictions, read_validated

    p = snakemake.params
    model, meta = models.load_checkpoint(snakemake.input.model, training.device_for())
    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    human, clicks = read_validated(snakemake.input.trials, snakemake.input.clicks)
    missing = sorted(set(human["image_id"]) - set(frame["image_id"]))
    if missing:
        raise ValueError(f"{snakemake.input.trials}, column 'image_id': image(s) not in the test "
                         f"split of {snakemake.input.manifest}: {missing[:10]}")
    # Only forward passes: conv-BN folded, channels-last on the CPU (same logits within 3e-6)
    table = human_view_predictions(
        models.fast_inference_copy(model), meta["classes"], dict(zip(frame["image_id"], images)),
        human, clicks, p.image_size, p.reveal_radius, hiding=p.hiding, hiding_blur=p.hiding_blur,
        geometries=datasets.stimulus_geometries(snakemake.input.geometry, p.stimulus))
    log.info("%d human trials, hiding %s: %.1f%% correct on the uncovered views (humans %.1f%%)",
             len(table), p.hiding, 100 * table["correct"].mean(),
             100 * human["correct"].astype(bool).mean())
    io.write_csv(table, snakemake.output.predictions)
