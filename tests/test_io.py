"""Atomic outputs: a failed write leaves neither a partial target nor a temporary file. Tables
read back keep ids that pandas would read as missing."""

import os
import stat

import numpy as np
import pandas as pd
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


def test_the_next_write_removes_what_a_killed_write_left_and_nothing_else(tmp_path):
    # What SIGKILL leaves: a temporary file of x.csv and a temporary folder of out.
    (tmp_path / ".x.csv.k2_9abcd.csv").write_text("half")
    (tmp_path / ".out.a1b2c3d4").mkdir()
    (tmp_path / ".out.a1b2c3d4" / "part").write_text("half")
    keep = [".x.csv.bak", ".x.csv.k2_9abcd.csv.old", "x.csv.k2_9abcd.csv", ".x.csv.k2_9abcd.npz",
            ".out.a1b2c3d4e5"]
    for name in keep:
        (tmp_path / name).write_text("not ours")
    io.write_csv(pd.DataFrame({"a": [1]}), tmp_path / "x.csv")
    with io.atomic_dir(tmp_path / "out") as tmp:
        (tmp / "done").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "x.csv", "out"])


NA_LIKE = ["NA", "nan", "None", "null", "N/A", "NaN", "<NA>", "-nan", "#N/A", "n/a"]


def test_read_table_keeps_na_like_ids_and_numeric_nan(tmp_path):
    n = len(NA_LIKE)
    frame = pd.DataFrame({
        "participant_id": NA_LIKE, "trial_id": ["007", *NA_LIKE[1:]], "image_id": NA_LIKE[::-1],
        "label": ["happy"] * n, "model": ["NA"] * n,
        "rt_ms": [np.nan, 1.5, *range(n - 2)], "n_clicks": range(n),
        "correct": [True, False] * (n // 2),
    })
    frame.loc[1, "image_id"] = np.nan  # written as an empty cell: read back as "", not NaN
    io.write_csv(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[1].split(",")[5] == ""  # NaN as ""

    back = io.read_table(tmp_path / "t.csv")
    assert back["participant_id"].tolist() == NA_LIKE
    assert back["trial_id"].tolist() == ["007", *NA_LIKE[1:]]
    assert back["image_id"].tolist() == [NA_LIKE[-1], "", *NA_LIKE[-3::-1]]
    assert back["model"].tolist() == ["NA"] * n
    for column in ("participant_id", "trial_id", "image_id", "label", "model"):
        assert not back[column].isna().any(), column
    # Other columns parse as usual: an empty numeric cell is NaN again.
    assert back["rt_ms"].dtype == np.float64 and np.isnan(back["rt_ms"][0])
    np.testing.assert_array_equal(back["rt_ms"][1:], frame["rt_ms"][1:])
    assert back["n_clicks"].dtype == np.int64 and back["correct"].dtype == bool
    # Grouping keeps every participant (pandas' default reading would merge them into NaN).
    assert back.groupby("participant_id").size().sum() == n


def test_read_table_keeps_index_col_usecols_and_dtype(tmp_path):
    confusion = pd.DataFrame([[1, 0], [2, 3]], index=pd.Index(["NA", "nan"], name="true"),
                             columns=["NA", "happy"])
    io.write_csv(confusion, tmp_path / "c.csv", index=True)
    back = io.read_table(tmp_path / "c.csv", index_col="true")
    assert back.index.tolist() == ["NA", "nan"] and back.columns.tolist() == ["NA", "happy"]
    np.testing.assert_array_equal(back.to_numpy(), [[1, 0], [2, 3]])

    manifest = pd.DataFrame({"image_id": ["NA", "None"], "label": ["sad", "happy"],
                             "split": ["test", "null"], "x": ["1", "2"]})
    io.write_csv(manifest, tmp_path / "m.csv")
    back = io.read_table(tmp_path / "m.csv", usecols=["image_id", "split"])
    assert back.to_dict("list") == {"image_id": ["NA", "None"], "split": ["test", "null"]}
    assert io.read_table(tmp_path / "m.csv", dtype={"x": str})["x"].tolist() == ["1", "2"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
