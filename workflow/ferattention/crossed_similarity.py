"""Crossed bootstrap (participants x identities) of the mean similarity of machine maps to human maps.

The by-image bootstrap of ``similarity_summary.csv`` treats each image's human map as fixed, so
its confidence intervals ignore that another sample of participants would have clicked elsewhere.
Where each participant's clicks are known, this module resamples participants and images
together, as :func:`ferattention.stats.crossed_bootstrap_ci` does for accuracy. Replicate ``b``
draws participant counts ``c_p`` (multinomial, ``n_p`` draws) and face identity counts
(independently; an image's count ``c_i`` is its identity's), then

* every image's human map is rebuilt from the drawn participants with multiplicity: the sum
  ``sum_p c_p B[i, p]`` of their blurred click maps (blurring is linear, so this equals smoothing
  the summed clicks as :func:`ferattention.humans.human_maps` does), normalised to sum 1;
* each method's map of the image is scored against it (``V[b, i]``);
* the replicate mean is ``sum_i c_i V[b, i] / sum_i c_i`` over the images that have a value.

The CI of the mean is the corrected two-factor bootstrap interval (:func:`corrected_interval`,
Schütt et al. 2023): ``n_boot // 2`` more replicates draw participants alone, as many identities
alone, and their variances correct the joint one for counting the participant x image interaction
thrice and for each factor's ``(n - 1) / n`` shrinkage, with t quantiles for few identities.
The normalised score keeps the joint replicates' percentile interval re-centred on the estimate
(:func:`centred_interval`: a rebuilt map has fewer distinct participants, so every replicate
score is attenuated). An image none of whose drawn
participants saw it has no human map in that replicate and drops out of its mean; an image whose
drawn participants saw it but clicked nothing gets the uniform map, which every metric scores as
the workflow does (0 for ``cc`` and ``spearman``).

Only ``cc`` and ``spearman`` are supported (:data:`CROSSED_METRICS`): both are a correlation of a
rebuilt human map with fixed machine maps, so one rebuilt map (and, for spearman, its ranks)
serves every model and method at once, and the correlations are one matrix product per image.
The other metrics would need every pair scored anew in every replicate; they keep the by-image CI.

The normalized score's interval (``normalized_low``, ``normalized_high``) uses the same
replicates, each with its own floor and upper bound rebuilt from the participants and face
identities drawn (:func:`crossed_replicates`, :func:`replicate_floor_scores`), centred on the
estimate from ``reliability.csv``: ``(mean V - mean floor) / (mean upper - mean floor)``
(docs/design.md §9.6).

Cost: per image and chunk of replicates, a (chunk, n_p) x (n_p, S*S) product, the ranks of the
(chunk, S*S) rebuilt maps (spearman) and a (chunk, S*S) x (S*S, rows) product; for spearman the
floor ranks a rebuilt human map and floor map again, on the upper bound's images. The one-factor
families add ``n_boot`` replicates of the scores alone (no floor, no upper bound). Memory holds
the blurred click maps of every participant and image, n_images x n_participants x S*S float64,
and the floor's chunk of every image's rebuilt map (about 2**25 values).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.ndimage import gaussian_filter

from . import hierarchical, io
from .humans.maps import _ORDER_WEIGHTING, trial_maps
from .humans.reliability import leave_identity_out_means
from .methods import SHUFFLED_PREFIX, is_baseline
from .similarity import shuffle_partners

#: Metrics with a crossed bootstrap; the others keep the by-image CI.
CROSSED_METRICS: tuple[str, ...] = ("cc", "spearman")

#: Columns of ``results/similarity/crossed_ci.csv``.
CROSSED_COLUMNS: tuple[str, ...] = (
    "model", "method", "metric", "n_boot", "ci_low", "ci_high", "normalized_low", "normalized_high",
)

#: Images whose split halves give a replicate's spearman upper bound (cc uses every image).
CEILING_IMAGES = 32

#: Replicates scored together (bounds memory: a few (chunk, S*S) float64 arrays per image).
CHUNK = 250


def participant_maps(
    trials: pd.DataFrame,
    clicks: pd.DataFrame,
    image_size: int,
    reveal_radius: float,
    blur_sigma: float,
    order_weighting: str = _ORDER_WEIGHTING,
    order_decay: float = 0.5,
    geometries: Mapping[str, Mapping] | None = None,
    definition: str = "revealed",
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Each participant's blurred click map of each image, the parts of the human maps.

    ``trials`` and ``clicks`` as for :func:`ferattention.humans.human_maps` (same settings).
    Returns ``(maps, seen, image_ids, participant_ids)``: ``maps`` float64 (n_images,
    n_participants, S*S), the sum of the participant's trial maps of the image smoothed with
    ``blur_sigma`` (zeros where the participant did not see the image or clicked nothing), and
    ``seen`` bool (n_images, n_participants), True where the participant has a trial of the image.
    Ids are sorted. ``sum_p maps[i, p]`` normalised to sum 1 is the image's human map.
    """
    planes = trial_maps(trials, clicks, image_size, reveal_radius, order_weighting, order_decay,
                        geometries, definition)
    img, images = pd.factorize(trials["image_id"].astype(str), sort=True)
    part, people = pd.factorize(trials["participant_id"].astype(str), sort=True)
    n_pixels = image_size * image_size
    maps = np.zeros((len(images), len(people), n_pixels))
    np.add.at(maps, (img, part), planes.reshape(len(planes), n_pixels))
    seen = np.zeros((len(images), len(people)), dtype=bool)
    seen[img, part] = True
    if blur_sigma > 0:
        for i, p in zip(*np.nonzero(maps.any(axis=2))):
            maps[i, p] = gaussian_filter(maps[i, p].reshape(image_size, image_size), blur_sigma,
                                         mode="reflect").ravel()
    return maps, seen, [str(i) for i in images], [str(p) for p in people]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to norm 1; constant rows become 0 (so their correlations are 0)."""
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
    constant = np.ptp(x, axis=1, keepdims=True) == 0
    return np.where(constant, 0.0, x / np.where(constant, 1.0, norm))


def replicate_scores(
    parts: np.ndarray, seen: np.ndarray, machine: np.ndarray, counts: np.ndarray, metric: str,
) -> np.ndarray:
    """Scores of one image's machine maps against its human map rebuilt from resampled participants.

    ``parts``: (n_participants, P) blurred click maps of the image (:func:`participant_maps`),
    ``seen``: (n_participants,) bool, ``machine``: (n_rows, P) maps (one per model and method),
    ``counts``: (B, n_participants) participant multiplicities. Returns (B, n_rows): the metric
    (``cc`` or ``spearman``, the conventions of :mod:`ferattention.similarity`: 0 where either map
    is constant) of each row against the map ``counts[b] @ parts`` normalised to sum 1; NaN in
    replicates that drew no participant who saw the image.

    ``cc`` needs no rebuilt map: with ``X`` the participants' maps centred over pixels and ``m``
    a machine map centred and scaled to norm 1, ``cc = c X m / sqrt(c X X' c')`` (a (B, n_p)
    product). ``spearman`` ranks each rebuilt map (as stored, float32; ties averaged), in chunks.
    """
    if metric not in CROSSED_METRICS:
        raise ValueError(f"crossed bootstrap supports {CROSSED_METRICS}, not {metric!r}")
    machine = np.asarray(machine, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if metric == "spearman":
        machine = stats.rankdata(machine, axis=1)
    unit_machine = _unit_rows(machine)  # (rows, P)
    if metric == "cc":
        centred = parts - parts.mean(axis=1, keepdims=True)
        energy = np.einsum("bp,bp->b", counts @ (centred @ centred.T), counts)  # |c X|^2
        total = np.einsum("bp,bp->b", counts @ (parts @ parts.T), counts)
        constant = energy <= 1e-12 * total  # includes the all-zero (uniform) map
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = (counts @ (centred @ unit_machine.T)) / np.sqrt(energy)[:, None]
        scores[constant] = 0.0
    else:
        n_pixels = parts.shape[1]
        scores = np.empty((len(counts), len(machine)))
        for start in range(0, len(counts), CHUNK):
            human = counts[start:start + CHUNK] @ parts  # (chunk, P), the maps up to their sum
            total = human.sum(axis=1, keepdims=True)
            human = np.where(total > 0, human / np.where(total > 0, total, 1.0), 0.0)
            ranks = stats.rankdata(human.astype(np.float32), axis=1)
            # ranks sum to P (P + 1) / 2 whatever the ties; a constant map has all ranks equal
            energy = np.einsum("bj,bj->b", ranks, ranks) - n_pixels * ((n_pixels + 1) / 2) ** 2
            with np.errstate(invalid="ignore", divide="ignore"):
                chunk = (ranks @ unit_machine.T) / np.sqrt(energy)[:, None]
            chunk[energy <= 1e-9 * n_pixels ** 3] = 0.0
            scores[start:start + CHUNK] = chunk
    scores[(counts[:, seen] == 0).all(axis=1) if seen.any() else slice(None)] = np.nan
    return np.clip(scores, -1.0, 1.0)


def draw_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multiplicities of ``n`` units: (n_boot, n) ints, each row summing to ``n``."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def weighted_means(values: np.ndarray, image_counts: np.ndarray) -> np.ndarray:
    """Replicate means ``sum_i c_i V[b, i] / sum_i c_i`` over the images with a value.

    ``values``: (B, n_images, n_rows) with NaN for no value; ``image_counts``: (B, n_images).
    Returns (B, n_rows); NaN where a replicate drew no image with a value.
    """
    ok = np.isfinite(values)
    w = image_counts[:, :, None] * ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * np.where(ok, values, 0.0)).sum(axis=1) / w.sum(axis=1)


def split_half_scores(parts: np.ndarray, counts: np.ndarray, metric: str,
                      rng: np.random.Generator) -> np.ndarray:
    """Split-half correlation of one image's human map in each replicate: (B,), NaN below 2.

    ``parts``: (n, P) blurred click maps of the participants who saw the image; ``counts``:
    (B, n) their multiplicities in each replicate. The distinct participants drawn are split at
    random into two halves (the second gets the extra one), each half's map is the sum of its
    members' maps with their multiplicity (a participant never sits in both halves, which would
    correlate the halves by construction), and the metric of the two half maps is returned: the
    noise ceiling's split-half score (:mod:`ferattention.humans.reliability`), one split per
    replicate, at the replicate's own participants.
    """
    counts = np.asarray(counts, dtype=np.float64)
    drawn = counts > 0
    priority = np.where(drawn, rng.random(counts.shape), np.inf)
    rank = np.argsort(np.argsort(priority, axis=1), axis=1)
    n_drawn = drawn.sum(axis=1)
    in_a = rank < (n_drawn // 2)[:, None]
    a, b = counts * in_a, counts * (drawn & ~in_a)
    out = np.full(len(counts), np.nan)
    if metric == "cc":
        centred = parts - parts.mean(axis=1, keepdims=True)
        gram = centred @ centred.T
        ab = np.einsum("bp,bp->b", a @ gram, b)
        aa = np.einsum("bp,bp->b", a @ gram, a)
        bb = np.einsum("bp,bp->b", b @ gram, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = ab / np.sqrt(aa * bb)
        out[(aa <= 1e-12) | (bb <= 1e-12)] = 0.0
    else:
        for start in range(0, len(counts), CHUNK):
            ranks = [_ranks(x[start:start + CHUNK] @ parts) for x in (a, b)]
            out[start:start + CHUNK] = np.einsum("bj,bj->b", *(_unit_rows(r) for r in ranks))
    out[n_drawn < 2] = np.nan
    return np.clip(out, -1.0, 1.0)


def _ranks(maps: np.ndarray) -> np.ndarray:
    """Ranks of (k, P) maps normalised to sum 1 and stored as float32, as the human maps are."""
    total = maps.sum(axis=1, keepdims=True)
    maps = np.where(total > 0, maps / np.where(total > 0, total, 1.0), 0.0)
    return stats.rankdata(maps.astype(np.float32), axis=1)


def upper_bound(split_half: np.ndarray) -> np.ndarray:
    """The noise ceiling's upper bound from split-half correlations: ``sqrt(max(r_N, 0))`` with
    ``r_N = 2 r / (1 + r)`` (Spearman-Brown; :mod:`ferattention.humans.reliability`)."""
    r = np.asarray(split_half, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        full = np.where(r > -1, 2 * r / (1 + r), 0.0)
    return np.where(np.isfinite(r), np.sqrt(np.clip(full, 0.0, 1.0)), np.nan)


def centre_bias_maps(parts: np.ndarray, identities: Sequence[object] | None = None
                     ) -> np.ndarray:
    """The human floor's map of each image: the mean of the full human maps of every other face
    identity (:func:`ferattention.humans.reliability.leave_identity_out_means`).

    ``parts``: (n_images, n_participants, P). Each full map is the sum over participants,
    normalised to sum 1 (uniform without clicks), as ``results/humans/maps.npz`` stores it.
    ``identities``: (n_images,) each image's face identity (None: every image its own).
    Returns (n_images, P) float64, NaN rows where no other identity exists; needs at least 2
    images.
    """
    total = parts.sum(axis=1)
    sums = total.sum(axis=1, keepdims=True)
    full = np.where(sums > 0, total / np.where(sums > 0, sums, 1.0), 1.0 / total.shape[1])
    full = full.astype(np.float32).astype(np.float64)
    return leave_identity_out_means(full, range(len(full)) if identities is None
                                    else list(identities))


def replicate_floor_scores(
    parts: np.ndarray, seen: np.ndarray, identities: Sequence[object], people_counts: np.ndarray,
    image_counts: np.ndarray, metric: str, max_elements: int = 2 ** 25,
    which: np.ndarray | None = None,
) -> np.ndarray:
    """The human floor's score of every image in every replicate, its floor map rebuilt there.

    ``parts``: (n_images, n_participants, P), ``seen``: (n_images, n_participants),
    ``identities``: (n_images,) face identities, ``people_counts``: (B, n_participants) and
    ``image_counts``: (B, n_images) the replicates' multiplicities (an image's count is its
    identity's). In replicate ``b`` every image's human map is rebuilt from the participants
    drawn (uniform where they clicked nothing, none where none of them saw it); image ``i``'s
    floor map is the mean of the maps of the images of every other identity, each weighted by
    its count; the result is the metric of the image's map against it: (B, n_images), NaN where
    either map is missing. With every participant and identity drawn once this is the floor of
    ``reliability.csv``. Which identities a replicate draws moves the floor (a face scores high
    against faces like it), and that spread belongs in the normalised score's interval.
    ``which``: (B, n_images) bool, the pairs to score (NaN elsewhere; None: all). Replicates go
    in chunks of about ``max_elements`` map pixels.
    """
    if metric not in CROSSED_METRICS:
        raise ValueError(f"crossed bootstrap supports {CROSSED_METRICS}, not {metric!r}")
    n_images, _, n_pixels = parts.shape
    codes, _ = pd.factorize(pd.Series(list(identities), dtype=object))
    n_ident = int(codes.max()) + 1
    members = np.zeros((n_ident, n_images))
    members[codes, np.arange(n_images)] = 1.0
    people_counts = np.asarray(people_counts, dtype=np.float64)
    out = np.full((len(people_counts), n_images), np.nan)
    step = max(1, max_elements // max(1, n_images * n_pixels))
    flat_parts = np.ascontiguousarray(parts.transpose(1, 0, 2)).reshape(parts.shape[1], -1)
    for start in range(0, len(people_counts), step):
        counts = people_counts[start:start + step]
        # (chunk, n_images, P) up to their sums: one BLAS product over the participants
        maps = (counts @ flat_parts).reshape(len(counts), n_images, n_pixels)
        total = maps.sum(axis=2, keepdims=True)
        maps = np.where(total > 0, maps / np.where(total > 0, total, 1.0), 1.0 / n_pixels)
        maps = maps.astype(np.float32).astype(np.float64)  # as maps.npz stores them
        has = (counts @ seen.T.astype(np.float64)) > 0  # (chunk, n_images)
        weight = np.asarray(image_counts[start:start + step], dtype=np.float64) * has
        per_ident = members @ (weight[:, :, None] * maps)  # (chunk, n_ident, P) weighted sums
        ident_weight = weight @ members.T  # (chunk, n_ident)
        others = ident_weight.sum(axis=1, keepdims=True) - ident_weight[:, codes]
        with np.errstate(invalid="ignore", divide="ignore"):
            floor = ((per_ident.sum(axis=1, keepdims=True) - per_ident[:, codes])
                     / others[..., None])
        chunk = np.full(has.shape, np.nan)
        wanted = np.ones_like(has) if which is None else which[start:start + step]
        for i in range(n_images):
            ok = has[:, i] & wanted[:, i] & np.isfinite(floor[:, i, 0])
            if not ok.any():
                continue
            human, other = maps[ok, i], floor[ok, i]
            if metric == "spearman":
                human = stats.rankdata(human.astype(np.float32), axis=1)
                other = stats.rankdata(other, axis=1)
            chunk[ok, i] = np.einsum("bx,bx->b", _unit_rows(human), _unit_rows(other))
        out[start:start + step] = chunk
    return np.clip(out, -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Draws:
    """Replicate means of one family of draws: ``means``, ``floor``, ``upper`` (B, rows), as in
    :class:`Replicates`."""

    means: np.ndarray
    floor: np.ndarray
    upper: np.ndarray

    @property
    def normalized(self) -> np.ndarray:
        """(B, rows) normalised score of each replicate, its floor and upper bound its own."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.means - self.floor) / (self.upper - self.floor)


@dataclasses.dataclass(frozen=True)
class Replicates:
    """Crossed-bootstrap replicates of one metric (:func:`crossed_replicates`).

    ``keys``: the rows, (model, method). ``means``, ``floor``, ``upper``: (B, rows), replicate
    ``b``'s mean over the row's images (each image weighted by its identity's count) of the
    method's score, of the human floor's score and of the upper bound, every human map rebuilt
    from the participants drawn; participants and identities are drawn together. ``observed``:
    (n_images, rows) each image's score against its human map from every participant (NaN: no
    map or no value). ``by_participants``, ``by_identities``: (B', rows) the same means from
    draws of one factor alone (the other held at its data), which :func:`corrected_interval`
    needs; None when not drawn. ``n_participants``, ``n_identities``: the units resampled.
    """

    metric: str
    keys: list[tuple[str, str]]
    means: np.ndarray
    floor: np.ndarray
    upper: np.ndarray
    observed: np.ndarray
    by_participants: np.ndarray | None = None
    by_identities: np.ndarray | None = None
    n_participants: int = 0
    n_identities: int = 0

    @property
    def joint(self) -> Draws:
        """The replicates with both factors drawn together."""
        return Draws(self.means, self.floor, self.upper)

    @property
    def estimate(self) -> np.ndarray:
        """(rows,) the mean score as observed, over each row's images."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.observed, axis=0)


def crossed_replicates(
    parts: np.ndarray,
    seen: np.ndarray,
    image_ids: Sequence[str],
    machine: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    metric: str,
    identities: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    n_factor: int | None = None,
) -> Replicates:
    """Replicates of every row's mean score, human floor and upper bound (module docstring).

    ``parts``, ``seen``, ``image_ids``: from :func:`participant_maps`; ``machine``: (model,
    method) -> image_id -> (S, S) map; ``identities``: (n_images,) each image's face identity
    (None: every image its own), resampled as clusters with the images nested in them.
    ``n_boot`` replicates draw both factors; ``n_factor`` (None: ``n_boot // 2``; 0: none) more
    draw participants alone and as many identities alone, for :func:`corrected_interval` (their
    floor and upper bound are not scored).
    Draws: ``rng = default_rng(seed)``, participant counts, then identity counts; the halves of
    the upper bound from ``default_rng([seed, 1])``; the one-factor families from
    ``default_rng([seed, 2])`` and ``default_rng([seed, 3])``. The draws are the same for every
    metric and every row.
    """
    if metric not in CROSSED_METRICS:
        raise ValueError(f"crossed bootstrap supports {CROSSED_METRICS}, not {metric!r}")
    n_images, n_people, n_pixels = parts.shape
    if seen.shape != (n_images, n_people) or len(image_ids) != n_images:
        raise ValueError(f"participant maps {parts.shape}, seen {seen.shape} and {len(image_ids)} "
                         "image ids disagree")
    keys = list(machine)
    maps: list[tuple[list[int], np.ndarray | None]] = []
    for image_id in image_ids:
        have = [k for k, key in enumerate(keys) if image_id in machine[key]]
        stack = (np.stack([np.asarray(machine[keys[k]][image_id], dtype=np.float64).ravel()
                           for k in have]) if have else None)
        if stack is not None and stack.shape[1] != n_pixels:
            raise ValueError(f"image_id {image_id!r}: machine maps have {stack.shape[1]} "
                             f"pixels, the human maps {n_pixels}")
        maps.append((have, stack))
    ident = np.asarray(list(image_ids) if identities is None else identities, dtype=object)
    ident_code, ident_names = pd.factorize(pd.Series(ident), sort=True)
    n_ident = len(ident_names)

    rng = np.random.default_rng(seed)
    people_counts = draw_counts(n_people, n_boot, rng)
    image_counts = hierarchical.draw_counts(n_ident, n_boot, rng)[:, ident_code]
    observed = np.full((n_images, len(keys)), np.nan)
    joint = _draws(parts, seen, maps, len(keys), ident_code, people_counts, image_counts, metric,
                   np.random.default_rng([seed, 1]), observed)
    n_factor = n_boot // 2 if n_factor is None else n_factor
    families = []
    for k, draw_people in ((2, True), (3, False)):
        if n_factor < 2:
            families.append(None)
            continue
        frng = np.random.default_rng([seed, k])
        people = (draw_counts(n_people, n_factor, frng) if draw_people
                  else np.ones((n_factor, n_people), dtype=int))
        images = (np.ones((n_factor, n_images), dtype=int) if draw_people
                  else hierarchical.draw_counts(n_ident, n_factor, frng)[:, ident_code])
        families.append(_draws(parts, seen, maps, len(keys), ident_code, people, images, metric,
                               frng, bounds=False).means)
    return Replicates(metric, keys, joint.means, joint.floor, joint.upper, observed,
                      families[0], families[1], n_people, n_ident)


def _draws(parts: np.ndarray, seen: np.ndarray,
           maps: Sequence[tuple[list[int], np.ndarray | None]], n_rows: int,
           ident_code: np.ndarray, people_counts: np.ndarray, image_counts: np.ndarray,
           metric: str, split_rng: np.random.Generator, observed: np.ndarray | None = None,
           bounds: bool = True) -> Draws:
    """One family of replicates at the given multiplicities (:func:`crossed_replicates`);
    ``observed``, when given, is filled with the scores of every participant once; without
    ``bounds`` the floor and upper bound are not scored (NaN)."""
    n_boot = len(people_counts)
    n_images, n_people, _ = parts.shape
    values = np.full((n_boot, n_images, n_rows), np.nan)
    floor = np.full((n_boot, n_images), np.nan)
    upper = np.full((n_boot, n_images), np.nan)
    if bounds:
        # spearman's split halves must be ranked, the costliest step: each replicate's upper
        # bound is the mean over CEILING_IMAGES of its images drawn at random (unbiased)
        ceiling = np.zeros((n_boot, n_images), dtype=bool)
        pick = np.argsort(split_rng.random((n_boot, n_images)), axis=1)[:, :CEILING_IMAGES]
        np.put_along_axis(ceiling, pick, True, axis=1)
        # spearman ranks a rebuilt human map and floor map per pair: the floor, like the upper
        # bound, is then the mean over the same CEILING_IMAGES images of each replicate
        if n_images >= 2:
            floor = replicate_floor_scores(parts, seen, ident_code, people_counts, image_counts,
                                           metric, which=ceiling if metric == "spearman" else None)
    ones = np.ones((1, n_people))
    for i, (have, stack) in enumerate(maps):
        if stack is None:
            continue
        # the observed scores (every participant once) ride along as a first replicate
        first = ones if observed is not None else np.empty((0, n_people))
        scores = replicate_scores(parts[i], seen[i], stack, np.vstack([first, people_counts]),
                                  metric)
        if observed is not None:
            observed[i, have] = scores[0]
        values[:, i, have] = scores[len(first):]
        if not bounds:
            continue
        which = ceiling[:, i] if metric == "spearman" else slice(None)
        upper[which, i] = upper_bound(split_half_scores(
            parts[i, seen[i]], people_counts[which][:, seen[i]], metric, split_rng))
    has = np.isfinite(values)

    def bound_means(x: np.ndarray) -> np.ndarray:  # (B, n_images) -> (B, rows)
        w = image_counts[:, :, None] * (has & np.isfinite(x)[:, :, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w * np.nan_to_num(x)[:, :, None]).sum(axis=1) / w.sum(axis=1)

    return Draws(weighted_means(values, image_counts), bound_means(floor), bound_means(upper))


def centred_interval(estimate: float, replicates: np.ndarray, level: float = 0.95
                     ) -> tuple[float, float]:
    """Percentile interval of the replicates re-centred on the estimate (NaN below 2).

    Resampling participants rebuilds each human map from fewer distinct people, so every
    replicate score is attenuated; :func:`ferattention.hierarchical.from_replicates` with
    ``centre`` removes that bias and puts the estimate inside its interval.
    """
    finite = np.asarray(replicates, dtype=float)
    if np.isfinite(finite).sum() < 2:
        return np.nan, np.nan
    result = hierarchical.from_replicates(estimate, finite, level, centre=True)
    return result.ci_low, result.ci_high


def normalized_replicates(reps: Replicates) -> np.ndarray:
    """(B, rows) normalised score of each joint replicate, its floor and upper bound its own."""
    return reps.joint.normalized


def corrected_interval(
    estimate: float, joint: np.ndarray, by_participants: np.ndarray, by_identities: np.ndarray,
    n_participants: int, n_identities: int, level: float = 0.95,
) -> tuple[float, float]:
    """The corrected two-factor bootstrap interval: ``estimate +- t_df sqrt(V)`` (NaN if unknown).

    ``joint``, ``by_participants``, ``by_identities``: (B,) replicates drawing both factors, the
    participants alone and the identities alone (NaN dropped). With a crossed model
    ``y_pi = a_p + b_i + e_pi``, the one-factor variances are ``V_P = (n_P - 1) / n_P
    (s_a^2 + s_e^2 / n_I) / n_P`` and ``V_I`` likewise, while the joint one counts the
    interaction ``e`` thrice, ``V_PI - V_P - V_I ~ s_e^2 / (n_P n_I)``; the variance of the
    mean is ``s_a^2 / n_P + s_b^2 / n_I + s_e^2 / (n_P n_I)``, hence (Schütt et al. 2023,
    eLife, "Statistical inference on representational geometries", their corrected bootstrap,
    with each factor's ``n / (n - 1)``)::

        V = n_P / (n_P - 1) V_P + n_I / (n_I - 1) V_I - max(V_PI - V_P - V_I, 0)

    kept at least the larger factor term. A percentile interval of ``joint`` alone covers too
    much where the interaction dominates (spearman) and too little with few identities (each
    factor's variance shrunk by ``(n - 1) / n``, its quantiles normal); here ``df`` is
    Satterthwaite's from the two factor terms (``n_P - 1`` and ``n_I - 1`` degrees of freedom).
    The interval is symmetric about the estimate: the attenuation of rebuilt maps, which shifts
    every replicate, does not move it.
    """
    def var(x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        x = x[np.isfinite(x)]
        return float(np.var(x, ddof=1)) if x.size >= 2 else np.nan

    v_joint, v_p, v_i = var(joint), var(by_participants), var(by_identities)
    if not np.isfinite([estimate, v_joint, v_p, v_i]).all():
        return np.nan, np.nan
    part = v_p * n_participants / (n_participants - 1) if n_participants > 1 else 0.0
    ident = v_i * n_identities / (n_identities - 1) if n_identities > 1 else 0.0
    v = max(part + ident - max(v_joint - v_p - v_i, 0.0), part, ident)
    pieces = [(t, n - 1) for t, n in ((part, n_participants), (ident, n_identities))
              if n > 1 and t > 0]
    if v <= 0 or not pieces:
        return float(estimate), float(estimate)
    df = sum(t for t, _ in pieces) ** 2 / sum(t ** 2 / d for t, d in pieces)
    half = stats.t.ppf(0.5 + level / 2, df) * np.sqrt(v)
    return float(estimate - half), float(estimate + half)


def replicate_interval(reps: Replicates, k: int, estimate: float, normalized: bool = False,
                       level: float = 0.95) -> tuple[float, float]:
    """Row ``k``'s interval of the mean score (or ``normalized`` score).

    The mean: :func:`corrected_interval` where both one-factor families were drawn, else the
    joint replicates' re-centred percentile one (:func:`centred_interval`). The normalised
    score: always the latter. Its upper bound comes from one random split per replicate, noise
    that each family carries afresh, so the correction would count it about three times over
    (every interval then covered 1.0 in the calibration, docs/validation.md).
    """
    if normalized:
        return centred_interval(estimate, reps.joint.normalized[:, k], level)
    if reps.by_participants is None or reps.by_identities is None:
        return centred_interval(estimate, reps.means[:, k], level)
    return corrected_interval(estimate, reps.means[:, k], reps.by_participants[:, k],
                              reps.by_identities[:, k], reps.n_participants, reps.n_identities,
                              level)


def crossed_similarity_ci(
    parts: np.ndarray,
    seen: np.ndarray,
    image_ids: Sequence[str],
    machine: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    metrics: Sequence[str] = CROSSED_METRICS,
    reliability: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    identities: Sequence[str] | None = None,
    replicates: Mapping[str, Replicates] | None = None,
    n_factor: int | None = None,
) -> pd.DataFrame:
    """Crossed-bootstrap CIs of the mean similarity of every model and method (module docstring).

    ``parts``, ``seen``, ``image_ids``: from :func:`participant_maps`. ``machine``: (model,
    method) -> image_id -> (S, S) map (images without a human map are ignored). ``metrics``: the
    subset of :data:`CROSSED_METRICS` to do. ``reliability``: the per-image ``floor`` and
    ``upper`` of ``reliability.csv`` (columns ``image_id, metric, floor, upper``): the normalized
    score's estimate, as the summary has it, around which its replicates (each with its own floor
    and upper bound) are centred; None: no normalized interval. ``identities``: as for
    :func:`crossed_replicates`; ``replicates``: metric -> its replicates, when already drawn;
    ``n_factor``: as for :func:`crossed_replicates` (0: the joint percentile interval).
    Returns :data:`CROSSED_COLUMNS`, one row per (model, method, metric), in ``machine``'s order.
    """
    unknown = [m for m in metrics if m not in CROSSED_METRICS]
    if unknown:
        raise ValueError(f"crossed bootstrap supports {CROSSED_METRICS}, not {unknown}")
    rows = []
    for metric in metrics:
        reps = (replicates or {}).get(metric) or crossed_replicates(
            parts, seen, image_ids, machine, metric, identities, n_boot, seed, n_factor)
        bounds = None
        if reliability is not None:
            rel = reliability[reliability["metric"] == metric].set_index("image_id")
            bounds = rel.reindex(list(image_ids))[["floor", "upper"]].to_numpy(dtype=float)
        for k, (model, method) in enumerate(reps.keys):
            low, high = replicate_interval(reps, k, reps.estimate[k], level=level)
            row = {"model": model, "method": method, "metric": metric, "n_boot": n_boot,
                   "ci_low": low, "ci_high": high, "normalized_low": np.nan,
                   "normalized_high": np.nan}
            if bounds is not None:
                estimate = normalized_estimate(reps.observed[:, k], bounds)
                row["normalized_low"], row["normalized_high"] = replicate_interval(
                    reps, k, estimate, normalized=True, level=level)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(CROSSED_COLUMNS))


def normalized_estimate(values: np.ndarray, bounds: np.ndarray) -> float:
    """``(mean value - mean floor) / (mean upper - mean floor)`` over the images that have all
    three, as ``stats.summarise_similarity`` computes it: values (n_images,), bounds
    (n_images, 2) floor and upper."""
    ok = np.isfinite(values) & np.isfinite(bounds).all(axis=1)
    if not ok.any():
        return np.nan
    floor, upper = bounds[ok, 0].mean(), bounds[ok, 1].mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return float((values[ok].mean() - floor) / (upper - floor))


def save_replicates(replicates: Mapping[str, Replicates], path: str | os.PathLike) -> None:
    """Write every metric's :class:`Replicates` to one ``.npz``, atomically (the statistics
    rule's verdict resamples the same draws)."""
    arrays: dict[str, np.ndarray] = {}
    for metric, reps in replicates.items():
        arrays[f"{metric}/keys"] = np.array([f"{a}\t{b}" for a, b in reps.keys], dtype=str)
        for name in ("means", "floor", "upper", "observed"):
            arrays[f"{metric}/{name}"] = getattr(reps, name)
        arrays[f"{metric}/units"] = np.array([reps.n_participants, reps.n_identities])
        for family in ("by_participants", "by_identities"):
            if getattr(reps, family) is not None:
                arrays[f"{metric}/{family}"] = getattr(reps, family)
    with io.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_replicates(path: str | os.PathLike) -> dict[str, Replicates]:
    """Read :func:`save_replicates`'s file: metric -> :class:`Replicates`."""
    with np.load(path, allow_pickle=False) as data:
        metrics = sorted({name.split("/", 1)[0] for name in data.files})

        def family(m: str, name: str) -> np.ndarray | None:
            return data[f"{m}/{name}"] if f"{m}/{name}" in data.files else None

        return {m: Replicates(m, [tuple(k.split("\t", 1)) for k in data[f"{m}/keys"].tolist()],
                              data[f"{m}/means"], data[f"{m}/floor"], data[f"{m}/upper"],
                              data[f"{m}/observed"], family(m, "by_participants"),
                              family(m, "by_identities"), *data[f"{m}/units"].tolist())
                for m in metrics}


def apply_crossed_ci(summary: pd.DataFrame, crossed: pd.DataFrame) -> pd.DataFrame:
    """The similarity summary with its CIs replaced by the crossed ones where they exist.

    ``summary``: :func:`ferattention.stats.summarise_similarity`'s table; ``crossed``:
    :data:`CROSSED_COLUMNS`. Rows of ``summary`` matched by (model, method, metric) take
    ``ci_low, ci_high`` (and ``normalized_low, normalized_high`` where the summary has a
    normalized score) and get ``ci_resampling = "participants_images"``; the others keep their
    by-image CIs, ``ci_resampling = "images"``.
    """
    keys = ["model", "method", "metric"]
    out = summary.copy()
    out["ci_resampling"] = "images"
    if crossed.empty:
        return out
    joined = out[keys].merge(crossed, on=keys, how="left", validate="one_to_one")
    hit = joined["n_boot"].notna().to_numpy()
    for column in ("ci_low", "ci_high"):
        out.loc[hit, column] = joined.loc[hit, column].to_numpy()
    norm = hit & out["normalized"].notna().to_numpy()
    for column in ("normalized_low", "normalized_high"):
        out.loc[norm, column] = joined.loc[norm, column].to_numpy()
    out.loc[hit, "ci_resampling"] = "participants_images"
    return out


def with_shuffled(
    machine: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    labels: Mapping[str, str],
    seed: int,
) -> dict[tuple[str, str], Mapping[str, np.ndarray]]:
    """``machine`` plus the shuffled baseline ``(model, "shuffled_<m>")`` of every attention
    method ``m`` (not a baseline): each image takes the map of its partner of the same expression
    (:func:`ferattention.similarity.shuffle_partners` with ``seed``, as the rule
    ``similarity_shuffled`` pairs them); images without a partner are left out."""
    out = dict(machine)
    for (model, method), maps in machine.items():
        if is_baseline(method):
            continue
        partners = shuffle_partners({i: labels[i] for i in maps}, seed)
        out[(model, SHUFFLED_PREFIX + method)] = {i: maps[j] for i, j in partners.items()
                                                  if j is not None}
    return out
