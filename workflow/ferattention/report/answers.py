"""The report's words: the answers to the study's questions as sentences with numbers, the
planted-attention and verdict sentences, the run's configuration in brief, and number formatting.

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

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..figures import (
    is_higher_better,
    order_methods,
    order_metrics,
    require_columns,
)
from ..methods import is_baseline
from ..stats import accuracy_verdict, unreliable_normalization
from ..instances import split_key
from ..verdicts import BOOTSTRAP_TEST

QUESTION_ACCURACY = "1. Do humans recognise the expressions better than the models?"
QUESTION_SIMILARITY = "2. Which machine attention method is most similar to human attention?"

#: What the normalised similarity score means, and when it is flagged (shown under the answers).
NORMALISED_NOTE = (
    "Normalised score = (mean − floor) / (upper − floor), with its 95% CI over images. 0 is the "
    "floor: the score of the centre bias, the mean of the other images' human maps (where people "
    "look on faces in general, not on this face; Kümmerer et al. 2015); 1 is the upper bound of the noise ceiling: "
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



def _normalised_text(row: Mapping[str, Any], unreliable: bool) -> str:
    text = format_number(row["normalized"])
    if not _missing(row.get("normalized_low")) and not _missing(row["normalized"]):
        text += f" ({format_number(row['normalized_low'])} to {format_number(row['normalized_high'])})"
    return text + (" †" if unreliable else "")


def _parties(comparison: str) -> frozenset[str]:
    return frozenset(p.strip() for p in _VS.split(str(comparison)))


#: The mixed model's false-positive rate at alpha 0.05 by the SD of the model's own image
#: effects (logit scale), as simulated by ``python -m ferattention.bench inference`` and
#: ``bench calibration`` (docs/validation.md): printed beside its odds ratio.
MIXED_FALSE_POSITIVES: tuple[tuple[float, float], ...] = ((0.73, 0.045), (1.3, 0.04),
                                                          (2.5, 0.13), (3.9, 0.45), (6.13, 0.71))


def accuracy_answers(
    accuracy: pd.DataFrame, stats: pd.DataFrame, alpha: float = 0.05,
    mixed_tests: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Humans vs each model: accuracies, difference, paired tests and a one-sentence verdict.

    Returns one dict per model (table order) with keys ``model``, ``human_accuracy``,
    ``model_accuracy``, ``difference`` (human minus model, proportion), ``tests`` (list of
    ``(test, p_value, p_adjusted)``), ``verdict`` (``'humans better'``, ``'model better'``,
    ``'no significant difference'``, ``'directions differ'`` or ``'no test'``) and ``sentence``.

    The verdict rests on the primary test: the bootstrap over images and participants
    (``hierarchical_bootstrap``) when ``stats`` has it, else the mixed model (``mixed_logit``),
    the other tests being secondary. The mixed model is secondary because where a model's own
    image deviations are widely spread its test rejects a true null far too often
    (:data:`MIXED_FALSE_POSITIVES`, docs/validation.md); its odds ratio, conditional on a typical image, is
    shown as such. When the mixed model is the primary test its odds ratio can favour the other
    side than the accuracies do: the verdict is then ``'directions differ'`` only where both
    intervals exclude 0. With ``mixed_tests`` (``results/tables/accuracy_tests.csv``) the
    sentence gives the primary test's interval of the difference and the odds ratio with its
    interval.
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
        parties = (frozenset({"human", agent}), frozenset({"human", name}))

        def of_this_model(comparison: object) -> bool:
            return _parties(comparison) in parties

        rows = stats[stats["comparison"].map(of_this_model)]
        # Only tests with a p-value (``accuracy_difference`` rows are descriptive: p is NaN).
        tests = [(str(r["test"]), r["p_value"], r["p_adjusted"]) for _, r in rows.iterrows()
                 if not _missing(r["p_value"])]
        names = {t for t, _, _ in tests}
        primary = next((t for t in (BOOTSTRAP_TEST, "mixed_logit") if t in names), None)
        tests.sort(key=lambda t: t[0] != primary)  # the primary test first (stable)
        diff = float(h["accuracy"]) - float(m["accuracy"])
        mixed_rows = rows[rows["test"] == "mixed_logit"]
        # > 0: humans better on a typical image (the log odds ratio)
        log_or = float(mixed_rows["effect_size"].iloc[0]) if len(mixed_rows) else math.nan
        mixed_row = primary_row = None  # this model's rows of accuracy_tests.csv
        if mixed_tests is not None and not mixed_tests.empty:
            match = mixed_tests[mixed_tests["comparison"].map(of_this_model)]
            # a table without a test column holds the mixed model's rows only
            by_test = {str(r.get("test", "mixed_logit")): r for _, r in match.iterrows()}
            mixed_row = by_test.get("mixed_logit")
            primary_row = by_test.get(primary or "", mixed_row)
        unconfirmed = False  # the test rejects, the accuracy difference's interval holds 0
        if not tests:
            verdict = "no test"
        else:
            test, p, p_adj = tests[0]
            p_used = p if _missing(p_adj) else p_adj
            verdict, unconfirmed = accuracy_verdict(
                math.nan if _missing(p_used) else float(p_used), diff, alpha,
                log_or if test == "mixed_logit" else math.nan,
                (math.nan, math.nan) if primary_row is None
                else (primary_row["difference_ci_low"], primary_row["difference_ci_high"]),
                (math.nan, math.nan) if mixed_row is None or test != "mixed_logit"
                else (math.log(mixed_row["or_ci_low"]), math.log(mixed_row["or_ci_high"])))
        side = {True: "humans", False: f"model {name}"}
        lead = {
            "humans better": f"Humans were more accurate than model {name}",
            "model better": f"Model {name} was more accurate than humans",
            "no significant difference": f"Humans and model {name} did not differ significantly "
                                         f"(α = {alpha:g}" + (
                                             ": the mixed model's test rejects, but the 95% CI "
                                             "of the accuracy difference includes 0"
                                             if unconfirmed else "") + ")",
            "directions differ": f"Humans vs model {name}: the mixed model favours "
                                 f"{side[log_or > 0]} on a typical image, the accuracies favour "
                                 f"{side[diff > 0]} (errors spread unevenly over the images)",
            "no test": f"Humans vs model {name} (no paired test found in stats.csv)",
        }[verdict]
        def label(test: str) -> str:
            name = {BOOTSTRAP_TEST: "hierarchical bootstrap", "mixed_logit": "mixed model"}.get(test,
                                                                                         test)
            if test == primary:
                return name
            return f"secondary {name}" if primary else f"paired test {name}"

        test_text = "; ".join(
            f"{label(t)}: {_p_phrase(p)}" + ("" if _missing(pa) else f", adjusted {_p_phrase(pa)}")
            for t, p, pa in tests
        )
        ci_text = mixed_text = ""
        if primary_row is not None:
            r = primary_row
            how = ("images and participants resampled" if primary == BOOTSTRAP_TEST
                   else "participants and images resampled")
            ci_text = (f" (95% CI {r['difference_ci_low']:+.1f} to {r['difference_ci_high']:+.1f}, "
                       f"{how})")
        if mixed_row is not None:
            r = mixed_row
            # The odds ratio is conditional on a typical image and can be extreme where a model's
            # errors cluster on a few images; two significant digits keep a small one readable.
            mixed_text = (f"; mixed model (participants and images as random effects): odds ratio "
                          f"on a typical image {r['odds_ratio']:.2g} (95% CI {r['or_ci_low']:.2g}–"
                          f"{r['or_ci_high']:.2g})")
            if primary == BOOTSTRAP_TEST:
                measured = ", ".join(f"{rate:g} at SD {sd:g}" for sd, rate in MIXED_FALSE_POSITIVES)
                mixed_text += (
                    ", secondary: its test holds its error rate only where the model's own "
                    f"image effects are narrow (false-positive rate {measured} in simulation, "
                    f"docs/validation.md; this study: SD {r['sd_image_agent']:.2g} on the logit "
                    "scale)")
        sentence = (
            f"{lead}: humans {_pct(h['accuracy'])} ({_ci_pct(h['ci_low'], h['ci_high'])}, "
            f"{int(h['n_trials'])} trials) vs {model_part}; difference {100 * diff:+.1f} "
            f"percentage points" + ci_text + mixed_text + (f"; {test_text}." if test_text else ".")
        )
        out.append({"model": name, "human_accuracy": float(h["accuracy"]),
                    "model_accuracy": float(m["accuracy"]), "difference": diff, "tests": tests,
                    "verdict": verdict, "sentence": sentence})
    return out


QUESTION_AGREEMENT = "Do humans and models err on the same trials?"


def agreement_answers(agreement: pd.DataFrame) -> list[str]:
    """One sentence per model agent of ``results/tables/agreement.csv``: error consistency (kappa
    with its 95% CI, observed and expected agreement, the largest kappa the accuracies allow and
    the humans' own where the table has them) and the confusion-pattern correlation."""
    require_columns(agreement, ["agent", "n_trials", "c_obs", "c_exp", "kappa", "kappa_ci_low",
                                "kappa_ci_high", "confusion_r", "n_cells"], "agreement table")
    out = []
    for _, r in agreement.iterrows():
        if _missing(r["kappa"]):
            kappa = "error consistency undefined (no errors to compare)"
        else:
            kappa = (f"error consistency kappa {r['kappa']:.2f} (95% CI {r['kappa_ci_low']:.2f} to "
                     f"{r['kappa_ci_high']:.2f}, participants and identities resampled; same "
                     f"outcome on {_pct(r['c_obs'])} of {int(r['n_trials'])} trials, "
                     f"{_pct(r['c_exp'])} expected from the accuracies alone")
            if not _missing(r.get("kappa_max")):
                kappa += f"; at most {r['kappa_max']:.2f} at these accuracies"
            if not _missing(r.get("human_kappa")):
                kappa += f"; humans among themselves {r['human_kappa']:.2f}"
            kappa += ")"
        conf = ("confusion patterns not comparable" if _missing(r["confusion_r"]) else
                f"human and model error rates over {int(r['n_cells'])} (true expression, foil) "
                f"cells correlate r = {r['confusion_r']:.2f}")
        out.append(f"Humans vs {r['agent']}: {kappa}; {conf}.")
    return out


def similarity_answers(
    summary: pd.DataFrame, higher_is_better: Mapping[str, bool] | None = None
) -> list[dict[str, Any]]:
    """Per model and metric, descriptive: the attention methods with the highest and lowest mean.

    Methods are ranked by ``mean`` in the metric's direction; baselines are excluded from the
    ranking and reported for comparison. Nothing here is tested (the sentences say so): the
    tested answer is :func:`verdict_sentences`. Returns one dict per (model, metric) with keys ``model``,
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
                f"{metric} ({direction}), model {model}, descriptive: highest mean {win}, "
                f"mean {format_number(w['mean'])} (95% CI {format_number(w['ci_low'])} to "
                f"{format_number(w['ci_high'])}), normalised score "
                f"{_normalised_text(w, bool(w['_unreliable']))} (1 = noise ceiling"
                + ("; unreliable: upper bound and floor differ by less than the CI width)"
                   if w["_unreliable"] else ")")
            )
            if len(ranked) > 1:
                sentence += (f"; lowest {lose}, mean {format_number(sub.at[lose, 'mean'])},"
                             f" normalised {_normalised_text(sub.loc[lose], bool(sub.at[lose, '_unreliable']))}")
            beats = None
            if baselines:
                best_base = min(baselines, key=badness)
                b_mean, w_mean = float(sub.at[best_base, "mean"]), float(w["mean"])
                beats = w_mean > b_mean if higher else w_mean < b_mean
                sentence += (f". Baselines: {base_text}; {win}'s mean is "
                             + ("above every baseline's" if beats
                                else f"not above the {best_base} baseline's")
                             + " (untested; the verdict above is the test)")
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


def planted_verdict_sentence(source: str, verdict: Mapping[str, Any], expected_method: str | None
                             ) -> str:
    """Whether the tested verdict (a ``verdict.csv`` row) found the planted attention.

    ``expected_method``: the attention method closest to the planted density (None: none
    known). For ``center`` and ``uniform`` sources no attention method is the truth, so the
    right verdict names none; for a method source or ``regions``, the closest method.
    """
    lead = f"The tested verdict for {verdict['model']} ({verdict['metric']}) "
    named = verdict["best"] if verdict["verdict"] == "most_human_like" else None
    if source in ("center", "uniform"):
        return lead + (f"names {named} although no attention method was planted: a false winner."
                       if named else "names no winner, as it should when no method was planted.")
    if named is None:
        return lead + (f"names no winner ({str(verdict['verdict']).replace('_', ' ')}), so it "
                       f"did not find the planted attention"
                       + (f" ({expected_method})." if expected_method else "."))
    if expected_method is None:
        return lead + f"names {named}."
    return lead + (f"names {named}: the planted attention, found." if named == expected_method
                   else f"names {named}, not the planted {expected_method}: read the recovery "
                        f"study before trusting the answer.")


def _closest_method(expected: pd.DataFrame | None, model: str, metric: str) -> str | None:
    """The attention method (no baseline) whose maps of ``model`` (its instances pooled) come
    closest to the planted density on ``metric``; None without an expected table."""
    if expected is None or expected.empty:
        return None
    names = expected["model"].astype(str).map(lambda m: split_key(m)[0])
    sub = expected[(names == model) & (expected["metric"] == metric)
                   & ~expected["method"].map(is_baseline)]
    if sub.empty:
        return None
    means = sub.groupby("method")["mean"].mean()
    return str(means.idxmax() if is_higher_better(metric) else means.idxmin())


def planted_attention_sentences(source: str, expected: pd.DataFrame | None,
                                answers: Sequence[Mapping[str, Any]], metric: str = "spearman",
                                recovery_figure: str | None = None,
                                verdicts: pd.DataFrame | None = None) -> list[str]:
    """What the answer to question 2 means when the observers are simulated.

    ``source``: ``humans.simulated.attention``; ``expected``: ``results/humans/simulated/
    expected.csv`` (``model, method, metric, mean``: each map against the density the observers
    aimed at); ``answers``: :func:`similarity_answers`. Per model: the map closest to the planted
    attention on ``metric`` (the winner expected by construction) and whether the winner found
    is that map; with ``verdicts`` (``verdict.csv``, instance keys in ``model``), whether each
    pooled verdict on ``metric`` found it (:func:`planted_verdict_sentence`).
    ``recovery_figure``: a path to cite when the recovery study has been run.
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
                         f"attention method with the highest mean is {a['winner']}: "
                         + ("as expected." if a["winner"] == best_method
                            else "not the one expected."))
            else:
                text += (f". The attention method with the highest mean is {a['winner']}: "
                         + ("the one expected." if a["winner"] == best["method"]
                            else "NOT the one expected; read the recovery study before trusting "
                                 "the answer."))
            sentences.append(text)
    if verdicts is not None and not verdicts.empty:
        pooled = verdicts[~verdicts["model"].astype(str).str.contains("/seed-", regex=False)
                          & (verdicts["metric"] == metric)]
        for _, v in pooled.iterrows():
            sentences.append(planted_verdict_sentence(
                source, v, _closest_method(expected, str(v["model"]), metric)))
    if recovery_figure:
        sentences.append(f"Recovery study (snakemake recovery): observers given other attention "
                         f"sources, and whether the comparison finds each planted map, are in "
                         f"{recovery_figure} and results/recovery/recovery.csv.")
    else:
        sentences.append("Run `snakemake --cores 8 recovery` to check that the comparison finds "
                         "the planted map for other attention sources (results/recovery/).")
    return sentences


def _interval(x: Any, lo: Any, hi: Any, signed: bool = True) -> str:
    f = (lambda v: f"{float(v):+.3f}") if signed else format_number
    return "—" if _missing(x) else f"{f(x)} (95% CI {f(lo)} to {f(hi)})"


def verdict_sentences(verdicts: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """The tested answer to question 2 on the primary metric (``verdict.csv``): each model
    pooled over its instances first, with the share of instances naming the same winner, then
    each instance.

    A method is called the most human-like only when it beats every baseline (the human floor
    included) and the runner-up (:func:`ferattention.verdicts.attention_verdicts`); otherwise the
    sentence says that no method beats the baselines, or that the best two cannot be told apart.
    ``verdicts`` and ``summary`` with ``model`` as instance keys for instance rows
    (:func:`ferattention.instances.fold`).
    """
    require_columns(verdicts, ["model", "metric", "verdict", "best", "runner_up", "reason"],
                    "verdict table")
    pooled = ~verdicts["model"].astype(str).str.contains("/seed-", regex=False)
    out = []
    for _, v in pd.concat([verdicts[pooled], verdicts[~pooled]]).iterrows():
        row = summary[(summary["model"] == v["model"]) & (summary["metric"] == v["metric"])
                      & (summary["method"] == v["best"])]
        numbers = ""
        if not row.empty:
            r = row.iloc[0]
            numbers = (f" (mean {format_number(r['mean'])}, 95% CI {format_number(r['ci_low'])} to "
                       f"{format_number(r['ci_high'])}"
                       + ("" if _missing(r.get("normalized")) else
                          f"; normalised {_normalised_text(r, False)}") + ")")
        elif not _missing(v.get("best_mean")):
            numbers = f" (mean {format_number(v['best_mean'])})"
        n = v.get("n_instances")
        if not pooled[_]:
            lead = f"Instance {v['model']}, primary metric {v['metric']}: "
        elif _missing(n):
            lead = f"Model {v['model']}, primary metric {v['metric']}: "
        else:
            lead = (f"Model {v['model']}, pooled over {int(n)} instance(s), primary metric "
                    f"{v['metric']}: ")
        if v["verdict"] == "most_human_like":
            text = f"the most human-like attention method is {v['best']}{numbers}; {v['reason']}"
        elif v["verdict"] == "best_two_tied":
            text = (f"the best two attention methods, {v['best']}{numbers} and {v['runner_up']}, "
                    f"cannot be told apart; {v['reason']}")
        elif v["verdict"] == "not_better_than_baselines":
            text = (f"no attention method is more human-like than the baselines: the best, "
                    f"{v['best']}{numbers}, {v['reason'].split(' ', 1)[1]}")
        else:
            text = "no attention method has similarity values"
        if not _missing(v.get("runner_up")) and not _missing(v.get("difference")):
            text += (f". {v['best']} minus {v['runner_up']}: "
                     f"{_interval(v['difference'], v['difference_ci_low'], v['difference_ci_high'])}")
            if not _missing(v.get("normalized_difference")):
                text += (", normalised " + _interval(v["normalized_difference"],
                                                     v["normalized_difference_ci_low"],
                                                     v["normalized_difference_ci_high"]))
        if pooled[_] and not _missing(n) and not _missing(v.get("instance_winners")):
            text += f". Winner named by the instances' own verdicts: {v['instance_winners']}"
        out.append(lead + text + ".")
    return out


def pooled_accuracy_sentences(mixed_tests: pd.DataFrame | None) -> list[str]:
    """Question 1 per model pooled over its instances (``accuracy_tests.csv``'s
    ``hierarchical_bootstrap`` rows): the difference with its interval and p, the verdict, and
    how many instances' own verdicts agree."""
    if mixed_tests is None or "test" not in mixed_tests.columns:
        return []
    lead = {"humans better": "humans were more accurate than {m}",
            "model better": "{m} was more accurate than humans",
            "no significant difference": "humans and {m} did not differ significantly",
            "directions differ": "humans vs {m}: the tests disagree in direction"}
    out = []
    def pooled(comparison: object) -> bool:  # "human vs model:<model>[@view]", no seed
        name = str(comparison).removeprefix("human vs model:").split("@", 1)[0]
        return split_key(name)[1] is None

    rows = mixed_tests[(mixed_tests["test"] == BOOTSTRAP_TEST)
                       & mixed_tests["comparison"].map(pooled)]
    for _, r in rows.iterrows():
        agent = str(r["comparison"]).removeprefix("human vs ")
        name = agent.removeprefix("model:")
        n = int(r["n_instances"])
        out.append(
            f"Model {name}, pooled over {n} instance(s): "
            + lead.get(str(r["verdict"]), "{m}: " + str(r["verdict"])).format(m=f"model {name}")
            + f": humans {_pct(r['human_accuracy'])}, the instances' mean {_pct(r['model_accuracy'])}; "
            f"difference {r['difference_pp']:+.1f} percentage points (95% CI "
            f"{r['difference_ci_low']:+.1f} to {r['difference_ci_high']:+.1f}; instances, face "
            f"identities and participants resampled), {_p_phrase(r['p_value'])}"
            + ("" if _missing(r["p_adjusted"]) else f", adjusted {_p_phrase(r['p_adjusted'])}")
            + f". The instances' own verdicts agree in {int(r['instances_agreeing'])} of {n}.")
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
        sentences.append(f"Model {model}, descriptive (untested), the highest mean per metric: "
                         + "; ".join(parts) + ".")
    return sentences

