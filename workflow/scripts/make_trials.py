"""Rule make_trials: the 2AFC trial list for the test images."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io, trials

    manifest = io.read_table(snakemake.input.manifest)
    test = manifest[manifest["split"] == "test"]
    cfg = snakemake.params.trials
    table = trials.make_trials(test, snakemake.params.expressions, cfg["foils"], cfg["seed"])
    log.info("%d trials on %d test images", len(table), test["image_id"].nunique())
    io.write_csv(table, snakemake.output.trials)
