"""Split-half reliability of human maps: the noise ceiling and the cross-image floor.

Following the ClickMe lab's practice (Linsley et al. 2019; Fel et al. 2022, docs/design.md §7.4):
the participants of an image are split into two random halves and the two halves' maps are
compared with each metric (ceiling: how well human data predicts other humans on the same
image); a half of the image compared with a half of another, random image gives the floor (how
well a map of the wrong face does). Both are averaged over ``repeats`` random splits. The halves
hold half the participants, so the ceiling is that of a map from half the data (no
Spearman-Brown correction is applied).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

#: ``metric(pred (N,H,W) float, ref (N,H,W) float, fixations (N,H,W) bool) -> (N,) float``;
#: ``fixations`` are the clicks behind ``ref``.
Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
#: ``map_fn(trials, clicks) -> image_id -> (H, W) array`` for the images in ``trials``.
MapFn = Callable[[pd.DataFrame, pd.DataFrame], Mapping[str, np.ndarray]]

COLUMNS = ["image_id", "metric", "ceiling", "floor", "n_participants"]
_KEY = ["participant_id", "trial_id"]


def split_half_reliability(trials: pd.DataFrame, clicks: pd.DataFrame, map_fn: MapFn,
                           metrics: Mapping[str, Metric], repeats: int, seed: int, *,
                           fixation_fn: MapFn | None = None) -> pd.DataFrame:
    """Per image and metric, the split-half ceiling and the cross-image floor.

    Parameters
    ----------
    trials, clicks
        As returned by :func:`~.ingest.load_human_data`.
    map_fn
        Builds the maps of a subset of the data, e.g.
        ``functools.partial(human_maps, image_size=64, reveal_radius=12, blur_sigma=2)``.
    metrics
        Name -> metric callable (see :data:`Metric`).
    repeats, seed
        Number of random splits, and the seed that makes them reproducible.
    fixation_fn
        Builds the fixation maps (e.g. ``partial(fixation_maps, image_size=64)``) for metrics
        that use fixations (NSS, AUC-Judd); without it they get all-False fixations.

    Each split compares half A with half B in both directions (``metric(A, B, fix_B)`` and
    ``metric(B, A, fix_A)``, averaged) so asymmetric metrics (KL, NSS) are not biased by the
    arbitrary labelling of the halves; the floor replaces the prediction by the same half of a
    random other image (``metric(A_other, B, fix_B)``, ``metric(B_other, A, fix_A)``). With an
    odd number of participants half B gets the extra one.

    Returns
    -------
    DataFrame with columns ``image_id, metric, ceiling, floor, n_participants``: one row per
    image (sorted) and metric (in the given order). Images with fewer than 2 participants get
    NaN (no split exists); the floor is NaN when no other image has 2 participants.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    t = trials.reset_index(drop=True)
    n_participants = t.groupby("image_id")["participant_id"].nunique()
    images = sorted(n_participants.index)
    eligible = [i for i in images if n_participants[i] >= 2]
    scores = {(i, name): (np.nan, np.nan) for i in images for name in metrics}

    if eligible:
        ceilings, floors = _split_scores(t, clicks, eligible, map_fn, fixation_fn, metrics,
                                         repeats, np.random.default_rng(seed))
        with warnings.catch_warnings():   # an image whose halves are never comparable -> NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            for name in metrics:
                ceiling = np.nanmean(ceilings[name], axis=0)
                floor = np.nanmean(floors[name], axis=0)
                for k, image_id in enumerate(eligible):
                    scores[(image_id, name)] = (ceiling[k], floor[k])

    return pd.DataFrame(
        [(i, name, *scores[(i, name)], int(n_participants[i])) for i in images for name in metrics],
        columns=COLUMNS)


def _split_scores(t: pd.DataFrame, clicks: pd.DataFrame, eligible: list[str], map_fn: MapFn,
                  fixation_fn: MapFn | None, metrics: Mapping[str, Metric], repeats: int,
                  rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Scores of every split: metric name -> (repeats, len(eligible)) arrays, ceiling and floor."""
    t = t[t["image_id"].isin(eligible)].reset_index(drop=True)
    # One entry per (image, participant), sorted by image: the unit that is split.
    pairs = (t[["image_id", "participant_id"]].drop_duplicates()
             .sort_values(["image_id", "participant_id"]).reset_index(drop=True))
    pair_image = pd.Categorical(pairs["image_id"], categories=eligible).codes
    n_of_image = np.bincount(pair_image, minlength=len(eligible))
    start_of_image = np.concatenate([[0], np.cumsum(n_of_image)[:-1]])
    pair_of_trial = t.merge(pairs.reset_index(), on=["image_id", "participant_id"],
                            how="left")["index"].to_numpy()
    rows = clicks.reset_index(drop=True).merge(
        t[_KEY].reset_index(), on=_KEY, how="inner")   # clicks of eligible trials only
    trial_of_click = rows["index"].to_numpy()
    click_frame = rows[list(clicks.columns)]

    m = len(eligible)
    ceilings = {name: np.full((repeats, m), np.nan) for name in metrics}
    floors = {name: np.full((repeats, m), np.nan) for name in metrics}
    for r in range(repeats):
        order = np.lexsort((rng.random(len(pairs)), pair_image))
        position = np.empty(len(pairs), dtype=int)
        position[order] = np.arange(len(pairs)) - start_of_image[pair_image[order]]
        in_b = position >= n_of_image[pair_image] // 2
        half_of_trial = in_b[pair_of_trial]
        halves = []
        for half in (False, True):
            sub_trials = t[half_of_trial == half]
            sub_clicks = click_frame[half_of_trial[trial_of_click] == half]
            maps = map_fn(sub_trials, sub_clicks)
            fix = fixation_fn(sub_trials, sub_clicks) if fixation_fn is not None else None
            stack = np.stack([np.asarray(maps[i]) for i in eligible])
            halves.append((stack, np.zeros(stack.shape, dtype=bool) if fix is None
                           else np.stack([np.asarray(fix[i], dtype=bool) for i in eligible])))
        (a, fix_a), (b, fix_b) = halves
        other = None
        if m >= 2:   # a random other image for each image
            other = rng.integers(0, m - 1, size=m)
            other += other >= np.arange(m)
        for name, metric in metrics.items():
            ceilings[name][r] = (_score(metric, a, b, fix_b, name)
                                 + _score(metric, b, a, fix_a, name)) / 2
            if other is not None:
                floors[name][r] = (_score(metric, a[other], b, fix_b, name)
                                   + _score(metric, b[other], a, fix_a, name)) / 2
    return ceilings, floors


def _score(metric: Metric, pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray,
           name: str) -> np.ndarray:
    values = np.asarray(metric(pred, ref, fixations), dtype=float)
    if values.shape != (len(pred),):
        raise ValueError(f"metric {name!r} returned shape {values.shape}, expected ({len(pred)},)")
    return values
