"""Rule accuracy: humans and every model on the trials the humans answered, each model on the
full image (agent ``model:<name>``) and on what the participant had uncovered
(``model:<name>@human_view``)."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import pandas as pd

    from ferattention import io, stats, trials
    from ferattention.humans import read_validated

    cfg = snakemake.params.statistics
    human, _ = read_validated(snakemake.input.human_trials)
    keys = ["participant_id", "trial_id", "image_id", "option_a", "option_b", "label"]
    long = [human[keys].assign(agent="human", correct=human["correct"].astype(bool))]
    model_correct = {}
    for name, path in zip(snakemake.params.models, snakemake.input.predictions):
        logits = io.read_table(path).set_index("image_id").filter(like="logit_")
        logits.columns = logits.columns.str.removeprefix("logit_")
        answers = trials.answer_2afc(logits, human)
        model_correct[name] = human[keys].assign(agent=f"model:{name}",
                                                 correct=(answers == human["label"]).to_numpy())
        long.append(model_correct[name])
    # The same trials answered on the stimulus as uncovered at the participant's answer.
    for name, path in zip(snakemake.params.models, snakemake.input.human_view):
        seen = io.read_table(path)
        seen = human[["participant_id", "trial_id"]].merge(
            seen[["participant_id", "trial_id", "correct"]], how="left", validate="one_to_one")
        if seen["correct"].isna().any():
            raise ValueError(f"{path}: no answer for {int(seen['correct'].isna().sum())} human trial(s)")
        agent = f"{name}@human_view"
        model_correct[agent] = human[keys].assign(agent=f"model:{agent}",
                                                  correct=seen["correct"].astype(bool).to_numpy())
        long.append(model_correct[agent])
    table = stats.accuracy_table(human, model_correct, n_boot=cfg["n_boot"], seed=cfg["seed"])
    log.info("\n%s", table.to_string(index=False))
    io.write_csv(pd.concat(long, ignore_index=True), snakemake.output.trials)
    io.write_csv(table, snakemake.output.table)
