"""Attention maps that need no model: the centre prior, planted densities, maps from outside.

* :func:`center_gaussian`: the centre-bias map (the ``center`` baseline, a planted source).
* :func:`attention_density`: the density simulated observers aim their clicks at
  (``humans.simulated.attention``), so that a recovery study knows the true answer.
* :func:`load_external_maps`: precomputed maps from any other tool or saliency model
  (``saliency.external``), validated and resized to the model input, so that they enter the
  comparison like every other method.

Torch-free: the human side and the workflow's light jobs import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

#: Planted attention sources that are not methods of the run (``humans.simulated.attention``).
MODEL_FREE_SOURCES: tuple[str, ...] = ("regions", "center", "uniform")
#: File suffixes read from a folder of external maps, in the order they are looked for.
EXTERNAL_SUFFIXES: tuple[str, ...] = (".npy", ".png")
QC_COLUMNS = ["image_id", "problem"]


def center_gaussian(height: int, width: int, sigma: float) -> np.ndarray:
    """Isotropic Gaussian ``exp(-d^2 / (2 s^2))`` centred on the image, peak 1, float32 ``(H, W)``.

    ``d`` is the distance in pixels from the image centre ``((H-1)/2, (W-1)/2)`` and
    ``s = sigma * min(H, W)``.
    """
    if not sigma > 0:
        raise ValueError(f"center: sigma must be > 0 (a fraction of the image size); got {sigma}")
    s = sigma * min(height, width)
    y = np.arange(height) - (height - 1) / 2
    x = np.arange(width) - (width - 1) / 2
    d2 = y[:, None] ** 2 + x[None, :] ** 2
    return np.exp(-d2 / (2 * s**2)).astype(np.float32)


def attention_density(source: str, image_ids: Iterable[str], image_size: int, *,
                      method_maps: Mapping[str, np.ndarray] | None = None,
                      center_sigma: float = 0.25) -> dict[str, np.ndarray] | None:
    """The density simulated observers aim at, per image: ``image_id -> float64 (S, S)``, sum 1.

    ``source``: ``regions`` (None: the observers follow the diagnostic evidence of the faces,
    see :mod:`ferattention.humans.simulate`), ``center`` (:func:`center_gaussian` with
    ``center_sigma``), ``uniform``, or the name of a method whose maps are given in
    ``method_maps`` (image_id -> (S, S)). A method map counts where it is positive (CAM's
    negative evidence is not looked at); a map with no positive value becomes uniform.
    """
    ids = list(image_ids)
    if source == "regions":
        return None
    if source == "center":
        base = center_gaussian(image_size, image_size, center_sigma).astype(float)
        return {i: base / base.sum() for i in ids}
    if source == "uniform":
        return {i: np.full((image_size, image_size), 1.0 / image_size**2) for i in ids}
    if method_maps is None:
        raise ValueError(f"attention source {source!r} is a method: its maps are needed")
    missing = [i for i in ids if i not in method_maps]
    if missing:
        raise ValueError(f"attention source {source!r} has no map for image {missing[0]!r} "
                         f"({len(missing)} of {len(ids)} images missing)")
    out = {}
    for i in ids:
        m = np.clip(np.nan_to_num(np.asarray(method_maps[i], dtype=float)), 0, None)
        if m.shape != (image_size, image_size):
            raise ValueError(f"attention source {source!r}, image {i!r}: map of shape {m.shape}, "
                             f"expected {(image_size, image_size)}")
        out[i] = m / m.sum() if m.sum() > 0 else np.full(m.shape, 1.0 / m.size)
    return out


# ------------------------------------------------------------------------------ external maps

class ExternalMapError(ValueError):
    """An external map file that cannot be used, named with the image."""


def load_external_maps(name: str, path: str | os.PathLike, image_ids: Sequence[str],
                       image_size: int, on_invalid: str = "error"
                       ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Read, check and resize the precomputed maps of method ``name`` for ``image_ids``.

    ``path`` is an ``.npz`` file keyed by image_id, or a folder with one ``<image_id>.npy`` or
    ``<image_id>.png`` per image (a ``/`` in an id is a subfolder). A map may have any size: it
    is resized to ``image_size`` x ``image_size`` with PIL's bilinear filter (antialiased when
    shrinking). A map is invalid when it is missing, cannot be read, is not 2-D (a 3-D array
    with one channel, or a colour PNG, is read as gray), holds NaN or infinity, or its total is
    not positive (a map must say where attention is). Keys for images outside ``image_ids``
    are ignored.

    ``on_invalid``: ``error`` raises :class:`ExternalMapError` naming the method, the file and
    the first invalid image; ``drop`` leaves the invalid images out (they get no similarity for
    this method) and lists them in the returned QC table (``image_id, problem``).

    Returns ``(maps, qc)``: ``image_id -> float32 (S, S)`` in ``image_ids`` order, and the QC table.
    """
    if on_invalid not in ("error", "drop"):
        raise ValueError(f"on_invalid must be 'error' or 'drop', got {on_invalid!r}")
    path = Path(path)
    if not path.exists():
        raise ExternalMapError(f"external maps {name!r}: {path} does not exist")
    maps: dict[str, np.ndarray] = {}
    problems: list[tuple[str, str]] = []
    with _source(path) as read:
        for image_id in image_ids:
            try:
                raw = read(image_id)
                maps[image_id] = _resize(_check(raw), image_size)
            except (ExternalMapError, OSError, ValueError, UnidentifiedImageError) as err:
                message = f"external maps {name!r} ({path}): image {image_id!r}: {err}"
                if on_invalid == "error":
                    raise ExternalMapError(message) from None
                problems.append((image_id, str(err)))
    return maps, pd.DataFrame(problems, columns=QC_COLUMNS)


class _source:
    """Context manager giving ``read(image_id) -> ndarray`` for an npz file or a folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.npz = None

    def __enter__(self):
        if self.path.is_file():
            if self.path.suffix != ".npz":
                raise ExternalMapError(f"{self.path}: expected an .npz file or a folder of "
                                       f"{'/'.join(EXTERNAL_SUFFIXES)} files")
            try:
                self.npz = np.load(self.path, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise ExternalMapError(f"{self.path}: not a readable .npz file ({err})") from None
            return self._from_npz
        return self._from_folder

    def __exit__(self, *exc) -> None:
        if self.npz is not None:
            self.npz.close()

    def _from_npz(self, image_id: str) -> np.ndarray:
        if image_id not in self.npz.files:
            raise ExternalMapError("no map (no such key in the .npz file)")
        return self.npz[image_id]

    def _from_folder(self, image_id: str) -> np.ndarray:
        for suffix in EXTERNAL_SUFFIXES:
            file = self.path / f"{image_id}{suffix}"
            if file.is_file():
                if suffix == ".npy":
                    return np.load(file, allow_pickle=False)
                with Image.open(file) as img:
                    return np.asarray(img.convert("F"), dtype=np.float32)
        raise ExternalMapError(f"no map (no {image_id}{' or '.join(EXTERNAL_SUFFIXES)} file)")


def _check(raw: np.ndarray) -> np.ndarray:
    m = np.asarray(raw)
    if m.ndim == 3 and 1 in (m.shape[0], m.shape[-1]):
        m = m.reshape(m.shape[1:] if m.shape[0] == 1 else m.shape[:-1])
    if m.ndim != 2 or min(m.shape) < 1:
        raise ExternalMapError(f"shape {m.shape}: a map must be 2-D (height, width)")
    if not np.issubdtype(m.dtype, np.number) or np.issubdtype(m.dtype, np.complexfloating):
        raise ExternalMapError(f"dtype {m.dtype}: a map must hold real numbers")
    m = m.astype(np.float32)
    if not np.isfinite(m).all():
        raise ExternalMapError(f"{int((~np.isfinite(m)).sum())} NaN or infinite value(s)")
    if not m.sum(dtype=np.float64) > 0:
        raise ExternalMapError(f"total {float(m.sum(dtype=np.float64)):g}: a map's total must be "
                               "positive")
    return m


def _resize(m: np.ndarray, size: int) -> np.ndarray:
    if m.shape == (size, size):
        return m
    return np.asarray(Image.fromarray(np.ascontiguousarray(m, dtype=np.float32)).resize((size, size), Image.BILINEAR),
                      dtype=np.float32)


def region_hypothesis_maps(masks: Mapping[str, np.ndarray], regions: Sequence[str],
                           blur_sigma: float = 2.0) -> dict[str, np.ndarray]:
    """A hypothesis map per image: attention spread evenly over the named facial regions.

    ``masks``: image_id -> (4, S, S) region masks in :data:`ferattention.labels.REGIONS` order
    (``results/data/regions.npz``). The union of the named regions, Gaussian-blurred by
    ``blur_sigma`` pixels: float32 (S, S) summing to 1 (uniform where the regions are empty).
    The default run writes the eye region of the synthetic faces this way, as an example of a
    map from outside (``saliency.external``, ``recovery.external``).
    """
    from scipy.ndimage import gaussian_filter

    from .labels import REGIONS

    unknown = [r for r in regions if r not in REGIONS]
    if unknown:
        raise ValueError(f"unknown region(s) {unknown}; regions are {list(REGIONS)}")
    index = [REGIONS.index(r) for r in regions]
    out = {}
    for image_id, mask in masks.items():
        union = (np.asarray(mask)[index] > 0).any(axis=0).astype(float)
        m = gaussian_filter(union, blur_sigma, mode="reflect") if union.any() else np.ones_like(union)
        out[image_id] = (m / m.sum()).astype(np.float32)
    return out
