"""`snakemake --profile slurm` on a real single-node SLURM cluster, and the profile's settings.

The cluster tests start the cluster from Debian's packages with .ci/slurm/start.sh, run a small
config with the SLURM profile from the repository root, check that every heavy rule ran as a SLURM
job (job ids in Snakemake's output and in `sacct`, one SLURM log per job) and that the results
equal a local run's, then stop the cluster. They need root and the packages slurm-wlm slurmdbd
munge mariadb-server: without them they are skipped, except under CI (CI set), where they fail.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ferattention import io

from test_workflow import SMALL_CONFIG

REPO = Path(__file__).resolve().parents[1]
SLURM_SCRIPTS = REPO / ".ci" / "slurm"
DAEMONS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch",
           "sacct", "sacctmgr")
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

# SMALL_CONFIG made cheaper: the SLURM run and the local run must fit in about 4 minutes together on
# 2 cores. Two methods (grad-cam's and TorchRay's) with two shards of test images each still
# exercise the sharding.
SLURM_CONFIG = {
    **SMALL_CONFIG,
    "models": {"tiny": {**SMALL_CONFIG["models"]["tiny"], "epochs": 3}},
    "saliency": {**SMALL_CONFIG["saliency"], "methods": ["gradcam", "extremal_perturbation"],
                 "extremal_perturbation": {"areas": [0.1], "max_iter": 5}},
    "humans": {**SMALL_CONFIG["humans"], "reliability": {"repeats": 2}},
}
# Heavy rules: each of their jobs must be a SLURM job. Light rules (`localrule: True`) run beside
# Snakemake: the trial list, tables, statistics, figures and report.
CLUSTER_RULES = {"prepare_dataset", "train", "evaluate", "saliency", "saliency_extremal_perturbation",
                 "simulate_observers",
                 "ingest_humans", "human_maps", "human_reliability", "similarity"}
LIGHT_RULES = {"make_trials", "similarity_table", "accuracy", "statistics", "figure_accuracy",
               "figure_similarity", "figure_examples", "report"}


def _unavailable() -> str | None:
    """Why the test cluster cannot start here, or None."""
    missing = [d for d in DAEMONS if not shutil.which(d, path=SBIN_PATH)]
    if missing:
        return (f"SLURM test cluster: {', '.join(missing)} not installed (apt-get install -y "
                "slurm-wlm slurmdbd munge mariadb-server)")
    if os.geteuid() != 0:
        return "SLURM test cluster: must run as root (slurmd starts the jobs)"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and not conf.is_symlink():
        return f"SLURM test cluster: {conf} exists, this machine belongs to another cluster"
    return None


def _clean_env() -> dict[str, str]:
    """This environment without SLURM or profile settings, as a new user's shell."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SNAKEMAKE_SLURM", "SBATCH_", "SRUN_"))}
    return {**env, "PATH": SBIN_PATH, "PYTHONHASHSEED": "0"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run this test")
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    start = subprocess.run([str(SLURM_SCRIPTS / "start.sh"), str(state)], capture_output=True,
                           text=True, env=_clean_env(), timeout=120)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield state
    finally:
        subprocess.run([str(SLURM_SCRIPTS / "stop.sh"), str(state)], capture_output=True,
                       env=_clean_env(), timeout=120)


def _snakemake(workdir: Path, *args: str, limit_s: int) -> subprocess.Popen:
    """Snakemake started in the repository root, its output going to workdir/snakemake.out."""
    # Without working status checks the executor plugin would wait forever: `timeout -k`.
    cmd = ["timeout", "-k", "30", str(limit_s), sys.executable, "-m", "snakemake",
           "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), *args]
    with open(workdir / "snakemake.out", "w") as out:
        return subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env=_clean_env())


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The small config run on SLURM with `--profile slurm` and locally, in two working dirs."""
    slurm, local = tmp_path_factory.mktemp("slurm_run"), tmp_path_factory.mktemp("local_run")
    for workdir in (slurm, local):
        (workdir / "config.yaml").write_text(yaml.safe_dump(SLURM_CONFIG))
    # As typed in the repository root, plus the working directory and config, a first status check
    # after 2 s instead of 20 (the jobs here are short), and at most 2 threads per job: the same
    # thread counts as the local run's 2 cores, so that the results can match bit for bit.
    on_slurm = _snakemake(slurm, "--profile", "slurm", "--slurm-init-seconds-before-status-checks",
                          "2", "--max-threads", "2", limit_s=480)
    # Meanwhile, the local run, of what is compared (the tables; figures and report aside): it uses
    # the CPU time that the SLURM run spends waiting for status checks.
    on_cpu = _snakemake(local, "--cores", "2", "results/tables/stats.csv",
                        "results/tables/accuracy.csv", limit_s=480)
    on_slurm.wait()
    on_cpu.wait()
    for workdir, process in ((slurm, on_slurm), (local, on_cpu)):
        output = (workdir / "snakemake.out").read_text()[-8000:]
        assert process.returncode == 0, f"{workdir.name}, exit {process.returncode}:\n{output}"
    return slurm, local, (slurm / "snakemake.out").read_text()


@pytest.mark.slurm
@pytest.mark.workflow
def test_heavy_rules_run_as_slurm_jobs_and_light_rules_locally(runs):
    slurm, _, output = runs
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    assert submitted, output[-3000:]
    ids = sorted(submitted.values(), key=int)
    # sacct (slurmdbd) knows each job: completed, charged to the account, with the rule as comment.
    sacct = subprocess.run(["sacct", "-X", "--noheader", "--parsable2", "--format",
                            "JobIDRaw,State,Account,Comment", "--jobs", ",".join(ids)],
                           capture_output=True, text=True, env=_clean_env(), check=True).stdout
    rows = [line.split("|") for line in sacct.splitlines()]
    assert sorted((r[0] for r in rows), key=int) == ids
    assert {r[1] for r in rows} == {"COMPLETED"}
    assert {r[2] for r in rows} == {"ferattention"}  # root's default account: none was given
    ran = {re.match(r"rule_(\w+?)(_wildcards_.*)?$", r[3]).group(1) for r in rows}
    # Snakemake announces SLURM jobs as `rule X:` and jobs in its own process as `localrule X:`.
    announced = {kind: set(re.findall(rf"^{kind} (\w+):$", output, flags=re.M))
                 for kind in ("rule", "checkpoint", "localrule")}
    assert ran == announced["rule"] | announced["checkpoint"]
    assert CLUSTER_RULES <= ran
    assert LIGHT_RULES <= announced["localrule"] and not ran & announced["localrule"]
    # One SLURM log per job, named by its SLURM job id, holding the rule's Snakemake output.
    logs = {p.stem: p for p in (slurm / ".snakemake/slurm_logs").rglob("*.log")}
    assert set(ids) <= set(logs)
    train_log = next(logs[i] for i in ids if "rule_train" in str(logs[i]))
    assert "rule train:" in train_log.read_text()
    assert (slurm / "results/report.html").stat().st_size > 1000


@pytest.mark.slurm
@pytest.mark.workflow
def test_slurm_results_equal_a_local_run(runs):
    slurm, local, _ = runs
    tables = sorted((local / "results/tables").glob("*.csv"))
    assert {p.name for p in tables} >= {"accuracy.csv", "similarity.csv", "similarity_summary.csv",
                                        "stats.csv"}
    for table in tables:
        got = (slurm / "results/tables" / table.name).read_bytes()
        assert got == table.read_bytes(), table.name
    maps = [*sorted((local / "results/saliency").rglob("*.npz")), local / "results/humans/maps.npz"]
    assert len(maps) == 2 * 2 + 1  # methods x shards, and the human maps
    for path in maps:
        expected, got = io.load_maps(path), io.load_maps(slurm / path.relative_to(local))
        assert list(got) == list(expected), path
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{path}: {key}")


def _parse_profile(monkeypatch, **env: str) -> dict[str, object]:
    """The SLURM profile as Snakemake reads it, with only the given SNAKEMAKE_SLURM_* variables."""
    from snakemake.profiles import ProfileConfigFileParser

    for name in [k for k in os.environ if k.startswith("SNAKEMAKE_SLURM")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with open(REPO / "slurm" / "config.yaml") as f:
        return dict(ProfileConfigFileParser().parse(f))


def test_slurm_profile_defaults_need_no_cluster_settings(monkeypatch):
    profile = _parse_profile(monkeypatch)
    assert profile["executor"] == "slurm"
    resources = profile["default-resources"]
    assert not any(r.startswith(("slurm_account", "slurm_partition")) for r in resources)
    assert {r.split("=")[0] for r in resources} >= {"mem_mb", "runtime"}
    assert "set-resources" not in profile  # no GPUs unless asked for


def test_slurm_profile_takes_account_partition_and_gpus_from_the_environment(monkeypatch):
    profile = _parse_profile(monkeypatch, SNAKEMAKE_SLURM_ACCOUNT="lab42",
                             SNAKEMAKE_SLURM_PARTITION="cpu", SNAKEMAKE_SLURM_GPUS="1",
                             SNAKEMAKE_SLURM_GPU_PARTITION="gpu")
    assert {"slurm_account=lab42", "slurm_partition=cpu"} <= set(profile["default-resources"])
    assert set(profile["set-resources"]) == {"train:gpu=1", "train:slurm_partition=gpu",
                                             "saliency:gpu=1", "saliency:slurm_partition=gpu",
                                             "faithfulness:gpu=1",
                                             "faithfulness:slurm_partition=gpu"}
    # Without a GPU partition, the GPU jobs go to the general one.
    profile = _parse_profile(monkeypatch, SNAKEMAKE_SLURM_PARTITION="all", SNAKEMAKE_SLURM_GPUS="2")
    assert "train:slurm_partition=all" in profile["set-resources"]
    assert "saliency:gpu=2" in profile["set-resources"]


def test_workflow_profile_sets_no_executor():
    """profiles/default is loaded for every run and overrides --profile key by key."""
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert not {"executor", "jobs", "default-resources", "set-resources"} & set(profile)
