"""Rule statistics: humans vs each model (mixed model, paired tests), method comparisons, similarity
summary, and their breakdowns per expression and per expression pair."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io, mixed, stats

    cfg = snakemake.params.statistics
    per_trial = io.read_table(snakemake.input.accuracy_trials)
    mixed_tests = mixed.accuracy_tests(per_trial, seed=cfg["seed"])
    log.info("mixed model, humans vs each model:\n%s", mixed_tests.to_string(index=False))
    keys = ["participant_id", "trial_id", "image_id", "label", "option_a", "option_b"]
    wide = per_trial.pivot_table(index=keys, columns="agent", values="correct",
                                 aggfunc="first").reset_index()
    models = [a.removeprefix("model:") for a in wide.columns if str(a).startswith("model:")]
    human = wide["human"].astype(bool).to_numpy()
    model_correct = {m: wide[f"model:{m}"].astype(bool).to_numpy() for m in models}
    image_ids = wide["image_id"].to_numpy()
    accuracy_tests = stats.compare_accuracy(human, model_correct, image_ids)
    by_expression = stats.compare_accuracy_by(human, model_correct, image_ids,
                                              wide["label"].to_numpy(), "expression")
    pairs = [stats.pair_label(a, b) for a, b in zip(wide["option_a"], wide["option_b"])]
    by_pair = stats.compare_accuracy_by(human, model_correct, image_ids, pairs, "pair")

    similarity = io.read_table(snakemake.input.similarity)
    reliability = io.read_table(snakemake.input.reliability)
    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "label"])
    method_tests = stats.compare_methods(similarity, reliability)
    methods_by_expression = stats.compare_methods_by(
        similarity, dict(zip(manifest["image_id"], manifest["label"])), "expression")
    summary = stats.summarise_similarity(similarity, reliability, n_boot=cfg["n_boot"], seed=cfg["seed"])
    from ferattention.crossed_similarity import apply_crossed_ci

    summary = apply_crossed_ci(summary, io.read_table(snakemake.input.crossed))
    from ferattention.similarity import METRICS

    primary = snakemake.params.primary
    verdicts, verdict_tests = stats.attention_verdicts(similarity, primary,
                                                       METRICS[primary].higher_is_better)
    log.info("question 2 on %s:\n%s", primary, verdicts.to_string(index=False))
    table = stats.stats_table(mixed.stats_rows(mixed_tests), accuracy_tests, method_tests,
                              verdict_tests, by_expression, by_pair,
                              methods_by_expression)
    log.info("%d tests; summary:\n%s", len(table), summary.to_string(index=False))
    io.write_csv(mixed_tests, snakemake.output.accuracy_tests)
    io.write_csv(summary, snakemake.output.summary)
    io.write_csv(table, snakemake.output.stats)
    io.write_csv(verdicts, snakemake.output.verdict)
