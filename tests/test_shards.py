"""Saliency shards (ferattention.shards): count, slices, files, grouping; used everywhere."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferattention import shards

REPO = Path(__file__).resolve().parents[1]


def test_ten_images_in_shards_of_four():
    ids = [f"img{i:02d}" for i in range(10)]
    assert shards.n_shards(10, 4) == 3
    parts = [list(shards.select(ids, k, 4)) for k in range(3)]
    assert parts == [ids[0:4], ids[4:8], ids[8:10]]  # by hand: the last shard is short
    assert shards.shard_slice(2, 4) == slice(8, 12)
    frame = pd.DataFrame({"image_id": ids})
    assert shards.select(frame, 1, 4)["image_id"].tolist() == ids[4:8]
    assert shards.select(np.arange(10), 2, 4).tolist() == [8, 9]


@pytest.mark.parametrize("n, size", [(0, 5), (1, 1), (7, 7), (8, 7), (97, 12), (48, 48)])
def test_the_shards_cover_every_image_once(n, size):
    count = shards.n_shards(n, size)
    assert count == max(1, -(-n // size))
    covered = [i for k in range(count) for i in range(n)[shards.shard_slice(k, size)]]
    assert covered == list(range(n))
    assert n == 0 or len(range(n)[shards.shard_slice(count - 1, size)]) > 0  # no empty last shard


def test_bad_sizes_are_errors():
    with pytest.raises(ValueError, match="shard_size must be >= 1"):
        shards.n_shards(10, 0)
    with pytest.raises(ValueError):
        shards.shard_slice(-1, 4)


def test_test_images_in_shard_order():
    manifest = pd.DataFrame({"image_id": ["c", "a", "b", "d"], "split": ["test", "train", "test", "test"]})
    assert shards.test_image_ids(manifest) == ["b", "c", "d"]
    assert shards.split_rows(manifest, "test").index.tolist() == [0, 1, 2]


def test_paths_parse_and_group_back():
    # Shard files are per network instance: results/saliency/<model>/seed-<k>/<method>/
    paths = shards.shard_paths(["m1/seed-0", "m.2/seed-11"], ["cam", "shuffled_gradcam"], 3)
    assert paths[:4] == ["results/saliency/m1/seed-0/cam/shard-0.npz",
                         "results/saliency/m1/seed-0/cam/shard-1.npz",
                         "results/saliency/m1/seed-0/cam/shard-2.npz",
                         "results/saliency/m1/seed-0/shuffled_gradcam/shard-0.npz"]
    assert len(paths) == 2 * 2 * 3
    assert [shards.parse_shard_path(p) for p in paths[:2]] == [("m1/seed-0", "cam", 0),
                                                               ("m1/seed-0", "cam", 1)]
    assert shards.parse_shard_path("/abs/run/" + paths[-1]) == ("m.2/seed-11", "shuffled_gradcam", 2)
    assert shards.SHARD_PATH.format(model="m1", seed=0, method="cam", shard=1) == paths[1]
    # Grouping puts each map set's shards in shard order (shard 10 after shard 2, not before),
    # one group per instance and method.
    m = "m/seed-0"
    mixed = ([shards.shard_path(m, "cam", k) for k in (10, 2, 0)] + [shards.shard_path(m, "gradcam", 0)]
             + [shards.shard_path("m/seed-1", "cam", 0)])
    assert shards.group_shards(mixed) == {
        (m, "cam"): [shards.shard_path(m, "cam", k) for k in (0, 2, 10)],
        (m, "gradcam"): [shards.shard_path(m, "gradcam", 0)],
        ("m/seed-1", "cam"): [shards.shard_path("m/seed-1", "cam", 0)]}
    with pytest.raises(ValueError, match="given twice"):
        shards.group_shards([paths[0], "other/" + paths[0]])
    with pytest.raises(ValueError, match="not a saliency shard file"):
        shards.parse_shard_path("results/saliency/m1/seed-0/cam/maps.npz")
    with pytest.raises(ValueError, match="not a saliency shard file"):
        shards.parse_shard_path("results/saliency/m1/cam/shard-0.npz")  # the seed-free layout


def test_a_shard_path_needs_an_instance_key():
    with pytest.raises(ValueError, match="'m1' is not an instance key"):
        shards.shard_path("m1", "cam", 0)
    with pytest.raises(ValueError, match="not an instance key"):
        shards.shard_paths(["m1/seed-0", "m1"], ["cam"], 1)


def test_no_rule_script_or_benchmark_does_its_own_shard_arithmetic():
    """Shard slices, counts and file names are written in ferattention/shards.py only."""
    files = [*REPO.glob("rules/*.smk"), *REPO.glob("workflow/scripts/*.py"),
             *(p for p in REPO.glob("workflow/ferattention/**/*.py") if p.name != "shards.py")]
    patterns = [r"shard-\{", r"shard\s*\*\s*\w*size", r"-\(-[^\n]*shard", r"\.parent\.parent\.name",
                r"Path\(\"results/saliency\"\)"]
    offenders = [f"{p.relative_to(REPO)}: {pattern}" for p in files for pattern in patterns
                 if re.search(pattern, p.read_text())]
    # log and benchmark files of the saliency rules are named per shard too (not map files)
    offenders = [o for o in offenders if not o.startswith("rules/saliency.smk: shard-\\{")]
    assert offenders == []
