"""Rule human_reliability: split-half ceiling and cross-image floor per image and metric."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from functools import partial

    from ferattention import datasets, io
    from ferattention.humans import (fixation_maps, human_maps, read_validated,
                                     split_half_reliability)
    from ferattention.similarity import METRICS

    p, size = snakemake.params, snakemake.params.image_size
    trials, clicks = read_validated(snakemake.input.trials, snakemake.input.clicks)
    geometries = datasets.stimulus_geometries(snakemake.input.geometry, p.stimulus)
    table = split_half_reliability(
        trials, clicks,
        map_fn=partial(human_maps, image_size=size, geometries=geometries, **p.maps),
        metrics={m: METRICS[m].fn for m in p.metrics},
        repeats=p.reliability["repeats"], seed=p.reliability["seed"],
        fixation_fn=partial(fixation_maps, image_size=size, geometries=geometries),
    )
    log.info("mean ceiling / floor per metric:\n%s",
             table.groupby("metric")[["ceiling", "floor"]].mean().to_string())
    io.write_csv(table, snakemake.output.reliability)
