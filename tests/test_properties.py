"""Property-based tests (hypothesis): click-log ingestion and the similarity metrics.

Random valid click logs go through the workflow's path (``load_human_data`` -> the validated
CSVs -> ``read_validated`` -> ``human_maps``) without error and give one finite, non-negative
float32 map per shown image that sums to 1. A valid log with one field broken is always rejected
with a message naming the file, the column and the bad value. Every metric gives finite scores on
random maps, and the identities of their definitions hold.
"""

from __future__ import annotations

import csv
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ferattention import io
from ferattention.humans import HumanDataError, human_maps, load_human_data, read_validated
from ferattention.humans.ingest import CLICK_COLUMNS, TRIAL_COLUMNS
from ferattention.labels import EXPRESSIONS
from ferattention.similarity import METRICS

S = 16                     # model input size
DEFAULT_STIMULUS = 64.0    # stimulus size of trials that do not give theirs
RUN_EXPRESSIONS = ["neutral", "happy", "sad", "anger"]
IMAGES = pd.DataFrame({"image_id": ["img1", "faces/img2", "007", "1e3", "x y", "NA", "None",
                                    "nan"],
                       "label": ["happy", "sad", "anger", "neutral", "happy", "sad", "anger",
                                 "neutral"]})
LABELS = dict(zip(IMAGES["image_id"], IMAGES["label"]))


def examples(n: int) -> settings:
    """Settings with ``n`` examples: the counts below keep the file at a few seconds."""
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- valid click logs

#: Cells pandas reads as missing by default: ids all the same (participant initials "NA").
PANDAS_NA = ["NA", "N/A", "n/a", "nan", "NaN", "-nan", "-NaN", "null", "NULL", "None", "<NA>",
             "#N/A", "1.#QNAN"]
# Ids as people write them, including ones that pandas would read as numbers or as missing.
ids = st.one_of(st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=5),
                st.sampled_from(["007", "1e3", "p 1", "0.50"]), st.sampled_from(PANDAS_NA))
coordinate = st.floats(0, 1, allow_nan=False)  # fraction of the stimulus size


def number(value: float) -> str:
    """A number as a log might spell it: integral values without a decimal point."""
    return str(int(value)) if value == int(value) and value < 1e15 else repr(value)


@st.composite
def valid_logs(draw) -> tuple[list[dict], list[dict]]:
    """Rows of a valid trials file and its clicks file (all cells as strings)."""
    participants = draw(st.lists(ids, min_size=1, max_size=3, unique=True))
    sized = draw(st.sampled_from(["none", "all", "some"]))  # stimulus_width/height columns
    trials, clicks = [], []
    for pid in participants:
        for tid in draw(st.lists(ids, min_size=1, max_size=3, unique=True)):
            image_id = draw(st.sampled_from(list(LABELS)))
            foil = draw(st.sampled_from([e for e in RUN_EXPRESSIONS if e != LABELS[image_id]]))
            options = draw(st.permutations([LABELS[image_id], foil]))
            row = {"participant_id": pid, "trial_id": tid, "image_id": image_id,
                   "option_a": options[0], "option_b": options[1],
                   "response": draw(st.sampled_from(options)),
                   "rt_ms": number(draw(st.floats(0, 1e5, allow_nan=False)))}
            width = height = DEFAULT_STIMULUS
            if sized != "none":
                given_size = sized == "all" or draw(st.booleans())
                if given_size:
                    width, height = (draw(st.one_of(st.integers(8, 512), st.floats(8, 512)))
                                     for _ in "wh")
                row["stimulus_width"] = number(width) if given_size else ""
                row["stimulus_height"] = number(height) if given_size else ""
            trials.append(row)
            indices = draw(st.lists(st.integers(0, 10**6), max_size=5, unique=True))
            for k in indices:
                clicks.append({"participant_id": pid, "trial_id": tid, "click_index": str(k),
                               "x": number(draw(coordinate) * width),
                               "y": number(draw(coordinate) * height),
                               "t_ms": number(draw(st.floats(0, 1e5, allow_nan=False)))})
    # A trial may have no clicks, but a clicks file without any row is an error (a wrong file).
    assume(clicks)
    clicks = draw(st.permutations(clicks))  # file order is free
    return trials, clicks


def write_logs(folder: Path, trials: list[dict], clicks: list[dict],
               trial_columns: list[str] | None = None,
               click_columns: list[str] | None = None) -> tuple[Path, Path]:
    paths = folder / "trials.csv", folder / "clicks.csv"
    optional = [c for c in ("stimulus_width", "stimulus_height") if trials and c in trials[0]]
    for path, rows, columns in ((paths[0], trials, trial_columns or [*TRIAL_COLUMNS, *optional]),
                                (paths[1], clicks, click_columns or list(CLICK_COLUMNS))):
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return paths


def ingest(paths: tuple[Path, Path], on_invalid: str = "error"):
    """The workflow's validation (rule ingest_humans) of the two files."""
    return load_human_data(*paths, IMAGES, on_invalid, default_stimulus_size=(
        DEFAULT_STIMULUS, DEFAULT_STIMULUS), expressions=RUN_EXPRESSIONS)


@examples(100)
@given(logs=valid_logs(), radius=st.floats(0.5, 40), blur=st.sampled_from([0.0, 0.7, 2.0]),
       weighting=st.sampled_from(["none", "linear", "exponential"]))
def test_valid_logs_give_one_map_per_image_that_sums_to_one(logs, radius, blur, weighting):
    trials_rows, click_rows = logs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        trials, clicks, qc = ingest(write_logs(folder, trials_rows, click_rows))
        assert len(trials) == len(trials_rows) and len(clicks) == len(click_rows) and qc.empty
        assert trials["correct"].tolist() == [r["response"] == LABELS[r["image_id"]]
                                              for r in trials_rows]
        assert trials["n_clicks"].sum() == len(clicks)
        # As the workflow passes them on: written by ingest_humans, read back by human_maps.
        io.write_csv(trials, folder / "valid_trials.csv")
        io.write_csv(clicks, folder / "valid_clicks.csv")
        trials, clicks = read_validated(folder / "valid_trials.csv", folder / "valid_clicks.csv")
    # Ids read back as written, "NA" and "None" included (no click lost in grouping).
    for column in ("participant_id", "trial_id", "image_id"):
        assert trials[column].tolist() == [r[column] for r in trials_rows]
    assert sorted(zip(clicks["participant_id"], clicks["trial_id"], clicks["click_index"])) == \
        sorted((r["participant_id"], r["trial_id"], int(r["click_index"])) for r in click_rows)
    maps = human_maps(trials, clicks, S, radius, blur, order_weighting=weighting)
    assert sorted(maps) == sorted({r["image_id"] for r in trials_rows})
    for m in maps.values():
        assert m.shape == (S, S) and m.dtype == np.float32
        assert np.isfinite(m).all() and (m >= 0).all()
        assert m.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-5)


# --------------------------------------------------------------------------- invalid click logs

#: One broken field: (file, column, how) -> the bad cell, from the valid row and a draw.
CELL_MUTATIONS = {
    "x_outside": ("clicks", "x", lambda row, draw: draw(
        st.sampled_from(["-0.5", number(row["_width"] + 0.25), "1e9"]))),
    "y_outside": ("clicks", "y", lambda row, draw: draw(
        st.sampled_from(["-3", number(row["_height"] + 1), "-1e-3"]))),
    "negative_click_index": ("clicks", "click_index",
                             lambda row, draw: str(-draw(st.integers(1, 10**6)))),
    "fractional_click_index": ("clicks", "click_index", lambda row, draw: "1.5"),
    "response_not_an_option": ("trials", "response", lambda row, draw: draw(st.sampled_from(
        [e for e in EXPRESSIONS if e not in (row["option_a"], row["option_b"])] + ["yes"]))),
    "option_outside_the_run": ("trials", "option_b", lambda row, draw: draw(st.sampled_from(
        ["fear", "contempt", "Happy", "smile"]))),
    "unknown_image": ("trials", "image_id", lambda row, draw: draw(st.sampled_from(
        ["img9", "faces/img1", "IMG1"]))),
}
NON_FINITE = ["nan", "NaN", "inf", "-inf", "", "abc", "1,5", "12px", "0x10"]
NUMERIC = {"clicks": ["click_index", "x", "y", "t_ms"], "trials": ["rt_ms"]}
REQUIRED = {"trials": list(TRIAL_COLUMNS), "clicks": list(CLICK_COLUMNS)}


@st.composite
def invalid_logs(draw):
    """A valid log with one field broken; returns the rows, the columns of both files, the file
    and column the message must name, and the bad value."""
    trials, clicks = draw(valid_logs())
    columns = {"trials": [*TRIAL_COLUMNS, *[c for c in ("stimulus_width", "stimulus_height")
                                            if c in trials[0]]],
               "clicks": list(CLICK_COLUMNS)}
    kind = draw(st.sampled_from(["cell", "not_a_number", "duplicate_click_index",
                                 "missing_column"]))
    if kind == "missing_column":
        which = draw(st.sampled_from(["trials", "clicks"]))
        column = draw(st.sampled_from(REQUIRED[which]))
        columns[which] = [c for c in columns[which] if c != column]
        return trials, clicks, columns, which, column, None
    if kind == "duplicate_click_index":
        first = draw(st.sampled_from(clicks))
        copy = {**first, "x": "0", "y": "0"}
        clicks = [*clicks, copy]
        return trials, clicks, columns, "clicks", "click_index", first["click_index"]
    if kind == "not_a_number":
        which = draw(st.sampled_from(["trials", "clicks"]))
        column = draw(st.sampled_from(NUMERIC[which]))
        value = draw(st.sampled_from(NON_FINITE))
    else:
        which, column, bad = CELL_MUTATIONS[draw(st.sampled_from(list(CELL_MUTATIONS)))]
    rows = trials if which == "trials" else clicks
    i = draw(st.integers(0, len(rows) - 1))
    row = dict(rows[i])
    if kind == "cell":
        trial = next(t for t in trials if (t["participant_id"], t["trial_id"])
                     == (row["participant_id"], row["trial_id"]))
        size = {"_width": float(trial.get("stimulus_width") or DEFAULT_STIMULUS),
                "_height": float(trial.get("stimulus_height") or DEFAULT_STIMULUS)}
        value = bad({**row, **size}, draw)
    row[column] = value
    rows = [*rows[:i], row, *rows[i + 1:]]
    if which == "trials":
        trials = rows
    else:
        clicks = rows
    return trials, clicks, columns, which, column, value


@examples(200)
@given(case=invalid_logs())
def test_a_broken_field_is_always_rejected_naming_file_column_and_value(case):
    trials, clicks, columns, which, column, value = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_logs(folder, trials, clicks, columns["trials"], columns["clicks"])
        with pytest.raises(HumanDataError) as err:
            ingest(paths)
        path = str(paths[0] if which == "trials" else paths[1])
        lines = str(err.value).splitlines()
        if value is None:  # a missing column: a file-level error on the header line
            assert any(path in line and "missing column(s)" in line and repr(column) in line
                       for line in lines), str(err.value)
            return
        assert any(path in line and f"column {column!r}" in line and f"(value {value!r})" in line
                   for line in lines), (column, value, str(err.value))
        # Dropping instead: the broken row goes (or nothing valid is left), never a crash.
        try:
            kept_trials, kept_clicks, qc = ingest(paths, on_invalid="drop")
        except HumanDataError as dropped:
            assert "no valid trial left" in str(dropped)
        else:
            assert qc["n_rows"].sum() >= 1
            assert len(kept_trials) + len(kept_clicks) < len(trials) + len(clicks)


# --------------------------------------------------------------------------- similarity metrics

@st.composite
def map_pairs(draw, min_side: int = 2, max_side: int = 10):
    """Two batches of float32 maps (N, H, W) (CAM is not rectified: negative values too) and
    fixations with at least one clicked and one unclicked pixel per image."""
    n = draw(st.integers(1, 3))
    shape = (n, draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side)))
    values = st.one_of(
        st.floats(-1e4, 1e4, width=32, allow_subnormal=True),
        st.sampled_from([0.0, 1.0]),  # ties and constant maps
    )
    pred = draw(hnp.arrays(np.float32, shape, elements=values))
    ref = draw(hnp.arrays(np.float32, shape, elements=values))
    fix = draw(hnp.arrays(bool, shape))
    flat = fix.reshape(n, -1)  # a view
    flat[:, 0], flat[:, -1] = True, False
    return pred, ref, fix


FAST_METRICS = [name for name in METRICS if name != "emd"]


@examples(200)
@given(maps=map_pairs())
def test_metrics_give_finite_scores_in_their_ranges(maps):
    pred, ref, fix = maps
    for name in FAST_METRICS:
        scores = METRICS[name].fn(pred, ref, fix)
        assert scores.shape == (len(pred),) and np.isfinite(scores).all(), (name, scores)
    for name in ("cc", "spearman"):
        assert (np.abs(METRICS[name].fn(pred, ref)) <= 1).all()
    for name in ("sim", "iou_top10", "auc_judd"):
        scores = METRICS[name].fn(pred, ref, fix)
        assert ((scores >= 0) & (scores <= 1 + 1e-12)).all(), (name, scores)  # sums round
    assert (METRICS["kl"].fn(pred, ref) >= -1e-9).all()  # a divergence


@examples(10)
@given(maps=map_pairs(max_side=6))
def test_emd_is_finite_non_negative_and_zero_for_identical_maps(maps):
    pred, ref, _ = maps
    assert (METRICS["emd"].fn(pred, ref) >= -1e-9).all()
    np.testing.assert_allclose(METRICS["emd"].fn(ref, ref), 0, atol=1e-6)


@examples(200)
@given(maps=map_pairs())
def test_identities_of_the_metric_definitions(maps):
    pred, ref, _ = maps
    constant = np.ptp(ref.reshape(len(ref), -1), axis=1) == 0
    # A map against itself: perfect correlation (0 by convention for a constant map), full
    # overlap, no divergence.
    for name in ("cc", "spearman"):
        np.testing.assert_allclose(METRICS[name].fn(ref, ref), np.where(constant, 0, 1), atol=1e-9)
    np.testing.assert_allclose(METRICS["sim"].fn(ref, ref), 1, atol=1e-9)
    np.testing.assert_allclose(METRICS["kl"].fn(ref, ref), 0, atol=1e-9)
    # Symmetric metrics.
    for name in ("cc", "spearman", "sim", "iou_top10"):
        np.testing.assert_allclose(METRICS[name].fn(pred, ref), METRICS[name].fn(ref, pred),
                                   atol=1e-9, err_msg=name)


@examples(200)
@given(maps=map_pairs(), a=st.integers(0, 8), b=st.integers(0, 8))
def test_metrics_are_invariant_to_positive_scaling_of_either_map(maps, a, b):
    """cc, spearman, sim (min-max normalised), kl (maps read as distributions), nss (z-scored),
    auc_judd (ranks) and iou_top10 (percentiles) do not change when a map is multiplied by a
    positive number (powers of two, upwards: exact in floating point even for subnormal values,
    so no ties are made or broken)."""
    pred, ref, fix = maps
    scaled_pred, scaled_ref = pred * np.float32(2.0**a), ref * np.float32(2.0**b)
    for name in FAST_METRICS:
        np.testing.assert_allclose(METRICS[name].fn(scaled_pred, scaled_ref, fix),
                                   METRICS[name].fn(pred, ref, fix), rtol=1e-9, atol=1e-9,
                                   err_msg=name)
