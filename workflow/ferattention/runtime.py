"""What every rule script does around its work: logging, thread limits, clean failure.

Usage in a rule script::

    from ferattention.runtime import rule_job
    with rule_job(snakemake) as log:
        ...  # read inputs, call the package, write outputs (atomically)
"""

from __future__ import annotations

import contextlib
import logging
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
            limit_threads(smk.threads)
            # Float sums on the CPU depend on the thread count: it is part of what made the numbers.
            logger.info("%d thread(s)", smk.threads)
            yield logger
            logger.info("done in %.1f s", time.perf_counter() - start)
        except Exception as exc:
            log_file.write(traceback.format_exc())
            stderr.write(f"\nError in rule {name}: {exc}\n(full traceback in {log_path})\n")
            raise
        finally:
            sys.stdout, sys.stderr = stdout, stderr
