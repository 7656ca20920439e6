"""Rule figure_accuracy_by_pair: humans vs models per 2AFC option pair, with CIs."""

from ferattention.runtime import rule_job

with rule_job(snakemake):
    import pandas as pd

    from ferattention import figures, stats

    cfg = snakemake.params.statistics
    trials = pd.read_csv(snakemake.input.accuracy_trials,
                         dtype={"participant_id": str, "trial_id": str, "image_id": str})
    trials["pair"] = [stats.pair_label(a, b) for a, b in zip(trials["option_a"], trials["option_b"])]
    by_pair = stats.accuracy_by_group(trials, "pair", n_boot=cfg["n_boot"], seed=cfg["seed"])
    figures.plot_accuracy_by_pair(by_pair, snakemake.output.png)
