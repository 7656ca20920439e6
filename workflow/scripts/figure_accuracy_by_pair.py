"""Rule figure_accuracy_by_pair: humans vs models per 2AFC option pair, with CIs."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    from ferattention import figures, io, stats

    cfg = snakemake.params.statistics
    trials = io.read_table(snakemake.input.accuracy_trials)
    trials["pair"] = [stats.pair_label(a, b) for a, b in zip(trials["option_a"], trials["option_b"])]
    by_pair = stats.accuracy_by_group(trials, "pair", n_boot=cfg["n_boot"], seed=cfg["seed"])
    figures.plot_accuracy_by_pair(by_pair, snakemake.output.png)
