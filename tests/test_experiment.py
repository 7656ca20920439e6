"""The exported browser experiment: the export itself, and a participant's session in headless
Chromium whose CSV files must pass the workflow's ingestion with the clicks where they were made.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package
(``.ci/run`` installs them). Without them they are skipped, except when the environment variable
``CI`` is set: then they fail, so CI cannot pass without running them.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from ferattention.experiment import (
    ASSET_FILES,
    ExperimentSettings,
    SessionError,
    combine_sessions,
    export_experiment,
    plan_stimuli,
)
from ferattention.humans import fixation_maps, load_human_data, to_model_coords

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

IMAGE_SIZE = 32
#: Tiny dataset: image_id -> (label, split, constant gray value of the image).
IMAGES = {
    "a/happy_1": ("happy", "test", 30),
    "a/sad_1": ("sad", "test", 60),
    "b/anger_1": ("anger", "test", 200),
    "b/happy_2": ("happy", "test", 230),
    "c/sad_2": ("sad", "train", 90),
    "c/anger_2": ("anger", "val", 170),
}
EXPRESSIONS = ["happy", "sad", "anger"]


def make_dataset(folder: Path) -> tuple[Path, Path, pd.DataFrame]:
    """Prepared-style manifest, images (constant gray squares) and a model trial list."""
    rows, trials = [], []
    for image_id, (label, split, gray) in IMAGES.items():
        rel = f"images/{image_id}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((IMAGE_SIZE, IMAGE_SIZE), gray, np.uint8)).save(folder / rel)
        rows.append({"image_id": image_id, "label": label, "identity": image_id[0],
                     "split": split, "path": rel})
        if split == "test":
            foils = [e for e in EXPRESSIONS if e != label]
            trials += [(image_id, label, foils[0], label), (image_id, foils[1], label, label)]
    manifest = pd.DataFrame(rows)
    manifest.to_csv(folder / "manifest.csv", index=False)
    table = pd.DataFrame(trials, columns=["image_id", "option_a", "option_b", "label"])
    table.insert(0, "trial_id", [f"t{i:06d}" for i in range(len(table))])
    table.to_csv(folder / "trials.csv", index=False)
    return folder / "manifest.csv", folder / "trials.csv", manifest


def read_js(path: Path, name: str) -> Any:
    text = path.read_text()
    match = re.search(rf"window\.{name} = (.*);\s*$", text, re.S)
    assert match, f"{path} does not assign window.{name}"
    return json.loads(match.group(1))


# ------------------------------------------------------------------------- export, no browser


def test_export_writes_a_self_contained_experiment(tmp_path):
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    settings = ExperimentSettings(reveal_radius=18, stimulus_size=160, practice_trials=2,
                                  hiding="blur", hiding_blur=6, seed=3)
    out = tmp_path / "experiment"
    summary = export_experiment(manifest_path, trials_path, out, settings)
    assert summary == {"n_images": 4, "per_participant": 4, "n_practice": 2, "n_catch": 0,
                       "stimulus_width": 160, "stimulus_height": 160}
    for name in ASSET_FILES + ("config.js", "trials.js"):
        assert (out / name).is_file(), name

    config = read_js(out / "config.js", "FER_CONFIG")
    assert config["reveal_radius"] == 18 and config["hiding"] == "blur"
    assert (config["stimulus_width"], config["stimulus_height"]) == (160, 160)
    assert config["post_url"] is None and config["response_keys"] == ["f", "j"]
    assert config["min_rt_ms"] == 300 and config["catch_trials"] == 0
    assert re.fullmatch(r"[0-9a-f]{16}", config["experiment_id"])
    assert config["trial_columns"] == ["participant_id", "trial_id", "image_id", "option_a",
                                       "option_b", "response", "rt_ms", "stimulus_width",
                                       "stimulus_height", "n_clicks", "flag"]
    assert config["click_columns"] == ["participant_id", "trial_id", "click_index", "x", "y",
                                       "t_ms"]

    data = read_js(out / "trials.js", "FER_TRIALS")
    model_trials = pd.read_csv(trials_path, dtype=str)
    assert [m["image_id"] for m in data["main"]] == sorted(model_trials["image_id"].unique())
    for record in data["main"]:
        expected = model_trials[model_trials["image_id"] == record["image_id"]]
        assert record["trials"] == expected[["trial_id", "option_a", "option_b"]].to_dict("records")
        # The label lets the page balance the sides of the correct option and the expressions.
        assert record["label"] == IMAGES[record["image_id"]][0]
        sharp = np.asarray(Image.open(out / record["image"]))
        hidden = np.asarray(Image.open(out / record["hidden"]))
        assert sharp.shape == hidden.shape == (160, 160)
        # A constant image scales to itself.
        gray = IMAGES[record["image_id"]][2]
        assert np.abs(sharp.astype(int) - gray).max() <= 1
    # Practice never shows a test image, and its options hold its label.
    assert sorted(p["image_id"] for p in data["practice"]) == ["c/anger_2", "c/sad_2"]
    for p in data["practice"]:
        assert p["label"] in (p["option_a"], p["option_b"]) and p["option_a"] != p["option_b"]

    # Nothing on the page comes from the network: every file it names is in the folder.
    linked = re.findall(r"(?:src|href)=\"([^\"]+)\"", (out / "index.html").read_text())
    assert sorted(linked) == ["config.js", "experiment.js", "style.css", "trials.js"]
    assert not re.search(r"https?:|@import|url\(", (out / "style.css").read_text())
    assert "http" not in (out / "experiment.js").read_text()


def test_blur_hides_and_mask_writes_no_hidden_images(tmp_path):
    data_dir = tmp_path / "data"
    manifest_path, trials_path, _ = make_dataset(data_dir)
    # A face-like image with an edge: the blurred copy must differ from the sharp one.
    edge = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    edge[:, IMAGE_SIZE // 2:] = 255
    Image.fromarray(edge).save(data_dir / "images/a/happy_1.png")
    blur = tmp_path / "blur"
    export_experiment(manifest_path, trials_path, blur,
                      ExperimentSettings(reveal_radius=10, stimulus_size=64, hiding_blur=4,
                                         practice_trials=0))
    record = read_js(blur / "trials.js", "FER_TRIALS")["main"][0]
    assert record["image_id"] == "a/happy_1"
    sharp = np.asarray(Image.open(blur / record["image"]), dtype=float)
    hidden = np.asarray(Image.open(blur / record["hidden"]), dtype=float)
    assert sharp[:, 28].mean() < 10 and sharp[:, 36].mean() > 245
    assert 60 < hidden[:, 31].mean() < 195          # the edge is smeared
    assert abs(hidden.mean() - sharp.mean()) < 3     # the blur keeps the mean

    mask = tmp_path / "mask"
    export_experiment(manifest_path, trials_path, mask,
                      ExperimentSettings(reveal_radius=10, stimulus_size=64, hiding="mask",
                                         practice_trials=0))
    data = read_js(mask / "trials.js", "FER_TRIALS")
    assert all(m["hidden"] is None for m in data["main"])
    assert data["practice"] == [] and data["catch"] == []
    assert not list((mask / "stimuli").glob("*_hidden.png"))


def test_practice_needs_images_outside_the_test_split(tmp_path):
    _, _, manifest = make_dataset(tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv", dtype=str)
    with pytest.raises(ValueError, match=r"practice_trials \(3\) and experiment.catch_trials "
                                         r"\(0\) need 3 image\(s\) .* only 2 can serve"):
        plan_stimuli(manifest, trials, ExperimentSettings(reveal_radius=10, practice_trials=3))
    with pytest.raises(ValueError, match=r"\(1\) and experiment.catch_trials \(2\) need 3"):
        plan_stimuli(manifest, trials, ExperimentSettings(reveal_radius=10, practice_trials=1,
                                                          catch_trials=2))
    # Practice and catch images are distinct, outside the test split, their options hold the label.
    _, practice, catch = plan_stimuli(manifest, trials, ExperimentSettings(
        reveal_radius=10, practice_trials=1, catch_trials=1))
    assert sorted(r["image_id"] for r in practice + catch) == ["c/anger_2", "c/sad_2"]
    for r in practice + catch:
        assert r["label"] in (r["option_a"], r["option_b"]) and r["option_a"] != r["option_b"]
    # The same seed gives the same practice; labels outside the run's expressions are skipped.
    manifest.loc[manifest["image_id"] == "c/sad_2", "label"] = "fear"
    _, practice, _ = plan_stimuli(manifest, trials, ExperimentSettings(reveal_radius=10,
                                                                       practice_trials=1))
    assert [p["image_id"] for p in practice] == ["c/anger_2"]


def test_failed_export_leaves_nothing_behind(tmp_path):
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    (tmp_path / "data/images/b/anger_1.png").unlink()
    with pytest.raises(ValueError, match=r"cannot read prepared image .*anger_1\.png"):
        export_experiment(manifest_path, trials_path, tmp_path / "experiment",
                          ExperimentSettings(reveal_radius=10, practice_trials=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_settings_match_the_config_schema():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    keys = schema["properties"]["experiment"]["properties"]
    defaults = {k: v["default"] for k, v in keys.items()}
    settings = ExperimentSettings.from_config(defaults, reveal_radius=24)
    assert settings.stimulus_size == 256 and settings.response_keys == ("f", "j")
    assert set(yaml.safe_load((REPO / "config.yaml").read_text())["experiment"]) == set(keys)
    with pytest.raises(ValueError, match="hiding must be one of"):
        ExperimentSettings(reveal_radius=10, hiding="pixelate")
    with pytest.raises(ValueError, match="response_keys must be two different"):
        ExperimentSettings(reveal_radius=10, response_keys=("f", "F"))
    with pytest.raises(ValueError, match="min_rt_ms must be >= 0.*catch_trials must be >= 0"):
        ExperimentSettings(reveal_radius=10, min_rt_ms=-1, catch_trials=-2)


TRIAL_HEADER = ("participant_id,trial_id,image_id,option_a,option_b,response,rt_ms,"
                "stimulus_width,stimulus_height")
CLICK_HEADER = "participant_id,trial_id,click_index,x,y,t_ms"


def session(pid: str, n_clicks: tuple[int, ...] = (2, 0), **changes: Any) -> dict:
    """A session as the page saves it: trial k has n_clicks[k] clicks; trial 2 was too fast."""
    trials, clicks = [], []
    for k, n in enumerate(n_clicks):
        trials.append({"participant_id": pid, "trial_id": f"t{k:06d}", "image_id": "a/happy_1",
                       "option_a": "happy", "option_b": "sad", "response": "happy",
                       "rt_ms": 900 if k == 0 else 120, "stimulus_width": 320,
                       "stimulus_height": 320, "n_clicks": n, "flag": "" if k == 0 else "too_fast"})
        clicks += [{"participant_id": pid, "trial_id": f"t{k:06d}", "click_index": i + 1,
                    "x": 10.5 + i, "y": 20, "t_ms": 100 * (i + 1)} for i in range(n)]
    data = {"format": "ferattention-session", "version": 1, "experiment_id": "0123456789abcdef",
            "participant_id": pid, "started": "2026-11-30T10:00:00.000Z", "complete": True,
            "n_planned": len(trials), "trials": trials, "clicks": clicks}
    data.update(changes)
    return data


def write_session(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def run_combine(*paths: Path, out: Path) -> tuple[int, str, str]:
    """The command line, as a researcher runs it: (exit code, stdout, stderr)."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    result = subprocess.run([sys.executable, "-m", "ferattention.experiment", "combine",
                             *map(str, paths), "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    return result.returncode, result.stdout, result.stderr


def test_combine_joins_session_files_and_the_older_csv_pairs(tmp_path):
    downloads = tmp_path / "downloads"
    write_session(downloads / "p1_session.json", session("p1"))
    (downloads / "p2_trials.csv").write_text(
        f"{TRIAL_HEADER}\np2,t000000,a/happy_1,happy,sad,happy,900,320,320\n"
        f"p2,t000001,a/sad_1,happy,sad,sad,800,320,320\n")
    (downloads / "p2_clicks.csv").write_text(f"{CLICK_HEADER}\np2,t000001,1,10.5,20,300\n")
    out = tmp_path / "combined"
    result = combine_sessions([downloads], out / "trials.csv", out / "clicks.csv")
    assert (result.n_trials, result.n_clicks, result.n_sessions) == (4, 3, 2)
    trials = pd.read_csv(out / "trials.csv", dtype=str, keep_default_na=False)
    assert list(trials.columns) == [*TRIAL_HEADER.split(","), "n_clicks", "flag"]
    assert trials[["participant_id", "trial_id", "n_clicks", "flag"]].values.tolist() == [
        ["p1", "t000000", "2", ""], ["p1", "t000001", "0", "too_fast"],
        ["p2", "t000000", "0", ""], ["p2", "t000001", "1", ""]]   # p2's counted from its clicks
    clicks = pd.read_csv(out / "clicks.csv")
    assert clicks[["participant_id", "x", "t_ms"]].values.tolist() == [
        ["p1", 10.5, 100], ["p1", 11.5, 200], ["p2", 10.5, 300]]
    assert any(n.startswith("p1: 2 trials (0 catch, 1 too fast), 2 clicks") for n in result.notes)

    # What combine writes, ingestion reads; the too_fast trial is kept and counted.
    manifest = pd.DataFrame({"image_id": ["a/happy_1", "a/sad_1"], "label": ["happy", "sad"]})
    got, got_clicks, qc = load_human_data(out / "trials.csv", out / "clicks.csv", manifest,
                                          default_stimulus_size=(32, 32))
    assert got["n_clicks"].tolist() == [2, 0, 0, 1] and len(got_clicks) == 3
    assert got["flag"].tolist() == ["", "too_fast", "", ""]
    assert qc.to_dict("records") == [{"file": "trials.csv", "reason": "too_fast", "n_rows": 1}]


def test_combine_keeps_repeated_downloads_and_identical_sessions_once_saying_so(tmp_path):
    downloads = tmp_path / "downloads"
    first = write_session(downloads / "p1_session.json", session("p1"))
    write_session(downloads / "p1_session (1).json", session("p1"))          # downloaded twice
    # Also POSTed, with other metadata: the same session.
    write_session(tmp_path / "received" / "p1_session.json",
                  session("p1", updated="2026-11-30T10:20:00.000Z"))
    # A partial copy (sent before the end) gives way to the whole session.
    partial = session("p1", n_clicks=(2,), complete=False, n_planned=2)
    write_session(tmp_path / "received" / "p1_session-early.json", partial)
    (downloads / "p2_trials.csv").write_text(
        f"{TRIAL_HEADER}\np2,t000000,a/happy_1,happy,sad,happy,900,320,320\n")
    (downloads / "p2_clicks.csv").write_text(f"{CLICK_HEADER}\np2,t000000,1,10.5,20,300\n")
    (downloads / "p2_clicks (1).csv").write_text((downloads / "p2_clicks.csv").read_text())
    code, stdout, stderr = run_combine(downloads, tmp_path / "received", out=tmp_path / "out")
    assert code == 0, stderr
    assert (f"{downloads / 'p1_session (1).json'} is a copy of {first} (same name and bytes): "
            f"read once") in stdout
    assert f"{downloads / 'p2_clicks (1).csv'} is a copy of " in stdout
    assert (f"{tmp_path / 'received' / 'p1_session.json'} holds the same session as {first}: "
            f"kept once") in stdout
    assert "p1_session-early.json holds the first 1 trials of the session in" in stdout
    assert "(3 trials of 2 session(s))" in stdout
    trials = pd.read_csv(tmp_path / "out/trials.csv", dtype=str)
    assert trials["participant_id"].tolist() == ["p1", "p1", "p2"]
    assert len(pd.read_csv(tmp_path / "out/clicks.csv")) == 3


def _refusal_cases(tmp_path: Path) -> list[tuple[str, list[Path], str]]:
    d = tmp_path
    bad_count = session("p1")
    bad_count["trials"][1]["n_clicks"] = 3
    no_clicks = session("p2")
    no_clicks["clicks"] = []
    other = session("p3")
    other["clicks"][0]["trial_id"] = "t000009"
    return [
        ("clicks do not match", [write_session(d / "a" / "p1_session.json", bad_count)],
         r"a/p1_session\.json: participant 'p1': the clicks do not match the trials: "
         r"t000001 \(n_clicks '3', 0 click\(s\) found\)"),
        ("clicks missing", [write_session(d / "b" / "p2_session.json", no_clicks)],
         r"b/p2_session\.json: participant 'p2': the clicks do not match the trials: "
         r"t000000 \(n_clicks '2', 0 click\(s\) found\)"),
        ("clicks of no trial", [write_session(d / "c" / "p3_session.json", other)],
         r"c/p3_session\.json: participant 'p3': clicks of trial\(s\) \[\('p3', 't000009'\)\]"),
        ("legacy clicks file missing", [d / "e"],
         r"e/p4_trials\.csv: its clicks file \(p4_clicks\.csv\) is missing"),
        ("not a session file", [d / "f" / "notes.csv"],
         r"f/notes\.csv: not a session file \(expected <id>_session\.json"),
        ("JSON but not a session", [write_session(d / "g" / "x_session.json", {"a": 1})],
         r"g/x_session\.json: not a session file \(no \"format\""),
        ("not JSON", [d / "h" / "p5_session.json"], r"h/p5_session\.json: not a session file "
                                                    r"\(not JSON text"),
        ("one id, two sessions", [write_session(d / "i" / "p6_session.json", session("p6")),
                                  write_session(d / "j" / "p6_session.json",
                                                session("p6", n_clicks=(1, 1)))],
         r"participant_id 'p6' is in both .*i/p6_session\.json and .*j/p6_session\.json with "
         r"different data"),
        ("a clicks file renamed as another's", [d / "k"],
         r"k/p8_trials\.csv \+ .*k/p8_clicks\.csv: participant 'p8': clicks of trial\(s\) "
         r"\[\('p7', 't000000'\)\]"),
    ]


def _write_refusal_files(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    (tmp_path / "e/p4_trials.csv").write_text(
        f"{TRIAL_HEADER}\np4,t000000,a/happy_1,happy,sad,happy,900,320,320\n")
    (tmp_path / "f").mkdir()
    (tmp_path / "f/notes.csv").write_text("a,b\n1,2\n")
    (tmp_path / "h").mkdir()
    (tmp_path / "h/p5_session.json").write_text("participant_id,trial_id\n")
    (tmp_path / "k").mkdir()
    for pid in ("p7", "p8"):
        (tmp_path / f"k/{pid}_trials.csv").write_text(
            f"{TRIAL_HEADER}\n{pid},t000000,a/happy_1,happy,sad,happy,900,320,320\n")
    # p7's clicks saved a second time under p8's name
    for pid in ("p7", "p8"):
        (tmp_path / f"k/{pid}_clicks.csv").write_text(f"{CLICK_HEADER}\np7,t000000,1,5,5,300\n")


@pytest.mark.parametrize("case", range(9))
def test_combine_refuses_with_a_message_naming_the_file(tmp_path, case):
    _write_refusal_files(tmp_path)
    what, paths, message = _refusal_cases(tmp_path)[case]
    out = tmp_path / "out"
    with pytest.raises(SessionError, match=message):
        combine_sessions(paths, out / "trials.csv", out / "clicks.csv")
    assert not out.exists(), "nothing may be written"


def test_combine_command_refuses_in_one_line_without_a_traceback(tmp_path):
    _write_refusal_files(tmp_path)
    for what, paths, message in _refusal_cases(tmp_path)[:2] + _refusal_cases(tmp_path)[4:5]:
        code, stdout, stderr = run_combine(*paths, out=tmp_path / "out")
        assert code == 1, what
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert re.search(message, stderr) and stderr.startswith("combine: error: "), stderr
        assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------- the POST receiver


def _post(url: str, body: bytes, headers: dict | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture()
def receiver(tmp_path):
    """The receiver on 127.0.0.1 (a free port), storing into tmp_path/sessions."""
    from ferattention.session_receiver import make_server

    folder = tmp_path / "sessions"
    server = make_server(folder, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_receiver_stores_each_session_atomically_and_never_goes_back(receiver):
    url, folder = receiver
    early = session("p1", n_clicks=(2,), complete=False)
    assert _post(url, json.dumps(early).encode()) == 204
    assert json.loads((folder / "p1_session.json").read_text()) == early
    full = session("p1")
    assert _post(url, json.dumps(full).encode()) == 204
    assert _post(url, json.dumps(early).encode()) == 204        # a late retry of the old state
    assert json.loads((folder / "p1_session.json").read_text()) == full
    # Another session under the same id is kept beside it, not over it.
    again = session("p1", started="2026-12-01T09:00:00.000Z")
    assert _post(url, json.dumps(again).encode()) == 204
    assert json.loads((folder / "p1_session-2.json").read_text()) == again
    assert sorted(p.name for p in folder.iterdir()) == ["p1_session-2.json", "p1_session.json"]

    # Refused: not JSON, not a session, an id that is a path, too large.
    assert _post(url, b"participant_id,trial_id\n") == 400
    assert _post(url, json.dumps({"format": "x"}).encode()) == 400
    assert _post(url, json.dumps(session("../evil")).encode()) == 400
    from ferattention.session_receiver import MAX_BYTES
    assert _post(url, b"{}", headers={"Content-Length": str(MAX_BYTES + 1)}) == 413
    assert sorted(p.name for p in folder.iterdir()) == ["p1_session-2.json", "p1_session.json"]
    # What it stored, combine reads.
    out = folder.parent / "out"
    result = combine_sessions([folder / "p1_session.json"], out / "t.csv", out / "c.csv")
    assert (result.n_trials, result.n_clicks) == (2, 2)


def test_receive_command_serves_until_stopped(tmp_path):
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ferattention.experiment", "receive", "--dir",
         str(tmp_path / "in"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # Ctrl-C as in a terminal: a shell without job control starts background commands (such
        # as a CI script run with `&`) with SIGINT ignored, and the child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = process.stdout.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert port, line
        assert _post(f"http://127.0.0.1:{port.group(1)}/",
                     json.dumps(session("cli")).encode()) == 204
        assert json.loads((tmp_path / "in/cli_session.json").read_text()) == session("cli")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"receive did not stop within 10 s of SIGINT; its stderr:\n{err[-3000:]}")
        assert code == 0, process.stderr.read()[-3000:]
        process.stdout.close()
        process.stderr.close()


def test_receiver_answers_the_cors_preflight(receiver):
    import urllib.request

    url, _ = receiver
    request = urllib.request.Request(url, method="OPTIONS",
                                     headers={"Origin": "http://example.org",
                                              "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"


# ------------------------------------------------------------------------- in the browser


def _browser_problem() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        return (f"needs Debian's chromium and chromium-driver ({', '.join(missing)} not found; "
                f"apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs the Python package selenium (pip install -e 'workflow[test]')"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[tuple[Any, Path]]:
    """Headless Chromium via /usr/bin/chromedriver (no Selenium Manager): (driver, downloads).

    Downloads keep Chromium's default settings (a second automatic download would need a
    permission nobody grants); only the folder is set, as a participant's browser has one.
    """
    problem = _browser_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser test must run, but it {problem}")
        pytest.skip(f"browser test: {problem}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    profile = tmp_path_factory.mktemp("chromium-profile")   # a fresh profile
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                "--window-size=900,560"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    # A reload in the middle of a session meets the page's "leave the page?" question: accept.
    options.set_capability("unhandledPromptBehavior", "accept")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver, downloads
    finally:
        driver.quit()


class _Server:
    """Python's http.server on 127.0.0.1 serving ``folder``; POST bodies are kept, and the first
    ``fail_first`` POSTs are answered 503."""

    def __init__(self, folder: Path, fail_first: int = 0) -> None:
        self.posted: list[dict] = []
        self.attempts = 0
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                if outer.attempts <= fail_first:
                    self.send_response(503)
                else:
                    outer.posted.append(json.loads(body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.httpd.timeout = 10
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def _wait(condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _state(driver) -> dict:
    return driver.execute_script("return window.ferExperiment && window.ferExperiment.state")


def _phase(driver) -> str | None:
    state = _state(driver)
    return state and state["phase"]


def _wait_trial(driver, number: int, practice: bool) -> dict:
    def ready():
        s = _state(driver)
        return s if (s and s["phase"] == "trial" and s["awaitingResponse"]
                     and s["trialNumber"] == number and s["practice"] == practice) else None
    return _wait(ready, f"{'practice' if practice else 'main'} trial {number}")


def _canvas_box(driver) -> dict:
    return driver.execute_script(
        "const r = document.getElementById('stimulus').getBoundingClientRect();"
        "return {left: r.left, top: r.top, width: r.width, height: r.height};")


def _pixel(driver, x: float, y: float) -> int:
    """Red channel of the canvas at stimulus pixel (x, y)."""
    return driver.execute_script(
        "return document.getElementById('stimulus').getContext('2d')"
        ".getImageData(arguments[0], arguments[1], 1, 1).data[0];", int(x), int(y))


def _click_stimulus(driver, sx: float, sy: float, size: int) -> None:
    """A real (trusted) left click at stimulus pixel (sx, sy), through the DevTools protocol."""
    box = _canvas_box(driver)
    x = box["left"] + sx * box["width"] / size
    y = box["top"] + sy * box["height"] / size
    for kind in ("mousePressed", "mouseReleased"):
        driver.execute_cdp_cmd("Input.dispatchMouseEvent", {
            "type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1})


def _start(driver, url: str, pid: str) -> None:
    """Open the page as a new participant and get to the instructions."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    _wait(lambda: _phase(driver) not in (None, "loading"), "the page")
    if _phase(driver) != "welcome":    # someone else's session on this computer
        driver.find_element(By.ID, "resume-other" if _phase(driver) == "resume"
                            else "new-session").click()
    _wait(lambda: _phase(driver) == "welcome", "welcome screen")
    field = driver.find_element(By.ID, "participant-id")
    field.clear()
    field.send_keys(pid)
    driver.find_element(By.ID, "start-button").click()
    _wait(lambda: _phase(driver) == "instructions", "instructions")


@pytest.mark.browser
def test_a_whole_session_with_a_reload_loses_no_click(tmp_path, browser, receiver):
    """Chromium with its default download settings: one file, every click in the combined data;
    a reload in the middle resumes at the next trial; the session also reaches the receiver."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    post_url, received = receiver
    size, radius, gray_mask = 480, 20, 128
    manifest_path, trials_path, manifest = make_dataset(tmp_path / "data")
    settings = ExperimentSettings(reveal_radius=radius, stimulus_size=size, hiding="mask",
                                  practice_trials=1, catch_trials=1, iti_ms=50, min_rt_ms=800,
                                  post_url=post_url)   # another origin: CORS
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder, settings)
    label_of = dict(zip(manifest["image_id"], manifest["label"]))
    # Per test-image trial, in order: model pixels (column, row) to click, at their centres in
    # stimulus pixels. The second is answered at once, without a click: too fast (the others are
    # answered after min_rt_ms, whatever the machine's speed).
    plan = [[(5, 7), (20, 24)], [], [(16, 16)], [(0, 31), (31, 0), (9, 12)]]
    scale = size / IMAGE_SIZE
    before = set(downloads.iterdir())

    with _Server(folder) as url:
        _start(driver, url + "index.html", "p-01")
        assert "1 practice trial" in driver.find_element(By.ID, "instructions-plan").text
        assert driver.find_element(By.ID, "instructions-catch").is_displayed()
        driver.find_element(By.ID, "instructions-button").click()

        practice = _wait_trial(driver, 1, practice=True)["current"]
        driver.find_element(By.ID, "choice-a").click()
        _wait(lambda: _phase(driver) == "main-intro", "end of practice")
        assert practice["image_id"] in ("c/sad_2", "c/anger_2")
        driver.find_element(By.ID, "main-button").click()

        expected_clicks, expected_trials, reloaded, n_catch = [], [], False, 0
        n = 1
        while n <= 5:
            trial = _wait_trial(driver, n, practice=False)["current"]
            assert _state(driver)["trialCount"] == 5       # 4 images and a catch trial
            box = _canvas_box(driver)
            assert box["width"] < size - 10, "the stimulus should be shown scaled down"
            assert abs(box["width"] - box["height"]) < 0.5
            if n == 3 and not reloaded:
                # Trial 3 on screen, a click made, then the page is reloaded (or crashes).
                _click_stimulus(driver, size / 2, size / 2, size)
                driver.refresh()
                _wait(lambda: _phase(driver) == "resume", "the resume screen")
                assert "answered 2 of 5" in driver.find_element(By.ID, "resume-text").text
                driver.find_element(By.ID, "resume-button").click()
                again = _wait_trial(driver, 3, practice=False)["current"]
                assert again["trial_id"] == trial["trial_id"]
                reloaded = True
                continue
            label = label_of[trial["image_id"]]
            options = [trial["option_a"], trial["option_b"]]
            assert label in options
            if trial["catch"]:
                # An attention check: the face shown uncovered; answered right.
                n_catch += 1
                assert _pixel(driver, size / 2, size / 2) == IMAGES[trial["image_id"]][2]
                time.sleep(0.85)
                driver.find_element(By.ID, ("choice-a", "choice-b")[options.index(label)]).click()
                n += 1
                continue
            targets = plan[n - 1 - n_catch]
            gray = IMAGES[trial["image_id"]][2]
            for k, (col, row) in enumerate(targets, start=1):
                sx, sy = (col + 0.5) * scale, (row + 0.5) * scale
                assert _pixel(driver, sx, sy) == gray_mask
                _click_stimulus(driver, sx, sy, size)
                _wait(lambda: _pixel(driver, sx, sy) == gray, "the click to uncover the face")
                expected_clicks.append((trial["trial_id"], k, sx, sy, col, row))
            if targets == [(5, 7), (20, 24)]:
                # The disk has radius reveal_radius stimulus pixels, whatever the display size.
                sx, sy = 5.5 * scale, 7.5 * scale
                assert _pixel(driver, sx + radius - 3, sy) == gray
                assert _pixel(driver, sx, sy - radius + 3) == gray
                assert _pixel(driver, sx + radius + 3, sy) == gray_mask
                assert _pixel(driver, sx, sy + radius + 3) == gray_mask
            # Odd trials: the right answer by button; even trials: the wrong one by key.
            pick = options.index(label) if n % 2 else 1 - options.index(label)
            too_fast = not targets
            if not too_fast:
                time.sleep(0.85)
            if n % 2:
                driver.find_element(By.ID, ("choice-a", "choice-b")[pick]).click()
            else:
                ActionChains(driver).send_keys("fj"[pick]).perform()
            expected_trials.append((trial["trial_id"], trial["image_id"], *options,
                                    options[pick], bool(n % 2), "too_fast" if too_fast else ""))
            n += 1
        assert reloaded and n_catch == 1

        _wait(lambda: _phase(driver) == "done", "the end of the session")
        assert "p-01_session.json" in driver.find_element(By.ID, "save-note").text
        _wait(lambda: _state(driver)["post"] in ("sent", "failed"), "the POST")
        state = _state(driver)
        assert state["post"] == "sent" and state["postedTrials"] == 5
        download = downloads / "p-01_session.json"
        _wait(download.is_file, "the download")
        time.sleep(0.5)
        # One file, nothing else (no second download that needs a permission).
        assert set(downloads.iterdir()) - before == {download}
        # Randomised per participant: a function of the id.
        order = driver.execute_script(
            "const p = (id) => window.ferExperiment.planSession(id).main"
            ".map(t => [t.image_id, t.trial_id, t.option_a, t.option_b].join(' '));"
            "return [p('p-01'), p('p-01'), p('p-02')];")
        # The end page survives a reload and offers the file again.
        driver.refresh()
        _wait(lambda: _phase(driver) == "done", "the end page again")
        driver.find_element(By.ID, "download-session").click()
        _wait(lambda: (downloads / "p-01_session (1).json").is_file(), "the download again")
        # A link that names someone else starts their session, not p-01's end page.
        driver.get(url + "index.html?participant_id=p-02")
        _wait(lambda: _phase(driver) == "welcome", "the welcome screen for p-02")
        assert driver.find_element(By.ID, "participant-id").get_attribute("value") == "p-02"

    saved = json.loads(download.read_text())
    assert saved == state["session"] and saved["complete"] and saved["n_planned"] == 5
    # What the receiver stored is the same session.
    assert json.loads((received / "p-01_session.json").read_text()) == saved
    assert order[0] == order[1] and order[0] != order[2]

    out = tmp_path / "combined"
    code, stdout, stderr = run_combine(downloads, received, out=out)
    assert code == 0, stderr
    assert "p-01: 5 trials (1 catch, 1 too fast), 6 clicks" in stdout
    trials, clicks, qc = load_human_data(out / "trials.csv", out / "clicks.csv", manifest,
                                         on_invalid="error",
                                         default_stimulus_size=(IMAGE_SIZE, IMAGE_SIZE),
                                         expressions=EXPRESSIONS)
    assert dict(zip(qc["reason"], qc["n_rows"])) == {"too_fast": 1, "catch_passed": 1}
    assert list(trials["participant_id"].unique()) == ["p-01"]
    got = list(trials[["trial_id", "image_id", "option_a", "option_b", "response",
                       "correct", "flag"]].itertuples(index=False, name=None))
    assert got == expected_trials
    assert set(trials["stimulus_width"]) == set(trials["stimulus_height"]) == {size}
    assert trials["n_clicks"].tolist() == [len(t) for t in plan]
    assert sorted(trials["image_id"]) == sorted(k for k, v in IMAGES.items() if v[1] == "test")

    # Every click made is in the combined data, where it was made (the one lost with the
    # reload was on a trial that was then shown again).
    expected = pd.DataFrame(expected_clicks, columns=["trial_id", "click_index", "sx", "sy",
                                                      "col", "row"])
    merged = clicks.merge(expected, on=["trial_id", "click_index"], validate="1:1")
    assert len(merged) == len(clicks) == sum(len(t) for t in plan)
    assert np.abs(merged["x"] - merged["sx"]).max() <= 1
    assert np.abs(merged["y"] - merged["sy"]).max() <= 1
    mx, my = to_model_coords(merged["x"], merged["y"], size, size, IMAGE_SIZE)
    assert (np.floor(mx).astype(int) == merged["col"]).all()
    assert (np.floor(my).astype(int) == merged["row"]).all()
    fixations = fixation_maps(trials, clicks, IMAGE_SIZE)
    for row in merged.itertuples():
        image_id = trials.set_index("trial_id").loc[row.trial_id, "image_id"]
        assert fixations[image_id][row.row, row.col]
    # Times: clicks in order, all before the answer.
    for (pid, tid), group in clicks.groupby(["participant_id", "trial_id"]):
        assert group["t_ms"].is_monotonic_increasing
        assert group["t_ms"].max() <= trials.set_index("trial_id").loc[tid, "rt_ms"]


@pytest.mark.browser
def test_failed_posts_are_retried_until_the_server_takes_them(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    driver, _ = browser
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder,
                      ExperimentSettings(reveal_radius=10, stimulus_size=128, practice_trials=0,
                                         iti_ms=0, images_per_participant=2, post_url="submit"))
    server = _Server(folder, fail_first=2)
    with server as url:
        _start(driver, url + "index.html", "retry-1")
        driver.find_element("id", "instructions-button").click()
        for n in (1, 2):
            _wait_trial(driver, n, practice=False)
            ActionChains(driver).send_keys("j").perform()
        _wait(lambda: _phase(driver) == "done", "the end of the session")
        _wait(lambda: _state(driver)["post"] == "sent" and _state(driver)["postedTrials"] == 2,
              "the POST after its retries", timeout=30)
        assert "were sent" in driver.find_element("id", "post-status").text
    assert server.attempts >= 3
    last = server.posted[-1]
    assert last["participant_id"] == "retry-1" and len(last["trials"]) == 2 and last["complete"]
    assert [t["response"] for t in last["trials"]] == [t["option_b"] for t in last["trials"]]


#: Viewports (width, height): small phone, phone, landscape phones, laptop, large screen.
VIEWPORTS = [(320, 568), (390, 844), (844, 390), (667, 375), (1280, 900), (2560, 1440)]


@pytest.mark.browser
def test_stimulus_and_buttons_fit_every_screen_without_scrolling(tmp_path, browser):
    """Element boxes inside the viewport, and a screenshot that shows them where the boxes say."""
    import base64

    driver, _ = browser
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder,
                      ExperimentSettings(reveal_radius=10, stimulus_size=512, hiding="mask",
                                         practice_trials=0, iti_ms=0))
    accent = np.array([0x1a, 0x5f, 0xb4])
    try:
        with _Server(folder) as url:
            for width, height in VIEWPORTS:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": width, "height": height, "deviceScaleFactor": 1,
                    "mobile": width < 900})
                _start(driver, url + "index.html", f"layout-{width}x{height}")
                driver.find_element("id", "instructions-button").click()
                _wait_trial(driver, 1, practice=False)
                time.sleep(0.2)
                boxes = driver.execute_script("""
                    const box = (id) => {
                      const r = document.getElementById(id).getBoundingClientRect();
                      return [r.left, r.top, r.right, r.bottom]; };
                    const page = document.scrollingElement;
                    return {stimulus: box('stimulus'), a: box('choice-a'), b: box('choice-b'),
                            view: [window.innerWidth, window.innerHeight],
                            scroll: [page.scrollWidth, page.scrollHeight]};""")
                where = f"at {width}x{height}: {boxes}"
                assert boxes["view"] == [width, height], where
                # Nothing to scroll, and every part whole inside the viewport.
                assert boxes["scroll"][0] <= width and boxes["scroll"][1] <= height, where
                for name in ("stimulus", "a", "b"):
                    left, top, right, bottom = boxes[name]
                    assert 0 <= left < right <= width and 0 <= top < bottom <= height, where
                stim = boxes["stimulus"]
                # Its own size where it fits, else still a usable size.
                assert stim[2] - stim[0] >= min(512, min(width, height) * 0.4), where
                assert min(boxes["a"][1], boxes["b"][1]) >= stim[3], where    # buttons below it

                shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
                image = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"])))
                                   .convert("RGB")).astype(int)
                assert image.shape[:2] == (height, width), where
                # The mask gray shows where the stimulus box is, the buttons' colour where theirs.
                cx, cy = (stim[0] + stim[2]) / 2, (stim[1] + stim[3]) / 2
                assert np.abs(image[int(cy), int(cx)] - 128).max() <= 2, where
                for name in ("a", "b"):
                    left, top, right, bottom = boxes[name]
                    for x in (left + 4, right - 5):
                        pixel = image[int((top + bottom) / 2), int(x)]
                        assert np.abs(pixel - accent).max() <= 12, (name, x, pixel, where)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.mark.browser
def test_touch_screens_are_told_to_tap(tmp_path, browser):
    from selenium.webdriver.common.by import By

    driver, _ = browser
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder,
                      ExperimentSettings(reveal_radius=10, practice_trials=0))
    texts = {}
    try:
        with _Server(folder) as url:
            for touch in (True, False):
                driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled",
                                       {"enabled": True, "maxTouchPoints": 5} if touch
                                       else {"enabled": False})
                _start(driver, url + "index.html", f"touch-{touch}")
                texts[touch] = driver.find_element(By.ID, "screen-instructions").text
                assert not driver.find_element(By.ID, "instructions-catch").is_displayed()
                driver.find_element(By.ID, "instructions-button").click()
                _wait_trial(driver, 1, practice=False)
                kbd = driver.find_element(By.CSS_SELECTOR, "#choice-a kbd")
                assert kbd.is_displayed() is not touch
    finally:
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
    assert "Tap on the face" in texts[True] and "tap its button" in texts[True]
    assert "press F" not in texts[True] and "Click on the face" not in texts[True]
    assert "Click on the face" in texts[False] and "press F for the left one" in texts[False]


@pytest.mark.browser
def test_sides_and_expressions_are_balanced_for_every_participant(tmp_path, browser):
    driver, _ = browser
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder,
                      ExperimentSettings(reveal_radius=10, practice_trials=2, iti_ms=0))
    driver.get((folder / "index.html").as_uri())
    _wait(lambda: _phase(driver) not in (None, "loading"), "the page")

    def plans(trials: dict | None, ids: list[str]) -> list[dict]:
        return driver.execute_script(
            "return arguments[1].map(id => window.ferExperiment.planSession(id, arguments[0]));",
            trials, ids)

    def correct_left(trials: list[dict]) -> int:
        return sum(t["option_a"] == t["label"] for t in trials)

    ids = [f"P-{k:03d}" for k in range(40)]
    # The exported list: 4 images (happy twice, sad, anger): 2 of 4 correct on the left, and the
    # three expressions before any repeats.
    for plan in plans(None, ids):
        main = plan["main"]
        assert correct_left(main) == 2
        assert sorted(t["label"] for t in main[:3]) == ["anger", "happy", "sad"]
        assert all(t["label"] in (t["option_a"], t["option_b"]) for t in main)
        assert correct_left(plan["practice"]) == 1
    # 12 images, 3 expressions x 4: every round of 3 trials holds each expression once, and 6 of
    # 12 trials have the correct option on the left; with 9 images, 4 or 5 of 9.
    for n_per in (4, 3):
        main = []
        for e, label in enumerate(EXPRESSIONS):
            foils = [f for f in EXPRESSIONS if f != label]
            for k in range(n_per):
                main.append({"image_id": f"{label}_{k}", "label": label, "image": "", "hidden": "",
                             "trials": [{"trial_id": f"{label}{k}a", "option_a": label,
                                         "option_b": foils[0]},
                                        {"trial_id": f"{label}{k}b", "option_a": foils[1],
                                         "option_b": label}]})
        lefts = set()
        for plan in plans({"main": main, "practice": []}, ids):
            order = [t["label"] for t in plan["main"]]
            assert sorted(order) == sorted(EXPRESSIONS * n_per)
            for start in range(0, len(order), 3):
                assert sorted(order[start:start + 3]) == sorted(EXPRESSIONS), order
            lefts.add(correct_left(plan["main"]))
        assert lefts == ({6} if n_per == 4 else {4, 5})


@pytest.mark.browser
def test_the_experiment_runs_from_disk_without_a_server(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, _ = browser
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder,
                      ExperimentSettings(reveal_radius=10, stimulus_size=128, practice_trials=0,
                                         iti_ms=0, images_per_participant=3, min_rt_ms=0))
    driver.get((folder / "index.html").as_uri() + "?participant_id=disk")
    _wait(lambda: _phase(driver) == "welcome", "welcome screen")
    assert driver.find_element(By.ID, "participant-id").get_attribute("value") == "disk"
    driver.find_element(By.ID, "start-button").click()
    driver.find_element(By.ID, "instructions-button").click()
    for n in (1, 2, 3):
        assert _wait_trial(driver, n, practice=False)["trialCount"] == 3
        _click_stimulus(driver, 64, 64, 128)
        ActionChains(driver).send_keys("f").perform()
    _wait(lambda: _phase(driver) == "done", "the end of the session")
    session = _state(driver)["session"]
    assert session["participant_id"] == "disk" and session["complete"]
    trials = pd.DataFrame(session["trials"])
    clicks = pd.DataFrame(session["clicks"])
    assert len(trials) == 3 and (trials["response"] == trials["option_a"]).all()
    assert trials["n_clicks"].tolist() == [1, 1, 1] and (trials["flag"] == "").all()
    assert clicks[["x", "y"]].to_numpy().tolist() == [[64, 64]] * 3
