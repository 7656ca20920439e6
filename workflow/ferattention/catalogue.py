"""The one catalogue of names and settings: attention methods, similarity metrics, architectures.

Torch-free (Snakefile, config checks, figures and report import it without loading torch). For
each name it holds what the rest of the workflow needs to know without running anything:

- methods (docs/design.md §6): settings with types, constraints and defaults, display order,
  baseline or not, what the model must have (CAM: a global-average-pooling + linear head);
- metrics (docs/design.md §8.1): display order, direction (higher or lower is better), whether
  they are computed by default, whether they need click positions;
- architectures: display order and head (``gap_linear``: CAM is defined; ``mlp``: it is not).

The implementations register against it and tests check that they agree:
:data:`ferattention.saliency.METHODS` (the same names, each class's ``defaults`` are
:func:`method_defaults`), :data:`ferattention.similarity.METRICS` (names and direction),
:data:`ferattention.models.ARCHITECTURES` (names and heads). The config schema's
``saliency.<method>`` blocks are the method settings here (:func:`method_schema`; a test compares
them), and every other default (training, shards, ...) is read from the schema by
:func:`schema_defaults`: no default is written twice.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: The config schema: the one source of every config default that is not a method setting.
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@functools.cache
def _schema() -> dict[str, Any]:
    with open(SCHEMA_PATH) as fh:
        return yaml.safe_load(fh)


def schema_defaults(*path: str) -> dict[str, Any]:
    """The defaults of the schema object at ``path`` (e.g. ``"training"``; ``"models", "*"`` for a
    ``models.<name>`` entry), a fresh dict of every property that has one."""
    node = _schema()
    for key in path:
        node = node["additionalProperties"] if key == "*" else node["properties"][key]
    return {k: copy.deepcopy(v["default"]) for k, v in node.get("properties", {}).items()
            if "default" in v}


@dataclass(frozen=True)
class Setting:
    """One setting of a method: JSON-schema ``type`` (a name or a list), ``default`` and any
    further JSON-schema constraints (``minimum``, ``enum``, ``items``, ...) in ``schema``."""

    name: str
    type: str | tuple[str, ...]
    default: Any
    description: str = ""
    schema: Mapping[str, Any] = field(default_factory=dict)

    def json_schema(self) -> dict[str, Any]:
        """The setting as a JSON-schema property (type, constraints, default, description)."""
        out: dict[str, Any] = {} if "enum" in self.schema else {
            "type": list(self.type) if isinstance(self.type, tuple) else self.type}
        out.update(copy.deepcopy(dict(self.schema)))
        out["default"] = copy.deepcopy(self.default)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class MethodSpec:
    """An attention method: its settings, display position, baseline status and needs.

    ``needs``: what the model must provide: ``"model"`` (any trained classifier),
    ``"gap_linear_head"`` (CAM: features -> global average pooling -> one linear layer) or
    nothing (model-free, e.g. ``center``).
    """

    name: str
    order: int
    baseline: bool
    settings: tuple[Setting, ...] = ()
    needs: frozenset[str] = frozenset({"model"})
    #: False for a name the workflow expands (``random_model`` -> ``random_model_<m>``) rather than
    #: a class of :data:`ferattention.saliency.METHODS`.
    registered: bool = True
    description: str = ""
    #: Many model passes per image (an optimisation, a pass per feature map): its saliency jobs
    #: take ``saliency.shard_size`` images; a method of one pass per image takes
    #: ``saliency.one_pass_shard_size`` (its jobs are mostly starting Python and torch).
    many_passes: bool = False

    def defaults(self) -> dict[str, Any]:
        """Every setting's default, a fresh copy."""
        return {s.name: copy.deepcopy(s.default) for s in self.settings}


_LAYER = Setting("layer", ("string", "null"), None,
                 "dotted module path of the target layer; null = the model's last convolutional block")

#: Every attention method the workflow computes, in display order.
METHODS: dict[str, MethodSpec] = {m.name: m for m in (
    MethodSpec("cam", 0, False, needs=frozenset({"model", "gap_linear_head"}),
               description="class activation mapping (Zhou et al. 2016)"),
    MethodSpec("gradcam", 1, False, (_LAYER,), description="GradCAM (Selvaraju et al. 2017)"),
    MethodSpec("gradcam_pp", 2, False, (_LAYER,), description="GradCAM++ (Chattopadhay et al. 2018)"),
    MethodSpec("scorecam", 3, False, (
        _LAYER,
        Setting("batch_size", "integer", 128, "masked images per forward pass", {"minimum": 1}),
    ), many_passes=True, description="Score-CAM (Wang et al. 2020)"),
    MethodSpec("extremal_perturbation", 4, False, (
        Setting("areas", "array", [0.1], "target mask areas as fractions of the image; map = sum of the masks",
                {"minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}),
        Setting("max_iter", "integer", 60, "optimisation steps (TorchRay's own default: 800)",
                {"minimum": 1}),
        Setting("learning_rate", "number", 0.1,
                "SGD step of the mask optimisation; TorchRay fixes 0.01, at which the mask "
                "reaches its area only after some 800 steps (0.1 does in 60)",
                {"exclusiveMinimum": 0}),
        Setting("step", ("integer", "null"), None,
                "mask parameter spacing, pixels; null = TorchRay's 7 px at 224 px scaled to the image",
                {"minimum": 1}),
        Setting("sigma", ("number", "null"), None,
                "mask smoothness, pixels; null = TorchRay's 21 px at 224 px scaled to the image",
                {"exclusiveMinimum": 0}),
        Setting("reward", "string", "simple",
                "simple = the target logit, the default of TorchRay's extremal_perturbation "
                "(reward_func=simple_reward), as the paper used TorchRay; contrastive = target logit "
                "minus the largest other logit (TorchRay's example script)",
                {"enum": ["simple", "contrastive"]}),
        Setting("perturbation", "string", "blur", "what the masked-out part becomes",
                {"enum": ["blur", "fade"]}),
        Setting("num_levels", "integer", 8, "levels of the perturbation pyramid", {"minimum": 1}),
        Setting("jitter", "boolean", True, "flip the mask every other step"),
        Setting("smooth", "number", 0.0, "Gaussian smoothing of the final masks, fraction of the size",
                {"minimum": 0}),
        Setting("max_blur", ("number", "null"), None,
                "largest blur (Gaussian sigma, pixels of the model input) of the perturbation "
                "pyramid; null scales TorchRay's 20 px for 224 px images to the image size",
                {"exclusiveMinimum": 0}),
        Setting("implementation", "string", "batched",
                "batched (one optimisation per batch) or torchray (TorchRay's function per image)",
                {"enum": ["batched", "torchray"]}),
    ), many_passes=True, description="Extremal Perturbation, preserve variant (Fong et al. 2019)"),
    MethodSpec("center", 10, True, (
        Setting("sigma", "number", 0.25,
                "standard deviation of the centred Gaussian, fraction of the image side",
                {"exclusiveMinimum": 0}),
    ), needs=frozenset(), description="a centred Gaussian, the same for every image"),
    MethodSpec("random_model", 11, True, (
        Setting("methods", "array", ["cam", "gradcam"],
                "attention methods to run on the untrained network (extremal_perturbation is left out "
                "of the default for time: it costs as much as the trained network's EP)",
                {"minItems": 1, "uniqueItems": True, "items": {"type": "string", "pattern": "^[a-z0-9_]+$"}}),
    ), registered=False,
        description="random_model_<m> for each m listed: method m on the model's architecture with "
                    "untrained weights drawn from the model's seed; m's own settings (saliency.<m>) "
                    "apply"),
)}

#: Planted attention sources that are not methods of the run (``humans.simulated.attention``,
#: ``recovery.sources``): the faces' diagnostic regions, the image centre, uniform.
MODEL_FREE_SOURCES: tuple[str, ...] = ("regions", "center", "uniform")

#: Name prefixes of the baseline families ``random_model_<m>`` and ``shuffled_<m>`` (a method's
#: maps on the untrained network, or shuffled between images of the same expression).
BASELINE_PREFIXES: tuple[str, ...] = ("random_model_", "shuffled_")


def family(name: str) -> tuple[str | None, str]:
    """``(prefix, method)`` of a baseline-family name (``"shuffled_gradcam"`` ->
    ``("shuffled_", "gradcam")``); ``(None, name)`` for any other name."""
    for prefix in BASELINE_PREFIXES:
        if name.startswith(prefix) and name[len(prefix):]:
            return prefix, name[len(prefix):]
    return None, name


def is_baseline(name: str) -> bool:
    """Whether ``name`` is a control rather than an attention method (``center``,
    ``random_model`` and the families ``random_model_<m>``, ``shuffled_<m>``)."""
    spec = METHODS.get(name)
    return spec.baseline if spec is not None else family(name)[0] is not None


def is_known_method(name: str) -> bool:
    """A catalogued method or a baseline family of a catalogued, non-baseline method."""
    prefix, base = family(name)
    return name in METHODS or (prefix is not None and base in METHODS and not METHODS[base].baseline)


def method_needs(name: str) -> frozenset[str]:
    """What the model must provide for ``name`` (a family member needs what its method needs;
    ``shuffled_<m>`` reuses ``<m>``'s maps)."""
    _, base = family(name)
    spec = METHODS.get(name) or METHODS.get(base)
    return spec.needs if spec is not None else frozenset()


def shard_size_key(name: str) -> str:
    """The setting that sizes ``name``'s saliency jobs: ``shard_size`` for a method of many model
    passes per image (and its ``random_model_`` baseline), else ``one_pass_shard_size`` (one-pass
    methods, ``center``, maps from outside)."""
    spec = METHODS.get(family(name)[1])
    return "shard_size" if spec is not None and spec.many_passes else "one_pass_shard_size"


def method_defaults(name: str) -> dict[str, Any]:
    """The default settings of method ``name`` (a fresh copy)."""
    return METHODS[name].defaults()


def method_schema(name: str) -> dict[str, Any]:
    """The JSON-schema block of ``saliency.<name>``: closed (``additionalProperties: false``)."""
    spec = METHODS[name]
    block: dict[str, Any] = {"type": "object", "default": {}, "additionalProperties": False}
    if not spec.registered:
        block["description"] = spec.description
    block["properties"] = {s.name: s.json_schema() for s in spec.settings}
    return block


def method_order(names: Iterable[str]) -> list[str]:
    """``names`` in display order: attention methods in catalogue order, other attention methods
    (external maps, ...) by name, then the baselines: the catalogued ones (``center``,
    ``random_model``), then ``random_model_<m>``, then ``shuffled_<m>``, each family in the order
    of its methods."""
    present = list(dict.fromkeys(names))
    attention = sorted((m for m in present if not is_baseline(m)),
                       key=lambda m: (METHODS[m].order if m in METHODS else 1000, m))

    def key(name: str) -> tuple[int, int, str]:
        prefix, base = family(name)
        if prefix is None:
            spec = METHODS.get(name)
            return (0, spec.order if spec is not None else 1000, name)
        inner = attention.index(base) if base in attention else len(attention)
        return (1 + BASELINE_PREFIXES.index(prefix), inner, name)

    return attention + sorted((m for m in present if is_baseline(m)), key=key)


@dataclass(frozen=True)
class MetricSpec:
    """A similarity metric: display order, direction, whether it needs click positions."""

    name: str
    order: int
    higher_is_better: bool
    needs_fixations: bool = False


#: Every similarity metric, in display order.
METRICS: dict[str, MetricSpec] = {m.name: m for m in (
    MetricSpec("spearman", 0, True),
    MetricSpec("cc", 1, True),
    MetricSpec("sim", 2, True),
    MetricSpec("kl", 3, False),
    MetricSpec("nss", 4, True, needs_fixations=True),
    MetricSpec("auc_judd", 5, True, needs_fixations=True),
    MetricSpec("iou_top10", 6, True),
    MetricSpec("emd", 7, False),
)}
#: Metric -> whether larger values mean more similar maps.
HIGHER_IS_BETTER: dict[str, bool] = {m: s.higher_is_better for m, s in METRICS.items()}


#: Metrics computed unless a run asks otherwise (``emd`` is slow and optional): the schema's
#: ``similarity.metrics`` default.
DEFAULT_METRICS: tuple[str, ...] = tuple(schema_defaults("similarity")["metrics"])


def metric_order(names: Iterable[str]) -> list[str]:
    """``names`` in display order: catalogued metrics first, any others by name."""
    present = list(dict.fromkeys(names))
    return sorted(present, key=lambda m: (METRICS[m].order if m in METRICS else 1000, m))


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: display order and head (``gap_linear`` or ``mlp``)."""

    name: str
    order: int
    head: str


#: Every architecture ``models.<name>.arch`` may name.
ARCHITECTURES: dict[str, ArchSpec] = {a.name: a for a in (
    ArchSpec("compact_cnn", 0, "gap_linear"),
    ArchSpec("resnet18", 1, "gap_linear"),
    ArchSpec("resnet50", 2, "gap_linear"),
    ArchSpec("efficientnet_b0", 3, "gap_linear"),
    ArchSpec("vgg16_bn", 4, "mlp"),
)}


def supports(arch: str, method: str) -> bool:
    """Whether ``method``'s maps are defined for architecture ``arch`` (CAM needs a GAP head)."""
    return "gap_linear_head" not in method_needs(method) or ARCHITECTURES[arch].head == "gap_linear"


__all__ = [
    "ARCHITECTURES", "BASELINE_PREFIXES", "DEFAULT_METRICS", "HIGHER_IS_BETTER", "METHODS",
    "METRICS", "MODEL_FREE_SOURCES", "ArchSpec", "MethodSpec", "MetricSpec", "SCHEMA_PATH", "Setting", "family",
    "is_baseline", "is_known_method", "method_defaults", "method_needs", "method_order",
    "method_schema", "metric_order", "schema_defaults", "supports",
]
