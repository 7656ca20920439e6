"""Tests of ferattention.stats on data with known effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

from ferattention import stats as fs
from ferattention import verdicts as fv

N_BOOT = 999


# ------------------------------------------------------------------ bootstrap


def test_bootstrap_ci_covers_the_mean_and_matches_the_normal_interval():
    x = np.random.default_rng(0).normal(10, 2, size=400)
    low, high = fs.bootstrap_ci(x, n_boot=N_BOOT, seed=1)
    assert low < x.mean() < high
    t_low, t_high = st.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    assert (high - low) == pytest.approx(t_high - t_low, rel=0.15)


def test_bootstrap_ci_shrinks_with_n_and_is_reproducible():
    rng = np.random.default_rng(2)
    small, large = rng.normal(size=25), rng.normal(size=2500)
    w_small = np.subtract(*fs.bootstrap_ci(small, n_boot=N_BOOT, seed=0)[::-1])
    w_large = np.subtract(*fs.bootstrap_ci(large, n_boot=N_BOOT, seed=0)[::-1])
    assert w_large < w_small / 5  # sqrt(100) = 10 in expectation
    assert fs.bootstrap_ci(small, n_boot=N_BOOT, seed=3) == fs.bootstrap_ci(small, n_boot=N_BOOT, seed=3)


def test_bootstrap_ci_degenerate_inputs():
    assert np.isnan(fs.bootstrap_ci([])).all()
    assert np.isnan(fs.bootstrap_ci([0.7])).all()
    assert fs.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    low, high = fs.bootstrap_ci([1.0, 2.0, 3.0, 10.0], stat=lambda v: float(np.median(v)), n_boot=199)
    assert 1.0 <= low <= 2.5 <= high <= 10.0  # a statistic without an axis argument works too
    with pytest.raises(ValueError, match="finite"):
        fs.bootstrap_ci([1.0, np.nan])


def test_cluster_ci_is_wider_than_a_trial_bootstrap_when_images_cluster():
    # 20 images x 10 trials; every trial of an image has the same outcome (maximal dependence)
    ids = np.repeat([f"img{i}" for i in range(20)], 10)
    correct = np.repeat(np.arange(20) % 2 == 0, 10)
    c_low, c_high = fs.cluster_accuracy_ci(correct, ids, N_BOOT, 0)
    t_low, t_high = fs.bootstrap_ci(correct.astype(float), n_boot=N_BOOT, seed=0)
    assert c_low < 0.5 < c_high
    assert (c_high - c_low) > 2 * (t_high - t_low)  # sqrt(10) in expectation
    assert np.isnan(fs.cluster_accuracy_ci(correct[:10], ids[:10])).all()  # one image


# ------------------------------------------------------------------ accuracy


def _trials(n_images: int = 24, per_image: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"happy/img_{i}" for i in range(n_images)], per_image)
    human = np.ones(ids.size, dtype=bool)  # humans always right
    model = rng.random(ids.size) < 0.5  # model at chance
    return ids, human, model


def test_accuracy_table_counts_and_cis():
    ids, human, model = _trials()
    table = fs.accuracy_table(
        pd.DataFrame({"trial_id": range(ids.size), "image_id": ids, "correct": human}),
        {"compact": pd.DataFrame({"image_id": ids, "correct": model.astype(int)})},
        n_boot=N_BOOT, seed=0,
    )
    assert tuple(table.columns) == fs.ACCURACY_COLUMNS
    assert list(table.agent) == ["human", "model:compact"]
    assert list(table.n_trials) == [ids.size, ids.size]
    assert list(table.n_correct) == [ids.size, int(model.sum())]
    assert table.accuracy.iloc[1] == pytest.approx(model.mean())
    assert (table.ci_low.iloc[0], table.ci_high.iloc[0]) == (1.0, 1.0)
    assert table.ci_low.iloc[1] < model.mean() < table.ci_high.iloc[1]


def test_accuracy_table_bad_input():
    frame = pd.DataFrame({"image_id": ["a", "b"], "correct": [True, "yes"]})
    with pytest.raises(ValueError, match="row 1 has 'yes'"):
        fs.accuracy_table(frame, {})
    with pytest.raises(ValueError, match=r"trials of model:m lacks column\(s\) \['image_id'\]"):
        fs.accuracy_table(frame.iloc[:1], {"m": pd.DataFrame({"correct": [True]})})


def test_humans_right_model_at_chance_is_a_significant_paired_difference():
    ids, human, model = _trials()
    table = fs.compare_accuracy(human, {"compact": model, "same": human.copy()}, ids)
    assert tuple(table.columns) == fs.STATS_COLUMNS
    rows = table.set_index(["test", "comparison"])
    mc = rows.loc[("mcnemar_exact", "human vs model:compact")]
    wrong = int((~model).sum())  # discordant pairs, all of them human-right/model-wrong
    assert mc.p_value == pytest.approx(st.binomtest(0, wrong, 0.5).pvalue)
    assert mc.p_value < 1e-10 and mc.effect_size == pytest.approx(0.5) and mc.n == ids.size
    wx = rows.loc[("wilcoxon_signed_rank", "human vs model:compact")]
    assert wx.p_value < 1e-3 and wx.effect_size == pytest.approx(1.0) and wx.n == 24
    diff = rows.loc[("accuracy_difference", "human vs model:compact")]
    assert diff.statistic == pytest.approx(1 - model.mean()) and np.isnan(diff.p_value)
    for test in ("mcnemar_exact", "wilcoxon_signed_rank"):  # identical answers: no difference
        same = rows.loc[(test, "human vs model:same")]
        assert same.p_value == pytest.approx(1.0) and same.effect_size == 0
    mc_rows = table[table.test == "mcnemar_exact"]
    assert np.allclose(mc_rows.p_adjusted, multipletests(mc_rows.p_value, method="holm")[1])


def test_compare_accuracy_direction_flips_when_the_model_is_better():
    ids, human, model = _trials(seed=5)
    table = fs.compare_accuracy(model, {"oracle": human}, ids).set_index("test")
    assert table.loc["mcnemar_exact", "effect_size"] == pytest.approx(-0.5)
    assert table.loc["wilcoxon_signed_rank", "effect_size"] == pytest.approx(-1.0)
    assert table.loc["accuracy_difference", "statistic"] < 0


def test_compare_accuracy_needs_aligned_trials():
    ids, human, model = _trials()
    with pytest.raises(ValueError, match="align the model's answers"):
        fs.compare_accuracy(human, {"m": model[:-1]}, ids)


# ------------------------------------------------------------------ methods


def _similarity(shift: dict[str, float], n_images: int = 30, seed: int = 0, metric: str = "spearman"):
    """Long similarity frame: per image a shared base plus each method's shift and small noise."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.3, 0.1, n_images)
    frames = [
        pd.DataFrame({
            "image_id": [f"img{i}" for i in range(n_images)], "model": "compact", "method": method,
            "metric": metric, "value": base + s + rng.normal(0, 0.02, n_images),
        })
        for method, s in shift.items()
    ]
    return pd.concat(frames, ignore_index=True)


def test_clearly_better_method_wins_friedman_and_every_pair_after_holm():
    sim = _similarity({"cam": 0.0, "gradcam": 0.0, "extremal_perturbation": 0.2, "center": 0.0})
    table = fs.compare_methods(sim)
    assert tuple(table.columns) == fs.STATS_COLUMNS
    fried = table[table.test == "friedman"].iloc[0]
    assert fried.comparison == "compact/spearman: cam, gradcam, extremal_perturbation, center"
    assert fried.p_value < 1e-6 and fried.effect_size > 0.4 and fried.p_adjusted == fried.p_value
    pairs = table[table.test == "wilcoxon_signed_rank"].set_index("comparison")
    assert len(pairs) == 6
    for other in ("cam", "gradcam"):
        row = pairs.loc[f"compact/spearman: {other} vs extremal_perturbation"]
        assert row.p_adjusted < 1e-4 and row.effect_size == -1.0
    row = pairs.loc["compact/spearman: extremal_perturbation vs center"]
    assert row.p_adjusted < 1e-4 and row.effect_size == 1.0
    assert np.allclose(pairs.p_adjusted, multipletests(pairs.p_value, method="holm")[1])
    # pairs of equal methods are not significant; scipy gives the same test directly
    row = pairs.loc["compact/spearman: cam vs gradcam"]
    wide = sim.pivot(index="image_id", columns="method", values="value")
    ref = st.wilcoxon(wide["cam"], wide["gradcam"])
    assert (row.statistic, row.p_value) == pytest.approx((ref.statistic, ref.pvalue))
    assert row.p_adjusted > 0.05


def test_identical_methods_show_no_difference():
    sim = _similarity({"cam": 0.0, "gradcam": 0.0, "extremal_perturbation": 0.0})
    base = sim[sim.method == "cam"].value.to_numpy()
    for method in ("gradcam", "extremal_perturbation"):
        sim.loc[sim.method == method, "value"] = base
    table = fs.compare_methods(sim)
    assert np.allclose(table.p_value, 1.0) and np.allclose(table.p_adjusted, 1.0)
    assert np.all(table.effect_size == 0) and np.all(table.statistic == 0)


def test_kendalls_w_is_one_under_perfect_agreement():
    sim = _similarity({"a": 0.0, "b": 1.0, "c": 2.0})  # every image ranks a < b < c
    fried = fs.compare_methods(sim).query("test == 'friedman'").iloc[0]
    assert fried.effect_size == pytest.approx(1.0)
    assert fried.statistic == pytest.approx(30 * 2)  # chi2 = n (k - 1) when W = 1


def test_methods_against_floor_and_upper_bound():
    sim = _similarity({"cam": 0.0, "extremal_perturbation": 0.1}, metric="cc")
    ep = sim[sim.method == "extremal_perturbation"].set_index("image_id").value
    reliability = pd.DataFrame({
        "image_id": ep.index, "metric": "cc", "lower": ep.to_numpy() - 0.1, "upper": ep.to_numpy(),
        "floor": ep.to_numpy() - 0.5,
    })
    table = fs.compare_methods(sim, reliability).set_index("comparison")
    assert "friedman" not in set(table.test)  # two methods: the pairwise test says it all
    at_ceiling = table.loc["compact/cc: extremal_perturbation vs upper"]
    assert at_ceiling.p_value == 1.0 and at_ceiling.effect_size == 0
    below = table.loc["compact/cc: cam vs upper"]
    assert below.p_value < 1e-4 and below.effect_size == -1.0
    above = table.loc["compact/cc: cam vs floor"]
    assert above.p_value < 1e-4 and above.effect_size == 1.0 and above.n == 30
    ceil_rows = table[table.index.str.endswith("vs upper")]
    assert np.allclose(ceil_rows.p_adjusted, fs.holm(ceil_rows.p_value))
    with pytest.raises(ValueError, match="no rows for metric 'cc'"):
        fs.compare_methods(sim, reliability.assign(metric="kl"))


def test_complete_cases_and_duplicate_rows():
    sim = _similarity({"cam": 0.0, "gradcam": 0.1, "extremal_perturbation": 0.2})
    sim.loc[(sim.method == "cam") & (sim.image_id == "img0"), "value"] = np.nan
    assert set(fs.compare_methods(sim).n) == {29}
    with pytest.raises(ValueError, match="repeats image_id 'img0'"):
        fs.compare_methods(pd.concat([sim, sim.iloc[:1]], ignore_index=True))


def test_holm_equals_statsmodels_on_random_families():
    """holm is written out (statsmodels' multipletests collects garbage on every call); the values
    must be statsmodels' exactly, ties and p-values near 1 included, NaN left out of the family."""
    rng = np.random.default_rng(0)
    for m in (1, 2, 3, 7, 40):
        for _ in range(50):
            p = rng.choice([rng.uniform(0, 1), 0.01, 0.5, 0.9], size=m) * rng.uniform(0, 1, m) ** 2
            p[rng.uniform(size=m) < 0.2] = 0.03                         # ties
            assert np.array_equal(fs.holm(p), multipletests(p, method="holm")[1])
            with_nan = np.insert(p, 0, np.nan)
            assert np.isnan(fs.holm(with_nan)[0])
            assert np.array_equal(fs.holm(with_nan)[1:], multipletests(p, method="holm")[1])
    assert fs.holm([]).shape == (0,)


def test_holm_and_rank_biserial_by_hand():
    assert np.allclose(fs.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert np.allclose(fs.holm([0.02, np.nan]), [0.02, np.nan], equal_nan=True)
    # differences (1, 2, -3, 4): ranks 1..4, T+ = 7, T- = 3 -> (7 - 3) / 10
    assert fs.rank_biserial([1, 2, 0, 4], [0, 0, 3, 0]) == pytest.approx(0.4)


# ------------------------------------------------------------------ summary and table


def test_summarise_similarity_normalises_by_floor_and_upper_bound():
    sim = pd.DataFrame({
        "image_id": ["a", "b", "c", "d"] * 2, "model": "compact", "method": "cam",
        "metric": ["cc"] * 4 + ["kl"] * 4, "value": [0.4, 0.6, 0.5, np.nan, 1.0, 0.8, 1.2, 1.0],
    })
    reliability = pd.DataFrame({
        "image_id": ["a", "b", "c", "d", "zz"] * 2, "metric": ["cc"] * 5 + ["kl"] * 5,
        "lower": [0.8, 0.8, 0.8, 0.0, 5.0] + [np.nan] * 5,
        "upper": [0.9, 0.9, 0.9, 0.0, 5.0] + [np.nan] * 5,
        "floor": [0.1, 0.1, 0.1, 0.0, 5.0, 2.0, 2.0, 2.0, 2.0, 9.0],
    })
    table = fs.summarise_similarity(sim, reliability, n_boot=N_BOOT, seed=0).set_index("metric")
    assert tuple(table.reset_index().columns) == ("metric",) + tuple(
        c for c in fs.SUMMARY_COLUMNS if c != "metric"
    )
    cc = table.loc["cc"]  # image d has no value; image zz is not in the similarity table
    assert cc["mean"] == pytest.approx(0.5) and cc.ci_low <= 0.5 <= cc.ci_high
    assert (cc.floor, cc.lower, cc.upper) == pytest.approx((0.1, 0.8, 0.9))
    assert cc.normalized == pytest.approx((0.5 - 0.1) / (0.9 - 0.1))
    # the CI resamples images: the three values 0.4, 0.5, 0.6 bound it
    assert (0.4 - 0.1) / 0.8 <= cc.normalized_low <= cc.normalized <= cc.normalized_high <= (0.6 - 0.1) / 0.8
    kl = table.loc["kl"]  # no upper bound for KL: floor only, no normalised score
    assert kl.floor == pytest.approx(2.0) and np.isnan(kl.upper) and np.isnan(kl.normalized)
    no_rel = fs.summarise_similarity(sim, None, n_boot=N_BOOT)
    assert no_rel.upper.isna().all() and no_rel.normalized.isna().all()


def test_normalized_score_by_hand():
    value, floor, upper = np.array([0.5, 0.7]), np.array([0.2, 0.4]), np.array([0.8, 0.8])
    point, low, high = fs.normalized_score(value, floor, upper, n_boot=200, seed=0)
    assert point == pytest.approx((0.6 - 0.3) / (0.8 - 0.3))
    # two images: the bootstrap draws (a, a), (a, b), (b, b): 0.5, 0.6, 0.75
    assert low == pytest.approx(0.5) and high == pytest.approx(0.75)


def test_stats_table_concatenates_and_checks_columns():
    ids, human, model = _trials()
    acc = fs.compare_accuracy(human, {"compact": model}, ids)
    met = fs.compare_methods(_similarity({"a": 0.0, "b": 0.1, "c": 0.2}))
    table = fs.stats_table(acc, met)
    assert tuple(table.columns) == fs.STATS_COLUMNS and len(table) == len(acc) + len(met)
    with pytest.raises(ValueError, match="expected"):
        fs.stats_table(acc.drop(columns="n"))


# ------------------------------------------------------------------ breakdowns


def _expression_trials(n_images: int = 12, per_image: int = 6):
    """Humans always right; the model is always right on 'happy' images and at chance elsewhere."""
    rng = np.random.default_rng(3)
    labels = np.repeat(["anger", "happy"], n_images * per_image)
    ids = np.array([f"{lab}/img_{i // per_image}" for i, lab in enumerate(labels)])
    human = np.ones(ids.size, dtype=bool)
    model = np.where(labels == "happy", True, rng.random(ids.size) < 0.5)
    return ids, labels, human, model


def test_breakdown_finds_the_effect_in_its_group_only():
    ids, labels, human, model = _expression_trials()
    table = fs.compare_accuracy_by(human, {"m": model}, ids, labels, "expression")
    rows = table.set_index(["test", "comparison"])
    anger = rows.loc[("mcnemar_exact", "human vs model:m [expression=anger]")]
    happy = rows.loc[("mcnemar_exact", "human vs model:m [expression=happy]")]
    assert anger.p_value < 1e-6 and anger.effect_size == pytest.approx(0.5)
    assert happy.p_value == pytest.approx(1.0) and happy.effect_size == 0
    assert anger.n == happy.n == 72
    wx = table[table.test == "wilcoxon_signed_rank"]
    assert np.allclose(wx.p_adjusted, multipletests(wx.p_value, method="holm")[1])
    diff = rows.loc[("accuracy_difference", "human vs model:m [expression=happy]")]
    assert diff.statistic == 0


def test_pair_label_is_unordered():
    assert fs.pair_label("happy", "anger") == fs.pair_label("anger", "happy") == "anger/happy"


def test_accuracy_by_group_counts():
    ids, labels, human, model = _expression_trials()
    trials = pd.concat([
        pd.DataFrame({"agent": "human", "image_id": ids, "label": labels, "correct": human}),
        pd.DataFrame({"agent": "model:m", "image_id": ids, "label": labels, "correct": model}),
    ])
    table = fs.accuracy_by_group(trials, "label", n_boot=N_BOOT).set_index(["agent", "label"])
    assert list(table.index) == [("human", "anger"), ("human", "happy"), ("model:m", "anger"),
                                 ("model:m", "happy")]
    assert table.loc[("model:m", "happy"), "accuracy"] == 1.0
    anger = table.loc[("model:m", "anger")]
    assert anger.n_trials == 72 and anger.accuracy == pytest.approx(model[labels == "anger"].mean())
    assert anger.ci_low < anger.accuracy < anger.ci_high


def test_compare_methods_by_expression_scopes_and_groups():
    sim = _similarity({"cam": 0.0, "gradcam": 0.0, "extremal_perturbation": 0.2}, n_images=20)
    groups = {f"img{i}": ("anger" if i < 10 else "happy") for i in range(20)}
    table = fs.compare_methods_by(sim, groups)
    fried = table[table.test == "friedman"].set_index("comparison")
    assert list(fried.index) == [
        "compact/spearman [expression=anger]: cam, gradcam, extremal_perturbation",
        "compact/spearman [expression=happy]: cam, gradcam, extremal_perturbation"]
    assert (fried.n == 10).all() and (fried.p_value < 0.01).all()
    with pytest.raises(ValueError, match="image_id 'img19' has no expression"):
        fs.compare_methods_by(sim, {k: v for k, v in groups.items() if k != "img19"})


# ------------------------------------------------------------------ verdict on question 2


def test_is_baseline_names_every_control():
    assert all(fs.is_baseline(m) for m in ("center", "random_model", "random_model_cam",
                                           "shuffled_gradcam", "shuffled_deepgaze"))
    assert not any(fs.is_baseline(m) for m in ("cam", "gradcam", "extremal_perturbation",
                                               "deepgaze", "centered_cam"))


@pytest.mark.parametrize("shifts, verdict, best", [
    # planted: EP clearly above every baseline and the runner-up
    ({"cam": 0.0, "extremal_perturbation": 0.2, "center": -0.1, "shuffled_cam": -0.1,
      "shuffled_extremal_perturbation": 0.05, "random_model_cam": -0.2}, "most_human_like",
     "extremal_perturbation"),
    # the best method is no better than the centre bias
    ({"cam": 0.0, "gradcam": 0.1, "center": 0.1, "shuffled_gradcam": -0.1}, "not_better_than_baselines",
     "gradcam"),
    # both methods beat the baselines but not each other
    ({"cam": 0.2, "gradcam": 0.2, "center": 0.0, "shuffled_cam": 0.0}, "best_two_tied", None),
])
def test_attention_verdicts_on_planted_differences(shifts, verdict, best):
    sim = _similarity(shifts)
    verdicts, tests = fv.attention_verdicts(sim, None, "spearman", higher_is_better=True,
                                            n_boot=500)
    (v,) = verdicts.to_dict("records")
    assert v["verdict"] == verdict and v["n_images"] == 30
    if best:
        assert v["best"] == best
    n_baselines = sum(fs.is_baseline(m) for m in shifts)
    assert len(tests) == n_baselines + 1            # every baseline and the runner-up
    assert np.allclose(tests["p_adjusted"], fs.holm(tests["p_value"]))
    # direction and test agree: a beaten comparison has the best ahead
    assert (tests["statistic"][tests["p_adjusted"] < 0.05] > 0).all() or verdict != "most_human_like"
    assert tests["comparison"].str.startswith(f"compact/spearman [verdict]: {v['best']} vs ").all()


def test_attention_verdicts_follow_the_metric_direction():
    sim = _similarity({"cam": 0.0, "gradcam": -0.3, "center": 0.2}, metric="kl")
    (v,) = fv.attention_verdicts(sim, None, "kl", higher_is_better=False,
                                 n_boot=500)[0].to_dict("records")
    assert v["best"] == "gradcam" and v["verdict"] == "most_human_like"


# --------------------------------------------------------------------------------------------
# question 1's decision rule

NAN = float("nan")


@pytest.mark.parametrize("p, difference, log_or, ci, expected", [
    # the test rejects, both effects and the interval agree: a winner on the accuracies' side
    (0.01, 0.05, 0.8, (0.02, 0.08), ("humans better", False)),
    (0.01, -0.05, -0.8, (-0.08, -0.02), ("model better", False)),
    # no rejection: never a winner, whatever the interval says
    (0.05, 0.05, 0.8, (0.02, 0.08), ("no significant difference", False)),
    (NAN, 0.05, 0.8, (0.02, 0.08), ("no significant difference", False)),
    (0.01, 0.0, 0.8, (-0.01, 0.01), ("no significant difference", False)),
    # a model right on most images and wrong on a few: odds ratio and accuracies disagree
    (0.001, 0.036, -5.2, (0.013, 0.059), ("directions differ", False)),
    # the test rejects, the interval holds 0 (on its end, too): flagged, no winner
    (0.01, 0.05, 0.8, (-0.01, 0.11), ("no significant difference", True)),
    (0.01, 0.05, 0.8, (0.0, 0.11), ("no significant difference", True)),
    # no interval (no accuracy_tests.csv) and no odds ratio (a secondary test): the test decides
    (0.01, -0.05, NAN, (NAN, NAN), ("model better", False)),
])
def test_accuracy_verdict_decides_question_one(p, difference, log_or, ci, expected):
    assert fs.accuracy_verdict(p, difference, 0.05, log_or, ci) == expected
    assert expected[0] in fs.ACCURACY_VERDICTS


def test_accuracy_verdict_uses_the_given_alpha():
    assert fs.accuracy_verdict(0.02, 0.05, alpha=0.01)[0] == "no significant difference"
    assert fs.accuracy_verdict(0.02, 0.05, alpha=0.05)[0] == "humans better"


@pytest.mark.parametrize("log_or_ci, ci, expected", [
    # both intervals exclude 0, on opposite sides: the directions differ
    ((-6.0, -4.4), (0.013, 0.059), ("directions differ", False)),
    # the accuracy difference's interval holds 0: no side, flagged (not "directions differ")
    ((-6.0, -4.4), (-0.01, 0.059), ("no significant difference", True)),
    # the odds ratio's interval holds 0
    ((-6.0, 0.3), (0.013, 0.059), ("no significant difference", True)),
])
def test_directions_differ_only_when_both_intervals_exclude_zero(log_or_ci, ci, expected):
    assert fs.accuracy_verdict(0.001, 0.036, 0.05, -5.2, ci, log_or_ci) == expected


def test_wilcoxon_columns_equal_one_call_per_column():
    # scipy picks one method for a whole matrix; the column groups must reproduce each call alone:
    # zeros, tied ranks, small n (exact and permutation) and no ties at all
    rng = np.random.default_rng(0)
    for n in (5, 12, 18, 60):
        d = np.round(rng.normal(size=(n, 12)), 1)
        d[:, 0] = 0.0
        d[0, 1:4] = 0.0
        d[:, 4] = np.arange(n) + 1.0
        d[:, 5] = rng.normal(size=n)
        w, p, r = fs._wilcoxon_columns(d)
        for j in range(d.shape[1]):
            expected = fs._wilcoxon(d[:, j], np.zeros(n))
            np.testing.assert_allclose((w[j], p[j], r[j]), expected, rtol=1e-12, atol=0)
