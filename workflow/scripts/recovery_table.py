"""Rule recovery_table: all sources of the recovery study in one table and one figure."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import figures, instances, io
    from ferattention.recovery import recovery_verdicts

    table = pd.concat([io.read_table(f) for f in snakemake.input], ignore_index=True)
    folded = instances.fold(table)  # one map set per instance key, as the verdicts expect
    log.info("planted maps, spearman and cc:\n%s", recovery_verdicts(folded).to_string(index=False))
    io.write_csv(table, snakemake.output.table)
    figures.plot_recovery(folded, snakemake.output.figure[0])
