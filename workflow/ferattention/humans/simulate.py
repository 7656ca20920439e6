"""Simulated observers for the embedded default (docs/design.md §11.2).

A simulated participant does what the real task asks: the face is hidden, each click uncovers a
disk, and the participant answers when it has seen enough. The model, per trial with options
``(a, b)``:

* Evidence. The diagnostic table gives, for the pair ``(a, b)``, the weight ``w_r`` of each face
  region ``r`` (how much of the difference between the two poses lies there). Uncovering a
  fraction ``f_r`` of region ``r`` yields evidence ``E = sum_r w_r f_r`` (``E = 1`` when every
  region is uncovered; regions with an empty mask are left out and the rest renormalised).
* Where to click. By default, with probability ``diagnostic_preference`` the participant aims
  at the expected gain of a click: the evidence density (where the diagnostic information is)
  convolved with the reveal disk; otherwise at a generic face prior (a Gaussian at the centroid
  of the face regions). An ``attention`` map per image plants another density instead (the
  centre, a uniform density, any method's maps: see :func:`attention_density`), and then every
  click aims at it (convolved with the disk), the face prior only once nothing of it is left
  covered: a recovery study's truth is the density the clicks aim at, not a mixture. Already
  uncovered pixels are excluded (nobody re-uncovers the same spot on purpose); the aimed point is
  scattered by Gaussian motor/spatial noise ``spatial_noise`` (stimulus pixels).
* Stray clicks (``noise``, 0 by default). With probability ``noise`` a click aims at no density
  at all but anywhere still covered, uniformly: participants who agree less. Their maps grow
  apart, and the split-half reliability of the human maps falls with ``noise`` from that of the
  observers above (``noise = 0``) to about 0 (every click astray). :func:`calibrate_noise` finds
  the ``noise`` that gives a target split-half Spearman correlation (``humans.simulated.
  reliability``): real click maps are much noisier than the default observers' (ClickMe's split-
  half Spearman is about 0.65 [Fel2022], the default's about 0.84).
* When to stop. After each click, once ``E >= threshold`` (and at least ``min_clicks``), or at
  ``max_clicks``. With a planted attention map, once ``attention_threshold`` of the map's mass
  is uncovered instead: the observer stops when they have seen what their attention points at.
* The answer. Correct with probability ``0.5 + 0.5 (1 - exp(-E / evidence_scale))``, except that
  with probability ``lapse`` the answer is a coin flip.
* Times. First click after ``first_click_ms``, then intervals around the participant's
  ``click_interval_ms`` (log-normal, coefficient of variation ``interval_cv``); the answer
  ``decision_ms`` after the last click.

Participant-level parameters are drawn once per participant from a normal ``(mean, sd)`` clipped
to a plausible range; trial-level times are drawn per trial. The output is exactly the two CSV
schemas of docs/design.md §4.4, so simulated data goes through the same ingestion as real data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import correlate

from ..labels import REGIONS
from .ingest import CLICK_COLUMNS, TRIAL_COLUMNS
from .maps import reveal_mask
from .reliability import noise_ceiling

#: Defaults. Pairs are ``(mean, sd)`` of a normal: per participant for the first five keys,
#: per trial for the two times; ``_BOUNDS`` clips the draws.
DEFAULT_PARAMS: dict[str, Any] = {
    # Tuned so that human maps differ between images (the noise ceiling's upper bound minus the
    # floor is 0.16 on spearman at the default): a comparison of methods needs that spread.
    "diagnostic_preference": (0.97, 0.02),  # probability that a click aims at the attention, [0, 1]
    "spatial_noise": (3.0, 1.0),            # sd of click scatter, stimulus pixels
    "threshold": (0.7, 0.05),               # evidence at which the participant answers
    # With a planted attention map: the share of its mass seen at which the participant answers
    # (lower than `threshold`: a broad map, such as the centre's, would otherwise be uncovered
    # almost whole, and every human map would become the same disk; 0.3 rather than 0.5: the
    # fewer disks per trial, the less their union saturates where the map is broad, docs/design.md
    # §7.4.2).
    "attention_threshold": (0.3, 0.05),
    "lapse": (0.03, 0.02),                 # probability of a random answer
    "click_interval_ms": (650.0, 100.0),   # participant's mean time between clicks
    "first_click_ms": (1000.0, 250.0),     # per trial: time from onset to the first click
    "decision_ms": (700.0, 200.0),         # per trial: time from the last click to the answer
    "interval_cv": 0.25,                   # click-to-click variability within a participant
    "evidence_scale": 0.3,                 # evidence for 1 - 1/e of the way to certainty
    "prior_sigma": 0.25,                   # sd of the face prior, fraction of the image size
    # How strongly a click aims at the most informative spot still covered: the expected gain is
    # raised to this power (1: clicks in proportion to the gain; large: the best spot first, as
    # an ideal searcher does, Najemnik & Geisler 2005). Applies to the evidence (`regions`) only:
    # a planted map is followed in proportion, so that it stays the truth of a recovery study.
    "focus": 8.0,
    "min_clicks": 1,
    "max_clicks": 40,
}
_BOUNDS: dict[str, tuple[float, float]] = {
    "diagnostic_preference": (0.0, 1.0),
    "spatial_noise": (0.0, np.inf),
    "threshold": (0.02, 1.0),
    "attention_threshold": (0.02, 1.0),
    "lapse": (0.0, 0.5),
    "click_interval_ms": (250.0, np.inf),
    "first_click_ms": (300.0, np.inf),
    "decision_ms": (200.0, np.inf),
}
_PARTICIPANT_KEYS = ("diagnostic_preference", "spatial_noise", "threshold", "attention_threshold",
                     "lapse", "click_interval_ms")


def simulate_observers(trials: pd.DataFrame, masks: Mapping[str, np.ndarray],
                       diagnostic: pd.DataFrame, image_size: int, n_participants: int,
                       seed: int, stimulus_size: int, reveal_radius: float,
                       params: Mapping[str, Any] | None = None,
                       attention: Mapping[str, np.ndarray] | None = None,
                       noise: float = 0.0,
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate ``n_participants`` observers on the 2AFC trials; return (trials, clicks) CSVs.

    Parameters
    ----------
    trials
        The model trial list: ``trial_id, image_id, option_a, option_b, label``. Each
        participant sees every image once, in one of its trials drawn at random, with the option
        order randomised; ``trial_id`` is kept so human and model trials can be paired.
    masks
        image_id -> uint8 (4, S, S) region masks in :data:`~ferattention.labels.REGIONS` order.
    diagnostic
        ``expression_a, expression_b, region, weight`` (``data/diagnostic_regions.csv``,
        docs/design.md §5.1).
    image_size
        S, the model input size of ``masks``.
    n_participants, seed
        Participants ``sim001 ...``; participant k's behaviour depends only on ``seed`` and k.
    stimulus_size
        The square stimulus shown, in pixels (the model image scaled up).
    reveal_radius
        Radius of the uncovered disk, stimulus pixels.
    params
        Overrides of :data:`DEFAULT_PARAMS` (unknown keys are an error).
    attention
        Optional image_id -> (S, S) density (>= 0, any scale) that the clicks aim at instead of
        the evidence (module docstring); every image of ``trials`` needs one. The evidence, and
        so the answers and when to stop, still come from the diagnostic regions.
    noise
        Probability in [0, 1] that a click is a stray one, aimed uniformly at the still covered
        stimulus (module docstring). The stray decisions come from a random stream of their own,
        so that 0 gives exactly the trials and clicks of observers without it. See
        :func:`calibrate_noise`.

    Returns
    -------
    ``trials``: ``participant_id, trial_id, image_id, option_a, option_b, response, rt_ms,
    stimulus_width, stimulus_height``; ``clicks``: ``participant_id, trial_id, click_index
    (1-based), x, y (stimulus pixels, 2 decimals), t_ms``.
    """
    p = _params(params)
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    if n_participants < 1:
        raise ValueError(f"n_participants must be >= 1, got {n_participants}")
    missing = {"trial_id", "image_id", "option_a", "option_b", "label"} - set(trials.columns)
    if missing:
        raise ValueError(f"trials lack column(s) {sorted(missing)}")
    weights = _diagnostic_weights(diagnostic)
    scale = stimulus_size / image_size                # stimulus pixels per model pixel
    radius = reveal_radius / scale                     # model pixels
    trials_of = {i: g.reset_index(drop=True)
                 for i, g in trials.astype({"trial_id": str, "image_id": str}).groupby("image_id")}
    images = sorted(trials_of)
    for image_id in images:
        shape = np.shape(masks[image_id]) if image_id in masks else None
        if shape != (len(REGIONS), image_size, image_size):
            raise ValueError(f"region masks of image {image_id!r}: expected shape "
                             f"{(len(REGIONS), image_size, image_size)}, got {shape}")
    if attention is not None:
        for image_id in images:
            shape = np.shape(attention[image_id]) if image_id in attention else None
            if shape != (image_size, image_size):
                raise ValueError(f"attention map of image {image_id!r}: expected shape "
                                 f"{(image_size, image_size)}, got {shape}")
    scenes = _SceneCache(masks, weights, image_size, radius, p["prior_sigma"], attention,
                         focus=p["focus"])

    width = max(3, len(str(n_participants)))
    trial_rows, click_rows = [], []
    for k, seq in enumerate(np.random.SeedSequence(seed).spawn(n_participants)):
        rng = np.random.default_rng(seq)
        # Stray clicks draw from a stream of their own: without them (noise 0) nothing is drawn
        # from it, and the participant's other draws are those of a run without the setting.
        stray_rng = np.random.default_rng(seq.spawn(1)[0]) if noise > 0 else None
        pid = f"sim{k + 1:0{width}d}"
        person = {key: _draw(rng, p[key], key) for key in _PARTICIPANT_KEYS}
        for image_id in images:
            options = trials_of[image_id]
            trial = options.iloc[int(rng.integers(len(options)))]
            a, b = (trial["option_a"], trial["option_b"])
            if rng.random() < 0.5:
                a, b = b, a
            if trial["label"] not in (a, b):
                raise ValueError(f"trial {trial['trial_id']!r}: label {trial['label']!r} "
                                 f"is not among the options ({a!r}, {b!r})")
            density, gain, prior = scenes.get(image_id, a, b)
            xs, ys, evidence = _explore(rng, density, gain, prior, person, p, radius, scale,
                                        scenes.looked_at(image_id), noise, stray_rng)
            lapse = rng.random() < person["lapse"]
            p_correct = 0.5 if lapse else 0.5 + 0.5 * (1 - np.exp(-evidence / p["evidence_scale"]))
            correct = rng.random() < p_correct
            response = trial["label"] if correct else (b if trial["label"] == a else a)
            times = _click_times(rng, len(xs), person, p)
            rt = times[-1] + _draw(rng, p["decision_ms"], "decision_ms")
            trial_rows.append((pid, trial["trial_id"], image_id, a, b, response, round(rt),
                               stimulus_size, stimulus_size))
            click_rows += [(pid, trial["trial_id"], n + 1, x, y, round(t))
                           for n, (x, y, t) in enumerate(zip(xs, ys, times[:len(xs)]))]
    out_trials = pd.DataFrame(trial_rows, columns=[*TRIAL_COLUMNS, "stimulus_width",
                                                   "stimulus_height"])
    out_clicks = pd.DataFrame(click_rows, columns=list(CLICK_COLUMNS))
    return out_trials, out_clicks


#: ``humans.simulated.reliability`` is met within this: the mean split-half Spearman correlation
#: of the human maps (``results/humans/reliability.csv``) lies this close to the target, or
#: :func:`calibrate_noise` raises.
RELIABILITY_TOLERANCE = 0.03


@dataclass(frozen=True)
class NoiseCalibration:
    """What :func:`calibrate_noise` found: the stray-click probability and what it gives.

    ``split_half`` is the mean over images of the split-half Spearman correlation of the human
    maps made from ``trials`` and ``clicks`` (the simulation at ``noise``), computed exactly as
    rule human_reliability computes it. ``evaluations`` lists every ``(noise, split_half)`` tried,
    in order.
    """

    target: float
    noise: float
    split_half: float
    evaluations: tuple[tuple[float, float], ...]
    trials: pd.DataFrame = field(repr=False)
    clicks: pd.DataFrame = field(repr=False)


def calibrate_noise(target: float, trials: pd.DataFrame, masks: Mapping[str, np.ndarray],
                    diagnostic: pd.DataFrame, image_size: int, n_participants: int, seed: int,
                    stimulus_size: int, reveal_radius: float, *, maps: Mapping[str, Any],
                    repeats: int, split_seed: int, params: Mapping[str, Any] | None = None,
                    attention: Mapping[str, np.ndarray] | None = None,
                    tolerance: float = 0.01, max_evaluations: int = 16) -> NoiseCalibration:
    """The stray-click probability ``noise`` at which the human maps have a target reliability.

    The reliability is the mean over images of the ``split_half`` Spearman correlation of
    :func:`~.reliability.noise_ceiling`. Each evaluation simulates the whole study
    (:func:`simulate_observers` with the same seed, participants and images) and measures it with
    the same settings as rule human_reliability, so the value found is the one that table will
    hold. The search is deterministic. The reliability falls with ``noise``, steeply near 0 (a few
    stray disks on the background reorder many pixels), so it runs on ``u = sqrt(noise)``: first
    ``noise = 0`` (the observers as they are), then ``u = 0.5`` (and 1 if that is not yet low
    enough) to bracket the target, then regula falsi with the Illinois step inside the bracket.
    It stops at the first simulation within ``tolerance`` of the target (at the default, the
    fourth for 0.65) and returns that simulation, so the study is not simulated once more.

    Parameters
    ----------
    target
        The mean split-half Spearman correlation wanted, in [0, 1].
    trials, masks, diagnostic, image_size, n_participants, seed, stimulus_size, reveal_radius,
    params, attention
        As :func:`simulate_observers` takes them.
    maps
        How the human maps are made: the keyword arguments of :func:`~.reliability.noise_ceiling`
        (``reveal_radius``, ``blur_sigma``, ``order_weighting``, ...), the workflow's
        ``HUMAN_MAP_SETTINGS``.
    repeats, split_seed
        ``humans.reliability``'s ``repeats`` and ``seed``: the random splits of the ceiling.
    tolerance
        The search stops within this of the target; in (0, :data:`RELIABILITY_TOLERANCE`].
    max_evaluations
        At most this many simulations (>= 3).

    Raises
    ------
    ValueError
        If the target lies outside what stray clicks can reach: more than
        :data:`RELIABILITY_TOLERANCE` above the observers' reliability without them (stray clicks
        only lower it; a larger reveal disk or less ``spatial_noise`` raise it), or as far below
        that of clicks all astray.
    RuntimeError
        If no simulation within ``max_evaluations`` came within :data:`RELIABILITY_TOLERANCE`.
    """
    from ..similarity import METRICS  # the metric of the reliability table

    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target reliability must be in [0, 1], got {target}")
    if not 0.0 < tolerance <= RELIABILITY_TOLERANCE:
        raise ValueError(f"tolerance must be in (0, {RELIABILITY_TOLERANCE}], got {tolerance}")
    if max_evaluations < 3:
        raise ValueError(f"max_evaluations must be >= 3, got {max_evaluations}")
    metric = {"spearman": METRICS["spearman"].fn}
    evaluations: list[tuple[float, float]] = []
    best: dict[str, Any] = {}

    def gap(u: float) -> float:
        """Split-half reliability at ``noise = u**2`` minus the target; keeps the closest run."""
        noise = min(u * u, 1.0)
        t, c = simulate_observers(trials, masks, diagnostic, image_size, n_participants, seed,
                                  stimulus_size, reveal_radius, params=params,
                                  attention=attention, noise=noise)
        table = noise_ceiling(t, c, metric, repeats, split_seed, image_size=image_size, **maps)
        value = float(table["split_half"].mean())
        if not math.isfinite(value):
            raise ValueError("the split-half reliability is undefined (NaN): it needs at least "
                             "2 participants per image")
        evaluations.append((noise, value))
        if not best or abs(value - target) < abs(best["value"] - target):
            best.update(noise=noise, value=value, trials=t, clicks=c)
        return value - target

    def result() -> NoiseCalibration:
        if abs(best["value"] - target) > RELIABILITY_TOLERANCE:
            raise RuntimeError(
                f"no stray-click probability met the split-half Spearman reliability "
                f"{target:g} within {RELIABILITY_TOLERANCE} in {len(evaluations)} simulations; "
                f"the closest, noise {best['noise']:.4g}, gave {best['value']:.3f} "
                f"(tried: {_tried(evaluations)})")
        return NoiseCalibration(target=target, noise=best["noise"], split_half=best["value"],
                                evaluations=tuple(evaluations), trials=best["trials"],
                                clicks=best["clicks"])

    lo, g_lo = 0.0, gap(0.0)
    if g_lo <= tolerance:      # met without stray clicks, or above what they can reach
        if -g_lo > RELIABILITY_TOLERANCE:
            raise ValueError(
                f"a split-half Spearman reliability of {target:g} is above that of these "
                f"observers without stray clicks ({target + g_lo:.3f}), and stray clicks only "
                "lower it: ask for less, or raise humans.reveal_radius (or lower "
                "humans.simulated.params.spatial_noise)")
        return result()
    hi, g_hi = 0.5, gap(0.5)
    if g_hi > 0:
        if g_hi <= tolerance:
            return result()
        lo, g_lo = hi, g_hi
        hi, g_hi = 1.0, gap(1.0)
        if g_hi > tolerance:
            if g_hi > RELIABILITY_TOLERANCE:
                raise ValueError(
                    f"a split-half Spearman reliability of {target:g} is below that of these "
                    f"observers with every click astray ({target + g_hi:.3f}): ask for more")
            return result()
    # Regula falsi on [lo, hi], gap(lo) > 0 > gap(hi); the Illinois step halves the value kept
    # at an end that stays twice in a row, so that the bracket closes from both sides.
    side = 0
    while (abs(best["value"] - target) > tolerance and len(evaluations) < max_evaluations
           and hi - lo > 1e-6):
        u = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
        u = min(max(u, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
        g = gap(u)
        if g > 0:
            lo, g_lo = u, g
            if side == 1:
                g_hi /= 2
            side = 1
        elif g < 0:
            hi, g_hi = u, g
            if side == -1:
                g_lo /= 2
            side = -1
        else:
            break
    return result()


def _tried(evaluations: list[tuple[float, float]]) -> str:
    return ", ".join(f"noise {n:.4g}: {v:.3f}" for n, v in evaluations)


def expected_attention(trials: pd.DataFrame, masks: Mapping[str, np.ndarray],
                       diagnostic: pd.DataFrame, image_size: int,
                       attention: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The density simulated clicks aim at, per image: ``image_id -> float64 (S, S)``, sum 1.

    With a planted ``attention`` map, that map (rectified, normalised); with the default
    (``regions``), the evidence density averaged over the image's option pairs in ``trials``
    (each participant draws one of them at random). What a method would have to match to
    be the most human-like by construction; arguments as :func:`simulate_observers` takes them.
    """
    # One cache for every image; only its evidence density is used here, so the disk radius and
    # prior width it also takes do not matter.
    scenes = _SceneCache(masks, _diagnostic_weights(diagnostic), image_size, 1.0, 0.25)
    out = {}
    for image_id, group in trials.astype({"image_id": str}).groupby("image_id"):
        if attention is not None:
            m = np.clip(np.asarray(attention[image_id], dtype=float), 0, None)
        else:
            m = np.mean([scenes.get(image_id, a, b)[0]
                         for a, b in zip(group["option_a"], group["option_b"])], axis=0)
        out[image_id] = m / m.sum() if m.sum() > 0 else np.full(m.shape, 1.0 / m.size)
    return out


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    p = dict(DEFAULT_PARAMS)
    unknown = set(params or {}) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown simulated-observer parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(DEFAULT_PARAMS)}")
    for key, value in (params or {}).items():
        if isinstance(DEFAULT_PARAMS[key], tuple):
            value = tuple(float(v) for v in value)
            if len(value) != 2 or value[1] < 0:
                raise ValueError(f"parameter {key!r} must be [mean, sd] with sd >= 0, got {value}")
        p[key] = value
    if not 1 <= p["min_clicks"] <= p["max_clicks"]:
        raise ValueError(f"need 1 <= min_clicks <= max_clicks, got {p['min_clicks']}, "
                         f"{p['max_clicks']}")
    if (p["evidence_scale"] <= 0 or p["prior_sigma"] <= 0 or p["interval_cv"] < 0
            or p["focus"] <= 0):
        raise ValueError("evidence_scale, prior_sigma and focus must be > 0, interval_cv >= 0")
    return p


def _draw(rng: np.random.Generator, mean_sd: tuple[float, float], key: str) -> float:
    low, high = _BOUNDS[key]
    return float(np.clip(rng.normal(*mean_sd), low, high))


def _diagnostic_weights(diagnostic: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """(expression_a, expression_b) -> weights (4,) in REGIONS order."""
    missing = {"expression_a", "expression_b", "region", "weight"} - set(diagnostic.columns)
    if missing:
        raise ValueError(f"diagnostic table lacks column(s) {sorted(missing)}")
    out: dict[tuple[str, str], np.ndarray] = {}
    for (a, b), g in diagnostic.groupby(["expression_a", "expression_b"]):
        w = g.set_index("region")["weight"].reindex(list(REGIONS))
        if w.isna().any() or (w < 0).any():
            raise ValueError(f"diagnostic weights of ({a}, {b}) must give a weight >= 0 for each "
                             f"of {list(REGIONS)}; got {g[['region', 'weight']].values.tolist()}")
        out[(a, b)] = w.to_numpy(dtype=float)
    return out


class _SceneCache:
    """Per (image, option pair): evidence density, expected gain of a click, face prior."""

    def __init__(self, masks: Mapping[str, np.ndarray], weights: dict, image_size: int,
                 radius: float, prior_sigma: float,
                 attention: Mapping[str, np.ndarray] | None = None, focus: float = 1.0) -> None:
        self.masks, self.weights, self.size = masks, weights, image_size
        self.focus = focus
        self.attention = attention
        self.attention_gain: dict[str, np.ndarray] = {}
        self.prior_sigma = prior_sigma * image_size
        r = int(np.floor(radius))
        offsets = np.arange(-r, r + 1)
        self.disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2).astype(float)
        self.cache: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def get(self, image_id: str, a: str, b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (image_id, *sorted((a, b)))
        if key not in self.cache:
            if (a, b) not in self.weights:
                raise ValueError(f"the diagnostic table has no rows for the pair ({a}, {b})")
            regions = np.asarray(self.masks[image_id]) > 0              # (4, S, S)
            area = regions.sum(axis=(1, 2))
            w = np.where(area > 0, self.weights[(a, b)], 0.0)
            w = w / w.sum() if w.sum() > 0 else w
            # Evidence per pixel: uncovering all of region r gives w_r.
            density = np.tensordot(w / np.maximum(area, 1), regions.astype(float), axes=1)
            gain = (_sharpen(correlate(density, self.disk, mode="constant"), self.focus)
                    if self.attention is None else self._attention_gain(image_id))
            self.cache[key] = (density, gain, self._prior(regions))
        return self.cache[key]

    def looked_at(self, image_id: str) -> np.ndarray | None:
        """The planted attention density of an image, sum 1 (None for the default, ``regions``)."""
        if self.attention is None:
            return None
        density = np.clip(np.asarray(self.attention[image_id], dtype=float), 0, None)
        if not np.isfinite(density).all() or density.sum() <= 0:
            density = np.ones((self.size, self.size))   # no information: anywhere
        return density / density.sum()

    def _attention_gain(self, image_id: str) -> np.ndarray:
        """The planted attention density convolved with the reveal disk (one per image)."""
        if image_id not in self.attention_gain:
            self.attention_gain[image_id] = correlate(self.looked_at(image_id), self.disk,
                                                      mode="constant")
        return self.attention_gain[image_id]

    def _prior(self, regions: np.ndarray) -> np.ndarray:
        face = regions.any(axis=0)
        rows, cols = np.nonzero(face) if face.any() else (np.array([self.size / 2 - 0.5]),) * 2
        centre = np.arange(self.size) + 0.0
        gy = np.exp(-0.5 * ((centre - rows.mean()) / self.prior_sigma) ** 2)
        gx = np.exp(-0.5 * ((centre - cols.mean()) / self.prior_sigma) ** 2)
        return gy[:, None] * gx[None, :]


def _sharpen(gain: np.ndarray, focus: float) -> np.ndarray:
    """``(gain / max(gain)) ** focus``: 1 leaves the gain as it is, larger values aim at its peak."""
    top = gain.max()
    return (gain / top) ** focus if top > 0 else gain


def _explore(rng: np.random.Generator, density: np.ndarray, gain: np.ndarray, prior: np.ndarray,
             person: dict[str, float], p: dict[str, Any], radius: float, scale: float,
             attention: np.ndarray | None = None, noise: float = 0.0,
             stray_rng: np.random.Generator | None = None,
             ) -> tuple[list[float], list[float], float]:
    """Click until enough is seen; return click positions (stimulus px) and the evidence.

    Enough is ``threshold`` of the evidence ``density`` uncovered or, with a planted
    ``attention`` density, of that density: an observer who looks where the planted source says
    stops once they have seen what it points at, and answers on the evidence found there.
    With probability ``noise`` (drawn from ``stray_rng``) a click is a stray one, aimed uniformly
    at the still covered pixels.
    """
    size = density.shape[0]
    stimulus = size * scale
    revealed = np.zeros(density.shape, dtype=bool)
    xs: list[float] = []
    ys: list[float] = []
    evidence = 0.0
    while len(xs) < p["max_clicks"]:
        # A planted map is followed by every click; the evidence with the participant's preference.
        aims = attention is not None or rng.random() < person["diagnostic_preference"]
        target = gain if aims else prior
        if noise > 0 and stray_rng.random() < noise:   # a stray click: anywhere still covered
            target = np.ones(density.shape)
        weights = (target * ~revealed).ravel()
        if weights.sum() <= 0:    # nothing left there: look anywhere still covered, else anywhere
            weights = (prior * ~revealed).ravel()
            if weights.sum() <= 0:
                weights = np.ones(size * size)
        cell = rng.choice(size * size, p=weights / weights.sum())
        row, col = divmod(int(cell), size)
        x = (col + rng.random()) * scale + rng.normal(0, person["spatial_noise"])
        y = (row + rng.random()) * scale + rng.normal(0, person["spatial_noise"])
        x, y = (round(float(np.clip(v, 0, stimulus)), 2) for v in (x, y))
        xs.append(x)
        ys.append(y)
        revealed |= reveal_mask([x / scale], [y / scale], radius, density.shape)
        evidence = float(density[revealed].sum())
        seen, enough = ((evidence, person["threshold"]) if attention is None
                        else (float(attention[revealed].sum()), person["attention_threshold"]))
        if seen >= enough and len(xs) >= p["min_clicks"]:
            break
    return xs, ys, evidence


def _click_times(rng: np.random.Generator, n: int, person: dict[str, float],
                 p: dict[str, Any]) -> np.ndarray:
    """Click times in ms from trial onset, (n,) with n >= 1."""
    s = np.sqrt(np.log1p(p["interval_cv"] ** 2))   # log-normal with mean 1 and the given cv
    intervals = person["click_interval_ms"] * rng.lognormal(-s * s / 2, s, size=n - 1)
    first = _draw(rng, p["first_click_ms"], "first_click_ms")
    return first + np.concatenate([[0.0], np.cumsum(intervals)])
