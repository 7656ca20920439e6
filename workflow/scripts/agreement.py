"""Rule agreement: error consistency (kappa) and confusion-pattern correlation of humans and each
model on the same trials."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import agreement, io

    table = agreement.agreement_table(io.read_table(snakemake.input.accuracy_trials))
    log.info("\n%s", table.to_string(index=False))
    io.write_csv(table, snakemake.output.table)
