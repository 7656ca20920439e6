"""Agreement of humans and models beyond accuracy (after Geirhos et al., NeurIPS 2020).

Two accuracies can be equal while the errors fall on entirely different trials. Per model agent
of the per-trial table (``results/tables/accuracy_trials.csv``), on the trials both answered:

* Error consistency: Cohen's kappa of correct/incorrect between humans and the model.
  ``c_obs`` is the share of trials where both are right or both wrong; under independence with
  accuracies ``p_h`` and ``p_m`` it is expected to be ``c_exp = p_h p_m + (1 - p_h)(1 - p_m)``;
  ``kappa = (c_obs - c_exp) / (1 - c_exp)``: 0 when the errors are as independent as their rates
  allow, 1 when they fall on the same trials, < 0 when on different ones (statsmodels
  ``cohens_kappa`` on the 2x2 table of outcomes). Its 95% interval comes from the same
  resampling as one instance's accuracy difference: participants and images crossed
  (:func:`resampled_units`, :func:`ferattention.hierarchical.function_of_means_bootstrap`),
  since trials cluster by both. Beside it, ``kappa_max``, the largest kappa the two accuracies
  allow (errors overlapping as far as their rates permit, ``c_obs = 1 - |p_h - p_m|``;
  Geirhos et al. 2020), and ``human_kappa``, the humans' own error consistency: the kappa
  between two random halves of the participants, every trial of one half paired with every
  trial of the other on the same item (image and pair of options), averaged over splits.
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

from . import hierarchical

#: Columns of ``results/tables/agreement.csv``, in order.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "agent", "n_trials", "human_accuracy", "model_accuracy", "c_obs", "c_exp", "kappa",
    "kappa_ci_low", "kappa_ci_high", "kappa_max", "human_kappa", "confusion_r", "confusion_p",
    "n_cells",
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


def kappa_of_means(means: np.ndarray) -> np.ndarray:
    """Cohen's kappa from (B, 3) means of (human correct, model correct, both agree) -> (B,)."""
    p_h, p_m, c_obs = means[:, 0], means[:, 1], means[:, 2]
    c_exp = p_h * p_m + (1 - p_h) * (1 - p_m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c_exp < 1, (c_obs - c_exp) / (1 - c_exp), np.nan)


def max_kappa(p_h: float, p_m: float) -> float:
    """The largest kappa two accuracies allow: their errors overlap as far as they can,
    ``c_obs = 1 - |p_h - p_m|`` (Geirhos et al. 2020); NaN when ``c_exp`` is 1."""
    return float(kappa_of_means(np.array([[p_h, p_m, 1 - abs(p_h - p_m)]]))[0])


def error_consistency(human: np.ndarray, model: np.ndarray,
                      factors: dict[str, np.ndarray] | None = None, n_boot: int = 2000,
                      seed: int = 0) -> dict[str, float]:
    """Error consistency of paired outcomes (booleans, one per trial, both the same length).

    Returns ``c_obs, c_exp, kappa, kappa_ci_low, kappa_ci_high, kappa_max`` (module
    docstring). ``factors``: name -> (n,) unit of each trial (participant, identity) for the
    hierarchical bootstrap's interval (``n_boot``, ``seed``); None: the asymptotic interval of
    statsmodels, which treats the trials as independent. When both are always right (or
    ``c_exp`` is 1) kappa is undefined: NaN.
    """
    h, m = np.asarray(human, bool), np.asarray(model, bool)
    if h.shape != m.shape or h.ndim != 1:
        raise ValueError(f"human {h.shape} and model {m.shape} outcomes must be 1-D and aligned")
    table = np.array([[np.sum(h & m), np.sum(h & ~m)], [np.sum(~h & m), np.sum(~h & ~m)]])
    p_h, p_m = h.mean(), m.mean()
    c_obs = float(np.mean(h == m))
    c_exp = float(p_h * p_m + (1 - p_h) * (1 - p_m))
    out = {"c_obs": c_obs, "c_exp": c_exp, "kappa": np.nan, "kappa_ci_low": np.nan,
           "kappa_ci_high": np.nan, "kappa_max": max_kappa(p_h, p_m)}
    if c_exp == 1:
        return out
    fit = cohens_kappa(table)
    out["kappa"] = float(fit.kappa)
    if factors is None:
        out.update(kappa_ci_low=float(fit.kappa_low), kappa_ci_high=float(fit.kappa_upp))
    else:
        res = hierarchical.function_of_means_bootstrap(
            np.stack([h, m, h == m], axis=1).astype(float), factors, kappa_of_means, n_boot, seed)
        out.update(kappa_ci_low=res.ci_low, kappa_ci_high=res.ci_high)
    return out


def resampled_units(participants: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """The units kappa's interval resamples, crossed: participants and images, as the accuracy
    difference of one instance resamples them (``accuracy_tests.csv``'s instance rows)."""
    return {"participant": np.asarray(participants).astype(str),
            "image": np.asarray(images).astype(str)}


def human_error_consistency(trials: pd.DataFrame, repeats: int = 20, seed: int = 0) -> float:
    """The humans' own error consistency: kappa between two random halves of the participants.

    ``trials``: the human rows of the per-trial table (``participant_id, image_id, option_a,
    option_b, correct``). For each of ``repeats`` random splits, every trial of one half is
    paired with every trial of the other half on the same item (image and unordered pair of
    options) and kappa is taken over those pairs; returns the mean over splits (NaN without two
    participants or shared items).
    """
    t = trials.assign(correct=trials["correct"].astype(bool))
    options = np.sort(t[["option_a", "option_b"]].astype(str).to_numpy(), axis=1)
    t = t.assign(item=t["image_id"].astype(str) + "|" + options[:, 0] + "|" + options[:, 1])
    people = np.array(sorted(t["participant_id"].astype(str).unique()))
    if len(people) < 2:
        return np.nan
    rng = np.random.default_rng(seed)
    kappas = []
    for _ in range(repeats):
        half = set(rng.permutation(people)[: len(people) // 2])
        in_a = t["participant_id"].astype(str).isin(half)
        a = t[in_a].groupby("item")["correct"].agg(["sum", "count"])
        b = t[~in_a].groupby("item")["correct"].agg(["sum", "count"])
        both = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
        if both.empty:
            continue
        # the 2x2 table of every cross-half pair of trials on the same item
        ra, wa = both["sum_a"], both["count_a"] - both["sum_a"]
        rb, wb = both["sum_b"], both["count_b"] - both["sum_b"]
        table = np.array([[(ra * rb).sum(), (ra * wb).sum()], [(wa * rb).sum(), (wa * wb).sum()]])
        total = table.sum()
        p_a, p_b = table[0].sum() / total, table[:, 0].sum() / total
        c_exp = p_a * p_b + (1 - p_a) * (1 - p_b)
        if c_exp < 1:
            kappas.append(((table[0, 0] + table[1, 1]) / total - c_exp) / (1 - c_exp))
    return float(np.mean(kappas)) if kappas else np.nan


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


def agreement_table(trials: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``results/tables/agreement.csv``: one row per model agent of the per-trial table.

    Kappa's interval resamples participants and images (:func:`resampled_units`; ``n_boot``,
    ``seed``).
    """
    human_kappa = human_error_consistency(trials[trials["agent"] == "human"], seed=seed)
    rows = []
    for agent in [a for a in pd.unique(trials["agent"]) if str(a).startswith("model:")]:
        paired = _paired(trials, agent)
        cells = confusion_cells(trials, agent)
        r = p = np.nan
        x, y = cells["human_error"].to_numpy(), cells["model_error"].to_numpy()
        if len(cells) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            r, p = stats.pearsonr(x, y)
        factors = resampled_units(paired["participant_id"].to_numpy(),
                                  paired["image_id"].to_numpy())
        rows.append({
            "agent": agent, "n_trials": len(paired),
            "human_accuracy": float(paired["correct_h"].mean()),
            "model_accuracy": float(paired["correct_m"].mean()),
            **error_consistency(paired["correct_h"].to_numpy(), paired["correct_m"].to_numpy(),
                                factors, n_boot, seed),
            "human_kappa": human_kappa,
            "confusion_r": float(r), "confusion_p": float(p), "n_cells": len(cells),
        })
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))
