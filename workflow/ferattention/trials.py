"""The two-alternative forced-choice (2AFC) trial list and its scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def make_trials(test: pd.DataFrame, expressions: list[str], foils: int | None, seed: int) -> pd.DataFrame:
    """Build 2AFC trials for the test images.

    Each image is paired with ``foils`` other expressions of the run (all of them when None),
    drawn without replacement; the true label is option a or b at random.

    Returns columns ``trial_id, image_id, option_a, option_b, label``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for rec in test.sort_values("image_id").itertuples(index=False):
        others = [e for e in expressions if e != rec.label]
        chosen = others if foils is None or foils >= len(others) else list(
            rng.choice(others, size=foils, replace=False))
        for foil in chosen:
            pair = [rec.label, foil] if rng.random() < 0.5 else [foil, rec.label]
            rows.append({"image_id": rec.image_id, "option_a": pair[0], "option_b": pair[1],
                         "label": rec.label})
    trials = pd.DataFrame(rows, columns=["image_id", "option_a", "option_b", "label"])
    trials.insert(0, "trial_id", [f"t{i:06d}" for i in range(len(trials))])
    return trials


def answer_2afc(logits: pd.DataFrame, trials: pd.DataFrame) -> pd.Series:
    """The model's 2AFC answers: per trial, the option with the larger logit (ties: option a).

    ``logits``: indexed by ``image_id``, one column per expression. ``trials``: with
    ``image_id, option_a, option_b``. Returns the chosen option per trial (aligned with ``trials``).
    """
    missing = sorted(set(trials["image_id"]) - set(logits.index))
    if missing:
        raise KeyError(f"no model output for image(s) {missing[:5]}")
    unknown = sorted(set(trials["option_a"]).union(trials["option_b"]) - set(logits.columns))
    if unknown:
        raise KeyError(f"option(s) {unknown} are not classes of the model {list(logits.columns)}")
    values = logits.loc[trials["image_id"]].to_numpy()
    rows = np.arange(len(trials))
    a = values[rows, logits.columns.get_indexer(trials["option_a"])]
    b = values[rows, logits.columns.get_indexer(trials["option_b"])]
    return pd.Series(np.where(a >= b, trials["option_a"], trials["option_b"]), index=trials.index)


def accuracy_by_pair(trials: pd.DataFrame, correct: ArrayLike, expressions: list[str] | None = None) -> pd.DataFrame:
    """2AFC accuracy per expression pair (unordered: ``{option_a, option_b}``).

    ``trials``: with ``option_a, option_b``; ``correct``: booleans aligned with ``trials``.
    ``expressions`` fixes the order of the two names in a pair and of the rows (default: sorted
    names). Returns ``expression_a, expression_b, n_trials, n_correct, accuracy``, one row per
    pair that occurs.
    """
    correct = np.asarray(correct, dtype=bool)
    if len(correct) != len(trials):
        raise ValueError(f"{len(correct)} correctness values for {len(trials)} trials")
    names = sorted(set(trials["option_a"]).union(trials["option_b"]))
    order = {e: i for i, e in enumerate(expressions if expressions is not None else names)}
    unknown = sorted(set(names) - set(order))
    if unknown:
        raise KeyError(f"option(s) {unknown} are not in the expressions {list(order)}")
    a, b = trials["option_a"].to_numpy(), trials["option_b"].to_numpy()
    first = np.array([order[x] <= order[y] for x, y in zip(a, b)], dtype=bool)
    pairs = pd.DataFrame({"expression_a": np.where(first, a, b), "expression_b": np.where(first, b, a),
                          "correct": correct})
    table = (pairs.groupby(["expression_a", "expression_b"], sort=False)["correct"]
             .agg(n_trials="size", n_correct="sum").reset_index())
    table["n_correct"] = table["n_correct"].astype(int)
    table["accuracy"] = table["n_correct"] / table["n_trials"]
    return table.sort_values(["expression_a", "expression_b"], key=lambda col: col.map(order),
                             ignore_index=True)
