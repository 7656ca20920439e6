"""Statistics of accuracy and attention similarity (docs/design.md §9).

All tests come from scipy.stats and statsmodels; only effect sizes, which those libraries do not
provide, are computed here. Test rows share the columns of ``results/tables/stats.csv``
(:data:`STATS_COLUMNS`):

================================  ==========================  ==================================
test                              statistic                   effect_size
================================  ==========================  ==================================
``mcnemar_exact``                 min(b, c), the smaller      Cohen's g, signed: b/(b+c) - 1/2
                                  discordant count            (b: human right, model wrong)
``accuracy_difference``           human - model accuracy      the same (no test: p is NaN)
``wilcoxon_signed_rank``          W of scipy.stats.wilcoxon   matched-pairs rank-biserial r,
                                                              signed: > 0 when the first named
                                                              side has the larger values
``friedman``                      chi-square (tie corrected)  Kendall's W = chi2 / (n (k - 1))
================================  ==========================  ==================================

``n`` is the number of paired units a test used (trials for McNemar, images otherwise).
``p_adjusted`` is Holm's step-down adjustment (:func:`holm`) within a family;
a family of one test keeps its p-value. The families are named in each function's docstring.

Conventions: the Wilcoxon test drops zero differences (``zero_method="wilcox"``); when every
difference is zero it is reported as statistic 0, p = 1, effect 0 (no evidence of a difference).
A Friedman test on images whose methods are all tied likewise gives chi-square 0, p = 1, W = 0.

Breakdowns (per expression, per expression pair) repeat a comparison on a subset and name it by a
scope in square brackets at the end of the comparison's first part: ``human vs model:cnn
[expression=happy]``, ``human vs model:cnn [pair=anger/happy]``, ``cnn/cc [expression=happy]: cam vs
gradcam``. Their Holm families are those of the unscoped test, taken within one scope kind (all
expressions together, all pairs together), so a breakdown never changes the main rows' p-values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from . import catalogue
from .methods import is_baseline

#: Defaults of the bootstrap settings: the config schema's ``statistics`` block (their one source).
_N_BOOT, _SEED = (catalogue.schema_defaults("statistics")[k] for k in ("n_boot", "seed"))

#: Columns of the stats table (docs/design.md §5.5), in order.
STATS_COLUMNS: tuple[str, ...] = (
    "test", "comparison", "statistic", "p_value", "p_adjusted", "effect_size", "n",
)
ACCURACY_COLUMNS: tuple[str, ...] = ("agent", "n_trials", "n_correct", "accuracy", "ci_low", "ci_high")
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "method", "metric", "mean", "ci_low", "ci_high", "floor", "lower", "upper",
    "normalized", "normalized_low", "normalized_high",
)
SIMILARITY_COLUMNS: tuple[str, ...] = ("image_id", "model", "method", "metric", "value")
RELIABILITY_COLUMNS: tuple[str, ...] = ("image_id", "metric", "lower", "upper", "floor")


# --------------------------------------------------------------------------------------------
# helpers


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def _as_bool(values: object, what: str) -> np.ndarray:
    """A 1-D array of booleans; accepts bool or 0/1 values, names the first bad row otherwise."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    ok = np.array([v in (0, 1) and not isinstance(v, str) for v in arr.tolist()], dtype=bool)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{what}: row {row} has {arr[row]!r}; expected True/False or 1/0")
    return arr.astype(bool)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values of one family; NaN entries stay NaN and do not count.

    Holm (1979) step-down: with the m finite p-values sorted ascending, the k-th (k from 0)
    becomes ``max_{j <= k} min(1, (m - j) p_(j))``. This is statsmodels'
    ``multipletests(method="holm")`` to the last bit (``tests/test_stats.py`` compares them), written
    out because that function calls ``gc.collect()`` on every use: 65 ms each in a process holding
    the statistics tables, 14 of the ``statistics`` job's 28 s on the default run.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok):
        order = ok[np.argsort(p[ok], kind="stable")]
        scaled = p[order] * np.arange(len(order), 0, -1)
        out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def _row(test: str, comparison: str, statistic: float, p: float, effect: float, n: int) -> dict:
    return {
        "test": test, "comparison": comparison, "statistic": float(statistic), "p_value": float(p),
        "p_adjusted": np.nan, "effect_size": float(effect), "n": int(n),
    }


def _frame(rows: list[dict], families: list[object]) -> pd.DataFrame:
    """Rows -> stats frame, with Holm adjustment within each family label."""
    table = pd.DataFrame(rows, columns=list(STATS_COLUMNS))
    if rows:
        fam = pd.Series(families, index=table.index, dtype=object).astype(str)
        for _, idx in table.groupby(fam, sort=False).groups.items():
            table.loc[idx, "p_adjusted"] = holm(table.loc[idx, "p_value"].to_numpy())
    return table


def rank_biserial(x: np.ndarray, y: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014) of paired samples ``x`` and ``y``.

    ``(T+ - T-) / (T+ + T-)`` with T+/T- the rank sums of the positive/negative differences
    ``x - y`` (zeros dropped, average ranks for ties). Range [-1, 1]; 0 when all differences are 0.
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples: (W, p, rank-biserial)."""
    if np.all(x == y):
        return 0.0, 1.0, 0.0
    res = stats.wilcoxon(x, y, zero_method="wilcox")
    return float(res.statistic), float(res.pvalue), rank_biserial(x, y)


def _wilcoxon_columns(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_wilcoxon` of every column of paired differences ``d`` (n, k) at once: (W, p,
    rank-biserial), each (k,), equal to the column-by-column calls.

    ``scipy.stats.wilcoxon`` on a matrix chooses one method (exact, permutation or normal
    approximation) for all columns, from whether any column has zeros or tied ranks; so the
    columns are tested in two groups, with and without zeros or ties, each choosing as its
    columns would alone.
    """
    d = np.asarray(d, dtype=float)
    k = d.shape[1]
    w, p, r = np.zeros(k), np.ones(k), np.zeros(k)
    absd = np.where(d == 0, np.nan, np.abs(d))
    ranks = stats.rankdata(absd, axis=0, nan_policy="omit")
    with np.errstate(invalid="ignore", divide="ignore"):
        r_all = (np.nansum(np.where(d > 0, ranks, 0), axis=0)
                 - np.nansum(np.where(d < 0, ranks, 0), axis=0)) / np.nansum(ranks, axis=0)
    ordered = np.sort(np.abs(d), axis=0)
    ties = ((d == 0).any(axis=0)
            | ((np.diff(ordered, axis=0) == 0) & (ordered[1:] > 0)).any(axis=0))
    varied = (d != 0).any(axis=0)
    for group in (varied & ties, varied & ~ties):
        if group.any():
            res = stats.wilcoxon(d[:, group], zero_method="wilcox", axis=0)
            w[group], p[group], r[group] = res.statistic, res.pvalue, r_all[group]
    return w, p, r


# --------------------------------------------------------------------------------------------
# bootstrap and accuracy


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., float],
    n_boot: int,
    seed: int,
    level: float,
    paired: bool,
) -> tuple[float, float]:
    res = stats.bootstrap(
        data, statistic, n_resamples=n_boot, confidence_level=level, method="percentile",
        paired=paired, rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    stat: Callable[..., float] = np.mean,
    n_boot: int = _N_BOOT,
    seed: int = _SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``stat`` over 1-D ``values`` (scipy.stats.bootstrap).

    Seeded, so the interval is reproducible. ``stat`` may take an ``axis`` keyword (then it is
    evaluated vectorised, as ``np.mean`` is). Degenerate inputs do not raise: no values give
    (NaN, NaN), one value gives (NaN, NaN) as no spread can be estimated from it, and constant
    values give (c, c), the bootstrap distribution being a point mass. Non-finite values are an
    error (drop them before).
    """
    x = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(x).all():
        raise ValueError("bootstrap_ci: values must be finite (drop NaN before)")
    if x.size < 2:
        return (np.nan, np.nan)
    if np.all(x == x[0]):
        s = float(stat(x))
        return (s, s)
    return _bootstrap((x,), stat, n_boot, seed, level, paired=False)


def _ratio(k: np.ndarray, m: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(k, axis=axis) / np.sum(m, axis=axis)


def cluster_accuracy_ci(
    correct: np.ndarray, image_ids: np.ndarray, n_boot: int = _N_BOOT, seed: int = _SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of accuracy that resamples images (clusters), not trials.

    Trials of one image share its difficulty, so they are not independent; resampling whole
    images (with all their trials) keeps that dependence. The statistic is the pooled accuracy
    (sum of correct over sum of trials of the resampled images). One image gives (NaN, NaN);
    the same per-image accuracy everywhere gives (a, a).
    """
    frame = pd.DataFrame({"image_id": np.asarray(image_ids), "correct": correct})
    per_image = frame.groupby("image_id", sort=False)["correct"].agg(["sum", "size"])
    k = per_image["sum"].to_numpy(dtype=float)
    m = per_image["size"].to_numpy(dtype=float)
    if len(k) < 2:
        return (np.nan, np.nan)
    if np.all(k / m == k[0] / m[0]):
        return (k[0] / m[0], k[0] / m[0])
    return _bootstrap((k, m), _ratio, n_boot, seed, level, paired=True)


def crossed_bootstrap_ci(
    correct: np.ndarray,
    participant_ids: np.ndarray | None,
    image_ids: np.ndarray,
    n_boot: int = _N_BOOT,
    seed: int = _SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of accuracy by a crossed bootstrap of participants and images.

    ``correct``: one value per trial, 0/1 for an accuracy; the paired per-trial differences
    ``human - model`` (-1, 0, 1) give the CI of the accuracy difference instead.
    Each resample draws the participants with replacement and, independently, the images; a trial
    enters it with multiplicity (its participant's count) x (its image's count), and the statistic
    is the pooled mean of the weighted trials. Both sources of dependence are kept: trials of
    one participant share their skill, trials of one image its difficulty. ``participant_ids``
    None (or all equal) reduces it to the image bootstrap. The draws depend only on ``seed`` and
    on the sorted participant and image ids, so agents answering the same trials (the models'
    rows mirror the participants' trials) are resampled with the same draws. Fewer than two
    images (or no spread in the draws' accuracies) gives (NaN, NaN) or (a, a) as
    :func:`cluster_accuracy_ci`.
    """
    y = np.asarray(correct, dtype=float)
    img_codes, images = pd.factorize(pd.Series(np.asarray(image_ids)), sort=True)
    if participant_ids is None:
        part_codes, parts = np.zeros(y.size, dtype=int), np.array(["all"])
    else:
        part_codes, parts = pd.factorize(pd.Series(np.asarray(participant_ids)), sort=True)
    if len(images) < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    n_p, n_i = len(parts), len(images)
    # counts of each participant / image in each resample, (n_boot, n_p) and (n_boot, n_i)
    c_p = rng.multinomial(n_p, np.full(n_p, 1 / n_p), size=n_boot) if n_p > 1 else np.ones((n_boot, 1))
    c_i = rng.multinomial(n_i, np.full(n_i, 1 / n_i), size=n_boot)
    weights = c_p[:, part_codes] * c_i[:, img_codes]  # (n_boot, n_trials)
    total = weights.sum(axis=1)
    keep = total > 0  # a draw can miss every trial when participants saw few images
    acc = (weights[keep] @ y) / total[keep]
    alpha = (1 - level) / 2
    low, high = np.quantile(acc, [alpha, 1 - alpha])
    return float(low), float(high)


def accuracy_table(
    human_trials: pd.DataFrame,
    model_correct: Mapping[str, pd.DataFrame],
    n_boot: int = _N_BOOT,
    seed: int = _SEED,
    level: float = 0.95,
) -> pd.DataFrame:
    """2AFC accuracy of humans and of each model with crossed-bootstrap CIs.

    ``human_trials`` and each frame of ``model_correct`` (model name -> frame) need the columns
    ``image_id`` and ``correct`` (bool or 0/1), one row per trial, and ``participant_id`` for the
    crossed bootstrap; other columns are ignored. Returns the columns of
    ``results/tables/accuracy.csv`` with one row per agent, ``human`` first, then
    ``model:<name>`` in the mapping's order. CIs: :func:`crossed_bootstrap_ci` over participants
    and images. A model's rows are its answers to the participants' trials, so they are
    resampled with the same participant and image draws as the humans' (a full-image model's
    answer does not depend on the participant, but which trial of an image, i.e. which option
    pair, each participant drew does); a frame without ``participant_id`` is resampled by image.
    """
    rows = []
    agents = [("human", human_trials)] + [(f"model:{k}", v) for k, v in model_correct.items()]
    for agent, frame in agents:
        _require_columns(frame, ("image_id", "correct"), f"trials of {agent}")
        if frame.empty:
            raise ValueError(f"trials of {agent}: no trials")
        correct = _as_bool(frame["correct"].to_numpy(), f"trials of {agent}, column 'correct'")
        parts = frame["participant_id"].to_numpy() if "participant_id" in frame.columns else None
        low, high = crossed_bootstrap_ci(correct, parts, frame["image_id"].to_numpy(), n_boot, seed,
                                         level)
        rows.append({
            "agent": agent, "n_trials": len(correct), "n_correct": int(correct.sum()),
            "accuracy": float(correct.mean()), "ci_low": low, "ci_high": high,
        })
    return pd.DataFrame(rows, columns=list(ACCURACY_COLUMNS))


def compare_accuracy(
    human_correct: Sequence[bool] | np.ndarray,
    model_correct: Mapping[str, Sequence[bool] | np.ndarray],
    image_ids: Sequence[str] | np.ndarray,
) -> pd.DataFrame:
    """Humans vs each model on the same trials, paired.

    ``human_correct`` (n_trials,) holds the humans' correctness per trial; ``model_correct[name]``
    the model's correctness on the same trial (same image and option pair, aligned by the
    caller); ``image_ids`` (n_trials,) the trial's image. Per model three rows, comparison
    ``"human vs model:<name>"``:

    * ``mcnemar_exact`` on the 2x2 table of paired trial outcomes (statsmodels, exact binomial),
      effect size signed Cohen's g, > 0 when humans are right where the model is wrong more often
      than the reverse; n = trials. A model's answer is shared by every participant who saw the
      trial, so the trial pairs are not fully independent: the image-level test below is not
      affected by that.
    * ``wilcoxon_signed_rank`` on per-image accuracy (humans, model), effect size rank-biserial,
      > 0 when humans are more accurate; n = images.
    * ``accuracy_difference``: human minus model accuracy (statistic and effect size), no p-value.

    Holm families: the McNemar tests of all models; the Wilcoxon tests of all models.
    """
    human = _as_bool(human_correct, "human_correct")
    ids = np.asarray(image_ids)
    if ids.shape != human.shape:
        raise ValueError(f"image_ids {ids.shape} and human_correct {human.shape} differ in length")
    rows, families = [], []
    for name, values in model_correct.items():
        model = _as_bool(values, f"model_correct[{name!r}]")
        if model.shape != human.shape:
            raise ValueError(
                f"model_correct[{name!r}] has {model.size} trials, human_correct {human.size}: "
                "align the model's answers to the human trials"
            )
        comparison = f"human vs model:{name}"
        table = np.array([
            [np.sum(human & model), np.sum(human & ~model)],
            [np.sum(~human & model), np.sum(~human & ~model)],
        ])
        b, c = table[0, 1], table[1, 0]
        # imported here: statsmodels' import costs ~0.8 s in every figure job that never calls it
        from statsmodels.stats.contingency_tables import mcnemar

        res = mcnemar(table, exact=True)
        g = b / (b + c) - 0.5 if b + c > 0 else 0.0
        rows.append(_row("mcnemar_exact", comparison, res.statistic, res.pvalue, g, human.size))
        families.append("mcnemar")

        per_image = pd.DataFrame({"image_id": ids, "h": human, "m": model}).groupby(
            "image_id", sort=False
        )[["h", "m"]].mean()
        w, p, r = _wilcoxon(per_image["h"].to_numpy(), per_image["m"].to_numpy())
        rows.append(_row("wilcoxon_signed_rank", comparison, w, p, r, len(per_image)))
        families.append("wilcoxon")

        diff = human.mean() - model.mean()
        rows.append(_row("accuracy_difference", comparison, diff, np.nan, diff, human.size))
        families.append("none")
    return _frame(rows, families)


def pair_label(option_a: str, option_b: str) -> str:
    """The unordered 2AFC option pair as one label: ``"anger/happy"`` for either order."""
    return "/".join(sorted((str(option_a), str(option_b))))


def compare_accuracy_by(
    human_correct: Sequence[bool] | np.ndarray,
    model_correct: Mapping[str, Sequence[bool] | np.ndarray],
    image_ids: Sequence[str] | np.ndarray,
    groups: Sequence[str] | np.ndarray,
    scope: str,
) -> pd.DataFrame:
    """:func:`compare_accuracy` within each group of trials (e.g. ``scope="expression"``, groups =
    the trials' true labels; ``scope="pair"``, groups = :func:`pair_label` of the options).

    Comparisons read ``human vs model:<name> [<scope>=<group>]``; groups in sorted order. Holm
    families: each test (McNemar, Wilcoxon) over all groups and models of this call.
    """
    human = _as_bool(human_correct, "human_correct")
    groups = np.asarray(groups, dtype=str)
    ids = np.asarray(image_ids)
    if groups.shape != human.shape:
        raise ValueError(f"groups {groups.shape} and human_correct {human.shape} differ in length")
    models = {k: _as_bool(v, f"model_correct[{k!r}]") for k, v in model_correct.items()}
    parts = []
    for group in sorted(set(groups.tolist())):
        keep = groups == group
        part = compare_accuracy(human[keep], {k: v[keep] for k, v in models.items()}, ids[keep])
        part["comparison"] = part["comparison"] + f" [{scope}={group}]"
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(STATS_COLUMNS))
    table = pd.concat(parts, ignore_index=True)
    for _, idx in table.groupby("test", sort=False).groups.items():
        table.loc[idx, "p_adjusted"] = holm(table.loc[idx, "p_value"].to_numpy())
    return table


def accuracy_by_group(
    trials: pd.DataFrame, group: str, n_boot: int = _N_BOOT, seed: int = _SEED, level: float = 0.95
) -> pd.DataFrame:
    """Accuracy per agent and group with image-cluster bootstrap CIs (:func:`cluster_accuracy_ci`).

    ``trials``: long per-trial table (``results/tables/accuracy_trials.csv``) with ``agent``,
    ``image_id``, ``correct`` and the column ``group`` names (e.g. ``label``, or a ``pair`` column
    from :func:`pair_label`). Returns ``agent, <group>, n_trials, n_correct, accuracy, ci_low,
    ci_high``, agents in table order, groups sorted.
    """
    _require_columns(trials, ("agent", "image_id", "correct", group), "per-trial accuracy table")
    rows = []
    for (agent, key), sub in trials.groupby(["agent", group], sort=False):
        correct = _as_bool(sub["correct"].to_numpy(), f"trials of {agent}, column 'correct'")
        low, high = cluster_accuracy_ci(correct, sub["image_id"].to_numpy(), n_boot, seed, level)
        rows.append({"agent": agent, group: key, "n_trials": len(correct),
                     "n_correct": int(correct.sum()), "accuracy": float(correct.mean()),
                     "ci_low": low, "ci_high": high})
    out = pd.DataFrame(rows, columns=["agent", group, "n_trials", "n_correct", "accuracy",
                                      "ci_low", "ci_high"])
    order = {a: i for i, a in enumerate(pd.unique(trials["agent"]))}
    return out.sort_values([group], kind="stable").sort_values(
        "agent", key=lambda a: a.map(order), kind="stable").reset_index(drop=True)


#: Verdicts of :func:`accuracy_verdict` (question 1, per model).
ACCURACY_VERDICTS: tuple[str, ...] = (
    "humans better", "model better", "no significant difference", "directions differ",
)


def accuracy_verdict(p: float, difference: float, alpha: float = 0.05,
                     log_odds_ratio: float = float("nan"),
                     difference_ci: tuple[float, float] = (float("nan"), float("nan")),
                     log_odds_ci: tuple[float, float] = (float("nan"), float("nan")),
                     ) -> tuple[str, bool]:
    """Question 1's decision for one model: who is more accurate, humans or the model.

    ``p``: the primary test's p-value (Holm-adjusted where there are several models);
    ``difference``: human minus model accuracy on the same trials (any unit; only its sign is
    read); ``log_odds_ratio``: the mixed model's (> 0: humans better on a typical image; NaN when
    the primary test is not the mixed model) and ``log_odds_ci`` its 95% interval;
    ``difference_ci``: the 95% interval of the accuracy difference (NaN when there is none).

    A winner needs the test to reject (``p < alpha``) and the difference's interval to exclude 0
    on the same side as the odds ratio (else ``'no significant difference'``, flagged: where a
    model's own image deviations are wide the mixed model's test rejects a true null too often,
    docs/design.md). ``'directions differ'`` only when both intervals exclude 0 on opposite
    sides (the model's errors cluster on a few images); an interval of NaN counts as excluding 0
    (the test alone decides). Returns ``(verdict, unconfirmed)``, ``unconfirmed`` True when the
    test rejects but an interval holds 0 or the signs disagree without both intervals excluding 0.
    """
    if not p < alpha or difference == 0:  # NaN p: no evidence
        return "no significant difference", False

    def excludes_zero(interval: tuple[float, float]) -> bool:
        low, high = interval
        return not low <= 0 <= high  # True for NaN: no interval, the test decides

    if not np.isnan(log_odds_ratio) and (log_odds_ratio > 0) != (difference > 0):
        if excludes_zero(log_odds_ci) and excludes_zero(difference_ci):
            return "directions differ", False
        return "no significant difference", True
    if not excludes_zero(difference_ci):
        return "no significant difference", True
    return ("humans better" if difference > 0 else "model better"), False


# --------------------------------------------------------------------------------------------
# similarity


def _check_similarity(similarity: pd.DataFrame) -> None:
    _require_columns(similarity, SIMILARITY_COLUMNS, "similarity table")
    dup = similarity.duplicated(["image_id", "model", "method", "metric"])
    if dup.any():
        row = similarity[dup].iloc[0]
        raise ValueError(
            f"similarity table: row {similarity.index[dup][0]} repeats image_id {row.image_id!r}, "
            f"model {row.model!r}, method {row.method!r}, metric {row.metric!r}"
        )


def _check_reliability(reliability: pd.DataFrame) -> None:
    _require_columns(reliability, RELIABILITY_COLUMNS, "reliability table")
    dup = reliability.duplicated(["image_id", "metric"])
    if dup.any():
        row = reliability[dup].iloc[0]
        raise ValueError(
            f"reliability table: row {reliability.index[dup][0]} repeats image_id "
            f"{row.image_id!r}, metric {row.metric!r}"
        )


def _reliability_of(reliability: pd.DataFrame, metric: str) -> pd.DataFrame:
    rel = reliability[reliability["metric"] == metric]
    if rel.empty:
        present = sorted(reliability["metric"].unique())
        raise ValueError(f"reliability table has no rows for metric {metric!r} (it has {present})")
    return rel


def compare_methods(
    similarity: pd.DataFrame, reliability: pd.DataFrame | None = None, scope: str = ""
) -> pd.DataFrame:
    """Compare attribution methods' similarity to humans across images, per model and metric.

    ``similarity``: long frame ``image_id, model, method, metric, value``; ``reliability``
    (optional): ``image_id, metric, lower, upper, floor`` per image. For each model and metric, on
    the images where every method has a value (complete cases, so all tests share the images):

    * ``friedman`` across methods (when there are at least three), comparison
      ``"<model>/<metric>: <m1>, <m2>, ..."``, effect size Kendall's W. Its own family.
    * ``wilcoxon_signed_rank`` for every pair of methods, comparison
      ``"<model>/<metric>: <a> vs <b>"``, effect rank-biserial (> 0: ``a`` has larger values, which
      is better or worse by the metric's direction). Holm family: the pairs of this model/metric.
    * with ``reliability``: ``wilcoxon_signed_rank`` of each method against the per-image upper
      bound of the noise ceiling and the floor (``"<model>/<metric>: <m> vs upper"``, ``... vs
      floor``), on the images with a finite bound (see :mod:`ferattention.humans.reliability`).
      Holm families: all methods vs upper of this model/metric; likewise for the floor.

    ``scope`` (e.g. ``" [expression=happy]"``) is appended to the ``<model>/<metric>`` part of
    every comparison, for breakdowns (see :func:`compare_methods_by`).
    """
    _check_similarity(similarity)
    if reliability is not None:
        _check_reliability(reliability)
    rows: list[dict] = []
    families: list[object] = []
    for (model, metric), sub in similarity.groupby(["model", "metric"], sort=False):
        methods = list(pd.unique(sub["method"]))
        wide = sub.pivot(index="image_id", columns="method", values="value")[methods].dropna()
        label = f"{model}/{metric}{scope}"
        n = len(wide)
        if len(methods) >= 3 and n >= 2:
            cols = [wide[m].to_numpy() for m in methods]
            if np.all(wide.to_numpy() == wide.to_numpy()[:, :1]):
                chi2, p = 0.0, 1.0
            else:
                chi2, p = stats.friedmanchisquare(*cols)
            kendall_w = chi2 / (n * (len(methods) - 1))
            rows.append(_row("friedman", f"{label}: {', '.join(methods)}", chi2, p, kendall_w, n))
            families.append(("friedman", model, metric))
        pairs = list(combinations(methods, 2))
        if n >= 1 and pairs:
            values = wide.to_numpy(dtype=float)
            first, second = (np.array([methods.index(x[j]) for x in pairs]) for j in (0, 1))
            ws, ps, rs = _wilcoxon_columns(values[:, first] - values[:, second])
            for (a, b), w, p, r in zip(pairs, ws, ps, rs):
                rows.append(_row("wilcoxon_signed_rank", f"{label}: {a} vs {b}", float(w),
                                 float(p), float(r), n))
                families.append(("pairs", model, metric))
        if reliability is None:
            continue
        rel = _reliability_of(reliability, metric).set_index("image_id")
        for bound in ("upper", "floor"):
            for method in methods:
                paired = pd.concat([wide[method], rel[bound]], axis=1, join="inner").dropna()
                if paired.empty:
                    continue
                w, p, r = _wilcoxon(paired.iloc[:, 0].to_numpy(), paired.iloc[:, 1].to_numpy())
                comparison = f"{label}: {method} vs {bound}"
                rows.append(_row("wilcoxon_signed_rank", comparison, w, p, r, len(paired)))
                families.append((bound, model, metric))
    return _frame(rows, families)


def compare_methods_by(
    similarity: pd.DataFrame, groups: Mapping[str, str], scope: str = "expression"
) -> pd.DataFrame:
    """:func:`compare_methods` (Friedman and pairwise Wilcoxon, no floor/upper bound) within each group
    of images, e.g. per expression: ``groups`` maps image_id -> group; images without a group are
    an error naming the first. Comparisons carry ``[<scope>=<group>]``; Holm families stay per
    model, metric and group.
    """
    _check_similarity(similarity)
    image_group = similarity["image_id"].map(groups)
    if image_group.isna().any():
        missing = similarity.loc[image_group.isna(), "image_id"].iloc[0]
        raise ValueError(f"similarity table: image_id {missing!r} has no {scope}")
    parts = [compare_methods(sub, scope=f" [{scope}={group}]")
             for group, sub in similarity.groupby(image_group, sort=True)]
    return stats_table(*parts)


def summarise_similarity(
    similarity: pd.DataFrame,
    reliability: pd.DataFrame | None = None,
    n_boot: int = _N_BOOT,
    seed: int = _SEED,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean similarity per model, method and metric, with bootstrap CIs over images.

    Returns the columns of ``results/tables/similarity_summary.csv``. ``mean`` and its CI use
    every image of the row with a value (NaN values are dropped). With ``reliability``
    (:func:`ferattention.humans.noise_ceiling`), ``floor``, ``lower`` and ``upper`` are the
    per-image bounds averaged over the row's images that have them, and

        ``normalized = (mean - floor) / (upper - floor)``

    over those images: 0 for a map that scores like the centre bias (the mean of the other images'
    human maps), 1 for a map that scores like the true attention would given the human noise (the
    upper bound). Its CI
    (``normalized_low``, ``normalized_high``) resamples the images with their value and bounds
    together. Metrics without an upper bound (see the reliability module) have NaN there.
    """
    _check_similarity(similarity)
    if reliability is not None:
        _check_reliability(reliability)
    rows = []
    for (model, method, metric), sub in similarity.groupby(["model", "method", "metric"], sort=False):
        sub = sub.dropna(subset=["value"])
        values = sub["value"].to_numpy(dtype=float)
        mean = float(values.mean()) if values.size else np.nan
        low, high = bootstrap_ci(values, np.mean, n_boot, seed, level)
        row = {"model": model, "method": method, "metric": metric, "mean": mean, "ci_low": low,
               "ci_high": high, "floor": np.nan, "lower": np.nan, "upper": np.nan,
               "normalized": np.nan, "normalized_low": np.nan, "normalized_high": np.nan}
        if reliability is not None:
            rel = _reliability_of(reliability, metric).set_index("image_id")
            joined = sub.set_index("image_id")[["value"]].join(
                rel[["floor", "lower", "upper"]], how="inner")
            for bound in ("floor", "lower", "upper"):
                if joined[bound].notna().any():
                    row[bound] = float(joined[bound].mean())
            both = joined.dropna(subset=["floor", "upper"])
            if not both.empty:
                row["normalized"], row["normalized_low"], row["normalized_high"] = (
                    normalized_score(both["value"].to_numpy(), both["floor"].to_numpy(),
                                     both["upper"].to_numpy(), n_boot, seed, level))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def normalization_span(summary: pd.DataFrame) -> pd.Series:
    """``upper − floor`` per summary row: the denominator of the normalised score."""
    return (pd.to_numeric(summary["upper"], errors="coerce")
            - pd.to_numeric(summary["floor"], errors="coerce"))


def unreliable_normalization(summary: pd.DataFrame) -> pd.Series:
    """True where ``|upper − floor|`` is smaller than the mean's CI width.

    ``summary``: rows with ``ci_low, ci_high, floor, upper``. There the normalised score divides
    by less than the uncertainty of the mean itself, e.g. for attention that is the same for
    every image (the centre bias then is the truth, docs/design.md §7.4.3).
    """
    width = pd.to_numeric(summary["ci_high"], errors="coerce") - pd.to_numeric(summary["ci_low"],
                                                                               errors="coerce")
    return (normalization_span(summary).abs() < width).fillna(False).astype(bool)


def _normalized(value: np.ndarray, floor: np.ndarray, upper: np.ndarray, axis: int = -1) -> np.ndarray:
    mean_floor = np.mean(floor, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.mean(value, axis=axis) - mean_floor) / (np.mean(upper, axis=axis) - mean_floor)


def normalized_score(value: np.ndarray, floor: np.ndarray, upper: np.ndarray, n_boot: int = _N_BOOT,
                     seed: int = _SEED, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean(value) - mean(floor)) / (mean(upper) - mean(floor))`` over images, and its CI.

    ``value``, ``floor``, ``upper``: (n_images,) per-image score and bounds. The CI is the
    percentile bootstrap resampling images (the three arrays together). NaN when upper equals
    floor on average; a CI of NaN with fewer than 2 images.
    """
    value, floor, upper = (np.asarray(x, dtype=float) for x in (value, floor, upper))
    point = float(_normalized(value, floor, upper))
    if value.size < 2 or not np.isfinite(point):
        return point, np.nan, np.nan
    if np.all(value == value[0]) and np.all(floor == floor[0]) and np.all(upper == upper[0]):
        return point, point, point
    low, high = _bootstrap((value, floor, upper), _normalized, n_boot, seed, level, paired=True)
    return point, low, high


def stats_table(*parts: pd.DataFrame) -> pd.DataFrame:
    """Concatenate stats frames (from :func:`compare_accuracy`, :func:`compare_methods`) into one."""
    for part in parts:
        if tuple(part.columns) != STATS_COLUMNS:
            raise ValueError(
                f"stats frame has columns {list(part.columns)}, expected {list(STATS_COLUMNS)}"
            )
    if not parts:
        return pd.DataFrame(columns=list(STATS_COLUMNS))
    return pd.concat(parts, ignore_index=True)
