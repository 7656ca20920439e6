"""Rule evaluate: n-way and 2AFC accuracy of one model on the test split, per expression and pair."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import numpy as np
    import pandas as pd

    from ferattention import datasets, evaluation, io, models, training

    model, meta = models.load_checkpoint(snakemake.input.model, training.device_for())
    classes = meta["classes"]
    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    index = pd.Index(frame["image_id"], name="image_id")
    logits = pd.DataFrame(training.predict_logits(model, images), columns=classes, index=index)
    labels = pd.Series(frame["label"].to_numpy(), index=index)
    trial_list = io.read_table(snakemake.input.trials)
    result = evaluation.evaluate(logits, labels, trial_list)

    metrics = {"model": snakemake.wildcards.model, "seed": int(snakemake.wildcards.seed),
               "arch": meta["arch"], **result.metrics}
    log.info("n-way accuracy %.3f (balanced %.3f), 2AFC accuracy %.3f", metrics["accuracy_nway"],
             metrics["balanced_accuracy_nway"], metrics["accuracy_2afc"])
    log.info("per expression:\n%s", result.by_expression.to_string(index=False))
    predictions = logits.add_prefix("logit_").reset_index()
    predictions.insert(1, "label", labels.to_numpy())
    predictions.insert(2, "prediction", np.asarray(classes)[logits.to_numpy().argmax(1)])
    io.write_csv(predictions, snakemake.output.predictions)
    io.write_csv(result.confusion, snakemake.output.confusion, index=True)
    io.write_csv(result.by_expression, snakemake.output.by_expression)
    io.write_csv(result.by_pair, snakemake.output.by_pair)
    io.write_json(metrics, snakemake.output.metrics)  # last: the rule's main output
