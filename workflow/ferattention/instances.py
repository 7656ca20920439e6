"""Network instances: each training seed of a ``models:`` entry is one trained instance.

An instance is named by its key ``<model>/seed-<k>`` (:func:`instance_key`): its files lie under
``results/models/<model>/seed-<k>/`` (and likewise for saliency and faithfulness; similarity in
``results/similarity/<model>/seed-<k>.csv``), and per-instance agents are
``model:<model>/seed-<k>``. Tables carry the instance as two columns, ``model`` and ``seed``; rows
pooled over a model's instances have ``seed`` empty. Inside the statistics the per-instance code
runs on frames whose ``model`` column holds the key (:func:`fold`), and the result tables are
split back (:func:`unfold`). Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

#: Between the model's name and the seed in an instance key (and in paths).
SEPARATOR = "/seed-"
_KEY = re.compile(r"^(?P<model>[A-Za-z0-9_.-]+)/seed-(?P<seed>-?\d+)$")


def model_seeds(spec: Mapping[str, Any]) -> list[int]:
    """The training seeds of one ``models.<name>`` entry: ``seeds`` when given (it replaces
    ``seed``, so that a config file can add seeds to a model of config.yaml), else ``[seed]``
    (default 0)."""
    if spec.get("seeds") is not None:
        return [int(s) for s in spec["seeds"]]
    return [int(spec.get("seed", 0))]


def instance_key(model: str, seed: int) -> str:
    """``<model>/seed-<seed>``: one trained instance."""
    return f"{model}{SEPARATOR}{int(seed)}"


def split_key(key: str) -> tuple[str, int | None]:
    """``(model, seed)`` of an instance key; ``(key, None)`` for a name that is not one (a
    model pooled over its instances, a model-free map set)."""
    match = _KEY.match(str(key))
    return (match["model"], int(match["seed"])) if match else (str(key), None)


def instances(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every instance key of a ``models:`` block, model by model, seeds in the order given."""
    return [instance_key(name, seed) for name, spec in models.items() for seed in model_seeds(spec)]


def instances_of(models: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Model name -> its instance keys."""
    return {name: [instance_key(name, s) for s in model_seeds(spec)] for name, spec in models.items()}


def instance_spec(spec: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """One instance's model entry: ``spec`` with its ``seed`` set and ``seeds`` left out."""
    return {**{k: v for k, v in spec.items() if k != "seeds"}, "seed": int(seed)}


def fold(frame: pd.DataFrame, column: str = "model") -> pd.DataFrame:
    """``frame`` with ``column`` holding the instance key of ``column`` and ``seed`` (dropped);
    rows with an empty seed keep the name. A frame without ``seed`` is returned as it is."""
    if "seed" not in frame.columns:
        return frame
    seeds = pd.to_numeric(frame["seed"], errors="coerce")
    names = frame[column].astype(str)
    keys = [name if pd.isna(s) else instance_key(name, int(s)) for name, s in zip(names, seeds)]
    return frame.drop(columns="seed").assign(**{column: keys})


def unfold(frame: pd.DataFrame, column: str = "model") -> pd.DataFrame:
    """Inverse of :func:`fold`: ``column`` split into the model's name and a ``seed`` column
    (nullable integer, empty where the value is no instance key) placed right after it."""
    parts = [split_key(v) for v in frame[column]]
    out = frame.copy()
    out[column] = [p[0] for p in parts]
    out.insert(out.columns.get_loc(column) + 1, "seed",
               pd.array([p[1] for p in parts], dtype="Int64"))
    return out


__all__ = ["SEPARATOR", "fold", "instance_key", "instance_spec", "instances", "instances_of",
           "model_seeds", "split_key", "unfold"]
