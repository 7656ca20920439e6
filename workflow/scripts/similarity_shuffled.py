"""Rule similarity_shuffled: the shuffled baseline of one instance x method, per image and metric."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io
    from ferattention.similarity import shuffled_similarity_table

    machine = io.load_map_shards(snakemake.input.shards)
    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "label"])
    labels = dict(zip(manifest["image_id"], manifest["label"]))
    table, alone = shuffled_similarity_table(
        machine, io.load_maps(snakemake.input.human_maps), io.load_maps(snakemake.input.fixations),
        labels, snakemake.params.metrics, seed=snakemake.params.seed)
    if alone:
        log.warning("shuffled baseline: %d image(s) are the only test image of their expression and "
                    "have no partner; scored NaN: %s", len(alone), ", ".join(map(str, alone[:10])))
    table.insert(1, "model", snakemake.wildcards.model)
    table.insert(2, "seed", int(snakemake.wildcards.seed))
    table.insert(3, "method", f"shuffled_{snakemake.wildcards.method}")
    log.info("means:\n%s", table.groupby("metric")["value"].mean().to_string())
    io.write_csv(table, snakemake.output.table)
