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
    assert summary == {"n_images": 4, "per_participant": 4, "n_practice": 2,
                       "stimulus_width": 160, "stimulus_height": 160}
    for name in ASSET_FILES + ("config.js", "trials.js"):
        assert (out / name).is_file(), name

    config = read_js(out / "config.js", "FER_CONFIG")
    assert config["reveal_radius"] == 18 and config["hiding"] == "blur"
    assert (config["stimulus_width"], config["stimulus_height"]) == (160, 160)
    assert config["post_url"] is None and config["response_keys"] == ["f", "j"]
    assert config["trial_columns"] == ["participant_id", "trial_id", "image_id", "option_a",
                                       "option_b", "response", "rt_ms", "stimulus_width",
                                       "stimulus_height"]
    assert config["click_columns"] == ["participant_id", "trial_id", "click_index", "x", "y",
                                       "t_ms"]

    data = read_js(out / "trials.js", "FER_TRIALS")
    model_trials = pd.read_csv(trials_path, dtype=str)
    assert [m["image_id"] for m in data["main"]] == sorted(model_trials["image_id"].unique())
    for record in data["main"]:
        expected = model_trials[model_trials["image_id"] == record["image_id"]]
        assert record["trials"] == expected[["trial_id", "option_a", "option_b"]].to_dict("records")
        assert "label" not in record
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
    assert all(m["hidden"] is None for m in data["main"]) and data["practice"] == []
    assert not list((mask / "stimuli").glob("*_hidden.png"))


def test_practice_needs_images_outside_the_test_split(tmp_path):
    _, _, manifest = make_dataset(tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv", dtype=str)
    with pytest.raises(ValueError, match=r"practice_trials is 3 but only 2 image\(s\) outside"):
        plan_stimuli(manifest, trials, ExperimentSettings(reveal_radius=10, practice_trials=3))
    # The same seed gives the same practice; labels outside the run's expressions are skipped.
    manifest.loc[manifest["image_id"] == "c/sad_2", "label"] = "fear"
    _, practice = plan_stimuli(manifest, trials, ExperimentSettings(reveal_radius=10,
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


def test_combine_sessions_joins_participants(tmp_path):
    trial_cols = ("participant_id,trial_id,image_id,option_a,option_b,response,rt_ms,"
                  "stimulus_width,stimulus_height")
    click_cols = "participant_id,trial_id,click_index,x,y,t_ms"
    for pid in ("p1", "p2"):
        (tmp_path / f"{pid}_trials.csv").write_text(
            f"{trial_cols}\n{pid},t000000,a/happy_1,happy,sad,happy,900,320,320\n")
        (tmp_path / f"{pid}_clicks.csv").write_text(f"{click_cols}\n{pid},t000000,1,10.5,20,300\n")
    out = tmp_path / "combined"
    assert combine_sessions([tmp_path], out / "trials.csv", out / "clicks.csv") == (2, 2)
    trials = pd.read_csv(out / "trials.csv", dtype=str)
    assert list(trials["participant_id"]) == ["p1", "p2"]
    assert pd.read_csv(out / "clicks.csv")["x"].tolist() == [10.5, 10.5]

    (tmp_path / "again").mkdir()
    (tmp_path / "again/p1_trials.csv").write_text((tmp_path / "p1_trials.csv").read_text())
    with pytest.raises(ValueError, match="participant_id 'p1' is in both"):
        combine_sessions([tmp_path / "p1_trials.csv", tmp_path / "again"],
                         out / "t.csv", out / "c.csv")


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
    """Headless Chromium via /usr/bin/chromedriver (no Selenium Manager): (driver, downloads)."""
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
        "profile.default_content_setting_values.automatic_downloads": 1,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver, downloads
    finally:
        driver.quit()


class _Server:
    """Python's http.server on 127.0.0.1 serving ``folder``; POST /submit bodies are kept."""

    def __init__(self, folder: Path) -> None:
        self.posted: list[dict] = []
        posted = self.posted

        class Handler(SimpleHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posted.append(json.loads(body))
                self.send_response(204)
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


def _wait_trial(driver, number: int, practice: bool) -> dict:
    def ready():
        s = _state(driver)
        return s if (s and s["phase"] == "trial" and s["awaitingResponse"]
                     and s["trialNumber"] == number and s["practice"] == practice) else None
    return _wait(ready, f"{'practice' if practice else 'main'} trial {number}")


def _canvas_box(driver) -> dict:
    return driver.execute_script(
        "const c = document.getElementById('stimulus'); c.scrollIntoView({block: 'center'});"
        "const r = c.getBoundingClientRect();"
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


@pytest.mark.browser
def test_a_session_in_chromium_gives_ingestible_clicks_where_they_were_made(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, downloads = browser
    size, radius, gray_mask = 320, 20, 128
    manifest_path, trials_path, manifest = make_dataset(tmp_path / "data")
    settings = ExperimentSettings(reveal_radius=radius, stimulus_size=size, hiding="mask",
                                  practice_trials=1, iti_ms=50, post_url="submit")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder, settings)
    label_of = dict(zip(manifest["image_id"], manifest["label"]))
    # Per main trial: model pixels (column, row) to click, at their centres in stimulus pixels.
    plan = [[(5, 7), (20, 24)], [(16, 16)], [(0, 31), (31, 0), (9, 12)], []]
    scale = size / IMAGE_SIZE

    server = _Server(folder)
    with server as url:
        driver.get(url + "index.html")
        _wait(lambda: _state(driver) and _state(driver)["phase"] == "welcome", "welcome screen")
        driver.find_element(By.ID, "participant-id").send_keys("p-01")
        driver.find_element(By.ID, "start-button").click()
        _wait(lambda: _state(driver)["phase"] == "instructions", "instructions")
        assert "1 practice trial" in driver.find_element(By.ID, "instructions-plan").text
        driver.find_element(By.ID, "instructions-button").click()

        practice = _wait_trial(driver, 1, practice=True)["current"]
        driver.find_element(By.ID, "choice-a").click()
        _wait(lambda: _state(driver)["phase"] == "main-intro", "end of practice")
        assert practice["image_id"] in ("c/sad_2", "c/anger_2")
        driver.find_element(By.ID, "main-button").click()

        expected_clicks, expected_trials = [], []
        for n, targets in enumerate(plan, start=1):
            trial = _wait_trial(driver, n, practice=False)["current"]
            box = _canvas_box(driver)
            assert box["width"] < size - 10, "the stimulus should be shown scaled down"
            assert abs(box["width"] - box["height"]) < 0.5
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
            label = label_of[trial["image_id"]]
            options = [trial["option_a"], trial["option_b"]]
            assert label in options
            # Odd trials: the right answer by button; even trials: the wrong one by key.
            pick = options.index(label) if n % 2 else 1 - options.index(label)
            if n % 2:
                driver.find_element(By.ID, ("choice-a", "choice-b")[pick]).click()
            else:
                ActionChains(driver).send_keys("fj"[pick]).perform()
            expected_trials.append((trial["trial_id"], trial["image_id"], *options,
                                    options[pick], bool(n % 2)))

        _wait(lambda: _state(driver)["phase"] == "done", "the end of the session")
        _wait(lambda: _state(driver)["post"] in ("sent", "failed"), "the POST")
        state = _state(driver)
        assert state["post"] == "sent"
        files = [downloads / "p-01_trials.csv", downloads / "p-01_clicks.csv"]
        _wait(lambda: all(f.is_file() for f in files), "the two downloads")
        # Randomised per participant: a function of the id.
        order = driver.execute_script(
            "const p = (id) => window.ferExperiment.planSession(id).main"
            ".map(t => [t.image_id, t.trial_id, t.option_a, t.option_b].join(' '));"
            "return [p('p-01'), p('p-01'), p('p-02')];")

    trials_text, clicks_text = (f.read_text() for f in files)
    assert (trials_text, clicks_text) == (state["data"]["trials"], state["data"]["clicks"])

    # The POSTed session (post_url "submit", relative to the page) equals the downloads.
    assert server.posted == [{"participant_id": "p-01", "trials_csv": trials_text,
                               "clicks_csv": clicks_text}]

    assert order[0] == order[1] and order[0] != order[2]
    assert sorted(t.split()[0] for t in order[2]) == sorted(
        k for k, v in IMAGES.items() if v[1] == "test")

    trials, clicks, qc = load_human_data(files[0], files[1], manifest, on_invalid="error",
                                         default_stimulus_size=(IMAGE_SIZE, IMAGE_SIZE),
                                         expressions=EXPRESSIONS)
    assert qc.empty
    assert list(trials["participant_id"].unique()) == ["p-01"]
    got = list(trials[["trial_id", "image_id", "option_a", "option_b", "response",
                       "correct"]].itertuples(index=False, name=None))
    assert got == expected_trials
    assert set(trials["stimulus_width"]) == set(trials["stimulus_height"]) == {size}
    assert trials["n_clicks"].tolist() == [len(t) for t in plan]
    assert sorted(trials["image_id"]) == sorted(k for k, v in IMAGES.items() if v[1] == "test")

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
def test_the_experiment_runs_from_disk_without_a_server(tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, _ = browser
    manifest_path, trials_path, _ = make_dataset(tmp_path / "data")
    folder = tmp_path / "experiment"
    export_experiment(manifest_path, trials_path, folder,
                      ExperimentSettings(reveal_radius=10, stimulus_size=128, practice_trials=0,
                                         iti_ms=0, images_per_participant=3))
    driver.get((folder / "index.html").as_uri() + "?participant_id=disk")
    _wait(lambda: _state(driver) and _state(driver)["phase"] == "welcome", "welcome screen")
    assert driver.find_element(By.ID, "participant-id").get_attribute("value") == "disk"
    driver.find_element(By.ID, "start-button").click()
    driver.find_element(By.ID, "instructions-button").click()
    for n in (1, 2, 3):
        assert _wait_trial(driver, n, practice=False)["trialCount"] == 3
        _click_stimulus(driver, 64, 64, 128)
        ActionChains(driver).send_keys("f").perform()
    _wait(lambda: _state(driver)["phase"] == "done", "the end of the session")
    data = _state(driver)["data"]
    trials = pd.read_csv(io.StringIO(data["trials"]), dtype=str)
    clicks = pd.read_csv(io.StringIO(data["clicks"]))
    assert len(trials) == 3 and (trials["response"] == trials["option_a"]).all()
    assert clicks[["x", "y"]].to_numpy().tolist() == [[64, 64]] * 3
