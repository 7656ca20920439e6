"""The provenance record: config hash, seeds, versions, commit."""

from pathlib import Path

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


def test_record_names_versions_commit_and_device(tmp_path):
    record = provenance.collect({"dataset": {"seed": 5}}, Path(__file__).resolve().parents[1])
    assert record["seeds"] == {"dataset.seed": 5}
    assert record["packages"]["torch"] and record["packages"]["ferattention"]
    assert record["device"] == "cpu" or record["device"]
    commit = record["git"]["commit"]
    assert commit is None or len(commit) == 40
    assert provenance.git_commit(tmp_path) == {"commit": None, "dirty": None}
