"""Network instances (ferattention.instances): one trained network per seed of a ``models:`` entry,
named ``<model>/seed-<k>``; tables carry it as ``model`` and ``seed`` (fold/unfold); the DAG runs
every per-instance stage once per seed (`snakemake -n`)."""

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ferattention import instances, io
from ferattention.instances import (fold, instance_key, instance_spec, instances_of, model_seeds,
                                    split_key, unfold)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- keys

@pytest.mark.parametrize("model, seed", [("compact", 0), ("compact", 2), ("res.net-18_b", 41),
                                         ("m", -1), ("seed-3", 7)])
def test_instance_keys_round_trip(model, seed):
    key = instance_key(model, seed)
    assert key == f"{model}/seed-{seed}"
    assert split_key(key) == (model, seed)
    assert isinstance(split_key(key)[1], int)


def test_instance_key_takes_integer_like_seeds():
    assert instance_key("m", "3") == instance_key("m", 3.0) == "m/seed-3"


@pytest.mark.parametrize("name", ["compact", "compact/seed-", "compact/seed-x", "a/b/seed-1",
                                  "compact/seed-1/cam", "model:compact/seed-1", "", "compact/seed-1 "])
def test_a_name_that_is_no_instance_key_splits_to_itself_and_none(name):
    assert split_key(name) == (name, None)


def test_model_seeds_from_seed_seeds_or_neither():
    assert model_seeds({"arch": "compact_cnn", "seed": 3}) == [3]
    assert model_seeds({"arch": "compact_cnn", "seeds": [2, 0, 5]}) == [2, 0, 5]  # order kept
    assert model_seeds({"arch": "compact_cnn"}) == [0]  # the schema's default seed
    # `seeds` wins over a `seed` that the schema's defaults filled in beside it
    assert model_seeds({"seed": 0, "seeds": [4, 1]}) == [4, 1]
    assert model_seeds({"seed": 4, "seeds": None}) == [4]
    assert all(isinstance(s, int) for s in model_seeds({"seeds": ["1", 2.0]}))


def test_instances_model_by_model_in_the_order_given():
    models = {"b": {"seeds": [2, 0]}, "a": {"seed": 7}, "c": {}}
    assert instances.instances(models) == ["b/seed-2", "b/seed-0", "a/seed-7", "c/seed-0"]
    assert instances_of(models) == {"b": ["b/seed-2", "b/seed-0"], "a": ["a/seed-7"],
                                    "c": ["c/seed-0"]}


def test_instance_spec_sets_the_seed_and_leaves_seeds_out():
    spec = {"arch": "compact_cnn", "epochs": 3, "seed": 0, "seeds": [1, 2], "lr": 0.01}
    before = copy.deepcopy(spec)
    assert instance_spec(spec, 2) == {"arch": "compact_cnn", "epochs": 3, "seed": 2, "lr": 0.01}
    assert spec == before  # the config entry itself is left alone
    assert instance_spec({"arch": "resnet18"}, "5") == {"arch": "resnet18", "seed": 5}


# --------------------------------------------------------------------------- fold / unfold

def _table() -> pd.DataFrame:
    """A summary-like table: two instances of `m`, one of `n.2`, and `m` pooled (seed empty)."""
    return pd.DataFrame({
        "model": ["m", "m", "n.2", "m"],
        "seed": pd.array([0, 1, 3, None], dtype="Int64"),
        "method": ["cam", "cam", "gradcam", "cam"],
        "mean": [0.1, 0.2, 0.3, 0.15],
    })


def test_fold_puts_the_instance_key_in_model_and_drops_seed():
    folded = fold(_table())
    assert list(folded.columns) == ["model", "method", "mean"]
    assert folded["model"].tolist() == ["m/seed-0", "m/seed-1", "n.2/seed-3", "m"]  # pooled: name
    assert folded["mean"].tolist() == [0.1, 0.2, 0.3, 0.15]


def test_unfold_is_the_inverse_of_fold_with_a_nullable_seed_after_model():
    table = _table()
    back = unfold(fold(table))
    assert list(back.columns) == ["model", "seed", "method", "mean"]
    assert str(back["seed"].dtype) == "Int64"
    assert back["seed"].isna().tolist() == [False, False, False, True]  # the pooled row: NA
    pd.testing.assert_frame_equal(back, table)
    # and the other way round, on keys
    keys = pd.DataFrame({"model": ["m/seed-0", "m", "x/seed-12"], "value": [1, 2, 3]})
    pd.testing.assert_frame_equal(fold(unfold(keys)), keys)


def test_fold_of_a_table_read_back_from_csv(tmp_path):
    """As the rules use them: unfold, written with io.write_csv (NA -> empty cell), read with
    io.read_table (empty seed -> NaN), folded again: the same keys."""
    folded = fold(_table())
    io.write_csv(unfold(folded), tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text().splitlines()
    assert text[0] == "model,seed,method,mean"
    assert text[1:] == ["m,0,cam,0.1", "m,1,cam,0.2", "n.2,3,gradcam,0.3", "m,,cam,0.15"]
    read = io.read_table(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(fold(read), folded)


def test_fold_leaves_a_table_without_seed_alone_and_unfold_of_plain_names_is_all_na():
    plain = pd.DataFrame({"model": ["m", "n"], "x": [1, 2]})
    assert fold(plain) is plain
    out = unfold(plain)
    assert list(out.columns) == ["model", "seed", "x"] and out["seed"].isna().all()
    assert str(out["seed"].dtype) == "Int64" and out["model"].tolist() == ["m", "n"]
    assert plain.columns.tolist() == ["model", "x"]  # unfold copies


def test_fold_and_unfold_another_column():
    table = pd.DataFrame({"source": ["s"], "map_set": ["m"], "seed": [2.0], "v": [1.0]})
    folded = fold(table, column="map_set")
    assert folded["map_set"].tolist() == ["m/seed-2"]
    back = unfold(folded, column="map_set")
    assert list(back.columns) == ["source", "map_set", "seed", "v"]
    assert back["seed"].tolist() == [2]


# --------------------------------------------------------------------------- the DAG (dry run)

def dry_run_jobs(text: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """The jobs of a ``snakemake -n`` listing: (rule, wildcards, output files) each."""
    jobs: list[tuple[str, dict[str, str], list[str]]] = []
    for line in text.splitlines():
        if header := re.fullmatch(r"(?:local)?(?:rule|checkpoint) (\w+):", line):
            jobs.append((header[1], {}, []))
        elif jobs and line.strip().startswith("wildcards: "):
            jobs[-1][1].update(kv.split("=", 1) for kv in line.strip()[11:].split(", "))
        elif jobs and line.strip().startswith("output: "):
            jobs[-1][2].extend(p.strip() for p in line.strip()[8:].split(","))
    total = re.search(r"^total\s+(\d+)$", text, re.MULTILINE)  # the job stats table agrees
    assert total and int(total[1]) == len(jobs), text[-3000:]
    return jobs


@pytest.mark.workflow
def test_a_model_with_two_seeds_runs_every_instance_stage_twice(tmp_path):
    from test_workflow import snakemake  # the same command line, in the run's folder

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["models"] = {"compact": {"arch": "compact_cnn", "epochs": 2, "seeds": [0, 1]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-5000:]
    jobs = dry_run_jobs(result.stdout + result.stderr)
    outputs = {path for _, _, paths in jobs for path in paths}

    train = [(wc, paths) for rule, wc, paths in jobs if rule == "train"]
    assert len(train) == 2
    assert sorted(wc["seed"] for wc, _ in train) == ["0", "1"]
    assert {wc["model"] for wc, _ in train} == {"compact"}
    for seed in (0, 1):
        assert f"results/models/compact/seed-{seed}/model.pt" in outputs
        assert f"results/models/compact/seed-{seed}/metrics.json" in outputs
        assert f"results/figures/confusion_compact_seed-{seed}.png" in outputs
    assert not any(re.match(r"results/models/compact/(model\.pt|metrics\.json)$", p)
                   for p in outputs)  # nothing at the old, seed-free place

    # One similarity job per instance scores every method and shuffled baseline.
    similarity = [paths for rule, _, paths in jobs if rule == "similarity"]
    assert sorted(p for paths in similarity for p in paths) == [
        f"results/similarity/compact/seed-{seed}.csv" for seed in (0, 1)]
    counts = {rule: sum(r == rule for r, _, _ in jobs) for rule in ("evaluate",
              "human_view_predictions", "extremal_areas", "figure_confusion")}
    assert counts == dict.fromkeys(counts, 2), counts
    # The tables that gather the instances are one job each.
    for rule in ("similarity_table", "statistics", "accuracy", "report"):
        assert sum(r == rule for r, _, _ in jobs) == 1, rule
    # Faithfulness (faithfulness.instances: first, the default): the model's first instance only.
    faith = {p for rule, _, paths in jobs if rule == "faithfulness_model" for p in paths}
    assert faith == {"results/faithfulness/compact/seed-0/auc.csv",
                     "results/faithfulness/compact/seed-0/curves.csv"}
    assert not any(p.startswith("results/faithfulness/compact/seed-1/") for p in outputs)

    # faithfulness.instances: all measures both.
    config["faithfulness"] = {**config.get("faithfulness", {}), "instances": "all"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-5000:]
    faith = {p for rule, _, paths in dry_run_jobs(result.stdout + result.stderr)
             if rule == "faithfulness_model" for p in paths}
    assert faith == {f"results/faithfulness/compact/seed-{k}/{name}.csv"
                     for k in (0, 1) for name in ("auc", "curves")}
