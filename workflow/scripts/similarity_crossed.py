"""Rule similarity_crossed: crossed-bootstrap (participants x images) CIs of the mean cc and
spearman similarity of every model and method, shuffled baselines included."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import crossed_similarity as cs
    from ferattention import datasets, instances, io
    from ferattention.humans import read_validated
    from ferattention.shards import group_shards

    p = snakemake.params
    n_boot = p.statistics["crossed_n_boot"]
    metrics = [m for m in cs.CROSSED_METRICS if m in p.metrics]
    if n_boot == 0 or not metrics:
        log.info("no crossed bootstrap (crossed_n_boot %d, metrics %s): every CI by image",
                 n_boot, p.metrics)
        table = pd.DataFrame(columns=list(cs.CROSSED_COLUMNS))
    else:
        trials, clicks = read_validated(snakemake.input.trials, snakemake.input.clicks)
        parts, seen, images, people = cs.participant_maps(
            trials, clicks, p.image_size,
            geometries=datasets.stimulus_geometries(snakemake.input.geometry, p.stimulus), **p.maps)
        manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "label"])
        machine = {key: io.load_map_shards(files)
                   for key, files in group_shards(snakemake.input.shards).items()}
        machine = cs.with_shuffled(machine, dict(zip(manifest["image_id"], manifest["label"])),
                                   p.shuffle_seed)
        log.info("%d participants x %d images, %d map sets, metrics %s, %d replicates",
                 len(people), len(images), len(machine), metrics, n_boot)
        table = cs.crossed_similarity_ci(parts, seen, images, machine, metrics,
                                         io.read_table(snakemake.input.reliability), n_boot,
                                         p.statistics["seed"])
        log.info("crossed CIs:\n%s", table.to_string(index=False))
    io.write_csv(instances.unfold(table), snakemake.output.table)
