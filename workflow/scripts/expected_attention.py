"""Rule expected_attention: every map against the density the simulated observers aimed at."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import instances, io, tables
    from ferattention.attention import attention_density
    from ferattention.humans import expected_attention
    from ferattention.shards import group_shards

    p = snakemake.params
    trial_list = io.read_table(snakemake.input.trials)
    ids = sorted(set(trial_list["image_id"]))
    planted = attention_density(
        p.source, ids, p.image_size, center_sigma=p.center_sigma,
        method_maps=io.load_map_shards(snakemake.input.attention) if snakemake.input.attention
        else None)
    target = expected_attention(trial_list, io.load_maps(snakemake.input.regions),
                                io.read_table(snakemake.input.diagnostic), p.image_size, planted)
    by_set = group_shards(snakemake.input.shards)
    out = tables.expected_similarity_table(  # one map set in memory at a time
        p.source, ((model, method, io.load_map_shards(by_set[(model, method)]))
                   for model in p.models for method in p.methods), target)
    log.info("similarity to the planted attention (%s):\n%s", p.source,
             out.pivot_table(index="method", columns="metric", values="mean").to_string())
    io.write_csv(instances.unfold(out), snakemake.output.table)
