"""What every dataset source returns: :class:`Dataset`, :class:`DatasetError`, and the canonical
expression names of the sources' label spellings (:func:`canonical_label`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..labels import EXPRESSIONS

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
