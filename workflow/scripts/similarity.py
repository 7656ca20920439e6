"""Rule similarity: one instance x method's maps against the human maps, per image and metric."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io
    from ferattention.similarity import similarity_table

    machine = io.load_map_shards(snakemake.input.shards)
    table = similarity_table(machine, io.load_maps(snakemake.input.human_maps),
                             io.load_maps(snakemake.input.fixations), snakemake.params.metrics)
    table.insert(1, "model", snakemake.wildcards.model)
    table.insert(2, "seed", int(snakemake.wildcards.seed))
    table.insert(3, "method", snakemake.wildcards.method)
    log.info("means:\n%s", table.groupby("metric")["value"].mean().to_string())
    io.write_csv(table, snakemake.output.table)
