"""The tested answers per network instance and pooled per model (ferattention.verdicts), on
planted cases whose right answer is known."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from ferattention import verdicts as fv

IDENTITIES = {f"id{g}/img{i}": f"id{g}" for g in range(6) for i in range(6)}


def _similarity(means_by_instance, noise=0.02, seed=0):
    """Long similarity rows: instance key -> {method: mean}, one value per image."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, means in means_by_instance.items():
        for image in IDENTITIES:
            for method, mu in means.items():
                rows.append({"image_id": image, "model": key, "method": method,
                             "metric": "spearman", "value": mu + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


def _reliability(floor=0.1, upper=0.9):
    return pd.DataFrame({"image_id": list(IDENTITIES), "metric": "spearman", "lower": upper - 0.1,
                         "upper": upper, "floor": floor})


def _verdicts(sim, rel=None, **kw):
    out, tests = fv.attention_verdicts(sim, _reliability() if rel is None else rel, "spearman",
                                       True, IDENTITIES, n_boot=500, **kw)
    return out.set_index("model"), tests


def test_instances_that_disagree_name_no_pooled_winner():
    sim = _similarity({"m/seed-0": {"cam": 0.5, "gradcam": 0.8, "center": 0.2},
                       "m/seed-1": {"cam": 0.8, "gradcam": 0.5, "center": 0.2}})
    v, _ = _verdicts(sim)
    assert v.at["m/seed-0", "verdict"] == "most_human_like"
    assert v.at["m/seed-0", "best"] == "gradcam"
    assert v.at["m/seed-1", "verdict"] == "most_human_like"
    assert v.at["m/seed-1", "best"] == "cam"
    pooled = v.loc["m"]
    assert pooled["n_instances"] == 2
    assert pooled["verdict"] == "best_two_tied"  # the instance draws span both winners
    assert pooled["difference_ci_low"] < 0 < pooled["difference_ci_high"]
    assert pooled["instances_naming_best"] == 1
    assert sorted(pooled["instance_winners"].split("; ")) == ["cam: 1 of 2", "gradcam: 1 of 2"]


def test_instances_that_agree_name_the_pooled_winner_with_their_share():
    sim = _similarity({f"m/seed-{k}": {"cam": 0.5, "gradcam": 0.8, "center": 0.2}
                       for k in range(3)})
    v, tests = _verdicts(sim)
    pooled = v.loc["m"]
    assert (pooled["verdict"], pooled["best"], pooled["runner_up"]) == (
        "most_human_like", "gradcam", "cam")
    assert pooled["instances_naming_best"] == 3
    assert pooled["instance_winners"] == "gradcam: 3 of 3"
    assert pooled["difference"] == pytest.approx(0.3, abs=0.01)
    assert pooled["difference_ci_low"] <= pooled["difference"] <= pooled["difference_ci_high"]
    # normalised on the scale upper - floor = 0.8
    assert pooled["normalized_difference"] == pytest.approx(pooled["difference"] / 0.8)
    pooled_tests = tests[tests["comparison"].str.startswith("m/spearman [verdict]")]
    assert set(pooled_tests["comparison"].str.rsplit(" vs ", n=1).str[1]) == {
        "center", "human_floor", "cam"}


def test_the_human_floor_is_a_baseline_the_best_method_must_beat():
    sim = _similarity({"m/seed-0": {"cam": 0.3, "gradcam": 0.6, "center": 0.2}})
    v, _ = _verdicts(sim, rel=_reliability(floor=0.7))  # the floor above every method
    row = v.loc["m/seed-0"]
    assert row["verdict"] == "not_better_than_baselines"
    assert "human_floor" in row["reason"] and "center" not in row["reason"].split("(")[0]


def test_a_direction_against_the_test_never_counts_as_beating():
    # lower is better: a higher mean loses, however small its p
    sim = _similarity({"m/seed-0": {"cam": 0.5, "gradcam": 0.8, "center": 0.9}})
    out, _ = fv.attention_verdicts(sim.assign(metric="kl"), None, "kl", False, IDENTITIES,
                                   n_boot=300)
    row = out.set_index("model").loc["m/seed-0"]
    assert row["best"] == "cam"
    assert row["verdict"] == "most_human_like"  # below center (0.9) and gradcam (0.8)


def test_too_few_bootstrap_replicates_for_holm_say_so_and_win_nothing():
    """Three comparisons at alpha 0.05: Holm's first step needs p < 0.0167, and the smallest
    bootstrap p is 2 / (n_boot + 1), so n_boot must be at least 2 * 3 / 0.05 = 120."""
    assert fv.min_n_boot(3, 0.05) == 120 and 2 / 121 < 0.05 / 3 <= 2 / 120
    sim = _similarity({"m/seed-0": {"cam": 0.5, "gradcam": 0.8, "center": 0.2}})
    few, _ = fv.attention_verdicts(sim, _reliability(), "spearman", True, IDENTITIES, n_boot=100)
    row = few.set_index("model").loc["m/seed-0"]
    assert row["verdict"] == "not_better_than_baselines"  # gradcam wins everywhere, yet cannot
    assert "statistics.n_boot 100 is too few for this test, it needs 120" in row["reason"]
    enough, _ = fv.attention_verdicts(sim, _reliability(), "spearman", True, IDENTITIES,
                                      n_boot=120)
    row = enough.set_index("model").loc["m/seed-0"]
    assert row["verdict"] == "most_human_like" and "too few" not in row["reason"]


def _per_trial(model_accuracy_by_instance, human_accuracy=0.8, n_participants=10, seed=0):
    """Per-trial table: every participant answers every image once; instances answer the same."""
    rng = np.random.default_rng(seed)
    keys = [(f"p{p}", f"t{p}-{i}", image) for p in range(n_participants)
            for i, image in enumerate(IDENTITIES)]
    base = pd.DataFrame(keys, columns=["participant_id", "trial_id", "image_id"])
    base = base.assign(option_a="happy", option_b="sad", label="happy")
    parts = [base.assign(agent="human", correct=rng.random(len(base)) < human_accuracy)]
    for key, acc in model_accuracy_by_instance.items():
        parts.append(base.assign(agent=f"model:{key}", correct=rng.random(len(base)) < acc))
    return pd.concat(parts, ignore_index=True)


def _instance_tests(per_trial):
    human = per_trial[per_trial["agent"] == "human"]
    rows = []
    for agent in [a for a in per_trial["agent"].unique() if a != "human"]:
        m = per_trial[per_trial["agent"] == agent]
        d = 100 * (human["correct"].mean() - m["correct"].mean())
        rows.append({"comparison": f"human vs {agent}", "p_value": 0.01, "p_adjusted": 0.01,
                     "log_odds_ratio": np.sign(d), "difference_pp": d,
                     "difference_ci_low": d - 1, "difference_ci_high": d + 1})
    return pd.DataFrame(rows)


def test_pooled_accuracy_difference_is_the_mean_over_instances():
    trials = _per_trial({"m/seed-0": 0.95, "m/seed-1": 0.65})
    table = fv.pooled_accuracy_tests(trials, _instance_tests(trials), IDENTITIES, n_boot=400)
    pooled = table[table["test"] == "hierarchical_bootstrap"].set_index("comparison")
    row = pooled.loc["human vs model:m"]
    human = trials[trials["agent"] == "human"]["correct"].mean()
    models = [trials[trials["agent"] == f"model:m/seed-{k}"]["correct"].mean() for k in (0, 1)]
    assert row["difference_pp"] == pytest.approx(100 * (human - np.mean(models)))
    assert row["n_instances"] == 2
    # one instance better than humans, one worse: the instance draws span 0
    assert row["difference_ci_low"] < 0 < row["difference_ci_high"]
    assert row["verdict"] == "no significant difference"
    own = table[(table["test"] == "hierarchical_bootstrap") & (table["n_instances"] == 1)]
    # the instances' own (primary) verdicts are what agree or not with the pooled one
    assert row["instances_agreeing"] == (own["verdict"] == row["verdict"]).sum()
    assert own["verdict"].iloc[0] == "model better"


def test_pooled_accuracy_names_the_winner_all_instances_share():
    trials = _per_trial({f"m/seed-{k}": 0.6 for k in range(3)}, human_accuracy=0.9)
    table = fv.pooled_accuracy_tests(trials, _instance_tests(trials), IDENTITIES, n_boot=400)
    row = table.set_index("comparison").loc["human vs model:m"]
    assert row["test"] == "hierarchical_bootstrap" and row["verdict"] == "humans better"
    assert row["instances_agreeing"] == 3
    assert row["difference_ci_low"] <= row["difference_pp"] <= row["difference_ci_high"]


def test_each_instance_is_answered_by_its_own_bootstrap_and_the_mixed_model_is_secondary():
    trials = _per_trial({"m/seed-0": 0.99, "m/seed-1": 0.4})
    table = fv.pooled_accuracy_tests(trials, _instance_tests(trials), IDENTITIES, n_boot=400)
    assert table["test"].tolist() == ["mixed_logit"] * 2 + ["hierarchical_bootstrap"] * 3
    assert table["role"].tolist() == ["secondary"] * 2 + ["primary"] * 3
    own = table[(table["test"] == "hierarchical_bootstrap") & (table["n_instances"] == 1)]
    assert own["comparison"].tolist() == ["human vs model:m/seed-0", "human vs model:m/seed-1"]
    human = trials[trials["agent"] == "human"]["correct"].mean()
    for k, (_, row) in enumerate(own.iterrows()):
        model = trials[trials["agent"] == f"model:m/seed-{k}"]["correct"].mean()
        assert row["difference_pp"] == pytest.approx(100 * (human - model))
        assert row["difference_ci_low"] <= row["difference_pp"] <= row["difference_ci_high"]
    # Holm over the instances' own rows, not over the pooled one
    assert own["p_adjusted"].tolist() == pytest.approx(
        list(multipletests(own["p_value"].to_numpy(), method="holm")[1]))
    assert own["verdict"].tolist() == ["model better", "humans better"]
