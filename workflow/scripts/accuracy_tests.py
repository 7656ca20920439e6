"""Rule accuracy_tests: question 1, humans vs each model instance (mixed model) and pooled per model
over its instances (hierarchical bootstrap over instances, identities and participants)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io, tables

    cfg = snakemake.params.statistics
    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "identity"])
    table = tables.accuracy_tests_table(
        io.read_table(snakemake.input.accuracy_trials), n_boot=cfg["n_boot"], seed=cfg["seed"],
        identities=dict(zip(manifest["image_id"], manifest["identity"])))
    log.info("humans vs each model:\n%s", table.to_string(index=False))
    io.write_csv(table, snakemake.output.table)
