"""Benchmark: EP saliency jobs alone and side by side, images per second.

``python -m ferattention.bench throughput [--cores 8] [--images 8] [--model ...] [--manifest ...]``
runs the rule script ``workflow/scripts/saliency.py`` for ``extremal_perturbation`` as Snakemake
would -- a fresh Python process per job, ``--cores`` clamped to the cores available as
``rules/common.smk`` does, the thread rule of :mod:`ferattention.runtime` -- first one job
(``--images`` test faces) alone with the rule's threads (up to those cores), then two jobs on two
different shards at the same time with half of the cores each. Prints one JSON line: images per second alone and together, ``ratio`` (together /
alone; at least 1 is the target: two jobs do not slow each other down below one job's rate), the
threads each job ran with (from its log) and ``os.cpu_count()`` and load average for context.
Wall times include each process's start (imports, model and data loading), as in the workflow.

Needs a trained model and prepared data (default: ``results/`` of a finished run in the current
directory); the EP settings are the config file's (``saliency.extremal_perturbation``, defaults
filled in from the schema).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..runtime import TOTAL_CORES_VAR, available_cores

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "workflow" / "scripts" / "saliency.py"
METHOD = "extremal_perturbation"
#: ``threads:`` of rule saliency (rules/saliency.smk), which EP's rule inherits.
RULE_THREADS = 4

#: Runs a rule script in this process with a stand-in for Snakemake's ``snakemake`` object
#: (argv[1]: the script, argv[2]: the job as JSON). Imports nothing heavy before the script, as
#: Snakemake's script wrapper: the script sets the thread limit before torch is imported.
_JOB = """
import json, runpy, sys

class Named(dict):
    __getattr__ = dict.__getitem__

job = json.loads(sys.argv[2])
smk = Named(input=Named(job["input"]), output=Named(job["output"]), params=Named(job["params"]),
            wildcards=Named(job["wildcards"]), threads=job["threads"], log=[job["log"]], rule=job["rule"])
runpy.run_path(sys.argv[1], init_globals={"snakemake": smk}, run_name="__main__")
"""


def job_spec(workdir: Path, shard: int, args: argparse.Namespace, params: dict[str, Any],
             target: str, threads: int) -> dict[str, Any]:
    """The Snakemake job (inputs, outputs, params, wildcards, threads, log) of one EP shard."""
    out = workdir / f"job{shard}"
    return {
        "input": {"model": str(Path(args.model).resolve()), "manifest": str(Path(args.manifest).resolve())},
        "output": {"maps": str(out / "maps.npz"), "areas": str(out / "areas.csv")},
        "params": {"shard_size": args.images, "target": target, "method_params": params},
        "wildcards": {"model": "bench", "method": METHOD, "shard": str(shard)},
        "threads": threads, "log": str(out / "job.log"), "rule": "saliency_extremal_perturbation",
    }


def run_jobs(specs: list[dict[str, Any]], cores: int) -> float:
    """Start one process per job at once; wall seconds until the last has finished."""
    env = {**os.environ, TOTAL_CORES_VAR: str(cores),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "workflow"), os.environ.get("PYTHONPATH")]))}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(var, None)  # as a Snakemake job: the rule script sets them
    for spec in specs:
        for path in [*spec["output"].values(), spec["log"]]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # as Snakemake does
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", _JOB, str(SCRIPT), json.dumps(spec)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for spec in specs]
    outputs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - start
    for p, out in zip(procs, outputs):
        if p.returncode != 0:
            raise RuntimeError(f"saliency job failed ({p.returncode}):\n{out[-4000:]}")
    return seconds


def threads_of(log: Path) -> int:
    """The thread count a job logged (:func:`ferattention.runtime.rule_job`)."""
    match = re.search(r"(\d+) thread\(s\)", log.read_text())
    if match is None:
        raise ValueError(f"{log}: no thread count logged")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ferattention.bench throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=8, help="Snakemake's --cores (default 8, as the README)")
    parser.add_argument("--rule-threads", type=int, default=RULE_THREADS, help="the rule's threads: (4)")
    parser.add_argument("--images", type=int, default=8, help="test faces per job (default 8)")
    parser.add_argument("--model", default="results/models/compact/model.pt")
    parser.add_argument("--manifest", default="results/data/manifest.csv")
    parser.add_argument("--configfile", default=str(REPO / "config.yaml"),
                        help="its saliency.target and saliency.extremal_perturbation are used")
    args = parser.parse_args(argv)

    import yaml
    from snakemake.utils import validate

    with open(args.configfile) as f:
        config = yaml.safe_load(f)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))  # fills the defaults
    params = dict(config["saliency"].get(METHOD, {}))
    target = config["saliency"]["target"]
    with tempfile.TemporaryDirectory(prefix="ferattention-throughput-") as tmp:
        workdir = Path(tmp)
        # As the workflow schedules: `--cores` clamped to the cores available (rules/common.smk);
        # one job alone gets the rule's threads up to those cores, and two jobs run side by side
        # when half of the cores each is what they get.
        scheduled = min(args.cores, available_cores())
        alone_spec = job_spec(workdir / "alone", 0, args, params, target,
                              min(args.rule_threads, scheduled))
        pair_specs = [job_spec(workdir / "pair", shard, args, params, target, max(1, scheduled // 2))
                      for shard in (0, 1)]
        alone_s = run_jobs([alone_spec], scheduled)
        pair_s = run_jobs(pair_specs, scheduled)
        threads = [threads_of(Path(s["log"])) for s in [alone_spec, *pair_specs]]
    alone_rate, pair_rate = args.images / alone_s, 2 * args.images / pair_s
    print(json.dumps({
        "benchmark": "throughput", "method": METHOD, "cores": args.cores, "scheduled_cores": scheduled,
        "rule_threads": args.rule_threads,
        "cpu_count": os.cpu_count(), "threads_alone": threads[0], "threads_side_by_side": threads[1:],
        "images_per_job": args.images, "params": params,
        "alone_seconds": round(alone_s, 2), "side_by_side_seconds": round(pair_s, 2),
        "alone_images_per_second": round(alone_rate, 4), "side_by_side_images_per_second": round(pair_rate, 4),
        "ratio": round(pair_rate / alone_rate, 3), "load_average": [round(x, 2) for x in os.getloadavg()],
    }), flush=True)


if __name__ == "__main__":
    main()
