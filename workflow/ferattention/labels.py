"""Canonical expression labels and region names shared by every stage."""

from __future__ import annotations

#: Canonical lower-case expression names (docs/design.md §3.2), in a fixed order.
EXPRESSIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt",
)

#: Face regions with known masks, in the order of the region axis of ``regions.npz`` arrays.
REGIONS: tuple[str, ...] = ("brows", "eyes", "nose", "mouth")


def check_expressions(names: list[str] | tuple[str, ...]) -> list[str]:
    """Return ``names`` as a list after checking each is canonical and unique.

    Raises ``ValueError`` naming the offending labels and the allowed ones.
    """
    names = list(names)
    unknown = [n for n in names if n not in EXPRESSIONS]
    if unknown:
        raise ValueError(f"unknown expression(s) {unknown}; allowed: {list(EXPRESSIONS)}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"expression(s) listed twice: {dupes}")
    if len(names) < 2:
        raise ValueError(f"a 2AFC study needs at least two expressions, got {names}")
    return names
