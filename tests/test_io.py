"""Atomic outputs: a failed write leaves neither a partial target nor a temporary file."""

import os
import stat

import pytest

from ferattention import io


def test_atomic_dir_replaces_whole_or_leaves_the_old_folder(tmp_path):
    target = tmp_path / "out"
    with io.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (target / "a.txt").read_text() == "first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~_umask()

    with pytest.raises(RuntimeError):
        with io.atomic_dir(target) as tmp:
            (tmp / "b.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # no temporary folder left

    with io.atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(ValueError):
        with io.atomic_path(tmp_path / "x.csv") as tmp:
            tmp.write_text("half")
            raise ValueError
    assert list(tmp_path.iterdir()) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
