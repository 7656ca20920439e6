"""The tables of the rules accuracy and statistics (ferattention.tables), on hand-made trials."""

import numpy as np
import pandas as pd
import pytest

from ferattention import tables

N_BOOT = 50


def _human_trials() -> pd.DataFrame:
    """Two participants, three trials each; participant p2 is wrong on t2."""
    return pd.DataFrame({
        "participant_id": ["p1"] * 3 + ["p2"] * 3,
        "trial_id": ["t1", "t2", "t3"] * 2,
        "image_id": ["a", "b", "c"] * 2,
        "option_a": ["happy", "anger", "happy"] * 2,
        "option_b": ["anger", "happy", "anger"] * 2,
        "label": ["happy", "anger", "anger"] * 2,
        "correct": [True, True, True, True, False, True],
    })


def test_accuracy_tables_answer_every_trial_for_every_agent_in_order():
    human = _human_trials()
    # The model's larger logit: happy on a and c, anger on b -> right on t1, t2, wrong on t3.
    predictions = pd.DataFrame({"image_id": ["c", "a", "b"], "logit_happy": [2.0, 1.0, -1.0],
                                "logit_anger": [0.0, 0.0, 3.0], "pred": ["x", "y", "z"]})
    # On the uncovered stimulus: right only on p1's t3 (given in another row order).
    view = pd.DataFrame({"participant_id": ["p2", "p1", "p2", "p1", "p2", "p1"],
                         "trial_id": ["t1", "t1", "t2", "t2", "t3", "t3"],
                         "correct": [0, 0, 0, 0, 0, 1]})
    per_trial, acc = tables.accuracy_tables(human, {"cnn": predictions}, {"cnn": view}, n_boot=N_BOOT)

    assert list(per_trial.columns) == tables.TRIAL_KEYS + ["agent", "correct"]
    assert per_trial["agent"].tolist() == (["human"] * 6 + ["model:cnn"] * 6
                                           + ["model:cnn@human_view"] * 6)
    assert per_trial["correct"].tolist() == [True, True, True, True, False, True,
                                             True, True, False, True, True, False,
                                             False, False, True, False, False, False]
    assert (per_trial.groupby("agent")["trial_id"].apply(list) == [["t1", "t2", "t3"] * 2] * 3).all()
    assert acc["agent"].tolist() == ["human", "model:cnn", "model:cnn@human_view"]
    assert acc["n_trials"].tolist() == [6, 6, 6]
    assert acc["n_correct"].tolist() == [5, 4, 1]
    assert acc["accuracy"].tolist() == pytest.approx([5 / 6, 4 / 6, 1 / 6])


def test_accuracy_tables_name_the_file_of_a_missing_human_view_answer():
    human = _human_trials()
    predictions = pd.DataFrame({"image_id": ["a", "b", "c"], "logit_happy": [1.0, 0.0, 0.0],
                                "logit_anger": [0.0, 1.0, 1.0]})
    view = pd.DataFrame({"participant_id": ["p1"], "trial_id": ["t1"], "correct": [1]})
    with pytest.raises(ValueError, match=r"results/models/cnn/hv\.csv: no answer for 5 human trial"):
        tables.accuracy_tables(human, {"cnn": predictions}, {"cnn": view}, n_boot=N_BOOT,
                               where={"cnn": "results/models/cnn/hv.csv"})


def _study(seed: int = 0):
    """Per-trial table (8 participants x 16 images, humans right 85%, the model right on the
    happy images only), a similarity table where cam beats center by 0.3 on every image, flat
    reliability, and the images' labels."""
    rng = np.random.default_rng(seed)
    images = [f"img{i:02d}" for i in range(16)]
    labels = {im: ("happy" if i % 2 == 0 else "anger") for i, im in enumerate(images)}
    rows = []
    for p in range(8):
        for k, im in enumerate(images):
            label = labels[im]
            a, b = ("happy", "anger") if (p + k) % 2 else ("anger", "happy")
            keys = {"participant_id": f"p{p}", "trial_id": f"p{p}-t{k}", "image_id": im,
                    "option_a": a, "option_b": b, "label": label}
            rows.append({**keys, "agent": "human", "correct": bool(rng.random() < 0.85)})
            rows.append({**keys, "agent": "model:cnn", "correct": label == "happy"})
    per_trial = pd.DataFrame(rows)
    base = rng.normal(0.3, 0.1, len(images))
    similarity = pd.concat([pd.DataFrame({
        "image_id": images, "model": "cnn", "method": method, "metric": "spearman",
        "value": base + shift + rng.normal(0, 0.01, len(images))})
        for method, shift in (("cam", 0.3), ("center", 0.0))], ignore_index=True)
    reliability = pd.DataFrame({"image_id": images, "metric": "spearman", "lower": 0.8,
                                "upper": 0.9, "floor": 0.0})
    return per_trial, similarity, reliability, labels


def test_statistics_tables_compare_humans_and_model_per_trial_expression_and_pair():
    per_trial, similarity, reliability, labels = _study()
    out = tables.statistics_tables(per_trial, similarity, reliability, labels, "spearman",
                                   n_boot=N_BOOT, seed=0)
    human = per_trial[per_trial["agent"] == "human"]
    model = per_trial[per_trial["agent"] == "model:cnn"]
    st = out.stats.set_index(["test", "comparison"])
    # Human minus model accuracy, overall and per expression (the model is right on happy only).
    diff = st.loc[("accuracy_difference", "human vs model:cnn")]
    assert diff["statistic"] == pytest.approx(human["correct"].mean() - model["correct"].mean())
    assert diff["n"] == 128
    happy = human["label"] == "happy"
    for expression, model_acc, keep in (("happy", 1.0, happy), ("anger", 0.0, ~happy)):
        row = st.loc[("accuracy_difference", f"human vs model:cnn [expression={expression}]")]
        assert row["statistic"] == pytest.approx(human.loc[keep, "correct"].mean() - model_acc)
    # Every trial's pair is anger/happy: one pair scope, the same numbers as overall.
    pair = st.loc[("accuracy_difference", "human vs model:cnn [pair=anger/happy]")]
    assert pair["statistic"] == pytest.approx(diff["statistic"])
    # The order of stats.csv: question 1's tests first (the mixed model, then the bootstrap),
    # then the paired tests, ..., then the breakdowns.
    tests = out.stats["test"].tolist()
    assert tests[:2] == ["mixed_logit", "hierarchical_bootstrap"]
    assert tests[2:5] == ["mcnemar_exact", "wilcoxon_signed_rank", "accuracy_difference"]
    scopes = out.stats["comparison"].str.extract(r"\[(\w+)")[0].fillna("").tolist()
    first = [scopes.index(s) for s in ("", "verdict", "expression", "pair")]
    assert first == sorted(first)
    # Question 2: cam is planted 0.3 above center on every image.
    (verdict,) = out.verdict.to_dict("records")
    assert verdict["best"] == "cam" and verdict["n_images"] == 16
    means = out.summary.set_index("method")["mean"]
    cam = similarity[similarity["method"] == "cam"]["value"].mean()
    assert means["cam"] == pytest.approx(cam)
    # one model without instances: its mixed model (secondary) and its bootstrap (the answer)
    assert out.accuracy_tests["comparison"].tolist() == ["human vs model:cnn"] * 2
    assert out.accuracy_tests["role"].tolist() == ["secondary", "primary"]
    # rule statistics takes rule accuracy_tests' table as it is
    again = tables.statistics_tables(per_trial, similarity, reliability, labels, "spearman",
                                     n_boot=N_BOOT, seed=0, accuracy_tests=out.accuracy_tests)
    pd.testing.assert_frame_equal(again.stats, out.stats)


def test_statistics_tables_do_not_depend_on_the_row_order_of_the_trials():
    per_trial, similarity, reliability, labels = _study(seed=1)
    first = tables.statistics_tables(per_trial, similarity, reliability, labels, "spearman",
                                     n_boot=N_BOOT, seed=0)
    shuffled = per_trial.sample(frac=1, random_state=3).reset_index(drop=True)
    second = tables.statistics_tables(shuffled, similarity, reliability, labels, "spearman",
                                      n_boot=N_BOOT, seed=0)
    paired = first.stats["test"] != "mixed_logit"  # the others are computed per aligned trial
    pd.testing.assert_frame_equal(first.stats[paired].reset_index(drop=True),
                                  second.stats[paired].reset_index(drop=True))


def test_expected_similarity_table_scores_each_map_set_against_the_target():
    rng = np.random.default_rng(0)
    target = {i: rng.random((6, 6)) for i in ("a", "b")}
    other = {i: rng.random((6, 6)) for i in ("a", "b", "c")}  # c: no target, not scored
    sets = [("m", "same", target), ("m", "inverted", {i: 1 - t for i, t in target.items()}),
            ("m", "other", other)]
    table = tables.expected_similarity_table("regions", iter(sets), target, ["cc", "spearman"])
    assert list(table.columns) == ["source", "model", "method", "metric", "mean"]
    assert (table["source"] == "regions").all()
    got = table.set_index(["method", "metric"])["mean"]
    assert got[("same", "cc")] == pytest.approx(1) and got[("same", "spearman")] == pytest.approx(1)
    assert got[("inverted", "cc")] == pytest.approx(-1)
    hand = np.mean([np.corrcoef(other[i].ravel(), target[i].ravel())[0, 1] for i in ("a", "b")])
    assert got[("other", "cc")] == pytest.approx(hand)
    default = tables.expected_similarity_table("regions", sets[:1], target)
    assert "emd" not in set(default["metric"]) and {"cc", "spearman"} <= set(default["metric"])


def test_regions_table_gives_human_area_and_each_map_set_shares():
    masks = np.zeros((4, 4, 4), np.uint8)  # brows, eyes, nose, mouth on a 4 x 4 image
    for r in range(4):
        masks[r, r, :2] = 1  # region r: 2 pixels of row r; the other 8 pixels are "rest"
    eyes_only = np.zeros((4, 4), np.float32)
    eyes_only[1, :2] = 1.0  # all mass in the eyes
    human = {"a": np.full((4, 4), 1 / 16, np.float32)}  # uniform: shares = areas
    consumed = []

    def sets():
        for method, m in (("cam", eyes_only), ("center", np.ones((4, 4), np.float32))):
            consumed.append(method)
            yield "cnn", method, {"a": m}

    table = tables.regions_table({"a": masks}, human, sets())
    assert table[["agent", "method"]].drop_duplicates().values.tolist() == [
        ["human", "human"], ["area", "uniform"], ["model:cnn", "cam"], ["model:cnn", "center"]]
    shares = table.set_index(["agent", "method", "region"])["share"]
    for agent, method in (("human", "human"), ("area", "uniform"), ("model:cnn", "center")):
        assert shares[(agent, method, "eyes")] == pytest.approx(2 / 16)
        assert shares[(agent, method, "rest")] == pytest.approx(8 / 16)
    assert shares[("model:cnn", "cam", "eyes")] == pytest.approx(1.0)
    assert shares[("model:cnn", "cam", "rest")] == pytest.approx(0.0)
    # No masks: an empty table, and no map set is loaded.
    consumed.clear()
    assert tables.regions_table({}, human, sets()).empty and consumed == []
