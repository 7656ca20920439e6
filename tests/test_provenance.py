"""The provenance record: config hash, seeds, versions, commit."""

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from ferattention import provenance


def test_config_hash_ignores_key_order_and_sees_values():
    a = {"dataset": {"image_size": 64, "source": "synthetic"}, "models": {"m": {"seed": 0}}}
    b = {"models": {"m": {"seed": 0}}, "dataset": {"source": "synthetic", "image_size": 64}}
    assert provenance.config_hash(a) == provenance.config_hash(b)
    b["models"]["m"]["seed"] = 1
    assert provenance.config_hash(a) != provenance.config_hash(b)


def test_seeds_are_found_at_every_depth():
    config = {"dataset": {"synthetic": {"seed": 1}, "split": {"seed": 2}},
              "models": {"a": {"seed": 3}, "b": {"seed": 4}}, "trials": {"foils": None}}
    assert provenance.find_seeds(config) == {
        "dataset.synthetic.seed": 1, "dataset.split.seed": 2, "models.a.seed": 3, "models.b.seed": 4}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    """A fresh git repository with one commit of one tracked file."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "tracked.txt").write_text("one\n")
    git(path, "add", "tracked.txt")
    git(path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first")
    return path


def test_commit_is_head_and_dirty_sees_tracked_changes_only(repo):
    head = git(repo, "rev-parse", "HEAD")
    assert len(head) == 40
    assert provenance.git_commit(repo) == {"commit": head, "dirty": False}
    (repo / "untracked.txt").write_text("new\n")  # untracked files do not make a run dirty
    assert provenance.git_commit(repo) == {"commit": head, "dirty": False}
    (repo / "tracked.txt").write_text("two\n")
    assert provenance.git_commit(repo) == {"commit": head, "dirty": True}
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-am", "second")
    second = git(repo, "rev-parse", "HEAD")
    assert second != head
    assert provenance.git_commit(repo) == {"commit": second, "dirty": False}


def test_missing_distribution_has_no_version():
    assert provenance.package_versions(("no-such-distribution-xyz",)) == {
        "no-such-distribution-xyz": None}


def test_outside_git_commit_and_dirty_are_none(tmp_path):
    assert provenance.git_commit(tmp_path) == {"commit": None, "dirty": None}


def test_record_names_versions_commit_and_device(repo):
    import torch

    record = provenance.collect({"dataset": {"seed": 5}}, repo)
    assert record["seeds"] == {"dataset.seed": 5}
    assert record["config_sha256"] == provenance.config_hash({"dataset": {"seed": 5}})
    assert record["packages"]["torch"] == metadata.version("torch")
    assert record["packages"]["ferattention"] == metadata.version("ferattention")
    expected = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    assert record["device"] == expected
    assert record["git"] == {"commit": git(repo, "rev-parse", "HEAD"), "dirty": False}


def test_record_of_this_checkout_names_its_head():
    """The repository the workflow runs from (this checkout, when it is a git checkout)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = git(root, "rev-parse", "HEAD")
    except subprocess.CalledProcessError:
        pytest.skip("the tests do not run from a git checkout")
    dirty = git(root, "status", "--porcelain", "--untracked-files=no") != ""
    assert provenance.git_commit(root) == {"commit": head, "dirty": dirty}
