"""Rule evaluate: n-way and 2AFC accuracy of one model on the test split."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import numpy as np
    import pandas as pd

    from ferattention import datasets, io, models, training, trials

    model, meta = models.load_checkpoint(snakemake.input.model, training.device_for())
    classes = meta["classes"]
    frame, images = datasets.read_prepared(snakemake.input.manifest, split="test")
    logits = training.predict_logits(model, images)
    labels = frame["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    predicted = logits.argmax(1)

    table = pd.DataFrame(logits, columns=classes, index=pd.Index(frame["image_id"], name="image_id"))
    trial_list = pd.read_csv(snakemake.input.trials, dtype=str)
    answers = trials.answer_2afc(table, trial_list)
    correct_2afc = (answers == trial_list["label"]).to_numpy()
    confusion = training.confusion_matrix(labels, predicted, len(classes))

    metrics = {
        "model": snakemake.wildcards.model, "arch": meta["arch"], "classes": classes,
        "n_test_images": int(len(frame)), "accuracy_nway": float((predicted == labels).mean()),
        "chance_nway": 1 / len(classes), "n_trials_2afc": int(len(trial_list)),
        "accuracy_2afc": float(correct_2afc.mean()), "chance_2afc": 0.5,
        "accuracy_per_expression": {
            c: float((predicted[labels == i] == i).mean()) for i, c in enumerate(classes)
            if (labels == i).any()},
    }
    log.info("n-way accuracy %.3f, 2AFC accuracy %.3f", metrics["accuracy_nway"],
             metrics["accuracy_2afc"])
    predictions = table.add_prefix("logit_").reset_index()
    predictions.insert(1, "label", frame["label"].to_numpy())
    predictions.insert(2, "prediction", np.asarray(classes)[predicted])
    io.write_csv(predictions, snakemake.output.predictions)
    io.write_csv(pd.DataFrame(confusion, index=pd.Index(classes, name="true"), columns=classes),
                 snakemake.output.confusion, index=True)
    io.write_json(metrics, snakemake.output.metrics)
