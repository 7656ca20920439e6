"""Rule demo_eye_region_maps: the default's example of a map from outside (eyes and brows, blurred)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io
    from ferattention.attention import region_hypothesis_maps

    maps = region_hypothesis_maps(io.load_maps(snakemake.input.regions), ("brows", "eyes"))
    log.info("%d eye-region maps", len(maps))
    io.save_maps(maps, snakemake.output.maps)
