"""Test-set evaluation of a classifier: n-way and 2AFC accuracy, per expression and per pair."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from .training import confusion_matrix
from .trials import accuracy_by_pair, answer_2afc


@dataclasses.dataclass
class Evaluation:
    """What :func:`evaluate` returns.

    ``metrics``: JSON-ready summary. ``by_expression``: ``expression, n_images, n_correct_nway,
    accuracy_nway, n_trials_2afc, n_correct_2afc, accuracy_2afc`` (n-way accuracy of an expression
    is its recall). ``by_pair``: :func:`ferattention.trials.accuracy_by_pair` of the 2AFC trials.
    ``confusion``: counts, rows = true class, columns = predicted class (both named).
    ``trials``: the trial list with the model's ``answer`` and ``correct`` added.
    """

    metrics: dict[str, Any]
    by_expression: pd.DataFrame
    by_pair: pd.DataFrame
    confusion: pd.DataFrame
    trials: pd.DataFrame


def evaluate(logits: pd.DataFrame, labels: pd.Series, trials: pd.DataFrame) -> Evaluation:
    """Score a model's test logits.

    ``logits``: indexed by ``image_id``, one column per class (the model's class order).
    ``labels``: true expression per ``image_id`` (same index as ``logits``). ``trials``: the 2AFC
    list (``image_id, option_a, option_b, label``); a trial's answer is the option with the larger
    logit (:func:`ferattention.trials.answer_2afc`).
    """
    classes = list(logits.columns)
    if not logits.index.equals(labels.index):
        raise ValueError("logits and labels must have the same image_id index")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise KeyError(f"label(s) {unknown} are not classes of the model {classes}")
    truth = labels.map({c: i for i, c in enumerate(classes)}).to_numpy()
    predicted = logits.to_numpy().argmax(1)
    hit = predicted == truth
    confusion = confusion_matrix(truth, predicted, len(classes))

    answers = answer_2afc(logits, trials)
    scored = trials.assign(answer=answers.to_numpy(), correct=(answers == trials["label"]).to_numpy())
    nway = pd.DataFrame({"expression": labels.to_numpy(), "correct": hit}).groupby("expression")["correct"]
    afc = scored.groupby("label")["correct"]
    by_expression = pd.DataFrame({
        "expression": classes,
        "n_images": nway.size().reindex(classes, fill_value=0).to_numpy(),
        "n_correct_nway": nway.sum().reindex(classes, fill_value=0).astype(int).to_numpy(),
        "n_trials_2afc": afc.size().reindex(classes, fill_value=0).to_numpy(),
        "n_correct_2afc": afc.sum().reindex(classes, fill_value=0).astype(int).to_numpy(),
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        by_expression.insert(3, "accuracy_nway", by_expression["n_correct_nway"] / by_expression["n_images"])
        by_expression["accuracy_2afc"] = by_expression["n_correct_2afc"] / by_expression["n_trials_2afc"]
    by_pair = accuracy_by_pair(scored, scored["correct"], classes)

    present = by_expression["n_images"] > 0
    metrics = {
        "classes": classes,
        "n_test_images": int(len(labels)),
        "accuracy_nway": float(hit.mean()) if len(hit) else float("nan"),
        "balanced_accuracy_nway": float(by_expression.loc[present, "accuracy_nway"].mean()),
        "chance_nway": 1 / len(classes),
        "n_trials_2afc": int(len(scored)),
        "accuracy_2afc": float(scored["correct"].mean()) if len(scored) else float("nan"),
        "chance_2afc": 0.5,
        "accuracy_per_expression": dict(zip(by_expression.loc[present, "expression"],
                                            by_expression.loc[present, "accuracy_nway"].astype(float))),
        "accuracy_2afc_per_expression": {
            r.expression: float(r.accuracy_2afc) for r in by_expression.itertuples() if r.n_trials_2afc},
        "accuracy_2afc_per_pair": [
            {"expression_a": r.expression_a, "expression_b": r.expression_b,
             "n_trials": int(r.n_trials), "accuracy": float(r.accuracy)} for r in by_pair.itertuples()],
        "confusion": {"rows": "true class", "columns": "predicted class",
                      "counts": confusion.tolist()},
    }
    index = pd.Index(classes, name="true")
    return Evaluation(metrics, by_expression, by_pair, pd.DataFrame(confusion, index=index, columns=classes),
                      scored)
