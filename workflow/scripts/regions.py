"""Rule regions: share of every map's mass per facial region (humans, each model x method)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io, tables
    from ferattention.shards import group_shards

    masks = io.load_maps(snakemake.input.regions)
    if not masks:
        log.info("no region masks (%s is empty): writing an empty table", snakemake.input.regions)
    table = tables.regions_table(  # one map set (model x method) in memory at a time
        masks, io.load_maps(snakemake.input.human_maps),
        ((model, method, io.load_map_shards(files))
         for (model, method), files in group_shards(snakemake.input.shards).items()))
    if not table.empty:
        log.info("mean shares:\n%s", table.groupby(["agent", "method", "region"], sort=False)[
            "share"].mean().unstack().to_string())
    io.write_csv(table, snakemake.output.table)
