"""Model-free attention maps: maps from outside (external), planted densities, recovery ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferattention.attention import (
    ExternalMapError,
    attention_density,
    center_gaussian,
    load_external_maps,
    region_hypothesis_maps,
)
from ferattention.humans import simulate_observers
from ferattention.labels import REGIONS
from ferattention.recovery import rank_methods, recovery_verdicts

S = 16


def blob(size: int, row: float, col: float, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / (2 * sigma**2)).astype(np.float32)


# ------------------------------------------------------------------------------ external maps

def test_npz_maps_of_any_size_are_resized_and_extra_keys_ignored(tmp_path):
    big = blob(64, 16, 48, sigma=8)                       # peak in the upper right quarter
    np.savez(tmp_path / "m.npz", **{"a": big, "faces/b": np.ones((S, S)), "unused": big})
    maps, qc = load_external_maps("deepgaze", tmp_path / "m.npz", ["a", "faces/b"], S)
    assert list(maps) == ["a", "faces/b"] and qc.empty
    assert maps["a"].shape == (S, S) and maps["a"].dtype == np.float32
    assert np.unravel_index(np.argmax(maps["a"]), (S, S)) in {(3, 11), (3, 12), (4, 11), (4, 12)}
    # A bilinear shrink of a smooth map keeps its mean value (antialiased, no aliasing).
    assert maps["a"].mean() == pytest.approx(big.mean(), rel=0.02)
    np.testing.assert_array_equal(maps["faces/b"], np.ones((S, S), np.float32))


def test_folder_of_npy_and_png_with_ids_as_subfolders(tmp_path):
    (tmp_path / "faces").mkdir()
    np.save(tmp_path / "a.npy", blob(S, 4, 4)[None])      # (1, H, W): one channel
    Image.fromarray((255 * blob(32, 24, 8, 4)).astype(np.uint8)).convert("RGB").save(
        tmp_path / "faces" / "b.png")
    maps, _ = load_external_maps("tool", tmp_path, ["a", "faces/b"], S)
    np.testing.assert_allclose(maps["a"], blob(S, 4, 4))
    assert np.unravel_index(np.argmax(maps["faces/b"]), (S, S)) in {(11, 3), (11, 4), (12, 3),
                                                                    (12, 4)}


@pytest.mark.parametrize("bad, problem", [
    (None, "no map"),
    (np.zeros((2, 3, S)), "must be 2-D"),
    (np.full((S, S), np.nan), "NaN or infinite"),
    (-np.ones((S, S)), "total -256"),
    (np.zeros((S, S)), "total 0"),
])
def test_invalid_maps_are_named_or_dropped(tmp_path, bad, problem):
    arrays = {"good": np.ones((S, S))}
    if bad is not None:
        arrays["img7"] = bad
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(ExternalMapError, match=rf"'tool' \(.*m\.npz\): image 'img7': .*{problem}"):
        load_external_maps("tool", tmp_path / "m.npz", ["good", "img7"], S)
    maps, qc = load_external_maps("tool", tmp_path / "m.npz", ["good", "img7"], S,
                                  on_invalid="drop")
    assert list(maps) == ["good"]
    assert qc["image_id"].tolist() == ["img7"] and problem in qc["problem"].iloc[0]


def test_unreadable_files_are_errors_naming_them(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(ExternalMapError, match="image 'x'"):
        load_external_maps("tool", tmp_path, ["x"], S)
    (tmp_path / "maps.csv").write_text("a,b\n")
    with pytest.raises(ExternalMapError, match="maps.csv: expected an .npz file or a folder"):
        load_external_maps("tool", tmp_path / "maps.csv", ["x"], S)
    with pytest.raises(ExternalMapError, match="does not exist"):
        load_external_maps("tool", tmp_path / "missing.npz", ["x"], S)


# ------------------------------------------------------------------------------ planted sources

def test_attention_densities():
    assert attention_density("regions", ["a"], S) is None
    center = attention_density("center", ["a", "b"], S, center_sigma=0.2)
    np.testing.assert_allclose(center["a"], center_gaussian(S, S, 0.2) / center_gaussian(S, S, 0.2).sum(),
                               rtol=1e-6)
    uniform = attention_density("uniform", ["a"], S)["a"]
    assert np.all(uniform == 1 / S**2)
    cam = {"a": blob(S, 3, 3) - 0.5, "b": -np.ones((S, S))}          # negative parts, all negative
    method = attention_density("cam", ["a", "b"], S, method_maps=cam)
    assert method["a"].sum() == pytest.approx(1) and method["a"].min() == 0
    assert np.all(method["b"] == 1 / S**2)
    with pytest.raises(ValueError, match="no map for image 'c'"):
        attention_density("cam", ["a", "c"], S, method_maps=cam)


def face_masks(size: int) -> np.ndarray:
    masks = np.zeros((len(REGIONS), size, size), dtype=np.uint8)
    masks[REGIONS.index("brows"), 8:10, 8:24] = 1
    masks[REGIONS.index("eyes"), 11:14, 8:24] = 1
    masks[REGIONS.index("nose"), 15:20, 14:18] = 1
    masks[REGIONS.index("mouth"), 22:25, 10:22] = 1
    return masks


def test_simulated_clicks_follow_the_planted_attention():
    size, stimulus = 32, 128
    trials = pd.DataFrame({"trial_id": ["t1", "t2"], "image_id": ["a", "b"],
                           "option_a": ["happy", "sad"], "option_b": ["sad", "happy"],
                           "label": ["happy", "sad"]})
    diagnostic = pd.DataFrame([(a, b, r, w) for a, b in (("happy", "sad"), ("sad", "happy"))
                               for r, w in zip(REGIONS, (0.1, 0.1, 0.1, 0.7))],
                              columns=["expression_a", "expression_b", "region", "weight"])
    masks = {"a": face_masks(size), "b": face_masks(size)}
    corner = {"a": blob(size, 4, 27, 1.5), "b": blob(size, 27, 4, 1.5)}   # far from the mouth
    _, clicks = simulate_observers(trials, masks, diagnostic, size, 6, 0, stimulus, 8.0,
                                   params={"max_clicks": 10}, attention=corner)
    _, regions_clicks = simulate_observers(trials, masks, diagnostic, size, 6, 0, stimulus, 8.0,
                                           params={"max_clicks": 10})
    scale = stimulus / size
    for tid, (row, col) in (("t1", (4, 27)), ("t2", (27, 4))):
        c = clicks[clicks["trial_id"] == tid]
        near = np.hypot(c["y"] / scale - row, c["x"] / scale - col) < 6
        assert near.mean() > 0.8                        # the planted corner, not the face
        r = regions_clicks[regions_clicks["trial_id"] == tid]
        assert (np.hypot(r["y"] / scale - row, r["x"] / scale - col) < 6).mean() < 0.1
    with pytest.raises(ValueError, match="attention map of image 'b'"):
        simulate_observers(trials, masks, diagnostic, size, 2, 0, stimulus, 8.0,
                           attention={"a": corner["a"]})


def test_region_hypothesis_maps_cover_the_named_regions():
    maps = region_hypothesis_maps({"a": face_masks(32)}, ("brows", "eyes"), blur_sigma=1.0)
    m = maps["a"]
    assert m.sum() == pytest.approx(1.0, abs=1e-5)
    eye_region = face_masks(32)[[0, 1]].any(axis=0)
    assert m[eye_region].sum() > 0.6 and m[face_masks(32)[3] > 0].sum() < 0.01
    with pytest.raises(ValueError, match="unknown region"):
        region_hypothesis_maps({"a": face_masks(32)}, ("ears",))


# ------------------------------------------------------------------------------ recovery ranks

def test_rank_methods_follows_the_metric_direction_and_verdicts():
    summary = pd.DataFrame({
        "source": "gradcam", "model": "m",
        "method": ["cam", "gradcam", "center"] * 2,
        "metric": ["spearman"] * 3 + ["kl"] * 3,
        "mean": [0.5, 0.9, 0.5, 2.0, 1.0, 3.0],
        "normalized": [0.3, 0.95, 0.3, np.nan, np.nan, np.nan],
        "planted": [False, True, False] * 2,
    })
    summary["rank"] = rank_methods(summary)
    assert summary["rank"].tolist() == [2, 1, 2, 2, 1, 3]   # ties share the best rank; kl: lower wins
    verdicts = recovery_verdicts(summary)
    assert verdicts[["metric", "method", "rank", "winner", "recovered"]].values.tolist() == [
        ["spearman", "gradcam", 1, "gradcam", True]]
