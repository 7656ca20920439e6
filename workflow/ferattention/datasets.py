"""Dataset adapters: every source becomes one table of images with canonical labels.

An adapter returns a :class:`Dataset`: a frame with one row per image (``image_id``, ``label``,
``identity``, optional ``split``) and the standardised gray images (float32 ``(N, S, S)`` in
``[0, 1]``), plus region masks where the source knows them. :func:`standardise_image` converts
every image the same way (gray, centre crop to a square, resize) and records the geometry it
applied, so that click coordinates on the original stimulus can be mapped through it later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .labels import EXPRESSIONS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

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

#: FER2013 ``emotion`` codes (DESIGN.md section 4).
FER2013_CODES = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
#: AffectNet ``expression`` codes; 8-10 (none, uncertain, non-face) are dropped.
AFFECTNET_CODES = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust",
                   6: "anger", 7: "contempt"}


class DatasetError(ValueError):
    """Bad dataset input; the message names the file, row and field."""


@dataclasses.dataclass
class Dataset:
    """Standardised images with their table.

    ``frame``: one row per image, columns ``image_id, label, identity`` (+ ``split`` when the source
    fixes it, + ``crop_left, crop_top, crop_right, crop_bottom, orig_width, orig_height``: the
    geometry applied). ``images``: float32 ``(N, S, S)`` in ``[0, 1]``, rows aligned with ``frame``.
    ``masks``: ``image_id -> uint8 (4, S, S)`` region masks where known (else empty).
    ``diagnostic``: the diagnostic-region table where known (synthetic faces), else None.
    """

    frame: pd.DataFrame
    images: np.ndarray
    masks: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    diagnostic: pd.DataFrame | None = None


def canonical_label(raw: object, label_map: Mapping[str, str] | None = None, *, where: str) -> str:
    """Map a dataset's label spelling to a canonical expression name.

    ``label_map`` (from config) wins over the built-in aliases. ``where`` names the file/row for the
    error message.
    """
    key = str(raw).strip()
    if label_map and key in label_map:
        return label_map[key]
    canon = LABEL_ALIASES.get(key.lower())
    if canon is None:
        raise DatasetError(
            f"{where}: unknown expression label {key!r}; known labels: {sorted(set(LABEL_ALIASES))}"
            " (add it to dataset.label_map)"
        )
    return canon


def standardise_image(image: Image.Image, size: int, box: tuple[float, float, float, float] | None = None
                      ) -> tuple[np.ndarray, dict[str, float]]:
    """Convert an image to a gray float32 ``(size, size)`` array in ``[0, 1]``.

    ``box`` (left, top, right, bottom, in original pixels) is the region to keep; by default the
    largest centred square. The region is resized to ``size`` x ``size`` with a bilinear filter.
    Returns the array and the geometry (crop box and original size) for mapping clicks later.
    """
    gray = image.convert("L")
    w, h = gray.size
    if box is None:
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        box = (left, top, left + side, top + side)
    resized = gray.resize((size, size), Image.Resampling.BILINEAR, box=box)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    geometry = {"crop_left": box[0], "crop_top": box[1], "crop_right": box[2], "crop_bottom": box[3],
                "orig_width": w, "orig_height": h}
    return array, geometry


def read_image(path: Path, size: int, box: tuple[float, float, float, float] | None = None
               ) -> tuple[np.ndarray, dict[str, float]]:
    """Read and standardise one image file; a corrupt, empty or unreadable file is a DatasetError."""
    try:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: empty image file (0 bytes)")
        with Image.open(path) as im:
            im.load()
            return standardise_image(im, size, box)
    except DatasetError:
        raise
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})") from exc


def _stack(rows: list[dict], arrays: list[np.ndarray], size: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(rows)
    images = np.stack(arrays).astype(np.float32) if arrays else np.zeros((0, size, size), np.float32)
    return frame, images


def load_synthetic(expressions: list[str], size: int, params: Mapping) -> Dataset:
    """Generate the embedded default: AU-posed synthetic faces with region masks."""
    from . import synthetic

    frame, images, masks = synthetic.generate_faces(
        n_identities=params["identities"], expressions=expressions,
        images_per_expression=params["images_per_expression"], size=size, seed=params["seed"],
        intensity_range=tuple(params["intensity_range"]),
    )
    frame = frame.assign(crop_left=0.0, crop_top=0.0, crop_right=float(size), crop_bottom=float(size),
                         orig_width=size, orig_height=size)
    diagnostic = synthetic.diagnostic_regions(expressions, size=size, seed=params["seed"])
    return Dataset(frame=frame, images=images, masks=dict(zip(frame["image_id"], masks)),
                   diagnostic=diagnostic)


def load_imagefolder(root: Path, size: int, label_map: Mapping[str, str] | None = None) -> Dataset:
    """Load ``<root>/<label>/<image file>``; ``image_id`` is the path below root without suffix."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset.path is not a folder")
    rows, arrays = [], []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = canonical_label(label_dir.name, label_map, where=f"{label_dir}")
        for path in sorted(p for p in label_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            array, geometry = read_image(path, size)
            image_id = path.relative_to(root).with_suffix("").as_posix()
            rows.append({"image_id": image_id, "label": label, "identity": image_id, **geometry})
            arrays.append(array)
    if not rows:
        raise DatasetError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in any <label>/ folder")
    return Dataset(*_stack(rows, arrays, size))


def load_manifest(csv_path: Path, size: int, label_map: Mapping[str, str] | None = None) -> Dataset:
    """Load a CSV ``image_id,path,label[,identity][,split]``; ``path`` relative to the CSV's folder."""
    csv_path = Path(csv_path)
    table = _read_csv(csv_path, required=("image_id", "path", "label"),
                      optional=("identity", "split"))
    rows, arrays = [], []
    for i, rec in enumerate(table.itertuples(index=False), start=2):
        where = f"{csv_path}, line {i}"
        label = canonical_label(rec.label, label_map, where=f"{where}, column 'label'")
        path = csv_path.parent / str(rec.path)
        if not path.is_file():
            raise DatasetError(f"{where}, column 'path': no such image file {path}")
        array, geometry = read_image(path, size)
        row = {"image_id": str(rec.image_id), "label": label,
               "identity": str(getattr(rec, "identity", rec.image_id)), **geometry}
        if "split" in table.columns:
            split = str(rec.split).strip().lower()
            if split not in {"train", "val", "test"}:
                raise DatasetError(f"{where}, column 'split': {rec.split!r} is not train, val or test")
            row["split"] = split
        rows.append(row)
        arrays.append(array)
    dupes = table["image_id"][table["image_id"].duplicated()].tolist()
    if dupes:
        raise DatasetError(f"{csv_path}, column 'image_id': duplicate ids {dupes[:5]}")
    return Dataset(*_stack(rows, arrays, size))


def load_fer2013(csv_path: Path, size: int) -> Dataset:
    """Load the FER2013 CSV ``emotion,pixels,Usage`` (48x48 gray faces as space-separated pixels).

    ``Usage`` maps Training -> train, PublicTest -> val, PrivateTest -> test.
    """
    csv_path = Path(csv_path)
    table = _read_csv(csv_path, required=("emotion", "pixels"), optional=("Usage",))
    usage = {"training": "train", "publictest": "val", "privatetest": "test"}
    rows, arrays = [], []
    for i, rec in enumerate(table.itertuples(index=False), start=2):
        where = f"{csv_path}, line {i}"
        try:
            code = int(rec.emotion)
            label = FER2013_CODES[code]
        except (ValueError, KeyError):
            raise DatasetError(f"{where}, column 'emotion': {rec.emotion!r} is not a code 0-6") from None
        try:
            pixels = np.array(str(rec.pixels).split(), dtype=np.float64)
        except ValueError:
            raise DatasetError(f"{where}, column 'pixels': not space-separated numbers") from None
        side = int(round(np.sqrt(pixels.size)))
        if side * side != pixels.size or side == 0:
            raise DatasetError(f"{where}, column 'pixels': {pixels.size} values is not a square image")
        im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8).reshape(side, side))
        array, geometry = standardise_image(im, size)
        image_id = f"fer2013-{i - 2}"
        row = {"image_id": image_id, "label": label, "identity": image_id, **geometry}
        if "Usage" in table.columns:
            key = str(rec.Usage).strip().lower()
            if key not in usage:
                raise DatasetError(f"{where}, column 'Usage': {rec.Usage!r} is not Training, "
                                   "PublicTest or PrivateTest")
            row["split"] = usage[key]
        rows.append(row)
        arrays.append(array)
    return Dataset(*_stack(rows, arrays, size))


def load_affectnet(csv_path: Path, image_root: Path, size: int) -> Dataset:
    """Load AffectNet's CSV: crop each face by its box; codes 8-10 are dropped.

    ``image_id`` is ``subDirectory_filePath`` without suffix.
    """
    csv_path, image_root = Path(csv_path), Path(image_root)
    table = _read_csv(csv_path, required=("subDirectory_filePath", "face_x", "face_y", "face_width",
                                          "face_height", "expression"),
                      optional=("facial_landmarks", "valence", "arousal"))
    rows, arrays = [], []
    for i, rec in enumerate(table.itertuples(index=False), start=2):
        where = f"{csv_path}, line {i}"
        try:
            code = int(rec.expression)
        except ValueError:
            raise DatasetError(f"{where}, column 'expression': {rec.expression!r} is not an integer") from None
        if code in (8, 9, 10):
            continue
        if code not in AFFECTNET_CODES:
            raise DatasetError(f"{where}, column 'expression': code {code} is not 0-10")
        try:
            x, y, w, h = (float(v) for v in (rec.face_x, rec.face_y, rec.face_width, rec.face_height))
        except ValueError:
            raise DatasetError(f"{where}, columns face_x..face_height: not numbers") from None
        path = image_root / str(rec.subDirectory_filePath)
        if not path.is_file():
            raise DatasetError(f"{where}, column 'subDirectory_filePath': no such image file {path}")
        array, geometry = read_image(path, size, box=(x, y, x + w, y + h))
        image_id = Path(str(rec.subDirectory_filePath)).with_suffix("").as_posix()
        rows.append({"image_id": image_id, "label": AFFECTNET_CODES[code], "identity": image_id,
                     **geometry})
        arrays.append(array)
    return Dataset(*_stack(rows, arrays, size))


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


def load_dataset(config: Mapping) -> Dataset:
    """Load the dataset named by ``config['dataset']`` and keep the run's expressions only.

    Images whose label is a canonical expression outside ``dataset.expressions`` are left out (a
    FER2013 run on three classes, say); labels that are not expressions at all are errors.
    """
    ds = config["dataset"]
    size, source = ds["image_size"], ds["source"]
    label_map = ds.get("label_map") or {}
    if source == "synthetic":
        data = load_synthetic(ds["expressions"], size, ds["synthetic"])
    elif source == "imagefolder":
        data = load_imagefolder(Path(ds["path"]), size, label_map)
    elif source == "manifest":
        data = load_manifest(Path(ds["path"]), size, label_map)
    elif source == "fer2013":
        data = load_fer2013(Path(ds["path"]), size)
    elif source == "affectnet":
        data = load_affectnet(Path(ds["path"]), Path(ds["image_root"]), size)
    else:
        raise DatasetError(f"dataset.source: unknown source {source!r}")
    keep = data.frame["label"].isin(ds["expressions"]).to_numpy()
    if not keep.any():
        raise DatasetError(f"dataset.path {ds.get('path')}: no image has a label in dataset.expressions "
                           f"{ds['expressions']}; labels found: {sorted(data.frame['label'].unique())}")
    frame = data.frame.loc[keep].reset_index(drop=True)
    masks = {k: v for k, v in data.masks.items() if k in set(frame["image_id"])}
    return Dataset(frame=frame, images=data.images[keep], masks=masks, diagnostic=data.diagnostic)


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
    import shutil
    import tempfile

    images_dir = Path(images_dir)
    images_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".images.", dir=images_dir.parent))
    try:
        paths = []
        for image_id, array in zip(data.frame["image_id"], data.images):
            rel = image_filename(image_id)
            target = tmp / Path(rel).relative_to("images")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)).save(target)
            paths.append(rel)
        if images_dir.exists():
            shutil.rmtree(images_dir)
        tmp.rename(images_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return data.frame.assign(path=paths)[MANIFEST_COLUMNS]


def read_prepared(manifest_path: str | Path, split: str | None = None
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """Read the prepared manifest and its images (float32 ``(N, S, S)`` in ``[0, 1]``).

    With ``split``, only that split, sorted by ``image_id`` (the order saliency shards use).
    """
    manifest_path = Path(manifest_path)
    frame = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    if split is not None:
        frame = frame[frame["split"] == split].sort_values("image_id").reset_index(drop=True)
    images = [np.asarray(Image.open(manifest_path.parent / p).convert("L"), dtype=np.float32) / 255.0
              for p in frame["path"]]
    stacked = np.stack(images) if images else np.zeros((0, 0, 0), np.float32)
    return frame, stacked
