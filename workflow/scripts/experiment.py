"""Rule experiment: export the static browser experiment for the test images."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention.experiment import ExperimentSettings, export_experiment

    settings = ExperimentSettings.from_config(snakemake.params.experiment,
                                              snakemake.params.reveal_radius)
    summary = export_experiment(snakemake.input.manifest, snakemake.input.trials,
                                snakemake.output[0], settings)
    log.info("experiment in %s: %d test images (%d per participant), %d practice and %d catch "
             "trials, stimuli %dx%d px, hiding %s; open index.html or serve the folder",
             snakemake.output[0], summary["n_images"], summary["per_participant"],
             summary["n_practice"], summary["n_catch"], summary["stimulus_width"],
             summary["stimulus_height"], settings.hiding)
