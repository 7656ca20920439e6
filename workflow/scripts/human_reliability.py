"""Rule human_reliability: noise ceiling (split-half, Spearman-Brown) and floor per image and metric."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import datasets, io
    from ferattention.humans import noise_ceiling, read_validated
    from ferattention.similarity import METRICS

    p = snakemake.params
    trials, clicks = read_validated(snakemake.input.trials, snakemake.input.clicks)
    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "identity"])
    table = noise_ceiling(
        trials, clicks, metrics={m: METRICS[m].fn for m in p.metrics},
        repeats=p.reliability["repeats"], seed=p.reliability["seed"],
        image_size=p.image_size, geometries=datasets.stimulus_geometries(snakemake.input.geometry,
                                                                        p.stimulus),
        # the floor leaves out every image of the same face
        identities=dict(zip(manifest["image_id"], manifest["identity"])),
        **p.maps,
    )
    log.info("mean bounds per metric:\n%s", table.groupby("metric", sort=False)[
        ["split_half", "lower", "upper", "floor"]].mean().to_string())
    io.write_csv(table, snakemake.output.reliability)
