"""Parametric synthetic faces posed by facial action units: the embedded default dataset.

No face data set can be downloaded where the default workflow runs (docs/design.md §11.1), so the
default run draws gray cartoon faces whose expressions are built from FACS action units (AU), and
whose region masks and diagnostic regions are therefore known exactly.

Geometry lives in *face units*: x to the image's right, y down, the face centre at the origin and
the face about 1.7 units tall. Every part is an approximate signed distance field (negative inside)
evaluated on the pixel grid and anti-aliased by its distance in pixels (a one-pixel linear ramp).
An image is built by painting layers back to front.

Action units (Ekman, Friesen & Hager, FACS 2002) are parameter changes of the parts they move:

====  ======================  ===========================================================
AU    name                    effect here
====  ======================  ===========================================================
1     inner brow raiser       inner brow end up (brows slant up towards the middle)
2     outer brow raiser       outer brow end and arch up
4     brow lowerer            brows down and together, vertical wrinkles between them
5     upper lid raiser        upper lid up (white shows above the iris), crease hidden
6     cheek raiser            lower lid pushed up, crow's feet, cheeks raised
7     lid tightener           lids narrowed, lower lid raised and tensed
9     nose wrinkler           wrinkles on the bridge, nostrils up and flared, upper lip up
12    lip corner puller       mouth corners up and out (smile), lips thinned, parted
14    dimpler                 mouth corner tightened inwards, dimple beside it
15    lip corner depressor    mouth corners down
16    lower lip depressor     lower lip pulled down (mouth opens at the bottom)
20    lip stretcher           mouth corners pulled sideways, lips flattened
23    lip tightener           lips narrowed and thinned, lip line pressed dark
26    jaw drop                mouth opens (lower lip down), corners drawn in
====  ======================  ===========================================================

An expression at intensity ``i`` sets each of its AUs to ``i`` (with a small per-image jitter when
a random generator is given), so low intensities give subtle, partly ambiguous faces.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .labels import EXPRESSIONS, REGIONS, check_expressions

#: Prototypical AU combinations of the canonical expressions (docs/design.md §11.1).
EXPRESSION_AUS: dict[str, tuple[int, ...]] = {
    "neutral": (),
    "happy": (6, 12),
    "sad": (1, 4, 15),
    "surprise": (1, 2, 5, 26),
    "fear": (1, 2, 4, 5, 20, 26),
    "disgust": (9, 15, 16),
    "anger": (4, 5, 7, 23),
    "contempt": (12, 14),
}

#: Expressions posed on one side of the face only; their AUs act on the image's right half.
UNILATERAL: frozenset[str] = frozenset({"contempt"})

#: Distance (pixels) by which each region mask extends beyond the drawn part.
MASK_MARGIN_PX = 1.5

_N_AU = 27  # AU numbers index the activation array directly


@dataclass(frozen=True)
class FaceIdentity:
    """Identity parameters of one synthetic person (face units; gray levels in [0, 1]).

    Drawn by :func:`sample_identity`; the expression changes these through AUs at render time.
    """

    face_a: float  # half-width of the face
    face_b: float  # half-height of the face
    chin_taper: float  # relative narrowing of the jaw towards the chin
    skin: float
    background: float
    hair: float  # gray level of the hair; ignored when ``bald``
    bald: bool
    hairline: float  # y of the hairline at the midline
    hairline_curve: float  # how fast the hairline rises towards the temples
    hair_length: float  # y where the hair ends beside the face
    eye_x: float  # x of the eye centres (mirrored)
    eye_y: float
    eye_w: float  # half-width of the eye opening
    eye_hu: float  # height of the upper lid above the eye centre line
    eye_hl: float  # depth of the lower lid below it
    iris_r: float
    iris: float
    brow_gap: float  # eye line minus brow line
    brow_x: float  # x of the inner brow ends
    brow_len: float
    brow_thick: float  # half-thickness at the inner end
    brow_arch: float
    brow_tilt: float  # >0: outer end lower than inner end
    brow: float
    nose_y: float  # y of the nostrils
    nose_w: float  # half-width of the nose wings
    mouth_y: float
    mouth_w: float  # half-width of the mouth
    lip_u: float  # upper lip thickness
    lip_l: float  # lower lip thickness
    lip_dark: float  # how much darker the lips are than the skin
    mouth_rest: float  # resting corner height (>0 droops)


@dataclass(frozen=True)
class Pose:
    """Per-image viewing conditions: in-plane rotation, shift and scale, lighting and noise."""

    angle: float = 0.0  # radians, counter-clockwise on screen
    shift_x: float = 0.0  # pixels / image size
    shift_y: float = 0.015
    scale: float = 1.0  # pixels per face unit / (image size / 2)
    light_angle: float = 0.0  # direction of increasing brightness (radians)
    light: float = 0.0  # relative brightness change per face unit along that direction
    noise: float = 0.0  # standard deviation of additive Gaussian pixel noise


def sample_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw one identity: proportions, feature placement and sizes, skin, hair and background."""
    u = rng.uniform
    skin = u(0.45, 0.78)
    background = u(0.1, 0.9)
    while abs(background - skin) < 0.15:  # keep the face outline visible
        background = u(0.1, 0.9)
    return FaceIdentity(
        face_a=u(0.60, 0.70), face_b=u(0.82, 0.90), chin_taper=u(0.15, 0.35),
        skin=skin, background=background, hair=u(0.05, 0.45), bald=bool(rng.random() < 0.15),
        hairline=u(-0.66, -0.52), hairline_curve=u(0.3, 0.9), hair_length=u(-0.15, 0.15),
        eye_x=u(0.25, 0.30), eye_y=u(-0.09, -0.03), eye_w=u(0.12, 0.15),
        eye_hu=u(0.045, 0.058), eye_hl=u(0.032, 0.045), iris_r=u(0.048, 0.058), iris=u(0.12, 0.45),
        brow_gap=u(0.13, 0.17), brow_x=u(0.07, 0.11), brow_len=u(0.27, 0.34),
        brow_thick=u(0.022, 0.034), brow_arch=u(0.01, 0.04), brow_tilt=u(-0.02, 0.02),
        brow=u(0.05, 0.3),
        nose_y=u(0.20, 0.26), nose_w=u(0.075, 0.10),
        mouth_y=u(0.45, 0.52), mouth_w=u(0.17, 0.21), lip_u=u(0.025, 0.038), lip_l=u(0.032, 0.048),
        lip_dark=u(0.08, 0.18), mouth_rest=u(-0.012, 0.015),
    )


def sample_pose(rng: np.random.Generator) -> Pose:
    """Draw small per-image jitter of pose, position, scale, lighting and noise."""
    return Pose(
        angle=np.deg2rad(rng.uniform(-8.0, 8.0)),
        shift_x=rng.uniform(-0.04, 0.04), shift_y=rng.uniform(-0.02, 0.05),
        scale=rng.uniform(0.95, 1.07),
        light_angle=rng.uniform(0.0, 2 * np.pi), light=rng.uniform(0.0, 0.25),
        noise=rng.uniform(0.005, 0.03),
    )


def action_units(expression: str, intensity: float,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """AU activations ``(2, 27)`` in [0, 1]: row 0 acts on the image's left half, row 1 its right.

    Each AU of the expression gets ``intensity``; with ``rng`` each AU is jittered by up to
    +-10 % of the intensity, so that faces of one expression and intensity are not identical.
    """
    if expression not in EXPRESSION_AUS:
        raise ValueError(f"unknown expression {expression!r}; allowed: {list(EXPRESSION_AUS)}")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must lie in [0, 1], got {intensity}")
    act = np.zeros((2, _N_AU))
    for au in EXPRESSION_AUS[expression]:
        value = intensity * (1.0 + (rng.uniform(-0.1, 0.1) if rng is not None else 0.0))
        act[:, au] = min(value, 1.0)
    if expression in UNILATERAL:
        act[0] = 0.0
    return act


# --------------------------------------------------------------------------------------------
# Distance fields (face units, negative inside) and the canvas that paints them


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: np.ndarray | float,
             b: np.ndarray | float) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (Quilez's first-order bound)."""
    px, py = (x - cx) / a, (y - cy) / b
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / a) ** 2 + (py / b) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _parabola(p0: tuple[float, float], p1: tuple[float, float],
              p2: tuple[float, float]) -> tuple[float, float, float]:
    """Coefficients ``(c0, c1, c2)`` of ``v = c0 + c1 u + c2 u^2`` through three points ``(u, v)``."""
    (u0, v0), (u1, v1), (u2, v2) = p0, p1, p2
    # Newton's divided differences (np.polyfit is ~100x slower for three points)
    d01 = (v1 - v0) / (u1 - u0)
    c2 = ((v2 - v1) / (u2 - u1) - d01) / (u2 - u0)
    c1 = d01 - c2 * (u0 + u1)
    return v0 - c1 * u0 - c2 * u0 * u0, c1, c2


def _curve_distance(u: np.ndarray, v: np.ndarray, u0: float, u1: float,
                    coef: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the segment ``u0 <= u <= u1`` of the parabola ``v = c0 + c1 u + c2 u^2``.

    Returns the distance and the position ``t`` in [0, 1] of the nearest point along ``u``
    (used to taper strokes). Swap ``u`` and ``v`` for curves that run vertically.
    """
    c0, c1, c2 = coef
    uc = np.clip(u, u0, u1)
    dv = (v - (c0 + c1 * uc + c2 * uc * uc)) / np.sqrt(1.0 + (c1 + 2.0 * c2 * uc) ** 2)
    du = u - uc
    return np.sqrt(du * du + dv * dv), (uc - u0) / (u1 - u0)


def _between(y: np.ndarray, top: np.ndarray, top_slope: np.ndarray, bottom: np.ndarray,
             bottom_slope: np.ndarray) -> np.ndarray:
    """Signed distance (approximate) to the region ``top(x) < y < bottom(x)``."""
    return np.maximum((top - y) / np.sqrt(1.0 + top_slope**2),
                      (y - bottom) / np.sqrt(1.0 + bottom_slope**2))


class _Canvas:
    """A gray image being painted, the pixel grid in face units, and the region fields."""

    def __init__(self, size: int, pose: Pose):
        self.ppu = pose.scale * size / 2.0  # pixels per face unit
        centre = size / 2.0 + np.array([pose.shift_x, pose.shift_y]) * size
        j = (np.arange(size) + 0.5 - centre[0]) / self.ppu
        i = (np.arange(size) + 0.5 - centre[1]) / self.ppu
        xi, yi = np.meshgrid(j, i)
        # screen rotation by +angle (counter-clockwise, y down): face coords rotate by -angle
        c, s = np.cos(pose.angle), np.sin(pose.angle)
        self.x = c * xi - s * yi
        self.y = s * xi + c * yi
        self.screen = (xi, yi)
        self.img = np.zeros((size, size))
        self.regions: dict[str, list[np.ndarray]] = {r: [] for r in REGIONS}

    def fill(self, field: np.ndarray, thickness: np.ndarray | None = None) -> np.ndarray:
        """Coverage in [0, 1] of the inside of a distance field (one-pixel ramp).

        ``thickness`` (face units), for regions between two curves, caps the coverage of parts
        thinner than a pixel, so that a region closing to nothing also vanishes in the image.
        """
        cov = np.clip(0.5 - field * self.ppu, 0.0, 1.0)
        if thickness is not None:
            cov = np.minimum(cov, np.clip(thickness * self.ppu, 0.0, 1.0))
        return cov

    def stroke(self, dist: np.ndarray, half: np.ndarray | float) -> np.ndarray:
        """Coverage of a line at distance ``dist`` with half-width ``half`` (face units).

        Lines thinner than a pixel keep their ink (coverage capped at their width in pixels)
        instead of being drawn a full pixel dark.
        """
        h = np.asarray(half) * self.ppu
        return np.clip(0.5 + h - dist * self.ppu, 0.0, np.minimum(1.0, 2.0 * h))

    def paint(self, coverage: np.ndarray, color: np.ndarray | float, opacity: float = 1.0) -> None:
        """Blend ``color`` over the image with alpha ``coverage * opacity``."""
        alpha = coverage * opacity
        self.img += alpha * (color - self.img)

    def part(self, region: str, field: np.ndarray) -> None:
        """Record a drawn part's distance field for the region mask."""
        self.regions[region].append(field)

    def masks(self, margin_px: float) -> np.ndarray:
        """Disjoint uint8 masks ``(4, H, W)``: parts plus ``margin_px``; overlaps go to the nearest."""
        dist = np.stack([np.min(np.stack(self.regions[r]), axis=0) for r in REGIONS]) * self.ppu
        inside = dist < margin_px
        nearest = np.argmin(dist, axis=0)
        own = nearest[None] == np.arange(len(REGIONS))[:, None, None]
        return (inside & own).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Parts


def _head(cv: _Canvas, f: FaceIdentity) -> None:
    """Paint hair, neck, ears, the face with its shading, and the eye sockets."""
    x, y = cv.x, cv.y
    a_y = f.face_a * (1.0 - f.chin_taper * np.clip(y / f.face_b, 0.0, 1.0) ** 2)
    face = _ellipse(x, y, 0.0, 0.0, a_y, f.face_b)
    rn2 = (x / f.face_a) ** 2 + (y / f.face_b) ** 2
    shade = f.skin * (1.0 - 0.22 * np.clip(rn2, 0.0, 1.3) ** 2)  # rounder look: darker rim
    if not f.bald:
        hair = _ellipse(x, y, 0.0, -0.08, f.face_a * 1.12, f.face_b * 0.98)
        cv.paint(cv.fill(np.maximum(hair, y - f.hair_length)), f.hair)
    neck = np.maximum(np.abs(x) - 0.43 * f.face_a, 0.4 - y)
    cv.paint(cv.fill(neck), 0.78 * f.skin)
    for side in (-1.0, 1.0):
        ear = _ellipse(x, y, side * f.face_a * 0.96, f.eye_y + 0.06, 0.075, 0.14)
        cv.paint(cv.fill(ear), 0.85 * f.skin)
    cv.paint(cv.fill(face), shade)
    if not f.bald:  # fringe: the part of the face above the hairline
        line = f.hairline + f.hairline_curve * x * x
        fringe = np.maximum(hair, (y - line) / np.sqrt(1.0 + (2.0 * f.hairline_curve * x) ** 2))
        cv.paint(cv.fill(fringe), f.hair)
    # eye sockets: soft shadow, the same in every expression
    for side in (-1.0, 1.0):
        r2 = ((x - side * f.eye_x) / 0.16) ** 2 + ((y - f.eye_y + 0.02) / 0.11) ** 2
        cv.paint(np.exp(-r2), 0.8 * f.skin, 0.35)


def _cheeks(cv: _Canvas, f: FaceIdentity, au: np.ndarray) -> None:
    """AU6 raises the cheeks: a soft highlight that moves up and brightens."""
    for k, side in enumerate((-1.0, 1.0)):
        a6 = au[k, 6]
        if a6 <= 0:
            continue
        cx, cy = side * (f.eye_x + 0.03), f.nose_y - 0.05 - 0.03 * a6
        r2 = ((cv.x - cx) / 0.08) ** 2 + ((cv.y - cy) / 0.05) ** 2
        cv.paint(np.exp(-r2), min(1.0, f.skin + 0.2), 0.25 * a6)


def _brows(cv: _Canvas, f: FaceIdentity, au: np.ndarray) -> None:
    """Brows (AU1, 2, 4, 9) and the vertical frown lines of AU4."""
    ink = 0.6 * f.skin
    for k, side in enumerate((-1.0, 1.0)):
        a1, a2, a4, a9 = au[k, 1], au[k, 2], au[k, 4], au[k, 9]
        base = f.eye_y - f.brow_gap
        xi = f.brow_x - 0.035 * a4 - 0.008 * a9
        xo = f.brow_x + f.brow_len
        xm = xi + 0.55 * (xo - xi)
        yi = base - 0.5 * f.brow_tilt - 0.11 * a1 + 0.065 * a4 + 0.015 * a9
        yo = base + 0.5 * f.brow_tilt - 0.08 * a2 + 0.03 * a4
        ym = base - f.brow_arch - 0.04 * a1 - 0.075 * a2 + 0.05 * a4 + 0.008 * a9
        xs = side * cv.x  # mirror: x grows outwards on both sides
        dist, t = _curve_distance(xs, cv.y, xi, xo, _parabola((xi, yi), (xm, ym), (xo, yo)))
        half = f.brow_thick * (1.0 - 0.55 * t)  # taper towards the tail
        cv.paint(cv.stroke(dist, half), f.brow)
        cv.part("brows", dist - half)
        if a4 > 0:  # glabella frown line beside the midline
            xw = 0.035
            dist, _ = _curve_distance(cv.y, xs, yi - 0.05, yi + 0.04,
                                      _parabola((yi - 0.05, xw + 0.01), (yi, xw), (yi + 0.04, xw + 0.01)))
            cv.paint(cv.stroke(dist, 0.008), ink, 0.7 * a4)
            cv.part("brows", dist - 0.008)


def _eyes(cv: _Canvas, f: FaceIdentity, au: np.ndarray) -> None:
    """Eye openings with iris and pupil, lid lines, crease (AU5, 6, 7) and crow's feet (AU6)."""
    ink = 0.15 * f.skin
    for k, side in enumerate((-1.0, 1.0)):
        a5, a6, a7 = au[k, 5], au[k, 6], au[k, 7]
        xs = side * cv.x
        cx, cy, w = f.eye_x, f.eye_y, f.eye_w
        hu = f.eye_hu * (1.0 + 0.95 * a5 - 0.35 * a7 - 0.08 * a6)
        hl = f.eye_hl * (1.0 - 0.55 * a7 - 0.35 * a6)
        s = (xs - cx) / w
        q, dq = 1.0 - s * s, -2.0 * s / w
        top, bottom = cy - hu * q, cy + hl * q
        opening = _between(cv.y, top, -hu * dq, bottom, hl * dq)
        open_cov = cv.fill(opening, bottom - top)
        cv.paint(open_cov, min(1.0, 0.35 + f.skin))  # sclera
        iris_y = cy + 0.01
        iris = np.sqrt((xs - cx) ** 2 + (cv.y - iris_y) ** 2)
        cv.paint(open_cov * cv.fill(iris - f.iris_r), f.iris)
        cv.paint(open_cov * cv.fill(iris - 0.45 * f.iris_r), 0.03)
        cv.part("eyes", opening)
        # upper lid line (lashes), lower lid line, crease above the lid
        lid = _parabola((cx - w, cy), (cx, cy - hu), (cx + w, cy))
        dist, _ = _curve_distance(xs, cv.y + 0.006, cx - 1.05 * w, cx + 1.1 * w, lid)
        cv.paint(cv.stroke(dist, 0.014), ink)
        cv.part("eyes", dist - 0.014)
        low = _parabola((cx - w, cy), (cx, cy + hl), (cx + w, cy))
        dist, _ = _curve_distance(xs, cv.y, cx - w, cx + w, low)
        cv.paint(cv.stroke(dist, 0.008), ink, 0.35 + 0.4 * a7 + 0.2 * a6)
        cv.part("eyes", dist - 0.008)
        gap = hu + 0.035 - 0.02 * a5
        crease = _parabola((cx - 0.9 * w, cy - 0.3 * gap), (cx, cy - gap), (cx + 0.9 * w, cy - 0.3 * gap))
        dist, _ = _curve_distance(xs, cv.y, cx - 0.8 * w, cx + 0.85 * w, crease)
        cv.paint(cv.stroke(dist, 0.008), 0.6 * f.skin, 0.5 * (1.0 - 0.8 * a5))
        cv.part("eyes", dist - 0.008)
        if a6 > 0:  # crow's feet fanning out from the outer corner
            for dy in (-0.025, 0.025):
                x0, x1 = cx + w + 0.02, cx + w + 0.07
                line = _parabola((x0, cy + 0.3 * dy), ((x0 + x1) / 2, cy + 0.7 * dy), (x1, cy + 1.3 * dy))
                dist, _ = _curve_distance(xs, cv.y, x0, x1, line)
                cv.paint(cv.stroke(dist, 0.007), 0.55 * f.skin, 0.5 * a6)
                cv.part("eyes", dist - 0.007)


def _nose(cv: _Canvas, f: FaceIdentity, au: np.ndarray) -> None:
    """Bridge shading, tip, nostrils and wings; AU9 wrinkles the bridge and lifts the nostrils."""
    ink = 0.45 * f.skin
    x, y = cv.x, cv.y
    tip = _ellipse(x, y, 0.0, f.nose_y - 0.045 - 0.02 * au[:, 9].mean(), 0.045, 0.035)
    cv.paint(cv.fill(tip), min(1.0, f.skin + 0.12), 0.5)
    cv.part("nose", tip)
    for k, side in enumerate((-1.0, 1.0)):
        a9 = au[k, 9]
        xs = side * x
        ny = f.nose_y - 0.035 * a9
        nw = f.nose_w * (1.0 + 0.2 * a9)
        # bridge side line from between the eyes to the wing
        y0, y1 = f.eye_y + 0.04, ny - 0.06
        bridge = _parabola((y0, 0.05), ((y0 + y1) / 2, 0.055), (y1, 0.6 * nw))
        dist, _ = _curve_distance(y, xs, y0, y1, bridge)
        cv.paint(cv.stroke(dist, 0.01), ink, 0.3)
        cv.part("nose", dist - 0.01)
        # wing: an arc around the nostril
        wing = _parabola((ny - 0.06, 0.75 * nw), (ny - 0.015, 1.05 * nw), (ny + 0.02, 0.8 * nw))
        dist, _ = _curve_distance(y, xs, ny - 0.06, ny + 0.02, wing)
        cv.paint(cv.stroke(dist, 0.01), ink, 0.6)
        cv.part("nose", dist - 0.01)
        nostril = _ellipse(xs, y, 0.5 * nw, ny + 0.005, 0.032 * (1.0 + 0.25 * a9), 0.017)
        cv.paint(cv.fill(nostril), 0.2 * f.skin, 0.85)
        cv.part("nose", nostril)
        if a9 > 0:
            # wrinkles across the bridge and a short nasolabial fold below the wing
            for k_w in range(3):
                yw = f.eye_y + 0.02 + 0.035 * k_w
                wr = _parabola((0.0, yw), (0.025, yw + 0.004), (0.05, yw + 0.012))
                dist, _ = _curve_distance(xs, y, 0.0, 0.05, wr)
                cv.paint(cv.stroke(dist, 0.007), ink, 0.9 * a9)
                cv.part("nose", dist - 0.007)
            fold = _parabola((ny - 0.02, 1.1 * nw), (ny + 0.04, 1.3 * nw + 0.01), (ny + 0.10, 1.5 * nw + 0.03))
            dist, _ = _curve_distance(y, xs, ny - 0.02, ny + 0.10, fold)
            cv.paint(cv.stroke(dist, 0.008), ink, 0.8 * a9)
            cv.part("nose", dist - 0.008)


def _mouth(cv: _Canvas, f: FaceIdentity, au: np.ndarray) -> None:
    """Lips, lip line, opening with teeth, and AU14 dimples; each half follows its own corner.

    Every lip curve is ``y = A + B t^2`` with ``t = |x| / c`` (``c`` the corner's half-width),
    so the corners close naturally at ``t = 1``.
    """
    x, y = cv.x, cv.y
    a = au.T  # (27, 2): AU -> (left, right)
    c = f.mouth_w * (1.0 + 0.22 * a[12] + 0.32 * a[20] - 0.2 * a[23] - 0.12 * a[14] - 0.15 * a[26])
    cy = f.mouth_rest - 0.1 * a[12] + 0.075 * a[15] + 0.01 * a[20] - 0.012 * a[14] + 0.015 * a[16]
    ou = 0.02 * a[26] + 0.022 * a[9] + 0.02 * a[12]  # opening above / below the lip line
    ol = 0.14 * a[26] + 0.03 * a[16] + 0.05 * a[12] + 0.01 * a[20]
    tu = f.lip_u * np.maximum(0.2, 1.0 - 0.6 * a[23] - 0.3 * a[20] - 0.3 * a[12] - 0.2 * a[26])
    tl = (f.lip_l * np.maximum(0.2, 1.0 - 0.6 * a[23] - 0.25 * a[20] - 0.25 * a[12] - 0.2 * a[26])
          + 0.008 * a[16])
    right = x >= 0
    ck, cyk = np.where(right, c[1], c[0]), np.where(right, cy[1], cy[0])
    # opening and lip thickness blend across the middle third (one-sided AUs stay continuous)
    w = np.clip(0.5 + x / c.mean() * 1.5, 0.0, 1.0)
    ou, ol, tu, tl = ((1.0 - w) * v[0] + w * v[1] for v in (ou, ol, tu, tl))
    t2 = (x / ck) ** 2
    dt2 = 2.0 * x / ck**2  # d(t^2)/dx

    def curve(a0: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return a0 + b * t2, b * dt2

    my = f.mouth_y
    ui = curve(my - ou, cyk + ou)  # upper inner lip
    li = curve(my + ol, cyk - ol)  # lower inner lip
    uo = curve(my - ou - tu, cyk + ou + tu)
    lo = curve(my + ol + tl, cyk - ol - tl)
    lips = _between(y, uo[0], uo[1], lo[0], lo[1])
    cv.paint(cv.fill(lips, lo[0] - uo[0]), max(0.0, f.skin - f.lip_dark))
    cv.part("mouth", lips)
    line = curve(my, cyk)
    dist = np.abs(y - line[0]) / np.sqrt(1.0 + line[1] ** 2)
    dist = np.where(t2 <= 1.0, dist, np.hypot(dist, np.abs(x) - ck))  # ends at the corners
    half = 0.008 * (1.0 + 1.2 * np.where(right, a[23, 1], a[23, 0]))
    cv.paint(cv.stroke(dist, half), 0.2 * f.skin, 0.8)
    cv.part("mouth", dist - half)
    if np.any(ou + ol > 0):
        opening = _between(y, ui[0], ui[1], li[0], li[1])
        gap = li[0] - ui[0]
        cv.paint(cv.fill(opening, gap), 0.06)
        upper_teeth = curve(my - ou + 0.035, cyk + ou - 0.035)
        teeth = np.maximum(opening, y - upper_teeth[0])
        cv.paint(cv.fill(teeth, gap), 0.85, 0.9)
        if a[16].max() > 0:
            lower_teeth = curve(my + ol - 0.025, cyk - ol + 0.025)
            cv.paint(cv.fill(np.maximum(opening, lower_teeth[0] - y), gap), 0.8, 0.9 * a[16].max())
    for k, side in enumerate((-1.0, 1.0)):
        a14 = au[k, 14]
        if a14 <= 0:
            continue
        xd, yd = c[k] + 0.03, my + cy[k]
        dimple = _parabola((yd - 0.045, xd - 0.005), (yd, xd + 0.012), (yd + 0.045, xd - 0.005))
        dist, _ = _curve_distance(y, side * x, yd - 0.045, yd + 0.045, dimple)
        cv.paint(cv.stroke(dist, 0.012), 0.35 * f.skin, a14)
        cv.part("mouth", dist - 0.012)


# --------------------------------------------------------------------------------------------
# Public API


def render_face(identity_params: FaceIdentity, expression: str, intensity: float, size: int,
                rng: np.random.Generator | None = None, *, pose: Pose | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Render one face.

    Parameters
    ----------
    identity_params : the person, from :func:`sample_identity`.
    expression : a canonical expression name; ``intensity`` in [0, 1] scales its AUs.
    size : image side in pixels.
    rng : per-image jitter (pose, lighting, noise, AU jitter); ``None`` renders the canonical
        view: upright, centred, evenly lit, noise-free and with exact AU intensities.
    pose : use this pose instead of drawing one from ``rng`` (noise still needs ``rng``).

    Returns
    -------
    image : float32 ``(size, size)`` in [0, 1].
    masks : uint8 ``(4, size, size)``, region axis in ``labels.REGIONS`` order; each mask holds
        the parts drawn for that region in this image plus :data:`MASK_MARGIN_PX`; masks are
        disjoint (a pixel near two regions belongs to the nearer part).
    """
    if size < 16:
        raise ValueError(f"image size must be at least 16 pixels, got {size}")
    if pose is None:
        pose = sample_pose(rng) if rng is not None else Pose()
    if pose.noise > 0 and rng is None:
        raise ValueError("a pose with pixel noise needs a random generator (rng)")
    au = action_units(expression, intensity, rng)
    f = identity_params
    cv = _Canvas(size, pose)
    cv.img[:] = f.background
    _head(cv, f)
    _cheeks(cv, f, au)
    _nose(cv, f, au)
    _mouth(cv, f, au)
    _eyes(cv, f, au)
    _brows(cv, f, au)
    xi, yi = cv.screen  # lighting is a property of the scene, so it is fixed on screen
    ramp = np.cos(pose.light_angle) * xi + np.sin(pose.light_angle) * yi
    img = cv.img * (1.0 + pose.light * ramp)
    if pose.noise > 0:
        img = img + rng.normal(0.0, pose.noise, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32), cv.masks(MASK_MARGIN_PX)


def generate_faces(n_identities: int, expressions: list[str], images_per_expression: int,
                   size: int, seed: int, intensity_range: tuple[float, float] = (0.4, 1.0),
                   n_jobs: int = 1) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Generate a data set of synthetic faces: every identity in every expression.

    Each identity has its own random stream derived from ``seed``, so a face depends only on the
    seed, its identity number and its position in the identity's list, never on other
    identities. Intensities are uniform in ``intensity_range``; neutral faces get intensity 0.
    ``n_jobs`` worker processes render blocks of identities in parallel; the result does not
    depend on ``n_jobs``.

    Returns
    -------
    frame : one row per image, columns ``image_id`` (``"id007/happy_0"``), ``label``,
        ``identity`` (``"id007"``), ``intensity``.
    images : float32 ``(N, size, size)`` in [0, 1].
    masks : uint8 ``(N, 4, size, size)`` region masks (see :func:`render_face`).
    """
    expressions = check_expressions(expressions)
    lo, hi = intensity_range
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"intensity_range must satisfy 0 <= low <= high <= 1, got {intensity_range}")
    if n_identities < 1 or images_per_expression < 1:
        raise ValueError("n_identities and images_per_expression must be positive, "
                         f"got {n_identities} and {images_per_expression}")
    streams = np.random.SeedSequence(seed).spawn(n_identities)
    args = (expressions, images_per_expression, size, (lo, hi))
    # Parallel only when every worker gets a fair share (starting workers costs ~0.1 s each), and
    # by forking: "spawn" and "forkserver" workers re-import the caller's main module, which in a
    # Snakemake script would run the whole script again.
    n_jobs = max(1, min(int(n_jobs), n_identities // 4))
    if n_jobs == 1 or "fork" not in multiprocessing.get_all_start_methods():
        parts = [_render_identities(0, streams, *args)]
    else:
        bounds = np.linspace(0, n_identities, 4 * n_jobs + 1).round().astype(int)
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_render_identities, bounds[:-1],
                                  [streams[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
                                  *([a] * (len(bounds) - 1) for a in args)))
    frame = pd.DataFrame([row for rows, _, _ in parts for row in rows],
                         columns=["image_id", "label", "identity", "intensity"])
    return frame, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def _render_identities(first: int, streams: list[np.random.SeedSequence], expressions: list[str],
                       images_per_expression: int, size: int, intensity_range: tuple[float, float]
                       ) -> tuple[list[tuple], np.ndarray, np.ndarray]:
    """Faces of the identities numbered ``first, first + 1, ...`` (one random stream each)."""
    lo, hi = intensity_range
    n = len(streams) * len(expressions) * images_per_expression
    images = np.empty((n, size, size), np.float32)
    masks = np.empty((n, len(REGIONS), size, size), np.uint8)
    rows: list[tuple] = []
    for ident, stream in enumerate(streams, start=first):
        rng = np.random.default_rng(stream)
        person = sample_identity(rng)
        name = f"id{ident:03d}"
        for label in expressions:
            for k in range(images_per_expression):
                intensity = 0.0 if label == "neutral" else float(rng.uniform(lo, hi))
                i = len(rows)
                images[i], masks[i] = render_face(person, label, intensity, size, rng)
                rows.append((f"{name}/{label}_{k}", label, name, intensity))
    return rows, images, masks


def diagnostic_regions(expressions: list[str], size: int = 64, n_identities: int = 8,
                       seed: int = 0) -> pd.DataFrame:
    """Where two expressions differ, measured on the renderer's own pixels.

    For each unordered pair, ``n_identities`` identities are rendered in the canonical view at
    full intensity in both expressions; the absolute pixel difference is summed inside each
    region (the union of the two images' masks of that region; a pixel claimed by several
    regions is shared equally) and summed over identities. Differences outside every region
    (cheeks) are not counted. Weights of a pair are these sums divided by their total.

    Returns a frame with columns ``expression_a, expression_b, region, weight``: every ordered
    pair of distinct expressions, both orders with the same weights, one row per region.
    """
    expressions = check_expressions(expressions)
    rng = np.random.default_rng(seed)
    people = [sample_identity(rng) for _ in range(n_identities)]
    renders = {(p, e): render_face(person, e, 1.0, size)
               for p, person in enumerate(people) for e in expressions}
    rows = []
    for ia, ea in enumerate(expressions):
        for eb in expressions[ia + 1:]:
            mass = np.zeros(len(REGIONS))
            for p in range(n_identities):
                img_a, m_a = renders[p, ea]
                img_b, m_b = renders[p, eb]
                member = (m_a | m_b).astype(float)
                share = member / np.maximum(member.sum(axis=0), 1.0)
                mass += (share * np.abs(img_a - img_b)).sum(axis=(1, 2))
            if mass.sum() <= 0:
                raise ValueError(f"expressions {ea!r} and {eb!r} render identically")
            weight = mass / mass.sum()
            for r, region in enumerate(REGIONS):
                rows.append((ea, eb, region, weight[r]))
                rows.append((eb, ea, region, weight[r]))
    return pd.DataFrame(rows, columns=["expression_a", "expression_b", "region", "weight"])


def example_grid(n_identities: int, expressions: list[str], size: int, seed: int,
                 intensity: float = 1.0) -> np.ndarray:
    """A mosaic float32 ``(n_identities * size, len(expressions) * size)``: rows are identities
    (with per-image jitter), columns expressions at ``intensity``."""
    unknown = [e for e in expressions if e not in EXPRESSIONS]
    if unknown:
        raise ValueError(f"unknown expression(s) {unknown}; allowed: {list(EXPRESSIONS)}")
    grid = np.zeros((n_identities * size, len(expressions) * size), np.float32)
    streams = np.random.SeedSequence(seed).spawn(n_identities)
    for r, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        person = sample_identity(rng)
        for c, label in enumerate(expressions):
            img, _ = render_face(person, label, 0.0 if label == "neutral" else intensity, size, rng)
            grid[r * size:(r + 1) * size, c * size:(c + 1) * size] = img
    return grid
