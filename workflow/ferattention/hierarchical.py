"""Hierarchical (multi-way crossed, cluster) bootstrap of a weighted mean.

Each factor (network instance, face identity, participant, ...) is resampled independently: its
units are drawn with replacement, and a row's weight in a replicate is the product over factors
of its unit's count, so the interval generalises over every factor at once (Owen 2007, "The
pigeonhole bootstrap", Ann. Appl. Stat. 1(2)). A nested level (images within identities) is
resampled through its top cluster only, the identity (Field & Welsh 2007, "Bootstrapping
clustered data", J. R. Stat. Soc. B 69(3)). Draws depend only on the seed and the sorted unit ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

#: Most weight-matrix elements (replicates x cells) held at once; at most :data:`CHUNK` replicates.
MAX_ELEMENTS = 1 << 23
CHUNK = 256


@dataclasses.dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap estimate with its percentile interval.

    ``estimate``: the statistic on the data as observed. ``ci_low``, ``ci_high``: the percentile
    interval at the requested level. ``p_value``: two-sided bootstrap p of "statistic == 0",
    ``min(1, 2 (min(replicates <= 0, replicates >= 0) + 1) / (n + 1))`` (counts; the ``+ 1``
    keeps it at least ``2 / (n + 1)``, never 0: Davison & Hinkley 1997, §4.4); NaN when not
    computable.
    ``replicates``: (n_boot,) replicate statistics, NaN-free (replicates with zero total weight
    are dropped, so there may be fewer than ``n_boot``).
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    replicates: np.ndarray


def draw_counts(codes_count: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multiplicities of ``codes_count`` units: (n_boot, codes_count) ints.

    Row ``b`` holds the multinomial counts of drawing ``codes_count`` units with replacement, so
    each row sums to ``codes_count``. A single unit gives ones (it cannot vary) and consumes no
    draws from ``rng``.
    """
    if codes_count < 1:
        raise ValueError("draw_counts: need at least one unit")
    if codes_count == 1:
        return np.ones((n_boot, 1), dtype=np.int64)
    return rng.multinomial(codes_count, np.full(codes_count, 1.0 / codes_count), size=n_boot)


def _codes(ids: ArrayLike, n: int, name: str) -> tuple[np.ndarray, int]:
    """Codes (n,) of ``ids`` in sorted id order, and the number of units."""
    arr = np.asarray(ids)
    if arr.shape != (n,):
        raise ValueError(f"factor {name!r}: expected shape ({n},), got {arr.shape}")
    codes, uniques = pd.factorize(pd.Series(arr), sort=True)
    if (codes < 0).any():
        raise ValueError(f"factor {name!r}: ids must not be missing")
    return codes, len(uniques)


def _statistic(
    weights: np.ndarray, sums: np.ndarray, sizes: np.ndarray, starts: np.ndarray | None
) -> np.ndarray:
    """Statistic of each row of (B, m) cell weights -> (B,), NaN where it is not defined.

    ``sums``, ``sizes``: (m,) sum of the values and number of rows of each cell. ``starts`` None:
    the weighted mean ``sum(w sums) / sum(w sizes)``. Otherwise cells are sorted by group and
    ``starts`` holds each group's first cell: the mean over groups with weight of each group's
    weighted mean.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if starts is None:
            return (weights @ sums) / (weights @ sizes)
        num = np.add.reduceat(weights * sums, starts, axis=1)
        den = np.add.reduceat(weights * sizes, starts, axis=1)
        present = den > 0
        means = np.where(present, num / np.where(present, den, 1.0), 0.0)
        return means.sum(axis=1) / present.sum(axis=1)


def _cell_weights(cell_codes: Sequence[np.ndarray], counts: Sequence[np.ndarray], n_boot: int
                  ) -> Iterator[tuple[slice, np.ndarray]]:
    """Chunks of replicate weights of the cells: (replicates, (chunk, m) weights), a cell's
    weight the product over factors of its unit's count (at most :data:`MAX_ELEMENTS` held)."""
    m = len(cell_codes[0])
    chunk = max(1, min(CHUNK, MAX_ELEMENTS // m))
    for b0 in range(0, n_boot, chunk):
        b1 = min(b0 + chunk, n_boot)
        weights = np.ones((b1 - b0, m))
        for codes, c in zip(cell_codes, counts):
            weights *= c[b0:b1, codes]
        yield slice(b0, b1), weights


def weighted_mean_bootstrap(
    values: ArrayLike,
    factors: Mapping[str, ArrayLike],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    groups: ArrayLike | None = None,
) -> BootstrapResult:
    """Crossed cluster bootstrap of the weighted mean of ``values``.

    ``values``: (n,) finite floats, one per row. ``factors``: ordered mapping name -> (n,) ids of
    each row's unit on that factor, e.g. ``{"instance": seeds, "identity": identity_ids,
    "participant": participant_ids}``; give a nested level through its cluster (images go with
    their identity). Draws: ``rng = np.random.default_rng(seed)``, then for each factor in the
    mapping's order ``draw_counts(n_units, n_boot, rng)`` over its units sorted by id; a row's
    weight in replicate ``b`` is the product of its units' counts, and the statistic is
    ``sum(w v) / sum(w)``. The same seed and factors give the same weights whatever the values,
    so two statistics can be compared on the same resamples.

    ``groups``: optional (n,) ids. When given, the statistic is the unweighted mean over groups of
    each group's weighted mean (``groups`` = instance makes every instance count equally however
    many rows it has); a group with zero weight in a replicate is left out of that replicate's
    mean. Replicates with zero total weight are dropped.

    Degenerate inputs do not raise: fewer than 2 rows give the estimate with NaN interval and p;
    constant values ``c`` give the interval (c, c) and p = 2 / (n_boot + 1) (c != 0) or 1 (c == 0).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values: expected a 1-D array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite (drop NaN before)")
    if not factors:
        raise ValueError("factors: need at least one factor to resample")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    n = v.size
    coded = [_codes(ids, n, name) for name, ids in factors.items()]
    if n < 2:
        estimate = float(v[0]) if n else np.nan
        return BootstrapResult(estimate, np.nan, np.nan, np.nan, np.empty(0))

    # Rows sharing every unit (and group) always share their weight: pool them into cells,
    # sorted by group first so that each group's cells are contiguous.
    columns = [codes for codes, _ in coded]
    if groups is not None:
        columns.insert(0, _codes(groups, n, "groups")[0])
    cells, cell_of_row = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    cell_of_row = cell_of_row.ravel()
    sums = np.bincount(cell_of_row, weights=v, minlength=len(cells))
    sizes = np.bincount(cell_of_row, minlength=len(cells)).astype(float)
    starts = None
    cell_codes = cells.T
    if groups is not None:
        group_of_cell, cell_codes = cell_codes[0], cell_codes[1:]
        starts = np.flatnonzero(np.r_[True, group_of_cell[1:] != group_of_cell[:-1]])
    m = len(cells)
    estimate = float(_statistic(np.ones((1, m)), sums, sizes, starts)[0])

    rng = np.random.default_rng(seed)
    counts = [draw_counts(k, n_boot, rng) for _, k in coded]
    reps = np.empty(n_boot)
    for part, weights in _cell_weights(cell_codes, counts, n_boot):
        reps[part] = _statistic(weights, sums, sizes, starts)
    if np.all(v == v[0]):
        estimate, reps = float(v[0]), np.full(reps.size, v[0])
    return from_replicates(estimate, reps, level)


def from_replicates(estimate: float, replicates: ArrayLike, level: float = 0.95,
                    centre: bool = False) -> BootstrapResult:
    """Interval and p-value of ``estimate`` from its bootstrap replicates (NaN dropped).

    ``centre``: first re-centre the replicates on the estimate (shift them by ``median -
    estimate``). A bootstrap that rebuilds the statistic from resampled parts (human maps from
    resampled participants, each map from fewer distinct people) is biased; the shift removes
    that bias (Efron & Tibshirani 1993, §10.6) and puts the estimate inside its interval. A
    weighted mean needs none. Then the percentile interval at ``level`` and the two-sided p of
    :class:`BootstrapResult`, both of the (shifted) replicates.
    """
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0 or not np.isfinite(estimate):
        return BootstrapResult(float(estimate), np.nan, np.nan, np.nan, reps)
    if centre:
        reps = reps - (np.median(reps) - estimate)
    alpha = (1 - level) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    below, above = np.sum(reps <= 0), np.sum(reps >= 0)
    p = min(1.0, 2 * (min(below, above) + 1) / (reps.size + 1))
    return BootstrapResult(float(estimate), float(low), float(high), float(p), reps)


def function_of_means_bootstrap(
    columns: ArrayLike,
    factors: Mapping[str, ArrayLike],
    statistic: Callable[[np.ndarray], np.ndarray],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapResult:
    """Crossed cluster bootstrap of a smooth function of several weighted means.

    ``columns``: (n, k) finite values, one row per observation; ``factors`` and the draws as
    for :func:`weighted_mean_bootstrap` (the same seed and factors give the same row weights);
    ``statistic``: (B, k) column means -> (B,) statistic, e.g. Cohen's kappa from the two
    accuracies and the agreement rate. The estimate is ``statistic`` of the observed means; the
    interval the percentile one of the replicates (NaN replicates dropped).
    """
    x = np.asarray(columns, dtype=float)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError(f"columns: expected a finite (n, k) array, got shape {x.shape}")
    if not factors:
        raise ValueError("factors: need at least one factor to resample")
    n = len(x)
    coded = [_codes(ids, n, name) for name, ids in factors.items()]
    estimate = float(statistic(x.mean(axis=0)[None])[0]) if n else np.nan
    if n < 2:
        return BootstrapResult(estimate, np.nan, np.nan, np.nan, np.empty(0))
    cells, cell_of_row = np.unique(np.stack([c for c, _ in coded], axis=1), axis=0,
                                   return_inverse=True)
    cell_of_row = cell_of_row.ravel()
    sums = np.stack([np.bincount(cell_of_row, weights=x[:, j], minlength=len(cells))
                     for j in range(x.shape[1])], axis=1)  # (m, k)
    sizes = np.bincount(cell_of_row, minlength=len(cells)).astype(float)
    rng = np.random.default_rng(seed)
    counts = [draw_counts(k, n_boot, rng) for _, k in coded]
    reps = np.empty(n_boot)
    for part, weights in _cell_weights(cells.T, counts, n_boot):
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[part] = statistic((weights @ sums) / (weights @ sizes)[:, None])
    return from_replicates(estimate, reps, level)


def paired_difference_bootstrap(
    a: ArrayLike, b: ArrayLike, factors: Mapping[str, ArrayLike], **kw: Any
) -> BootstrapResult:
    """:func:`weighted_mean_bootstrap` of ``a - b``: is method A's mean score above B's.

    ``a``, ``b``: (n,) scores of the same rows (paired); ``kw`` as for
    :func:`weighted_mean_bootstrap`.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    return weighted_mean_bootstrap(x - y, factors, **kw)
