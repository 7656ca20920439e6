"""The prepared data set on disk (``results/data/``): manifest and images, crop geometries for
mapping clicks, and the example grid of the data set figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from .. import shards
from ..io import atomic_dir, read_table
from .core import Dataset, DatasetError

MANIFEST_COLUMNS = ["image_id", "label", "identity", "split", "path"]
GEOMETRY_COLUMNS = ["image_id", "crop_left", "crop_top", "crop_right", "crop_bottom",
                    "orig_width", "orig_height"]


def image_filename(image_id: str) -> str:
    """Relative file name of a prepared image (ids may contain '/', which become folders)."""
    return f"images/{image_id}.png"


def write_prepared(data: Dataset, out_dir: str | Path, images_dir: str | Path) -> pd.DataFrame:
    """Write the prepared images as 8-bit gray PNGs and return the manifest.

    The images go to a temporary folder that is renamed to ``images_dir`` at the end, so an
    interrupted job leaves no partial folder. ``path`` in the manifest is relative to ``out_dir``
    (the manifest's folder).
    """
    paths = []
    with atomic_dir(images_dir) as tmp:
        for image_id, array in zip(data.frame["image_id"], data.images):
            rel = image_filename(image_id)
            target = tmp / Path(rel).relative_to("images")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)).save(target)
            paths.append(rel)
    return data.frame.assign(path=paths)[MANIFEST_COLUMNS]


def read_prepared(manifest_path: str | Path, split: str | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """Read the prepared manifest and its images (float32 ``(N, S, S)`` in ``[0, 1]``).

    With ``split``, only that split, sorted by ``image_id`` (the order saliency shards use).
    """
    manifest_path = Path(manifest_path)
    frame = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    if split is not None:
        frame = shards.split_rows(frame, split)
    images = [np.asarray(Image.open(manifest_path.parent / p).convert("L"), dtype=np.float32) / 255.0
              for p in frame["path"]]
    stacked = np.stack(images) if images else np.zeros((0, 0, 0), np.float32)
    return frame, stacked


def stimulus_geometries(geometry: str | Path | pd.DataFrame, stimulus: str = "original"
                        ) -> dict[str, dict[str, Any]] | None:
    """Geometry records for mapping clicks, from ``results/data/geometry.csv`` (or its frame).

    ``stimulus`` is ``humans.stimulus``: ``"prepared"`` (the stimulus is the prepared image,
    scaled to the stimulus size) needs no records and gives None; ``"original"`` (the stimulus is
    the original image file) gives ``image_id -> {"crop": (left, top, right, bottom),
    "original_size": (width, height)}``, the record :mod:`ferattention.humans.maps` expects
    (``humans.maps.Geometry``): stimulus -> original pixels -> crop box -> model input.
    """
    if stimulus == "prepared":
        return None
    if stimulus != "original":
        raise ValueError(f"humans.stimulus must be 'prepared' or 'original', got {stimulus!r}")
    frame = geometry if isinstance(geometry, pd.DataFrame) else read_table(geometry)
    missing = set(GEOMETRY_COLUMNS) - set(frame.columns)
    if missing:
        raise DatasetError(f"{geometry if not isinstance(geometry, pd.DataFrame) else 'geometry'}: "
                           f"missing column(s) {sorted(missing)}")
    boxes = frame[["crop_left", "crop_top", "crop_right", "crop_bottom"]].to_numpy(float)
    sizes = frame[["orig_width", "orig_height"]].to_numpy(float)
    return {image_id: {"crop": tuple(box), "original_size": tuple(wh)}
            for image_id, box, wh in zip(frame["image_id"], boxes.tolist(), sizes.tolist())}


def dataset_examples(frame: pd.DataFrame, images: np.ndarray, expressions: Sequence[str],
                     n_rows: int = 6, seed: int = 0
                     ) -> tuple[list[list[np.ndarray | None]], list[str], list[str]]:
    """Pick example images for a grid of rows by expressions (columns).

    When identities carry several expressions (synthetic faces, or a manifest with identities),
    the rows are identities, preferably of the test split, those showing the most expressions
    first; a cell is the identity's first image of that expression (None where it has none).
    Otherwise the rows are ``example 1..n``: a seeded random sample of each expression's images.
    Returns ``(cells, row_labels, col_labels)`` for :func:`ferattention.figures.plot_dataset_examples`.
    """
    cols = [e for e in expressions if (frame["label"] == e).any()]
    if not cols:
        raise ValueError(f"no image has a label in {list(expressions)}")
    index = pd.Series(np.arange(len(frame)), index=frame.index)
    per_identity = frame.groupby("identity")["label"].nunique()
    if per_identity.max() > 1:
        in_test = (frame.assign(t=frame.get("split", pd.Series("", index=frame.index)) == "test")
                   .groupby("identity")["t"].any())
        order = pd.DataFrame({"test": in_test, "n": per_identity}).reset_index()
        order = order.sort_values(["test", "n", "identity"], ascending=[False, False, True])
        idents = order["identity"].head(n_rows).tolist()
        first = (frame.assign(i=index).sort_values("image_id")
                 .groupby(["identity", "label"])["i"].first())
        cells = [[images[first[(ident, e)]] if (ident, e) in first.index else None for e in cols]
                 for ident in idents]
        return cells, [str(i) for i in idents], cols
    rng = np.random.default_rng(seed)
    picks = {}
    for e in cols:
        rows = index[frame["label"] == e].to_numpy()
        picks[e] = rng.permutation(rows)[:n_rows]
    depth = max(len(v) for v in picks.values())
    cells = [[images[picks[e][r]] if r < len(picks[e]) else None for e in cols]
             for r in range(depth)]
    return cells, [f"example {r + 1}" for r in range(depth)], cols
