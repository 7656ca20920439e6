"""Rule regions: share of every map's mass per facial region (humans, each model x method)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import io
    from ferattention.labels import REGIONS
    from ferattention.shards import group_shards
    from ferattention.similarity import region_table

    masks = io.load_maps(snakemake.input.regions)
    human = {("human", "human"): io.load_maps(snakemake.input.human_maps)}
    tables = [region_table(human, masks, REGIONS)]  # with the regions' areas
    if masks:
        # One map set (model x method) at a time.
        for (model, method), files in group_shards(snakemake.input.shards).items():
            source = {(f"model:{model}", method): io.load_map_shards(files)}
            tables.append(region_table(source, masks, REGIONS, include_area=False))
    else:
        log.info("no region masks (%s is empty): writing an empty table", snakemake.input.regions)
    table = pd.concat(tables, ignore_index=True) if masks else tables[0]
    if not table.empty:
        log.info("mean shares:\n%s", table.groupby(["agent", "method", "region"], sort=False)[
            "share"].mean().unstack().to_string())
    io.write_csv(table, snakemake.output.table)
