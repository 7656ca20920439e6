"""Rule statistics: paired humans-vs-model tests, method comparisons, similarity summary."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import io, stats

    cfg = snakemake.params.statistics
    per_trial = pd.read_csv(snakemake.input.accuracy_trials,
                            dtype={"participant_id": str, "trial_id": str, "image_id": str})
    wide = per_trial.pivot_table(index=["participant_id", "trial_id", "image_id"], columns="agent",
                                 values="correct", aggfunc="first").reset_index()
    models = [a.removeprefix("model:") for a in wide.columns if str(a).startswith("model:")]
    accuracy_tests = stats.compare_accuracy(
        wide["human"].astype(bool).to_numpy(),
        {m: wide[f"model:{m}"].astype(bool).to_numpy() for m in models},
        wide["image_id"].to_numpy(),
    )
    similarity = pd.read_csv(snakemake.input.similarity, dtype={"image_id": str})
    reliability = pd.read_csv(snakemake.input.reliability, dtype={"image_id": str})
    method_tests = stats.compare_methods(similarity, reliability)
    summary = stats.summarise_similarity(similarity, reliability, n_boot=cfg["n_boot"], seed=cfg["seed"])
    table = stats.stats_table(accuracy_tests, method_tests)
    log.info("%d tests; summary:\n%s", len(table), summary.to_string(index=False))
    io.write_csv(summary, snakemake.output.summary)
    io.write_csv(table, snakemake.output.stats)
