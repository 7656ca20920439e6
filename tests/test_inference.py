"""Tests of the mixed model (ferattention.mixed), the crossed bootstrap and error consistency."""

from __future__ import annotations

import os
import shutil
import subprocess
import numpy as np
import pandas as pd
import pytest

from ferattention import agreement, mixed, stats
from ferattention.bench.inference import Design, intercepts, simulate

SMALL = Design(participants=12, images=96)


@pytest.fixture(scope="module")
def planted():
    """A data set with humans 8 points more accurate than the model, and its fit."""
    trials = simulate(SMALL, 0.08, seed=11)
    frame = mixed.comparison_frame(trials, "model:sim")
    return trials, frame, mixed.fit_mixed_logit(frame)


@pytest.fixture(scope="module")
def tests_table(planted):
    return mixed.accuracy_tests(planted[0])


def test_mixed_model_recovers_a_planted_difference(planted, tests_table):
    _, frame, fit = planted
    b_h, b_m = intercepts(SMALL, 0.08)
    assert abs(fit.log_odds_ratio - (b_h - b_m)) < 2 * fit.se  # the planted log odds ratio
    assert fit.p_value < 0.05 and fit.log_odds_ratio > 0
    row = tests_table.iloc[0]  # the planted 8 points are an accuracy difference
    assert row.difference_ci_low < 8 < row.difference_ci_high
    assert 0.2 < fit.sd_image < 2.0  # true image SD 1
    assert fit.n_human_trials == 12 * 96 and fit.n_model_trials == frame["human"].eq(0).sum()


def test_mixed_model_finds_no_difference_under_the_null():
    trials = simulate(SMALL, 0.0, seed=3)
    fit = mixed.fit_mixed_logit(mixed.comparison_frame(trials, "model:sim"))
    assert fit.p_value > 0.05
    row = mixed.accuracy_tests(trials).iloc[0]
    assert row.difference_ci_low < 0 < row.difference_ci_high


def test_difference_is_the_accuracy_difference_with_a_paired_crossed_interval(planted, tests_table):
    """The table's difference is human minus model accuracy on the same trials, and its
    interval is the crossed bootstrap of the per-trial differences (one draw of participants and
    images for both agents), not a difference of the two accuracies' intervals."""
    trials = planted[0]
    h = trials[trials.agent == "human"].reset_index(drop=True)
    m = trials[trials.agent == "model:sim"].reset_index(drop=True)
    assert (h.trial_id == m.trial_id).all()
    row = tests_table.iloc[0]
    assert row.difference_pp == pytest.approx(100 * (h.correct.mean() - m.correct.mean()))
    assert row.human_accuracy - row.model_accuracy == pytest.approx(row.difference_pp / 100)
    d = h.correct.to_numpy(float) - m.correct.to_numpy(float)
    low, high = stats.crossed_bootstrap_ci(d, h.participant_id.to_numpy(), h.image_id.to_numpy(),
                                           2000, 0)
    assert (row.difference_ci_low, row.difference_ci_high) == pytest.approx((100 * low, 100 * high))
    # the pairing narrows it: humans and model share the image draws
    h_ci = stats.crossed_bootstrap_ci(h.correct, h.participant_id, h.image_id, 2000, 0)
    m_ci = stats.crossed_bootstrap_ci(m.correct, m.participant_id, m.image_id, 2000, 0)
    assert high - low < (h_ci[1] - h_ci[0]) + (m_ci[1] - m_ci[0])


def test_difference_keeps_its_sign_where_the_model_errs_on_few_images():
    """Planted: humans 5 points more accurate overall, the model's own image deviations wide
    (SD 2.5), so the model is better on a typical image (b1 < 0) and fails badly on a few. The
    difference must be the accuracy difference: positive, its interval around the planted 5.
    A difference read off the model at w = 0 came out negative here (module docstring)."""
    design = Design(participants=12, images=96, sd_image_agent=2.5)
    trials = simulate(design, 0.05, seed=5)
    row = mixed.accuracy_tests(trials).iloc[0]
    assert row.log_odds_ratio < 0  # the conditional odds ratio favours the model
    assert row.difference_pp > 0 and row.difference_ci_low < 5 < row.difference_ci_high


GLMER = """
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1], colClasses = c(participant = "character", image_agent = "character"))
d$has_participant <- as.numeric(d$participant != "")
d$is_model <- 1 - d$human
fit <- glmer({formula}, data = d, family = binomial)
se_rx <- sqrt(suppressWarnings(vcov(fit, use.hessian = FALSE))[2, 2])
cat(fixef(fit)[["human"]], sqrt(vcov(fit)[2, 2]), se_rx, "\\n")
"""


def test_laplace_mode_does_not_depend_on_the_start_near_separation():
    """A model right on 98.6% of its answers, its errors on a few images, at a large intercept:
    the random effects' conditional mode (inner Newton) is the same from any start and the
    gradient of the log joint vanishes there. Undamped Newton overshot here, even from 0, and
    the Laplace value was off by more than 1,000 log units (the fit then stalled for minutes)."""
    trials = simulate(Design(participants=12, images=96, sd_image_agent=3.9), -0.02, seed=7)
    y, exog, z, ident, _ = mixed._design(mixed.comparison_frame(trials, "model:sim"))
    params = np.array([9.0, -5.5, np.log(0.4), np.log(0.7), np.log(4.0)])
    values, modes = [], []
    for start in (0.0, 10.0, 30.0, -30.0):
        laplace = mixed._Laplace(exog, z, y, ident, n_fe=2)
        laplace.u = np.full(z.shape[1], start)
        values.append(laplace(params))
        modes.append(laplace.u)
    assert np.ptp(values) < 1e-8
    assert np.max(np.ptp(modes, axis=0)) < 1e-6
    eta = exog @ params[:2] + z @ modes[0]
    precision = np.exp(-2 * params[2:])[ident]
    gradient = z.T @ (y - 1 / (1 + np.exp(-eta))) - precision * modes[0]
    assert np.max(np.abs(gradient)) < 1e-6


def test_mixed_model_fits_a_nearly_perfect_model():
    """The default-like design with the model 99.4% correct (errors on 3 of 144 images): the fit
    ends (it took minutes before the inner Newton was damped) and finds the planted sign, the
    model better on a typical image (planted log odds ratio -5.5), within two SEs."""
    design = Design(sd_image_agent=3.9)
    b_h, b_m = intercepts(design, -0.02)
    trials = simulate(design, -0.02, seed=100001)
    assert trials.loc[trials["agent"] == "model:sim", "correct"].mean() > 0.99
    fit = mixed.fit_mixed_logit(mixed.comparison_frame(trials, "model:sim"), seed=1)
    assert np.isfinite(fit.se) and fit.log_odds_ratio < 0
    assert abs(fit.log_odds_ratio - (b_h - b_m)) < 2 * fit.se


def _rscript() -> str:
    path = shutil.which("Rscript")
    ok = path and subprocess.run([path, "-e", "library(lme4)"], capture_output=True).returncode == 0
    if not ok:
        if os.environ.get("CI"):
            pytest.fail("Rscript with lme4 is required in CI (apt-get install r-cran-lme4)")
        pytest.skip("Rscript with lme4 (Debian r-cran-lme4) not installed")
    return path


def test_mixed_model_agrees_with_lme4_glmer(planted, tmp_path):
    """Same data, same model in lme4: both maximise the Laplace approximation of the marginal
    likelihood over fixed effects and variance components (ours adds weak priors), so the fixed
    effect agrees within a tenth of its SE; the SE with the variance components' uncertainty
    (lme4's default vcov, from the Hessian of its deviance) within 5%, and the SE with the
    variance components held fixed (``vcov(use.hessian = FALSE)``) within 10%."""
    rscript = _rscript()
    _, frame, fit = planted
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "fit.R").write_text(GLMER.replace("{formula}", mixed.glmer_formula()))
    out = subprocess.run([rscript, str(tmp_path / "fit.R"), str(tmp_path / "d.csv")],
                         capture_output=True, text=True, check=True, timeout=120)
    beta, se, se_fixed_variances = map(float, out.stdout.split())
    assert abs(fit.log_odds_ratio - beta) < 0.1 * se
    assert fit.se == pytest.approx(se, rel=0.05)
    assert fit.se_conditional == pytest.approx(se_fixed_variances, rel=0.10)
    assert fit.se >= fit.se_conditional


def test_comparison_frame_levels(planted):
    trials, frame, _ = planted
    human = frame[frame["human"] == 1]
    model = frame[frame["human"] == 0]
    assert len(human) == 12 * 96 and (model["participant"] == "").all()
    # one row per answered image and option pair: at most 7 per image, fewer than the trials
    n_pairs = trials[trials.agent == "model:sim"].assign(
        pair=lambda t: t.option_a + t.option_b).drop_duplicates(["image_id", "pair"]).shape[0]
    assert len(model) == n_pairs < 12 * 96
    assert set(model["image_agent"].str.split("@").str[1]) == {"model"}
    view = trials.assign(agent=trials["agent"].replace("model:sim", "model:sim@human_view"))
    vf = mixed.comparison_frame(view, "model:sim@human_view")
    assert (vf.loc[vf.human == 0, "participant"].str.endswith("@model")).all()
    assert (vf.human == 0).sum() == 12 * 96
    bad = trials.copy()
    first = bad.index[bad.agent == "model:sim"]
    dup = bad.loc[first].duplicated(["image_id", "option_b"], keep="first")
    bad.loc[dup[dup].index[0], "correct"] = ~bad.loc[dup[dup].index[0], "correct"]
    with pytest.raises(ValueError, match="differently for different participants"):
        mixed.comparison_frame(bad, "model:sim")


def test_accuracy_tests_table(planted, tests_table):
    _, _, fit = planted
    table = tests_table
    assert tuple(table.columns) == mixed.TEST_COLUMNS
    row = table.iloc[0]
    assert row.comparison == "human vs model:sim" and row.p_adjusted == pytest.approx(row.p_value)
    assert row.log_odds_ratio == pytest.approx(fit.log_odds_ratio)
    assert row.odds_ratio == pytest.approx(np.exp(fit.log_odds_ratio))
    assert row.or_ci_low < row.odds_ratio < row.or_ci_high
    assert 0 <= row.mcnemar_p_value <= 1
    rows = mixed.stats_rows(table)
    assert tuple(rows.columns) == stats.STATS_COLUMNS and rows.test.iloc[0] == "mixed_logit"


# ------------------------------------------------------------------ crossed bootstrap


def _clustered(n_p=10, n_i=30, seed=0, sd_p=0.0, sd_i=0.0):
    rng = np.random.default_rng(seed)
    p = np.repeat(np.arange(n_p), n_i)
    i = np.tile(np.arange(n_i), n_p)
    eta = 1.0 + rng.normal(0, sd_p, n_p)[p] + rng.normal(0, sd_i, n_i)[i]
    return rng.random(p.size) < 1 / (1 + np.exp(-eta)), p, i


def test_crossed_bootstrap_widens_with_participant_variance():
    y, p, i = _clustered(sd_p=2.0, seed=1)
    crossed = np.subtract(*stats.crossed_bootstrap_ci(y, p, i, 999, 0)[::-1])
    by_image = np.subtract(*stats.crossed_bootstrap_ci(y, None, i, 999, 0)[::-1])
    assert crossed > 1.5 * by_image  # participants' spread is in the crossed CI only


def test_crossed_bootstrap_properties():
    y, p, i = _clustered(seed=2)
    low, high = stats.crossed_bootstrap_ci(y, p, i, 999, 0)
    assert low < y.mean() < high
    assert (low, high) == stats.crossed_bootstrap_ci(y, p, i, 999, 0)  # seeded
    # the trials' order does not matter: draws follow the sorted ids
    order = np.random.default_rng(0).permutation(y.size)
    assert (low, high) == pytest.approx(stats.crossed_bootstrap_ci(y[order], p[order], i[order], 999, 0))
    # one participant: the image bootstrap
    assert stats.crossed_bootstrap_ci(y, np.zeros_like(p), i, 999, 0) == pytest.approx(
        stats.crossed_bootstrap_ci(y, None, i, 999, 0))
    assert stats.crossed_bootstrap_ci(np.ones(y.size, bool), p, i, 99, 0) == (1.0, 1.0)
    assert np.isnan(stats.crossed_bootstrap_ci(y[i == 0], p[i == 0], i[i == 0])).all()


def test_crossed_bootstrap_weights_are_products_of_counts():
    # two participants x two images, one trial each: with counts (2, 0) x (1, 1) the resample is
    # participant 0's two trials twice each; check by brute force over many draws
    y = np.array([1.0, 0.0, 1.0, 1.0])  # (p0,i0) (p0,i1) (p1,i0) (p1,i1)
    p, i = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    low, high = stats.crossed_bootstrap_ci(y, p, i, 4000, 0, level=0.999)
    # possible resample accuracies: {0, 1/2, 2/3, 3/4, 1}; p0 twice and i1 twice gives 0
    assert low == 0.0 and high == 1.0
    low, high = stats.crossed_bootstrap_ci(y, p, i, 4000, 0, level=0.5)
    assert 0.5 <= low <= high <= 1.0


# ------------------------------------------------------------------ error consistency


def test_kappa_by_hand():
    # 2x2 table (human right/wrong x model right/wrong) = [[20, 5], [10, 15]], 50 trials:
    # c_obs = 35/50 = 0.7, p_h = 25/50, p_m = 30/50, c_exp = 0.5*0.6 + 0.5*0.4 = 0.5,
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    h = np.array([True] * 25 + [False] * 25)
    m = np.array([True] * 20 + [False] * 5 + [True] * 10 + [False] * 15)
    ec = agreement.error_consistency(h, m)
    assert ec["c_obs"] == pytest.approx(0.7) and ec["c_exp"] == pytest.approx(0.5)
    assert ec["kappa"] == pytest.approx(0.4)
    assert ec["kappa_ci_low"] < 0.4 < ec["kappa_ci_high"]
    assert agreement.error_consistency(h, h)["kappa"] == pytest.approx(1.0)
    assert agreement.error_consistency(h, ~h)["kappa"] == pytest.approx(-1.0)
    assert np.isnan(agreement.error_consistency(np.ones(4, bool), np.ones(4, bool))["kappa"])


def test_kappa_interval_resamples_participants_exactly():
    """3 participants, one identity: the bootstrap's kappa distribution is that of the 10
    multisets of participants (27 ordered draws), computed here by hand from each multiset's
    pooled 2x2 table; the interval lies within its extreme quantiles."""
    from itertools import product

    # participant -> (human correct, model correct) per trial
    h = {"a": [1, 1, 0, 1], "b": [1, 0, 0, 1], "c": [1, 1, 1, 0]}
    m = {"a": [1, 0, 0, 1], "b": [1, 1, 0, 0], "c": [0, 1, 1, 0]}
    people = np.repeat(list(h), 4)
    hh = np.concatenate([h[p] for p in h]).astype(bool)
    mm = np.concatenate([m[p] for p in m]).astype(bool)

    def kappa(draw):
        x = np.concatenate([h[p] for p in draw]).astype(bool)
        y = np.concatenate([m[p] for p in draw]).astype(bool)
        c_obs = np.mean(x == y)
        c_exp = x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean())
        return (c_obs - c_exp) / (1 - c_exp)

    exact = np.array([kappa(d) for d in product("abc", repeat=3)])
    ec = agreement.error_consistency(hh, mm, {"participant": people, "identity": np.zeros(12)},
                                     n_boot=4000, seed=0)
    assert ec["kappa"] == pytest.approx(kappa("abc"))
    assert np.quantile(exact, 0.0) - 1e-12 <= ec["kappa_ci_low"] <= np.quantile(exact, 0.1)
    assert np.quantile(exact, 0.9) <= ec["kappa_ci_high"] <= np.quantile(exact, 1.0) + 1e-12
    # the largest kappa accuracies of 0.667 and 0.5 allow: c_obs = 1 - 1/6 (by hand: 0.667)
    p_h, p_m = hh.mean(), mm.mean()
    c_exp = p_h * p_m + (1 - p_h) * (1 - p_m)
    assert ec["kappa_max"] == pytest.approx((1 - abs(p_h - p_m) - c_exp) / (1 - c_exp))
    assert agreement.max_kappa(0.8, 0.8) == pytest.approx(1.0)


def test_human_kappa_is_one_when_people_err_alike_and_zero_when_at_random():
    rng = np.random.default_rng(0)
    rows = []
    for k in range(10):
        for i in range(40):
            rows.append({"participant_id": f"p{k}", "image_id": f"img{i}", "option_a": "happy",
                         "option_b": "sad", "alike": i % 3 != 0, "random": rng.random() < 0.7})
    t = pd.DataFrame(rows)
    assert agreement.human_error_consistency(t.assign(correct=t["alike"])) == pytest.approx(1.0)
    assert abs(agreement.human_error_consistency(t.assign(correct=t["random"]))) < 0.05


def test_agreement_table_on_simulated_trials(planted):
    trials = planted[0]
    human = trials[trials.agent == "human"]
    copy = human.assign(agent="model:copy")  # a model that errs exactly where humans do
    table = agreement.agreement_table(pd.concat([trials, copy], ignore_index=True)).set_index("agent")
    assert tuple(table.reset_index().columns) == agreement.AGREEMENT_COLUMNS
    assert table.loc["model:copy", "kappa"] == pytest.approx(1.0)
    assert table.loc["model:copy", "kappa_max"] == pytest.approx(1.0)
    sim = table.loc["model:sim"]
    assert sim.kappa_ci_low <= sim.kappa <= sim.kappa_ci_high <= sim.kappa_max
    assert -0.2 < sim.human_kappa < 0.6
    assert table.loc["model:copy", "confusion_r"] == pytest.approx(1.0)
    assert table.loc["model:copy", "n_cells"] == 56  # 8 expressions x 7 foils
    sim = table.loc["model:sim"]  # independent errors given the image: kappa small
    assert abs(sim.kappa) < 0.3 and sim.n_trials == len(human)
    cells = agreement.confusion_cells(trials, "model:sim")
    assert cells.n_trials.sum() == len(human)


# ------------------------------------------------------------------ report and figure


def test_report_answers_rest_on_the_mixed_model(planted, tests_table, tmp_path):
    from ferattention import figures, report

    trials, tests = planted[0], tests_table
    mc = stats.compare_accuracy(trials[trials.agent == "human"]["correct"].to_numpy(),
                                {"sim": trials[trials.agent == "model:sim"]["correct"].to_numpy()},
                                trials[trials.agent == "human"]["image_id"].to_numpy())
    table = stats.stats_table(mc, mixed.stats_rows(tests))  # mixed row last: still the primary
    t = tests.iloc[0]
    accuracy = pd.DataFrame({"agent": ["human", "model:sim"], "n_trials": [1152, 1152],
                             "n_correct": [0, 0], "accuracy": [t.human_accuracy, t.model_accuracy],
                             "ci_low": [0.8, 0.7], "ci_high": [0.9, 0.85]})
    answer = report.accuracy_answers(accuracy, table, mixed_tests=tests)[0]
    assert answer["tests"][0][0] == "mixed_logit" and answer["verdict"] == "humans better"
    assert f"odds ratio on a typical image {t.odds_ratio:.2g}" in answer["sentence"]
    assert (f"difference {t.difference_pp:+.1f} percentage points (95% CI "
            f"{t.difference_ci_low:+.1f} to {t.difference_ci_high:+.1f}, participants and images "
            "resampled)") in answer["sentence"]
    assert "secondary mcnemar_exact" in answer["sentence"]
    agree = agreement.agreement_table(trials)
    sentence = report.agreement_answers(agree)[0]
    assert sentence.startswith("Humans vs model:sim: error consistency kappa")
    png, pdf = figures.plot_agreement(
        agree, {"model:sim": agreement.confusion_cells(trials, "model:sim")}, tmp_path / "a.png")
    assert png.read_bytes().startswith(b"\x89PNG") and pdf.stat().st_size > 1000
