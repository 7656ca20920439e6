"""Dataset sources: every source becomes one table of images with canonical labels.

:data:`SOURCES` maps each ``dataset.source`` to its loader; :func:`load_dataset` picks it from the
config and keeps the run's expressions. An adapter returns a :class:`Dataset`: a frame with one row per image (``image_id``, ``label``,
``identity``, optional ``split``) and the standardised gray images (float32 ``(N, S, S)`` in
``[0, 1]``), plus region masks where the source knows them. :func:`~.images.standardise_image` converts
every image the same way (gray, crop, resize) and records the geometry it applied, so that click
coordinates on the original stimulus can be mapped through it later (:func:`~.prepared.stimulus_geometries`).

Bad input is a :class:`DatasetError` naming the file, the row (line) and the column. With
``on_invalid="drop"`` the adapters skip bad rows and images instead and count them by reason in
``Dataset.qc`` (columns ``file, reason, n_rows``, the shape of ``results/humans/qc.csv``); every
dropped item is also logged with its full message. Problems with the source as a whole (missing
file or folder, missing columns) are always errors.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from ..catalogue import schema_defaults
from .core import QC_COLUMNS, Dataset, DatasetError, _empty_qc, _known_labels, _lookup_label
from .images import IMAGE_SUFFIXES, read_image, standardise_image
from .landmarks import crop_points, landmark_masks, parse_landmarks

#: Defaults of the ``dataset`` settings: the config schema (their one source).
_DATASET = schema_defaults("dataset")
_ON_INVALID, _CROP = _DATASET["on_invalid"], _DATASET["crop"]

_log = logging.getLogger(__name__)

ON_INVALID = ("error", "drop")

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
    from .. import synthetic

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


def _settings(ds: Mapping) -> tuple[int, dict[str, str], str, str]:
    """``image_size, label_map, on_invalid, crop`` of the ``dataset`` settings."""
    return (ds["image_size"], ds.get("label_map") or {}, ds.get("on_invalid", _ON_INVALID),
            ds.get("crop", _CROP))


def _synthetic(ds: Mapping, jobs: int) -> Dataset:
    return load_synthetic(ds["expressions"], ds["image_size"], ds["synthetic"], jobs=jobs)


def _imagefolder(ds: Mapping, jobs: int) -> Dataset:
    size, label_map, on_invalid, crop = _settings(ds)
    return load_imagefolder(Path(ds["path"]), size, label_map, on_invalid, crop)


def _manifest(ds: Mapping, jobs: int) -> Dataset:
    size, label_map, on_invalid, crop = _settings(ds)
    return load_manifest(Path(ds["path"]), size, label_map, on_invalid, crop)


def _fer2013(ds: Mapping, jobs: int) -> Dataset:
    size, _, on_invalid, _ = _settings(ds)
    return load_fer2013(Path(ds["path"]), size, on_invalid)


def _affectnet(ds: Mapping, jobs: int) -> Dataset:
    size, _, on_invalid, _ = _settings(ds)
    return load_affectnet(Path(ds["path"]), Path(ds["image_root"]), size, on_invalid)


#: The sources, by ``dataset.source`` (the schema's enum): each loads its images from the
#: ``dataset`` settings with ``jobs`` worker processes (used by the synthetic faces only). A new
#: source is a loader returning a :class:`Dataset` plus an entry here and in the schema.
SOURCES: dict[str, Callable[[Mapping, int], Dataset]] = {
    "synthetic": _synthetic, "imagefolder": _imagefolder, "manifest": _manifest,
    "fer2013": _fer2013, "affectnet": _affectnet,
}


def load_dataset(config: Mapping, jobs: int = 1) -> Dataset:
    """Load the dataset named by ``config['dataset']`` and keep the run's expressions only.

    Images whose label is a canonical expression outside ``dataset.expressions`` are left out (a
    FER2013 run on three classes, say); labels that are not expressions at all are invalid
    (``dataset.on_invalid``). ``jobs``: worker processes for the synthetic faces.
    """
    ds = config["dataset"]
    source = ds["source"]
    if source not in SOURCES:
        raise DatasetError(f"dataset.source: unknown source {source!r}; known: {sorted(SOURCES)}")
    data = SOURCES[source](ds, jobs)
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
