"""Agreement of humans and models beyond accuracy (after Geirhos et al., NeurIPS 2020).

Two accuracies can be equal while the errors fall on entirely different trials. Per model agent
of the per-trial table (``results/tables/accuracy_trials.csv``), on the trials both answered:

* Error consistency: Cohen's kappa of correct/incorrect between humans and the model.
  ``c_obs`` is the share of trials where both are right or both wrong; under independence with
  accuracies ``p_h`` and ``p_m`` it is expected to be ``c_exp = p_h p_m + (1 - p_h)(1 - p_m)``;
  ``kappa = (c_obs - c_exp) / (1 - c_exp)``: 0 when the errors are as independent as their rates
  allow, 1 when they fall on the same trials, < 0 when on different ones. Computed by statsmodels
  ``cohens_kappa`` on the 2x2 table of outcomes (its asymptotic 95% interval treats trials as
  independent, so it is too narrow when trials cluster by participant and image).
* Confusion-pattern correlation: the error rate of humans and of the model in each cell (true
  expression, foil) of the 2AFC trials (the off-diagonal cells of a 2AFC confusion matrix),
  correlated over the cells with both error rates defined (Pearson r, scipy ``pearsonr``); NaN
  with fewer than three cells or no variation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa

#: Columns of ``results/tables/agreement.csv``, in order.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "agent", "n_trials", "human_accuracy", "model_accuracy", "c_obs", "c_exp", "kappa",
    "kappa_ci_low", "kappa_ci_high", "confusion_r", "confusion_p", "n_cells",
)
_KEYS = ["participant_id", "trial_id"]


def _paired(trials: pd.DataFrame, agent: str) -> pd.DataFrame:
    need = ["agent", *_KEYS, "label", "option_a", "option_b", "correct"]
    missing = [c for c in need if c not in trials.columns]
    if missing:
        raise ValueError(f"per-trial table lacks column(s) {missing}")
    human = trials[trials["agent"] == "human"]
    model = trials[trials["agent"] == agent]
    paired = human.merge(model[_KEYS + ["correct"]], on=_KEYS, suffixes=("_h", "_m"),
                         validate="one_to_one")
    if paired.empty:
        raise ValueError(f"per-trial table: no trials answered by both humans and {agent}")
    paired["foil"] = np.where(paired["option_a"] == paired["label"], paired["option_b"],
                              paired["option_a"])
    return paired.assign(correct_h=paired["correct_h"].astype(bool),
                         correct_m=paired["correct_m"].astype(bool))


def error_consistency(human: np.ndarray, model: np.ndarray) -> dict[str, float]:
    """Error consistency of paired outcomes (booleans, one per trial, both the same length).

    Returns ``c_obs, c_exp, kappa, kappa_ci_low, kappa_ci_high`` (module docstring). When both
    are always right (or ``c_exp`` is 1) kappa is undefined: NaN.
    """
    h, m = np.asarray(human, bool), np.asarray(model, bool)
    if h.shape != m.shape or h.ndim != 1:
        raise ValueError(f"human {h.shape} and model {m.shape} outcomes must be 1-D and aligned")
    table = np.array([[np.sum(h & m), np.sum(h & ~m)], [np.sum(~h & m), np.sum(~h & ~m)]])
    p_h, p_m = h.mean(), m.mean()
    c_obs = float(np.mean(h == m))
    c_exp = float(p_h * p_m + (1 - p_h) * (1 - p_m))
    if c_exp == 1:
        return {"c_obs": c_obs, "c_exp": c_exp, "kappa": np.nan, "kappa_ci_low": np.nan,
                "kappa_ci_high": np.nan}
    res = cohens_kappa(table)
    return {"c_obs": c_obs, "c_exp": c_exp, "kappa": float(res.kappa),
            "kappa_ci_low": float(res.kappa_low), "kappa_ci_high": float(res.kappa_upp)}


def confusion_cells(trials: pd.DataFrame, agent: str) -> pd.DataFrame:
    """Error rates per (true expression, foil) cell: ``label, foil, n_trials, human_error,
    model_error`` on the trials answered by humans and ``agent``."""
    paired = _paired(trials, agent)
    cells = paired.groupby(["label", "foil"], sort=True).agg(
        n_trials=("correct_h", "size"),
        human_error=("correct_h", lambda c: 1 - c.mean()),
        model_error=("correct_m", lambda c: 1 - c.mean()),
    )
    return cells.reset_index()


def agreement_table(trials: pd.DataFrame) -> pd.DataFrame:
    """``results/tables/agreement.csv``: one row per model agent of the per-trial table."""
    rows = []
    for agent in [a for a in pd.unique(trials["agent"]) if str(a).startswith("model:")]:
        paired = _paired(trials, agent)
        cells = confusion_cells(trials, agent)
        r = p = np.nan
        x, y = cells["human_error"].to_numpy(), cells["model_error"].to_numpy()
        if len(cells) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            r, p = stats.pearsonr(x, y)
        rows.append({
            "agent": agent, "n_trials": len(paired),
            "human_accuracy": float(paired["correct_h"].mean()),
            "model_accuracy": float(paired["correct_m"].mean()),
            **error_consistency(paired["correct_h"].to_numpy(), paired["correct_m"].to_numpy()),
            "confusion_r": float(r), "confusion_p": float(p), "n_cells": len(cells),
        })
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
