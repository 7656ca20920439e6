"""Rule human_maps: per-image human attention maps and click (fixation) maps."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import datasets, io
    from ferattention.humans import fixation_maps, human_maps, read_validated

    p, size = snakemake.params, snakemake.params.image_size
    trials, clicks = read_validated(snakemake.input.trials, snakemake.input.clicks)
    geometries = datasets.stimulus_geometries(snakemake.input.geometry, p.stimulus)
    maps = human_maps(trials, clicks, size, geometries=geometries, **p.maps)
    log.info("%d human maps", len(maps))
    io.save_maps(fixation_maps(trials, clicks, size, geometries=geometries),
                 snakemake.output.fixations)
    io.save_maps(maps, snakemake.output.maps)
