"""Crossed bootstrap (participants x images) of the mean similarity of machine maps to human maps.

The by-image bootstrap of ``similarity_summary.csv`` treats each image's human map as fixed, so
its confidence intervals ignore that another sample of participants would have clicked elsewhere.
Where each participant's clicks are known, this module resamples participants and images
together, as :func:`ferattention.stats.crossed_bootstrap_ci` does for accuracy. Replicate ``b``
draws participant counts ``c_p`` (multinomial, ``n_p`` draws) and image counts ``c_i``
(``n_i`` draws, independently), then

* every image's human map is rebuilt from the drawn participants with multiplicity: the sum
  ``sum_p c_p B[i, p]`` of their blurred click maps (blurring is linear, so this equals smoothing
  the summed clicks as :func:`ferattention.humans.human_maps` does), normalised to sum 1;
* each method's map of the image is scored against it (``V[b, i]``);
* the replicate mean is ``sum_i c_i V[b, i] / sum_i c_i`` over the images that have a value.

The percentile interval of the replicate means is the CI. An image none of whose drawn
participants saw it has no human map in that replicate and drops out of its mean; an image whose
drawn participants saw it but clicked nothing gets the uniform map, which every metric scores as
the workflow does (0 for ``cc`` and ``spearman``).

Only ``cc`` and ``spearman`` are supported (:data:`CROSSED_METRICS`): both are a correlation of a
rebuilt human map with fixed machine maps, so one rebuilt map (and, for spearman, its ranks)
serves every model and method at once, and the correlations are one matrix product per image.
The other metrics would need every pair scored anew in every replicate; they keep the by-image CI.

The normalized score's interval (``normalized_low``, ``normalized_high``) uses the same
replicates with each image's floor and upper bound (``reliability.csv``) held at their values:
``(sum c_i V - sum c_i floor_i) / (sum c_i upper_i - sum c_i floor_i)``.

Cost: per image and chunk of replicates, a (chunk, n_p) x (n_p, S*S) product, the ranks of the
(chunk, S*S) rebuilt maps (spearman) and a (chunk, S*S) x (S*S, rows) product; memory holds the
blurred click maps of every participant and image, n_images x n_participants x S*S float64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.ndimage import gaussian_filter

from .humans.maps import _ORDER_WEIGHTING, trial_maps
from .methods import SHUFFLED_PREFIX, is_baseline
from .similarity import shuffle_partners

#: Metrics with a crossed bootstrap; the others keep the by-image CI.
CROSSED_METRICS: tuple[str, ...] = ("cc", "spearman")

#: Columns of ``results/similarity/crossed_ci.csv``.
CROSSED_COLUMNS: tuple[str, ...] = (
    "model", "method", "metric", "n_boot", "ci_low", "ci_high", "normalized_low", "normalized_high",
)

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
                        geometries)
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


def _percentile(replicates: np.ndarray, level: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2:
        return np.nan, np.nan
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


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
) -> pd.DataFrame:
    """Crossed-bootstrap CIs of the mean similarity of every model and method (module docstring).

    ``parts``, ``seen``, ``image_ids``: from :func:`participant_maps`. ``machine``: (model,
    method) -> image_id -> (S, S) map (images without a human map are ignored). ``metrics``: the
    subset of :data:`CROSSED_METRICS` to do. ``reliability``: the per-image ``floor`` and
    ``upper`` of ``reliability.csv`` (columns ``image_id, metric, floor, upper``) for the
    normalized score's CI, or None. The draws depend only on ``seed`` and the sorted ids, and are
    the same for every row and metric. Returns :data:`CROSSED_COLUMNS`, one row per (model,
    method, metric), in ``machine``'s order.
    """
    unknown = [m for m in metrics if m not in CROSSED_METRICS]
    if unknown:
        raise ValueError(f"crossed bootstrap supports {CROSSED_METRICS}, not {unknown}")
    n_images, n_people, n_pixels = parts.shape
    if seen.shape != (n_images, n_people) or len(image_ids) != n_images:
        raise ValueError(f"participant maps {parts.shape}, seen {seen.shape} and {len(image_ids)} "
                         "image ids disagree")
    keys = list(machine)
    rng = np.random.default_rng(seed)
    people_counts = draw_counts(n_people, n_boot, rng)
    image_counts = draw_counts(n_images, n_boot, rng)
    rows = []
    for metric in metrics:
        values = np.full((n_boot, n_images, len(keys)), np.nan)
        for i, image_id in enumerate(image_ids):
            have = [k for k, key in enumerate(keys) if image_id in machine[key]]
            if not have:
                continue
            maps = np.stack([np.asarray(machine[keys[k]][image_id], dtype=np.float64).ravel()
                             for k in have])
            if maps.shape[1] != n_pixels:
                raise ValueError(f"image_id {image_id!r}: machine maps have {maps.shape[1]} "
                                 f"pixels, the human maps {n_pixels}")
            values[:, i, have] = replicate_scores(parts[i], seen[i], maps, people_counts, metric)
        means = weighted_means(values, image_counts)
        bounds = None
        if reliability is not None:
            rel = reliability[reliability["metric"] == metric].set_index("image_id")
            bounds = rel.reindex(list(image_ids))[["floor", "upper"]].to_numpy(dtype=float)
        for k, (model, method) in enumerate(keys):
            low, high = _percentile(means[:, k], level)
            row = {"model": model, "method": method, "metric": metric, "n_boot": n_boot,
                   "ci_low": low, "ci_high": high, "normalized_low": np.nan,
                   "normalized_high": np.nan}
            if bounds is not None:
                row["normalized_low"], row["normalized_high"] = _percentile(
                    _normalized(values[:, :, k], bounds, image_counts), level)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(CROSSED_COLUMNS))


def _normalized(values: np.ndarray, bounds: np.ndarray, image_counts: np.ndarray) -> np.ndarray:
    """Replicate normalized scores: values (B, n_images), bounds (n_images, 2) floor and upper."""
    ok = np.isfinite(values) & np.isfinite(bounds).all(axis=1)[None, :]
    w = image_counts * ok
    floor, upper = np.nan_to_num(bounds[:, 0]), np.nan_to_num(bounds[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_floor = (w @ floor) / w.sum(axis=1)
        return (((w * np.where(ok, values, 0.0)).sum(axis=1) / w.sum(axis=1) - mean_floor)
                / ((w @ upper) / w.sum(axis=1) - mean_floor))


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
