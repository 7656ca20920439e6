"""Rule recovery_table: all sources of the recovery study in one table and one figure."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import figures, io
    from ferattention.recovery import recovery_verdicts

    table = pd.concat([io.read_table(f) for f in snakemake.input], ignore_index=True)
    log.info("planted maps, spearman and cc:\n%s", recovery_verdicts(table).to_string(index=False))
    io.write_csv(table, snakemake.output.table)
    figures.plot_recovery(table, snakemake.output.figure[0])
