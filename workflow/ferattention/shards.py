"""Saliency shards: the test images of a run cut into jobs of ``saliency.shard_size`` images.

One job computes one network instance's maps of one method for one shard: the test images sorted by
``image_id`` (:func:`test_image_ids`), shard ``k`` holding positions ``[k * size, (k + 1) * size)``.
Its file is :data:`SHARD_PATH`; the count, the slice, the file names and their grouping back
into map sets live here only (rules, rule scripts and benchmarks use them). Torch-free.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .instances import split_key

#: The file of one shard's maps (a Snakemake pattern: ``{model}``, ``{seed}``, ``{method}``,
#: ``{shard}``); the instance ``<model>/seed-<k>`` (:mod:`ferattention.instances`).
SHARD_PATH = "results/saliency/{model}/seed-{seed}/{method}/shard-{shard}.npz"
_SHARD_RE = re.compile(r"(?:^|/)saliency/(?P<model>[^/]+/seed-\d+)/(?P<method>[^/]+)/"
                       r"shard-(?P<shard>\d+)\.npz$")


class ShardKey(NamedTuple):
    """What a shard file holds: one instance's maps of one method for shard number ``shard``
    (``model``: the instance key ``<model>/seed-<k>``)."""

    model: str
    method: str
    shard: int


def split_rows(manifest: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split of a manifest frame (columns ``image_id``, ``split``) in shard
    order: sorted by ``image_id``, index reset."""
    rows = manifest[manifest["split"] == split]
    return rows.sort_values("image_id", kind="stable").reset_index(drop=True)


def test_image_ids(manifest: pd.DataFrame) -> list[str]:
    """The test images in shard order (sorted ``image_id``) of a manifest frame."""
    return split_rows(manifest, "test")["image_id"].tolist()


test_image_ids.__test__ = False  # a function of the package, not a pytest test


def n_shards(n_images: int, size: int) -> int:
    """Shards of ``size`` images for ``n_images`` test images (at least 1, the last may be short)."""
    if size < 1:
        raise ValueError(f"saliency.shard_size must be >= 1, got {size}")
    return max(1, math.ceil(n_images / size))


def shard_slice(shard: int, size: int) -> slice:
    """The positions of shard ``shard`` in the sorted test images."""
    if shard < 0 or size < 1:
        raise ValueError(f"shard must be >= 0 and size >= 1, got shard {shard}, size {size}")
    return slice(shard * size, (shard + 1) * size)


def shard_path(instance: str, method: str, shard: int) -> str:
    """The file of one shard of instance ``<model>/seed-<k>`` (relative to the run's folder)."""
    model, seed = split_key(instance)
    if seed is None:
        raise ValueError(f"{instance!r} is not an instance key (<model>/seed-<k>)")
    return SHARD_PATH.format(model=model, seed=seed, method=method, shard=shard)


def shard_paths(instances: Iterable[str], methods: Iterable[str], count: int) -> list[str]:
    """The files of every shard of every instance x method, in that order."""
    methods = list(methods)
    return [shard_path(key, method, k) for key in instances for method in methods for k in range(count)]


def parse_shard_path(path: str | Path) -> ShardKey:
    """The model, method and shard number of a shard file named as :data:`SHARD_PATH`."""
    match = _SHARD_RE.search(Path(path).as_posix())
    if match is None:
        raise ValueError(f"{path}: not a saliency shard file ({SHARD_PATH})")
    return ShardKey(match["model"], match["method"], int(match["shard"]))


def group_shards(paths: Iterable[str | Path]) -> dict[tuple[str, str], list[str]]:
    """Shard files grouped by ``(model, method)``, each group in shard order, groups in the
    order they first occur; a shard number given twice is an error."""
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for path in paths:
        key = parse_shard_path(path)
        group = groups.setdefault((key.model, key.method), {})
        if key.shard in group:
            raise ValueError(f"shard {key.shard} of {key.model}/{key.method} given twice: "
                             f"{group[key.shard]}, {path}")
        group[key.shard] = str(path)
    return {k: [v[s] for s in sorted(v)] for k, v in groups.items()}


def select(items: Sequence, shard: int, size: int) -> Sequence:
    """The items of shard ``shard`` (a list, array or frame in shard order; frames by position)."""
    part = shard_slice(shard, size)
    return items.iloc[part] if isinstance(items, (pd.DataFrame, pd.Series)) else items[part]


__all__ = ["SHARD_PATH", "ShardKey", "group_shards", "n_shards", "parse_shard_path", "select",
           "shard_path", "shard_paths", "shard_slice", "split_rows", "test_image_ids"]
