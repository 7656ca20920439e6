"""Names of the map methods of a run: attention methods and the baselines that control for them.

A run's ``saliency.methods`` lists attention methods (``cam``, ``gradcam``, ...) and baselines:

* ``center``: a centred Gaussian, the same for every image (no model);
* ``random_model``: expands to ``random_model_<m>`` for each ``m`` of
  ``saliency.random_model.methods``: method ``m`` on the same architecture with untrained weights
  drawn from the model's seed (what training adds to a map is the difference);
* ``shuffled_<m>``, for every attention method ``m`` of the run, is never listed: it is scored in the
  similarity stage from ``m``'s own maps, each image against the map of another image of the same
  expression (``ferattention.similarity.shuffle_partners``), so a method's typical shape and size
  alone cannot win.

This module only handles names (no torch), so the Snakemake rules can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import catalogue

#: ``random_model_<m>``: method ``m`` on an untrained network; ``shuffled_<m>``: method ``m``'s
#: maps scored on other images of the same expression (names: :mod:`ferattention.catalogue`).
RANDOM_MODEL_PREFIX, SHUFFLED_PREFIX = catalogue.BASELINE_PREFIXES
#: Baselines named without a method.
PLAIN_BASELINES: tuple[str, ...] = tuple(m for m in catalogue.METHODS if catalogue.is_baseline(m))


def expand_methods(methods: Sequence[str], random_model_methods: Sequence[str]) -> list[str]:
    """The map methods of a run: ``methods`` with ``random_model`` replaced by ``random_model_<m>``.

    ``random_model_methods`` (config ``saliency.random_model.methods``) must name attention
    methods, not baselines; the order of ``methods`` is kept.
    """
    bad = [m for m in random_model_methods if is_baseline(m)]
    if bad:
        raise ValueError(f"config: saliency.random_model.methods must list attention methods, "
                         f"not baselines: {bad}")
    out: list[str] = []
    for m in methods:
        out += [RANDOM_MODEL_PREFIX + r for r in random_model_methods] if m == "random_model" else [m]
    return list(dict.fromkeys(out))


def base_method(name: str) -> str:
    """The attention method behind a name: ``random_model_gradcam`` and ``shuffled_gradcam`` ->
    ``gradcam``; any other name is returned as it is."""
    return catalogue.family(name)[1]


def is_baseline(name: str) -> bool:
    """Whether ``name`` is a baseline (``center``, ``random_model[_<m>]``, ``shuffled_<m>``)."""
    return catalogue.is_baseline(name)


def attention_methods(methods: Sequence[str]) -> list[str]:
    """The attention methods among ``methods`` (baselines left out), in order."""
    return [m for m in methods if not is_baseline(m)]


def shuffled_methods(methods: Sequence[str]) -> list[str]:
    """``shuffled_<m>`` for every attention method ``m`` of ``methods``."""
    return [SHUFFLED_PREFIX + m for m in attention_methods(methods)]
