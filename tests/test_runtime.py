"""Thread limits of rule jobs: never more torch threads than the cores available."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ferattention import runtime


@pytest.mark.parametrize("available", [1, 2, 3, 4, 8, 16])
def test_job_threads_never_exceed_the_available_cores(available):
    for total in (0, 1, 2, 4, 8, 16, 64):
        for requested in range(1, 17):
            n = runtime.job_threads(requested, total, available)
            assert 1 <= n <= min(requested, available), (requested, total, available)
            if total and total > available:
                # Jobs Snakemake may run side by side (total // requested) fit the real cores.
                assert (total // requested) * n <= max(available, total // requested)


def test_job_threads_hand_computed_cases():
    assert runtime.job_threads(4, 8, 2) == 1  # `--cores 8` on 2 cores: two 4-thread jobs, 1 each
    assert runtime.job_threads(2, 2, 2) == 2  # `--cores 2`: Snakemake gave 2, one job at a time
    assert runtime.job_threads(4, 4, 2) == 2
    assert runtime.job_threads(4, 8, 16) == 4  # enough cores: the rule's threads
    assert runtime.job_threads(4, 0, 2) == 2  # --cores unknown (cluster): the cores available


def test_available_cores_follows_affinity_and_cgroup_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert runtime.available_cores(str(tmp_path)) == 4  # no cgroup files: affinity
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert runtime.available_cores(str(tmp_path)) == 4
    (tmp_path / "cpu.max").write_text("250000 100000\n")  # 2.5 CPUs of quota
    assert runtime.available_cores(str(tmp_path)) == 2
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert runtime.available_cores(str(tmp_path)) == 1
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")  # cgroup v1
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert runtime.available_cores(str(tmp_path)) == 3


@pytest.mark.parametrize("total", ["", "1", "8", "64"])
def test_a_rule_job_never_runs_more_torch_threads_than_cores(tmp_path, monkeypatch, total):
    monkeypatch.setenv(runtime.TOTAL_CORES_VAR, total)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    before = torch.get_num_threads()
    smk = SimpleNamespace(threads=64, log=[str(tmp_path / "job.log")], rule="test")
    try:
        with runtime.rule_job(smk):
            assert torch.get_num_threads() <= runtime.available_cores()
            assert int(os.environ["OMP_NUM_THREADS"]) <= runtime.available_cores()
    finally:
        torch.set_num_threads(before)
    assert "thread(s)" in (tmp_path / "job.log").read_text()


@pytest.mark.parametrize("cores", ["64", "1"])
def test_snakemake_schedules_no_more_cores_than_the_machine_has(tmp_path, cores):
    """`--cores 64` on a smaller machine: Snakemake plans with the cores available (common.smk),
    so a 4-thread job alone gets all of them (up to 4) and no job gets more."""
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(repo / "config.yaml"), "--cores", cores, "-n"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    threads = [int(t) for t in re.findall(r"^\s*threads: (\d+)$", result.stdout + result.stderr,
                                          flags=re.M)]
    expected = min(4, runtime.available_cores(), int(cores))
    # (Snakemake prints no `threads:` line for a one-thread job)
    assert max(threads, default=1) == expected, (result.stdout + result.stderr)[-3000:]
