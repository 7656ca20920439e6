"""Benchmark: training of the default model on the default synthetic set.

``python -m ferattention.bench train [--threads 2] [--config config.yaml] [--model NAME]``

Builds the default synthetic faces in memory (``datasets.load_dataset`` with the repository's
``config.yaml``, defaults filled by the config schema), splits them as the workflow does, and
times :func:`ferattention.training.train_model` for the first model of ``models:`` (the data
generation is not timed). Prints one JSON line with ``seconds, limit_seconds, ratio``
(``limit_seconds / seconds``: above 1 meets the target of 3 minutes on 2 CPU cores),
``test_accuracy_nway, epochs_run`` and the context (``cpu_seconds``: CPU time of all threads,
a load-independent check on a shared machine; ``threads, device, load_average, n_train``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from .. import datasets, models, splits, training

REPO = Path(__file__).resolve().parents[3]
LIMIT_SECONDS = 180.0


def default_config(path: Path = REPO / "config.yaml") -> dict[str, Any]:
    """The workflow config in ``path``, validated and completed by the config schema."""
    from snakemake.utils import validate

    config = yaml.safe_load(path.read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def bench_train(config: dict[str, Any], model_name: str | None = None) -> dict[str, Any]:
    """Train one model of ``config`` on its dataset in memory; timings and test accuracy."""
    ds = config["dataset"]
    data = datasets.load_dataset(config)
    frame = data.frame
    frame["split"] = splits.assign_splits(frame, ds["split"], ds["split"]["seed"])
    # The workflow reads the images back from 8-bit PNGs: quantise the same way.
    images = np.round(np.clip(data.images, 0, 1) * 255).astype(np.float32) / 255
    expressions = ds["expressions"]
    labels = frame["label"].map({e: i for i, e in enumerate(expressions)}).to_numpy()
    split = frame["split"].to_numpy()
    name = model_name or next(iter(config["models"]))
    spec = config["models"][name]
    cfg = training.train_config(spec, config["training"])

    device = training.device_for()
    model = models.build_model(spec["arch"], len(expressions), spec["seed"]).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    model, history = training.train_model(
        model, images[split == "train"], labels[split == "train"], images[split == "val"],
        labels[split == "val"], cfg, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    test = split == "test"
    accuracy = float((training.predict_logits(model, images[test]).argmax(1) == labels[test]).mean())
    return {
        "benchmark": "train", "model": name, "arch": spec["arch"],
        "seconds": round(seconds, 2), "limit_seconds": LIMIT_SECONDS,
        "ratio": round(LIMIT_SECONDS / seconds, 2), "test_accuracy_nway": round(accuracy, 4),
        "epochs_run": int(len(history)), "epochs_max": cfg.epochs,
        "cpu_seconds": round(cpu_seconds, 1),
        "n_train": int((split == "train").sum()), "n_test": int(test.sum()),
        "threads": torch.get_num_threads(), "device": str(device),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferattention.bench train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--model", default=None, help="a name in models: (default: the first)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(json.dumps(bench_train(default_config(args.config), args.model)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
