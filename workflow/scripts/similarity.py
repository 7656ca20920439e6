"""Rule similarity: every map set of one instance (each method and each shuffled baseline) against
the human maps, per image and metric."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io
    from ferattention.shards import group_shards
    from ferattention.similarity import instance_similarity_table

    # the instance's shards grouped by method, in the rule's order (METHODS)
    maps = {method: io.load_map_shards(paths)
            for (_, method), paths in group_shards(snakemake.input.shards).items()}
    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "label"])
    table, alone = instance_similarity_table(
        maps, io.load_maps(snakemake.input.human_maps), io.load_maps(snakemake.input.fixations),
        dict(zip(manifest["image_id"], manifest["label"])), snakemake.params.metrics,
        seed=snakemake.params.shuffle_seed)
    for name, ids in alone.items():
        if ids:
            log.warning("%s: %d image(s) are the only test image of their expression and have no "
                        "partner; scored NaN: %s", name, len(ids), ", ".join(map(str, ids[:10])))
    table.insert(1, "model", snakemake.wildcards.model)
    table.insert(2, "seed", int(snakemake.wildcards.seed))
    log.info("means:\n%s",
             table.groupby(["method", "metric"], sort=False)["value"].mean().unstack().to_string())
    io.write_csv(table, snakemake.output.table)
