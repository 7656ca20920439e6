"""Human attention maps from clicks (docs/design.md §7.2).

Coordinate convention, for stimulus and model images alike: continuous pixel coordinates with
the origin at the top-left *corner* of the image, x to the right, y down. Pixel (row i, column j)
covers [j, j+1) x [i, i+1) and has its centre at (j + 0.5, i + 0.5); an image of width W spans
[0, W]. A click reveals every pixel whose centre lies inside its disk, and always the pixel under
the click itself (so a tiny radius still reveals something).

Human maps are computed directly at the model input size: click positions and the reveal radius
are mapped from stimulus pixels to model pixels (:func:`to_model_coords`), which is the exact
counterpart of drawing the disks on the stimulus and rescaling the picture.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from ..catalogue import schema_defaults

#: Defaults of the ``humans`` settings: the config schema (their one source).
_HUMANS = schema_defaults("humans")
_ORDER_WEIGHTING = _HUMANS["order_weighting"]

#: Per-image preprocessing record, for stimuli that show the ORIGINAL image:
#: ``crop=(left, top, right, bottom)`` in original pixels (PIL's crop-box convention: the box's
#: continuous edges; a box reaching outside the image stands for padding),
#: ``original_size=(width, height)`` of the original image in pixels (default: the stimulus size,
#: i.e. the original shown 1:1), ``size`` the model input size the crop was resized to (must equal
#: ``image_size``; default ``image_size``).
Geometry = Mapping[str, Any]

ORDER_WEIGHTINGS: tuple[str, ...] = ("none", "linear", "exponential")

#: Human map definitions (``humans.maps``): ``revealed``, the union of the disks each click
#: uncovered; ``clicks``, the clicks as fixations, a weight at the pixel of each click, to be
#: smoothed with a Gaussian of ``humans.click_sigma`` as ClickMe and BubbleView maps are
#: (Linsley et al. 2019; Kim et al. 2017).
MAP_DEFINITIONS: tuple[str, ...] = ("revealed", "clicks")
_GEOMETRY_KEYS = {"crop", "original_size", "size"}


def stimulus_to_model_scale(stimulus_width: float, stimulus_height: float, image_size: int,
                            geometry: Geometry | None = None) -> tuple[float, float]:
    """Model pixels per stimulus pixel along x and y: ``(sx, sy)``.

    By default the stimulus is the preprocessed image scaled to the stimulus size, so
    ``sx = image_size / stimulus_width``. With a ``geometry`` record (see :data:`Geometry`) the
    stimulus shows the original image: stimulus -> original -> crop -> resize.
    """
    if geometry is None:
        return image_size / stimulus_width, image_size / stimulus_height
    left, top, right, bottom, orig_w, orig_h = _geometry(geometry, stimulus_width,
                                                         stimulus_height, image_size)
    return (orig_w / stimulus_width * image_size / (right - left),
            orig_h / stimulus_height * image_size / (bottom - top))


def to_model_coords(x: np.ndarray | float, y: np.ndarray | float,
                    stimulus_width: np.ndarray | float, stimulus_height: np.ndarray | float,
                    image_size: int, geometry: Geometry | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Map stimulus pixel coordinates to model-input pixel coordinates (continuous, see module).

    The default is a pure scale, so the stimulus centre ``(w/2, h/2)`` lands on
    ``(image_size/2, image_size/2)`` and the corners on the corners. With ``geometry`` the point
    goes stimulus -> original image (scale by ``original_size / stimulus size``) -> crop (shift
    by ``(left, top)``) -> model input (scale by ``image_size / crop size``); points outside the
    crop map outside ``[0, image_size]``. Arrays broadcast.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if geometry is None:
        return x * image_size / stimulus_width, y * image_size / stimulus_height
    left, top, right, bottom, orig_w, orig_h = _geometry(geometry, stimulus_width,
                                                         stimulus_height, image_size)
    u = x * orig_w / stimulus_width
    v = y * orig_h / stimulus_height
    return (u - left) * image_size / (right - left), (v - top) * image_size / (bottom - top)


def _geometry(geometry: Geometry, stimulus_width: float, stimulus_height: float,
              image_size: int) -> tuple[float, float, float, float, Any, Any]:
    unknown = set(geometry) - _GEOMETRY_KEYS
    if unknown or "crop" not in geometry:
        raise ValueError(f"geometry record needs 'crop' and allows only {sorted(_GEOMETRY_KEYS)}; "
                         f"got keys {sorted(geometry)}")
    left, top, right, bottom = (float(v) for v in geometry["crop"])
    if not (right > left and bottom > top):
        raise ValueError(f"geometry crop {geometry['crop']} must have right > left, bottom > top")
    # Without original_size the original is shown 1:1 (values may be per-click arrays).
    orig_w, orig_h = geometry.get("original_size", (stimulus_width, stimulus_height))
    size = geometry.get("size", image_size)
    if tuple(np.broadcast_to(size, 2)) != (image_size, image_size):
        raise ValueError(f"geometry size {size} differs from the model input size {image_size}")
    return left, top, right, bottom, orig_w, orig_h


def _radii(radius: float | tuple[float, float]) -> tuple[float, float]:
    rx, ry = (float(r) for r in np.broadcast_to(np.asarray(radius, dtype=float), 2))
    if rx < 0 or ry < 0:
        raise ValueError(f"reveal radius must be >= 0, got {radius}")
    return rx, ry


def _paint(canvas: np.ndarray, xs: np.ndarray, ys: np.ndarray, weights: np.ndarray,
           radius: float | tuple[float, float]) -> None:
    """Raise ``canvas`` (H, W) to ``weight`` on each click's disk (in place; max, not sum)."""
    height, width = canvas.shape
    rx, ry = _radii(radius)
    for x, y, w in zip(xs, ys, weights):
        j0, j1 = max(int(np.ceil(x - rx - 0.5)), 0), min(int(np.floor(x + rx - 0.5)), width - 1)
        i0, i1 = max(int(np.ceil(y - ry - 0.5)), 0), min(int(np.floor(y + ry - 0.5)), height - 1)
        if j0 <= j1 and i0 <= i1 and rx > 0 and ry > 0:
            dx = (np.arange(j0, j1 + 1) + 0.5 - x) / rx
            dy = (np.arange(i0, i1 + 1) + 0.5 - y) / ry
            inside = dy[:, None] ** 2 + dx[None, :] ** 2 <= 1.0
            block = canvas[i0:i1 + 1, j0:j1 + 1]
            block[inside] = np.maximum(block[inside], w)
        if 0 <= x <= width and 0 <= y <= height:   # the pixel under the click
            i, j = min(int(y), height - 1), min(int(x), width - 1)
            canvas[i, j] = max(canvas[i, j], w)


def reveal_mask(xs: np.ndarray, ys: np.ndarray, radius: float | tuple[float, float],
                shape: tuple[int, int]) -> np.ndarray:
    """Union of the disks revealed by clicks at ``(xs, ys)`` (model pixels), bool ``shape`` (H, W).

    ``radius`` is in model pixels; a pair ``(rx, ry)`` gives ellipses (a disk on a stimulus that
    is scaled unequally along x and y). Pixels are revealed when their centre is inside.
    """
    canvas = np.zeros(shape, dtype=float)
    xs = np.atleast_1d(np.asarray(xs, dtype=float))
    _paint(canvas, xs, np.atleast_1d(np.asarray(ys, dtype=float)), np.ones(len(xs)), radius)
    return canvas > 0


def order_weights(n: int, order_weighting: str = _ORDER_WEIGHTING, order_decay: float = 0.5) -> np.ndarray:
    """Weight of the k-th click (k = 0 first) of a trial with ``n`` clicks, float (n,).

    ``none``: 1; ``linear``: ``(n - k) / n`` (first 1, last 1/n); ``exponential``:
    ``order_decay ** k``. Earlier clicks weigh more: they go where the observer expects the
    most information.
    """
    k = np.arange(n, dtype=float)
    if order_weighting == "none":
        return np.ones(n)
    if order_weighting == "linear":
        return (n - k) / n
    if order_weighting == "exponential":
        if not 0 < order_decay <= 1:
            raise ValueError(f"order_decay must be in (0, 1], got {order_decay}")
        return order_decay ** k
    raise ValueError(f"order_weighting must be one of {ORDER_WEIGHTINGS}, got {order_weighting!r}")


def check_definition(definition: str) -> str:
    """``definition`` if it is one of :data:`MAP_DEFINITIONS`, else a ValueError naming them."""
    if definition not in MAP_DEFINITIONS:
        raise ValueError(f"human map definition must be one of {MAP_DEFINITIONS}, "
                         f"got {definition!r}")
    return definition


def _click_pixels(mx: np.ndarray, my: np.ndarray, image_size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model pixels of clicks at model coordinates: ``(inside, rows, cols)``, ``inside`` the
    mask of clicks on the model input (a crop can leave some outside), rows and cols of those."""
    mx, my = np.atleast_1d(mx), np.atleast_1d(my)
    inside = (mx >= 0) & (mx <= image_size) & (my >= 0) & (my <= image_size)
    cols = np.minimum(mx[inside].astype(int), image_size - 1)
    rows = np.minimum(my[inside].astype(int), image_size - 1)
    return inside, rows, cols


def trial_map(x: np.ndarray, y: np.ndarray, stimulus_width: float, stimulus_height: float,
              image_size: int, reveal_radius: float, order_weighting: str = _ORDER_WEIGHTING,
              order_decay: float = 0.5, geometry: Geometry | None = None,
              definition: str = "revealed") -> np.ndarray:
    """One trial's plane of the human map, float64 (S, S), not normalised.

    ``x, y``: the trial's clicks in click order, stimulus pixels. ``definition`` ``revealed``
    (:data:`MAP_DEFINITIONS`): what the trial uncovered, disks of ``reveal_radius`` stimulus
    pixels; each pixel holds the weight (:func:`order_weights`) of the most heavily weighted
    click that revealed it, so without weighting the plane is the union of the disks (0/1).
    ``clicks``: each click adds its weight at the model pixel containing it (clicks mapping
    outside the model input are left out), the plane to be smoothed with ``click_sigma``.
    """
    mx, my = to_model_coords(x, y, stimulus_width, stimulus_height, image_size, geometry)
    mx, my = np.atleast_1d(mx), np.atleast_1d(my)
    weights = order_weights(np.size(mx), order_weighting, order_decay)
    canvas = np.zeros((image_size, image_size))
    if check_definition(definition) == "clicks":
        inside, rows, cols = _click_pixels(mx, my, image_size)
        np.add.at(canvas, (rows, cols), weights[inside])
        return canvas
    sx, sy = stimulus_to_model_scale(stimulus_width, stimulus_height, image_size, geometry)
    _paint(canvas, mx, my, weights, (reveal_radius * sx, reveal_radius * sy))
    return canvas


def _clicks_by_trial(clicks: pd.DataFrame) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Clicks of each (participant_id, trial_id), in click order: key -> (x, y)."""
    ordered = clicks.sort_values(["participant_id", "trial_id", "click_index"], kind="stable")
    x, y = ordered["x"].to_numpy(dtype=float), ordered["y"].to_numpy(dtype=float)
    groups = ordered.reset_index(drop=True).groupby(["participant_id", "trial_id"], sort=False)
    return {key: (x[idx], y[idx]) for key, idx in groups.indices.items()}


def _trial_rows(trials: pd.DataFrame):
    cols = ["participant_id", "trial_id", "image_id", "stimulus_width", "stimulus_height"]
    missing = set(cols) - set(trials.columns)
    if missing:
        raise ValueError(f"trials lack column(s) {sorted(missing)} (use load_human_data)")
    return trials[cols].itertuples(index=False, name=None)


def trial_maps(trials: pd.DataFrame, clicks: pd.DataFrame, image_size: int,
               reveal_radius: float, order_weighting: str = _ORDER_WEIGHTING, order_decay: float = 0.5,
               geometries: Mapping[str, Geometry] | None = None, definition: str = "revealed"
               ) -> np.ndarray:
    """Each trial's plane: float64 (n_trials, S, S), row k for ``trials``' k-th row.

    Each plane is :func:`trial_map` of the trial's clicks under ``definition`` (all zeros for a
    trial without clicks). Summing planes and then :func:`aggregate_map` gives the map of any
    subset of trials, e.g. a split half of the participants (:mod:`.reliability`).
    """
    order_weights(1, order_weighting, order_decay)   # validate the options up front
    check_definition(definition)
    geometries = geometries or {}
    by_trial = _clicks_by_trial(clicks)
    out = np.zeros((len(trials), image_size, image_size))
    for k, (pid, tid, image_id, width, height) in enumerate(_trial_rows(trials)):
        if (pid, tid) in by_trial:
            x, y = by_trial[(pid, tid)]
            out[k] = trial_map(x, y, width, height, image_size, reveal_radius, order_weighting,
                               order_decay, geometries.get(image_id), definition)
    return out


def aggregate_map(total: np.ndarray, blur_sigma: float) -> np.ndarray:
    """A summed click map (S, S) -> human attention map, float32 (S, S) summing to 1.

    Smoothed with a Gaussian of ``blur_sigma`` model pixels (``scipy.ndimage.gaussian_filter``,
    reflecting borders so no mass is lost; 0 = no smoothing) and normalised to sum 1. A map
    without clicks becomes the uniform map ``1 / S**2`` (no information on where people looked).
    """
    if blur_sigma < 0:
        raise ValueError(f"blur_sigma must be >= 0, got {blur_sigma}")
    total = np.asarray(total, dtype=float)
    if total.sum() == 0:
        return np.full(total.shape, 1.0 / total.size, np.float32)
    if blur_sigma > 0:
        total = gaussian_filter(total, blur_sigma, mode="reflect")
    return (total / total.sum()).astype(np.float32)


def human_maps(trials: pd.DataFrame, clicks: pd.DataFrame, image_size: int,
               reveal_radius: float, blur_sigma: float, order_weighting: str = _ORDER_WEIGHTING,
               order_decay: float = 0.5, geometries: Mapping[str, Geometry] | None = None,
               definition: str = "revealed") -> dict[str, np.ndarray]:
    """Human attention map of every image in ``trials``: ``image_id -> float32 (S, S)``, sum 1.

    The map is the sum over the image's trials of :func:`trial_map` under ``definition``
    (``revealed``: disks of ``reveal_radius`` stimulus pixels; ``clicks``: the clicks' pixels;
    optionally weighted by click order), smoothed with ``blur_sigma`` model pixels (for
    ``clicks`` pass ``humans.click_sigma``) and normalised by :func:`aggregate_map`.

    ``trials`` and ``clicks`` as returned by :func:`~.ingest.load_human_data`; ``geometries``
    optionally maps image_id -> :data:`Geometry` for stimuli that show the original image.
    """
    if blur_sigma < 0:
        raise ValueError(f"blur_sigma must be >= 0, got {blur_sigma}")
    order_weights(1, order_weighting, order_decay)   # validate the options up front
    check_definition(definition)
    geometries = geometries or {}
    by_trial = _clicks_by_trial(clicks)
    sums: dict[str, np.ndarray] = {}   # accumulated image by image: memory O(images), not trials
    for pid, tid, image_id, width, height in _trial_rows(trials):
        total = sums.setdefault(image_id, np.zeros((image_size, image_size)))
        if (pid, tid) in by_trial:
            x, y = by_trial[(pid, tid)]
            total += trial_map(x, y, width, height, image_size, reveal_radius, order_weighting,
                               order_decay, geometries.get(image_id), definition)
    return {image_id: aggregate_map(sums[image_id], blur_sigma) for image_id in sorted(sums)}


def trial_fixations(trials: pd.DataFrame, clicks: pd.DataFrame, image_size: int,
                    geometries: Mapping[str, Geometry] | None = None) -> np.ndarray:
    """Click positions of each trial as fixations: bool (n_trials, S, S), row k for ``trials``' k-th row.

    The pixel of a click is the model pixel containing its mapped position; clicks mapping
    outside the model input (outside a crop) are left out.
    """
    geometries = geometries or {}
    by_trial = _clicks_by_trial(clicks)
    out = np.zeros((len(trials), image_size, image_size), dtype=bool)
    for k, (pid, tid, image_id, width, height) in enumerate(_trial_rows(trials)):
        if (pid, tid) not in by_trial:
            continue
        x, y = to_model_coords(*by_trial[(pid, tid)], width, height, image_size,
                               geometries.get(image_id))
        _, rows, cols = _click_pixels(x, y, image_size)
        out[k, rows, cols] = True
    return out


def fixation_maps(trials: pd.DataFrame, clicks: pd.DataFrame, image_size: int,
                  geometries: Mapping[str, Geometry] | None = None) -> dict[str, np.ndarray]:
    """Click positions as fixations: ``image_id -> bool (S, S)``, True at each clicked pixel.

    For the fixation-based metrics (NSS, AUC-Judd): the union of :func:`trial_fixations` over
    the image's trials. Images without clicks get an all-False map.
    """
    planes = trial_fixations(trials, clicks, image_size, geometries)
    fixations: dict[str, np.ndarray] = {}
    for image_id, plane in zip(trials["image_id"].tolist(), planes):
        fixations[image_id] = fixations.get(image_id, False) | plane
    return {k: fixations[k] for k in sorted(fixations)}


def revealed_fraction(trials: pd.DataFrame, clicks: pd.DataFrame, image_size: int,
                      reveal_radius: float, face_masks: Mapping[str, np.ndarray] | None = None,
                      geometries: Mapping[str, Geometry] | None = None) -> pd.Series:
    """Fraction of the face uncovered when the participant answered, per trial.

    Returns a float Series aligned with ``trials.index`` named ``revealed_fraction``, for
    ``trials["revealed_fraction"] = revealed_fraction(...)``. The uncovered area is the union of
    the trial's disks at the model input size. With ``face_masks`` (image_id -> bool (S, S)) it
    is the fraction of the face mask; without, of the whole image. An empty face mask gives NaN.
    """
    geometries = geometries or {}
    by_trial = _clicks_by_trial(clicks)
    values = np.zeros(len(trials))
    for n, (pid, tid, image_id, width, height) in enumerate(_trial_rows(trials)):
        area = (np.ones((image_size, image_size), dtype=bool) if face_masks is None
                else np.asarray(face_masks[image_id], dtype=bool))
        if area.shape != (image_size, image_size):
            raise ValueError(f"face mask of {image_id!r} has shape {area.shape}, "
                             f"expected {(image_size, image_size)}")
        if (pid, tid) in by_trial:
            x, y = by_trial[(pid, tid)]
            shown = trial_map(x, y, width, height, image_size, reveal_radius,
                              geometry=geometries.get(image_id)) > 0
        else:
            shown = np.zeros_like(area)
        values[n] = (shown & area).sum() / area.sum() if area.any() else np.nan
    return pd.Series(values, index=trials.index, name="revealed_fraction")
