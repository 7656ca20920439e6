"""What produced a run's results: config and its hash, seeds, package versions, commit, device."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions are recorded (the ones that shape the numbers).
PACKAGES = ("ferattention", "torch", "torchvision", "grad-cam", "torchray", "numpy", "pandas", "scipy",
            "statsmodels", "scikit-learn", "matplotlib", "seaborn", "pillow", "snakemake")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys): equal configs, equal hashes."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def find_seeds(config: Mapping[str, Any], prefix: str = "") -> dict[str, int]:
    """Every ``seed`` key of a nested config, by dotted path (``models.compact.seed``)."""
    seeds: dict[str, int] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            seeds.update(find_seeds(value, f"{path}."))
        elif key == "seed":
            seeds[path] = value
    return seeds


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None where it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: Path) -> dict[str, Any]:
    """The repository's HEAD commit and whether tracked files differ from it (None outside git)."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip() != ""
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": dirty}


def device_description() -> str:
    """The device torch computes on here: the CUDA device's name, or ``cpu``."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def collect(config: Mapping[str, Any], repo: Path) -> dict[str, Any]:
    """The provenance record written to ``results/provenance.json``."""
    return {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "config_sha256": config_hash(config),
        "seeds": find_seeds(config),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device_description(),
        "git": git_commit(repo),
    }
