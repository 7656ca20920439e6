"""Rule external_saliency: the shard of a model-free method's maps (the same for every model)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io

    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "split"])
    test_ids = sorted(manifest.loc[manifest["split"] == "test", "image_id"])
    size, shard = snakemake.params.shard_size, int(snakemake.wildcards.shard)
    maps = io.load_maps(snakemake.input.maps)
    # Images dropped as invalid (on_invalid: drop) have no map and are left out here too.
    shard_maps = {i: maps[i] for i in test_ids[shard * size:(shard + 1) * size] if i in maps}
    log.info("shard %d: %d maps", shard, len(shard_maps))
    io.save_maps(shard_maps, snakemake.output.maps)
