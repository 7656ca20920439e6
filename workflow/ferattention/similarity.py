"""Similarity between machine attention maps and human attention maps (docs/design.md §8).

Every metric has one signature::

    metric(pred, ref, fixations=None) -> scores

``pred`` is the machine map, ``ref`` the human map, both float arrays of shape (N, H, W); a metric
compares ``pred[i]`` with ``ref[i]`` and returns one score per image, shape (N,). ``fixations`` is
a boolean (N, H, W) array marking the pixels where the participants clicked (model-input pixels);
only ``nss`` and ``auc_judd`` use it, and they raise ``ValueError`` without it. Computations run in
float64 and are vectorised over images (except ``emd``, which solves one transport problem per
image).

Definitions follow the MIT saliency benchmark code (cvzoya/saliency, ``code_forMetrics``) and
Bylinskii et al., "What do different evaluation metrics tell us about saliency models?", TPAMI 2019;
``spearman`` and ``iou_top10`` follow the Harmonization code (Fel et al., NeurIPS 2022). Where the
reference code is silent or returns NaN, the conventions below apply (all tested):

* Constant maps carry no spatial information. ``cc``, ``spearman`` and ``nss`` score a constant map
  0 (the value of an uninformative map; the references give NaN). For ``sim``, ``kl`` and ``emd``
  a constant map (an all-zero one included) is the uniform distribution (MIT leaves an all-zero map
  at zero and gives NaN for other constant maps in SIM). ``auc_judd`` gives a constant map 0.5.
  ``iou_top10`` gives 0 when either map has no pixel strictly above its 90th percentile (as the
  Harmonization code does through its epsilon) and a constant map its expected score under
  random tie-breaking (chance level, about 0.053 for 10% of the pixels).
* Ties (flat or clamped maps: a ReLU's zeros, EP's saturated masks, a constant map) never decide
  a score by raster order. ``iou_top10`` keeps exactly the top ``k`` pixels of each map, breaking
  ties at random, and averages over ``IOU_TIE_DRAWS`` seeded draws (see the function).
* ``kl`` mixes both distributions with a small uniform share ``KL_UNIFORM_MIX`` before comparing
  them, so a machine map that is exactly 0 where humans looked gets a finite, bounded penalty
  that is the same for every method (see the function).
* Negative values (CAM is not rectified) are shifted away by the map's minimum before a map is
  read as a distribution in ``kl`` and ``emd``; non-negative maps are used as they are (as MIT's
  KLdiv does). ``sim`` min-max normalises every map (as MIT's similarity does).
* ``auc_judd`` thresholds at every distinct saliency value found at a fixation instead of adding
  MIT's random 1e-7 jitter: it is deterministic and equals MIT's result whenever the map has no
  ties. An image without fixations, or with every pixel fixated, scores NaN (as in MIT).
  ``nss`` of an image without fixations is NaN as well.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from . import catalogue
from .methods import SHUFFLED_PREFIX, attention_methods

#: Share of uniform mass mixed into both maps in ``kl``: ``P' = (1 - a) P + a / n_pixels``.
KL_UNIFORM_MIX: float = 0.01

#: Top share of pixels, in percent, kept by ``iou_top10`` (Harmonization's ``percentile=10``).
IOU_TOP_PERCENT: float = 10.0

#: Seeded random tie-breaks averaged by ``iou_top10`` (seed ``IOU_TIE_SEED``), each used both ways.
IOU_TIE_DRAWS: int = 8
IOU_TIE_SEED: int = 0

#: Cells per side of the grid on which ``emd`` compares maps (MIT downsamples by 32).
EMD_GRID: int = 16

#: ``metric(pred (N, H, W), ref (N, H, W), fixations (N, H, W) bool or None) -> (N,)``.
MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


# --------------------------------------------------------------------------------------------
# input handling and normalisations


def _check_maps(
    pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None, need_fix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and flatten inputs to (N, H*W) float64 maps and an optional (N, H*W) bool mask."""
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.ndim != 3 or ref.ndim != 3:
        raise ValueError(f"maps must be (N, H, W) arrays, got pred {pred.shape} and ref {ref.shape}")
    if pred.shape != ref.shape:
        raise ValueError(f"pred {pred.shape} and ref {ref.shape} differ in shape")
    for name, arr in (("pred", pred), ("ref", ref)):
        bad = ~np.isfinite(arr).all(axis=(1, 2))
        if bad.any():
            raise ValueError(f"{name} has non-finite values in image(s) at index {np.flatnonzero(bad).tolist()}")
    n = pred.shape[0]
    fix = None
    if need_fix:
        if fixations is None:
            raise ValueError(f"metric {need_fix!r} needs the human fixation (click) maps; got None")
        fix = np.asarray(fixations)
        if fix.shape != pred.shape:
            raise ValueError(f"fixations {fix.shape} must have the maps' shape {pred.shape}")
        if fix.dtype != bool:
            if not np.isin(fix, (0, 1)).all():
                raise ValueError("fixations must be boolean (or 0/1) maps")
            fix = fix.astype(bool)
        fix = fix.reshape(n, -1)
    return pred.reshape(n, -1), ref.reshape(n, -1), fix


def _is_constant(x: np.ndarray) -> np.ndarray:
    """(N, P) -> (N,) True where a row is constant (tested exactly, not via a rounded variance)."""
    return np.ptp(x, axis=1) == 0


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation of (N, P) arrays; 0 where either row is constant."""
    out = np.zeros(a.shape[0])
    ok = ~(_is_constant(a) | _is_constant(b))
    a = a[ok] - a[ok].mean(axis=1, keepdims=True)
    b = b[ok] - b[ok].mean(axis=1, keepdims=True)
    out[ok] = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.clip(out, -1.0, 1.0)


def _uniform_where_constant(x: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Replace rows of ``dist`` whose source row in ``x`` is constant by the uniform distribution."""
    const = _is_constant(x)
    dist[const] = 1.0 / x.shape[1]
    return dist


def _minmax_distribution(x: np.ndarray) -> np.ndarray:
    """(N, P) maps -> distributions after min-max scaling to [0, 1] (MIT's SIM preprocessing)."""
    const = _is_constant(x)
    lo = x.min(axis=1, keepdims=True)
    span = np.where(const, 1.0, np.ptp(x, axis=1))[:, None]
    scaled = (x - lo) / span
    total = np.where(const, 1.0, scaled.sum(axis=1))[:, None]
    return _uniform_where_constant(x, scaled / total)


def _mass_distribution(x: np.ndarray) -> np.ndarray:
    """(N, P) maps -> distributions by dividing by the sum; negative maps are shifted by their minimum."""
    const = _is_constant(x)
    shifted = x - np.minimum(x.min(axis=1, keepdims=True), 0.0)
    total = np.where(const, 1.0, shifted.sum(axis=1))[:, None]
    return _uniform_where_constant(x, shifted / total)


#: Maps per block in the metrics that sort (:func:`spearman`, :func:`auc_judd`): each makes about
#: ten (N, P) index and value arrays, 1.5 GB at once for the noise ceiling's 2,880 split halves.
#: They work row by row, so blocks give the same values to the bit (tested).
ROW_BLOCK: int = 512


def _in_row_blocks(fn: MetricFn) -> MetricFn:
    """Apply a row-wise metric ``fn(pred, ref, fixations)`` to blocks of :data:`ROW_BLOCK` maps."""
    @functools.wraps(fn)
    def blocked(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
        n = len(pred)
        if n <= ROW_BLOCK:
            return fn(pred, ref, fixations)
        # checked whole first, so that an error names the map's index in the whole input
        _check_maps(pred, ref)
        if fixations is not None and np.shape(fixations) != np.shape(pred):
            raise ValueError(f"fixations {np.shape(fixations)} must have the maps' shape {np.shape(pred)}")
        return np.concatenate([
            fn(pred[i:i + ROW_BLOCK], ref[i:i + ROW_BLOCK],
               None if fixations is None else fixations[i:i + ROW_BLOCK])
            for i in range(0, n, ROW_BLOCK)])
    return blocked


# --------------------------------------------------------------------------------------------
# metrics


@_in_row_blocks
def spearman(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """Spearman rank correlation of the pixel values (Harmonization; ties get average ranks).

    Range [-1, 1], higher is better; 0 when either map is constant.
    """
    p, r, _ = _check_maps(pred, ref)
    return _pearson_rows(stats.rankdata(p, axis=1), stats.rankdata(r, axis=1))


def cc(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """Pearson linear correlation coefficient of the pixel values (MIT ``CC``).

    Range [-1, 1], higher is better; 0 when either map is constant.
    """
    p, r, _ = _check_maps(pred, ref)
    return _pearson_rows(p, r)


def sim(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """Similarity (histogram intersection) of the min-max normalised maps as distributions (MIT ``SIM``).

    ``sum_x min(P(x), Q(x))``; range [0, 1], 1 for identical maps, higher is better.
    """
    p, r, _ = _check_maps(pred, ref)
    return np.minimum(_minmax_distribution(p), _minmax_distribution(r)).sum(axis=1)


def kl(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """KL divergence KL(ref || pred) of the maps as distributions, in nats.

    ``sum_x Q'(x) log(Q'(x) / P'(x))`` with Q the human and P the machine distribution, each mixed
    with the uniform distribution: ``P' = (1 - a) P + a / n`` (``a = KL_UNIFORM_MIX = 0.01``, n
    pixels; likewise Q'). MIT's KLdiv regularises with MATLAB's ``eps`` (2^-52) instead, so a map
    that is exactly 0 where humans looked (GradCAM's ReLU, a saturated EP mask) costs about
    ``36 * Q(zero region)`` nats, and the score is decided by that constant rather than by the map
    (Bylinskii et al., TPAMI 2019, section on KL's sensitivity to zero-valued predictions). The
    mixture bounds every term: KL <= log(1 + (1 - a) n / a), e.g. 12.9 nats at 64 x 64. It is
    applied to both maps, so identical maps still score 0, and to every method alike; the value
    of ``a`` is this workflow's choice (1% of the mass, small beside any map's structure), not a
    published constant. Lower is better.
    """
    p, r, _ = _check_maps(pred, ref)
    a, n = KL_UNIFORM_MIX, p.shape[1]
    q_dist = (1 - a) * _mass_distribution(r) + a / n
    p_dist = (1 - a) * _mass_distribution(p) + a / n
    return special.rel_entr(q_dist, p_dist).sum(axis=1)


def nss(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """Normalised scanpath saliency: mean of the z-scored machine map at the clicked pixels (MIT ``NSS``).

    The map is standardised with the sample standard deviation (ddof=1, as MATLAB's ``std``).
    Units: standard deviations; 0 is chance, higher is better. ``ref`` is not used.
    """
    p, _, fix = _check_maps(pred, ref, fixations, need_fix="nss")
    const = _is_constant(p)
    sd = np.where(const, 1.0, p.std(axis=1, ddof=1))[:, None]
    z = np.where(const[:, None], 0.0, (p - p.mean(axis=1, keepdims=True)) / sd)
    n_fix = fix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_fix > 0, (z * fix).sum(axis=1) / n_fix, np.nan)


@_in_row_blocks
def auc_judd(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """Area under the ROC curve of the machine map as a classifier of clicked pixels (MIT ``AUC_Judd``).

    Thresholds are the map's values at the fixated pixels; at each threshold the true-positive
    rate is the share of fixated pixels at or above it and the false-positive rate the share of
    the other pixels at or above it; the curve from (0, 0) to (1, 1) is integrated with the
    trapezoid rule. 0.5 is chance, higher is better. ``ref`` is not used.
    """
    p, _, fix = _check_maps(pred, ref, fixations, need_fix="auc_judd")
    n, n_px = p.shape
    order = np.argsort(-p, axis=1, kind="stable")
    values = np.take_along_axis(p, order, axis=1)
    fixated = np.take_along_axis(fix, order, axis=1)
    n_fix = fixated.sum(axis=1)
    n_other = n_px - n_fix
    cum_fix = np.cumsum(fixated, axis=1)
    cum_other = np.cumsum(~fixated, axis=1)
    # A threshold counts every pixel >= it, ties included: take counts at the end of each tie run.
    run_end = np.ones((n, n_px), dtype=bool)
    run_end[:, :-1] = values[:, :-1] != values[:, 1:]
    end_of_run = np.minimum.accumulate(
        np.where(run_end, np.arange(n_px), n_px)[:, ::-1], axis=1
    )[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.take_along_axis(cum_fix, end_of_run, axis=1) / n_fix[:, None]
        fpr = np.take_along_axis(cum_other, end_of_run, axis=1) / n_other[:, None]
    # Curve points exist only at fixated positions; forward-filling the latest point over the
    # other positions adds zero-width segments, so one trapezoid over all positions is exact.
    last_fix = np.maximum.accumulate(np.where(fixated, np.arange(n_px), -1), axis=1)
    has_point = last_fix >= 0
    tpr = np.where(has_point, np.take_along_axis(tpr, np.maximum(last_fix, 0), axis=1), 0.0)
    fpr = np.where(has_point, np.take_along_axis(fpr, np.maximum(last_fix, 0), axis=1), 0.0)
    zeros, ones = np.zeros((n, 1)), np.ones((n, 1))
    tpr = np.hstack([zeros, tpr, ones])
    fpr = np.hstack([zeros, fpr, ones])
    area = np.trapezoid(tpr, fpr, axis=1)
    return np.where((n_fix > 0) & (n_other > 0), area, np.nan)


def top_count(n_pixels: int, percent: float = IOU_TOP_PERCENT) -> int:
    """Pixels kept as the top ``percent``: those strictly above ``np.percentile`` (linear) of a tie-free map.

    ``n - 1 - floor((1 - percent / 100) * (n - 1))``, e.g. 410 of 4096 and 10 of 100, so that on
    maps without ties :func:`iou_top10` equals the Harmonization code's strict comparison.
    """
    position = round((100.0 - percent) / 100.0 * (n_pixels - 1), 9)
    return int(n_pixels - 1 - np.floor(position))


def _top_split(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, P) maps -> (above, at, need): pixels above each row's k-th largest value, pixels equal
    to it (bool (N, P)), and how many of those complete the top ``k`` ((N,))."""
    kth = -np.partition(-x, k - 1, axis=1)[:, k - 1 : k]
    above, at = x > kth, x == kth
    return above, at, k - above.sum(axis=1)


def _draw_top(above: np.ndarray, at: np.ndarray, need: np.ndarray,
              keys: np.ndarray | None) -> np.ndarray:
    """The top-``k`` mask of :func:`_top_split`'s parts: the ``need`` tied pixels with the smallest
    ``keys`` (uniform random (N, P); unused where the whole run of ties fits in the top ``k``)."""
    mask = above.copy()
    n_at = at.sum(axis=1)
    whole = n_at == need
    mask[whole] |= at[whole]
    tied = np.flatnonzero(~whole)
    if len(tied):
        if keys is None:
            raise ValueError("ties at the cut need random keys")
        k = np.where(at[tied], keys[tied], np.inf)
        cut = np.sort(k, axis=1)[np.arange(len(tied)), need[tied] - 1][:, None]
        mask[tied] |= k <= cut
    return mask


def top_masks(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(N, P) maps -> bool (N, P): each row's ``k`` largest values, ties at the cut broken at random."""
    x = np.asarray(x, dtype=np.float64)
    return _draw_top(*_top_split(x, k), rng.random(x.shape))


def iou_top10(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None, *,
              draws: int = IOU_TIE_DRAWS, seed: int = IOU_TIE_SEED) -> np.ndarray:
    """Intersection over union of the top 10% pixels of both maps (Harmonization, tie-aware).

    Each map keeps exactly its :func:`top_count` largest pixels (410 of 64 x 64). Without ties
    that is the set the Harmonization code keeps (pixels strictly above the 90th percentile) and
    the score is the same. Where the cut falls inside a run of equal values (a flat plateau, a
    clamped or constant map), the pixels of the run are chosen at random and the IoU is averaged
    over ``draws`` draws from ``numpy.random.default_rng(seed)``; the code instead keeps none of
    the run, which scores a constant map 0 and a map with a flat top by its tie luck. Each draw
    makes two independent random orders and uses them both ways round (pred with the first, ref
    with the second, then the reverse), so the score stays exactly symmetric in its two maps. A
    constant map so scores chance, ``E[I / (2k - I)]`` with ``I`` hypergeometric (about 0.053).
    Images without a tie at either cut are exact in one evaluation. Range [0, 1], higher is
    better.
    """
    p, r, _ = _check_maps(pred, ref)
    if draws < 1:
        raise ValueError(f"iou_top10: draws must be >= 1, got {draws}")
    k = top_count(p.shape[1])
    parts_p, parts_r = _top_split(p, k), _top_split(r, k)
    tied = (parts_p[1].sum(axis=1) > parts_p[2]) | (parts_r[1].sum(axis=1) > parts_r[2])
    if not tied.any():
        inter = (_draw_top(*parts_p, None) & _draw_top(*parts_r, None)).sum(axis=1)
        return inter / (2 * k - inter)
    rng = np.random.default_rng(seed)
    total = np.zeros(len(p))
    for _ in range(draws):
        first, second = rng.random(p.shape), rng.random(p.shape)
        for keys_p, keys_r in ((first, second), (second, first)):
            inter = (_draw_top(*parts_p, keys_p) & _draw_top(*parts_r, keys_r)).sum(axis=1)
            total += inter / (2 * k - inter)
    return total / (2 * draws)


def _block_mean(maps: np.ndarray, grid: int) -> tuple[np.ndarray, float, float]:
    """(N, H, W) -> (N, gh, gw) block means with blocks of ceil(H/grid) x ceil(W/grid) pixels.

    Edge blocks are padded with the map's edge values. Returns the grid and the block size in
    pixels along y and x.
    """
    n, h, w = maps.shape
    by, bx = -(-h // grid), -(-w // grid)
    padded = np.pad(maps, ((0, 0), (0, by * -(-h // by) - h), (0, bx * -(-w // bx) - w)), mode="edge")
    gh, gw = padded.shape[1] // by, padded.shape[2] // bx
    return padded.reshape(n, gh, by, gw, bx).mean(axis=(2, 4)), float(by), float(bx)


def emd(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray | None = None) -> np.ndarray:
    """Earth mover's (Wasserstein-1) distance between the maps as distributions, in pixels.

    Both maps are averaged over blocks to a grid of at most ``EMD_GRID`` x ``EMD_GRID`` cells (MIT
    downsamples by 32 for the same reason: the transport problem grows with the square of the
    number of cells), read as distributions like in ``kl``, and compared with
    ``scipy.stats.wasserstein_distance_nd`` with the Euclidean ground distance between cell
    centres in pixels of the input maps. MIT's histogram matching is not applied (both maps are
    normalised to unit mass instead). 0 for identical maps, lower is better. One to several seconds per
    image on a 16 x 16 grid, so it is not among the default metrics.
    """
    p, r, _ = _check_maps(pred, ref)
    shape = np.shape(pred)
    p_grid, by, bx = _block_mean(p.reshape(shape), EMD_GRID)
    r_grid, _, _ = _block_mean(r.reshape(shape), EMD_GRID)
    gh, gw = p_grid.shape[1:]
    yy, xx = np.meshgrid(np.arange(gh) * by, np.arange(gw) * bx, indexing="ij")
    coords = np.column_stack([yy.ravel(), xx.ravel()])
    p_dist = _mass_distribution(p_grid.reshape(len(p), -1))
    r_dist = _mass_distribution(r_grid.reshape(len(r), -1))
    return np.array(
        [stats.wasserstein_distance_nd(coords, coords, pd_, rd_) for pd_, rd_ in zip(p_dist, r_dist)]
    )


# --------------------------------------------------------------------------------------------
# registry and table


@dataclass(frozen=True)
class Metric:
    """A similarity metric: ``fn(pred (N,H,W), ref (N,H,W), fixations (N,H,W) bool | None) -> (N,)``."""

    name: str
    fn: MetricFn
    higher_is_better: bool
    needs_fixations: bool
    description: str


def _metric(name: str, fn: MetricFn, description: str) -> Metric:
    """The metric ``name`` of :data:`ferattention.catalogue.METRICS` (its direction and needs)."""
    spec = catalogue.METRICS[name]
    return Metric(name, fn, spec.higher_is_better, spec.needs_fixations, description)


#: Every available metric by name (registered against :data:`ferattention.catalogue.METRICS`).
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _metric("spearman", spearman, "Spearman rank correlation of pixel values (Harmonization)"),
        _metric("cc", cc, "Pearson correlation coefficient (MIT CC)"),
        _metric("sim", sim, "histogram intersection of the maps as distributions (MIT SIM)"),
        _metric("kl", kl,
                "KL(human || machine) of the maps as distributions, 1% uniform mixture, nats"),
        _metric("nss", nss, "mean z-scored machine map at clicked pixels (MIT NSS)"),
        _metric("auc_judd", auc_judd, "ROC area of the machine map for clicked pixels (MIT AUC_Judd)"),
        _metric("iou_top10", iou_top10,
                "IoU of the top-10% pixels of both maps, ties broken at random (Harmonization)"),
        _metric("emd", emd, "earth mover's distance on a coarse grid, pixels (MIT EMD)"),
    )
}

#: Metrics computed unless a run asks otherwise (``emd`` is slow and optional).
DEFAULT_METRICS: tuple[str, ...] = catalogue.DEFAULT_METRICS


def similarity_table(
    machine: Mapping[str, np.ndarray],
    human: Mapping[str, np.ndarray],
    fixations: Mapping[str, np.ndarray] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> pd.DataFrame:
    """Score machine maps against human maps, one row per image and metric.

    ``machine`` and ``human`` map ``image_id`` to an (H, W) map, ``fixations`` maps ``image_id`` to
    a boolean (H, W) click map (needed only by metrics with ``needs_fixations``). Images are those
    of ``machine`` that have a human map, in ``machine``'s order (a saliency shard may hold images
    no participant saw); an empty overlap is an error. Returns a long frame with columns
    ``image_id, metric, value`` (the caller adds ``model`` and ``method``).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown similarity metric(s) {unknown}; available: {list(METRICS)}")
    ids = [i for i in machine if i in human]
    if not ids:
        raise ValueError(
            f"no image_id has both a machine and a human map (machine e.g. {list(machine)[:3]}, "
            f"human e.g. {list(human)[:3]})"
        )
    for i in ids:
        if np.shape(machine[i]) != np.shape(human[i]) or np.ndim(machine[i]) != 2:
            raise ValueError(
                f"image_id {i!r}: machine map {np.shape(machine[i])} and human map "
                f"{np.shape(human[i])} must be equal (H, W) shapes"
            )
    pred = np.stack([machine[i] for i in ids])
    ref = np.stack([human[i] for i in ids])
    fix = None
    if any(METRICS[m].needs_fixations for m in metrics):
        if fixations is None:
            needing = [m for m in metrics if METRICS[m].needs_fixations]
            raise ValueError(f"metric(s) {needing} need fixation maps, but none were given")
        missing = [i for i in ids if i not in fixations]
        if missing:
            raise ValueError(f"no fixation map for image_id(s) {missing[:5]} ({len(missing)} in all)")
        fix = np.stack([np.asarray(fixations[i]) for i in ids])
    frames = [
        pd.DataFrame({"image_id": ids, "metric": m, "value": METRICS[m].fn(pred, ref, fix)})
        for m in metrics
    ]
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------
# the shuffled baseline

def shuffle_partners(labels: Mapping[str, str], seed: int = 0) -> dict[str, str | None]:
    """Pair every image with another image of the same expression: ``image_id -> partner image_id``.

    ``labels`` maps image_id to its expression. Within each expression the images are put in a
    random order (``numpy.random.default_rng(seed)``, images sorted by id first so the result does
    not depend on the mapping's order) and each takes the next one's map, the last the first's: a
    random cyclic permutation, so no image is its own partner (a derangement) and every map is
    used exactly once, keeping the method's distribution of map shapes and sizes intact. An
    expression with a single image has no partner: ``None`` (scored NaN by the caller).
    """
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for image_id in sorted(labels):
        by_label.setdefault(str(labels[image_id]), []).append(image_id)
    partners: dict[str, str | None] = {}
    for label in sorted(by_label):
        ids = by_label[label]
        if len(ids) == 1:
            partners[ids[0]] = None
            continue
        cycle = [ids[i] for i in rng.permutation(len(ids))]
        partners.update(zip(cycle, cycle[1:] + cycle[:1]))
    return partners


def shuffled_similarity_table(
    machine: Mapping[str, np.ndarray],
    human: Mapping[str, np.ndarray],
    fixations: Mapping[str, np.ndarray] | None,
    labels: Mapping[str, str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """The shuffled baseline: each image's human map scored against the machine map of its partner.

    Partners come from :func:`shuffle_partners` over the images of ``machine`` (``labels`` must
    name the expression of each). Returns the table of :func:`similarity_table` (same images and
    columns; images whose expression has a single image get NaN values) and the ids without a
    partner, for the caller to log.
    """
    missing = [i for i in machine if i not in labels]
    if missing:
        raise ValueError(f"shuffled baseline: no expression label for image_id {missing[0]!r} "
                         f"({len(missing)} in all)")
    partners = shuffle_partners({i: labels[i] for i in machine}, seed)
    shuffled = {i: machine[partners[i]] for i in machine if partners[i] is not None}
    alone = [i for i in machine if partners[i] is None]
    table = (similarity_table(shuffled, human, fixations, metrics)
             if any(i in human for i in shuffled) else None)
    scored = [i for i in machine if i in human]
    nan_rows = pd.DataFrame({"image_id": [i for m in metrics for i in alone if i in human],
                             "metric": [m for m in metrics for i in alone if i in human],
                             "value": np.nan})
    frames = [f for f in (table, nan_rows) if f is not None and not f.empty]
    if not frames:
        raise ValueError("shuffled baseline: no image has both a machine and a human map")
    out = pd.concat(frames, ignore_index=True)
    order = {i: n for n, i in enumerate(scored)}
    out = out.assign(_m=out["metric"].map({m: n for n, m in enumerate(metrics)}),
                     _i=out["image_id"].map(order))
    return out.sort_values(["_m", "_i"]).drop(columns=["_m", "_i"]).reset_index(drop=True), alone


def instance_similarity_table(
    maps_by_method: Mapping[str, Mapping[str, np.ndarray]],
    human: Mapping[str, np.ndarray],
    fixations: Mapping[str, np.ndarray] | None,
    labels: Mapping[str, str],
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Every map set of one network instance against the human maps (rule ``similarity``).

    ``maps_by_method`` maps each method of the instance, in the run's order, to its
    ``{image_id: (H, W) map}``. Scores each method (:func:`similarity_table`), then
    ``shuffled_<m>`` for every attention method ``m`` among them
    (:func:`shuffled_similarity_table` of ``m``'s maps with ``labels`` and ``seed``), in that
    order. Returns the long frame with columns ``image_id, method, metric, value`` (the caller
    adds ``model`` and ``seed``): the rows of the per-method tables one after the other, and, per
    shuffled baseline, the ids without a partner (scored NaN), for the caller to log.
    """
    frames, alone = [], {}
    for method, maps in maps_by_method.items():
        frames.append(similarity_table(maps, human, fixations, metrics).assign(method=method))
    for method in attention_methods(list(maps_by_method)):
        name = SHUFFLED_PREFIX + method
        table, alone[name] = shuffled_similarity_table(maps_by_method[method], human, fixations,
                                                       labels, metrics, seed=seed)
        frames.append(table.assign(method=name))
    if not frames:
        raise ValueError("similarity: no map set to score")
    return (pd.concat(frames, ignore_index=True)[["image_id", "method", "metric", "value"]],
            alone)


# --------------------------------------------------------------------------------------------
# facial regions


def region_shares(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each map's mass in each facial region and outside them all.

    ``maps``: float (N, H, W); ``masks``: (N, R, H, W) of 0/1 (``labels.REGIONS`` order for the
    workflow's region files), disjoint (a pixel in two regions is an error). Returns float64
    (N, R + 1): the shares of the R regions, then ``rest``; each row sums to 1.

    Mass is the map read as a distribution, as ``kl`` and ``emd`` read it: a map with negative
    values (CAM is not rectified) is shifted by its minimum first, so its least attended pixel
    has mass 0 (rectifying instead would discard CAM's negative evidence and leave an all-negative
    map without mass); non-negative maps are used as they are; a constant map (all-zero included)
    is uniform, so its shares are the regions' areas.
    """
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks)
    if maps.ndim != 3 or masks.ndim != 4 or masks.shape[0] != maps.shape[0] \
            or masks.shape[2:] != maps.shape[1:]:
        raise ValueError(f"region_shares: maps must be (N, H, W) and masks (N, R, H, W) of the same "
                         f"N, H, W; got {maps.shape} and {masks.shape}")
    if not np.isfinite(maps).all():
        raise ValueError("region_shares: maps contain non-finite values")
    masks = masks.astype(bool)
    if (masks.sum(axis=1) > 1).any():
        raise ValueError("region_shares: region masks overlap (a pixel is in two regions)")
    n = maps.shape[0]
    dist = _mass_distribution(maps.reshape(n, -1))                     # (N, P), rows sum to 1
    inside = np.einsum("np,nrp->nr", dist, masks.reshape(n, masks.shape[1], -1).astype(np.float64))
    rest = np.clip(1.0 - inside.sum(axis=1, keepdims=True), 0.0, None)
    return np.concatenate([inside, rest], axis=1)


#: Columns of ``results/tables/regions.csv``.
REGION_COLUMNS: tuple[str, ...] = ("image_id", "agent", "method", "region", "share")


def region_table(
    sources: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    masks: Mapping[str, np.ndarray],
    regions: Sequence[str],
    include_area: bool = True,
) -> pd.DataFrame:
    """Long table of :func:`region_shares` for several map sets, with the regions' areas.

    ``sources`` maps ``(agent, method)`` (e.g. ``("human", "human")``, ``("model:cnn", "gradcam")``)
    to ``{image_id: (H, W) map}``; ``masks`` maps image_id to its (R, H, W) masks, named by
    ``regions``. Every source is scored on the images that have masks; an image of a source
    without masks is an error naming it. Rows ``agent="area", method="uniform"`` give each
    region's share of the image (what a uniform map would get), on the images of the first source
    (without them when ``include_area`` is false: call once per source to bound memory). An empty ``masks`` (regions unknown) gives an empty table with the columns of
    :data:`REGION_COLUMNS`.
    """
    names = [*regions, "rest"]
    if not masks or not sources:
        return pd.DataFrame(columns=list(REGION_COLUMNS))
    frames = []
    first = next(iter(sources.values()))
    items = list(sources.items())
    if include_area:
        items.append((("area", "uniform"), {k: np.zeros_like(v, dtype=np.float32)
                                            for k, v in first.items()}))
    for (agent, method), maps in items:
        ids = sorted(maps)
        lacking = [i for i in ids if i not in masks]
        if lacking:
            raise ValueError(f"region masks: no masks for image_id {lacking[0]!r} "
                             f"({agent}, {method})")
        if not ids:
            continue
        shares = region_shares(np.stack([maps[i] for i in ids]), np.stack([masks[i] for i in ids]))
        if shares.shape[1] != len(names):
            raise ValueError(f"region masks have {shares.shape[1] - 1} regions, expected "
                             f"{len(regions)} ({', '.join(regions)})")
        frames.append(pd.DataFrame({
            "image_id": np.repeat(ids, len(names)), "agent": agent, "method": method,
            "region": np.tile(names, len(ids)), "share": shares.ravel(),
        }))
    return pd.concat(frames, ignore_index=True)[list(REGION_COLUMNS)]
