"""Rule recovery_source: one planted attention source, simulated, compared and ranked."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import instances, io
    from ferattention.attention import attention_density
    from ferattention.recovery import recover_source
    from ferattention.shards import group_shards

    p, source = snakemake.params, snakemake.wildcards.source
    # Every compared map set: each instance's methods, then the recovery-only external maps.
    by_set = group_shards(snakemake.input.shards)
    method_maps = {(model, method): io.load_map_shards(by_set[(model, method)])
                   for model in p.models for method in p.methods}
    for name, path in zip(p.external, snakemake.input.external):
        maps = io.load_maps(path)
        for model in p.models:
            method_maps[(model, name)] = maps
    planted = (p.planted_model, source) if (p.planted_model, source) in method_maps else None
    trial_list = io.read_table(snakemake.input.trials)
    attention = attention_density(source, sorted(set(trial_list["image_id"])), p.image_size,
                                  method_maps=method_maps[planted] if planted else None,
                                  center_sigma=p.center_sigma)
    table = recover_source(
        source, attention, method_maps, planted, trial_list=trial_list,
        masks=io.load_maps(snakemake.input.regions),
        diagnostic=io.read_table(snakemake.input.diagnostic), image_size=p.image_size,
        simulated=p.simulated, map_settings=p.maps, metrics=p.metrics, reliability=p.reliability,
        n_boot=p.statistics["n_boot"], seed=p.statistics["seed"])
    winners = table[table["rank"] == 1].groupby("metric", sort=False)["method"].agg(", ".join)
    log.info("source %s (planted: %s); winners per metric:\n%s", source, planted,
             winners.to_string())
    io.write_csv(instances.unfold(table), snakemake.output.table)
