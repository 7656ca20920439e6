"""Rule external_maps: one named set of precomputed maps, checked and resized for the test images."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io
    from ferattention.attention import load_external_maps

    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "split"])
    test_ids = sorted(manifest.loc[manifest["split"] == "test", "image_id"])
    maps, qc = load_external_maps(snakemake.wildcards.name, snakemake.input.maps, test_ids,
                                  snakemake.params.image_size, snakemake.params.on_invalid)
    log.info("%s: %d of %d test images, %d dropped", snakemake.input.maps, len(maps),
             len(test_ids), len(qc))
    for row in qc.itertuples():
        log.warning("dropped image %r: %s", row.image_id, row.problem)
    io.write_csv(qc, snakemake.output.qc)
    io.save_maps(maps, snakemake.output.maps)
