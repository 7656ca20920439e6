"""Rule agreement: error consistency (kappa, its interval over participants and images, the
largest kappa the accuracies allow, the humans' own) and confusion-pattern correlation of humans
and each model on the same trials."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import agreement, io

    cfg = snakemake.params.statistics
    table = agreement.agreement_table(io.read_table(snakemake.input.accuracy_trials),
                                      n_boot=cfg["n_boot"], seed=cfg["seed"])
    log.info("\n%s", table.to_string(index=False))
    io.write_csv(table, snakemake.output.table)
