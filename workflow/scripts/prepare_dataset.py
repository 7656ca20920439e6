"""Rule prepare_dataset: load the configured source, split it, write images and manifest."""

from pathlib import Path

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import datasets, io, splits
    from ferattention.humans import shown_image_ids

    cfg = snakemake.params.dataset
    data = datasets.load_dataset({"dataset": cfg}, jobs=snakemake.threads)
    log.info("loaded %d images from source %s", len(data.frame), cfg["source"])
    if len(data.qc):
        log.warning("dropped as invalid (dataset.on_invalid: drop):\n%s", data.qc.to_string(index=False))

    force_test: set[str] = set()
    for path in snakemake.input.human_trials:
        # Unknown images in the click logs fail here, before any model is trained (or are left
        # to ingest_humans to drop). Read from the config, not params: the outputs do not depend
        # on it, so changing it must not rerun the DAG.
        force_test |= shown_image_ids(path, set(data.frame["image_id"]),
                                      snakemake.config["humans"]["on_invalid"])

    split_cfg = cfg["split"]
    data.frame["split"] = splits.assign_splits(data.frame, split_cfg, split_cfg["seed"], force_test)
    splits.check_disjoint(data.frame)
    log.info("split sizes: %s", data.frame["split"].value_counts().to_dict())

    manifest = datasets.write_prepared(data, Path(snakemake.output.manifest).parent,
                                       snakemake.output.images)
    io.save_maps(data.masks, snakemake.output.regions)
    log.info("region masks for %d of %d images", len(data.masks), len(data.frame))
    diagnostic = data.diagnostic if data.diagnostic is not None else pd.DataFrame(
        columns=["expression_a", "expression_b", "region", "weight"])
    io.write_csv(diagnostic, snakemake.output.diagnostic)
    io.write_csv(data.frame[datasets.GEOMETRY_COLUMNS], snakemake.output.geometry)
    io.write_csv(data.qc, snakemake.output.qc)
    io.write_csv(manifest, snakemake.output.manifest)  # last: its presence marks the stage done
