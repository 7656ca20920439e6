"""Rule figure_agreement: error consistency per model and human vs model error rates per cell."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import agreement, figures, io

    trials = io.read_table(snakemake.input.accuracy_trials)
    table = io.read_table(snakemake.input.agreement)
    cells = {agent: agreement.confusion_cells(trials, agent) for agent in table["agent"]}
    figures.plot_agreement(table, cells, snakemake.output.png)
