"""Recovery study: plant the attention that simulated observers follow, and check that the
comparison finds it.

For each attention source (``regions``, ``center``, ``uniform``, a method of the run or an
external map), simulated observers aim their clicks at that source's density
(:func:`ferattention.attention.attention_density`); their clicks become human maps and a noise
ceiling exactly as in the main study, every method of every model is compared with them, and
the methods are ranked per model and metric. When the source is itself one of the compared maps,
that map must rank first and score near 1 on the normalised scale: otherwise the pipeline could
not tell a human-like method from another, whatever the human data. ``floor`` and ``upper`` are
kept beside the normalised score: a source that is the same for every image (the centre) leaves
them closer together than the CI width of the mean, and the normalised score is then NaN
(undefined, docs/design.md §7.4.3): such a source is judged by its rank only.

Pure functions on tables and arrays; ``workflow/scripts/recovery_source.py`` is the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .humans import fixation_maps, human_maps, noise_ceiling, simulate_observers
from .catalogue import schema_defaults
from .similarity import METRICS, similarity_table
from .stats import summarise_similarity, unreliable_normalization

#: Defaults of the bootstrap settings: the config schema's ``statistics`` block (their one source).
_N_BOOT, _SEED = (schema_defaults("statistics")[k] for k in ("n_boot", "seed"))

#: Columns of ``results/recovery/recovery.csv``.
RECOVERY_COLUMNS: tuple[str, ...] = (
    "source", "model", "method", "metric", "mean", "floor", "upper", "normalized",
    "normalized_low", "normalized_high", "rank", "planted",
)


def rank_methods(summary: pd.DataFrame) -> pd.Series:
    """Rank of each summary row's method within its model and metric: 1 = most human-like.

    By ``mean`` in the metric's direction (:data:`ferattention.similarity.METRICS`); ties share
    the best rank (``min``); rows without a mean get NaN.
    """
    higher = summary["metric"].map(lambda m: METRICS[m].higher_is_better)
    signed = summary["mean"].where(higher, -summary["mean"])
    return signed.groupby([summary["model"], summary["metric"]]).rank(ascending=False,
                                                                       method="min")


def recover_source(
    source: str,
    attention: Mapping[str, np.ndarray] | None,
    method_maps: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    planted: tuple[str, str] | None,
    *,
    trial_list: pd.DataFrame,
    masks: Mapping[str, np.ndarray],
    diagnostic: pd.DataFrame,
    image_size: int,
    simulated: Mapping[str, Any],
    map_settings: Mapping[str, Any],
    metrics: Sequence[str],
    reliability: Mapping[str, Any],
    n_boot: int = _N_BOOT,
    seed: int = _SEED,
) -> pd.DataFrame:
    """One source of the recovery study: simulate, build human maps, compare, rank.

    Parameters
    ----------
    source, attention
        The source's name and its density per image (None for ``regions``), see
        :func:`ferattention.attention.attention_density`.
    method_maps
        ``(model, method) -> {image_id -> (S, S) map}``: every map compared.
    planted
        ``(model, method)`` of the map the observers follow, when the source is one of them.
    trial_list, masks, diagnostic, image_size, simulated
        As :func:`ferattention.humans.simulate_observers` takes them (``simulated`` is the
        ``humans.simulated`` config block: participants, stimulus_size, seed, params).
    map_settings
        ``reveal_radius``, ``blur_sigma``, ``order_weighting`` of the human maps.
    metrics, reliability, n_boot, seed
        Similarity metrics; ``humans.reliability`` (repeats, seed); bootstrap settings.

    Returns
    -------
    Frame with :data:`RECOVERY_COLUMNS`, one row per model, method and metric.
    """
    trials, clicks = simulate_observers(
        trial_list, masks=masks, diagnostic=diagnostic, image_size=image_size,
        n_participants=simulated["participants"], seed=simulated["seed"],
        stimulus_size=simulated["stimulus_size"], reveal_radius=map_settings["reveal_radius"],
        params=simulated.get("params") or None, attention=attention)
    settings = dict(map_settings)
    human = human_maps(trials, clicks, image_size, **settings)
    fixations = fixation_maps(trials, clicks, image_size)
    ceiling = noise_ceiling(trials, clicks, {m: METRICS[m].fn for m in metrics},
                            repeats=reliability["repeats"], seed=reliability["seed"],
                            image_size=image_size, **settings)
    parts = []
    for (model, method), maps in method_maps.items():
        table = similarity_table(maps, human, fixations, metrics)
        parts.append(table.assign(model=model, method=method))
    similarity = pd.concat(parts, ignore_index=True)[["image_id", "model", "method", "metric",
                                                      "value"]]
    summary = summarise_similarity(similarity, ceiling, n_boot=n_boot, seed=seed)
    # Attention that is the same for every image leaves upper and floor within the noise of the
    # mean: no normalised score there (NaN), only the rank.
    undefined = unreliable_normalization(summary)
    summary.loc[undefined, ["normalized", "normalized_low", "normalized_high"]] = np.nan
    summary["rank"] = rank_methods(summary)
    summary["planted"] = [planted == (model, method)
                          for model, method in zip(summary["model"], summary["method"])]
    summary.insert(0, "source", source)
    return summary[list(RECOVERY_COLUMNS)]


def recovery_verdicts(recovery: pd.DataFrame, metrics: Sequence[str] = ("spearman", "cc")
                      ) -> pd.DataFrame:
    """Per source with a planted map and per metric: was it recovered?

    Returns ``source, model, method, metric, rank, normalized, winner, recovered`` (recovered:
    the planted map ranks first). Sources without a planted map are left out.
    """
    rows = []
    for (source, model, metric), sub in recovery.groupby(["source", "model", "metric"], sort=False):
        if metric not in metrics or not sub["planted"].any():
            continue
        planted = sub[sub["planted"]].iloc[0]
        winner = sub.sort_values("rank", kind="stable").iloc[0]["method"]
        rows.append({"source": source, "model": model, "method": planted["method"],
                     "metric": metric, "rank": planted["rank"],
                     "normalized": planted["normalized"], "winner": winner,
                     "recovered": bool(planted["rank"] == 1)})
    return pd.DataFrame(rows, columns=["source", "model", "method", "metric", "rank",
                                       "normalized", "winner", "recovered"])
