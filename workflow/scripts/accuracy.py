"""Rule accuracy: humans and every model on the trials the humans answered, each model on the
full image (agent ``model:<name>``) and on what the participant had uncovered
(``model:<name>@human_view``)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io, tables
    from ferattention.humans import read_validated

    cfg = snakemake.params.statistics
    human, _ = read_validated(snakemake.input.human_trials)
    models = snakemake.params.models
    per_trial, table = tables.accuracy_tables(
        human, {m: io.read_table(p) for m, p in zip(models, snakemake.input.predictions)},
        {m: io.read_table(p) for m, p in zip(models, snakemake.input.human_view)},
        n_boot=cfg["n_boot"], seed=cfg["seed"], where=dict(zip(models, snakemake.input.human_view)))
    log.info("\n%s", table.to_string(index=False))
    io.write_csv(per_trial, snakemake.output.trials)
    io.write_csv(table, snakemake.output.table)
