"""The whole DAG on a small config: contracts of docs/design.md §5 and values that must hold."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zipfile

from ferattention import io
from ferattention import similarity as sm

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
#: Seconds a Snakemake subprocess may take before the test fails (the small run takes 1-2 minutes
#: on 2 cores; a hung run must fail the test, not stall the suite).
TIMEOUT_S = 1200

SMALL_CONFIG = {
    "dataset": {
        "expressions": ["neutral", "happy", "surprise", "anger"],
        "image_size": 48,
        "synthetic": {"identities": 20, "images_per_expression": 2, "intensity_range": [0.7, 1.0]},
        "split": {"train": 0.6, "val": 0.2, "test": 0.2},
    },
    "models": {"tiny": {"arch": "compact_cnn", "epochs": 12, "seed": 0}},
    # Few images and epochs: the default augmentation would cost the accuracy margin checked below
    # (it is exercised in tests/test_models.py).
    "training": {"batch_size": 32, "rotate": 0, "scale": 0, "brightness": 0, "contrast": 0},
    # every method in two shards of 16 test images (one-pass methods too), to exercise sharding
    "saliency": {"shard_size": 16, "one_pass_shard_size": 16,
                 "extremal_perturbation": {"areas": [0.1], "max_iter": 20}},
    "humans": {"reveal_radius": 16, "simulated": {"participants": 6, "stimulus_size": 192},
               "reliability": {"repeats": 3}},
    # 1000: the verdict compares the best method with 10 others (Holm), which 2/(n_boot+1) must pass
    "statistics": {"n_boot": 1000},
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={**os.environ, "PYTHONHASHSEED": "0"})


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "config.yaml").write_text(yaml.safe_dump(SMALL_CONFIG))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def read(run: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(run / "results" / rel, dtype={"image_id": str, "trial_id": str,
                                                     "participant_id": str})


def test_second_run_has_nothing_to_do(run):
    result = snakemake(run, "-n")
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_one_seed_list_is_the_same_instance_as_seed(run):
    """`seeds: [0]` in place of `seed: 0` names the same instance with the same settings: no
    stage reruns (Snakemake reruns a job whose params changed), so every table, map and figure
    stays as it is, to the last bit; only the report and the provenance record, which show the
    config as typed, are rewritten."""
    config = {**SMALL_CONFIG, "models": {"tiny": {"arch": "compact_cnn", "epochs": 12,
                                                  "seeds": [0]}}}
    (run / "config_seeds.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(run), "--configfile",
           str(run / "config_seeds.yaml"), "--cores", "2", "-n"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    jobs = set(re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M))
    assert jobs <= {"report", "provenance", "all"}, jobs


def test_tables_keep_the_contract(run):
    contract = {
        "data/manifest.csv": ["image_id", "label", "identity", "split", "path"],
        "data/trials.csv": ["trial_id", "image_id", "option_a", "option_b", "label"],
        "tables/accuracy.csv": ["agent", "n_trials", "n_correct", "accuracy", "ci_low", "ci_high"],
        "tables/similarity.csv": ["image_id", "model", "seed", "method", "metric", "value"],
        "tables/similarity_summary.csv": ["model", "seed", "method", "metric", "mean", "ci_low",
                                          "ci_high",
                                          "floor", "lower", "upper", "normalized",
                                          "normalized_low", "normalized_high", "ci_resampling"],
        "tables/stats.csv": ["test", "comparison", "statistic", "p_value", "p_adjusted",
                             "effect_size", "n"],
    }
    for rel, columns in contract.items():
        assert list(read(run, rel).columns) == columns, rel
    humans = read(run, "humans/trials.csv")
    assert {"label", "correct", "n_clicks", "revealed_fraction"} <= set(humans.columns)
    reliability = read(run, "humans/reliability.csv")
    assert list(reliability.columns) == ["image_id", "metric", "split_half", "lower", "upper",
                                         "floor", "n_participants"]
    for name in ("accuracy", "similarity", "examples", "confusion_tiny_seed-0"):
        for suffix in (".png", ".pdf"):
            assert (run / "results/figures" / f"{name}{suffix}").stat().st_size > 1000


#: Interval columns (low, high) -> the estimate they belong to (the first present).
INTERVALS = {
    ("ci_low", "ci_high"): ("accuracy", "mean"),
    ("normalized_low", "normalized_high"): ("normalized",),
    ("difference_ci_low", "difference_ci_high"): ("difference", "difference_pp"),
    ("normalized_difference_ci_low", "normalized_difference_ci_high"): ("normalized_difference",),
    ("kappa_ci_low", "kappa_ci_high"): ("kappa",),
    ("or_ci_low", "or_ci_high"): ("odds_ratio",),
}


def test_every_estimate_lies_inside_its_interval(run):
    checked = 0
    for path in sorted((run / "results").rglob("*.csv")):
        table = pd.read_csv(path, low_memory=False)
        for (low, high), estimates in INTERVALS.items():
            estimate = next((e for e in estimates if e in table.columns), None)
            if low not in table.columns or estimate is None:
                continue
            x = table[[low, estimate, high]].apply(pd.to_numeric, errors="coerce").dropna()
            slack = 1e-9 * (1 + x.abs().max(axis=1))
            bad = x[(x[low] > x[estimate] + slack) | (x[estimate] > x[high] + slack)]
            assert bad.empty, f"{path.relative_to(run)}: {estimate} outside [{low}, {high}]\n{bad}"
            checked += len(x)
    assert checked > 50, checked


def test_saliency_shards_partition_the_test_images_with_valid_maps(run):
    manifest = read(run, "data/manifest.csv")
    test_ids = sorted(manifest.loc[manifest["split"] == "test", "image_id"])
    methods = ["cam", "gradcam", "extremal_perturbation", "center", "random_model_cam",
               "random_model_gradcam"]
    for method in methods:
        shards = sorted((run / "results/saliency/tiny/seed-0" / method).glob("shard-*.npz"),
                        key=lambda p: int(p.stem.split("-")[1]))
        assert len(shards) == -(-len(test_ids) // 16)
        ids = []
        for k, shard in enumerate(shards):
            maps = io.load_maps(shard)
            assert list(maps) == test_ids[k * 16:(k + 1) * 16]  # exactly the slice, in order
            for m in maps.values():
                assert m.shape == (48, 48) and m.dtype == np.float32 and np.isfinite(m).all()
            ids += list(maps)
        assert ids == test_ids
    human = io.load_maps(run / "results/humans/maps.npz")
    for m in human.values():
        assert m.shape == (48, 48) and m.dtype == np.float32 and np.isfinite(m).all()
        assert m.sum() == pytest.approx(1, abs=1e-4)


def test_accuracies_lie_in_unit_interval_and_model_beats_chance(run):
    accuracy = read(run, "tables/accuracy.csv")
    assert list(accuracy["agent"]) == ["human", "model:tiny/seed-0", "model:tiny/seed-0@human_view"]
    for col in ("accuracy", "ci_low", "ci_high"):
        assert accuracy[col].between(0, 1).all()
    assert (accuracy["ci_low"] <= accuracy["accuracy"]).all()
    assert (accuracy["accuracy"] <= accuracy["ci_high"]).all()
    metrics = json.loads((run / "results/models/tiny/seed-0/metrics.json").read_text())
    assert (metrics["model"], metrics["seed"]) == ("tiny", 0)
    assert metrics["accuracy_nway"] > metrics["chance_nway"] + 0.15
    assert metrics["accuracy_2afc"] > 0.65
    human = accuracy.set_index("agent").loc["human", "accuracy"]
    assert 0.6 < human < 1.0  # simulated observers: well above chance, below ceiling


def test_simulated_human_maps_concentrate_on_diagnostic_regions(run):
    human = io.load_maps(run / "results/humans/maps.npz")
    regions = io.load_maps(run / "results/data/regions.npz")
    weights = read(run, "data/diagnostic_regions.csv").pivot_table(
        index=["expression_a", "expression_b"], columns="region", values="weight")[
        ["brows", "eyes", "nose", "mouth"]]
    trials = read(run, "humans/trials.csv")
    ratios, most_over_least = [], []
    for image_id, m in human.items():
        masks = regions[image_id].astype(bool)
        inside = masks.any(axis=0)
        ratios.append(m[inside].mean() / m[~inside].mean())
        # Region weights of the option pairs this image was shown with, summed over its trials.
        shown = trials.loc[trials["image_id"] == image_id, ["option_a", "option_b"]]
        w = weights.loc[list(shown.itertuples(index=False, name=None))].sum().to_numpy()
        density = np.array([m[r].mean() for r in masks])
        most_over_least.append(density[w.argmax()] > density[w.argmin()])
    assert np.median(ratios) > 2  # mass per pixel on the face parts vs elsewhere
    assert np.mean(most_over_least) > 0.8  # the most diagnostic part beats the least diagnostic


def test_similarity_covers_every_model_method_metric_and_image(run):
    similarity = read(run, "tables/similarity.csv")
    manifest = read(run, "data/manifest.csv")
    n_test = (manifest["split"] == "test").sum()
    assert set(zip(similarity["model"], similarity["seed"])) == {("tiny", 0)}
    counts = similarity.groupby(["model", "seed", "method", "metric"]).size()
    # 6 map methods (random_model: cam and gradcam) and 3 shuffled baselines, 7 metrics
    assert len(counts) == 9 * 7 and (counts == n_test).all()
    # shuffled_gradcam scores each image with gradcam's map of its partner (same expression)
    labels = dict(zip(manifest["image_id"], manifest["label"]))
    test_labels = {i: labels[i] for i in manifest.loc[manifest["split"] == "test", "image_id"]}
    partners = sm.shuffle_partners(test_labels, 0)
    gradcam = io.load_map_shards(sorted((run / "results/saliency/tiny/seed-0/gradcam").glob("*.npz")))
    human = io.load_maps(run / "results/humans/maps.npz")
    got = similarity[(similarity["method"] == "shuffled_gradcam")
                     & (similarity["metric"] == "spearman")].set_index("image_id")["value"]
    for image_id, value in got.items():
        partner = partners[image_id]
        assert partner != image_id and labels[partner] == labels[image_id]
        want = sm.spearman(gradcam[partner][None], human[image_id][None])[0]
        assert value == pytest.approx(want, abs=1e-9)
    report = (run / "results/report.html").read_text()
    assert "SIMULATED" in report and "data:image/png;base64," in report


def test_breakdowns_regions_and_faithfulness(run):
    stats = read(run, "tables/stats.csv")
    comparisons = stats["comparison"]
    assert comparisons.str.contains(r"human vs model:tiny/seed-0 \[expression=happy\]").any()
    assert comparisons.str.contains(r"human vs model:tiny/seed-0 \[pair=").any()
    assert comparisons.str.contains(r"tiny/seed-0/cc \[expression=happy\]: cam vs gradcam").any()
    n_test = (read(run, "data/manifest.csv")["split"] == "test").sum()
    regions = read(run, "tables/regions.csv")  # synthetic faces: the regions are known
    assert list(regions.columns) == ["image_id", "agent", "method", "region", "share"]
    sums = regions.groupby(["image_id", "agent", "method"])["share"].sum()
    assert len(sums) == n_test * (1 + 6 + 1) and np.allclose(sums, 1.0)  # shuffled maps: no rows
    faith = read(run, "tables/faithfulness.csv")
    assert list(faith.columns) == ["image_id", "model", "seed", "method", "curve", "auc"]
    assert set(zip(faith["model"], faith["seed"])) == {("tiny", 0)}
    assert len(faith) == n_test * (1 + 6) * 2 and faith["auc"].between(0, 1).all()
    for name in ("accuracy_by_pair", "regions", "faithfulness"):
        for suffix in (".png", ".pdf"):
            assert (run / "results/figures" / f"{name}{suffix}").stat().st_size > 1000


def test_provenance_records_the_run(run):
    from ferattention.provenance import config_hash

    record = json.loads((run / "results/provenance.json").read_text())
    assert record["config_sha256"] == config_hash(record["config"])
    assert record["config"]["models"]["tiny"]["epochs"] == 12  # the run's config, defaults filled
    assert record["seeds"]["models.tiny.seed"] == 0
    assert record["packages"]["snakemake"] and record["device"]


def test_mixed_model_and_agreement_tables(run):
    from ferattention import agreement, mixed, verdicts

    tests = read(run, "tables/accuracy_tests.csv")
    assert list(tests.columns) == [*mixed.TEST_COLUMNS, *verdicts.POOLED_ACCURACY_COLUMNS]
    # per instance the mixed model (secondary) and the bootstrap (primary), then per model
    # pooled over its instances
    instance = ["human vs model:tiny/seed-0", "human vs model:tiny/seed-0@human_view"]
    assert list(tests["comparison"]) == instance * 2 + ["human vs model:tiny",
                                                        "human vs model:tiny@human_view"]
    assert list(tests["test"]) == ["mixed_logit"] * 2 + ["hierarchical_bootstrap"] * 4
    assert list(tests["role"]) == ["secondary"] * 2 + ["primary"] * 4
    assert list(tests["n_instances"]) == [1] * 6
    per_instance = tests[tests["test"] == "mixed_logit"]
    assert (per_instance["or_ci_low"] < per_instance["odds_ratio"]).all()
    assert (per_instance["odds_ratio"] < per_instance["or_ci_high"]).all()
    assert tests["p_value"].between(0, 1).all() and (per_instance["se"] > 0).all()
    stats = read(run, "tables/stats.csv")
    assert set(stats.loc[stats["test"] == "mixed_logit", "comparison"]) == set(
        per_instance["comparison"])
    agree = read(run, "tables/agreement.csv")
    assert list(agree.columns) == list(agreement.AGREEMENT_COLUMNS)
    assert list(agree["agent"]) == ["model:tiny/seed-0", "model:tiny/seed-0@human_view"]
    report = (run / "results/report.html").read_text()
    assert "mixed model" in report and "error consistency" in report
    for suffix in (".png", ".pdf"):
        assert (run / "results/figures" / f"agreement{suffix}").stat().st_size > 1000


def _report_variable(html: str, name: str, script_id: str):
    """A JSON value that Snakemake's report page defines as ``var <name> = ...`` in a script."""
    match = re.search(rf'<script id="{script_id}">\s*var {name} = (.*?);?\s*</script>', html, re.S)
    assert match, f"no {name} in the report page"
    return json.loads(match.group(1))


def test_snakemake_report_zip_holds_pages_and_declared_results(run):
    """`snakemake --report report.zip` (README) after the run: Snakemake's own report page, with
    the workflow description rendered from workflow/report/workflow.rst and every file the rules
    declare with report(), captioned and stored byte for byte."""
    rules = "\n".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    declared = {p.replace("{model}", "tiny").replace("{seed}", "0")
                for p in re.findall(r'report\(\s*"([^"]+)"', rules)}
    assert len(declared) >= 10  # the figures and tables of rules/*.smk
    result = snakemake(run, "--report", str(run / "report.zip"))
    assert result.returncode == 0, result.stderr[-5000:]
    with zipfile.ZipFile(run / "report.zip") as archive:
        assert archive.testzip() is None
        html = archive.read("report/report.html").decode()
        description = _report_variable(html, "workflow_desc", "workflow-desc")
        assert "Park &amp; Wallraven" in description
        assert "dataset source synthetic" in description  # the rst's template, rendered
        results = _report_variable(html, "results", "results")
        assert set(results) == declared
        for path, entry in results.items():
            assert entry["caption"].startswith("<p>"), path
            assert archive.read(f"report/{entry['data_uri']}") == (run / path).read_bytes(), path


def test_recovery_study_finds_the_planted_maps(run):
    """`snakemake recovery` on the small run: every planted map ranks first on spearman and cc."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["recovery"] = {"sources": ["regions", "center", "gradcam", "eye_region"],
                          "external": {"eye_region": {
                              "path": "results/data/external/eye_region.npz"}}}
    (run / "recovery.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(run, "recovery", "--configfile", str(run / "recovery.yaml"))
    assert result.returncode == 0, result.stderr[-5000:]
    recovery = read(run, "recovery/recovery.csv")
    assert list(recovery.columns) == ["source", "model", "seed", "method", "metric", "mean", "floor",
                                      "upper", "normalized", "normalized_low", "normalized_high",
                                      "rank", "planted"]
    assert set(recovery["source"]) == {"regions", "center", "gradcam", "eye_region"}
    methods = {"cam", "gradcam", "extremal_perturbation", "center", "random_model_cam",
               "random_model_gradcam", "eye_region"}
    assert set(recovery["method"]) == methods
    planted = recovery[recovery["planted"] & recovery["metric"].isin(["spearman", "cc"])]
    assert set(planted["source"]) == {"center", "gradcam", "eye_region"}
    assert (planted["rank"] == 1).all(), planted
    # A map that differs between images (gradcam) scores near the noise ceiling; none beyond it
    # by more than its CI.
    varied = planted[planted["source"] == "gradcam"]
    assert (varied["normalized"] >= 0.7).all(), varied
    assert (recovery["normalized_low"].dropna() <= 1).all()
    # The floor is the centre bias: where the observers follow the centre, it is the planted map
    # itself (up to click noise), so upper and floor nearly meet; elsewhere the centre baseline
    # does no better than the floor.
    centre = planted[planted["source"] == "center"]
    gap = centre["upper"] - centre["floor"]
    assert (gap.abs() < 0.05).all(), centre
    others = recovery[(recovery["method"] == "center") & (recovery["source"] == "gradcam")
                      & recovery["metric"].isin(["spearman", "cc"])]
    assert (others["normalized"] <= 0.3).all(), others
    # The regions source plants no method: nothing is marked, every method is ranked.
    regions = recovery[recovery["source"] == "regions"]
    assert not regions["planted"].any() and regions["rank"].notna().all()
    for suffix in (".png", ".pdf"):
        assert (run / "results/figures" / f"recovery{suffix}").stat().st_size > 1000


def test_external_maps_are_compared_like_every_method(run):
    """Maps from outside: the human maps themselves as method `truth` (cc and spearman 1), and a
    file with one bad map dropped (`on_invalid: drop`), through every table of the run."""
    human = io.load_maps(run / "results/humans/maps.npz")
    ids = sorted(human)
    np.savez(run / "truth.npz", **{i: np.kron(human[i], np.ones((2, 2))) for i in ids})  # 96 px
    broken = {i: np.ones((48, 48)) for i in ids}
    broken[ids[0]] = np.full((48, 48), np.nan)
    np.savez(run / "broken.npz", **broken)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["saliency"]["methods"] = ["cam", "gradcam", "extremal_perturbation", "center",
                                     "random_model", "truth", "broken"]
    config["saliency"]["external"] = {
        "truth": {"path": str(run / "truth.npz")},
        "broken": {"path": str(run / "broken.npz"), "on_invalid": "drop"}}
    (run / "external.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(run, "--configfile", str(run / "external.yaml"))
    assert result.returncode == 0, result.stderr[-5000:]
    similarity = read(run, "tables/similarity.csv")
    truth = similarity[similarity["method"] == "truth"].set_index("metric")["value"]
    # Resized back to 48 px by PIL's antialiased bilinear filter, which mixes neighbouring
    # pixels a little: cc 0.9998 at least, not exactly 1; spearman 0.947 at least (measured), as
    # the mixing reorders the many near-zero pixels around the clicked area.
    assert truth.loc["cc"].min() > 0.999 and truth.loc["spearman"].min() > 0.92
    broken_ids = set(similarity.loc[similarity["method"] == "broken", "image_id"])
    assert broken_ids == set(ids[1:])
    qc = read(run, "external/broken/qc.csv")
    assert qc["image_id"].tolist() == [ids[0]] and "NaN" in qc["problem"].iloc[0]
    summary = read(run, "tables/similarity_summary.csv").set_index(["method", "metric"])
    assert summary.loc[("truth", "cc"), "mean"] > 0.999
    regions = read(run, "tables/regions.csv")
    assert {"truth", "broken"} <= set(regions["method"])
    faith = read(run, "tables/faithfulness.csv")
    assert not {"truth", "broken"} & set(faith["method"])     # no model behind them
    verdict = read(run, "tables/verdict.csv").iloc[0]
    assert verdict["best"] == "truth" and verdict["verdict"] == "most_human_like"
    assert "truth" in (run / "results/report.html").read_text()
