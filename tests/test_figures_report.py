"""Tests of the figures (values drawn, files written) and the report (answers, HTML safety)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferattention import figures, report

METRICS = ["spearman", "kl"]
METHODS = ["cam", "gradcam", "extremal_perturbation", "center"]


# ----------------------------------------------------------------------------- fixtures

def _accuracy() -> pd.DataFrame:
    return pd.DataFrame({
        "agent": ["model:cnn", "human"], "n_trials": [200, 200], "n_correct": [140, 180],
        "accuracy": [0.70, 0.90], "ci_low": [0.63, 0.85], "ci_high": [0.76, 0.94],
    })


def _summary(means: dict[tuple[str, str], float], model: str = "cnn") -> pd.DataFrame:
    """Summary rows from ``(method, metric) -> mean``; floor 0, upper 0.8, normalised = mean / 0.8."""
    rows = [(model, me, mt, v, v - 0.05, v + 0.05, 0.0, 0.7, 0.8, v / 0.8, v / 0.8 - 0.1,
             v / 0.8 + 0.1) for (me, mt), v in means.items()]
    return pd.DataFrame(rows, columns=["model", "method", "metric", "mean", "ci_low", "ci_high",
                                       "floor", "lower", "upper", "normalized", "normalized_low",
                                       "normalized_high"])


SPEARMAN_KL = {
    ("cam", "spearman"): 0.30, ("gradcam", "spearman"): 0.35,
    ("extremal_perturbation", "spearman"): 0.60, ("center", "spearman"): 0.40,
    ("cam", "kl"): 1.0, ("gradcam", "kl"): 0.7, ("extremal_perturbation", "kl"): 1.4,
    ("center", "kl"): 1.2,
}


def _stats(p: float = 1e-4, p_adj: float = 2e-4) -> pd.DataFrame:
    return pd.DataFrame([
        ("mcnemar", "human vs model:cnn", 12.0, p, p_adj, 0.2, 200),
        ("friedman", "cnn spearman: cam, gradcam, extremal_perturbation", 30.0, 3e-7, np.nan, 0.5, 40),
    ], columns=["test", "comparison", "statistic", "p_value", "p_adjusted", "effect_size", "n"])


def _config(source: str = "simulated") -> dict:
    return {
        "dataset": {"source": "synthetic", "path": None, "expressions": ["happy", "sad"],
                    "image_size": 32},
        "models": {"cnn": {"arch": "compact_cnn", "epochs": 2, "seed": 0}},
        "saliency": {"methods": ["cam", "gradcam", "extremal_perturbation"]},
        "humans": {"source": source, "reveal_radius": 4, "blur_sigma": 1.5},
    }


@pytest.fixture(scope="module")
def figure_dir(tmp_path_factory):
    """Every figure rendered once on small synthetic inputs; returns the folder."""
    out = tmp_path_factory.mktemp("figs")
    rng = np.random.default_rng(0)
    sim = pd.DataFrame([(f"img{i}", "cnn", me, mt, rng.normal(v, 0.1))
                        for (me, mt), v in SPEARMAN_KL.items() for i in range(20)],
                       columns=["image_id", "model", "method", "metric", "value"])
    rel = pd.DataFrame([(f"img{i}", mt, 0.8, 0.1, 5) for mt in METRICS for i in range(20)],
                       columns=["image_id", "metric", "upper", "floor", "n_participants"])
    figures.plot_accuracy(_accuracy(), out / "accuracy")
    figures.plot_similarity(sim, _summary(SPEARMAN_KL), rel, out / "similarity.png")
    ids = ["happy/a", "sad/b"]
    yy, xx = np.mgrid[:32, :32] / 32
    blob = np.exp(-((xx - 0.5) ** 2 + (yy - 0.7) ** 2) / 0.02).astype(np.float32)
    images = {i: (0.3 + 0.4 * yy).astype(np.float32) for i in ids}
    maps = {i: blob for i in ids}
    figures.plot_examples(images, maps, {m: maps for m in METHODS}, ids,
                          {"happy/a": "happy", "sad/b": "sad"}, out / "examples.pdf")
    figures.plot_dataset_examples(np.zeros((2, 3, 32, 32)), ["id0", "id1"], ["happy", "sad", "fear"],
                                  out / "dataset")
    figures.plot_confusion(np.array([[8, 2], [1, 9]]), ["happy", "sad"], out / "confusion_cnn")
    return out


# ----------------------------------------------------------------------------- palette, saving

def test_palette_is_stable_and_distinct():
    first = figures.palette(["cam", "gradcam", "extremal_perturbation", "human", "my_new_method"])
    again = figures.palette(["my_new_method", "human"])
    assert again["my_new_method"] == first["my_new_method"]
    assert again["human"] == first["human"] == figures.METHOD_COLORS["human"]
    named = [figures.color_of(m) for m in figures.METHOD_COLORS]
    assert len(set(named)) == len(named)
    assert figures.color_of("my_new_method") in figures.EXTRA_COLORS


@pytest.mark.parametrize("name", ["fig", "fig.png", "fig.pdf"])
def test_save_figure_writes_png_and_pdf(tmp_path, name):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    png, pdf = figures.save_figure(fig, tmp_path / name)
    assert (png.name, pdf.name) == ("fig.png", "fig.pdf")
    with Image.open(png) as im:
        w, h = im.size
    # 4 x 3 inches at 150 dpi, trimmed to the drawn content by bbox_inches="tight"
    assert 450 <= w <= 620 and 330 <= h <= 470
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]  # no temp files left
    assert not plt.fignum_exists(fig.number)


def test_all_figures_written(figure_dir):
    for stem in ["accuracy", "similarity", "examples", "dataset", "confusion_cnn"]:
        with Image.open(figure_dir / f"{stem}.png") as im:
            assert min(im.size) > 200, stem
        assert (figure_dir / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


# ----------------------------------------------------------------------------- figure content

@pytest.fixture
def captured(monkeypatch):
    """Replace save_figure by a recorder, so the drawn artists can be checked."""
    figs = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: figs.append(fig))
    yield figs
    for fig in figs:
        plt.close(fig)


def test_accuracy_figure_values(captured):
    figures.plot_accuracy(_accuracy(), "unused")
    ax = captured[0].axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.90, 0.70])  # human first
    assert [t.get_text() for t in ax.get_xticklabels()] == ["human", "model:\ncnn"]
    chance = [ln for ln in ax.lines if ln.get_label() == "chance (2AFC)"]
    assert chance and np.allclose(chance[0].get_ydata(), 0.5)
    segments = ax.collections[0].get_segments()  # error bars: (x, ci_low) -> (x, ci_high)
    ends = [y for s in segments for y in (s[0][1], s[1][1])]
    assert ends == pytest.approx([0.85, 0.94, 0.63, 0.76])


def test_similarity_figure_direction_and_upper_bound(captured):
    sim = pd.DataFrame([("a", "cnn", me, mt, v) for (me, mt), v in SPEARMAN_KL.items()],
                       columns=["image_id", "model", "method", "metric", "value"])
    rel = pd.DataFrame([("a", "spearman", 0.8, 0.1, 4), ("b", "spearman", 0.6, 0.3, 4),
                        ("a", "kl", 0.2, 2.0, 4), ("b", "kl", 0.4, 2.0, 4)],
                       columns=["image_id", "metric", "upper", "floor", "n_participants"])
    figures.plot_similarity(sim, _summary(SPEARMAN_KL), rel, "unused")
    axes = [ax for ax in captured[0].axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["spearman", "kl"]
    assert "higher" in axes[0].get_ylabel() and "lower" in axes[1].get_ylabel()
    assert [t.get_text() for t in axes[0].get_xticklabels()] == METHODS
    hlines = sorted(float(ln.get_ydata()[0]) for ln in axes[0].lines
                    if len(ln.get_ydata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1])
    assert hlines == pytest.approx([0.2, 0.7])  # mean floor, mean upper bound


def test_similarity_figure_draws_a_ci_that_excludes_its_mean(captured):
    # A map equal to the human map scores below its mean in every crossed-bootstrap replicate:
    # the percentile CI lies under the mean, and is drawn from its own ends.
    sim = pd.DataFrame([("a", "cnn", me, mt, v) for (me, mt), v in SPEARMAN_KL.items()],
                       columns=["image_id", "model", "method", "metric", "value"])
    summary = _summary(SPEARMAN_KL)
    below = (summary["method"] == "cam") & (summary["metric"] == "spearman")
    summary.loc[below, ["ci_low", "ci_high"]] = [0.20, 0.25]     # mean 0.30
    rel = pd.DataFrame([("a", "spearman", 0.8, 0.1, 4), ("a", "kl", 0.2, 2.0, 4)],
                       columns=["image_id", "metric", "upper", "floor", "n_participants"])
    figures.plot_similarity(sim, summary, rel, "unused")
    ax = captured[0].axes[0]
    x = [t.get_text() for t in ax.get_xticklabels()].index("cam")
    spans = [seg for c in ax.collections if hasattr(c, "get_segments")
             for seg in c.get_segments() if len(seg) == 2 and seg[0][0] == seg[1][0] == x]
    assert [sorted((seg[0][1], seg[1][1])) for seg in spans] == [pytest.approx([0.20, 0.25])]


def test_similarity_missing_column_names_table():
    with pytest.raises(ValueError, match="reliability table.*floor"):
        figures.plot_similarity(pd.DataFrame(columns=["image_id", "model", "method", "metric", "value"]),
                                _summary(SPEARMAN_KL), pd.DataFrame(columns=["image_id", "metric", "upper"]),
                                "unused")


def test_confusion_is_row_normalised(captured):
    figures.plot_confusion(np.array([[3, 1], [0, 0]]), ["happy", "sad"], "unused")
    ax = captured[0].axes[0]
    data = np.ma.filled(ax.collections[0].get_array(), np.nan).reshape(2, 2)
    assert data[0] == pytest.approx([0.75, 0.25])
    assert np.isnan(data[1]).all()  # a class without images is blank, not zero
    with pytest.raises(ValueError, match="shape"):
        figures.plot_confusion(np.ones((3, 3)), ["happy", "sad"], "unused")


def test_examples_missing_map_is_named():
    img = {"x": np.zeros((8, 8), np.float32)}
    with pytest.raises(KeyError, match="gradcam maps.*'x'"):
        figures.plot_examples(img, img, {"gradcam": {}}, ["x"], {}, "unused")


# ----------------------------------------------------------------------------- answers

def test_similarity_answer_names_winner_and_loser():
    answers = {a["metric"]: a for a in report.similarity_answers(_summary(SPEARMAN_KL))}
    sp = answers["spearman"]
    assert (sp["winner"], sp["loser"]) == ("extremal_perturbation", "cam")
    assert sp["winner_normalized"] == pytest.approx(0.75)
    assert sp["beats_baselines"] is True
    assert "descriptive: highest mean extremal_perturbation" in sp["sentence"]
    assert "most human-like" not in sp["sentence"]  # untested: never the verdict's words
    assert "normalised score 0.750" in sp["sentence"]
    # kl: lower is better, so the smallest divergence wins
    kl = answers["kl"]
    assert (kl["winner"], kl["loser"]) == ("gradcam", "extremal_perturbation")
    assert kl["beats_baselines"] is True and "lower is better" in kl["sentence"]


def test_similarity_answer_never_names_a_baseline():
    means = {("cam", "cc"): 0.2, ("gradcam", "cc"): 0.3, ("center", "cc"): 0.9,
             ("random_model_gradcam", "cc"): 0.95, ("shuffled_cam", "cc"): 0.97,
             ("shuffled_gradcam", "cc"): 0.25}
    (a,) = report.similarity_answers(_summary(means))
    assert a["winner"] == "gradcam" and a["loser"] == "cam" and a["beats_baselines"] is False
    assert "not above the shuffled_cam baseline's (untested" in a["sentence"]
    assert "random_model_gradcam 0.95" in a["sentence"]


def test_baselines_follow_the_methods_in_their_shades():
    names = ["shuffled_gradcam", "random_model_gradcam", "center", "gradcam", "shuffled_cam",
             "my_method", "random_model_cam", "cam"]
    assert figures.order_methods(names) == [
        "cam", "gradcam", "my_method", "center", "random_model_cam", "random_model_gradcam",
        "shuffled_cam", "shuffled_gradcam"]
    import matplotlib.colors as mc

    base = np.array(mc.to_rgb(figures.color_of("gradcam")))
    lighter = np.array(mc.to_rgb(figures.color_of("shuffled_gradcam")))
    darker = np.array(mc.to_rgb(figures.color_of("random_model_gradcam")))
    np.testing.assert_allclose(lighter, 0.45 * base + 0.55, atol=1 / 255)
    np.testing.assert_allclose(darker, 0.65 * base, atol=1 / 255)
    assert figures.color_of("shuffled_my_method") != figures.color_of("my_method")


def test_similarity_figure_draws_baselines_hollow_on_a_band(captured):
    means = {("cam", "cc"): 0.2, ("center", "cc"): 0.5, ("shuffled_cam", "cc"): 0.1}
    sim = pd.DataFrame([("a", "cnn", me, mt, v) for (me, mt), v in means.items()],
                       columns=["image_id", "model", "method", "metric", "value"])
    rel = pd.DataFrame([("a", "cc", 0.8, 0.1, 4)],
                       columns=["image_id", "metric", "upper", "floor", "n_participants"])
    figures.plot_similarity(sim, _summary(means), rel, "unused")
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cam", "center", "shuffled_cam"]
    points = [c for c in ax.collections if len(c.get_offsets()) == 1 and c.get_offsets()[0][0] > -1]
    filled = {round(c.get_offsets()[0][0]): len(c.get_facecolors()) > 0 for c in points
              if c.get_offsets()[0][1] in (0.2, 0.5, 0.1)}
    assert filled == {0: True, 1: False, 2: False}
    bands = [p for p in ax.patches if p.get_facecolor()[:3] == pytest.approx((0.93,) * 3, abs=1e-3)]
    assert len(bands) == 1 and bands[0].get_x() == pytest.approx(0.5)


def test_accuracy_answer_verdicts():
    (sig,) = report.accuracy_answers(_accuracy(), _stats(p=1e-4, p_adj=2e-4))
    assert sig["verdict"] == "humans better" and sig["difference"] == pytest.approx(0.20)
    assert sig["sentence"].startswith("Humans were more accurate than model cnn")
    assert "90.0%" in sig["sentence"] and "70.0%" in sig["sentence"]
    assert "p = 1.0e-04" in sig["sentence"] and "adjusted p = 2.0e-04" in sig["sentence"]
    (ns,) = report.accuracy_answers(_accuracy(), _stats(p=0.03, p_adj=0.09))
    assert ns["verdict"] == "no significant difference"  # the adjusted p decides
    (none,) = report.accuracy_answers(_accuracy(), _stats().iloc[1:])
    assert none["verdict"] == "no test" and "no paired test" in none["sentence"]


def test_accuracy_answer_when_the_mixed_model_and_the_accuracies_disagree():
    """The mixed model's odds ratio is conditional on a typical image: it can favour the model
    (log odds ratio < 0) while humans are more accurate overall (0.90 vs 0.70). The answer must
    not call either side better; it says which side each favours."""
    def mixed_row(log_or):
        return pd.concat([_stats(), pd.DataFrame(
            [("mixed_logit", "human vs model:cnn", -3.0, 1e-3, 1e-3, log_or, 400)],
            columns=_stats().columns)], ignore_index=True)

    (a,) = report.accuracy_answers(_accuracy(), mixed_row(-2.0))
    assert a["tests"][0][0] == "mixed_logit" and a["verdict"] == "directions differ"
    assert a["sentence"].startswith("Humans vs model cnn: the mixed model favours model cnn on a "
                                    "typical image, the accuracies favour humans")
    (b,) = report.accuracy_answers(_accuracy(), mixed_row(+2.0))
    assert b["verdict"] == "humans better"


def test_accuracy_answer_needs_the_difference_interval_to_exclude_zero():
    """A significant mixed model alone names no winner: the accuracy difference's crossed-bootstrap
    interval (accuracy_tests.csv) must exclude 0 too, as that test rejects a true null too often
    where the model's own image SD is large."""
    table = pd.concat([_stats(), pd.DataFrame(
        [("mixed_logit", "human vs model:cnn", 3.0, 1e-3, 1e-3, 1.5, 400)],
        columns=_stats().columns)], ignore_index=True)

    def tests_row(low, high):
        return pd.DataFrame([{"comparison": "human vs model:cnn", "difference_pp": 20.0,
                              "difference_ci_low": low, "difference_ci_high": high,
                              "odds_ratio": 4.5, "or_ci_low": 1.8, "or_ci_high": 11.0}])

    (a,) = report.accuracy_answers(_accuracy(), table, mixed_tests=tests_row(-1.0, 41.0))
    assert a["verdict"] == "no significant difference"
    assert a["sentence"].startswith(
        "Humans and model cnn did not differ significantly (α = 0.05: the mixed model's test "
        "rejects, but the 95% CI of the accuracy difference includes 0)")
    assert "difference +20.0 percentage points (95% CI -1.0 to +41.0, participants and images" \
        in a["sentence"]
    (b,) = report.accuracy_answers(_accuracy(), table, mixed_tests=tests_row(5.0, 35.0))
    assert b["verdict"] == "humans better"
    assert "(95% CI +5.0 to +35.0, participants and images resampled)" in b["sentence"]
    assert "odds ratio on a typical image 4.5 (95% CI 1.8–11)" in b["sentence"]


def test_format_p():
    assert [report.format_p(p) for p in [0.5, 0.0123, 4.2e-5, 1e-20, np.nan]] == [
        "0.500", "0.012", "4.2e-05", "< 1e-16", "—"]


# ----------------------------------------------------------------------------- HTML

def _context(figure_dir, simulated=True, summary=None):
    return report.build_report_context(
        _config("simulated" if simulated else "csv"), _accuracy(),
        _summary(SPEARMAN_KL) if summary is None else summary, _stats(),
        {"accuracy": figure_dir / "accuracy", "similarity": figure_dir / "similarity.pdf"},
        simulated_humans=simulated)


@pytest.mark.parametrize("simulated", [True, False])
def test_simulated_notice_iff_simulated(figure_dir, tmp_path, simulated):
    path = report.render_report(_context(figure_dir, simulated), tmp_path / "report.html")
    text = path.read_text()
    assert ("The human data in this report are SIMULATED" in text) is simulated
    assert ("SIMULATED" in text) is simulated


def test_simulated_config_requires_notice(figure_dir):
    with pytest.raises(ValueError, match="simulated"):
        report.build_report_context(_config("simulated"), _accuracy(), _summary(SPEARMAN_KL),
                                    _stats(), {}, simulated_humans=False)


def test_html_is_self_contained(figure_dir, tmp_path):
    text = report.render_report(_context(figure_dir), tmp_path / "r.html").read_text()
    assert text.count("data:image/png;base64,") == 2
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", text)  # nothing loaded from outside
    assert "extremal_perturbation" in text and "Humans were more accurate" in text


def test_html_escapes_data(figure_dir, tmp_path):
    means = {("<b>", "spearman"): 0.9, ("cam", "spearman"): 0.2}
    text = report.render_html(_context(figure_dir, summary=_summary(means)))
    assert "&lt;b&gt;" in text and "<b>" not in text


def test_missing_figure_is_named(tmp_path):
    ctx = report.build_report_context(_config(), _accuracy(), _summary(SPEARMAN_KL), _stats(),
                                      {"similarity": tmp_path / "nope"}, simulated_humans=True)
    with pytest.raises(FileNotFoundError, match="similarity"):
        report.render_report(ctx, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


# ----------------------------------------------------------------------------- breakdowns, regions,
# faithfulness, report polish

def test_accuracy_by_pair_figure_values(captured):
    by_pair = pd.DataFrame({
        "agent": ["human", "human", "model:cnn", "model:cnn"],
        "pair": ["anger/happy", "happy/sad", "anger/happy", "happy/sad"],
        "n_trials": [10, 10, 10, 10], "n_correct": [9, 8, 5, 7],
        "accuracy": [0.9, 0.8, 0.5, 0.7], "ci_low": [0.8, 0.7, 0.4, 0.6],
        "ci_high": [1.0, 0.9, 0.6, 0.8]})
    figures.plot_accuracy_by_pair(by_pair.iloc[::-1], "unused")  # humans drawn first anyway
    ax = captured[0].axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.9, 0.8, 0.5, 0.7])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["anger\nvs happy", "happy\nvs sad"]


def test_regions_figure_says_when_skipped(captured):
    figures.plot_regions(pd.DataFrame(columns=["image_id", "agent", "method", "region", "share"]),
                         "unused")
    texts = [t.get_text() for t in captured[0].axes[0].texts]
    assert any("No facial regions are known" in t for t in texts)


def test_regions_figure_means(captured):
    regions = pd.DataFrame([(i, a, m, r, s) for i in ("x", "y")
                            for a, m, r, s in [("human", "human", "mouth", 0.8),
                                               ("human", "human", "rest", 0.2),
                                               ("model:cnn", "cam", "mouth", 0.1),
                                               ("model:cnn", "cam", "rest", 0.9)]],
                           columns=["image_id", "agent", "method", "region", "share"])
    figures.plot_regions(regions, "unused")
    ax = captured[0].axes[0]
    heights = [p.get_height() for p in ax.patches if p.get_height() > 0]
    assert sorted(heights) == pytest.approx([0.1, 0.2, 0.8, 0.9])


def test_regions_figure_hatches_baselines(captured):
    regions = pd.DataFrame([("x", a, m, r, s) for a, m, r, s in [
        ("human", "human", "mouth", 0.8), ("model:cnn", "cam", "mouth", 0.1),
        ("model:cnn", "random_model_cam", "mouth", 0.3)]],
        columns=["image_id", "agent", "method", "region", "share"])
    figures.plot_regions(regions, "unused")
    ax = captured[0].axes[0]
    hatch = {round(p.get_height(), 3): p.get_hatch() for p in ax.patches if p.get_height() > 0}
    assert hatch == {0.8: None, 0.1: None, 0.3: figures.BASELINE_HATCH}


def test_faithfulness_figure_legend_has_mean_auc(captured):
    curves = pd.DataFrame([("cnn", m, c, f, p) for m in ("human", "cam") for c in ("deletion", "insertion")
                           for f, p in ((0.0, 0.9), (1.0, 0.2))],
                          columns=["model", "method", "curve", "fraction", "probability"])
    auc = pd.DataFrame([("a", "cnn", m, c, v) for m, v in (("human", 0.4), ("cam", 0.3))
                        for c in ("deletion", "insertion")],
                       columns=["image_id", "model", "method", "curve", "auc"])
    figures.plot_faithfulness(curves, auc, "unused")
    labels = [t.get_text() for t in captured[0].axes[0].get_legend().get_texts()]
    assert labels == ["human (AUC 0.400)", "cam (AUC 0.300)"]


def test_accuracy_sentence_lists_only_tests_with_p_values():
    stats = pd.concat([_stats(), pd.DataFrame(
        [("accuracy_difference", "human vs model:cnn", 0.2, np.nan, np.nan, 0.2, 200)],
        columns=_stats().columns)], ignore_index=True)
    (a,) = report.accuracy_answers(_accuracy(), stats)
    assert "accuracy_difference" not in a["sentence"] and "p = —" not in a["sentence"]
    assert [t[0] for t in a["tests"]] == ["mcnemar"] and a["verdict"] == "humans better"


def test_normalisation_flagged_when_upper_and_floor_are_close():
    # floor 0.29, upper 0.31: span 0.02 < CI width 0.10 -> unreliable; mean 0.15 -> -7
    close = pd.DataFrame([("cnn", "cam", "cc", 0.15, 0.10, 0.20, 0.29, 0.31, (0.15 - 0.29) / 0.02),
                          ("cnn", "gradcam", "cc", 0.10, 0.05, 0.15, 0.29, 0.31, (0.10 - 0.29) / 0.02)],
                         columns=["model", "method", "metric", "mean", "ci_low", "ci_high",
                                  "floor", "upper", "normalized"])
    assert report.normalization_span(close).tolist() == pytest.approx([0.02, 0.02])
    assert report.unreliable_normalization(close).tolist() == [True, True]
    (a,) = report.similarity_answers(close)
    assert "normalised score -7.00 †" in a["sentence"] and "unreliable" in a["sentence"]
    fine = _summary(SPEARMAN_KL)  # floor 0, upper 0.8: span 0.8 > CI width 0.1
    assert not report.unreliable_normalization(fine).any()
    assert all("†" not in a["sentence"] for a in report.similarity_answers(fine))


def test_report_breakdowns_extra_tables_and_provenance(figure_dir, tmp_path):
    import datetime as dt

    stats = pd.concat([_stats(), pd.DataFrame([
        ("mcnemar", "human vs model:cnn [pair=anger/happy]", 3.0, 0.5, 0.9, 0.1, 20),
        ("friedman", "cnn/cc [expression=happy]: cam, gradcam", 1.0, 0.5, 0.5, 0.1, 5)],
        columns=_stats().columns)], ignore_index=True)
    regions = pd.DataFrame({"agent": ["human", "model:cnn"], "method": ["human", "cam"],
                            "mouth": [0.8, 0.1], "rest": [0.2, 0.9]})
    context = report.build_report_context(
        _config(), _accuracy(), _summary(SPEARMAN_KL), stats, {"accuracy": figure_dir / "accuracy"},
        simulated_humans=True, extra_tables={"regions": ("Regions", regions)},
        generated=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc))
    (a,) = context["accuracy_answers"]
    assert [t[0] for t in a["tests"]] == ["mcnemar"]  # the pair breakdown is not the main test
    assert [r[1] for r in context["tables"]["accuracy_breakdown"]["rows"]] == [
        "human vs model:cnn [pair=anger/happy]"]
    assert all("[" not in r[1] for r in context["tables"]["stats"]["rows"])
    assert context["tables"]["regions"]["rows"][0] == ["human", "human", "0.800", "0.200"]
    assert "2026-01-02 03:04 UTC" in context["provenance"] and "ferattention" in context["provenance"]
    text = report.render_report(context, tmp_path / "r.html").read_text()
    assert "Regions" in text and "Normalised score = (mean − floor)" in text
    assert "2026-01-02 03:04 UTC" in text


def test_planted_attention_sentences_compare_the_winner_with_the_expected_map():
    answers = report.similarity_answers(_summary(SPEARMAN_KL))   # spearman winner: EP
    expected = pd.DataFrame({"model": "cnn", "metric": "spearman",
                             "method": ["cam", "gradcam", "extremal_perturbation", "center"],
                             "mean": [0.5, 0.6, 0.9, 0.7]})
    text = " ".join(report.planted_attention_sentences("gradcam", expected, answers))
    assert "maps of method gradcam" in text
    assert "closest to the planted attention is extremal_perturbation" in text
    assert "the one expected." in text and "Run `snakemake --cores 8 recovery`" in text
    other = expected.assign(mean=[0.5, 0.95, 0.9, 0.7])
    text = " ".join(report.planted_attention_sentences("regions", other, answers,
                                                       recovery_figure="figures/recovery.png"))
    assert "diagnostic regions" in text and "NOT the one expected" in text
    assert "figures/recovery.png" in text
    baseline = expected.assign(mean=[0.5, 0.6, 0.4, 0.99])
    text = " ".join(report.planted_attention_sentences("center", baseline, answers))
    assert "is center" in text and "a baseline; among the attention methods it is gradcam" in text
    assert "not the one expected" in text


def test_planted_paragraph_says_whether_the_verdict_found_the_planted_map():
    expected = pd.DataFrame({"model": ["cnn/seed-0"] * 3 + ["cnn/seed-1"] * 3,
                             "metric": "spearman",
                             "method": ["cam", "gradcam", "center"] * 2,
                             "mean": [0.5, 0.8, 0.9, 0.6, 0.7, 0.9]})
    found = pd.DataFrame([{"model": "cnn", "metric": "spearman", "verdict": "most_human_like",
                           "best": "gradcam"},
                          {"model": "cnn/seed-0", "metric": "spearman",
                           "verdict": "most_human_like", "best": "cam"}])
    text = " ".join(report.planted_attention_sentences("regions", expected, [], verdicts=found))
    assert "names gradcam: the planted attention, found." in text
    assert "cnn/seed-0" not in text  # pooled rows only
    assert "baseline" not in text  # regions is no baseline, even where center scores highest
    missed = found.assign(verdict="not_better_than_baselines")
    text = " ".join(report.planted_attention_sentences("regions", expected, [], verdicts=missed))
    assert "names no winner (not better than baselines), so it did not find" in text
    assert "(gradcam)" in text
    text = " ".join(report.planted_attention_sentences("center", expected, [], verdicts=found))
    assert "names gradcam although no attention method was planted: a false winner." in text
    text = " ".join(report.planted_attention_sentences("uniform", expected, [], verdicts=missed))
    assert "names no winner, as it should" in text


def test_verdict_sentences_claim_a_winner_only_when_tested():
    summary = _summary(SPEARMAN_KL)
    verdicts = pd.DataFrame([
        ("cnn", "spearman", "most_human_like", "extremal_perturbation", "gradcam", 0.6, 20,
         "extremal_perturbation beats every baseline and gradcam (Holm-adjusted, alpha 0.05)"),
        ("cnn2", "spearman", "not_better_than_baselines", "cam", "gradcam", 0.3, 20,
         "cam does not beat center (Holm-adjusted, alpha 0.05)"),
        ("cnn3", "spearman", "best_two_tied", "cam", "gradcam", 0.3, 20,
         "cam and gradcam cannot be told apart (Holm-adjusted, alpha 0.05)"),
    ], columns=["model", "metric", "verdict", "best", "runner_up", "best_mean", "n_images",
                "reason"])
    first, second, third = report.verdict_sentences(verdicts, summary)
    assert first.startswith("Model cnn, primary metric spearman: the most human-like attention "
                            "method is extremal_perturbation (mean 0.600")
    assert "no attention method is more human-like than the baselines" in second
    assert "does not beat center" in second and "most human-like attention method is" not in second
    assert "the best two attention methods" in third and "cannot be told apart" in third


def test_extremal_areas_summary_hand_computed():
    areas = pd.DataFrame({
        "image_id": ["a", "b", "c", "a", "b", "c"],
        "model": ["m"] * 6,
        "area_target": [0.1, 0.1, 0.1, 0.2, 0.2, 0.2],
        "area_reached": [0.10, 0.14, 0.12, 0.30, 0.20, 0.25],
    })
    table = report.extremal_areas_summary(areas)
    assert list(table.columns) == ["model", "target area", "images", "mean area reached", "min", "max"]
    assert table["target area"].tolist() == [0.1, 0.2] and table["images"].tolist() == [3, 3]
    np.testing.assert_allclose(table["mean area reached"], [0.12, 0.25])
    np.testing.assert_allclose(table["min"], [0.10, 0.20])
    np.testing.assert_allclose(table["max"], [0.14, 0.30])
    with pytest.raises(ValueError, match="area_reached"):
        report.extremal_areas_summary(areas.drop(columns="area_reached"))


def test_extra_tables_summarise_regions_faithfulness_and_ep_areas_in_page_order():
    regions = pd.DataFrame({"image_id": ["a", "b", "a", "b"], "agent": ["human"] * 2 + ["model:m"] * 2,
                            "method": ["human"] * 2 + ["cam"] * 2, "region": ["eyes"] * 4,
                            "share": [0.2, 0.4, 0.5, 0.7]})
    agreement = pd.DataFrame({"agent": ["model:m"], "kappa": [0.1]})
    mixed_tests = pd.DataFrame({"comparison": ["human vs model:m"], "odds_ratio": [2.0]})
    faith = pd.DataFrame({"image_id": ["a", "b", "a", "b"], "model": "m", "method": "cam",
                          "curve": ["deletion", "deletion", "insertion", "insertion"],
                          "auc": [0.1, 0.3, 0.6, 0.8]})
    areas = pd.DataFrame({"image_id": ["a", "b"], "area_target": [0.1, 0.1],
                          "area_reached": [0.1, 0.2]})
    extra = report.extra_tables(regions, agreement, mixed_tests, faith, {"m": areas})
    assert list(extra) == ["regions", "agreement", "accuracy_tests", "faithfulness", "extremal_areas"]
    np.testing.assert_allclose(extra["regions"][1]["eyes"], [0.3, 0.6])  # mean share per agent
    assert extra["agreement"][1] is agreement and extra["accuracy_tests"][1] is mixed_tests
    np.testing.assert_allclose(extra["faithfulness"][1][["deletion AUC", "insertion AUC"]].to_numpy(),
                               [[0.2, 0.7]])
    assert extra["extremal_areas"][1]["model"].tolist() == ["m"]
    np.testing.assert_allclose(extra["extremal_areas"][1]["mean area reached"], [0.15])
    # No region masks (an empty regions table) and no EP: those tables are left out.
    assert list(report.extra_tables(regions.iloc[:0], agreement, mixed_tests, faith)) == [
        "agreement", "accuracy_tests", "faithfulness"]


def test_accuracy_answer_rests_on_the_bootstrap_and_says_why_the_mixed_model_is_secondary():
    """With both tests of an instance, the hierarchical bootstrap answers: a mixed model that
    rejects (and whose odds ratio favours the model) does not make a winner, and the sentence
    says the mixed model is secondary and why."""
    table = pd.concat([_stats(), pd.DataFrame(
        [("mixed_logit", "human vs model:cnn", -3.0, 1e-4, 1e-4, -2.0, 400),
         ("hierarchical_bootstrap", "human vs model:cnn", 20.0, 0.3, 0.3, 0.2, 400)],
        columns=_stats().columns)], ignore_index=True)
    tests = pd.DataFrame([
        {"comparison": "human vs model:cnn", "test": "mixed_logit", "difference_pp": 20.0,
         "difference_ci_low": 5.0, "difference_ci_high": 35.0, "odds_ratio": 0.14,
         "or_ci_low": 0.05, "or_ci_high": 0.4, "sd_image_agent": 6.1},
        {"comparison": "human vs model:cnn", "test": "hierarchical_bootstrap",
         "difference_pp": 20.0, "difference_ci_low": -4.0, "difference_ci_high": 44.0}])
    (a,) = report.accuracy_answers(_accuracy(), table, mixed_tests=tests)
    assert a["tests"][0][0] == "hierarchical_bootstrap"
    assert a["verdict"] == "no significant difference"
    assert "95% CI -4.0 to +44.0, images and participants resampled" in a["sentence"]
    assert "hierarchical bootstrap: p = 0.30" in a["sentence"]
    assert "secondary mixed model: p = 1.0e-04" in a["sentence"]
    assert ("secondary: its test holds its error rate only where the model's own image effects "
            "are narrow (false-positive rate 0.045 at SD 0.73, 0.04 at SD 1.3, 0.13 at SD 2.5, "
            "0.45 at SD 3.9, "
            "0.71 at SD 6.13 in simulation, docs/validation.md; this study: SD 6.1 on the logit "
            "scale)" in a["sentence"])
