"""Facial landmarks (AffectNet's 68 iBUG points) -> the four region masks of ``labels.REGIONS``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..labels import REGIONS
from .core import DatasetError

#: The 68-point iBUG (Multi-PIE) landmark layout of AffectNet, 0-based indices per region; each
#: tuple is one part, filled as the convex hull of its points (two brows, two eyes, the nose from
#: bridge to nostrils, the mouth's outer and inner lip contours).
N_LANDMARKS = 68
LANDMARK_PARTS: dict[str, tuple[range, ...]] = {
    "brows": (range(17, 22), range(22, 27)),
    "eyes": (range(36, 42), range(42, 48)),
    "nose": (range(27, 36),),
    "mouth": (range(48, 68),),
}


def parse_landmarks(text: str, *, where: str) -> np.ndarray | None:
    """AffectNet's ``facial_landmarks`` cell ``'x1;y1;x2;y2;...'`` -> float ``(68, 2)``.

    A blank cell gives None (no masks for that image); anything else that is not 136 finite
    numbers separated by ``;`` is a :class:`DatasetError` (reason ``bad_landmarks``).
    """
    text = str(text).strip()
    if not text:
        return None
    try:
        values = np.array([float(v) for v in text.strip(";").split(";")])
    except ValueError:
        raise DatasetError(f"{where}: landmarks are not numbers separated by ';'",
                           "bad_landmarks") from None
    if values.size != 2 * N_LANDMARKS or not np.isfinite(values).all():
        raise DatasetError(f"{where}: expected {2 * N_LANDMARKS} finite numbers (x;y of "
                           f"{N_LANDMARKS} points), got {values.size}", "bad_landmarks")
    return values.reshape(N_LANDMARKS, 2)


def _hull_distance(points: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) of the points ``px`` (M, 2) to the convex hull of
    ``points`` (K, 2); degenerate hulls (a line, a point) have no inside."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.unique(points, axis=0)
    if len(pts) >= 3:
        try:
            hull = ConvexHull(pts)
            ring = pts[hull.vertices]          # counter-clockwise for 2-D hulls
        except QhullError:                     # collinear points
            order = np.lexsort((pts[:, 1], pts[:, 0]))
            ring = pts[order[[0, -1]]]
    else:
        ring = pts
    a = ring
    b = np.roll(ring, -1, axis=0) if len(ring) > 1 else ring
    ab = b - a                                                       # (E, 2)
    ap = px[:, None, :] - a[None]                                    # (M, E, 2)
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    dist = np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(axis=1)
    if len(ring) >= 3:
        inside = np.all(ap[..., 0] * ab[:, 1] - ap[..., 1] * ab[:, 0] <= 0, axis=1)
        dist = np.where(inside, -dist, dist)
    return dist


def landmark_masks(points: np.ndarray, size: int, margin_px: float | None = None) -> np.ndarray:
    """Region masks uint8 ``(4, size, size)`` (``labels.REGIONS`` order) from 68 landmarks.

    ``points``: float ``(68, 2)`` ``(x, y)`` in model-input pixels (continuous coordinates, origin
    at the top-left corner). Each part of :data:`LANDMARK_PARTS` is filled as its convex hull and
    grown by ``margin_px`` (default: the synthetic faces' margin, so the masks of both sources mean
    the same); a pixel belongs to a region when its centre is within the margin, and a pixel near
    two regions goes to the nearer one (the masks are disjoint, as the synthetic faces' are).
    """
    from ..synthetic import MASK_MARGIN_PX

    margin = MASK_MARGIN_PX if margin_px is None else margin_px
    points = np.asarray(points, dtype=float)
    if points.shape != (N_LANDMARKS, 2):
        raise ValueError(f"expected landmarks of shape ({N_LANDMARKS}, 2), got {points.shape}")
    ii, jj = np.mgrid[0:size, 0:size]
    centres = np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5], axis=1)
    dist = np.stack([np.min([_hull_distance(points[list(part)], centres)
                             for part in LANDMARK_PARTS[region]], axis=0)
                     for region in REGIONS]).reshape(len(REGIONS), size, size)
    nearest = np.argmin(dist, axis=0)
    own = nearest[None] == np.arange(len(REGIONS))[:, None, None]
    return ((dist <= margin) & own).astype(np.uint8)


def crop_points(points: np.ndarray, geometry: Mapping[str, float], size: int) -> np.ndarray:
    """Map ``(x, y)`` points in original pixels to model-input pixels through the crop box."""
    left, top = geometry["crop_left"], geometry["crop_top"]
    sx = size / (geometry["crop_right"] - left)
    sy = size / (geometry["crop_bottom"] - top)
    return np.column_stack([(points[:, 0] - left) * sx, (points[:, 1] - top) * sy])
