"""Config checks with messages a researcher can act on (one line per problem, key by dotted path)."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import catalogue
from .catalogue import MODEL_FREE_SOURCES
from .methods import RANDOM_MODEL_PREFIX, SHUFFLED_PREFIX, expand_methods


def _close(value: Any, allowed: Sequence[str]) -> str:
    """``"did you mean 'x'? "`` for the allowed value closest to ``value`` ('' if none is close)."""
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _problems(instance: Any, schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every violation of ``schema`` by ``instance``, keys as dotted paths below ``prefix``."""
    problems = []
    for err in jsonschema.Draft202012Validator(schema).iter_errors(instance):
        key = ".".join([prefix] * bool(prefix) + list(map(str, err.absolute_path)))
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted(err.schema.get("properties", {}))
            for extra in sorted(set(err.instance) - set(allowed)):
                problems.append(f"{key + '.' if key else ''}{extra}: unknown key ({_close(extra, allowed)}"
                                f"allowed: {', '.join(allowed) or 'none'})")
        elif err.validator == "enum" and isinstance(err.instance, str):
            allowed = [str(v) for v in err.validator_value]
            problems.append(f"{key or '(top level)'}: unknown value {err.instance!r} "
                            f"({_close(err.instance, allowed)}allowed: {', '.join(allowed)})")
        else:
            problems.append(f"{key or '(top level)'}: {err.message}")
    return problems


def schema_problems(config: Mapping[str, Any], schema_path: str | Path) -> list[str]:
    """Every violation of the JSON schema by ``config``, sorted, one line each.

    Each line names the key by its dotted path and says what is wrong with its value; a misspelt
    key or value gets the closest allowed one and the list of allowed ones. (Snakemake's
    ``validate`` reports only the first violation, followed by a dump of the schema.)
    """
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    return sorted(_problems(config, schema))


def check_schema(config: Mapping[str, Any], schema_path: str | Path, sources: list[str]) -> None:
    """Raise one ``ValueError`` listing every schema problem of the config read from ``sources``."""
    problems = schema_problems(config, schema_path)
    if problems:
        raise ValueError(
            f"config ({', '.join(sources)}): {len(problems)} problem(s) with the keys of "
            f"{Path(schema_path).name}:\n  " + "\n  ".join(problems))


#: How close to 1 the split fractions must sum.
SPLIT_TOLERANCE = 1e-6


def _unknown(key: str, what: str, value: Any, allowed: Sequence[str]) -> str:
    return f"{key}: unknown {what} {value!r} ({_close(value, allowed)}allowed: {', '.join(allowed)})"


def allowed_methods(config: Mapping[str, Any]) -> list[str]:
    """Every name ``saliency.methods`` may hold: the catalogue's methods, ``saliency.external``
    names and ``random_model_<m>`` of the catalogue's attention methods (an untrained network).
    (``shuffled_<m>`` is scored for every attention method without being listed.)"""
    attention = [m for m in catalogue.METHODS if not catalogue.is_baseline(m)]
    external = list(config["saliency"]["external"])
    baselines = [m for m in catalogue.METHODS if catalogue.is_baseline(m)]
    return [*attention, *external, *baselines, *(f"{RANDOM_MODEL_PREFIX}{m}" for m in attention)]


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Every problem the JSON schema cannot see, one line each naming the key and, for a wrong
    name, the closest allowed one. ``config`` is valid against the schema, defaults filled in.

    Checked: method names (``saliency.methods``, ``saliency.random_model.methods``),
    architectures whose head does not support a requested method (CAM needs a
    global-average-pooling + linear head), the split fractions, the attention sources, models and
    observer parameters of ``humans.simulated`` and ``recovery``, external map names,
    ``similarity.primary``, and the paths each ``dataset.source`` and ``humans.source`` needs.
    """
    problems: list[str] = []
    ds, hu, sal, rec = config["dataset"], config["humans"], config["saliency"], config["recovery"]
    if ds["source"] != "synthetic" and not ds["path"]:
        problems.append(f"dataset.path: required for dataset.source: {ds['source']}")
    if ds["source"] == "affectnet" and not ds["image_root"]:
        problems.append("dataset.image_root: required for dataset.source: affectnet")
    if hu["source"] == "csv":
        problems += [f"humans.{k}: required for humans.source: csv" for k in ("trials", "clicks") if not hu[k]]

    split = ds["split"]
    total = split["train"] + split["val"] + split["test"]
    if abs(total - 1) > SPLIT_TOLERANCE:
        rest = 1 - split["train"] - split["val"]
        hint = f" (did you mean test: {round(rest, 6)}?)" if 0 < rest <= 1 else ""
        problems.append(f"dataset.split: train + val + test = {total:g}, must be 1{hint}")
    if split["train"] <= 0:
        problems.append("dataset.split.train: must be > 0 (the models need training images)")

    for block, names in (("saliency.external", sal["external"]), ("recovery.external", rec["external"])):
        for name in names:
            if not re.fullmatch(r"[a-z0-9_]+", name):
                problems.append(f"{block}.{name}: a method name may hold only a-z, 0-9 and _")
            elif name in MODEL_FREE_SOURCES:
                problems.append(f"{block}.{name}: the name is an attention source; rename it")
            elif catalogue.is_known_method(name):
                problems.append(f"{block}.{name}: the name is a method of the workflow; rename it")
    for name in sorted(set(sal["external"]) & set(rec["external"])):
        problems.append(f"recovery.external.{name}: also in saliency.external; keep one")

    allowed = allowed_methods(config)
    for i, name in enumerate(sal["methods"]):
        if not isinstance(name, str) or name in allowed:
            continue  # a non-string: a schema problem
        if name.startswith(SHUFFLED_PREFIX):
            problems.append(f"saliency.methods.{i}: {name!r} is not listed: {SHUFFLED_PREFIX}<m> is "
                            "scored for every attention method m of the run; remove it")
        else:
            problems.append(_unknown(f"saliency.methods.{i}", "method", name, allowed))
    inner_allowed = [m for m in catalogue.METHODS if not catalogue.is_baseline(m)]
    inner = [m for m in sal["random_model"]["methods"] if isinstance(m, str)]
    for i, name in enumerate(inner):
        if name not in inner_allowed:
            problems.append(_unknown(f"saliency.random_model.methods.{i}", "method", name, inner_allowed))
    listed = [m for m in sal["methods"] if isinstance(m, str) and m in allowed]
    methods = expand_methods(listed, [m for m in inner if m in inner_allowed] or ["gradcam"])

    requested = [m for m in methods if m not in sal["external"]]
    gap = [a for a, spec in catalogue.ARCHITECTURES.items() if spec.head == "gap_linear"]
    for name, spec in config["models"].items():
        unsupported = [m for m in dict.fromkeys(requested)
                       if catalogue.is_known_method(m) and not catalogue.supports(spec["arch"], m)]
        if unsupported:
            head = catalogue.ARCHITECTURES[spec["arch"]].head
            bases = ", ".join(dict.fromkeys(catalogue.family(m)[1] for m in unsupported))
            problems.append(
                f"models.{name}.arch: {spec['arch']} has an {head.upper()} head, and {bases} "
                f"needs a global-average-pooling + linear head ({_close(spec['arch'], gap)}allowed: "
                f"{', '.join(gap)}); or remove {bases} from saliency.methods (and "
                "saliency.random_model.methods)")

    models = list(config["models"])
    sim = hu["simulated"]
    if sim["params"]:
        from .humans.simulate import DEFAULT_PARAMS  # numpy and scipy: only when needed

        known = list(DEFAULT_PARAMS)
        problems += [f"humans.simulated.params.{key}: unknown key ({_close(key, known)}"
                     f"allowed: {', '.join(known)})" for key in sim["params"] if key not in known]
    for key, source in (("humans.simulated.attention", sim["attention"]),
                        *((f"recovery.sources.{i}", s) for i, s in enumerate(rec["sources"]))):
        sources = list(dict.fromkeys([*MODEL_FREE_SOURCES, *methods]
                                     + (list(rec["external"]) if key.startswith("recovery") else [])))
        # A recovery source that is a known method left out of this run's saliency.methods is
        # skipped (recovery_sources), not an error: a config may trim the methods and keep the
        # default sources. A misspelt name is still an error.
        skippable = key.startswith("recovery") and catalogue.is_known_method(source)
        if source not in sources and not skippable:
            problems.append(_unknown(key, "attention source", source, sources))
    for key, model in (("humans.simulated.attention_model", sim["attention_model"]),
                       ("recovery.model", rec["model"])):
        if model is not None and model not in models:
            problems.append(_unknown(key, "model", model, models))

    metrics = config["similarity"]["metrics"]
    if config["similarity"]["primary"] not in metrics:
        problems.append(_unknown("similarity.primary", "metric (not in similarity.metrics)",
                                 config["similarity"]["primary"], metrics))
    return problems


def recovery_sources(config: Mapping[str, Any], methods: Sequence[str]) -> list[str]:
    """The sources of ``recovery.sources`` that this run can plant: model-free ones, the run's
    ``methods`` and ``recovery.external`` maps (others are skipped, see :func:`check_config`)."""
    rec = config["recovery"]
    usable = {*MODEL_FREE_SOURCES, *methods, *rec["external"]}
    return [s for s in rec["sources"] if s in usable]


def with_defaults(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with the schema's defaults filled in (as Snakemake's ``validate``
    fills them), also where the config breaks the schema elsewhere."""
    base = jsonschema.Draft202012Validator

    def fill(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    filled = copy.deepcopy(dict(config))
    for _ in jsonschema.validators.extend(base, {"properties": fill})(schema).iter_errors(filled):
        pass
    return filled


def check_config(config: Mapping[str, Any], schema_path: str | Path, sources: list[str]) -> None:
    """Raise one ``ValueError`` listing every problem of the config read from ``sources``: those of
    the schema (:func:`schema_problems`) and the others (:func:`config_problems`), one line each.

    Where a key breaks the schema, the problems that follow from it are left out; where the
    config is too broken for the other checks, the schema's problems are reported alone.
    """
    problems = schema_problems(config, schema_path)
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    try:
        others = config_problems(with_defaults(config, schema))
    except (KeyError, TypeError, AttributeError, ValueError):
        others = []  # a wrong type the schema reports already
    broken = [p.split(":", 1)[0] for p in problems]
    problems += [p for p in others
                 if not any(p.startswith(b) or b.startswith(p.split(":", 1)[0]) for b in broken)]
    if problems:
        raise ValueError(
            f"config ({', '.join(sources)}): {len(problems)} problem(s) with the keys of "
            f"{Path(schema_path).name}:\n  " + "\n  ".join(problems))


__all__ = ["allowed_methods", "check_config", "check_schema", "config_problems", "schema_problems",
           "with_defaults"]
