"""Bad input of every kind through the real workflow (`snakemake` on a tiny study in a tmp dir).

Each case must stop the run with an error that names the file, the row (or image path), the field
(column or config key) and the bad value, in the console and in the failing job's log; the failing
job must leave none of its outputs; and no expensive job (train, saliency, ...) may have started
where the input can be checked before it. The unit tests of the messages are in test_data.py,
test_humans.py and test_models.py; these check the same errors end to end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from test_workflow import snakemake  # the same command line, in the run's folder

from ferattention import io

pytestmark = pytest.mark.workflow

EXPRESSIONS = ["happy", "sad"]
IMAGES_PER_LABEL = 20

TRIALS = """participant_id,trial_id,image_id,option_a,option_b,response,rt_ms
p1,t1,happy/img00,happy,sad,happy,1200
p1,t2,sad/img00,sad,happy,happy,900
p2,t1,happy/img01,happy,sad,happy,1500
"""
CLICKS = """participant_id,trial_id,click_index,x,y,t_ms
p1,t1,1,10,12,300
p1,t1,2,20,5,600
p1,t2,1,16,16,400
p2,t1,1,8,30,350
"""

#: Outputs of the jobs that fail below (relative to the run's folder).
OUTPUTS = {
    "prepare_dataset": ["results/data"],
    "ingest_humans": ["results/humans"],
    "train": ["results/models/tiny/seed-0"],  # the one instance of model tiny
}
#: Jobs that are cheap and may run before a check that needs the prepared dataset.
CHEAP = {"prepare_dataset", "make_trials", "ingest_humans", "figure_dataset_examples",
         "human_maps", "human_reliability"}


def started_jobs(output: str) -> set[str]:
    """Rules of the jobs Snakemake started (its job headers, e.g. ``localrule make_trials:``)."""
    return set(re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):\s*$", output, re.M))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny valid study: smooth gray 32x32 JPEG 'faces' per expression folder, click logs."""
    root = tmp_path_factory.mktemp("bad_input_base")
    rng = np.random.default_rng(0)
    for label in [*EXPRESSIONS, "anger"]:  # anger: a canonical expression this run leaves out
        folder = root / "faces" / label
        folder.mkdir(parents=True)
        for k in range(IMAGES_PER_LABEL):
            coarse = Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8))
            coarse.resize((32, 32), Image.Resampling.BICUBIC).save(folder / f"img{k:02d}.jpg")
    (root / "trials.csv").write_text(TRIALS)
    (root / "clicks.csv").write_text(CLICKS)
    return root


def study(base: Path, workdir: Path) -> dict:
    """Copy the study into ``workdir`` and return its config (written by :func:`run`)."""
    shutil.copytree(base, workdir, dirs_exist_ok=True)
    return {
        "dataset": {"source": "imagefolder", "path": str(workdir / "faces"),
                    "expressions": EXPRESSIONS, "image_size": 32},
        "models": {"tiny": {"arch": "compact_cnn", "epochs": 1, "seed": 0}},
        "humans": {"source": "csv", "trials": str(workdir / "trials.csv"),
                   "clicks": str(workdir / "clicks.csv"), "reveal_radius": 4},
    }


def run(workdir: Path, config: dict, *targets: str) -> tuple[subprocess.CompletedProcess, str]:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, *targets)
    return result, result.stdout + result.stderr


def assert_lines(text: str, expected: list[tuple[str, ...]]) -> None:
    """Each tuple of fragments (file, row, field, value) occurs together on one line."""
    lines = text.splitlines()
    for fragments in expected:
        assert any(all(f in line for f in fragments) for line in lines), (fragments, text[-3000:])


def files_under(workdir: Path, rel: str) -> list[Path]:
    return [p for p in (workdir / rel).rglob("*") if p.is_file()]


# --------------------------------------------------------------------------- config (parse time)

@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["dataset"].update(imag_size=32),
     ("dataset.imag_size", "unknown key", "did you mean 'image_size'")),
    (lambda c: c["models"]["tiny"].update(epochs="twelve"),
     ("models.tiny.epochs", "'twelve'", "is not of type 'integer'")),
], ids=["misspelt_key", "wrong_type"])
def test_config_schema_errors_stop_the_run_before_any_job(base, tmp_path, edit, expected):
    config = study(base, tmp_path)
    edit(config)
    result, output = run(tmp_path, config)
    assert result.returncode != 0
    assert_lines(output, [(str(tmp_path / "config.yaml"), "problem(s)"), expected])
    assert "Failed validating" not in output  # one line per problem, not a dump of the schema
    assert started_jobs(output) == set()
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


# --------------------------------------------------------------------------- faces and click logs

@dataclass
class Case:
    """One kind of bad input: ``edit`` breaks the copied study (files and config) and returns
    the fragments that must occur together on one line of the error, per problem."""

    edit: Callable[[Path, dict], list[tuple[str, ...]]]
    rule: str  # the job that must fail


def corrupt_jpeg(work: Path, config: dict) -> list[tuple[str, ...]]:
    path = work / "faces/happy/img03.jpg"
    path.write_bytes(path.read_bytes()[:200])  # a truncated download
    return [(str(path), "cannot read image")]


def empty_image(work: Path, config: dict) -> list[tuple[str, ...]]:
    path = work / "faces/sad/img05.jpg"
    path.write_bytes(b"")
    return [(str(path), "empty image file (0 bytes)")]


def folder_with_unknown_label(work: Path, config: dict) -> list[tuple[str, ...]]:
    shutil.copytree(work / "faces/sad", work / "faces/bored")
    return [(str(work / "faces"), "unknown expression label(s) ['bored']", "folder names")]


def manifest_with_unknown_label(work: Path, config: dict) -> list[tuple[str, ...]]:
    rows = ["image_id,path,label"] + [f"{label}/img{k:02d},faces/{label}/img{k:02d}.jpg,{label}"
                                      for label in EXPRESSIONS for k in range(IMAGES_PER_LABEL)]
    rows[7] = rows[7].replace(",sad", ",bored").replace(",happy", ",bored")
    (work / "faces.csv").write_text("\n".join(rows) + "\n")
    config["dataset"].update(source="manifest", path=str(work / "faces.csv"))
    return [(str(work / "faces.csv"), "line 8", "column 'label'", "'bored'")]


def clicks_with_bad_values(work: Path, config: dict) -> list[tuple[str, ...]]:
    trials, clicks = work / "trials.csv", work / "clicks.csv"
    trials.write_text(TRIALS.replace("happy,1200", "happy,fast")
                      .replace("p2,t1,happy/img01,happy,sad", "p2,t1,happy/img01,happy,anger"))
    clicks.write_text(CLICKS.replace("p1,t2,1,16,16,400", "p1,t2,1,16,abc,400"))
    return [(str(trials), "row 1 (line 2)", "column 'rt_ms'", "'fast'"),
            (str(trials), "row 3 (line 4)", "column 'option_b'", "'anger'", "dataset.expressions"),
            (str(clicks), "row 3 (line 4)", "column 'y'", "'abc'")]


def trial_with_unknown_image(work: Path, config: dict) -> list[tuple[str, ...]]:
    trials = work / "trials.csv"
    trials.write_text(TRIALS.replace("p1,t2,sad/img00", "p1,t2,sad/img99"))
    return [(str(trials), "row 2 (line 3)", "column 'image_id'", "'sad/img99'")]


def clicks_missing_a_column(work: Path, config: dict) -> list[tuple[str, ...]]:
    clicks = work / "clicks.csv"
    clicks.write_text("\n".join(line.rsplit(",", 1)[0] for line in CLICKS.splitlines()) + "\n")
    return [(str(clicks), "line 1 (header)", "missing column(s) ['t_ms']")]


CASES = {
    "corrupt_jpeg": Case(corrupt_jpeg, "prepare_dataset"),
    "empty_image": Case(empty_image, "prepare_dataset"),
    "folder_with_unknown_label": Case(folder_with_unknown_label, "prepare_dataset"),
    "manifest_with_unknown_label": Case(manifest_with_unknown_label, "prepare_dataset"),
    # Images shown to people must exist before the split is made: caught by the first job.
    "trial_with_unknown_image": Case(trial_with_unknown_image, "prepare_dataset"),
    "clicks_with_bad_values": Case(clicks_with_bad_values, "ingest_humans"),
    "clicks_missing_a_column": Case(clicks_missing_a_column, "ingest_humans"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_its_first_job_naming_file_row_field_and_value(base, tmp_path, name):
    case = CASES[name]
    config = study(base, tmp_path)
    expected = case.edit(tmp_path, config)
    result, output = run(tmp_path, config)
    assert result.returncode != 0
    assert_lines(output, expected)
    # Snakemake names the job's log, which holds the same message.
    log = re.search(rf"Error in rule {case.rule}:(?:.|\n)*?log: (\S+) \(check log", output)
    assert log, output[-3000:]
    assert_lines((tmp_path / log.group(1)).read_text(), expected)
    for rel in OUTPUTS[case.rule]:
        assert files_under(tmp_path, rel) == [], rel  # nothing half-written
    started = started_jobs(output)
    assert case.rule in started
    allowed = {"prepare_dataset"} if case.rule == "prepare_dataset" else CHEAP
    assert started <= allowed, started - allowed


def test_drop_mode_leaves_unknown_images_of_the_click_logs_out_and_counts_them(base, tmp_path):
    config = study(base, tmp_path)
    trial_with_unknown_image(tmp_path, config)
    config["humans"]["on_invalid"] = "drop"
    result, output = run(tmp_path, config, "results/humans/qc.csv")
    assert result.returncode == 0, output[-3000:]
    qc = (tmp_path / "results/humans/qc.csv").read_text().splitlines()
    assert qc == ["file,reason,n_rows", "trials.csv,unknown_image,1", "clicks.csv,trial_dropped,1"]
    trials = (tmp_path / "results/humans/trials.csv").read_text()
    assert "sad/img99" not in trials and trials.count("\n") == 1 + 2


# --------------------------------------------------------------------------- initial weights

def test_weights_that_do_not_fit_fail_train_at_loading_before_any_epoch(base, tmp_path):
    import torch

    from ferattention import models

    config = study(base, tmp_path)
    weights = tmp_path / "narrow.pt"  # the right architecture at half the width
    torch.save(models.compact_cnn(len(EXPRESSIONS), width=16).state_dict(), weights)
    config["models"]["tiny"]["weights"] = str(weights)
    result, output = run(tmp_path, config)
    assert result.returncode != 0
    expected = [(str(weights), "does not fit architecture 'compact_cnn'",
                 "features.0.0.weight: file (16, 1, 5, 5) vs model (32, 1, 5, 5)")]
    assert_lines(output, expected)
    log = (tmp_path / "logs/train/tiny/seed-0.log").read_text()
    assert_lines(log, expected)
    assert "training tiny" not in log  # failed before the images were read, let alone an epoch
    assert files_under(tmp_path, "results/models") == []
    started = started_jobs(output)
    assert "train" in started and started <= CHEAP | {"train"}, started
    # The inputs up to training were valid; the canonical expression outside the run's
    # dataset.expressions (anger) was left out, and said so, not an error.
    manifest = (tmp_path / "results/data/manifest.csv").read_text()
    assert "anger/" not in manifest and manifest.count("\n") == 1 + 2 * IMAGES_PER_LABEL
    assert "outside dataset.expressions ['happy', 'sad'] left out: {'anger': 20}" in (
        tmp_path / "logs/prepare_dataset.log").read_text()
    assert (tmp_path / "results/humans/trials.csv").is_file()


def test_drop_mode_runs_to_the_end_without_the_corrupt_image(base, tmp_path):
    """`dataset.on_invalid: drop` end to end: a truncated JPEG is skipped, counted in qc.csv, and
    absent from every later stage; the rest of the run completes."""
    config = study(base, tmp_path)
    [(corrupt, _)] = corrupt_jpeg(tmp_path, config)
    config["dataset"]["on_invalid"] = "drop"
    config["saliency"] = {"extremal_perturbation": {"areas": [0.1], "max_iter": 5}}
    config["statistics"] = {"n_boot": 100}
    result, output = run(tmp_path, config)
    assert result.returncode == 0, output[-3000:]
    qc = (tmp_path / "results/data/qc.csv").read_text().splitlines()
    assert qc == ["file,reason,n_rows", "faces,unreadable_image,1"]
    log = (tmp_path / "logs/prepare_dataset.log").read_text()
    assert corrupt in log and "unreadable_image" in log  # said which file was dropped, and why
    manifest = pd.read_csv(tmp_path / "results/data/manifest.csv")
    assert len(manifest) == 2 * IMAGES_PER_LABEL - 1
    assert "happy/img03" not in set(manifest["image_id"])
    test_ids = set(manifest.loc[manifest["split"] == "test", "image_id"])
    for method in ("cam", "gradcam", "extremal_perturbation", "center", "random_model_cam",
                   "random_model_gradcam"):
        maps = {}
        for shard in (tmp_path / "results/saliency/tiny/seed-0" / method).glob("shard-*.npz"):
            maps.update(io.load_maps(shard))
        assert set(maps) == test_ids, method
    for table in ("tables/similarity.csv", "tables/regions.csv", "tables/faithfulness.csv"):
        frame = pd.read_csv(tmp_path / "results" / table, dtype={"image_id": str})
        assert "happy/img03" not in set(frame["image_id"]), table
    assert (tmp_path / "results/report.html").stat().st_size > 10_000
