"""Train/val/test splits that never leak a face (identity) or a human-tested image into training."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def assign_splits(frame: pd.DataFrame, fractions: Mapping[str, float], seed: int,
                  force_test: Iterable[str] = ()) -> pd.Series:
    """Assign each image to ``train``, ``val`` or ``test``.

    Identity-disjoint: all images of one ``identity`` share a split. Identities are dealt to the
    splits per majority label in a seeded order, so each split gets about ``fractions`` of every
    label (stratified). Every identity with an image in ``force_test`` (images shown to humans)
    goes to test. Rows with a ``split`` already set (by the source) keep it, except that forced
    images move to test.

    Returns a Series of split names aligned with ``frame``.
    """
    total = sum(fractions[s] for s in SPLITS)
    if not np.isclose(total, 1.0):
        raise ValueError(f"dataset.split fractions must sum to 1, got {total}")
    force_test = set(force_test)
    rng = np.random.default_rng(seed)
    split = pd.Series(frame["split"] if "split" in frame else None, index=frame.index, dtype=object)

    free = split.isna()
    groups = frame.loc[free].groupby("identity", sort=True)
    forced_ids = {ident for ident, g in groups if g["image_id"].isin(force_test).any()}
    # An identity's stratum is its most common label; deal identities per stratum in turn.
    strata: dict[str, list[str]] = {}
    for ident, g in groups:
        if ident not in forced_ids:
            strata.setdefault(g["label"].mode().iloc[0], []).append(ident)
    ident_split: dict[str, str] = {ident: "test" for ident in forced_ids}
    for label in sorted(strata):
        idents = list(strata[label])
        rng.shuffle(idents)
        n = len(idents)
        n_test = int(round(fractions["test"] * n))
        n_val = int(round(fractions["val"] * n))
        for i, ident in enumerate(idents):
            ident_split[ident] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    split.loc[free] = frame.loc[free, "identity"].map(ident_split)
    split.loc[frame["image_id"].isin(force_test)] = "test"
    return split.astype(str)


def check_disjoint(frame: pd.DataFrame) -> None:
    """Raise if an identity appears in two splits (a leak)."""
    per_identity = frame.groupby("identity")["split"].nunique()
    leaked = per_identity[per_identity > 1].index.tolist()
    if leaked:
        raise ValueError(f"identities in more than one split: {leaked[:10]}")
