"""Tests of ferattention.similarity against hand-computed values and reference implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ferattention import similarity as sm
from ferattention.similarity import METRICS


def _gauss(h: int, w: int, cy: float, cx: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))


def _one(a) -> np.ndarray:
    """A single (H, W) map as a batch of one."""
    return np.asarray(a, dtype=float)[None]


RNG = np.random.default_rng(1234)
A = RNG.random((6, 12, 12))
B = RNG.random((6, 12, 12))
FIX = RNG.random((6, 12, 12)) < 0.1
FIX[:, 0, 0] = True  # every image has at least one fixation


def _call(name: str, pred, ref, fix=FIX):
    return METRICS[name].fn(pred, ref, fix if METRICS[name].needs_fixations else None)


# ------------------------------------------------------------------ identities and references


def test_identical_maps_reach_the_perfect_score():
    assert np.allclose(sm.cc(A, A), 1)
    assert np.allclose(sm.spearman(A, A), 1)
    assert np.allclose(sm.sim(A, A), 1)
    assert np.allclose(sm.kl(A, A), 0, atol=1e-12)
    assert np.allclose(sm.iou_top10(A, A), 1)
    assert np.allclose(sm.emd(A[:2], A[:2]), 0, atol=1e-9)


def test_cc_and_spearman_match_scipy_per_image():
    quantised = np.round(B * 4)  # many ties: average ranks must match spearmanr
    for i in range(len(A)):
        assert sm.cc(A, B)[i] == pytest.approx(stats.pearsonr(A[i].ravel(), B[i].ravel())[0], abs=1e-12)
        rho = stats.spearmanr(A[i].ravel(), quantised[i].ravel())[0]
        assert sm.spearman(A, quantised)[i] == pytest.approx(rho, abs=1e-12)


@pytest.mark.parametrize("name", list(METRICS))
def test_batch_equals_one_image_at_a_time(name):
    batch = _call(name, A[:3], B[:3], FIX[:3])
    single = [_call(name, A[i : i + 1], B[i : i + 1], FIX[i : i + 1])[0] for i in range(3)]
    assert np.allclose(batch, single, equal_nan=True)


@pytest.mark.parametrize("name", ["spearman", "cc", "sim", "nss", "auc_judd", "iou_top10"])
def test_invariant_to_positive_affine_change_of_the_machine_map(name):
    assert np.allclose(_call(name, 3.0 * A + 2.0, B), _call(name, A, B))


def test_kl_invariant_to_scale_and_independent_of_sign_shift():
    assert np.allclose(sm.kl(5.0 * A, B), sm.kl(A, B))
    zero_min = A - A.min(axis=(1, 2), keepdims=True)
    assert np.allclose(sm.kl(zero_min - 3.0, B), sm.kl(zero_min, B))  # negative maps are shifted


# ------------------------------------------------------------------ hand-computed small cases


def test_cc_sim_by_hand_2x2():
    pred, ref = _one([[0, 1], [0, 1]]), _one([[0, 1], [1, 1]])
    # centred: p = (-.5, .5, -.5, .5), r = (-.75, .25, .25, .25): 0.5 / sqrt(1 * 0.75)
    assert sm.cc(pred, ref)[0] == pytest.approx(1 / np.sqrt(3))
    # distributions (0, 1/2, 0, 1/2) and (0, 1/3, 1/3, 1/3): intersection 2/3
    assert sm.sim(pred, ref)[0] == pytest.approx(2 / 3)
    assert sm.sim(pred + 2, ref)[0] == pytest.approx(2 / 3)  # min-max normalised first


def test_kl_by_hand_2x2():
    a, n = 0.01, 4  # the uniform mixture: P' = 0.99 P + 0.0025
    assert sm.KL_UNIFORM_MIX == a
    # KL(uniform || 0.99 (1,1,1,5)/8 + 0.0025) = 3 * .25 log(.25 / .12625) + .25 log(.25 / .62125)
    pred, ref = _one([[1, 1], [1, 5]]), _one([[1, 1], [1, 1]])
    assert sm.kl(pred, ref)[0] == pytest.approx(0.75 * np.log(0.25 / 0.12625) + 0.25 * np.log(0.25 / 0.62125))
    # machine mass exactly 0 where half the human mass is: finite, set by the mixture
    # Q' = (.4975, .4975, .0025, .0025), P' = (.9925, .0025, .0025, .0025)
    pred, ref = _one([[1, 0], [0, 0]]), _one([[1, 1], [0, 0]])
    expected = 0.4975 * np.log(0.4975 / 0.9925) + 0.4975 * np.log(0.4975 / 0.0025)
    assert sm.kl(pred, ref)[0] == pytest.approx(expected, rel=1e-12)
    assert a / n == 0.0025


def test_kl_of_a_clamped_plateau_map_is_finite_and_equals_the_hand_value():
    # 8 x 8: the machine map is a flat plateau on the left half and exactly 0 (clamped) on the
    # right; the human map is uniform on a 4 x 4 block straddling both halves.
    pred = np.zeros((8, 8))
    pred[:, :4] = 3.0
    ref = np.zeros((8, 8))
    ref[2:6, 2:6] = 1.0
    u = 0.01 / 64
    p_left, p_right = 0.99 / 32 + u, u
    q_in, q_out = 0.99 / 16 + u, u
    expected = (8 * q_in * np.log(q_in / p_left) + 8 * q_in * np.log(q_in / p_right)
                + 24 * q_out * np.log(q_out / p_left) + 24 * q_out * np.log(q_out / p_right))
    got = sm.kl(_one(pred), _one(ref))[0]
    assert np.isfinite(got) and got == pytest.approx(expected, rel=1e-12)
    # all mass on disjoint pixels, the worst case, stays below log(1 + 0.99 n / 0.01)
    one_hot = np.arange(64).reshape(8, 8)
    worst = sm.kl(_one(one_hot == 0), _one(one_hot == 63))[0]
    assert np.isfinite(worst) and worst <= np.log(1 + 0.99 * 64 / 0.01)


def test_nss_by_hand_2x2():
    # values (0, 0, 0, 4): mean 1, sample sd 2 -> z = (-.5, -.5, -.5, 1.5)
    pred = _one([[0, 0], [0, 4]])
    assert sm.nss(pred, pred, _one([[0, 0], [0, 1]]).astype(bool))[0] == pytest.approx(1.5)
    assert sm.nss(pred, pred, _one([[1, 0], [0, 1]]).astype(bool))[0] == pytest.approx(0.5)


def test_auc_judd_by_hand_2x3():
    # sorted: .9(F) .7 .5 .3(F) .2 .1 -> points (0,0) (0,.5) (.5,1) (1,1): area .375 + .5
    pred = _one([[0.9, 0.1, 0.5], [0.3, 0.7, 0.2]])
    fix = _one([[1, 0, 0], [1, 0, 0]]).astype(bool)
    assert sm.auc_judd(pred, pred, fix)[0] == pytest.approx(0.875)


def test_auc_judd_ties_use_every_pixel_at_or_above_the_threshold():
    # threshold 1 includes both tied pixels: (0,0) -> (1/3, 1) -> (1, 1): area 1/6 + 2/3
    pred = _one([[1, 1], [0, 0]])
    fix = _one([[1, 0], [0, 0]]).astype(bool)
    assert sm.auc_judd(pred, pred, fix)[0] == pytest.approx(5 / 6)


def _mit_auc_judd(s: np.ndarray, f: np.ndarray) -> float:
    """Literal port of MIT's AUC_Judd loop (without jitter) for maps without ties."""
    s, f = s.ravel(), f.ravel()
    sth = np.sort(s[f])[::-1]
    n_fix, n_px = len(sth), len(s)
    tp, fp = np.zeros(n_fix + 2), np.zeros(n_fix + 2)
    tp[-1] = fp[-1] = 1
    for i, thresh in enumerate(sth, start=1):
        above = np.sum(s >= thresh)
        tp[i] = i / n_fix
        fp[i] = (above - i) / (n_px - n_fix)
    return float(np.trapezoid(tp, fp))


def test_auc_judd_matches_the_mit_loop_without_ties():
    got = sm.auc_judd(A, A, FIX)
    assert np.allclose(got, [_mit_auc_judd(A[i], FIX[i]) for i in range(len(A))])


def test_iou_top10_by_hand_4x5():
    pred = np.arange(20.0).reshape(4, 5)  # 90th percentile 17.1 -> top pixels 18, 19
    ref = pred.copy()
    ref.flat[0] = 100.0  # percentile 18.1 -> top pixels 0 and 19
    assert sm.iou_top10(_one(pred), _one(ref))[0] == pytest.approx(1 / 3)
    assert sm.iou_top10(_one(pred), _one(pred[::-1, ::-1]))[0] == 0.0


def _harmonization_iou(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The Harmonization code's IoU: pixels strictly above the 90th percentile (reference)."""
    p, r = p.reshape(len(p), -1), r.reshape(len(r), -1)
    tp = p > np.percentile(p, 90, axis=1, keepdims=True)
    tr = r > np.percentile(r, 90, axis=1, keepdims=True)
    return (tp & tr).sum(1) / (tp | tr).sum(1)


def test_iou_top10_equals_harmonization_on_maps_without_ties():
    np.testing.assert_allclose(sm.iou_top10(A, B), _harmonization_iou(A, B))
    big_a, big_b = RNG.random((3, 64, 64)), RNG.random((3, 64, 64))
    np.testing.assert_allclose(sm.iou_top10(big_a, big_b), _harmonization_iou(big_a, big_b))
    assert sm.top_count(64 * 64) == 410 and sm.top_count(100) == 10 and sm.top_count(144) == 15


def _expected_iou(plateau: int, inside: int, k: int) -> float:
    """E[I / (2k - I)] when k of a plateau of `plateau` tied pixels are drawn at random and
    `inside` of them are in the other map's (fixed) top k: I is hypergeometric (by hand)."""
    from math import comb

    total = comb(plateau, k)
    return sum(comb(inside, i) * comb(plateau - inside, k - i) / total * i / (2 * k - i)
               for i in range(0, min(inside, k) + 1))


def test_iou_top10_of_a_plateau_map_is_its_expectation_over_tie_breaks():
    # 10 x 10 maps, k = 10. The machine map has a flat top plateau of 20 pixels; the human map's
    # top 10 pixels lie inside it. I ~ Hypergeometric(20, 10, 10).
    ref = np.arange(100.0).reshape(10, 10)  # top 10: the last row
    pred = np.zeros((10, 10)) - np.arange(100.0).reshape(10, 10) / 1000  # distinct, below the plateau
    pred[8:, :] = 1.0                       # plateau: last two rows
    want = _expected_iou(20, 10, 10)
    assert 0.2 < want < 0.4  # the strict-percentile code gives 0: nothing is above the plateau
    got = sm.iou_top10(_one(pred), _one(ref), draws=20000)[0]
    assert got == pytest.approx(want, abs=0.003)
    # raster order does not matter: the same plateau flipped scores the same
    flipped = sm.iou_top10(_one(pred[::-1, ::-1]), _one(ref[::-1, ::-1]), draws=20000)[0]
    assert flipped == pytest.approx(want, abs=0.003)
    # a constant map scores chance: I ~ Hypergeometric(100, 10, 10)
    chance = sm.iou_top10(_one(np.zeros((10, 10))), _one(ref), draws=20000)[0]
    assert chance == pytest.approx(_expected_iou(100, 10, 10), abs=0.003)
    # seeded: the same call gives the same value; and symmetric in its two maps
    assert sm.iou_top10(_one(pred), _one(ref))[0] == sm.iou_top10(_one(pred), _one(ref))[0]
    both = sm.iou_top10(_one(pred), _one(np.zeros((10, 10))))[0]
    assert both == sm.iou_top10(_one(np.zeros((10, 10))), _one(pred))[0]


def test_emd_moves_mass_by_the_shift_in_pixels():
    # 16 x 16 maps on a 16-cell grid: one pixel per cell
    a, b = np.zeros((16, 16)), np.zeros((16, 16))
    a[2, 3], b[2, 8] = 1.0, 1.0
    assert sm.emd(_one(a), _one(b))[0] == pytest.approx(5.0, abs=1e-6)
    # 64 x 64 maps: 4-pixel cells; a shift of two cells is 8 pixels of the input map
    a, b = np.zeros((64, 64)), np.zeros((64, 64))
    a[0:4, 0:4], b[0:4, 8:12] = 1.0, 1.0
    assert sm.emd(_one(a), _one(b))[0] == pytest.approx(8.0, abs=1e-6)


# ------------------------------------------------------------------ shifted and constant maps


def test_scores_worsen_as_a_blob_moves_away():
    ref = _gauss(32, 32, 16, 16, 3)[None]
    shifts = [0, 2, 4, 8]
    pred = np.stack([_gauss(32, 32, 16, 16 + s, 3) for s in shifts])
    refs = np.repeat(ref, len(shifts), axis=0)
    fix = np.zeros_like(refs, dtype=bool)
    fix[:, 15:18, 15:18] = True
    for name, metric in METRICS.items():
        if name == "emd":
            continue
        scores = metric.fn(pred, refs, fix)
        steps = np.diff(scores)
        if metric.higher_is_better:
            assert np.all(steps <= 1e-12), (name, scores)
            assert scores[0] > scores[-1], (name, scores)
        else:
            assert np.all(steps >= -1e-12) and scores[0] < scores[-1], (name, scores)


@pytest.mark.parametrize("value", [0.0, 0.7, -2.0])
def test_constant_machine_map_conventions(value):
    const = np.full_like(A, value)
    n_px = A[0].size
    assert np.all(sm.cc(const, B) == 0) and np.all(sm.spearman(const, B) == 0)
    assert np.all(sm.nss(const, B, FIX) == 0)
    assert np.allclose(sm.auc_judd(const, B, FIX), 0.5)
    # top-10% IoU of a constant map: chance, E[I / (2k - I)] with I ~ Hypergeometric(144, 15, 15)
    chance = sm.iou_top10(const, B, draws=4000)
    assert np.allclose(chance, _expected_iou(144, 15, 15), atol=0.004)
    # a constant map is the uniform distribution (the mixture leaves it uniform):
    # KL = log(P) - H(q'), q' = 0.99 q + 0.01 / P; SIM vs uniform = 1
    q = B.reshape(len(B), -1) / B.reshape(len(B), -1).sum(axis=1, keepdims=True)
    q = 0.99 * q + 0.01 / n_px
    assert np.allclose(sm.kl(const, B), np.log(n_px) - stats.entropy(q, axis=1), atol=1e-9)
    assert np.allclose(sm.sim(const, np.ones_like(B)), 1)
    assert np.allclose(sm.sim(const, B), np.minimum(1 / n_px, sm._minmax_distribution(B.reshape(6, -1))).sum(1))


def test_fixation_metrics_edge_cases_are_nan():
    no_fix = np.zeros_like(FIX)
    all_fix = np.ones_like(FIX)
    assert np.all(np.isnan(sm.nss(A, B, no_fix))) and np.all(np.isnan(sm.auc_judd(A, B, no_fix)))
    assert np.all(np.isnan(sm.auc_judd(A, B, all_fix)))


# ------------------------------------------------------------------ registry and directions


def test_registry_direction_flags():
    higher = {n for n, m in METRICS.items() if m.higher_is_better}
    assert higher == {"spearman", "cc", "sim", "nss", "auc_judd", "iou_top10"}
    assert {n for n, m in METRICS.items() if m.needs_fixations} == {"nss", "auc_judd"}
    assert set(sm.DEFAULT_METRICS) == set(METRICS) - {"emd"}
    assert all(name == m.name and m.description for name, m in METRICS.items())


def test_directions_agree_with_a_good_and_a_bad_map():
    ref = _gauss(24, 24, 8, 8, 2)[None]
    good, bad = ref.copy(), _gauss(24, 24, 18, 18, 2)[None]
    fix = np.zeros_like(ref, dtype=bool)
    fix[0, 7:10, 7:10] = True
    for name, m in METRICS.items():
        g, b = m.fn(good, ref, fix)[0], m.fn(bad, ref, fix)[0]
        assert (g > b) if m.higher_is_better else (g < b), (name, g, b)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="needs the human fixation"):
        sm.nss(A, B)
    with pytest.raises(ValueError, match="needs the human fixation"):
        sm.auc_judd(A, B, None)
    with pytest.raises(ValueError, match="differ in shape"):
        sm.cc(A, B[:, :5])
    with pytest.raises(ValueError, match="non-finite"):
        sm.cc(np.where(A > 0.99, np.nan, A), B)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        sm.sim(A[0], B[0])


# ------------------------------------------------------------------ similarity_table


def test_similarity_table_long_format_matches_the_metrics():
    machine = {f"happy/img_{i}": A[i] for i in range(4)}
    human = {f"happy/img_{i}": B[i] for i in range(1, 6)}  # img_0 has no human map: skipped
    fixations = {f"happy/img_{i}": FIX[i] for i in range(6)}
    table = sm.similarity_table(machine, human, fixations, ["cc", "nss"])
    assert list(table.columns) == ["image_id", "metric", "value"]
    assert len(table) == 6 and set(table.image_id) == {"happy/img_1", "happy/img_2", "happy/img_3"}
    cc_rows = table[table.metric == "cc"].set_index("image_id")["value"]
    assert cc_rows["happy/img_2"] == pytest.approx(sm.cc(A[2:3], B[2:3])[0])
    nss_rows = table[table.metric == "nss"].set_index("image_id")["value"]
    assert nss_rows["happy/img_3"] == pytest.approx(sm.nss(A[3:4], B[3:4], FIX[3:4])[0])
    default = sm.similarity_table(machine, human, fixations)
    assert list(pd.unique(default.metric)) == list(sm.DEFAULT_METRICS)


def test_similarity_table_errors():
    machine, human = {"a": A[0]}, {"a": B[0]}
    with pytest.raises(ValueError, match="unknown similarity metric"):
        sm.similarity_table(machine, human, None, ["pearson"])
    with pytest.raises(ValueError, match="no image_id has both"):
        sm.similarity_table(machine, {"b": B[0]}, None, ["cc"])
    with pytest.raises(ValueError, match="need fixation maps"):
        sm.similarity_table(machine, human, None, ["cc", "auc_judd"])
    with pytest.raises(ValueError, match="no fixation map for image_id"):
        sm.similarity_table(machine, human, {"z": FIX[0]}, ["nss"])
    with pytest.raises(ValueError, match="image_id 'a'"):
        sm.similarity_table(machine, {"a": B[0, :5]}, None, ["cc"])


# ------------------------------------------------------------------ facial regions


def _region_masks(n: int = 1, size: int = 8) -> np.ndarray:
    """Four disjoint horizontal bands: brows rows 0-1, eyes 2-3, nose 4-5, mouth row 6; row 7 rest."""
    masks = np.zeros((n, 4, size, size), np.uint8)
    for r, rows in enumerate((slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 7))):
        masks[:, r, rows] = 1
    return masks


def test_region_shares_map_on_the_mouth_and_uniform_map():
    from ferattention.similarity import region_shares

    masks = _region_masks(3)
    maps = np.zeros((3, 8, 8))
    maps[0, 6] = 5.0                         # all on the mouth
    maps[2] = -2.0                           # constant: uniform, the regions' areas
    maps[1] = -1.0
    maps[1, 7] = 3.0                         # CAM-like, negative elsewhere: min-shift -> all on 'rest'
    shares = region_shares(maps, masks)
    np.testing.assert_allclose(shares[0], [0, 0, 0, 1, 0])
    np.testing.assert_allclose(shares[1], [0, 0, 0, 0, 1])
    np.testing.assert_allclose(shares[2], [16 / 64, 16 / 64, 16 / 64, 8 / 64, 8 / 64])
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


def test_region_shares_checks_inputs():
    from ferattention.similarity import region_shares

    masks = _region_masks()
    with pytest.raises(ValueError, match="overlap"):
        region_shares(np.ones((1, 8, 8)), np.concatenate([masks[:, :1], masks[:, :3]], axis=1))
    with pytest.raises(ValueError, match="same N, H, W"):
        region_shares(np.ones((2, 8, 8)), masks)


def test_region_table_long_format_area_rows_and_empty():
    from ferattention.similarity import REGION_COLUMNS, region_table

    masks = {"a": _region_masks()[0], "b": _region_masks()[0]}
    mouth = np.zeros((8, 8), np.float32)
    mouth[6] = 1.0
    table = region_table({("human", "human"): {"a": mouth, "b": mouth}}, masks,
                         ("brows", "eyes", "nose", "mouth"))
    assert tuple(table.columns) == REGION_COLUMNS and len(table) == 2 * 2 * 5
    human = table[table.agent == "human"].set_index(["image_id", "region"])["share"]
    assert human[("a", "mouth")] == pytest.approx(1.0)
    area = table[table.agent == "area"].set_index(["image_id", "region"])["share"]
    assert area[("b", "brows")] == pytest.approx(0.25) and (table[table.agent == "area"].method
                                                             == "uniform").all()
    assert region_table({("human", "human"): {"a": mouth}}, {}, ("brows",)).empty
    with pytest.raises(ValueError, match="no masks for image_id 'c'"):
        region_table({("human", "human"): {"c": mouth}}, masks, ("brows", "eyes", "nose", "mouth"))


def test_region_table_per_source_without_area_concatenates_to_the_whole():
    from ferattention.similarity import region_table

    masks = {"a": _region_masks()[0]}
    rng = np.random.default_rng(0)
    sources = {("human", "human"): {"a": rng.random((8, 8))},
               ("model:m", "cam"): {"a": rng.normal(size=(8, 8))}}
    names = ("brows", "eyes", "nose", "mouth")
    whole = region_table(sources, masks, names)
    parts = pd.concat([region_table({k: v}, masks, names, include_area=(i == 0))
                       for i, (k, v) in enumerate(sources.items())], ignore_index=True)
    pd.testing.assert_frame_equal(whole.sort_values(["agent", "region"]).reset_index(drop=True),
                                  parts.sort_values(["agent", "region"]).reset_index(drop=True))


# ------------------------------------------------------------------ the shuffled baseline


def test_shuffle_partners_is_a_seeded_derangement_within_each_expression():
    labels = {f"img{i:02d}": ["happy", "sad", "fear"][i % 3] for i in range(30)}
    labels["lonely"] = "contempt"  # the only image of its expression
    for seed in range(20):
        partners = sm.shuffle_partners(labels, seed)
        assert set(partners) == set(labels)
        assert partners["lonely"] is None
        paired = {i: j for i, j in partners.items() if j is not None}
        assert all(i != j for i, j in paired.items())                   # never its own map
        assert all(labels[i] == labels[j] for i, j in paired.items())   # same expression
        assert sorted(paired.values()) == sorted(paired)                # each map used once
    assert sm.shuffle_partners(labels, 3) == sm.shuffle_partners(dict(reversed(labels.items())), 3)
    assert sm.shuffle_partners(labels, 3) != sm.shuffle_partners(labels, 4)
    two = sm.shuffle_partners({"a": "x", "b": "x"}, 0)
    assert two == {"a": "b", "b": "a"}


def test_shuffled_similarity_scores_each_image_with_its_partners_map():
    ids = [f"i{k}" for k in range(7)]
    labels = {i: "happy" if k < 4 else "sad" for k, i in enumerate(ids)}
    labels["i6"] = "fear"  # alone: NaN
    # machine maps = the human maps, so a method scores 1 against itself; shuffled never does
    human = {i: RNG.random((12, 12)) for i in ids}
    machine = {i: human[i].copy() for i in ids}
    table, alone = sm.shuffled_similarity_table(machine, human, None, labels, ["cc"], seed=1)
    assert alone == ["i6"]
    assert list(table["image_id"]) == ids and list(table.columns) == ["image_id", "metric", "value"]
    partners = sm.shuffle_partners(labels, 1)
    for _, row in table.iterrows():
        j = partners[row["image_id"]]
        if j is None:
            assert np.isnan(row["value"])
        else:
            assert row["value"] < 0.99
            want = sm.cc(human[j][None], human[row["image_id"]][None])[0]
            assert row["value"] == pytest.approx(want)
    with pytest.raises(ValueError, match="no expression label for image_id 'i0'"):
        sm.shuffled_similarity_table(machine, human, None, {}, ["cc"])


def test_instance_table_is_the_per_method_tables_one_after_the_other(tmp_path):
    from ferattention import io

    rng = np.random.default_rng(7)
    ids = [f"{label}/img_{k}" for label in ("happy", "sad") for k in range(4)] + ["fear/img_0"]
    labels = {i: i.split("/")[0] for i in ids}  # fear/img_0 is alone: NaN in shuffled_*
    human = {i: rng.random((10, 10)) for i in ids if i != "sad/img_3"}  # one image unseen
    fixations = {i: rng.random((10, 10)) < 0.15 for i in ids}
    maps = {method: {i: rng.normal(size=(10, 10)) for i in ids}
            for method in ("gradcam", "center", "cam", "random_model_cam")}
    maps["center"] = {i: np.full((10, 10), 0.5) for i in ids}  # a constant map
    metrics = ["spearman", "cc", "nss", "auc_judd", "iou_top10"]

    table, alone = sm.instance_similarity_table(maps, human, fixations, labels, metrics, seed=3)

    # what the former jobs wrote, one per method, then one per shuffled attention method
    parts = [sm.similarity_table(m, human, fixations, metrics).assign(method=name)
             for name, m in maps.items()]
    for name in ("gradcam", "cam"):  # the attention methods, in the given order
        shuffled, lone = sm.shuffled_similarity_table(maps[name], human, fixations, labels,
                                                      metrics, seed=3)
        parts.append(shuffled.assign(method=f"shuffled_{name}"))
        assert alone[f"shuffled_{name}"] == lone == ["fear/img_0"]
    want = pd.concat(parts, ignore_index=True)[["image_id", "method", "metric", "value"]]
    assert list(alone) == ["shuffled_gradcam", "shuffled_cam"]
    assert list(pd.unique(table["method"])) == [*maps, "shuffled_gradcam", "shuffled_cam"]
    assert table["value"].isna().sum() == 2 * len(metrics)  # fear/img_0 in both shuffled sets
    pd.testing.assert_frame_equal(table, want, check_exact=True)
    assert np.array_equal(table["value"].to_numpy(), want["value"].to_numpy(), equal_nan=True)
    # tables/similarity.csv as rule similarity_table wrote it from the former per-method files
    # (columns as their scripts inserted them) and as it writes it from the one file
    def written(frames, name):
        paths = []
        for k, frame in enumerate(frames):
            frame = frame.copy()
            frame.insert(1, "model", "m")
            frame.insert(2, "seed", 0)
            paths.append(tmp_path / f"{name}-{k}.csv")
            io.write_csv(frame[["image_id", "model", "seed", "method", "metric", "value"]],
                         paths[-1])
        io.write_csv(pd.concat([io.read_table(p) for p in paths], ignore_index=True),
                     tmp_path / f"{name}.csv")
        return (tmp_path / f"{name}.csv").read_bytes()

    assert written(parts, "parts") == written([table], "one")

    with pytest.raises(ValueError, match="no map set"):
        sm.instance_similarity_table({}, human, fixations, labels, metrics)


@pytest.mark.parametrize("name", ["spearman", "auc_judd"])
def test_metrics_in_row_blocks_equal_one_call_to_the_bit(name, monkeypatch):
    rng = np.random.default_rng(3)
    pred = rng.random((23, 8, 8))
    pred[:5] = np.round(pred[:5], 1)          # ties
    pred[5] = 0.25                            # a constant map
    ref = rng.random((23, 8, 8))
    fix = rng.random((23, 8, 8)) < 0.2
    fn = METRICS[name].fn
    assert hasattr(fn, "__wrapped__")         # the registry holds the blocked metric
    whole = fn.__wrapped__(pred, ref, fix)    # one call on all 23 maps
    monkeypatch.setattr(sm, "ROW_BLOCK", 4)  # 6 blocks, the last one of 3 maps
    blocked = fn(pred, ref, fix)
    assert blocked.shape == (23,)
    np.testing.assert_array_equal(blocked, whole)


def test_metrics_in_row_blocks_name_the_index_in_the_whole_input(monkeypatch):
    monkeypatch.setattr(sm, "ROW_BLOCK", 4)
    pred, ref = np.ones((10, 3, 3)), np.random.default_rng(0).random((10, 3, 3))
    pred[7, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"pred has non-finite values in image\(s\) at index \[7\]"):
        METRICS["auc_judd"].fn(pred, ref, ref > 0.5)
    with pytest.raises(ValueError, match=r"fixations \(9, 3, 3\) must have the maps' shape \(10, 3, 3\)"):
        METRICS["auc_judd"].fn(ref, ref, ref[:9] > 0.5)
