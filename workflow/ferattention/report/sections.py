"""The report's content as plain data (no HTML): the result tables as text cells, summaries of
further tables, figure captions, and :func:`build_report_context`, which gathers all of it with
the answers of :mod:`.answers`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .. import __version__
from ..figures import figure_paths as _figure_files
from ..figures import is_higher_better, order_methods, order_metrics, require_columns
from .answers import (
    NORMALISED_NOTE,
    QUESTION_ACCURACY,
    QUESTION_AGREEMENT,
    QUESTION_SIMILARITY,
    _config_get,
    _missing,
    _normalised_text,
    _overall_sentences,
    _pct,
    accuracy_answers,
    agreement_answers,
    config_summary,
    format_number,
    format_p,
    planted_attention_sentences,
    similarity_answers,
    verdict_sentences,
    pooled_accuracy_sentences,
)
from ..stats import normalization_span, unreliable_normalization

TITLE = "Human and machine attention in facial expression recognition"

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
                  "dotted line: floor (the centre bias: the mean of the other images' human maps). Grey band, hollow dots: "
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


def extra_tables(
    regions: pd.DataFrame, agreement: pd.DataFrame, accuracy_tests: pd.DataFrame,
    faithfulness: pd.DataFrame, extremal_areas: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, tuple[str, pd.DataFrame]]:
    """The report's tables after the three main ones, as ``key -> (title, frame)`` in page order
    (the ``extra_tables`` of :func:`build_report_context`).

    ``regions`` (``regions.csv``; left out when empty: no region masks) is shown as
    :func:`region_summary`, ``agreement`` (``agreement.csv``) and ``accuracy_tests``
    (``accuracy_tests.csv``) as they are, ``faithfulness`` (``faithfulness.csv``) as
    :func:`faithfulness_summary`; ``extremal_areas`` (model -> its EP ``areas.csv``; none when
    the run has no Extremal Perturbation) as :func:`extremal_areas_summary`.
    """
    extra = {}
    if not regions.empty:
        extra["regions"] = ("Share of attention per facial region, mean over images "
                            "(results/tables/regions.csv; area: a uniform map's share)",
                            region_summary(regions))
    extra["agreement"] = ("Agreement beyond accuracy: error consistency and confusion patterns "
                          "(results/tables/agreement.csv)", agreement)
    extra["accuracy_tests"] = ("Humans vs each model (results/tables/accuracy_tests.csv): "
                               "logistic mixed model (odds ratio on a typical image), accuracy "
                               "difference with its crossed-bootstrap CI; both humans vs model",
                               accuracy_tests)
    extra["faithfulness"] = ("Faithfulness to the model: mean deletion and insertion AUC over "
                             "images (results/tables/faithfulness.csv; deletion: lower is more "
                             "faithful, insertion: higher)", faithfulness_summary(faithfulness))
    if extremal_areas:
        areas = pd.concat([table.assign(model=model) for model, table in extremal_areas.items()],
                          ignore_index=True)
        extra["extremal_areas"] = ("Extremal Perturbation: mask area reached against its target, "
                                   "fractions of the image (results/saliency/{model}/"
                                   "extremal_perturbation/areas.csv)",
                                   extremal_areas_summary(areas))
    return extra

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
    ``mixed_tests`` (``accuracy_tests.csv``) adds the difference's interval and the mixed
    model's odds ratio to the accuracy answers; ``agreement`` (``agreement.csv``) adds the agreement answers.

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
            recovery_figure=None if recovery_figure is None else str(recovery_figure),
            verdicts=verdicts)
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
        # pooled over each model's instances first, then every instance
        "answer_accuracy": pooled_accuracy_sentences(mixed_tests)
        + [f"Instance {a['model']}: {a['sentence']}" if "/seed-" in a["model"] else a["sentence"]
           for a in acc_answers],
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
