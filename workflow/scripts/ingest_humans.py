"""Rule ingest_humans: validate the click logs and add per-trial measures."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import numpy as np

    from ferattention import datasets, io
    from ferattention.humans import load_human_data, revealed_fraction
    from ferattention.humans.ingest import require_stimulus_sizes

    size = snakemake.params.image_size
    geometries = datasets.stimulus_geometries(snakemake.input.geometry, snakemake.params.stimulus)
    if geometries is not None:
        require_stimulus_sizes(snakemake.input.trials)
    manifest = io.read_table(snakemake.input.manifest)
    trials, clicks, qc = load_human_data(
        snakemake.input.trials, snakemake.input.clicks, manifest,
        on_invalid=snakemake.params.on_invalid, default_stimulus_size=(size, size),
        expressions=snakemake.params.expressions,  # the models answer only these
    )
    # Where region masks are known for every image, "revealed" is measured on the face parts,
    # else on the whole image.
    regions = io.load_maps(snakemake.input.regions)
    face = ({k: v.any(axis=0) for k, v in regions.items()}
            if set(trials["image_id"]) <= set(regions) else None)
    trials["revealed_fraction"] = revealed_fraction(
        trials, clicks, size, snakemake.params.reveal_radius, face_masks=face, geometries=geometries)
    log.info("%d valid trials from %d participants, %d clicks; %d rows dropped",
             len(trials), trials["participant_id"].nunique(), len(clicks), int(qc["n_rows"].sum()))
    log.info("human accuracy %.3f, median clicks %.0f", trials["correct"].mean(),
             np.median(trials["n_clicks"]))
    io.write_csv(qc, snakemake.output.qc)
    io.write_csv(clicks, snakemake.output.clicks)
    io.write_csv(trials, snakemake.output.trials)
