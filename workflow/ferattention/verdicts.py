"""The tested answers to the study's two questions, per network instance and pooled per model.

Question 1 (:func:`pooled_accuracy_tests`): human minus model accuracy on the same trials,
averaged over the model's instances. Question 2 (:func:`attention_verdicts`): which attention
method is most human-like on the primary metric. Both rest on the hierarchical bootstrap
(:mod:`ferattention.hierarchical`), which resamples the instances (training seeds), the face
identities (images nested in them) and the participants together, so an answer generalises over
all three (docs/design.md, "Answers that generalise"). Question 2 draws the participants through
the crossed bootstrap's replicates (:mod:`ferattention.crossed_similarity`), which rebuild every
human map from them; without replicates of its metric, participants are not resampled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import hierarchical
from .crossed_similarity import Replicates
from .instances import split_key
from .methods import is_baseline
from .stats import ACCURACY_VERDICTS, STATS_COLUMNS, accuracy_verdict, holm

#: The baseline made of the human maps themselves: the floor of the noise ceiling, each image
#: scored with the mean human map of the other images (the centre bias of where people click).
HUMAN_FLOOR = "human_floor"

#: Columns of ``verdict.csv`` (before :func:`ferattention.instances.unfold` adds ``seed``).
VERDICT_COLUMNS: tuple[str, ...] = (
    "model", "metric", "verdict", "best", "runner_up", "best_mean", "n_instances",
    "n_identities", "n_images", "difference", "difference_ci_low", "difference_ci_high",
    "normalized_difference", "normalized_difference_ci_low", "normalized_difference_ci_high",
    "instances_naming_best", "instance_winners", "reason",
)

#: Best minus runner-up in ``verdict.csv``, raw and normalised, with their intervals.
_DIFFERENCE_COLUMNS = VERDICT_COLUMNS[VERDICT_COLUMNS.index("difference"):
                                      VERDICT_COLUMNS.index("instances_naming_best")]

#: Columns that :func:`pooled_accuracy_tests` adds to ``accuracy_tests.csv``.
POOLED_ACCURACY_COLUMNS: tuple[str, ...] = (
    "test", "role", "n_instances", "n_identities", "verdict", "instances_agreeing",
)

#: The test name of the hierarchical bootstrap's rows (``accuracy_tests.csv``, ``stats.csv``).
BOOTSTRAP_TEST = "hierarchical_bootstrap"


def identity_of(image_ids: Sequence[str], identities: Mapping[str, object] | None) -> np.ndarray:
    """Each image's face identity (the image itself where the dataset names none)."""
    ids = identities or {}
    out = []
    for image in image_ids:
        ident = ids.get(image)
        out.append(str(image) if ident is None or pd.isna(ident) or ident == "" else str(ident))
    return np.asarray(out, dtype=object)


def model_groups(keys: Sequence[str]) -> dict[str, list[str]]:
    """Instance keys (or plain model names) grouped by model name, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(split_key(key)[0], []).append(key)
    return groups


# ----------------------------------------------------------------------------- question 2

def _wide(similarity: pd.DataFrame, reliability: pd.DataFrame | None, key: str,
          metric: str) -> pd.DataFrame:
    """One instance's per-image scores on ``metric`` (image x method, complete cases), with the
    human floor as a column where the reliability table has it, and ``_span`` (upper - floor)."""
    sub = similarity[(similarity["model"] == key) & (similarity["metric"] == metric)]
    wide = sub.pivot(index="image_id", columns="method", values="value")
    wide = wide[list(pd.unique(sub["method"]))]
    span = None
    if reliability is not None:
        rel = reliability[reliability["metric"] == metric].set_index("image_id")
        if rel["floor"].notna().any():
            wide[HUMAN_FLOOR] = rel["floor"].reindex(wide.index)
        span = (rel["upper"] - rel["floor"]).reindex(wide.index)
    wide = wide.dropna()
    if span is not None:
        wide["_span"] = span.reindex(wide.index)
    return wide


def min_n_boot(n_comparisons: int, alpha: float) -> int:
    """The fewest bootstrap replicates whose smallest p-value, ``2 / (n_boot + 1)``, passes
    Holm's first step ``alpha / n_comparisons``: below it no comparison can be won."""
    return int(np.floor(2 * n_comparisons / alpha))


def _verdict_of(ranked: list[str], baselines: list[str], beaten: Mapping[str, bool],
                alpha: float, n_instances: int, n_boot: int, participants: bool
                ) -> tuple[str, str]:
    best = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    unbeaten = [b for b in baselines if not beaten[b]]
    over = ", ".join((["instances"] if n_instances > 1 else []) + ["identities"]
                     + (["participants"] if participants else []))
    over = " and ".join(over.rsplit(", ", 1))
    how = f"hierarchical bootstrap over {over}, Holm-adjusted, alpha {alpha:g}"
    needed = min_n_boot(len(baselines) + (runner_up is not None), alpha)
    if n_boot < needed:  # say why, rather than let a too-small n_boot pass for a finding
        how += f"; statistics.n_boot {n_boot} is too few for this test, it needs {needed}"
    if unbeaten:
        return "not_better_than_baselines", f"{best} does not beat {', '.join(unbeaten)} ({how})"
    if runner_up is not None and not beaten[runner_up]:
        return "best_two_tied", f"{best} and {runner_up} cannot be told apart ({how})"
    return "most_human_like", (f"{best} beats every baseline, the human floor included"
                               + (f", and {runner_up}" if runner_up else "") + f" ({how})")


def _crossed_draws(replicates: Replicates | None, keys: list[str], methods: list[str],
                   seed: int) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """Each method's replicate mean score over the instances ``keys`` (and the span, upper
    bound minus floor), from the crossed bootstrap's replicates: participants and identities
    drawn there, the instances here (``default_rng([seed, 2])``, each drawn instance counting
    once per draw). None when a (instance, method) row is missing from ``replicates``."""
    if replicates is None:
        return None
    index = {key: k for k, key in enumerate(replicates.keys)}
    attention = [m for m in methods if m != HUMAN_FLOOR]
    if any((key, m) not in index for key in keys for m in attention):
        return None
    n_boot = len(replicates.means)
    counts = (hierarchical.draw_counts(len(keys), n_boot, np.random.default_rng([seed, 2]))
              if len(keys) > 1 else np.ones((n_boot, 1)))
    order = np.argsort(keys)  # draws over the sorted instance keys
    counts = counts[:, np.argsort(order)]

    def pooled(x: np.ndarray) -> np.ndarray:
        return (counts * x).sum(axis=1) / counts.sum(axis=1)

    score = {m: pooled(np.stack([replicates.means[:, index[(key, m)]] for key in keys], axis=1))
             for m in attention}
    first = [index[(key, attention[0])] for key in keys]
    floor, upper = (pooled(x[:, first]) for x in (replicates.floor, replicates.upper))
    score[HUMAN_FLOOR] = floor
    return score, upper - floor


def _one_verdict(label: str, wides: Mapping[str, pd.DataFrame], identities: Mapping[str, object],
                 metric: str, higher_is_better: bool, alpha: float, n_boot: int,
                 seed: int, replicates: Replicates | None = None
                 ) -> tuple[dict, list[dict], list[float]]:
    """The verdict over the instances in ``wides`` (key -> image x method frame)."""
    columns = [c for c in next(iter(wides.values())).columns if c != "_span"]
    common = [c for c in columns if all(c in w.columns for w in wides.values())]
    frame = pd.concat({k: w[common + (["_span"] if "_span" in w else [])]
                       for k, w in wides.items()}, names=["instance", "image_id"]).reset_index()
    attention = [m for m in common if m != HUMAN_FLOOR and not is_baseline(m)]
    baselines = [m for m in common if m == HUMAN_FLOOR or is_baseline(m)]
    row = {"model": label, "metric": metric, "verdict": "no_attention_method", "best": None,
           "runner_up": None, "best_mean": np.nan, "n_instances": len(wides),
           "n_identities": 0, "n_images": int(frame["image_id"].nunique()) if len(frame) else 0,
           **dict.fromkeys(_DIFFERENCE_COLUMNS, np.nan), "instances_naming_best": pd.NA,
           "instance_winners": "", "reason": "no attention method has values"}
    if not attention or frame.empty:
        return row, [], []
    inst = frame["instance"].to_numpy()
    ident = identity_of(frame["image_id"].tolist(), identities)
    factors = {"instance": inst, "identity": ident}
    row["n_identities"] = int(len(set(ident)))
    # each instance counts equally: the mean over instances of the per-instance means
    means = frame.groupby("instance", sort=False)[common].mean().mean()
    ranked = sorted(attention, key=lambda m: -means[m] if higher_is_better else means[m])
    best, others = ranked[0], baselines + ranked[1:2]
    span = (float(frame.groupby("instance", sort=False)["_span"].mean().mean())
            if "_span" in frame and frame["_span"].notna().all() else np.nan)
    drawn = _crossed_draws(replicates, list(wides), [best, *others], seed)
    if drawn is not None:  # participants resampled too: the crossed bootstrap's replicates
        score, span_reps = drawn
        n_used = len(span_reps)
        results, normalized = {}, {}
        for o in others:
            estimate = float(means[best] - means[o])
            diff = score[best] - score[o]
            results[o] = hierarchical.from_replicates(estimate, diff, centre=True)
            normalized[o] = hierarchical.from_replicates(estimate / span, diff / span_reps,
                                                         centre=True)
    else:  # no crossed replicates of this metric: instances and identities only
        n_used = n_boot
        results = {o: hierarchical.paired_difference_bootstrap(
            frame[best].to_numpy(float), frame[o].to_numpy(float), factors, n_boot=n_boot,
            seed=seed, groups=inst) for o in others}
        normalized = {o: hierarchical.BootstrapResult(
            r.estimate / span, r.ci_low / span, r.ci_high / span, r.p_value, r.replicates / span)
            for o, r in results.items()} if span > 0 else {}
    p_adj = holm([results[o].p_value for o in others]) if others else np.array([])
    sign = 1 if higher_is_better else -1
    beaten = {o: bool(sign * results[o].estimate > 0 and p < alpha) for o, p in zip(others, p_adj)}
    row["verdict"], row["reason"] = _verdict_of(ranked, baselines, beaten, alpha, len(wides),
                                                n_used, drawn is not None)
    row.update(best=best, runner_up=ranked[1] if len(ranked) > 1 else None,
               best_mean=float(means[best]))
    if row["runner_up"] is not None:
        r = results[row["runner_up"]]
        row.update(difference=r.estimate, difference_ci_low=r.ci_low, difference_ci_high=r.ci_high)
        if span > 0 and row["runner_up"] in normalized:  # 1 = upper bound - floor
            n = normalized[row["runner_up"]]
            row.update(normalized_difference=n.estimate, normalized_difference_ci_low=n.ci_low,
                       normalized_difference_ci_high=n.ci_high)
    tests = [{"test": BOOTSTRAP_TEST, "comparison": f"{label}/{metric} [verdict]: {best} vs {o}",
              "statistic": results[o].estimate, "p_value": results[o].p_value,
              "effect_size": results[o].estimate, "n": len(frame)} for o in others]
    return row, tests, list(p_adj)


def attention_verdicts(
    similarity: pd.DataFrame, reliability: pd.DataFrame | None, metric: str,
    higher_is_better: bool, identities: Mapping[str, object] | None = None, alpha: float = 0.05,
    n_boot: int = 2000, seed: int = 0, replicates: Replicates | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which attention method is most human-like on ``metric``: per instance, then per model.

    ``similarity``: ``image_id, model, method, metric, value`` with ``model`` the instance key
    (:func:`ferattention.instances.fold`); ``reliability``: ``image_id, metric, lower, upper,
    floor`` (the human floor becomes the baseline :data:`HUMAN_FLOOR`; ``None``: no floor);
    ``identities``: image_id -> face identity (the image where missing).

    Per instance, and for each model over its instances (each instance weighted equally), the
    attention methods (not baselines) are ranked by mean; the best is compared with every
    baseline (the human floor included) and with the runner-up by the hierarchical bootstrap of
    the mean paired difference (instances and identities resampled; ``n_boot``, ``seed``),
    Holm-adjusted within the row. ``most_human_like`` needs every comparison won in the
    metric's direction; else ``not_better_than_baselines`` or ``best_two_tied``. Pooled rows
    (``model`` = the model's name) also count the instances whose own verdict names the same
    best (``instances_naming_best``) and list every instance's winner (``instance_winners``).
    Returns ``(verdicts, tests)``: :data:`VERDICT_COLUMNS` rows, instance rows first, and the
    tests as stats rows.
    """
    identities = identities or {}
    keys = list(pd.unique(similarity.loc[similarity["metric"] == metric, "model"]))
    wides = {k: _wide(similarity, reliability, k, metric) for k in keys}
    rows, tests = [], []
    for key in keys:
        row, t, p_adj = _one_verdict(key, {key: wides[key]}, identities, metric,
                                     higher_is_better, alpha, n_boot, seed, replicates)
        rows.append(row)
        tests += [{**x, "p_adjusted": p} for x, p in zip(t, p_adj)]
    per_instance = {r["model"]: r for r in rows}
    for model, members in model_groups(keys).items():
        if members == [model]:  # a plain model name, no instances: its row is the answer
            continue
        row, t, p_adj = _one_verdict(model, {k: wides[k] for k in members}, identities, metric,
                                     higher_is_better, alpha, n_boot, seed, replicates)
        named = [per_instance[k]["best"] for k in members
                 if per_instance[k]["verdict"] == "most_human_like"]
        row["instances_naming_best"] = sum(b == row["best"] for b in named)
        counts = pd.Series(named, dtype=object).value_counts()
        row["instance_winners"] = "; ".join(
            [f"{m}: {n} of {len(members)}" for m, n in counts.items()]
            + ([f"none: {len(members) - len(named)} of {len(members)}"]
               if len(named) < len(members) else []))
        rows.append(row)
        tests += [{**x, "p_adjusted": p} for x, p in zip(t, p_adj)]
    verdicts = pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
    verdicts["instances_naming_best"] = verdicts["instances_naming_best"].astype("Int64")
    return verdicts, pd.DataFrame(tests, columns=list(STATS_COLUMNS))


# ----------------------------------------------------------------------------- question 1

def _paired_trials(per_trial: pd.DataFrame, human: pd.DataFrame, agent: str) -> pd.DataFrame:
    """The human trials with the model instance ``agent``'s answer to each (``correct_h``,
    ``correct_m``)."""
    keys = ["participant_id", "trial_id"]
    m = per_trial[per_trial["agent"] == f"model:{agent}"]
    return human[keys + ["image_id", "correct"]].merge(
        m[keys + ["correct"]], on=keys, suffixes=("_h", "_m"), validate="one_to_one")


def _bootstrap_row(both: pd.DataFrame, human: pd.DataFrame, label: str, n_instances: int,
                   identities: Mapping[str, object] | None, n_boot: int, seed: int) -> dict:
    """Human minus model accuracy on the paired trials ``both`` (column ``instance`` naming each
    row's instance), by the hierarchical bootstrap over instances, identities (images nested in
    them) and participants, each instance counting equally; for one instance, over images and
    participants.

    Why images for one instance: with few identities (the default's 6) the identity bootstrap
    of one instance is too narrow, as a cluster bootstrap over few clusters is; across instances
    the instance draws widen it enough to cover (coverage measured in docs/validation.md).
    """
    diff = both["correct_h"].astype(float) - both["correct_m"].astype(float)
    participants = both["participant_id"].astype(str).to_numpy()
    if n_instances > 1:
        factors = {"instance": both["instance"].to_numpy(),
                   "identity": identity_of(both["image_id"].tolist(), identities),
                   "participant": participants}
    else:
        factors = {"image": both["image_id"].astype(str).to_numpy(), "participant": participants}
    res = hierarchical.weighted_mean_bootstrap(diff.to_numpy(), factors, n_boot=n_boot,
                                               seed=seed, groups=both["instance"].to_numpy())
    return {
        "comparison": f"human vs {label}", "n_human_trials": len(human),
        "n_model_trials": len(both), "n_participants": human["participant_id"].nunique(),
        "n_images": human["image_id"].nunique(),
        "human_accuracy": float(human["correct"].astype(bool).mean()),
        "model_accuracy": float(both.groupby("instance", sort=False)["correct_m"].mean().mean()),
        "p_value": res.p_value, "difference_pp": 100 * res.estimate,
        "difference_ci_low": 100 * res.ci_low, "difference_ci_high": 100 * res.ci_high,
        "test": BOOTSTRAP_TEST, "n_instances": n_instances, "role": "primary"}


def _with_verdicts(rows: list[dict], alpha: float) -> pd.DataFrame:
    """Bootstrap rows with Holm's adjustment over them and each row's verdict."""
    out = pd.DataFrame(rows)
    if not out.empty:
        out["p_adjusted"] = holm(out["p_value"].to_numpy())
        out["verdict"] = [accuracy_verdict(r.p_adjusted, r.difference_pp, alpha, np.nan,
                                           (r.difference_ci_low, r.difference_ci_high))[0]
                          for r in out.itertuples()]
    return out


def pooled_accuracy_tests(
    per_trial: pd.DataFrame, instance_tests: pd.DataFrame,
    identities: Mapping[str, object] | None = None, alpha: float = 0.05, n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Question 1's tests: humans vs each model instance, and pooled per model over its instances.

    ``per_trial``: ``accuracy_trials.csv`` (agents ``human``, ``model:<model>/seed-<k>`` and
    ``model:<model>/seed-<k>@human_view``); ``instance_tests``: the per-instance rows of
    :func:`ferattention.mixed.accuracy_tests`. Returns, in this order:

    * ``instance_tests`` with test ``mixed_logit``, role ``secondary`` and the verdict
      :func:`ferattention.stats.accuracy_verdict` gives it: where the models' own image
      deviations are widely spread the mixed model rejects a true null far too often
      (docs/validation.md), so it is not the answer;
    * per instance (comparison ``human vs model:<model>/seed-<k>[@human_view]``), role
      ``primary``: the human minus the instance's accuracy on the same trials, its 95% interval
      and two-sided p from the bootstrap over images and participants (Holm over these rows),
      and the verdict (a winner needs p < ``alpha`` and the interval on one side of 0);
    * per model and view whose agents are instance keys (comparison ``human vs
      model:<model>``), role ``primary``: the same over its instances, identities and
      participants (each instance counting equally; with one instance, its own row again; Holm
      over these rows), and the number of instances whose own primary verdict agrees.
    """
    human = per_trial[per_trial["agent"] == "human"]
    n_identities = len(set(identity_of(human["image_id"].unique().tolist(), identities)))
    inst = instance_tests.copy()
    inst["test"], inst["n_instances"], inst["role"] = "mixed_logit", 1, "secondary"
    inst["verdict"] = [
        accuracy_verdict(r.p_adjusted, r.difference_pp, alpha, r.log_odds_ratio,
                         (r.difference_ci_low, r.difference_ci_high),
                         tuple(np.log(getattr(r, c, np.nan)) for c in ("or_ci_low", "or_ci_high")))[0]
        for r in inst.itertuples()]
    agents = [c.removeprefix("human vs model:") for c in inst["comparison"]]
    paired = {agent: _paired_trials(per_trial, human, agent).assign(instance=agent)
              for agent in agents}
    own = _with_verdicts([_bootstrap_row(paired[a], human, f"model:{a}", 1, identities, n_boot,
                                         seed) for a in agents], alpha)
    own_verdict = dict(zip(agents, own["verdict"])) if len(own) else {}
    pooled: dict[tuple[str, str], list[str]] = {}
    for agent in agents:
        name, view = (agent.split("@", 1) + [""])[:2]
        pooled.setdefault((split_key(name)[0], view), []).append(agent)
    rows, members_of = [], []
    for (model, view), members in pooled.items():
        if members == [model + (f"@{view}" if view else "")]:  # a plain name, no instances
            continue
        label = f"model:{model}" + (f"@{view}" if view else "")
        both = pd.concat([paired[a] for a in members], ignore_index=True)
        rows.append(_bootstrap_row(both, human, label, len(members), identities, n_boot, seed))
        members_of.append(members)
    out = _with_verdicts(rows, alpha)
    if not out.empty:
        out["instances_agreeing"] = [sum(own_verdict[a] == verdict for a in members)
                                     for verdict, members in zip(out["verdict"], members_of)]
    table = pd.concat([inst, own, out], ignore_index=True)
    table["n_identities"] = n_identities
    if "instances_agreeing" not in table:
        table["instances_agreeing"] = pd.NA
    table = table[[*instance_tests.columns, *POOLED_ACCURACY_COLUMNS]]
    for column in ("n_instances", "n_identities", "instances_agreeing"):
        table[column] = table[column].astype("Int64")
    return table


__all__ = ["ACCURACY_VERDICTS", "BOOTSTRAP_TEST", "HUMAN_FLOOR", "POOLED_ACCURACY_COLUMNS", "VERDICT_COLUMNS",
           "attention_verdicts", "identity_of", "model_groups", "pooled_accuracy_tests"]
