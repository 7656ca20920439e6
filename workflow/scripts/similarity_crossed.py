"""Rule similarity_crossed: crossed-bootstrap (participants x identities) replicates of the mean
cc and spearman similarity of every instance and method, shuffled baselines and the human floor
included; their CIs, and the replicates for the statistics rule's verdict."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import time

    import pandas as pd

    from ferattention import crossed_similarity as cs
    from ferattention import datasets, instances, io
    from ferattention.humans import read_validated
    from ferattention.shards import group_shards
    from ferattention.verdicts import identity_of

    p = snakemake.params
    n_boot = p.statistics["crossed_n_boot"]
    metrics = [m for m in cs.CROSSED_METRICS if m in p.metrics]
    replicates = {}
    if n_boot == 0 or not metrics:
        log.info("no crossed bootstrap (crossed_n_boot %d, metrics %s): every CI by image",
                 n_boot, p.metrics)
        table = pd.DataFrame(columns=list(cs.CROSSED_COLUMNS))
    else:
        trials, clicks = read_validated(snakemake.input.trials, snakemake.input.clicks)
        parts, seen, images, people = cs.participant_maps(
            trials, clicks, p.image_size,
            geometries=datasets.stimulus_geometries(snakemake.input.geometry, p.stimulus), **p.maps)
        manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "label", "identity"])
        machine = {key: io.load_map_shards(files)
                   for key, files in group_shards(snakemake.input.shards).items()}
        machine = cs.with_shuffled(machine, dict(zip(manifest["image_id"], manifest["label"])),
                                   p.shuffle_seed)
        identities = identity_of(images, dict(zip(manifest["image_id"], manifest["identity"])))
        log.info("%d participants x %d images (%d identities), %d map sets, metrics %s, "
                 "%d replicates", len(people), len(images), len(set(identities)), len(machine),
                 metrics, n_boot)
        for metric in metrics:
            start = time.perf_counter()
            replicates[metric] = cs.crossed_replicates(parts, seen, images, machine, metric,
                                                       identities, n_boot, p.statistics["seed"])
            log.info("%s: %d joint replicates and %d per factor alone in %.1f s", metric, n_boot,
                     n_boot // 2, time.perf_counter() - start)
        table = cs.crossed_similarity_ci(parts, seen, images, machine, metrics,
                                         io.read_table(snakemake.input.reliability), n_boot,
                                         p.statistics["seed"], replicates=replicates)
        log.info("crossed CIs:\n%s", table.to_string(index=False))
    io.write_csv(instances.unfold(table), snakemake.output.table)
    cs.save_replicates(replicates, snakemake.output.replicates)
