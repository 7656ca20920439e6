"""Config checks with messages a researcher can act on (one line per problem, key by dotted path)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


def schema_problems(config: Mapping[str, Any], schema_path: str | Path) -> list[str]:
    """Every violation of the JSON schema by ``config``, sorted, one line each.

    Each line names the key by its dotted path and says what is wrong with its value; a misspelt
    key gets the closest allowed name and the list of allowed ones. (Snakemake's ``validate``
    reports only the first violation, followed by a dump of the schema.)
    """
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    problems = []
    for err in jsonschema.Draft202012Validator(schema).iter_errors(config):
        key = ".".join(map(str, err.absolute_path))
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted(err.schema.get("properties", {}))
            for extra in sorted(set(err.instance) - set(allowed)):
                close = difflib.get_close_matches(str(extra), allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                problems.append(f"{key + '.' if key else ''}{extra}: unknown key ({hint}"
                                f"allowed: {', '.join(allowed)})")
        else:
            problems.append(f"{key or '(top level)'}: {err.message}")
    return sorted(problems)


def check_schema(config: Mapping[str, Any], schema_path: str | Path, sources: list[str]) -> None:
    """Raise one ``ValueError`` listing every schema problem of the config read from ``sources``."""
    problems = schema_problems(config, schema_path)
    if problems:
        raise ValueError(
            f"config ({', '.join(sources)}): {len(problems)} problem(s) with the keys of "
            f"{Path(schema_path).name}:\n  " + "\n  ".join(problems))


__all__ = ["check_schema", "schema_problems"]
