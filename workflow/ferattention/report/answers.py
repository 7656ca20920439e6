"""The HTML report: one self-contained page a researcher reads first.

:func:`build_report_context` turns the result tables (docs/design.md §5.5) into plain data: the
run's configuration in brief, the answers to the study's two questions as sentences with numbers,
formatted tables and the figures to show. :func:`render_report` writes that context as one HTML file
with inline CSS and the figures embedded as base64 PNG, so the page opens anywhere, offline, and
can be mailed as one file. All text that comes from data or config is HTML-escaped at rendering.

Conventions read from the tables:

* ``accuracy.csv`` agents are ``human`` and ``model:<name>``; accuracy and CIs are proportions.
* The paired accuracy test of a model is every ``stats.csv`` row whose ``comparison`` names exactly
  the two parties ``human`` and ``model:<name>`` (or ``<name>``) joined by ``vs`` (either order,
  e.g. ``human vs model:cnn``); its significance uses ``p_adjusted`` when given, else ``p_value``.
* The most human-like method per model and metric is the one with the best ``mean`` in the metric's
  direction (section 8); the normalised score (1 = the upper bound of the noise ceiling) is reported beside it. Baselines
  (``center``, ``random_model_<m>``, ``shuffled_<m>``: :func:`ferattention.methods.is_baseline`)
  are reported but never named the winner.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .figures import figure_paths as _figure_files
from .figures import (
    is_higher_better,
    order_methods,
    order_metrics,
    require_columns,
)
from .io import atomic_path
from .methods import is_baseline

TITLE = "Human and machine attention in facial expression recognition"

QUESTION_ACCURACY = "1. Do humans recognise the expressions better than the models?"
QUESTION_SIMILARITY = "2. Which machine attention method is most similar to human attention?"

SIMULATED_NOTICE = (
    "The human data in this report are SIMULATED: they were produced by simulated observers "
    "(humans.source: simulated), not collected from people. They show that the workflow runs end "
    "to end on data shaped like a real study; no conclusion about human perception or attention "
    "may be drawn from them."
)

#: Captions of the figures the workflow makes, by figure name (``confusion*`` matches by prefix).
FIGURE_CAPTIONS: dict[str, str] = {
    "accuracy": "2AFC accuracy of humans and each model on the same trials, with 95% confidence "
                "intervals (crossed bootstrap of participants and images); dashed line: chance "
                "(0.5).",
    "similarity": "Similarity of each method's maps to the human maps, per metric: one dot per "
                  "image, black diamond: mean with 95% CI; orange line: upper bound of the noise "
                  "ceiling (what the true attention map would score given the human noise); "
                  "dotted line: floor (another image's human map). Grey band, hollow dots: "
                  "baselines: center (a centred Gaussian), random_model_<m> (method m on "
                  "untrained weights, darker colour of m) and shuffled_<m> (m's map of another "
                  "image of the same expression, lighter colour of m).",
    "examples": "Example faces with the human map and each method's map overlaid.",
    "dataset": "Example faces of the dataset: identities (rows) by expressions (columns).",
    "dataset_examples": "Example faces of the prepared dataset, as the models see them: "
                        "identities (rows) by expressions (columns), test identities first; for "
                        "datasets without identities, a random sample of each expression.",
    "confusion": "Confusion matrix of the model on the test images (rows: true class, normalised).",
    "accuracy_by_pair": "2AFC accuracy of humans and each model per expression pair (the two "
                        "options of a trial), with 95% image-bootstrap confidence intervals; "
                        "dashed line: chance.",
    "regions": "Share of each map's mass in each facial region (mean over test images, 95% CI); "
               "area: the share a uniform map gets (the region's size). Maps with negative values "
               "(CAM) are shifted by their minimum first. Hatched: baselines (center, "
               "random_model_<m>); shuffled_<m> has no bars (its maps are m's, on other images).",
    "recovery": "Recovery study: simulated observers aim at each planted attention source (rows); "
                "each compared map's normalised score (columns); frame: the winner, *: the "
                "planted map. A pipeline that can tell attention methods apart puts the frame on "
                "the star in every row with one.",
    "agreement": "Left: error consistency (Cohen's kappa, 95% CI) of each model with the humans "
                 "on the same trials; 0: errors as independent as the accuracies allow. Right: "
                 "human vs model error rate per (true expression, foil) cell, with the Pearson r "
                 "of the two patterns.",
    "faithfulness": "Deletion (left) and insertion (right) curves: the model's probability of the "
                    "target class as the most attended pixels are removed or inserted first, mean "
                    "over images per map; a faithful map drops fast under deletion (low AUC) and "
                    "rises fast under insertion (high AUC). Dotted: baselines (center, "
                    "random_model_<m>); shuffled_<m> is not scored (another image's map). Tied "
                    "pixels are taken in random order, averaged over seeded draws.",
}

#: What the normalised similarity score means, and when it is flagged (shown under the answers).
NORMALISED_NOTE = (
    "Normalised score = (mean − floor) / (upper − floor), with its 95% CI over images. 0 is the "
    "floor (the score of another image's human map); 1 is the upper bound of the noise ceiling: "
    "the expected score of a map equal to the true attention, given the noise of a human map "
    "made from this many participants (split-half reliability with the Spearman-Brown correction, "
    "then the correction for attenuation: upper = √(2r/(1+r)) for the split-half correlation r). "
    "The lower bound, 2r/(1+r), is what another group of as many participants would score. Only "
    "correlation metrics (spearman, cc) have these bounds; the other metrics are reported raw. "
    "Scores marked † are unreliable: there upper and floor differ by less than the width of the "
    "mean's 95% CI, so the division amplifies noise."
)

_VS = re.compile(r"\s+vs\.?\s+", flags=re.IGNORECASE)


# ----------------------------------------------------------------------------- number formatting

def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def format_p(p: Any) -> str:
    """A p-value as text: three decimals from 0.001, scientific below, ``< 1e-16`` at the floor."""
    if _missing(p):
        return "—"
    p = float(p)
    if p >= 0.001:
        return f"{p:.3f}"
    if p < 1e-16:
        return "< 1e-16"
    return f"{p:.1e}"


def _p_phrase(p: Any) -> str:
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def format_number(x: Any, digits: int = 3) -> str:
    """A statistic as text: ``digits`` significant digits, integers from 1000, scientific below 0.001."""
    if _missing(x):
        return "—"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    if abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x)))) if abs(x) >= 1 else digits
    return f"{x:.{decimals}f}"


def _pct(x: float) -> str:
    return f"{100 * float(x):.1f}%"


def _ci_pct(lo: float, hi: float) -> str:
    return f"95% CI {100 * float(lo):.1f}–{100 * float(hi):.1f}%"


# ----------------------------------------------------------------------------- context

def _config_get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"config: missing key {dotted!r} (needed for the report)")
        node = node[part]
    return node


def config_summary(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run's configuration in brief, as ``(label, value)`` text pairs."""
    ds_source = _config_get(config, "dataset.source")
    dataset = str(ds_source)
    if ds_source != "synthetic":
        dataset += f" ({config['dataset'].get('path')})"
    models = _config_get(config, "models")
    model_text = "; ".join(
        f"{name} ({spec.get('arch', '?')}, {spec.get('epochs', '?')} epochs, seed {spec.get('seed', '?')})"
        for name, spec in models.items()
    )
    humans = _config_get(config, "humans")
    h_source = _config_get(config, "humans.source")
    human_text = str(h_source)
    if h_source == "csv":
        human_text += f" (trials: {humans.get('trials')}, clicks: {humans.get('clicks')})"
    size = _config_get(config, "dataset.image_size")
    rows = [
        ("dataset source", dataset),
        ("expressions", ", ".join(_config_get(config, "dataset.expressions"))),
        ("image size", f"{size} × {size} px"),
        ("models", model_text),
        ("attention methods", ", ".join(_config_get(config, "saliency.methods"))),
        ("human data source", human_text),
    ]
    if "reveal_radius" in humans or "blur_sigma" in humans:
        rows.append(("human maps", f"reveal radius {humans.get('reveal_radius')} px (stimulus), "
                                   f"blur sigma {humans.get('blur_sigma')} px (model input)"))
    return rows


def normalization_span(summary: pd.DataFrame) -> pd.Series:
    """``upper − floor`` per summary row: the denominator of the normalised score."""
    return (pd.to_numeric(summary["upper"], errors="coerce")
            - pd.to_numeric(summary["floor"], errors="coerce"))


def unreliable_normalization(summary: pd.DataFrame) -> pd.Series:
    """True where ``|upper − floor|`` is smaller than the mean's CI width (see NORMALISED_NOTE)."""
    width = pd.to_numeric(summary["ci_high"], errors="coerce") - pd.to_numeric(summary["ci_low"],
                                                                               errors="coerce")
    span = normalization_span(summary).abs()
    return (span < width).fillna(False).astype(bool)


def _normalised_text(row: Mapping[str, Any], unreliable: bool) -> str:
    text = format_number(row["normalized"])
    if not _missing(row.get("normalized_low")) and not _missing(row["normalized"]):
        text += f" ({format_number(row['normalized_low'])} to {format_number(row['normalized_high'])})"
    return text + (" †" if unreliable else "")


def _parties(comparison: str) -> frozenset[str]:
    return frozenset(p.strip() for p in _VS.split(str(comparison)))


def accuracy_answers(
    accuracy: pd.DataFrame, stats: pd.DataFrame, alpha: float = 0.05,
    mixed_tests: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Humans vs each model: accuracies, difference, paired tests and a one-sentence verdict.

    Returns one dict per model (table order) with keys ``model``, ``human_accuracy``,
    ``model_accuracy``, ``difference`` (human minus model, proportion), ``tests`` (list of
    ``(test, p_value, p_adjusted)``), ``verdict`` (``'humans better'``, ``'model better'``,
    ``'no significant difference'`` or ``'no test'``) and ``sentence``.

    The verdict rests on the first test: the mixed model (``mixed_logit``) when ``stats`` has it,
    the other tests being secondary. With ``mixed_tests`` (``results/tables/accuracy_tests.csv``)
    the sentence also gives the mixed model's odds ratio and difference with 95% intervals.
    """
    require_columns(accuracy, ["agent", "n_trials", "n_correct", "accuracy", "ci_low", "ci_high"],
                    "accuracy table")
    require_columns(stats, ["test", "comparison", "statistic", "p_value", "p_adjusted",
                            "effect_size", "n"], "stats table")
    human = accuracy[accuracy["agent"] == "human"]
    if len(human) > 1:
        raise ValueError("accuracy table: more than one row for agent 'human'")
    models = accuracy[accuracy["agent"].astype(str).str.startswith("model:")]
    out: list[dict[str, Any]] = []
    h = human.iloc[0] if len(human) else None
    for _, m in models.iterrows():
        agent = str(m["agent"])
        name = agent[len("model:"):]
        model_part = (f"model {name}: {_pct(m['accuracy'])} ({_ci_pct(m['ci_low'], m['ci_high'])}, "
                      f"{int(m['n_trials'])} trials)")
        if h is None:
            out.append({"model": name, "human_accuracy": None, "model_accuracy": float(m["accuracy"]),
                        "difference": None, "tests": [], "verdict": "no test",
                        "sentence": f"No human accuracy in the table; {model_part}."})
            continue
        rows = stats[stats["comparison"].map(
            lambda c: _parties(c) in (frozenset({"human", agent}), frozenset({"human", name})))]
        # Only tests with a p-value (``accuracy_difference`` rows are descriptive: p is NaN).
        tests = [(str(r["test"]), r["p_value"], r["p_adjusted"]) for _, r in rows.iterrows()
                 if not _missing(r["p_value"])]
        tests.sort(key=lambda t: t[0] != "mixed_logit")  # the primary test first (stable)
        diff = float(h["accuracy"]) - float(m["accuracy"])
        if not tests:
            verdict = "no test"
        else:
            _, p, p_adj = tests[0]
            p_used = p if _missing(p_adj) else p_adj
            if _missing(p_used) or float(p_used) >= alpha or diff == 0:
                verdict = "no significant difference"
            else:
                verdict = "humans better" if diff > 0 else "model better"
        lead = {
            "humans better": f"Humans were more accurate than model {name}",
            "model better": f"Model {name} was more accurate than humans",
            "no significant difference": f"Humans and model {name} did not differ significantly "
                                         f"(α = {alpha:g})",
            "no test": f"Humans vs model {name} (no paired test found in stats.csv)",
        }[verdict]
        has_mixed = any(t == "mixed_logit" for t, _, _ in tests)

        def label(test: str) -> str:
            if test == "mixed_logit":
                return "mixed model"
            return f"secondary {test}" if has_mixed else f"paired test {test}"

        test_text = "; ".join(
            f"{label(t)}: {_p_phrase(p)}" + ("" if _missing(pa) else f", adjusted {_p_phrase(pa)}")
            for t, p, pa in tests
        )
        mixed_text = ""
        if mixed_tests is not None and not mixed_tests.empty:
            match = mixed_tests[mixed_tests["comparison"].map(
                lambda c: _parties(c) in (frozenset({"human", agent}), frozenset({"human", name})))]
            if len(match):
                t = match.iloc[0]
                mixed_text = (
                    f"; mixed model (participants and images as random effects): odds ratio "
                    f"{t['odds_ratio']:.2f} (95% CI {t['or_ci_low']:.2f}–{t['or_ci_high']:.2f}), "
                    f"difference {t['difference_pp']:+.1f} points (95% CI "
                    f"{t['difference_ci_low']:+.1f} to {t['difference_ci_high']:+.1f})")
        sentence = (
            f"{lead}: humans {_pct(h['accuracy'])} ({_ci_pct(h['ci_low'], h['ci_high'])}, "
            f"{int(h['n_trials'])} trials) vs {model_part}; difference {100 * diff:+.1f} "
            f"percentage points" + mixed_text + (f"; {test_text}." if test_text else ".")
        )
        out.append({"model": name, "human_accuracy": float(h["accuracy"]),
                    "model_accuracy": float(m["accuracy"]), "difference": diff, "tests": tests,
                    "verdict": verdict, "sentence": sentence})
    return out


QUESTION_AGREEMENT = "Do humans and models err on the same trials?"


def agreement_answers(agreement: pd.DataFrame) -> list[str]:
    """One sentence per model agent of ``results/tables/agreement.csv``: error consistency (kappa
    with its 95% CI, observed and expected agreement) and the confusion-pattern correlation."""
    require_columns(agreement, ["agent", "n_trials", "c_obs", "c_exp", "kappa", "kappa_ci_low",
                                "kappa_ci_high", "confusion_r", "n_cells"], "agreement table")
    out = []
    for _, r in agreement.iterrows():
        if _missing(r["kappa"]):
            kappa = "error consistency undefined (no errors to compare)"
        else:
            kappa = (f"error consistency kappa {r['kappa']:.2f} (95% CI {r['kappa_ci_low']:.2f} to "
                     f"{r['kappa_ci_high']:.2f}; same outcome on {_pct(r['c_obs'])} of "
                     f"{int(r['n_trials'])} trials, {_pct(r['c_exp'])} expected from the "
                     f"accuracies alone)")
        conf = ("confusion patterns not comparable" if _missing(r["confusion_r"]) else
                f"human and model error rates over {int(r['n_cells'])} (true expression, foil) "
                f"cells correlate r = {r['confusion_r']:.2f}")
        out.append(f"Humans vs {r['agent']}: {kappa}; {conf}.")
    return out


def similarity_answers(
    summary: pd.DataFrame, higher_is_better: Mapping[str, bool] | None = None
) -> list[dict[str, Any]]:
    """Per model and metric: the most and least human-like attention method, with numbers.

    Methods are ranked by ``mean`` in the metric's direction; baselines are excluded from the
    ranking and reported for comparison. Returns one dict per (model, metric) with keys ``model``,
    ``metric``, ``higher_is_better``, ``winner``, ``loser`` (None without attention methods),
    ``winner_mean``, ``winner_normalized``, ``beats_baselines`` (bool or None) and ``sentence``.
    """
    require_columns(summary, ["model", "method", "metric", "mean", "ci_low", "ci_high", "floor",
                              "upper", "normalized"], "similarity summary")
    out: list[dict[str, Any]] = []
    for model in dict.fromkeys(summary["model"]):
        for metric in order_metrics(summary.loc[summary["model"] == model, "metric"].tolist()):
            sub = summary[(summary["model"] == model) & (summary["metric"] == metric)]
            sub = sub[sub["mean"].notna()]
            sub = sub.assign(_unreliable=unreliable_normalization(sub)).set_index("method")
            if sub.index.has_duplicates:
                raise ValueError(f"similarity summary: several rows for model {model!r}, "
                                 f"metric {metric!r}, one method")
            higher = is_higher_better(metric, higher_is_better)
            direction = "higher is better" if higher else "lower is better"
            methods = order_methods(sub.index.tolist())
            attention = [m for m in methods if not is_baseline(m)]
            baselines = [m for m in methods if is_baseline(m)]
            base_text = ", ".join(f"{b} {format_number(sub.at[b, 'mean'])}" for b in baselines)
            entry: dict[str, Any] = {"model": model, "metric": metric, "higher_is_better": higher,
                                     "winner": None, "loser": None, "winner_mean": None,
                                     "winner_normalized": None, "beats_baselines": None}
            if not attention:
                entry["sentence"] = (f"{metric} ({direction}), model {model}: no attention method "
                                     f"has a value" + (f" (baselines: {base_text})." if base_text else "."))
                out.append(entry)
                continue
            def badness(method: str) -> float:
                return -sub.at[method, "mean"] if higher else sub.at[method, "mean"]

            ranked = sorted(attention, key=badness)  # stable: a tie goes to the method listed first
            win, lose = ranked[0], ranked[-1]
            w = sub.loc[win]
            sentence = (
                f"{metric} ({direction}), model {model}: most human-like is {win}, "
                f"mean {format_number(w['mean'])} (95% CI {format_number(w['ci_low'])} to "
                f"{format_number(w['ci_high'])}), normalised score "
                f"{_normalised_text(w, bool(w['_unreliable']))} (1 = noise ceiling"
                + ("; unreliable: upper bound and floor differ by less than the CI width)"
                   if w["_unreliable"] else ")")
            )
            if len(ranked) > 1:
                sentence += (f"; least human-like is {lose}, mean {format_number(sub.at[lose, 'mean'])},"
                             f" normalised {_normalised_text(sub.loc[lose], bool(sub.at[lose, '_unreliable']))}")
            beats = None
            if baselines:
                best_base = min(baselines, key=badness)
                b_mean, w_mean = float(sub.at[best_base, "mean"]), float(w["mean"])
                beats = w_mean > b_mean if higher else w_mean < b_mean
                sentence += (f". Baselines: {base_text}; {win} "
                             + ("beats every baseline" if beats
                                else f"does not beat the {best_base} baseline"))
            entry["winner_normalized_unreliable"] = bool(w["_unreliable"])
            entry.update(winner=win, loser=lose, winner_mean=float(w["mean"]),
                         winner_normalized=None if _missing(w["normalized"]) else float(w["normalized"]),
                         beats_baselines=beats, sentence=sentence + ".")
            out.append(entry)
    return out


#: How the report names each planted attention source (``humans.simulated.attention``).
SOURCE_DESCRIPTIONS: dict[str, str] = {
    "regions": "the faces' diagnostic regions (where the two options of a trial differ; "
               "results/data/diagnostic_regions.csv)",
    "center": "a Gaussian at the image centre",
    "uniform": "anywhere on the image, uniformly",
}


def planted_attention_sentences(source: str, expected: pd.DataFrame | None,
                                answers: Sequence[Mapping[str, Any]], metric: str = "spearman",
                                recovery_figure: str | None = None) -> list[str]:
    """What the answer to question 2 means when the observers are simulated.

    ``source``: ``humans.simulated.attention``; ``expected``: ``results/humans/simulated/
    expected.csv`` (``model, method, metric, mean``: each map against the density the observers
    aimed at); ``answers``: :func:`similarity_answers`. Per model: the map closest to the planted
    attention on ``metric`` (the winner expected by construction) and whether the winner found
    is that map. ``recovery_figure``: a path to cite when the recovery study has been run.
    """
    what = SOURCE_DESCRIPTIONS.get(source, f"the maps of method {source}")
    sentences = [f"The simulated observers were given an attention source: they aimed their "
                 f"clicks at {what} (humans.simulated.attention: {source}). The answer below is "
                 f"therefore set by that construction, and is checked against it."]
    if expected is not None and not expected.empty:
        require_columns(expected, ["model", "method", "metric", "mean"], "expected attention table")
        for a in answers:
            if a["metric"] != metric:
                continue
            sub = expected[(expected["model"] == a["model"]) & (expected["metric"] == metric)]
            if sub.empty:
                continue
            higher = is_higher_better(metric)
            best = sub.sort_values("mean", ascending=not higher, kind="stable").iloc[0]
            attention = sub[~sub["method"].map(is_baseline)]
            best_method = (attention.sort_values("mean", ascending=not higher, kind="stable")
                           .iloc[0]["method"] if not attention.empty else None)
            text = (f"Model {a['model']}, {metric}: the map closest to the planted attention is "
                    f"{best['method']} ({metric} {format_number(best['mean'])} against the "
                    f"density itself)")
            if is_baseline(best["method"]):
                text += (f", a baseline; among the attention methods it is {best_method}. The "
                         f"most human-like method found is {a['winner']}: "
                         + ("as expected" if a["winner"] == best_method else "not the one expected")
                         + (", and it beats every baseline" if a.get("beats_baselines")
                            else ", and it does not beat every baseline, as expected when the "
                                 "observers follow a baseline") + ".")
            else:
                text += (f". The most human-like method found is {a['winner']}: "
                         + ("the one expected." if a["winner"] == best["method"]
                            else "NOT the one expected; read the recovery study before trusting "
                                 "the answer."))
            sentences.append(text)
    if recovery_figure:
        sentences.append(f"Recovery study (snakemake recovery): observers given other attention "
                         f"sources, and whether the comparison finds each planted map, are in "
                         f"{recovery_figure} and results/recovery/recovery.csv.")
    else:
        sentences.append("Run `snakemake --cores 8 recovery` to check that the comparison finds "
                         "the planted map for other attention sources (results/recovery/).")
    return sentences


def verdict_sentences(verdicts: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """The tested answer to question 2, per model, on the primary metric (``verdict.csv``).

    A method is called the most human-like only when it beats every baseline and the runner-up
    in paired tests over images (:func:`ferattention.stats.attention_verdicts`); otherwise the
    sentence says that no method beats the baselines, or that the best two cannot be told apart.
    """
    require_columns(verdicts, ["model", "metric", "verdict", "best", "runner_up", "reason"],
                    "verdict table")
    out = []
    for _, v in verdicts.iterrows():
        row = summary[(summary["model"] == v["model"]) & (summary["metric"] == v["metric"])
                      & (summary["method"] == v["best"])]
        numbers = ""
        if not row.empty:
            r = row.iloc[0]
            numbers = (f" (mean {format_number(r['mean'])}, 95% CI {format_number(r['ci_low'])} to "
                       f"{format_number(r['ci_high'])}"
                       + ("" if _missing(r.get("normalized")) else
                          f"; normalised {_normalised_text(r, False)}") + ")")
        lead = f"Model {v['model']}, primary metric {v['metric']}: "
        if v["verdict"] == "most_human_like":
            text = f"the most human-like attention method is {v['best']}{numbers}; {v['reason']}."
        elif v["verdict"] == "best_two_tied":
            text = (f"the best two attention methods, {v['best']}{numbers} and {v['runner_up']}, "
                    f"cannot be told apart; {v['reason']}.")
        elif v["verdict"] == "not_better_than_baselines":
            text = (f"no attention method is more human-like than the baselines: the best, "
                    f"{v['best']}{numbers}, {v['reason'].split(' ', 1)[1]}.")
        else:
            text = "no attention method has similarity values."
        out.append(lead + text)
    return out


def _overall_sentences(answers: Sequence[Mapping[str, Any]]) -> list[str]:
    """Per model: how many metrics each method wins ('extremal_perturbation on 6 of 7 ...')."""
    sentences = []
    for model in dict.fromkeys(a["model"] for a in answers):
        rows = [a for a in answers if a["model"] == model and a["winner"] is not None]
        if not rows:
            continue
        wins: dict[str, list[str]] = {}
        for a in rows:
            wins.setdefault(a["winner"], []).append(a["metric"])
        ordered = sorted(wins.items(), key=lambda kv: -len(kv[1]))
        parts = [f"{m} on {len(ms)} of {len(rows)} ({', '.join(ms)})" for m, ms in ordered]
        sentences.append(f"Model {model}, untested, by the highest mean per metric: "
                         + "; ".join(parts) + ".")
    return sentences


def _table(frame: pd.DataFrame, formats: Mapping[str, Any], text: Sequence[str]) -> dict[str, list]:
    """A frame as ``{'columns', 'rows', 'numeric'}``: header, text cells, and which columns are numbers.

    ``formats`` maps each output column to a function of the row; ``text`` names the columns that
    are not numbers (numbers are right-aligned when rendered).
    """
    columns = list(formats)
    rows = [[formats[c](r) for c in columns] for _, r in frame.iterrows()]
    return {"columns": columns, "rows": rows, "numeric": [c not in text for c in columns]}


def format_tables(
    accuracy: pd.DataFrame, summary: pd.DataFrame, stats: pd.DataFrame,
    higher_is_better: Mapping[str, bool] | None = None,
) -> dict[str, dict[str, list]]:
    """The three result tables as text cells, ready to render (numbers rounded, p-values readable)."""
    accuracy = accuracy.assign(_h=(accuracy["agent"] != "human").astype(int)).sort_values("_h", kind="stable")
    acc = _table(accuracy, {
        "agent": lambda r: str(r["agent"]),
        "trials": lambda r: str(int(r["n_trials"])),
        "correct": lambda r: str(int(r["n_correct"])),
        "accuracy": lambda r: _pct(r["accuracy"]),
        "95% CI": lambda r: f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}",
    }, text=["agent"])
    metric_rank = {m: i for i, m in enumerate(order_metrics(summary["metric"].tolist()))}
    method_rank = {m: i for i, m in enumerate(order_methods(summary["method"].tolist()))}
    summ = summary.assign(_mt=summary["metric"].map(metric_rank), _me=summary["method"].map(method_rank))
    summ = summ.assign(_span=normalization_span(summ), _unreliable=unreliable_normalization(summ))
    summ = summ.sort_values(["model", "_mt", "_me"], kind="stable")
    sim = _table(summ, {
        "model": lambda r: str(r["model"]),
        "metric": lambda r: f"{r['metric']} "
                            f"({'↑' if is_higher_better(r['metric'], higher_is_better) else '↓'})",
        "method": lambda r: str(r["method"]),
        "mean": lambda r: format_number(r["mean"]),
        "95% CI": lambda r: f"{format_number(r['ci_low'])} to {format_number(r['ci_high'])}",
        "floor": lambda r: format_number(r["floor"]),
        "upper": lambda r: format_number(r["upper"]),
        "normalised": lambda r: _normalised_text(r, bool(r["_unreliable"])),
    }, text=["model", "metric", "method"])
    st = _table(stats, {
        "test": lambda r: str(r["test"]),
        "comparison": lambda r: str(r["comparison"]),
        "statistic": lambda r: format_number(r["statistic"]),
        "p": lambda r: format_p(r["p_value"]),
        "p (adjusted)": lambda r: format_p(r["p_adjusted"]),
        "effect size": lambda r: format_number(r["effect_size"]),
        "n": lambda r: "—" if _missing(r["n"]) else str(int(r["n"])),
    }, text=["test", "comparison"])
    return {"accuracy": acc, "similarity_summary": sim, "stats": st}


TABLE_TITLES: dict[str, str] = {
    "accuracy": "Accuracy (results/tables/accuracy.csv)",
    "similarity_summary": "Attention similarity (results/tables/similarity_summary.csv; "
                          "↑ higher is better, ↓ lower is better)",
    "stats": "Statistical tests (results/tables/stats.csv)",
    "accuracy_breakdown": "Humans vs models per expression and per expression pair "
                          "(results/tables/stats.csv; Holm within each test and breakdown)",
}


def format_frame(frame: pd.DataFrame) -> dict[str, list]:
    """Any table as text cells: numbers rounded (:func:`format_number`), other values as text."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    integer = [pd.api.types.is_integer_dtype(frame[c]) for c in frame.columns]
    formats = {c: ((lambda r, c=c: str(int(r[c]))) if whole else
                   (lambda r, c=c: format_number(r[c]))) if num else (lambda r, c=c: str(r[c]))
               for c, num, whole in zip(frame.columns, numeric, integer)}
    return _table(frame, formats, text=[c for c, num in zip(frame.columns, numeric) if not num])


def region_summary(regions: pd.DataFrame) -> pd.DataFrame:
    """``regions.csv`` as one row per agent and method, one column per region: the mean share."""
    require_columns(regions, ["image_id", "agent", "method", "region", "share"], "regions table")
    wide = regions.pivot_table(index=["agent", "method"], columns="region", values="share",
                               aggfunc="mean", sort=False)
    return wide[list(dict.fromkeys(regions["region"]))].reset_index()


def faithfulness_summary(faithfulness: pd.DataFrame) -> pd.DataFrame:
    """``faithfulness.csv`` as one row per model and method: mean deletion and insertion AUC."""
    require_columns(faithfulness, ["image_id", "model", "method", "curve", "auc"],
                    "faithfulness table")
    wide = faithfulness.pivot_table(index=["model", "method"], columns="curve", values="auc",
                                    aggfunc="mean", sort=False)
    wide.columns = [f"{c} AUC" for c in wide.columns]
    n = faithfulness.groupby(["model", "method"], sort=False)["image_id"].nunique()
    return wide.assign(images=n).reset_index()


def extremal_areas_summary(areas: pd.DataFrame) -> pd.DataFrame:
    """EP ``areas.csv`` tables (with a ``model`` column) as one row per model and target area:
    images, mean, min and max area reached."""
    require_columns(areas, ["image_id", "model", "area_target", "area_reached"], "EP areas table")
    grouped = areas.groupby(["model", "area_target"], sort=False)["area_reached"]
    return pd.DataFrame({
        "images": grouped.size(), "mean area reached": grouped.mean(),
        "min": grouped.min(), "max": grouped.max(),
    }).reset_index().rename(columns={"area_target": "target area"})


def provenance(generated: dt.datetime) -> str:
    """One line: package, Python and (when importable) Snakemake versions, and the date."""
    import platform

    parts = [f"ferattention {__version__}", f"Python {platform.python_version()}"]
    try:
        from importlib.metadata import version

        parts.append(f"Snakemake {version('snakemake')}")
    except Exception:  # noqa: BLE001 - provenance is best effort, never a failure
        pass
    return "Generated by " + ", ".join(parts) + f" on {generated:%Y-%m-%d %H:%M} UTC."


def _caption(name: str) -> str:
    if name in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[name]
    for key, text in FIGURE_CAPTIONS.items():
        if name.startswith(key):
            return f"{text} ({name})"
    return name


def build_report_context(
    config: Mapping[str, Any],
    accuracy: pd.DataFrame,
    summary: pd.DataFrame,
    stats: pd.DataFrame,
    figure_paths: Mapping[str, str | os.PathLike],
    simulated_humans: bool,
    higher_is_better: Mapping[str, bool] | None = None,
    alpha: float = 0.05,
    extra_tables: Mapping[str, tuple[str, pd.DataFrame]] | None = None,
    generated: dt.datetime | None = None,
    expected_attention: pd.DataFrame | None = None,
    recovery_figure: str | os.PathLike | None = None,
    verdicts: pd.DataFrame | None = None,
    mixed_tests: pd.DataFrame | None = None,
    agreement: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as plain data (text, numbers, paths); no HTML.

    ``accuracy``, ``summary`` and ``stats`` are the tables of docs/design.md §5.5;
    ``figure_paths`` maps a figure name (``accuracy``, ``similarity``, ``examples``,
    ``dataset``, ``confusion_<model>``, ...) to its file, with or without ``.png``/``.pdf``
    suffix (the PNG is embedded). ``simulated_humans`` switches the simulated-data notice on; it
    must be true when the config's ``humans.source`` is ``simulated``. ``extra_tables`` maps a
    key to ``(title, frame)`` for further tables shown as they are (numbers rounded), after the
    three main ones. ``generated`` (default: now, UTC) goes into the provenance line. With
    simulated humans, ``expected_attention`` (``results/humans/simulated/expected.csv``) and
    ``recovery_figure`` (when the recovery study has been run) explain what the answer to
    question 2 means (:func:`planted_attention_sentences`). ``verdicts`` (``verdict.csv``) gives
    the tested answer to question 2 on the primary metric (:func:`verdict_sentences`).
    ``mixed_tests`` (``accuracy_tests.csv``) adds the mixed model's odds ratio and difference to
    the accuracy answers; ``agreement`` (``agreement.csv``) adds the agreement answers.

    Rows of ``stats`` whose comparison carries a breakdown scope (``... [expression=happy]``,
    ``... [pair=anger/happy]``, see :mod:`ferattention.stats`) are shown in their own table of
    accuracy breakdowns; per-expression similarity tests stay in ``stats.csv`` only.
    """
    if _config_get(config, "humans.source") == "simulated" and not simulated_humans:
        raise ValueError("humans.source is 'simulated' but simulated_humans is False: "
                         "the report must say that the human data are simulated")
    scoped = stats["comparison"].astype(str).str.contains(r" \[[a-z_]+=", regex=True)
    breakdown = stats[scoped & stats["comparison"].astype(str).str.startswith("human vs ")]
    stats = stats[~scoped]
    acc_answers = accuracy_answers(accuracy, stats, alpha=alpha, mixed_tests=mixed_tests)
    tables = format_tables(accuracy, summary, stats, higher_is_better)
    if not breakdown.empty:
        tables["accuracy_breakdown"] = format_tables(accuracy, summary, breakdown,
                                                     higher_is_better)["stats"]
    titles = dict(TABLE_TITLES)
    for key, (title, frame) in (extra_tables or {}).items():
        tables[key] = format_frame(frame)
        titles[key] = title
    generated = generated or dt.datetime.now(dt.timezone.utc)
    sim_answers = similarity_answers(summary, higher_is_better)
    planted = []
    if simulated_humans:
        source = config["humans"].get("simulated", {}).get("attention", "regions")
        planted = planted_attention_sentences(
            source, expected_attention, sim_answers,
            recovery_figure=None if recovery_figure is None else str(recovery_figure))
    figure_items = list(figure_paths.items())
    if recovery_figure is not None:
        figure_items.append(("recovery", recovery_figure))
    return {
        "title": TITLE,
        "version": __version__,
        "config_summary": config_summary(config),
        "simulated_humans": bool(simulated_humans),
        "simulated_notice": SIMULATED_NOTICE if simulated_humans else None,
        "question_accuracy": QUESTION_ACCURACY,
        "question_similarity": QUESTION_SIMILARITY,
        "accuracy_answers": acc_answers,
        "similarity_answers": sim_answers,
        "answer_accuracy": [a["sentence"] for a in acc_answers],
        "question_agreement": QUESTION_AGREEMENT,
        "answer_agreement": [] if agreement is None else agreement_answers(agreement),
        "answer_similarity_overall": _overall_sentences(sim_answers),
        "answer_similarity_planted": planted,
        "answer_similarity_verdict": ([] if verdicts is None
                                      else verdict_sentences(verdicts, summary)),
        "answer_similarity": [a["sentence"] for a in sim_answers],
        "tables": tables,
        "table_titles": titles,
        "normalised_note": NORMALISED_NOTE,
        "provenance": provenance(generated),
        "figures": [
            {"name": name, "caption": _caption(name), "path": str(_figure_files(path)[0])}
            for name, path in figure_items
        ],
    }


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: #222; background: #fafafa; margin: 0; line-height: 1.5; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 3rem; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
.sub { color: #666; margin-top: 0; }
.notice { border: 3px solid #b00020; background: #fdecea; color: #5f0010; padding: 0.8rem 1rem;
          font-size: 1.05rem; font-weight: 600; border-radius: 4px; margin: 1rem 0; }
.answers li { margin-bottom: 0.4rem; }
.overall { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 12rem; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9rem; margin-top: 0.3rem; }
.note { color: #444; font-size: 0.9rem; }
footer { color: #777; font-size: 0.85rem; margin-top: 2rem; }
"""

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Mapping[str, list]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table["columns"])
    body = []
    for row in table["rows"]:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if num else f"<td>{_e(v)}</td>"
            for v, num in zip(row, table["numeric"])
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _embedded_png(path: str | os.PathLike, name: str) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"report: figure {name!r} not found at {path}")
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"report: figure {name!r} at {path} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(context: Mapping[str, Any]) -> str:
    """The report page as one HTML string (figures embedded, CSS inline, every data text escaped)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(context['title'])}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(context['title'])}</h1>",
        f'<p class="sub">Workflow report, ferattention {_e(context["version"])}. Question, answer, '
        f"then the evidence: tables and figures.</p>",
        f'<p class="sub">{_e(context.get("provenance", ""))}</p>',
    ]
    if context.get("simulated_notice"):
        parts.append(f'<div class="notice" role="alert">{_e(context["simulated_notice"])}</div>')
    kv = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in context["config_summary"])
    parts += ["<h2>This run</h2>", f'<table class="kv"><tbody>{kv}</tbody></table>']

    parts.append('<h2>Answers</h2><div class="answers">')
    parts.append(f"<h3>{_e(context['question_accuracy'])}</h3>")
    acc = context["answer_accuracy"] or ["No model accuracy in the accuracy table."]
    parts.append("<ul>" + "".join(f"<li>{_e(s)}</li>" for s in acc) + "</ul>")
    if context.get("answer_agreement"):
        parts.append(f"<h3>{_e(context['question_agreement'])}</h3>")
        parts.append("<ul>" + "".join(f"<li>{_e(s)}</li>" for s in context["answer_agreement"])
                     + "</ul>")
    parts.append(f"<h3>{_e(context['question_similarity'])}</h3>")
    overall = context["answer_similarity_overall"]
    if context.get("answer_similarity_planted"):
        parts.append('<p class="note">' + " ".join(_e(t) for t in context["answer_similarity_planted"])
                     + "</p>")
    verdict = context.get("answer_similarity_verdict") or []
    secondary = "" if verdict else ' class="overall"'   # untested wins lead only without a verdict
    parts.append("<ul>" + "".join(f'<li class="overall">{_e(s)}</li>' for s in verdict)
                 + "".join(f"<li{secondary}>{_e(s)}</li>" for s in overall)
                 + "".join(f"<li>{_e(s)}</li>" for s in context["answer_similarity"]) + "</ul>")
    if not overall and not context["answer_similarity"]:
        parts.append("<p>No similarity results in the summary table.</p>")
    if context.get("normalised_note"):
        parts.append(f'<p class="note">{_e(context["normalised_note"])}</p>')
    parts.append("</div>")

    titles = context.get("table_titles", TABLE_TITLES)
    parts.append("<h2>Tables</h2>")
    for key, table in context["tables"].items():
        parts.append(f"<h3>{_e(titles.get(key, key))}</h3>{_html_table(table)}")
        if key == "similarity_summary" and context.get("normalised_note"):
            parts.append(f'<p class="note">{_e(context["normalised_note"])}</p>')

    if context["figures"]:
        parts.append("<h2>Figures</h2>")
    for fig in context["figures"]:
        src = _embedded_png(fig["path"], fig["name"])
        parts.append(f'<figure id="fig-{_e(fig["name"])}"><img src="{src}" alt="{_e(fig["name"])}">'
                     f"<figcaption>{_e(fig['caption'])}</figcaption></figure>")
    parts.append("<footer>Every figure is also in results/figures/ as PNG and PDF; the full "
                 "per-image results are in results/tables/similarity.csv. "
                 + _e(context.get("provenance", "")) + "</footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def render_report(context: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write the report of ``context`` (from :func:`build_report_context`) to ``path`` atomically."""
    text = render_html(context)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
