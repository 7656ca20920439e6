"""Concatenate tables: every input into ``output.table``, or, where the outputs are named like
the inputs (``auc``, ``curves``), each named input list into the output of its name."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import io

    names = [n for n in snakemake.output.keys() if n != "table"]
    pairs = ([(list(snakemake.input[n]), snakemake.output[n]) for n in names] if names
             else [(list(snakemake.input), snakemake.output.table)])
    for inputs, output in pairs:
        table = pd.concat([io.read_table(p) for p in inputs], ignore_index=True)
        log.info("%s: %d rows from %d tables", output, len(table), len(inputs))
        io.write_csv(table, output)
