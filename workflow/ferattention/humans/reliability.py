"""The noise ceiling of human maps: split-half reliability with the Spearman-Brown correction.

Every method is compared with the human map of an image made from ALL of its participants
(``results/humans/maps.npz``). That map is noisy: a map equal to the true attention (the map an
infinite number of participants would give) would not score 1 against it. The bounds below are
measured at exactly that noise level, per image and metric (Spearman 1904, 1910; Brown 1910; the
split-half ceiling with the Spearman-Brown step is the one of Brain-Score and of the ClickMe human
maps, Linsley et al. 2019; docs/design.md §7.4):

``split_half``
    The participants of the image are split into two halves A and B (B gets the extra one when
    their number is odd); ``(metric(A, B) + metric(B, A)) / 2``, averaged over every possible
    split when there are at most ``repeats`` of them, else over ``repeats`` random splits.
``lower`` (correlation metrics)
    ``r_N = 2 r_h / (1 + r_h)``, the Spearman-Brown prediction, from the split-half correlation
    ``r_h``, of the correlation between two independent groups of N participants: how well
    another group of humans the size of this one would score.
``upper`` (correlation metrics)
    ``sqrt(max(r_N, 0))``: the expected correlation of the true map with the map of N
    participants (correction for attenuation: ``map = truth + independent noise`` gives
    ``corr(truth, map)**2 = r_N``). This is what a method equal to the truth scores, given the
    human noise; the normalised score of ``stats.summarise_similarity`` is 1 there.
``floor``
    The score of the centre bias estimated from the human data (Kümmerer, Wallis & Bethge 2015,
    PNAS 112:16054, the baseline of "explained information"; Bylinskii et al. 2019): the mean of
    every *other* image's full human map (leave this image out, and with face identities given,
    every image of the same face: in a study of few identities those carry where people look on
    this face), scored against this image's map. It knows where people look on faces in
    general, but nothing about this face. Averaged over
    the other images it is nearly free of click noise, so it is scored at the same noise level as
    a method's map and as ``upper`` (a noise-free map against the N-participant map). The former
    floor, one other image's noisy map, sat below that level: a smooth generic map (the centre
    baseline) beat it for no image-specific reason (docs/design.md §7.4.3).

The Spearman-Brown step holds for correlations (Pearson ``cc``; ``spearman`` approximately),
so ``lower`` and ``upper`` are given for the metrics in :data:`SPEARMAN_BROWN_METRICS` only;
for the others (similarity, KL, NSS, AUC-Judd, IoU, EMD) no established correction to the full
group's noise level exists, and they are NaN: those metrics are reported raw, with their floor
and split-half score.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from math import comb

import numpy as np
import pandas as pd

from ..catalogue import schema_defaults
from .maps import Geometry, aggregate_map, trial_fixations, trial_maps

#: Defaults of the ``humans`` settings: the config schema (their one source).
_HUMANS = schema_defaults("humans")
_ORDER_WEIGHTING = _HUMANS["order_weighting"]

#: ``metric(pred (N,H,W) float, ref (N,H,W) float, fixations (N,H,W) bool) -> (N,) float``;
#: ``fixations`` are the clicks behind ``ref``.
Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

#: Metrics that are correlations, for which the Spearman-Brown step and the attenuation bound hold.
SPEARMAN_BROWN_METRICS: frozenset[str] = frozenset({"spearman", "cc"})
COLUMNS = ["image_id", "metric", "split_half", "lower", "upper", "floor", "n_participants"]


def spearman_brown(r: np.ndarray | float, factor: float = 2.0) -> np.ndarray:
    """Spearman-Brown prophecy: reliability of a measure ``factor`` times as long as one with ``r``.

    ``factor * r / (1 + (factor - 1) * r)``; with ``factor = 2`` the split-half correlation
    becomes that of two groups of the full size. r = 1 stays 1, r = 0 stays 0.
    """
    r = np.asarray(r, dtype=float)
    return factor * r / (1 + (factor - 1) * r)


def leave_identity_out_means(maps: np.ndarray, identities: Sequence[object]) -> np.ndarray | None:
    """Each map's floor map: the mean of the maps of every other face identity.

    ``maps``: (n, ...) float maps; ``identities``: (n,) each map's identity. Returns (n, ...)
    float64, NaN for a map whose identity is the only one; None for fewer than 2 maps.
    """
    if len(maps) < 2:
        return None
    codes, _ = pd.factorize(pd.Series(list(identities), dtype=object))
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    sums = np.zeros((codes.max() + 1, flat.shape[1]))
    np.add.at(sums, codes, flat)
    counts = np.bincount(codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (flat.sum(axis=0) - sums[codes]) / (len(flat) - counts[codes])[:, None]
    return out.reshape(np.shape(maps))


def noise_ceiling(trials: pd.DataFrame, clicks: pd.DataFrame, metrics: Mapping[str, Metric],
                  repeats: int, seed: int, *, image_size: int, reveal_radius: float,
                  blur_sigma: float, order_weighting: str = _ORDER_WEIGHTING, order_decay: float = 0.5,
                  geometries: Mapping[str, Geometry] | None = None,
                  identities: Mapping[str, object] | None = None,
                  definition: str = "revealed") -> pd.DataFrame:
    """Per image and metric: split-half score, lower and upper bound, floor (module docstring).

    Parameters
    ----------
    trials, clicks
        As returned by :func:`~.ingest.load_human_data`.
    metrics
        Name -> metric callable (see :data:`Metric`); names in :data:`SPEARMAN_BROWN_METRICS`
        get ``lower`` and ``upper``.
    repeats, seed
        Random splits per image (all splits instead when there are at most ``repeats``); the
        seed makes them reproducible.
    image_size, reveal_radius, blur_sigma, order_weighting, order_decay, geometries, definition
        How the maps are made: the settings of :func:`~.maps.human_maps`, so that the halves
        and the full maps are made exactly like ``results/humans/maps.npz``.
    identities
        image_id -> face identity: the floor leaves out the images of the same face (an image
        without one is its own); None: only the image itself.

    Returns
    -------
    DataFrame with :data:`COLUMNS`, one row per image (sorted) and metric (in the given order).
    An image with fewer than 2 participants has NaN ``split_half``, ``lower`` and ``upper``;
    the floor is NaN when there is no other image.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(seed)
    t = trials.reset_index(drop=True)
    images = sorted(set(t["image_id"].tolist()))
    settings = dict(image_size=image_size, reveal_radius=reveal_radius,
                    order_weighting=order_weighting, order_decay=order_decay,
                    geometries=geometries, definition=definition)
    key = ["participant_id", "trial_id"]
    clicks_of_image = dict(tuple(clicks.merge(t[[*key, "image_id"]], on=key, how="inner")
                                 .groupby("image_id", sort=False)))
    no_clicks = clicks.iloc[:0]

    full, full_fix, n_participants = [], [], []
    # the two halves of every split (A, B): their maps and their fixations
    maps_a, fix_a, maps_b, fix_b = [], [], [], []
    split_image: list[int] = []
    for k, image_id in enumerate(images):
        sub = t[t["image_id"] == image_id]
        sub_clicks = clicks_of_image.get(image_id, no_clicks)[clicks.columns]
        planes = trial_maps(sub, sub_clicks, **settings)
        fixes = trial_fixations(sub, sub_clicks, image_size, geometries)
        people, person_of_trial = np.unique(sub["participant_id"].to_numpy(), return_inverse=True)
        per_person = np.zeros((len(people), image_size, image_size))
        np.add.at(per_person, person_of_trial, planes)
        fix_person = np.zeros(per_person.shape, dtype=bool)
        np.logical_or.at(fix_person, person_of_trial, fixes)
        full.append(aggregate_map(per_person.sum(axis=0), blur_sigma))
        full_fix.append(fix_person.any(axis=0))
        n_participants.append(len(people))
        for half_a in _splits(len(people), repeats, rng):
            half_b = np.setdiff1d(np.arange(len(people)), half_a)
            maps_a.append(aggregate_map(per_person[half_a].sum(axis=0), blur_sigma))
            fix_a.append(fix_person[half_a].any(axis=0))
            maps_b.append(aggregate_map(per_person[half_b].sum(axis=0), blur_sigma))
            fix_b.append(fix_person[half_b].any(axis=0))
            split_image.append(k)
    full_maps, full_fixations = np.stack(full), np.stack(full_fix)
    split_image_arr = np.asarray(split_image, dtype=int)
    # Stacked once for all metrics, not anew for each (0.5 s); the lists are then freed (the
    # default's halves, 144 images x 20 splits x 2 maps of 64 x 64 float64, are 190 MB).
    halves = tuple(np.stack(x) for x in (maps_a, fix_a, maps_b, fix_b)) if split_image else None
    del maps_a, fix_a, maps_b, fix_b

    m = len(images)
    # the centre bias of each image: the mean of the other faces' full maps (each sums to 1)
    centre_bias = leave_identity_out_means(
        full_maps, [(identities or {}).get(i, i) for i in images])

    rows = []
    with warnings.catch_warnings():   # an image whose scores are all NaN gives NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, metric in metrics.items():
            split_half = np.full(m, np.nan)
            if halves is not None:
                a, fa, b, fb = halves
                scores = (_score(metric, a, b, fb, name) + _score(metric, b, a, fa, name)) / 2
                sums = np.bincount(split_image_arr, weights=np.nan_to_num(scores), minlength=m)
                counts = np.bincount(split_image_arr, weights=np.isfinite(scores), minlength=m)
                split_half = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            floor = np.full(m, np.nan)
            if centre_bias is not None:
                floor = _score(metric, centre_bias, full_maps, full_fixations, name)
                floor[~np.isfinite(centre_bias).all(axis=(1, 2))] = np.nan
            lower = upper = np.full(m, np.nan)
            if name in SPEARMAN_BROWN_METRICS:
                lower = spearman_brown(split_half)
                upper = np.sqrt(np.clip(lower, 0.0, 1.0))
            rows += [(image_id, name, split_half[k], lower[k], upper[k], floor[k],
                      n_participants[k]) for k, image_id in enumerate(images)]
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {name: k for k, name in enumerate(metrics)}
    return table.sort_values(["image_id", "metric"], key=lambda c: c.map(order)
                             if c.name == "metric" else c, kind="stable").reset_index(drop=True)


def _splits(n: int, repeats: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Half A of each split of ``n`` participants (sorted indices, size n // 2).

    Every split when there are at most ``repeats`` of them (exact), else ``repeats`` random ones.
    """
    if n < 2:
        return []
    if comb(n, n // 2) <= repeats:
        return [np.array(a) for a in combinations(range(n), n // 2)]
    return [np.sort(rng.permutation(n)[: n // 2]) for _ in range(repeats)]


def _score(metric: Metric, pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray,
           name: str) -> np.ndarray:
    values = np.asarray(metric(pred, ref, fixations), dtype=float)
    if values.shape != (len(pred),):
        raise ValueError(f"metric {name!r} returned shape {values.shape}, expected ({len(pred)},)")
    return values
