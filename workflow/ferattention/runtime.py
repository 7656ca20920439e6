"""What every rule script does around its work: logging, thread limits, clean failure.

Usage in a rule script::

    from ferattention.runtime import rule_job
    with rule_job(snakemake) as log:
        ...  # read inputs, call the package, write outputs (atomically)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any, TextIO


class _Tee:
    """Write to several text streams (the job's log and the console)."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
            s.flush()
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()

    def isatty(self) -> bool:
        return False


#: Environment variable with Snakemake's ``--cores`` (set by rules/common.smk; 0 or unset: unknown).
TOTAL_CORES_VAR = "FERATTENTION_TOTAL_CORES"


def _cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by the cgroup's quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``); None: no quota."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period = int(f.read())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        n = min(n, math.floor(limit))
    return max(1, n)


def job_threads(requested: int, total_cores: int | None, available: int) -> int:
    """Threads for a job that Snakemake gave ``requested`` threads out of ``--cores total_cores``.

    Never more than the ``available`` cores. When ``--cores`` exceeds them (``--cores 8`` on a
    2-core machine), Snakemake may run jobs totalling ``total_cores`` threads at once, so each
    gets its share of the real cores, ``requested * available // total_cores`` (at least 1): two
    4-thread jobs under ``--cores 8`` on 2 cores run one thread each instead of contending with
    four. A pure function of the machine and ``--cores``, so results stay reproducible for both.
    ``total_cores`` 0 or None (unknown, e.g. a cluster job): ``min(requested, available)``.
    """
    requested, available = max(1, int(requested)), max(1, int(available))
    share = requested
    if total_cores and total_cores > available:
        share = requested * available // int(total_cores)
    return max(1, min(requested, available, share))


def limit_threads(n: int) -> None:
    """Make numerical libraries use ``n`` threads (the rule's ``threads:``), torch included.

    The variables are read when torch and NumPy's BLAS start, so scripts import them after this;
    a torch already imported is told directly.
    """
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory(mmap_threshold_mb: int = 32, trim_threshold_mb: int = 1024) -> bool:
    """Let glibc's malloc keep freed blocks for reuse instead of returning them to the system.

    PyTorch's CPU tensors come straight from ``malloc``; by default glibc maps blocks above a
    (self-adjusting) threshold fresh from the system and gives freed heap tops back, so a loop
    that makes tensors of a few MB each iteration (Extremal Perturbation: the model's activations,
    the mask generator's inputs) pays page faults on every one. Serving blocks up to
    ``mmap_threshold_mb`` (glibc's largest allowed: 32 MB on 64-bit) from the heap and trimming it
    only above ``trim_threshold_mb`` of free space cut EP's page faults 3x and its CPU time by
    3-22%, median 10% (6 runs each way, 16 faces x 3 areas, one thread, shared machine at load
    8-11) for 0-3% more peak memory. Values are unaffected: only
    where memory comes from changes. Process-wide; a no-op (False) where the C library is not
    glibc.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold_mb * 2**20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold_mb * 2**20))


@contextlib.contextmanager
def rule_job(smk: Any) -> Iterator[logging.Logger]:
    """Run a rule script's body with its log, thread limit and a readable error.

    Output and errors go to the rule's ``log:`` file and to the console. An exception is logged
    with its traceback and re-raised, so Snakemake marks the job failed and removes its outputs.
    """
    log_path = smk.log[0] if len(smk.log) else os.devnull
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    name = getattr(smk, "rule", "job")
    with open(log_path, "w") as log_file:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(log_file, stdout), _Tee(log_file, stderr)
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                            format=f"%(asctime)s {name}: %(message)s")
        logger = logging.getLogger(name)
        start = time.perf_counter()
        try:
            total = int(os.environ.get(TOTAL_CORES_VAR) or 0)
            cores = available_cores()
            threads = job_threads(smk.threads, total, cores)
            limit_threads(threads)
            # Float sums on the CPU depend on the thread count: it is part of what made the numbers.
            logger.info("%d thread(s) (rule: %d, --cores %s, %d core(s) available)", threads,
                        smk.threads, total or "unknown", cores)
            yield logger
            logger.info("done in %.1f s", time.perf_counter() - start)
        except Exception as exc:
            log_file.write(traceback.format_exc())
            stderr.write(f"\nError in rule {name}: {exc}\n(full traceback in {log_path})\n")
            raise
        finally:
            sys.stdout, sys.stderr = stdout, stderr
