"""Rule similarity_table: concatenate the per model x method similarity tables."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import io

    table = pd.concat([io.read_table(p) for p in snakemake.input], ignore_index=True)
    log.info("%d rows from %d tables", len(table), len(snakemake.input))
    io.write_csv(table, snakemake.output.table)
