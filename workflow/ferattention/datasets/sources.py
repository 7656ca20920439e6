"""Dataset adapters: every source becomes one table of images with canonical labels.

An adapter returns a :class:`Dataset`: a frame with one row per image (``image_id``, ``label``,
``identity``, optional ``split``) and the standardised gray images (float32 ``(N, S, S)`` in
``[0, 1]``), plus region masks where the source knows them. :func:`standardise_image` converts
every image the same way (gray, crop, resize) and records the geometry it applied, so that click
coordinates on the original stimulus can be mapped through it later (:func:`stimulus_geometries`).

Bad input is a :class:`DatasetError` naming the file, the row (line) and the column. With
``on_invalid="drop"`` the adapters skip bad rows and images instead and count them by reason in
``Dataset.qc`` (columns ``file, reason, n_rows``, the shape of ``results/humans/qc.csv``); every
dropped item is also logged with its full message. Problems with the source as a whole (missing
file or folder, missing columns) are always errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import struct
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from . import shards
from .catalogue import schema_defaults
from .io import atomic_dir, read_table
from .labels import EXPRESSIONS, REGIONS

#: Defaults of the ``dataset`` settings: the config schema (their one source).
_DATASET = schema_defaults("dataset")
_ON_INVALID, _CROP = _DATASET["on_invalid"], _DATASET["crop"]

_log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ON_INVALID = ("error", "drop")
QC_COLUMNS = ["file", "reason", "n_rows"]

#: Common spellings of expression names in public datasets -> canonical name.
LABEL_ALIASES: dict[str, str] = {
    **{e: e for e in EXPRESSIONS},
    "neutrality": "neutral", "calm": "neutral",
    "happiness": "happy", "joy": "happy", "smile": "happy",
    "sadness": "sad", "unhappy": "sad",
    "surprised": "surprise", "surprize": "surprise",
    "fearful": "fear", "afraid": "fear", "scared": "fear",
    "disgusted": "disgust",
    "angry": "anger", "mad": "anger",
    "contemptuous": "contempt",
}

#: Top-level folder names of an image folder that name a split (``<path>/<split>/<label>/...``).
SPLIT_FOLDERS: dict[str, str] = {"train": "train", "training": "train", "val": "val",
                                 "valid": "val", "validation": "val", "test": "test",
                                 "testing": "test"}

#: FER2013 ``emotion`` codes (docs/design.md §4.2).
FER2013_CODES = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
#: AffectNet ``expression`` codes; 8-10 (none, uncertain, non-face) are dropped.
AFFECTNET_CODES = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust",
                   6: "anger", 7: "contempt"}
AFFECTNET_DROPPED_CODES = (8, 9, 10)

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


class DatasetError(ValueError):
    """Bad dataset input; the message names the file, row and field. ``reason`` is the short
    code under which ``on_invalid: drop`` counts it in the qc table."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


def _empty_qc() -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series(dtype=str), "reason": pd.Series(dtype=str),
                         "n_rows": pd.Series(dtype=int)})


@dataclasses.dataclass
class Dataset:
    """Standardised images with their table.

    ``frame``: one row per image, columns ``image_id, label, identity`` (+ ``split`` when the source
    fixes it, + ``crop_left, crop_top, crop_right, crop_bottom, orig_width, orig_height``: the
    geometry applied). ``images``: float32 ``(N, S, S)`` in ``[0, 1]``, rows aligned with ``frame``.
    ``masks``: ``image_id -> uint8 (4, S, S)`` region masks where known (else empty).
    ``diagnostic``: the diagnostic-region table where known (synthetic faces), else None.
    ``qc``: rows dropped with ``on_invalid="drop"``, per file and reason (``file, reason, n_rows``).
    """

    frame: pd.DataFrame
    images: np.ndarray
    masks: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    diagnostic: pd.DataFrame | None = None
    qc: pd.DataFrame = dataclasses.field(default_factory=_empty_qc)


def _lookup_label(raw: object, label_map: Mapping[str, str] | None) -> str | None:
    key = str(raw).strip()
    if label_map and key in label_map:
        return label_map[key]
    return LABEL_ALIASES.get(key.lower())


def _known_labels(label_map: Mapping[str, str] | None) -> list[str]:
    return sorted(set(LABEL_ALIASES) | set(label_map or {}))


def canonical_label(raw: object, label_map: Mapping[str, str] | None = None, *, where: str) -> str:
    """Map a dataset's label spelling to a canonical expression name.

    ``label_map`` (from config) wins over the built-in aliases (which ignore case). ``where``
    names the file/row for the error message.
    """
    canon = _lookup_label(raw, label_map)
    if canon is None:
        raise DatasetError(
            f"{where}: unknown expression label {str(raw).strip()!r}; known labels: "
            f"{_known_labels(label_map)} (add it to dataset.label_map)", "unknown_label")
    return canon


# ----------------------------------------------------------------------------- image conversion

def _gray(image: Image.Image) -> Image.Image:
    """The image as one float channel (mode ``F``) on the 0-255 scale, whatever its mode.

    8-bit modes (L, P, RGB, RGBA, CMYK, 1, ...) go through PIL's gray conversion (ITU-R 601-2
    luma, alpha ignored); 16-bit gray (``I;16*``, and ``I`` as PNG decoders give it) is scaled
    from 0-65535, not clipped at 255.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        return Image.fromarray(np.asarray(image, dtype=np.float32) * np.float32(255 / 65535))
    if image.mode == "F":
        return image
    return image.convert("L").convert("F")


CROPS = ("center", "full")


def standardise_image(image: Image.Image, size: int,
                      box: tuple[float, float, float, float] | None = None, crop: str = _CROP
                      ) -> tuple[np.ndarray, dict[str, float]]:
    """Convert an image to a gray float32 ``(size, size)`` array in ``[0, 1]``.

    ``box`` (left, top, right, bottom, in original pixels, continuous coordinates with the origin
    at the image's top-left corner) is the region to keep. Without a box, ``crop`` decides:
    ``"center"`` keeps the largest centred square (the aspect ratio is kept), ``"full"`` keeps the
    whole image (squeezed to a square: for images that were stretched from square ones). Parts
    of the box outside the image are padded black. The region is resized to ``size`` x
    ``size`` with PIL's bilinear filter (which averages when it shrinks). Returns the array and the
    geometry (crop box and original size) for mapping clicks later.
    """
    gray = _gray(image)
    w, h = gray.size
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    if box is None and crop == "full":
        box = (0.0, 0.0, float(w), float(h))
    elif box is None:
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        box = (left, top, left + side, top + side)
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise DatasetError(f"crop box {box} is empty", "bad_face_box")
    pad = [int(np.ceil(max(0.0, v))) for v in (-left, -top, right - w, bottom - h)]
    if any(pad):
        padded = Image.new("F", (w + pad[0] + pad[2], h + pad[1] + pad[3]), 0.0)
        padded.paste(gray, (pad[0], pad[1]))
        gray = padded
    inner = (left + pad[0], top + pad[1], right + pad[0], bottom + pad[1])
    resized = gray.resize((size, size), Image.Resampling.BILINEAR, box=inner)
    array = np.clip(np.asarray(resized, dtype=np.float32) / 255.0, 0.0, 1.0)
    geometry = {"crop_left": left, "crop_top": top, "crop_right": right, "crop_bottom": bottom,
                "orig_width": w, "orig_height": h}
    return array, geometry


def read_image(path: Path, size: int, box: tuple[float, float, float, float] | None = None,
               crop: str = _CROP) -> tuple[np.ndarray, dict[str, float]]:
    """Read and standardise one image file.

    The EXIF orientation is applied first (as image viewers and browsers show the photo), so the
    geometry refers to the image as displayed. A corrupt, truncated, empty or unreadable file is
    a :class:`DatasetError` naming it (reasons ``empty_image`` and ``unreadable_image``).
    """
    try:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: empty image file (0 bytes)", "empty_image")
        with Image.open(path) as im:
            im.load()
            oriented = ImageOps.exif_transpose(im)
            return standardise_image(oriented, size, box, crop)
    except DatasetError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})", "unreadable_image") from exc


# ----------------------------------------------------------------------------- landmarks -> masks

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
    from .synthetic import MASK_MARGIN_PX

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


# ----------------------------------------------------------------------------- adapters

class _Collector:
    """The rows of one source as they are read; with ``on_invalid="drop"`` a bad row is skipped
    and counted by reason instead of raised."""

    def __init__(self, source: Path, on_invalid: str) -> None:
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        self.source, self.on_invalid = source, on_invalid
        self.rows: list[dict] = []
        self.arrays: list[np.ndarray] = []
        self.masks: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    @contextlib.contextmanager
    def row(self) -> Iterator[None]:
        """Work on one row: a DatasetError inside is raised (error) or counted (drop)."""
        try:
            yield
        except DatasetError as exc:
            self.reject(exc)

    def reject(self, exc: DatasetError, n_rows: int = 1) -> None:
        if self.on_invalid == "error":
            raise exc
        _log.warning("dropped (%s): %s", exc.reason, exc)
        self.counts[exc.reason] = self.counts.get(exc.reason, 0) + n_rows

    def add(self, row: dict, array: np.ndarray, masks: np.ndarray | None = None) -> None:
        self.rows.append(row)
        self.arrays.append(array)
        if masks is not None:
            self.masks[row["image_id"]] = masks

    def qc(self) -> pd.DataFrame:
        if not self.counts:
            return _empty_qc()
        return pd.DataFrame([{"file": self.source.name, "reason": r, "n_rows": n}
                             for r, n in self.counts.items()], columns=QC_COLUMNS)

    def dataset(self, nothing: str) -> Dataset:
        """The collected images; ``nothing`` is the error message when there are none."""
        if not self.rows:
            dropped = f" (all dropped as invalid: {self.counts})" if self.counts else ""
            raise DatasetError(f"{self.source}: {nothing}{dropped}")
        frame = pd.DataFrame(self.rows)
        images = np.stack(self.arrays).astype(np.float32)
        return Dataset(frame=frame, images=images, masks=self.masks, qc=self.qc())


def _image_id_problem(image_id: str) -> str | None:
    """Why ``image_id`` cannot name a prepared file (it becomes ``images/<image_id>.png``)."""
    if not image_id:
        return "empty image_id"
    parts = PurePosixPath(image_id).parts
    if image_id.startswith("/") or "\\" in image_id or any(p in ("..", ".") for p in parts):
        return "image_id must be a relative path without '.', '..' or '\\' parts"
    return None


def load_synthetic(expressions: list[str], size: int, params: Mapping, jobs: int = 1) -> Dataset:
    """Generate the embedded default: AU-posed synthetic faces with region masks."""
    from . import synthetic

    frame, images, masks = synthetic.generate_faces(
        n_identities=params["identities"], expressions=expressions,
        images_per_expression=params["images_per_expression"], size=size, seed=params["seed"],
        intensity_range=tuple(params["intensity_range"]), n_jobs=jobs,
    )
    frame = frame.assign(crop_left=0.0, crop_top=0.0, crop_right=float(size), crop_bottom=float(size),
                         orig_width=size, orig_height=size)
    diagnostic = synthetic.diagnostic_regions(expressions, size=size, seed=params["seed"])
    return Dataset(frame=frame, images=images, masks=dict(zip(frame["image_id"], masks)),
                   diagnostic=diagnostic)


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                  and p.is_file() and not any(part.startswith(".") for part in
                                               p.relative_to(folder).parts))


def load_imagefolder(root: Path, size: int, label_map: Mapping[str, str] | None = None,
                     on_invalid: str = _ON_INVALID, crop: str = _CROP) -> Dataset:
    """Load ``<root>/<label>/<image file>`` (images may sit in subfolders of a label folder).

    ``image_id`` is the path below root without suffix. When every top-level folder is named
    like a split (:data:`SPLIT_FOLDERS`: train, val, valid, validation, test, ...), the layout
    is ``<root>/<split>/<label>/<image file>``; those splits are kept when the folders hold all of
    train, val and test, otherwise (say only ``validation/``) the images are pooled and split by
    the workflow. Hidden files and folders (names starting with ``.``) are skipped. Every
    folder name that maps to no expression is listed in one error. ``crop``: see
    :func:`standardise_image`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset.path is not a folder")
    tops = _visible_dirs(root)
    split_layout = bool(tops) and all(p.name.lower() in SPLIT_FOLDERS for p in tops)
    label_dirs = ([(SPLIT_FOLDERS[t.name.lower()], d) for t in tops for d in _visible_dirs(t)]
                  if split_layout else [(None, d) for d in tops])
    labels = {d: _lookup_label(d.name, label_map) for _, d in label_dirs}
    unknown = sorted({d.name for d, label in labels.items() if label is None})
    coll = _Collector(root, on_invalid)
    if unknown and on_invalid == "error":
        raise DatasetError(
            f"{root}: unknown expression label(s) {unknown} (folder names); labels found: "
            f"{sorted({d.name for d in labels})}; known labels: {_known_labels(label_map)} "
            "(add them to dataset.label_map)", "unknown_label")
    files = {d: _image_files(d) for _, d in label_dirs}
    ids = pd.Series([p.relative_to(root).with_suffix("").as_posix()
                     for d in files for p in files[d]], dtype=str)
    repeated = set(ids[ids.duplicated()])
    for split, label_dir in label_dirs:
        if labels[label_dir] is None:
            coll.reject(DatasetError(f"{label_dir}: unknown expression label {label_dir.name!r} "
                                     f"({len(files[label_dir])} images)", "unknown_label"),
                        n_rows=len(files[label_dir]))
            continue
        for path in files[label_dir]:
            with coll.row():
                image_id = path.relative_to(root).with_suffix("").as_posix()
                if image_id in repeated:
                    raise DatasetError(f"{path}: image_id {image_id!r} is shared with another file "
                                       "of the same name and another suffix", "duplicate_image_id")
                array, geometry = read_image(path, size, crop=crop)
                row = {"image_id": image_id, "label": labels[label_dir], "identity": image_id,
                       **geometry}
                if split is not None:
                    row["split"] = split
                coll.add(row, array)
    layout = "<split>/<label>/" if split_layout else "<label>/"
    data = coll.dataset(f"no images ({', '.join(IMAGE_SUFFIXES)}) in any {layout} folder")
    if split_layout:
        found = set(data.frame["split"])
        if not {"train", "val", "test"} <= found:
            _log.info("%s: split folders give only %s, not train, val and test: the images are "
                      "pooled and split by dataset.split", root, sorted(found))
            data.frame = data.frame.drop(columns="split")
    return data


def _repeated_lines(values: pd.Series) -> dict[str, list[int]]:
    """Values that occur more than once -> the file lines (header = line 1) they occur on."""
    dup = values[values.duplicated(keep=False)]
    return {k: (g.index + 2).tolist() for k, g in dup.groupby(dup)}


def _check_codes(values: pd.Series, codes: Sequence[int], path: Path, column: str,
                 on_invalid: str) -> None:
    """Raise (error mode) at the first value that is not one of ``codes``, listing all of them."""
    bad = ~values.str.strip().isin([str(c) for c in codes])
    if bad.any() and on_invalid == "error":
        first = int(np.flatnonzero(bad.to_numpy())[0])
        distinct = sorted(set(values[bad].str.strip()))
        raise DatasetError(
            f"{path}, line {first + 2}, column {column!r}: {values.iat[first]!r} is not a code "
            f"{min(codes)}-{max(codes)}; unknown values found in this file: {distinct}",
            f"bad_{column}")


def load_manifest(csv_path: Path, size: int, label_map: Mapping[str, str] | None = None,
                  on_invalid: str = _ON_INVALID, crop: str = _CROP) -> Dataset:
    """Load a CSV ``image_id,path,label[,identity][,split]``; ``path`` relative to the CSV's folder.

    A blank ``identity`` is the image's own id; a blank ``split`` leaves the image to the
    workflow's split. Repeated ``image_id``s are invalid (every copy: nothing says which is right).
    ``crop``: see :func:`standardise_image`.
    """
    csv_path = Path(csv_path)
    table = _read_csv(csv_path, required=("image_id", "path", "label"),
                      optional=("identity", "split"))
    labels = {v: _lookup_label(v, label_map) for v in table["label"].unique()}
    unknown = sorted({str(v).strip() for v, c in labels.items() if c is None})
    lines_of = _repeated_lines(table["image_id"].str.strip())
    coll = _Collector(csv_path, on_invalid)
    for i, rec in enumerate(table.itertuples(index=False), start=2):
        where = f"{csv_path}, line {i}"
        with coll.row():
            image_id = str(rec.image_id).strip()
            problem = _image_id_problem(image_id)
            if problem:
                raise DatasetError(f"{where}, column 'image_id': {problem} (value {image_id!r})",
                                   "bad_image_id")
            if image_id in lines_of:
                raise DatasetError(f"{where}, column 'image_id': {image_id!r} repeated on lines "
                                   f"{lines_of[image_id]}", "duplicate_image_id")
            label = labels[rec.label]
            if label is None:
                raise DatasetError(
                    f"{where}, column 'label': unknown expression label "
                    f"{str(rec.label).strip()!r}; "
                    f"unknown labels found in this file: {unknown}; known labels: "
                    f"{_known_labels(label_map)} (add them to dataset.label_map)", "unknown_label")
            row = {"image_id": image_id, "label": label,
                   "identity": str(getattr(rec, "identity", "")).strip() or image_id}
            if "split" in table.columns and str(rec.split).strip():
                split = str(rec.split).strip().lower()
                if split not in {"train", "val", "test"}:
                    raise DatasetError(f"{where}, column 'split': {rec.split!r} is not train, val, "
                                       "test or blank", "bad_split")
                row["split"] = split
            path = csv_path.parent / str(rec.path).strip()
            if not str(rec.path).strip() or not path.is_file():
                raise DatasetError(f"{where}, column 'path': no such image file {path}",
                                   "missing_image")
            array, geometry = read_image(path, size, crop=crop)
            coll.add({**row, **geometry}, array)
    return coll.dataset("no image rows")


def load_fer2013(csv_path: Path, size: int, on_invalid: str = _ON_INVALID) -> Dataset:
    """Load the FER2013 CSV ``emotion,pixels,Usage`` (48x48 gray faces as space-separated pixels).

    ``Usage`` maps Training -> train, PublicTest -> val, PrivateTest -> test (blank: the
    workflow's split).
    """
    csv_path = Path(csv_path)
    table = _read_csv(csv_path, required=("emotion", "pixels"), optional=("Usage",))
    _check_codes(table["emotion"], list(FER2013_CODES), csv_path, "emotion", on_invalid)
    usage = {"training": "train", "publictest": "val", "privatetest": "test"}
    coll = _Collector(csv_path, on_invalid)
    for i, rec in enumerate(table.itertuples(index=False), start=2):
        where = f"{csv_path}, line {i}"
        with coll.row():
            try:
                label = FER2013_CODES[int(str(rec.emotion).strip())]
            except (ValueError, KeyError):
                raise DatasetError(f"{where}, column 'emotion': {rec.emotion!r} is not a code 0-6",
                                   "bad_emotion") from None
            try:
                pixels = np.array(str(rec.pixels).split(), dtype=np.float64)
            except ValueError:
                raise DatasetError(f"{where}, column 'pixels': not space-separated numbers",
                                   "bad_pixels") from None
            side = int(round(np.sqrt(pixels.size)))
            if side * side != pixels.size or side == 0:
                raise DatasetError(f"{where}, column 'pixels': {pixels.size} values is not a "
                                   "square image", "bad_pixels")
            if not (np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 255):
                raise DatasetError(f"{where}, column 'pixels': values outside 0-255", "bad_pixels")
            image_id = f"fer2013-{i - 2}"
            row = {"image_id": image_id, "label": label, "identity": image_id}
            if "Usage" in table.columns and str(rec.Usage).strip():
                key = str(rec.Usage).strip().lower()
                if key not in usage:
                    raise DatasetError(f"{where}, column 'Usage': {rec.Usage!r} is not Training, "
                                       "PublicTest, PrivateTest or blank", "bad_usage")
                row["split"] = usage[key]
            im = Image.fromarray(pixels.astype(np.uint8).reshape(side, side))
            array, geometry = standardise_image(im, size)
            coll.add({**row, **geometry}, array)
    return coll.dataset("no image rows")


def load_affectnet(csv_path: Path, image_root: Path, size: int, on_invalid: str = _ON_INVALID
                   ) -> Dataset:
    """Load AffectNet's CSV: crop each face by its box; codes 8-10 are left out (not invalid).

    ``image_id`` is ``subDirectory_filePath`` without suffix. ``facial_landmarks`` (68 points
    ``x1;y1;x2;y2;...`` in original pixels) become region masks (:func:`landmark_masks`) in the
    cropped and resized frame; an image with a blank landmarks cell has no masks.
    """
    csv_path, image_root = Path(csv_path), Path(image_root)
    table = _read_csv(csv_path, required=("subDirectory_filePath", "face_x", "face_y", "face_width",
                                          "face_height", "expression"),
                      optional=("facial_landmarks", "valence", "arousal"))
    _check_codes(table["expression"], list(AFFECTNET_CODES) + list(AFFECTNET_DROPPED_CODES),
                 csv_path, "expression", on_invalid)
    kept = ~table["expression"].str.strip().isin([str(c) for c in AFFECTNET_DROPPED_CODES])
    lines_of = _repeated_lines(table["subDirectory_filePath"].str.strip()[kept])
    coll = _Collector(csv_path, on_invalid)
    for i, rec in enumerate(table.itertuples(index=False), start=2):
        if not kept.iat[i - 2]:
            continue
        where = f"{csv_path}, line {i}"
        with coll.row():
            try:
                label = AFFECTNET_CODES[int(str(rec.expression).strip())]
            except (ValueError, KeyError):
                raise DatasetError(f"{where}, column 'expression': {rec.expression!r} is not a "
                                   "code 0-10", "bad_expression") from None
            rel = str(rec.subDirectory_filePath).strip()
            image_id = PurePosixPath(rel).with_suffix("").as_posix() if rel else ""
            problem = _image_id_problem(image_id)
            if problem:
                raise DatasetError(f"{where}, column 'subDirectory_filePath': {problem} "
                                   f"(value {rel!r})", "bad_image_id")
            if rel in lines_of:
                raise DatasetError(f"{where}, column 'subDirectory_filePath': {rel!r} repeated on "
                                   f"lines {lines_of[rel]}", "duplicate_image_id")
            try:
                x, y, w, h = (float(v) for v in (rec.face_x, rec.face_y, rec.face_width,
                                                 rec.face_height))
            except ValueError:
                raise DatasetError(f"{where}, columns face_x..face_height: not numbers",
                                   "bad_face_box") from None
            if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
                raise DatasetError(f"{where}, columns face_width, face_height: the face box "
                                   f"({x}, {y}, {w}, {h}) is empty", "bad_face_box")
            points = parse_landmarks(getattr(rec, "facial_landmarks", ""),
                                     where=f"{where}, column 'facial_landmarks'")
            path = image_root / rel
            if not path.is_file():
                raise DatasetError(f"{where}, column 'subDirectory_filePath': no such image file "
                                   f"{path}", "missing_image")
            array, geometry = read_image(path, size, box=(x, y, x + w, y + h))
            masks = None if points is None else landmark_masks(crop_points(points, geometry, size),
                                                               size)
            coll.add({"image_id": image_id, "label": label, "identity": image_id, **geometry},
                     array, masks)
    n_left_out = int((~kept).sum())
    if n_left_out:
        _log.info("%s: %d rows with expression codes 8-10 (none, uncertain, non-face) left out",
                  csv_path, n_left_out)
    return coll.dataset("no image rows with an expression code 0-7")


def _read_csv(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (dataset.path)")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    extra = [c for c in table.columns if c not in required + optional]
    if extra:
        raise DatasetError(f"{path}: unexpected column(s) {extra}; allowed {list(required + optional)}")
    return table


def load_dataset(config: Mapping, jobs: int = 1) -> Dataset:
    """Load the dataset named by ``config['dataset']`` and keep the run's expressions only.

    Images whose label is a canonical expression outside ``dataset.expressions`` are left out (a
    FER2013 run on three classes, say); labels that are not expressions at all are invalid
    (``dataset.on_invalid``). ``jobs``: worker processes for the synthetic faces.
    """
    ds = config["dataset"]
    size, source = ds["image_size"], ds["source"]
    label_map = ds.get("label_map") or {}
    on_invalid = ds.get("on_invalid", "error")
    crop = ds.get("crop", "center")
    if source == "synthetic":
        data = load_synthetic(ds["expressions"], size, ds["synthetic"], jobs=jobs)
    elif source == "imagefolder":
        data = load_imagefolder(Path(ds["path"]), size, label_map, on_invalid, crop)
    elif source == "manifest":
        data = load_manifest(Path(ds["path"]), size, label_map, on_invalid, crop)
    elif source == "fer2013":
        data = load_fer2013(Path(ds["path"]), size, on_invalid)
    elif source == "affectnet":
        data = load_affectnet(Path(ds["path"]), Path(ds["image_root"]), size, on_invalid)
    else:
        raise DatasetError(f"dataset.source: unknown source {source!r}")
    keep = data.frame["label"].isin(ds["expressions"]).to_numpy()
    if not keep.any():
        raise DatasetError(f"dataset.path {ds.get('path')}: no image has a label in dataset.expressions "
                           f"{ds['expressions']}; labels found: {sorted(data.frame['label'].unique())}")
    if not keep.all():
        left_out = data.frame.loc[~keep, "label"].value_counts().sort_index().to_dict()
        _log.info("%s: images of expressions outside dataset.expressions %s left out: %s",
                  ds.get("path") or source, ds["expressions"], left_out)
    frame = data.frame.loc[keep].reset_index(drop=True)
    masks = {k: v for k, v in data.masks.items() if k in set(frame["image_id"])}
    return Dataset(frame=frame, images=data.images[keep], masks=masks, diagnostic=data.diagnostic,
                   qc=data.qc)


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
