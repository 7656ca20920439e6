"""Tests of the human side: ingestion/validation, maps, reliability, simulated observers."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.ndimage import gaussian_filter

from ferattention.humans import (
    HumanDataError,
    fixation_maps,
    human_maps,
    human_view_predictions,
    load_human_data,
    reveal_mask,
    revealed_fraction,
    simulate_observers,
    noise_ceiling,
    spearman_brown,
    stimulus_to_model_scale,
    to_model_coords,
    trial_map,
    uncovered_views,
    views,
)
from ferattention.labels import REGIONS
from ferattention.similarity import METRICS

S = 64          # model input size
STIM = 256      # stimulus size (4 stimulus pixels per model pixel)

IMAGES = pd.DataFrame({"image_id": ["img1", "img2", "faces/img3"],
                       "label": ["happy", "sad", "fear"],
                       "split": ["test"] * 3})

TRIALS = """participant_id,trial_id,image_id,option_a,option_b,response,rt_ms
p1,t1,img1,happy,sad,happy,2500
p1,t2,img2,happy,sad,happy,3100.5
p2,t1,faces/img3,fear,surprise,fear,1800
p2,t2,img1,anger,happy,happy,2000
"""
CLICKS = """participant_id,trial_id,click_index,x,y,t_ms
p1,t1,2,10.5,20,1500
p1,t1,1,128,128,800
p1,t2,1,0,256,900
p2,t1,1,255.5,3,700
"""


def write(tmp_path: Path, trials: str = TRIALS, clicks: str = CLICKS) -> tuple[Path, Path]:
    (tmp_path / "trials.csv").write_text(trials)
    (tmp_path / "clicks.csv").write_text(clicks)
    return tmp_path / "trials.csv", tmp_path / "clicks.csv"


def load(tmp_path: Path, trials: str = TRIALS, clicks: str = CLICKS, **kwargs):
    return load_human_data(*write(tmp_path, trials, clicks), IMAGES,
                           default_stimulus_size=(STIM, STIM), **kwargs)


def replace_line(text: str, line: int, new: str) -> str:
    """Replace line ``line`` (1-based, header = 1) of a CSV text."""
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- ingestion

def test_valid_files_load_with_derived_columns(tmp_path):
    trials, clicks, qc = load(tmp_path)
    assert list(trials["trial_id"]) == ["t1", "t2", "t1", "t2"]
    assert list(trials["label"]) == ["happy", "sad", "fear", "happy"]
    assert list(trials["correct"]) == [True, False, True, True]
    assert trials["correct"].dtype == bool
    assert list(trials["n_clicks"]) == [2, 1, 1, 0]          # a trial without clicks is valid
    assert (trials["stimulus_width"] == STIM).all() and (trials["stimulus_height"] == STIM).all()
    assert trials["rt_ms"].tolist() == [2500.0, 3100.5, 1800.0, 2000.0]
    # sorted by participant, trial, click index
    assert clicks[["participant_id", "trial_id", "click_index"]].values.tolist() == [
        ["p1", "t1", 1], ["p1", "t1", 2], ["p1", "t2", 1], ["p2", "t1", 1]]
    assert clicks["x"].tolist() == [128.0, 10.5, 0.0, 255.5]
    assert qc.empty and list(qc.columns) == ["file", "reason", "n_rows"]


def test_stimulus_size_columns_are_used_and_empty_cells_take_the_default(tmp_path):
    trials = ("participant_id,trial_id,image_id,option_a,option_b,response,rt_ms,"
              "stimulus_width,stimulus_height\n"
              "p1,t1,img1,happy,sad,happy,2500,400,300\n"
              "p1,t2,img2,happy,sad,sad,2500,,\n")
    clicks = ("participant_id,trial_id,click_index,x,y,t_ms\n"
              "p1,t1,1,399,299,100\n")
    out, _, _ = load(tmp_path, trials, clicks)
    assert out["stimulus_width"].tolist() == [400.0, STIM]
    assert out["stimulus_height"].tolist() == [300.0, STIM]
    bad = replace_line(clicks, 2, "p1,t1,1,100,301,100")
    with pytest.raises(HumanDataError, match=r"row 1 \(line 2\), column 'y'.*\[0, 300\]"):
        load(tmp_path, trials, bad)


@pytest.mark.parametrize("which, line, new, expected", [
    # non-numeric values
    ("clicks", 3, "p1,t1,1,abc,128,800", ["clicks.csv", "row 2 (line 3)", "'x'", "'abc'"]),
    ("clicks", 2, "p1,t1,2,10.5,?,1500", ["clicks.csv", "row 1 (line 2)", "'y'", "'?'"]),
    ("clicks", 4, "p1,t2,1,0,256,soon", ["clicks.csv", "row 3 (line 4)", "'t_ms'", "'soon'"]),
    ("clicks", 4, "p1,t2,first,0,256,900", ["clicks.csv", "row 3", "'click_index'", "'first'"]),
    ("clicks", 4, "p1,t2,1.5,0,256,900", ["clicks.csv", "row 3", "must be an integer", "'1.5'"]),
    ("trials", 3, "p1,t2,img2,happy,sad,happy,slow", ["trials.csv", "row 2 (line 3)", "'rt_ms'",
                                                       "'slow'"]),
    # empty ids
    ("trials", 2, ",t1,img1,happy,sad,happy,2500", ["trials.csv", "row 1", "'participant_id'",
                                                    "empty value"]),
    ("clicks", 5, "p2,,1,255.5,3,700", ["clicks.csv", "row 4", "'trial_id'", "empty value"]),
    # duplicate (participant_id, trial_id)
    ("trials", 4, "p1,t1,faces/img3,fear,surprise,fear,1800",
     ["trials.csv", "row 3 (line 4)", "('p1', 't1')", "repeated in rows [1, 3]"]),
    # click without trial
    ("clicks", 5, "p2,t9,1,255.5,3,700",
     ["clicks.csv", "row 4 (line 5)", "no trial", "('p2', 't9')"]),
    # unknown image
    ("trials", 3, "p1,t2,img9,happy,sad,happy,3100", ["trials.csv", "row 2", "'image_id'",
                                                      "'img9'", "not in the image manifest"]),
    # response not an option
    ("trials", 3, "p1,t2,img2,happy,sad,anger,3100", ["trials.csv", "row 2", "'response'",
                                                      "'anger'", "('happy', 'sad')"]),
    # true label not among the options
    ("trials", 3, "p1,t2,img2,happy,fear,happy,3100", ["trials.csv", "row 2", "'image_id'",
                                                       "true label 'sad'", "('happy', 'fear')"]),
    # options not canonical
    ("trials", 2, "p1,t1,img1,Happy,sad,Happy,2500", ["trials.csv", "row 1", "'option_a'",
                                                      "'Happy'", "canonical"]),
    ("trials", 2, "p1,t1,img1,happy,happy,happy,2500", ["trials.csv", "row 1", "'option_b'",
                                                        "equals option_a"]),
    # coordinates outside the stimulus
    ("clicks", 3, "p1,t1,1,256.5,128,800", ["clicks.csv", "row 2", "'x'", "'256.5'", "[0, 256]"]),
    ("clicks", 3, "p1,t1,1,128,-1,800", ["clicks.csv", "row 2", "'y'", "'-1'"]),
    # ragged row
    ("trials", 5, "p2,t2,img1,anger,happy,happy", ["trials.csv", "row 4 (line 5)", "6 fields"]),
])
def test_each_invalid_row_is_reported_with_file_row_column_value(tmp_path, which, line, new,
                                                                 expected):
    trials = replace_line(TRIALS, line, new) if which == "trials" else TRIALS
    clicks = replace_line(CLICKS, line, new) if which == "clicks" else CLICKS
    with pytest.raises(HumanDataError) as err:
        load(tmp_path, trials, clicks)
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    for text in expected:
        assert text in message, (text, message)


@pytest.mark.parametrize("trials, clicks, expected", [
    (TRIALS.replace(",rt_ms", ""), CLICKS, ["trials.csv", "line 1", "missing column(s) ['rt_ms']"]),
    (TRIALS, CLICKS.replace("t_ms", "t_ms,note"), ["clicks.csv", "unexpected column(s) ['note']"]),
    ("", CLICKS, ["trials.csv", "empty"]),
    (TRIALS, "participant_id,trial_id,click_index,x,y,t_ms\n", ["clicks.csv", "no data rows"]),
])
def test_file_level_problems_raise_even_in_drop_mode(tmp_path, trials, clicks, expected):
    for mode in ("error", "drop"):
        with pytest.raises(HumanDataError) as err:
            load(tmp_path, trials, clicks, on_invalid=mode)
        for text in expected:
            assert text in str(err.value)


def test_all_problems_of_both_files_are_listed_together(tmp_path):
    trials = replace_line(TRIALS, 3, "p1,t2,img9,happy,sad,happy,3100")
    clicks = replace_line(CLICKS, 5, "p2,t1,1,999,3,700")
    with pytest.raises(HumanDataError, match=r"2 problem\(s\)(.|\n)*img9(.|\n)*'999'"):
        load(tmp_path, trials, clicks)


def test_drop_mode_drops_bad_rows_and_counts_them_by_reason(tmp_path):
    trials = TRIALS + ("p3,t1,img9,happy,sad,happy,100\n"        # unknown image
                       "p3,t2,img1,happy,sad,joy,100\n"           # invalid response
                       "p3,t3,img2,happy,sad,sad,100\n")          # valid
    clicks = CLICKS + ("p3,t1,1,5,5,10\n"                         # its trial is dropped
                       "p3,t2,1,5,5,10\n"                         # its trial is dropped
                       "p3,t3,1,5,5,10\n"                         # valid
                       "p3,t3,2,500,5,20\n"                       # outside
                       "p4,t1,1,5,5,10\n")                        # no such trial
    out, clicks_out, qc = load(tmp_path, trials, clicks, on_invalid="drop")
    assert out["participant_id"].tolist() == ["p1", "p1", "p2", "p2", "p3"]
    assert out.loc[out["participant_id"] == "p3", "n_clicks"].tolist() == [1]
    assert len(clicks_out) == 5
    counts = {(r.file, r.reason): r.n_rows for r in qc.itertuples()}
    assert counts == {("trials.csv", "invalid_response"): 1,
                      ("trials.csv", "unknown_image"): 1,
                      ("clicks.csv", "no_trial"): 1,
                      ("clicks.csv", "outside_stimulus"): 1,
                      ("clicks.csv", "trial_dropped"): 2}


#: The browser experiment's trials: n_clicks and flag columns (too_fast kept, catch set aside).
FLAGGED_TRIALS = """participant_id,trial_id,image_id,option_a,option_b,response,rt_ms,n_clicks,flag
p1,t1,img1,happy,sad,happy,2500,2,
p1,t2,img2,happy,sad,happy,40,1,too_fast
p1,catch-1,faces/img3,fear,surprise,fear,900,0,catch
p2,t1,faces/img3,fear,surprise,fear,1800,1,
p2,catch-1,img1,anger,happy,anger,250,0,catch too_fast
"""


def test_flagged_trials_are_kept_or_set_aside_and_counted(tmp_path):
    trials, clicks, qc = load(tmp_path, FLAGGED_TRIALS)
    # too_fast stays in the analysis with its flag; catch trials (attention checks) do not.
    assert trials[["participant_id", "trial_id", "flag"]].values.tolist() == [
        ["p1", "t1", ""], ["p1", "t2", "too_fast"], ["p2", "t1", ""]]
    assert trials["n_clicks"].tolist() == [2, 1, 1] and len(clicks) == 4
    # p2's catch trial was answered wrongly (anger for a happy face) and too fast.
    assert qc.to_dict("records") == [
        {"file": "trials.csv", "reason": "too_fast", "n_rows": 2},
        {"file": "trials.csv", "reason": "catch_passed", "n_rows": 1},
        {"file": "trials.csv", "reason": "catch_failed", "n_rows": 1}]
    # The older form (no n_clicks, no flag) reads as before, with an empty flag.
    old, _, qc_old = load(tmp_path)
    assert old["flag"].tolist() == [""] * 4 and qc_old.empty


@pytest.mark.parametrize("line, new, expected", [
    (2, "p1,t1,img1,happy,sad,happy,2500,3,",
     ["row 1 (line 2), column 'n_clicks'", "the trial has 2 click row(s) in clicks.csv", "'3'"]),
    (5, "p2,t1,faces/img3,fear,surprise,fear,1800,0,",
     ["row 4 (line 5), column 'n_clicks'", "has 1 click row(s)"]),
    (2, "p1,t1,img1,happy,sad,happy,2500,1.5,", ["column 'n_clicks'", "integer >= 0"]),
    (3, "p1,t2,img2,happy,sad,happy,40,1,slow", ["column 'flag'", "too_fast catch", "'slow'"]),
])
def test_click_counts_and_flags_are_checked(tmp_path, line, new, expected):
    with pytest.raises(HumanDataError) as err:
        load(tmp_path, replace_line(FLAGGED_TRIALS, line, new))
    for text in expected:
        assert text in str(err.value), (text, str(err.value))
    # Dropped and counted in drop mode.
    _, _, qc = load(tmp_path, replace_line(FLAGGED_TRIALS, line, new), on_invalid="drop")
    assert qc["n_rows"].iloc[0] == 1


def test_catch_trials_do_not_send_their_images_to_the_test_split(tmp_path):
    from ferattention.humans import shown_image_ids

    trials = FLAGGED_TRIALS.replace("p2,catch-1,img1", "p2,catch-1,train/img7")
    path, _ = write(tmp_path, trials)
    assert shown_image_ids(path, {"img1", "img2", "faces/img3"}) == {"img1", "img2", "faces/img3"}
    # Other rows are still checked, with their own row and line.
    path, _ = write(tmp_path, trials + "p3,t1,img9,happy,sad,happy,900,0,\n")
    with pytest.raises(HumanDataError, match=r"row 6 \(line 7\), column 'image_id'.*'img9'"):
        shown_image_ids(path, {"img1", "img2", "faces/img3"})


def test_drop_mode_with_every_trial_invalid_is_an_error(tmp_path):
    trials = ("participant_id,trial_id,image_id,option_a,option_b,response,rt_ms\n"
              "p,t,img9,happy,sad,sad,1\n")
    with pytest.raises(HumanDataError, match="no valid trial left"):
        load(tmp_path, trials, CLICKS, on_invalid="drop")


# --------------------------------------------------------------------------- geometry and maps

def test_stimulus_to_model_coordinates_scale_with_corner_origin():
    x, y = to_model_coords(np.array([128.0, 0.0, 256.0, 102.0]),
                           np.array([128.0, 0.0, 256.0, 62.0]), STIM, STIM, S)
    np.testing.assert_allclose(x, [32.0, 0.0, 64.0, 25.5])
    np.testing.assert_allclose(y, [32.0, 0.0, 64.0, 15.5])
    # unequal scaling of a non-square stimulus
    x, y = to_model_coords(400.0, 150.0, 800, 300, S)
    assert (float(x), float(y)) == (32.0, 32.0)
    assert stimulus_to_model_scale(800, 300, S) == (S / 800, S / 300)


def test_geometry_record_maps_through_crop_and_resize():
    # original 512x384 shown at 1024x768; preprocessing cropped the central 384x384 square
    geometry = {"crop": (64, 0, 448, 384), "original_size": (512, 384), "size": S}
    x, y = to_model_coords(np.array([512.0, 128.0, 896.0, 0.0]), np.array([384.0, 0.0, 768.0, 0.0]),
                           1024, 768, S, geometry)
    np.testing.assert_allclose(x, [32.0, 0.0, 64.0, -64 * S / 384])   # last: left of the crop
    np.testing.assert_allclose(y, [32.0, 0.0, 64.0, 0.0])
    sx, sy = stimulus_to_model_scale(1024, 768, S, geometry)
    assert sx == pytest.approx(0.5 * S / 384) and sy == pytest.approx(0.5 * S / 384)
    # without original_size the stimulus is the original shown 1:1
    x, y = to_model_coords(256.0, 192.0, 512, 384, S, {"crop": (64, 0, 448, 384)})
    assert (float(x), float(y)) == (32.0, 32.0)
    with pytest.raises(ValueError, match="differs from the model input size"):
        to_model_coords(0.0, 0.0, 1024, 768, 32, geometry)


def test_reveal_mask_is_the_union_of_disks_by_pixel_centre():
    mask = reveal_mask([5.5], [5.5], 2.0, (12, 12))
    assert mask.dtype == bool and mask.sum() == 13          # integer offsets with dx^2+dy^2 <= 4
    assert mask[5, 3] and mask[5, 7] and mask[3, 5] and not mask[3, 3]
    two = reveal_mask([5.5, 5.5], [5.5, 6.5], 2.0, (12, 12))
    assert two.sum() == 13 + 5                              # overlapping disks counted once
    tiny = reveal_mask([3.2], [7.9], 0.1, (12, 12))
    assert np.argwhere(tiny).tolist() == [[7, 3]]           # the pixel under the click
    assert reveal_mask([-10.0], [5.0], 2.0, (12, 12)).sum() == 0


def one_image_frames(points, n_participants=3, image_id="img1", offset=(0.0, 0.0)):
    """Trials/clicks where every participant clicks the same points on one image."""
    trials = pd.DataFrame({"participant_id": [f"p{k}" for k in range(n_participants)],
                           "trial_id": f"{image_id}-t1", "image_id": image_id,
                           "stimulus_width": float(STIM), "stimulus_height": float(STIM)})
    clicks = pd.DataFrame([{"participant_id": f"p{k}", "trial_id": f"{image_id}-t1",
                            "click_index": n + 1,
                            "x": x + offset[0], "y": y + offset[1]}
                           for k in range(n_participants) for n, (x, y) in enumerate(points)])
    return trials, clicks


def test_map_of_clicks_at_one_point_peaks_there():
    trials, clicks = one_image_frames([(102.0, 62.0)] * 2)      # model (25.5, 15.5)
    maps = human_maps(trials, clicks, S, reveal_radius=12.0, blur_sigma=2.0)
    m = maps["img1"]
    assert m.dtype == np.float32 and m.shape == (S, S)
    assert m.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(np.argmax(m), m.shape) == (15, 25)
    # symmetric around the peak pixel (disk + Gaussian, away from borders)
    np.testing.assert_allclose(m[15, 25 - 5:25], m[15, 26:26 + 5][::-1], rtol=1e-5)
    fix = fixation_maps(trials, clicks, S)["img1"]
    assert fix.dtype == bool and np.argwhere(fix).tolist() == [[15, 25]]


def test_maps_are_uniform_without_clicks_and_unblurred_maps_are_disk_counts():
    trials, clicks = one_image_frames([(130.0, 130.0)], n_participants=2)
    extra = trials.iloc[[0]].assign(image_id="img2", trial_id="t2")
    maps = human_maps(pd.concat([trials, extra]), clicks, S, reveal_radius=8.0, blur_sigma=0)
    np.testing.assert_array_equal(maps["img2"], np.full((S, S), 1 / S**2, np.float32))
    disk = reveal_mask([32.5], [32.5], 2.0, (S, S))           # 8 stimulus px = 2 model px
    np.testing.assert_allclose(maps["img1"], disk / disk.sum(), rtol=1e-6)


def test_order_weighting_weights_earlier_clicks_more():
    x, y = np.array([40.0, 200.0]), np.array([40.0, 200.0])
    linear = trial_map(x, y, STIM, STIM, S, 8.0, order_weighting="linear")
    assert linear[10, 10] == 1.0 and linear[50, 50] == 0.5
    expo = trial_map(x, y, STIM, STIM, S, 8.0, order_weighting="exponential", order_decay=0.25)
    assert expo[10, 10] == 1.0 and expo[50, 50] == 0.25
    flat = trial_map(x, y, STIM, STIM, S, 8.0)
    assert set(np.unique(flat)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="order_weighting"):
        trial_map(x, y, STIM, STIM, S, 8.0, order_weighting="quadratic")


def test_revealed_fraction_of_image_and_of_face():
    trials, clicks = one_image_frames([(130.0, 130.0)], n_participants=1)
    trials = pd.concat([trials, trials.assign(trial_id="t2")], ignore_index=True)  # t2: no clicks
    disk = reveal_mask([32.5], [32.5], 2.0, (S, S))
    whole = revealed_fraction(trials, clicks, S, reveal_radius=8.0)
    assert whole.tolist() == pytest.approx([disk.sum() / S**2, 0.0])
    face = np.zeros((S, S), dtype=bool)
    face[32:40, 32:40] = True                                   # 4 of the 13 disk pixels
    frac = revealed_fraction(trials, clicks, S, 8.0, face_masks={"img1": face})
    assert frac.tolist() == pytest.approx([(disk & face).sum() / 64, 0.0])
    assert (disk & face).sum() == 6


# --------------------------------------------------------------------------- reliability

def pearson(pred: np.ndarray, ref: np.ndarray, fixations: np.ndarray) -> np.ndarray:
    p = pred.reshape(len(pred), -1) - pred.reshape(len(pred), -1).mean(axis=1, keepdims=True)
    r = ref.reshape(len(ref), -1) - ref.reshape(len(ref), -1).mean(axis=1, keepdims=True)
    return (p * r).sum(axis=1) / np.sqrt((p * p).sum(axis=1) * (r * r).sum(axis=1))


def participant_frames(clicks_by_participant: dict[str, list[tuple[float, float]]], image_id: str):
    """Trials/clicks of one image where each participant clicks their own points."""
    trials = pd.DataFrame({"participant_id": list(clicks_by_participant),
                           "trial_id": f"{image_id}-t1", "image_id": image_id,
                           "stimulus_width": float(STIM), "stimulus_height": float(STIM)})
    clicks = pd.DataFrame([{"participant_id": pid, "trial_id": f"{image_id}-t1",
                            "click_index": n + 1, "x": x, "y": y}
                           for pid, points in clicks_by_participant.items()
                           for n, (x, y) in enumerate(points)])
    return trials, clicks


MAP_SETTINGS = {"image_size": S, "reveal_radius": 20.0, "blur_sigma": 2.0}


def test_noise_ceiling_equals_its_definition_on_three_participants():
    # Three participants with known, different clicks on image A; the floor of A is the mean of
    # the maps of the other images, B and C (the centre bias, leave A out).
    a_clicks = {"p1": [(60.0, 60.0), (90.0, 70.0)], "p2": [(70.0, 64.0), (150.0, 90.0)],
                "p3": [(64.0, 180.0)]}
    b_clicks = {"p1": [(200.0, 190.0)], "p2": [(190.0, 200.0), (40.0, 40.0)], "p3": [(128.0, 30.0)]}
    c_clicks = {"p1": [(64.0, 64.0)], "p2": [(30.0, 200.0)], "p3": [(128.0, 128.0), (64.0, 80.0)]}
    frames = [participant_frames(a_clicks, "A"), participant_frames(b_clicks, "B"),
              participant_frames(c_clicks, "C")]
    trials = pd.concat([f[0] for f in frames], ignore_index=True)
    clicks = pd.concat([f[1] for f in frames], ignore_index=True)
    metrics = {"cc": METRICS["cc"].fn, "spearman": METRICS["spearman"].fn, "sim": METRICS["sim"].fn}
    out = noise_ceiling(trials, clicks, metrics, repeats=20, seed=3, **MAP_SETTINGS)
    assert list(out.columns) == ["image_id", "metric", "split_half", "lower", "upper", "floor",
                                 "n_participants"]

    def group_map(image_trials, image_clicks, people):
        keep = image_trials["participant_id"].isin(people)
        return human_maps(image_trials[keep], image_clicks[image_clicks["participant_id"]
                                                          .isin(people)], **MAP_SETTINGS)
    # By hand, with scipy as the reference: the three splits {p} vs the other two (all of them,
    # since 3 <= repeats), r averaged; Spearman-Brown; attenuation; floor = (B + C) / 2 against A.
    t_a, c_a = frames[0]
    full_a = group_map(t_a, c_a, ["p1", "p2", "p3"])["A"].ravel()
    full_b = group_map(*frames[1], ["p1", "p2", "p3"])["B"].ravel()
    full_c = group_map(*frames[2], ["p1", "p2", "p3"])["C"].ravel()
    for name, corr in (("cc", lambda x, y: stats.pearsonr(x, y)[0]),
                       ("spearman", lambda x, y: stats.spearmanr(x, y)[0])):
        halves = [corr(group_map(t_a, c_a, [p])["A"].ravel(),
                       group_map(t_a, c_a, sorted({"p1", "p2", "p3"} - {p}))["A"].ravel())
                  for p in ("p1", "p2", "p3")]
        r_half = float(np.mean(halves))
        row = out[(out["metric"] == name) & (out["image_id"] == "A")].iloc[0]
        assert row["split_half"] == pytest.approx(r_half, abs=1e-5)
        assert row["lower"] == pytest.approx(2 * r_half / (1 + r_half), abs=1e-5)
        assert row["upper"] == pytest.approx(np.sqrt(2 * r_half / (1 + r_half)), abs=1e-5)
        assert row["floor"] == pytest.approx(corr((full_b + full_c) / 2, full_a), abs=1e-5)
        assert row["n_participants"] == 3
    # Metrics without the Spearman-Brown step get no bounds, but a split-half score and a floor.
    sim = out[out["metric"] == "sim"]
    assert sim["lower"].isna().all() and sim["upper"].isna().all()
    assert sim["split_half"].notna().all() and sim["floor"].notna().all()
    # Reproducible; the order of rows is image, then the metrics in the given order.
    again = noise_ceiling(trials, clicks, metrics, repeats=20, seed=3, **MAP_SETTINGS)
    pd.testing.assert_frame_equal(again, out)
    assert out["metric"].tolist() == ["cc", "spearman", "sim"] * 3


def test_noise_ceiling_single_participant_and_identical_observers():
    frames = [one_image_frames([(60.0, 60.0), (90.0, 70.0)], 4, "A"),
              one_image_frames([(200.0, 190.0)], 5, "B"),
              one_image_frames([(128.0, 128.0)], 1, "D")]       # one participant: no split
    trials = pd.concat([f[0] for f in frames], ignore_index=True)
    clicks = pd.concat([f[1] for f in frames], ignore_index=True)
    out = noise_ceiling(trials, clicks, {"cc": METRICS["cc"].fn}, repeats=3, seed=1,
                        **MAP_SETTINGS).set_index("image_id")
    np.testing.assert_allclose(out.loc[["A", "B"], ["split_half", "lower", "upper"]], 1.0,
                               rtol=1e-5)
    assert out.loc["D", ["split_half", "lower", "upper"]].isna().all()
    assert np.isfinite(out.loc["D", "floor"]) and (out["floor"] < 0.5).all()
    assert out["n_participants"].tolist() == [4, 5, 1]


def test_spearman_brown_by_hand():
    np.testing.assert_allclose(spearman_brown([0.0, 0.5, 0.8, 1.0]), [0.0, 2 / 3, 16 / 18, 1.0])
    assert spearman_brown(0.5, factor=3) == pytest.approx(0.75)


def test_true_map_scores_at_the_upper_bound():
    """Planted truth: clicks drawn from known densities; the expected map scores ``upper``.

    One click per trial at a pixel centre, drawn from the image's density p: a trial's map is
    the disk there, so the expected human map is p convolved with the disk, then blurred. Its
    correlation with the 12-participant map must equal the upper bound (the attenuation ceiling)
    up to sampling error, and lie above the lower bound.
    """
    rng = np.random.default_rng(7)
    n_images, n_people, size = 40, 12, 32
    scale = STIM / size
    yy, xx = np.mgrid[:size, :size]
    trial_rows, click_rows, truths = [], [], {}
    disk = reveal_mask([size / 2], [size / 2], 20.0 / scale, (size, size)).astype(float)
    for i in range(n_images):
        centres = rng.uniform(6, size - 6, size=(2, 2))
        density = sum(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0 ** 2))
                      for cx, cy in centres) + 0.02
        density /= density.sum()
        expected = np.real(np.fft.ifft2(np.fft.fft2(density)
                                        * np.fft.fft2(np.fft.ifftshift(disk))))
        truths[f"i{i}"] = gaussian_filter(expected, 2.0, mode="reflect")
        cells = rng.choice(size * size, size=n_people, p=density.ravel())
        for k, cell in enumerate(cells):
            row, col = divmod(int(cell), size)
            trial_rows.append((f"p{k}", f"t{i}", f"i{i}", float(STIM), float(STIM)))
            click_rows.append((f"p{k}", f"t{i}", 1, (col + 0.5) * scale, (row + 0.5) * scale))
    trials = pd.DataFrame(trial_rows, columns=["participant_id", "trial_id", "image_id",
                                               "stimulus_width", "stimulus_height"])
    clicks = pd.DataFrame(click_rows, columns=["participant_id", "trial_id", "click_index", "x", "y"])
    settings = {"image_size": size, "reveal_radius": 20.0, "blur_sigma": 2.0}
    ceiling = noise_ceiling(trials, clicks, {"cc": METRICS["cc"].fn}, repeats=30, seed=0,
                            **settings).set_index("image_id")
    maps = human_maps(trials, clicks, **settings)
    ids = sorted(maps)
    truth_score = METRICS["cc"].fn(np.stack([truths[i] for i in ids]),
                                   np.stack([maps[i] for i in ids]))
    assert truth_score.mean() == pytest.approx(ceiling.loc[ids, "upper"].mean(), abs=0.02)
    assert truth_score.mean() > ceiling.loc[ids, "lower"].mean() + 0.02


def test_clicks_map_of_a_planted_density_scores_at_the_upper_bound():
    """The ``clicks`` definition: clicks as fixations, smoothed with click_sigma. Clicks drawn
    from a density at pixel centres, so the expected map is the density smoothed with the same
    Gaussian; it scores the cc upper bound."""
    metric = "cc"
    rng = np.random.default_rng(11)
    n_images, n_people, size, sigma = 40, 12, 32, 2.0
    scale = STIM / size
    yy, xx = np.mgrid[:size, :size]
    trial_rows, click_rows, truths = [], [], {}
    for i in range(n_images):
        centres = rng.uniform(6, size - 6, size=(2, 2))
        density = sum(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0 ** 2))
                      for cx, cy in centres) + 0.02
        density /= density.sum()
        truths[f"i{i}"] = gaussian_filter(density, sigma, mode="reflect")
        for k in range(n_people):
            trial_rows.append((f"p{k}", f"t{i}", f"i{i}", float(STIM), float(STIM)))
            for c, cell in enumerate(rng.choice(size * size, size=5, p=density.ravel())):
                row, col = divmod(int(cell), size)
                click_rows.append((f"p{k}", f"t{i}", c + 1, (col + 0.5) * scale,
                                   (row + 0.5) * scale))
    trials = pd.DataFrame(trial_rows, columns=["participant_id", "trial_id", "image_id",
                                               "stimulus_width", "stimulus_height"])
    clicks = pd.DataFrame(click_rows, columns=["participant_id", "trial_id", "click_index", "x", "y"])
    settings = {"image_size": size, "reveal_radius": 20.0, "blur_sigma": sigma,
                "definition": "clicks"}
    ceiling = noise_ceiling(trials, clicks, {metric: METRICS[metric].fn}, repeats=30, seed=0,
                            **settings).set_index("image_id")
    maps = human_maps(trials, clicks, **settings)
    ids = sorted(maps)
    truth_score = METRICS[metric].fn(np.stack([truths[i] for i in ids]),
                                     np.stack([maps[i] for i in ids]))
    assert truth_score.mean() == pytest.approx(ceiling.loc[ids, "upper"].mean(), abs=0.02)


def test_clicks_plane_weights_each_click_at_its_pixel():
    # 64 px stimulus on a 16 px model input: (10, 10) -> pixel (2, 2), (40, 20) -> (row 5,
    # col 10); a click off the image is left out; linear order weights of 4 clicks 1, 3/4, 1/2, 1/4
    plane = trial_map(np.array([10.0, 40.0, 10.0, 70.0]), np.array([10.0, 20.0, 10.0, 5.0]),
                      64.0, 64.0, 16, 8.0, order_weighting="linear", definition="clicks")
    expected = np.zeros((16, 16))
    expected[2, 2] = 1.0 + 0.5
    expected[5, 10] = 0.75
    np.testing.assert_allclose(plane, expected)
    with pytest.raises(ValueError, match="definition must be one of"):
        trial_map(np.array([1.0]), np.array([1.0]), 64.0, 64.0, 16, 8.0, definition="gaze")


# --------------------------------------------------------------------------- simulated observers

PAIRS = {("happy", "sad"): (0.1, 0.1, 0.0, 0.8),          # weights in REGIONS order
         ("surprise", "fear"): (0.45, 0.45, 0.0, 0.1),
         ("happy", "fear"): (0.2, 0.2, 0.2, 0.4),
         ("sad", "surprise"): (0.3, 0.3, 0.1, 0.3)}
SIM_LABELS = {"happy": "sad", "sad": "happy", "surprise": "fear", "fear": "surprise"}


def synthetic_masks() -> np.ndarray:
    """Four rectangles (brows, eyes, nose, mouth) on a 64x64 face, uint8 (4, S, S)."""
    m = np.zeros((len(REGIONS), S, S), dtype=np.uint8)
    m[0, 12:17, 14:50] = 1
    m[1, 19:27, 14:50] = 1
    m[2, 28:40, 27:37] = 1
    m[3, 44:52, 20:44] = 1
    return m


def sim_design() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulated observers' small study: the diagnostic table of PAIRS, and 12 trials (each
    SIM_LABELS expression three times against its partner), one image each."""
    diagnostic = pd.DataFrame([{"expression_a": x, "expression_b": y, "region": r, "weight": w}
                               for (a, b), ws in PAIRS.items() for x, y in ((a, b), (b, a))
                               for r, w in zip(REGIONS, ws)])
    labels = list(SIM_LABELS) * 3
    trials = pd.DataFrame({"trial_id": [f"t{i:02d}" for i in range(len(labels))],
                           "image_id": [f"face{i:02d}" for i in range(len(labels))],
                           "option_a": labels,
                           "option_b": [SIM_LABELS[lab] for lab in labels],
                           "label": labels})
    return diagnostic, trials


@pytest.fixture(scope="module")
def sim_inputs():
    diagnostic, trials = sim_design()
    # a second, different trial for the first image: participants pick one of the two
    trials = pd.concat([trials, pd.DataFrame([{"trial_id": "t99", "image_id": "face00",
                                               "option_a": "fear", "option_b": "happy",
                                               "label": "happy"}])], ignore_index=True)
    masks = {i: synthetic_masks() for i in trials["image_id"]}
    return trials, masks, diagnostic


def simulate(sim_inputs, n=12, seed=3, **params):
    trials, masks, diagnostic = sim_inputs
    return simulate_observers(trials, masks, diagnostic, image_size=S, n_participants=n,
                              seed=seed, stimulus_size=STIM, reveal_radius=16.0,
                              params=params or None)


def test_simulated_csvs_pass_ingestion_unchanged(sim_inputs, tmp_path):
    trials, clicks = simulate(sim_inputs)
    trials.to_csv(tmp_path / "trials.csv", index=False)
    clicks.to_csv(tmp_path / "clicks.csv", index=False)
    images = sim_inputs[0][["image_id", "label"]].drop_duplicates()
    t, c, qc = load_human_data(tmp_path / "trials.csv", tmp_path / "clicks.csv", images,
                               default_stimulus_size=(1, 1))
    assert qc.empty and len(t) == len(trials) and len(c) == len(clicks)
    assert t["n_clicks"].sum() == len(clicks)
    np.testing.assert_allclose(c["x"], clicks.sort_values(
        ["participant_id", "trial_id", "click_index"])["x"])
    # every participant sees every image once, options in both orders, times plausible
    assert len(t) == 12 * 12 and not t.duplicated(["participant_id", "image_id"]).any()
    assert set(t["option_a"] == t["label"]) == {True, False}
    assert 0.85 <= t["correct"].mean() <= 0.97
    assert 3 <= t["n_clicks"].median() <= 30 and t["n_clicks"].min() >= 1
    gaps = c.groupby(["participant_id", "trial_id"])["t_ms"].diff().dropna()
    assert 400 <= gaps.median() <= 900
    last = c.groupby(["participant_id", "trial_id"])["t_ms"].max()
    rt = t.set_index(["participant_id", "trial_id"])["rt_ms"]
    assert (rt.loc[last.index] > last).all()


def test_simulation_is_deterministic_for_a_seed(sim_inputs):
    a, b = simulate(sim_inputs, n=3, seed=7), simulate(sim_inputs, n=3, seed=7)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    c = simulate(sim_inputs, n=3, seed=8)
    assert not a[1]["x"].equals(c[1]["x"])
    # participant k does not depend on how many others there are
    more = simulate(sim_inputs, n=4, seed=7)
    pd.testing.assert_frame_equal(more[0][more[0]["participant_id"] != "sim004"], a[0])


def test_simulated_accuracy_rises_with_evidence_threshold(sim_inputs):
    accuracy = []
    for threshold in (0.05, 0.4, 0.9):
        trials, clicks = simulate(sim_inputs, n=10, threshold=(threshold, 0.0), lapse=(0.0, 0.0))
        label = dict(zip(sim_inputs[0]["image_id"], sim_inputs[0]["label"]))
        accuracy.append((trials["response"] == trials["image_id"].map(label)).mean())
    assert accuracy[0] < accuracy[1] < accuracy[2]
    assert accuracy[0] < 0.85 and accuracy[2] > 0.93


def test_simulated_maps_concentrate_on_the_pairs_diagnostic_regions(sim_inputs):
    trials, clicks = simulate(sim_inputs, n=12)
    trials = trials.assign(stimulus_width=float(STIM), stimulus_height=float(STIM))
    maps = human_maps(trials, clicks, S, reveal_radius=16.0, blur_sigma=1.0)
    masks = synthetic_masks().astype(bool)
    outside = ~masks.any(axis=0)
    for image_id, group in trials.groupby("image_id"):
        pair = (group["option_a"].iloc[0], group["option_b"].iloc[0])
        if image_id == "face00":
            continue                                         # two option pairs mixed
        weights = np.array(PAIRS.get(pair) or PAIRS[pair[::-1]])
        top = masks[np.argmax(weights)]
        per_pixel = maps[image_id][top].mean()
        assert per_pixel > 3 * maps[image_id][outside].mean()
        low = masks[np.argmin(weights)]
        assert per_pixel > maps[image_id][low].mean()


def test_simulation_rejects_bad_inputs(sim_inputs):
    trials, masks, diagnostic = sim_inputs
    with pytest.raises(ValueError, match="unknown simulated-observer parameter"):
        simulate(sim_inputs, speed=(1.0, 0.0))
    with pytest.raises(ValueError, match="no rows for the pair"):
        simulate_observers(trials, masks, diagnostic[diagnostic["expression_a"] != "fear"], S, 1, 0,
                           STIM, 16.0)
    with pytest.raises(ValueError, match="region masks of image 'face01'"):
        simulate_observers(trials, {**masks, "face01": np.zeros((4, 32, 32))}, diagnostic, S, 1,
                           0, STIM, 16.0)


def test_map_of_clicks_at_one_point_peaks_there_after_the_geometry_mapping():
    # original 512x384 shown at 1024x768, crop (64, 0, 448, 384): stimulus (614.0, 162.0) is
    # original (307, 81) -> crop (243, 81) -> model (40.5, 13.5), pixel (row 13, col 40)
    geometry = {"crop": (64, 0, 448, 384), "original_size": (512, 384)}
    trials, clicks = one_image_frames([(614.0, 162.0)] * 2)
    trials[["stimulus_width", "stimulus_height"]] = (1024.0, 768.0)
    m = human_maps(trials, clicks, S, reveal_radius=24.0, blur_sigma=1.5,
                   geometries={"img1": geometry})["img1"]
    assert np.unravel_index(np.argmax(m), m.shape) == (13, 40)
    np.testing.assert_allclose(m[13, 40 - 4:40], m[13, 41:41 + 4][::-1], rtol=1e-5)


# --- what the participant saw: uncovered views and the models' answers on them ---

def view_frames(points, image_id="img1"):
    """One trial of participant p1 on ``image_id`` with clicks at ``points`` (stimulus px)."""
    trials = pd.DataFrame({"participant_id": ["p1"], "trial_id": ["t1"], "image_id": [image_id],
                           "stimulus_width": [float(STIM)], "stimulus_height": [float(STIM)]})
    clicks = pd.DataFrame({"participant_id": "p1", "trial_id": "t1",
                           "click_index": np.arange(1, len(points) + 1),
                           "x": [p[0] for p in points], "y": [p[1] for p in points]})
    return trials, clicks


def test_mask_value_is_the_experiments_gray():
    from ferattention.experiment import MASK_COLOR
    assert views.MASK_VALUE == int(MASK_COLOR[1:3], 16) / 255


def test_uncovered_view_is_the_image_inside_the_disks_and_hidden_outside():
    image = np.random.default_rng(0).random((S, S)).astype(np.float32)
    # clicks at stimulus (102, 62) and (200, 180), radius 12: model (25.5, 15.5), (50, 45), r = 3
    trials, clicks = view_frames([(102.0, 62.0), (200.0, 180.0)])
    inside = reveal_mask([25.5, 50.0], [15.5, 45.0], 3.0, (S, S))
    assert inside.sum() == 29 + 32           # pixel centres within 3 of a centre / of a corner
    assert inside[15, 22] and inside[15, 28] and inside[12, 25] and inside[18, 25]
    assert not (inside[15, 21] or inside[15, 29] or inside[11, 25] or inside[14, 28])
    masked = uncovered_views({"img1": image}, trials, clicks, S, 12.0, hiding="mask")
    assert masked.dtype == np.float32 and masked.shape == (1, S, S)
    np.testing.assert_array_equal(masked[0][inside], image[inside])
    np.testing.assert_array_equal(masked[0][~inside], np.float32(128 / 255))
    # blur: sigma 8 stimulus px = 2 model px, borders extended as PIL's GaussianBlur does
    blurred = uncovered_views({"img1": image}, trials, clicks, S, 12.0, hiding="blur",
                              hiding_blur=8.0)[0]
    hidden = gaussian_filter(image, 2.0, mode="nearest")
    np.testing.assert_array_equal(blurred[inside], image[inside])
    np.testing.assert_allclose(blurred[~inside], hidden[~inside], rtol=1e-6)
    assert blurred[~inside].std() < 0.5 * image[~inside].std()


def test_trial_without_clicks_gives_a_fully_hidden_view():
    image = np.random.default_rng(1).random((S, S)).astype(np.float32)
    trials, _ = view_frames([])
    trials = pd.concat([trials, trials.assign(trial_id="t2")], ignore_index=True)
    _, clicks = view_frames([(128.0, 128.0)])          # only t1 has a click
    clicks["trial_id"] = "t1"
    out = uncovered_views({"img1": image}, trials, clicks, S, 12.0, hiding="mask")
    np.testing.assert_array_equal(out[1], np.full((S, S), np.float32(128 / 255)))
    assert (out[0] == image).sum() >= 29 - 1      # t1 shows its disk (a pixel may equal gray)
    out = uncovered_views({"img1": image}, trials.iloc[[1]], clicks, S, 12.0, hiding="blur",
                          hiding_blur=8.0)
    np.testing.assert_allclose(out[0], gaussian_filter(image, 2.0, mode="nearest"), rtol=1e-6)
    with pytest.raises(ValueError, match="hiding must be one of"):
        uncovered_views({"img1": image}, trials, clicks, S, 12.0, hiding="noise")
    with pytest.raises(KeyError, match="img9"):
        uncovered_views({"img1": image}, trials.assign(image_id="img9"), clicks, S, 12.0)


def test_model_on_a_fully_uncovered_view_answers_as_the_normal_model():
    from ferattention import models, training
    from ferattention.trials import answer_2afc

    classes = ["happy", "sad", "fear", "surprise"]
    model = models.build_model("compact_cnn", len(classes), seed=0).eval()
    rng = np.random.default_rng(2)
    images = {f"img{i}": rng.random((S, S)).astype(np.float32) for i in range(3)}
    pairs = [("happy", "sad"), ("sad", "fear"), ("surprise", "happy"), ("fear", "surprise")]
    trials = pd.DataFrame([{"participant_id": f"p{p}", "trial_id": f"t{i}{j}", "image_id": i_id,
                            "option_a": a, "option_b": b, "label": a,
                            "stimulus_width": float(STIM), "stimulus_height": float(STIM)}
                           for p in range(2) for i, i_id in enumerate(images)
                           for j, (a, b) in enumerate(pairs)])
    # one click in the middle with a radius covering the whole stimulus
    clicks = trials[["participant_id", "trial_id"]].assign(click_index=1, x=128.0, y=128.0)
    seen = human_view_predictions(model, classes, images, trials, clicks, S, 1000.0,
                                  hiding="mask", batch_size=5)
    full = pd.DataFrame(training.predict_logits(model, np.stack(list(images.values()))),
                        columns=classes, index=pd.Index(list(images), name="image_id"))
    expected = answer_2afc(full, trials)
    assert list(seen.columns[:8]) == ["participant_id", "trial_id", "image_id", "option_a",
                                      "option_b", "label", "answer", "correct"]
    np.testing.assert_array_equal(seen["answer"], expected)
    np.testing.assert_array_equal(seen["correct"], expected == trials["label"])
    np.testing.assert_allclose(seen[[f"logit_{c}" for c in classes]].to_numpy(),
                               full.loc[trials["image_id"]].to_numpy(), rtol=1e-5, atol=1e-6)
    # with nothing uncovered every trial of an image gets the same (gray-field) logits
    blind = human_view_predictions(model, classes, images, trials, clicks.iloc[:0], S, 1000.0,
                                   hiding="mask")
    assert np.ptp(blind.filter(like="logit_").to_numpy(), axis=0).max() < 1e-5


def test_read_validated_keeps_ids_as_strings(tmp_path):
    from ferattention.humans import read_validated

    (tmp_path / "t.csv").write_text("participant_id,trial_id,image_id,correct\n007,01,0042,True\n")
    (tmp_path / "c.csv").write_text("participant_id,trial_id,click_index,x,y\n007,01,1,2.5,3\n")
    trials, clicks = read_validated(tmp_path / "t.csv", tmp_path / "c.csv")
    assert trials.loc[0, ["participant_id", "trial_id", "image_id"]].tolist() == ["007", "01", "0042"]
    assert clicks.loc[0, "participant_id"] == "007" and clicks.loc[0, "x"] == 2.5
    assert read_validated(tmp_path / "t.csv")[1] is None


def test_original_stimuli_need_every_trial_s_stimulus_size(tmp_path):
    from ferattention.humans.ingest import require_stimulus_sizes

    path = tmp_path / "trials.csv"
    path.write_text("trial_id,stimulus_width,stimulus_height\nt1,450,240\nt2,450, \nt3,,240\n")
    with pytest.raises(HumanDataError, match=r"trials\.csv: row 3, column 'stimulus_width': missing"):
        require_stimulus_sizes(path)
    path.write_text("trial_id,stimulus_width\nt1,450\n")
    with pytest.raises(HumanDataError, match=r"row 1, column 'stimulus_height': missing"):
        require_stimulus_sizes(path)
    path.write_text("trial_id,stimulus_width,stimulus_height\nt1,450,240\n")
    require_stimulus_sizes(path)  # complete: no error
