"""Atomic file output and the on-disk formats shared between stages.

Every writer goes through :func:`atomic_path`: the data is written to a temporary name in the
target's folder and renamed into place, so an interrupted job never leaves a half-written output
that a later run would mistake for a finished one. Tables the workflow wrote are read back with
:func:`read_table`, which keeps ids such as ``"NA"`` as text.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` defaults to the target's own suffix, so that libraries that infer the format from
    the file name (matplotlib, numpy) keep working. Temporaries that a killed earlier write of
    ``path`` left behind are removed first.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; outputs should get the usual permissions (0666 less the umask).
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _remove_stale_temporaries(path: Path, suffix: str = "") -> None:
    """Remove the temporaries of earlier writes of ``path`` that a killed job left behind.

    A process killed outright (SIGKILL, power loss) cannot clean up. Only names of the exact form
    ``tempfile`` gave them (``.{name}.`` + 8 random characters + ``suffix``) are removed; a target
    is written by one job at a time, so none of them can still be in use.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(suffix)}")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if pattern.fullmatch(stale.name):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` if the block succeeds.

    The folder-level twin of :func:`atomic_path`: an interrupted job leaves no partial folder
    (only a hidden temporary one, removed on the way out, or by the next write if the job was
    killed outright).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; outputs are not
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write ``frame`` to ``path`` atomically (no index unless asked)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)


#: The text columns of the workflow's own tables (docs/design.md §5 and the intermediate tables
#: beside them): ids, labels and names. :func:`read_table` reads them as strings, never as NaN.
ID_COLUMNS: tuple[str, ...] = (
    "image_id", "participant_id", "trial_id", "identity", "label", "split", "path",
    "option_a", "option_b", "response", "answer", "prediction", "true", "expression",
    "expression_a", "expression_b", "region", "agent", "model", "method", "metric", "curve",
    "file", "reason", "test", "comparison",
)


def read_table(path: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV that the workflow wrote (:func:`write_csv`), keeping every id as text.

    By default pandas reads ``"NA"``, ``"nan"``, ``"null"``, ``"None"``, ``"N/A"`` ... as missing,
    even in a column read with ``dtype=str``: a participant with the initials ``NA`` would
    silently lose their clicks in grouping, or break the maps. So only an empty cell is missing
    (``to_csv`` writes NaN as an empty cell, so numeric columns round-trip), the columns of
    :data:`ID_COLUMNS` present in the file are strings, and an empty id is ``""``, never NaN.
    Other columns parse as usual. ``kwargs`` go to :func:`pandas.read_csv` (``usecols``,
    ``index_col`` ...); a ``dtype`` mapping is added to (and overrides) the id columns' one.
    """
    dtype: dict[str, Any] = {c: str for c in ID_COLUMNS}
    dtype.update(kwargs.pop("dtype", None) or {})
    frame = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""], **kwargs)
    text = [c for c in ID_COLUMNS if dtype[c] is str]
    for column in frame.columns.intersection(text):
        frame[column] = frame[column].fillna("")
    if frame.index.name in text:  # index_col="true" (a confusion matrix)
        frame.index = frame.index.fillna("")
    return frame


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_maps(maps: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Save a mapping ``image_id -> array`` as an uncompressed ``.npz`` atomically.

    Keys are image ids (they may contain ``/``); values are stored as given (maps: float32 HxW).
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{k: np.asarray(v) for k, v in maps.items()})


def load_maps(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load an ``.npz`` written by :func:`save_maps` into a dict ``image_id -> array``."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_map_shards(paths: list[str | os.PathLike]) -> dict[str, np.ndarray]:
    """Merge several shard files into one dict; an image id in two shards is an error."""
    merged: dict[str, np.ndarray] = {}
    for p in paths:
        for k, v in load_maps(p).items():
            if k in merged:
                raise ValueError(f"image_id {k!r} appears in more than one shard (again in {p})")
            merged[k] = v
    return merged
