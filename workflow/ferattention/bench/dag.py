"""Benchmark: how long Snakemake takes to build the DAG for many faces, and how many jobs it has.

``python -m ferattention.bench dag [--images 1000 5000 20000] [--configfile FILE]``

The number of test images, hence of saliency shards, is known only after the ``prepare_dataset``
checkpoint. So, for each size N, the benchmark writes a fake prepared dataset of N images into a
scratch working directory (a manifest with the configured train/val/test proportions and empty
files for the checkpoint's other outputs; there are no inputs to be newer than them) and times
``snakemake --dry-run`` there, the whole command as a user types it. It prints one JSON object per
size with keys ``images, test_images, shard_size, one_pass_shard_size, instances, jobs,
other_jobs_per_instance, saliency_jobs, expected_saliency_jobs,
seconds, limit_seconds, ratio`` (``ratio = limit_seconds / seconds``, above 1 meets the target: a dry run of at
most 15 s for 20,000 images on a 2-core machine). ``saliency_jobs`` equals
``instances x`` the sum over methods of ``ceil(test_images / size)``, ``size`` the method's shard size
(``saliency.shard_size`` or ``one_pass_shard_size``): jobs grow with images / shard size.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .. import instances, shards
from ..catalogue import schema_defaults, shard_size_key
from ..methods import expand_methods

REPO = Path(__file__).resolve().parents[3]
LIMIT_SECONDS = 15.0
#: Rules with one job per run, whatever the number of network instances.
SHARED_RULES = (
    "all", "make_trials", "simulate_observers", "ingest_humans", "human_maps", "human_reliability",
    "expected_attention", "similarity_table", "similarity_crossed", "regions", "faithfulness_table",
    "accuracy", "statistics", "agreement", "report", "provenance", "figure_accuracy",
    "figure_accuracy_by_pair", "figure_agreement", "figure_dataset_examples", "figure_examples",
    "figure_faithfulness", "figure_regions", "figure_similarity", "demo_eye_region_maps",
)


def _snakemake(snakefile: Path, workdir: Path, configfile: Path, *args: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(workdir),
           "--configfile", str(configfile), "--cores", "1", "--workflow-profile", "none", *args]
    start = time.perf_counter()
    # A dry run takes seconds, even at 20,000 images: a hung one fails instead of blocking.
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output}")
    return seconds, result.stdout + result.stderr


def checkpoint_outputs(snakefile: Path, workdir: Path, configfile: Path) -> list[str]:
    """The outputs of the prepare_dataset checkpoint, from a dry run that targets its manifest."""
    _, log = _snakemake(snakefile, workdir, configfile, "--dry-run", "results/data/manifest.csv")
    match = re.search(r"checkpoint prepare_dataset:\n\s+output: (.+)\n", log)
    if not match:
        raise RuntimeError(f"no prepare_dataset job in the dry run:\n{log[-3000:]}")
    return [p.strip() for p in match.group(1).split(",")]


def fake_prepared_dataset(workdir: Path, outputs: Sequence[str], n_images: int,
                          config: dict[str, Any], seed: int = 0) -> int:
    """Write a manifest of ``n_images`` faces and placeholders for the other outputs; test count."""
    expressions = config["dataset"]["expressions"]
    split = config["dataset"]["split"]
    rng = np.random.default_rng(seed)
    labels = [expressions[i % len(expressions)] for i in range(n_images)]
    ids = [f"id{i // len(expressions):05d}/{label}_0" for i, label in enumerate(labels)]
    frame = pd.DataFrame({
        "image_id": ids,
        "label": labels,
        "identity": [i.split("/")[0] for i in ids],
        "split": rng.choice(["train", "val", "test"], size=n_images,
                           p=[split["train"], split["val"], split["test"]]),
        "path": [f"images/{i}.png" for i in ids],
    })
    for rel in outputs:
        path = workdir / rel
        if rel.endswith("manifest.csv"):
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, index=False)
        elif not Path(rel).suffix:  # a directory() output, such as the images folder
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return int((frame["split"] == "test").sum())


def job_counts(log: str) -> dict[str, int]:
    """The dry run's job stats table, ``{rule: count}`` with ``total``."""
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", log.split("Job stats:", 1)[-1], flags=re.M))
    return {rule: int(n) for rule, n in counts.items()}


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, recursively, as Snakemake merges config files."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def bench_dag(sizes: Sequence[int], configfile: Path, snakefile: Path,
              keep: bool = False) -> list[dict[str, Any]]:
    # The repository's config.yaml updated by the given file, written into each working directory
    # and given with --configfile: Snakemake and the benchmark read the same values.
    config = _merged(yaml.safe_load((snakefile.parent / "config.yaml").read_text()),
                     yaml.safe_load(configfile.read_text()) or {})
    results = []
    for n in sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench_dag_{n}_"))
        try:
            configfile = workdir / "config.yaml"
            configfile.write_text(yaml.safe_dump(config, sort_keys=False))
            outputs = checkpoint_outputs(snakefile, workdir, configfile)
            n_test = fake_prepared_dataset(workdir, outputs, n, config)
            seconds, log = _snakemake(snakefile, workdir, configfile, "--dry-run")
            counts = job_counts(log)
            n_shared = sum(counts.get(rule, 0) for rule in SHARED_RULES)
            if counts.get("prepare_dataset"):
                raise RuntimeError(f"the dry run would rerun prepare_dataset:\n{log[-3000:]}")
            sal = config["saliency"]
            defaults = schema_defaults("saliency")  # as Snakemake's validate fills them
            sizes = {key: sal.get(key, defaults[key]) for key in ("shard_size", "one_pass_shard_size")}
            methods = expand_methods(sal["methods"],
                                     (sal.get("random_model") or {}).get("methods", ["cam", "gradcam"]))
            n_instances = len(instances.instances(config["models"]))
            expected = n_instances * sum(
                shards.n_shards(n_test, sizes[shard_size_key(m)]) for m in methods)
            results.append({
                "images": n, "test_images": n_test, **sizes, "instances": n_instances,
                "jobs": counts.get("total", 0),
                # every job that is not a saliency shard, per instance: training, evaluation,
                # similarity, faithfulness ...; the same however many instances there are
                "other_jobs_per_instance": round((counts.get("total", 0) - counts.get(
                    "saliency", 0) - counts.get("saliency_extremal_perturbation", 0)
                    - n_shared) / n_instances, 2), "saliency_jobs": counts.get("saliency", 0)
                + counts.get("saliency_extremal_perturbation", 0),
                "expected_saliency_jobs": expected, "seconds": round(seconds, 2),
                "limit_seconds": LIMIT_SECONDS, "ratio": round(LIMIT_SECONDS / seconds, 2),
            })
            print(json.dumps(results[-1]), flush=True)
        finally:
            if keep:
                print(f"kept {workdir}", file=sys.stderr)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 5000, 20000],
                        help="dataset sizes (default: 1000 5000 20000)")
    parser.add_argument("--configfile", type=Path, default=REPO / "config.yaml",
                        help="config whose values update the repository's config.yaml")
    parser.add_argument("--snakefile", type=Path, default=REPO / "Snakefile")
    parser.add_argument("--keep", action="store_true", help="keep the scratch working directories")


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    return bench_dag(args.images, args.configfile.resolve(), args.snakefile.resolve(), args.keep)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferattention.bench dag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
