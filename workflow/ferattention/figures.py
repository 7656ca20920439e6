"""Figures of the study: accuracy, attention similarity, example maps, the dataset, confusions.

All figures share one style (:data:`STYLE`, applied per figure, never globally) and one colour per
method and for ``human`` (:func:`palette`), so a method looks the same in every figure. Every figure
is written as PNG and PDF by :func:`save_figure`, atomically. Inputs are the result tables of
docs/design.md §5.5 with exactly those columns; a missing column is an error naming the table.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (cluster nodes have no display)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from . import catalogue  # noqa: E402
from .io import atomic_path  # noqa: E402
from .methods import RANDOM_MODEL_PREFIX, SHUFFLED_PREFIX, base_method, is_baseline  # noqa: E402

#: Fixed colours (seaborn's colour-blind-safe palette) of the agents and methods the design names.
METHOD_COLORS: dict[str, str] = {
    "human": "#d55e00",
    "cam": "#0173b2",
    "gradcam": "#029e73",
    "extremal_perturbation": "#cc78bc",
    "center": "#949494",
    "random_model": "#ca9161",
}

#: Colour of every model's bar in the accuracy figure (models are told apart by their labels).
MODEL_COLOR = "#4c5d73"

#: Colours for any other name (methods added later, models in the accuracy figure), chosen by a
#: stable hash of the name so that a name keeps its colour across figures, runs and machines.
EXTRA_COLORS: tuple[str, ...] = ("#de8f05", "#56b4e9", "#ece133", "#17becf", "#7f3c8d", "#3b3b98")

#: Names, display order, baseline status and metric direction: :mod:`ferattention.catalogue`.
#: Baseline methods named without a method (docs/design.md §6.5); ``random_model_<m>`` and
#: ``shuffled_<m>`` are baselines too (:func:`ferattention.methods.is_baseline`). All are drawn
#: after the attention methods. ``HIGHER_IS_BETTER``: which way is better per metric.
BASELINES: tuple[str, ...] = tuple(m for m in catalogue.METHODS if catalogue.is_baseline(m))
METHOD_ORDER: tuple[str, ...] = tuple(m for m in catalogue.METHODS if not catalogue.is_baseline(m))
METRIC_ORDER: tuple[str, ...] = tuple(catalogue.METRICS)
HIGHER_IS_BETTER = catalogue.HIGHER_IS_BETTER

#: How far a method's baselines move its colour: ``shuffled_<m>`` towards white (lighter),
#: ``random_model_<m>`` towards black (darker); figures also hatch or dot every baseline.
BASELINE_SHADE: dict[str, tuple[str, float]] = {SHUFFLED_PREFIX: ("#ffffff", 0.55),
                                                RANDOM_MODEL_PREFIX: ("#000000", 0.35)}

#: Hatch of baseline bars.
BASELINE_HATCH = "///"

#: The one style of every figure: seaborn's white grid at paper scale, slightly enlarged text.
STYLE: dict[str, Any] = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("paper", font_scale=1.25),
    "savefig.dpi": 150,
    "figure.dpi": 100,
    "axes.titleweight": "bold",
    "pdf.fonttype": 42,  # embed TrueType, so text in the PDF stays editable
}

#: Colour map of saliency and human maps overlaid on faces.
MAP_CMAP = "inferno"

_F = TypeVar("_F", bound=Callable[..., Any])


def _styled(func: _F) -> _F:
    """Run a plotting function under :data:`STYLE` without touching global matplotlib state."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def color_of(name: str) -> str:
    """The fixed hex colour of one method or agent name (``model:<name>`` agents included).

    A method's baselines take its colour, shaded (:data:`BASELINE_SHADE`): ``shuffled_gradcam``
    is a lighter, ``random_model_gradcam`` a darker ``gradcam``.
    """
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    for prefix, (towards, amount) in BASELINE_SHADE.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            rgb = np.array(matplotlib.colors.to_rgb(color_of(base_method(name))))
            mixed = (1 - amount) * rgb + amount * np.array(matplotlib.colors.to_rgb(towards))
            return matplotlib.colors.to_hex(mixed)
    return EXTRA_COLORS[zlib.crc32(name.encode("utf-8")) % len(EXTRA_COLORS)]


def palette(methods: Sequence[str]) -> dict[str, str]:
    """Map each name in ``methods`` to its fixed hex colour (same name -> same colour, always)."""
    return {m: color_of(m) for m in methods}


def order_methods(methods: Sequence[str]) -> list[str]:
    """Distinct ``methods`` in display order: named methods, other methods (sorted), baselines.

    Baselines come as ``center``, ``random_model_<m>``, then ``shuffled_<m>``, each group in the
    order of its methods (:func:`ferattention.catalogue.method_order`).
    """
    return catalogue.method_order(methods)


def order_metrics(metrics: Sequence[str]) -> list[str]:
    """Distinct ``metrics`` in display order: those of section 8 first, then others (sorted)."""
    return catalogue.metric_order(metrics)


def is_higher_better(metric: str, higher_is_better: Mapping[str, bool] | None = None) -> bool:
    """Whether larger values of ``metric`` mean more similar maps (default: :data:`HIGHER_IS_BETTER`)."""
    table = HIGHER_IS_BETTER if higher_is_better is None else higher_is_better
    return bool(table.get(metric, True))


def require_columns(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    """Raise ``ValueError`` naming ``table`` and the missing columns if ``frame`` lacks any."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{table}: missing column(s) {missing}; expected {list(columns)}, got {list(frame.columns)}"
        )


def figure_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``(png, pdf)`` paths of a figure given with or without a ``.png``/``.pdf`` suffix."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".png", ".pdf") else path
    return stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")


def save_figure(fig: Figure, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``fig`` as PNG and PDF beside each other, atomically, and close it.

    ``path`` may end in ``.png``, ``.pdf`` or have no such suffix; both files are written. Neither
    appears unless both were rendered. The PDF carries no creation date, so reruns on the same
    inputs give identical files. The PNG has :data:`STYLE`'s resolution. Returns ``(png_path, pdf_path)``.
    """
    png, pdf = figure_paths(path)
    try:
        with atomic_path(png) as tmp_png, atomic_path(pdf) as tmp_pdf:
            fig.savefig(tmp_png, format="png", bbox_inches="tight", dpi=STYLE["savefig.dpi"])
            fig.savefig(tmp_pdf, format="pdf", bbox_inches="tight", metadata={"CreationDate": None})
    finally:
        plt.close(fig)
    return png, pdf


def _agent_label(agent: str) -> str:
    return f"model:\n{agent[len('model:'):]}" if agent.startswith("model:") else agent


@_styled
def plot_accuracy(accuracy: pd.DataFrame, path: str | os.PathLike) -> tuple[Path, Path]:
    """Bar plot of 2AFC accuracy per agent with its confidence interval and the chance line.

    ``accuracy``: ``results/tables/accuracy.csv`` (``agent,n_trials,n_correct,accuracy,ci_low,
    ci_high``; accuracy and CI as proportions in [0, 1]). ``human`` comes first, models follow in
    table order. Returns the ``(png, pdf)`` paths.
    """
    require_columns(accuracy, ["agent", "n_trials", "n_correct", "accuracy", "ci_low", "ci_high"],
                    "accuracy table")
    if accuracy.empty:
        raise ValueError("accuracy table: no rows to plot")
    acc = accuracy.copy()
    acc["_order"] = (acc["agent"] != "human").astype(int)
    acc = acc.sort_values("_order", kind="stable").reset_index(drop=True)
    x = np.arange(len(acc))
    colors = [MODEL_COLOR if a.startswith("model:") else color_of(a) for a in acc["agent"]]
    yerr = np.vstack([acc["accuracy"] - acc["ci_low"], acc["ci_high"] - acc["accuracy"]])

    fig, ax = plt.subplots(figsize=(max(4.2, 1.1 * len(acc) + 1.6), 3.8))
    ax.bar(x, acc["accuracy"], color=colors, width=0.62, edgecolor="black", linewidth=0.6)
    ax.errorbar(x, acc["accuracy"], yerr=yerr, fmt="none", ecolor="black", capsize=5, linewidth=1.2)
    ax.axhline(0.5, color="0.3", linestyle="--", linewidth=1.0, zorder=0, label="chance (2AFC)")
    for xi, (_, row) in zip(x, acc.iterrows()):
        ax.text(xi, 0.02, f"{row['accuracy']:.1%}\nn={int(row['n_trials'])}", ha="center",
                va="bottom", fontsize="small", color="white", fontweight="bold")
    ax.set_xticks(x, [_agent_label(a) for a in acc["agent"]])
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("2AFC accuracy (proportion correct)")
    ax.set_title("Expression recognition: humans vs models")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, fontsize="small")
    ax.grid(axis="x", visible=False)
    return save_figure(fig, path)


def _ci_band(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval of the mean of ``values`` (NaNs ignored)."""
    values = values[np.isfinite(values)]
    mean = float(values.mean())
    half = 1.96 * float(values.std(ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half


@_styled
def plot_similarity(
    similarity: pd.DataFrame,
    summary: pd.DataFrame,
    reliability: pd.DataFrame,
    path: str | os.PathLike,
    higher_is_better: Mapping[str, bool] | None = None,
) -> tuple[Path, Path]:
    """Per metric a panel: per-image similarity of every method to the human maps.

    Methods are on x, per-image values as jittered points in the method's colour, the summary's
    mean and CI as a black marker with error bar, the upper bound of the noise ceiling and the
    floor (:mod:`ferattention.humans.reliability`) as lines with their 95% band of the mean over
    images. With several models the
    panels form a grid (rows: models, columns: metrics); with one model they wrap in rows of four.

    ``similarity``: ``image_id,model,method,metric,value``; ``summary``: ``model,method,metric,
    mean,ci_low,ci_high,...``; ``reliability``: ``image_id,metric,upper,floor,n_participants``. ``higher_is_better`` maps metric -> direction (default ``{'kl': False}``,
    others higher); the y label says which way is better. Returns the ``(png, pdf)`` paths.
    """
    require_columns(similarity, ["image_id", "model", "method", "metric", "value"], "similarity table")
    require_columns(summary, ["model", "method", "metric", "mean", "ci_low", "ci_high"],
                    "similarity summary")
    require_columns(reliability, ["image_id", "metric", "upper", "floor", "n_participants"],
                    "reliability table")
    if similarity.empty:
        raise ValueError("similarity table: no rows to plot")
    models = list(dict.fromkeys(similarity["model"]))
    metrics = order_metrics(similarity["metric"].tolist())
    methods = order_methods(similarity["method"].tolist())
    colors = palette(methods)
    pos = {m: i for i, m in enumerate(methods)}

    if len(models) == 1:
        ncols = min(4, len(metrics))
        nrows = int(np.ceil(len(metrics) / ncols))
        cells = [(models[0], metric) for metric in metrics]
    else:
        ncols, nrows = len(metrics), len(models)
        cells = [(model, metric) for model in models for metric in metrics]
    width = max(2.6, 0.55 * len(methods) + 1.2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.6 * nrows), squeeze=False)
    rng = np.random.default_rng(0)  # fixed jitter: the figure is reproducible

    for ax, (model, metric) in zip(axes.flat, cells):
        sub = similarity[(similarity["model"] == model) & (similarity["metric"] == metric)]
        point_size = 8 if len(sub) <= 300 * len(methods) else 3
        for method, group in sub.groupby("method", sort=False):
            vals = group["value"].to_numpy(dtype=float)
            jitter = rng.uniform(-0.18, 0.18, size=len(vals))
            if is_baseline(method):  # hollow points on a grey band: a baseline, not a method
                ax.scatter(pos[method] + jitter, vals, s=point_size, facecolors="none",
                           edgecolors=colors[method], alpha=0.6, linewidths=0.6, zorder=2)
            else:
                ax.scatter(pos[method] + jitter, vals, s=point_size, color=colors[method], alpha=0.45,
                           linewidths=0, zorder=2)
        first_base = next((pos[m] for m in methods if is_baseline(m)), None)
        if first_base is not None:
            ax.axvspan(first_base - 0.5, len(methods) - 0.5, color="0.93", linewidth=0, zorder=0)
        rel = reliability[reliability["metric"] == metric]
        for column, color, style in (("upper", METHOD_COLORS["human"], "-"), ("floor", "0.35", ":")):
            vals = rel[column].to_numpy(dtype=float)
            if np.isfinite(vals).any():
                mean, lo, hi = _ci_band(vals)
                ax.axhspan(lo, hi, color=color, alpha=0.15, linewidth=0, zorder=0)
                ax.axhline(mean, color=color, linestyle=style, linewidth=1.4, zorder=1)
        summ = summary[(summary["model"] == model) & (summary["metric"] == metric)]
        for _, row in summ.iterrows():
            if row["method"] not in pos:
                continue
            x = pos[row["method"]]
            # The interval as drawn from its ends: a percentile CI need not contain the mean
            # (a map equal to the human map scores below it in every crossed replicate).
            ax.vlines(x, row["ci_low"], row["ci_high"], color="black", linewidth=1.3, zorder=4)
            ax.hlines([row["ci_low"], row["ci_high"]], x - 0.08, x + 0.08, color="black",
                      linewidth=1.3, zorder=4)
            ax.plot(x, row["mean"], "D", color="black", markersize=5, zorder=5,
                    markeredgecolor="white", markeredgewidth=0.6)
        better = "higher" if is_higher_better(metric, higher_is_better) else "lower"
        ax.set_ylabel(f"{metric}\n({better} = more human-like)")
        ax.set_title(metric if len(models) == 1 else f"{model}: {metric}")
        ax.set_xticks(range(len(methods)), methods, rotation=35, ha="right")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.grid(axis="x", visible=False)
    for ax in list(axes.flat)[len(cells):]:
        ax.set_visible(False)

    handles = [
        Line2D([], [], marker="D", color="black", linestyle="none", markersize=5,
               label="mean over images (95% CI)"),
        Line2D([], [], color=METHOD_COLORS["human"], linewidth=1.4,
               label="noise ceiling (upper bound), band: 95% CI"),
        Line2D([], [], color="0.35", linestyle=":", linewidth=1.4,
               label="floor (centre bias: other images' human maps), band: 95% CI"),
        Line2D([], [], marker="o", color="0.5", alpha=0.6, linestyle="none", markersize=4,
               label="one image"),
        Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="0.5", linestyle="none",
               markersize=4, label="one image, baseline (grey band; shuffled_: lighter, "
                                   "random_model_: darker colour of its method)"),
    ]
    fig.suptitle("Similarity of machine attention to human attention", fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    # below the panels (bbox_inches="tight" keeps it in the file), so it can never cover data
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=4 if ncols >= 3 else 2, frameon=False, fontsize="small")
    return save_figure(fig, path)


def _normalise_map(m: np.ndarray) -> np.ndarray:
    """Rescale a map to [0, 1] for display (a constant map becomes zeros)."""
    m = np.asarray(m, dtype=float)
    lo, hi = np.nanmin(m), np.nanmax(m)
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def _lookup(maps: Mapping[str, np.ndarray], image_id: str, what: str) -> np.ndarray:
    if image_id not in maps:
        raise KeyError(f"{what}: no map for image_id {image_id!r}")
    return np.asarray(maps[image_id])


@_styled
def plot_examples(
    images: Mapping[str, np.ndarray],
    human_maps: Mapping[str, np.ndarray],
    method_maps: Mapping[str, Mapping[str, np.ndarray]],
    image_ids: Sequence[str],
    labels: Mapping[str, str],
    path: str | os.PathLike,
    alpha: float = 0.55,
) -> tuple[Path, Path]:
    """Grid of example maps: one row per image, columns face, human map, each method's map.

    ``images``, ``human_maps`` and each ``method_maps[method]`` map ``image_id`` to float32
    ``(H, W)`` arrays of the same size (faces in [0, 1]). Maps are overlaid on the face after
    scaling each to its own [0, 1] range (only where attention lies is compared, not its scale).
    ``labels[image_id]`` (e.g. the expression) labels the row. Returns the ``(png, pdf)`` paths.
    """
    if not image_ids:
        raise ValueError("plot_examples: no image ids given")
    methods = order_methods(list(method_maps))
    titles = ["face", "human", *methods]
    colors = {"face": "black", **palette(["human", *methods])}
    nrows, ncols = len(image_ids), len(titles)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.75 * ncols, 1.85 * nrows + 0.4), squeeze=False)
    for r, image_id in enumerate(image_ids):
        face = _lookup(images, image_id, "images")
        overlays = [None, _lookup(human_maps, image_id, "human maps")]
        overlays += [_lookup(method_maps[m], image_id, f"{m} maps") for m in methods]
        for c, overlay in enumerate(overlays):
            ax = axes[r, c]
            ax.imshow(face, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if overlay is not None:
                if overlay.shape != face.shape:
                    raise ValueError(f"{titles[c]} map of {image_id!r} has shape {overlay.shape}, "
                                     f"the image {face.shape}")
                ax.imshow(_normalise_map(overlay), cmap=MAP_CMAP, vmin=0, vmax=1, alpha=alpha,
                          interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(titles[c].replace("_", "\n"), color=colors[titles[c]], fontsize="medium")
        label = labels.get(image_id, "")
        axes[r, 0].set_ylabel(f"{label}\n{image_id}" if label else image_id, fontsize="small")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.text(0.5, 0.005, "each map scaled to its own range; bright = more attention",
             ha="center", va="bottom", fontsize="small", color="0.3")
    return save_figure(fig, path)


@_styled
def plot_dataset_examples(
    grid_or_images: np.ndarray | Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path: str | os.PathLike,
) -> tuple[Path, Path]:
    """Grid of faces, identities (rows) x expressions (columns).

    ``grid_or_images``: an array ``(R, C, H, W)`` or ``R`` sequences of ``C`` images ``(H, W)`` in
    [0, 1]; a ``None`` cell stays empty (an identity without that expression). Returns the
    ``(png, pdf)`` paths.
    """
    rows = [list(r) for r in grid_or_images]
    if len(rows) != len(row_labels):
        raise ValueError(f"plot_dataset_examples: {len(rows)} rows of images, {len(row_labels)} row labels")
    for i, r in enumerate(rows):
        if len(r) != len(col_labels):
            raise ValueError(f"plot_dataset_examples: row {i} has {len(r)} images, "
                             f"{len(col_labels)} column labels")
    nrows, ncols = len(rows), len(col_labels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.45 * ncols + 0.5, 1.5 * nrows + 0.3), squeeze=False)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            ax = axes[r, c]
            if img is not None:
                ax.imshow(np.asarray(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(col_labels[c], fontsize="medium")
        axes[r, 0].set_ylabel(row_labels[r], fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)


@_styled
def plot_confusion(
    confusion: np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike,
    title: str = "Confusion matrix",
) -> tuple[Path, Path]:
    """Heatmap of a confusion matrix, each row normalised to proportions of its true class.

    ``confusion``: counts ``(K, K)``, rows true classes and columns predictions, in ``labels``
    order. A class without test images gives an empty (blank) row. Returns the ``(png, pdf)`` paths.
    """
    confusion = np.asarray(confusion, dtype=float)
    k = len(labels)
    if confusion.shape != (k, k):
        raise ValueError(f"plot_confusion: matrix of shape {confusion.shape} for {k} labels")
    if (confusion < 0).any():
        raise ValueError("plot_confusion: negative counts")
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        props = np.where(totals > 0, confusion / totals, np.nan)
    side = 0.6 * k + 1.8
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    row_labels = [f"{name} (n={int(n)})" for name, n in zip(labels, totals[:, 0])]
    sns.heatmap(props, ax=ax, vmin=0, vmax=1, cmap="Blues", annot=k <= 12, fmt=".2f", square=True,
                xticklabels=list(labels), yticklabels=row_labels, linewidths=0.5, linecolor="white",
                cbar_kws={"label": "proportion of true class", "shrink": 0.8},
                annot_kws={"fontsize": "small"})
    ax.grid(False)
    for i in np.flatnonzero(totals[:, 0] == 0):
        ax.text(k / 2, i + 0.5, "no images of this class", ha="center", va="center",
                fontsize="small", color="0.4")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", rotation=0)
    return save_figure(fig, path)


@_styled
def plot_accuracy_by_pair(by_pair: pd.DataFrame, path: str | os.PathLike) -> tuple[Path, Path]:
    """Grouped bars: 2AFC accuracy of humans and each model per option pair, with 95% CIs.

    ``by_pair``: ``agent, pair, n_trials, n_correct, accuracy, ci_low, ci_high`` (from
    :func:`ferattention.stats.accuracy_by_group` on a ``pair`` column); ``human`` first.
    """
    require_columns(by_pair, ["agent", "pair", "n_trials", "accuracy", "ci_low", "ci_high"],
                    "per-pair accuracy table")
    if by_pair.empty:
        raise ValueError("per-pair accuracy table: no rows to plot")
    agents = sorted(pd.unique(by_pair["agent"]), key=lambda a: (a != "human",))
    pairs = sorted(pd.unique(by_pair["pair"]))
    width = 0.8 / len(agents)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(pairs) * len(agents) + 2.0), 4.0))
    for i, agent in enumerate(agents):
        sub = by_pair[by_pair["agent"] == agent].set_index("pair").reindex(pairs)
        x = np.arange(len(pairs)) - 0.4 + width * (i + 0.5)
        color = color_of(agent)
        yerr = np.vstack([sub["accuracy"] - sub["ci_low"], sub["ci_high"] - sub["accuracy"]])
        ax.bar(x, sub["accuracy"], width=width * 0.95, color=color, edgecolor="black",
               linewidth=0.5, label=agent)
        ax.errorbar(x, sub["accuracy"], yerr=np.nan_to_num(yerr), fmt="none", ecolor="black",
                    capsize=2, linewidth=0.8)
    ax.axhline(0.5, color="0.3", linestyle="--", linewidth=1.0, zorder=0, label="chance (2AFC)")
    ax.set_xticks(np.arange(len(pairs)), [p.replace("/", "\nvs ") for p in pairs])
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("2AFC accuracy (proportion correct)")
    ax.set_title("Accuracy per expression pair")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(4, len(agents) + 1),
              frameon=False, fontsize="small")
    ax.grid(axis="x", visible=False)
    return save_figure(fig, path)


def _message_figure(title: str, message: str, path: str | os.PathLike) -> tuple[Path, Path]:
    fig, ax = plt.subplots(figsize=(6.0, 2.0))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize="medium", color="0.3")
    return save_figure(fig, path)


@_styled
def plot_regions(regions: pd.DataFrame, path: str | os.PathLike) -> tuple[Path, Path]:
    """Mean share of each map's mass per facial region, for humans, each model x method and the
    region's area (``agent == 'area'``: the share a uniform map would give).

    ``regions``: ``results/tables/regions.csv`` (``image_id, agent, method, region, share``). An
    empty table (no regions known for the dataset) gives a figure saying so.
    """
    require_columns(regions, ["image_id", "agent", "method", "region", "share"], "regions table")
    title = "Attention per facial region"
    if regions.empty:
        return _message_figure(title, "No facial regions are known for this dataset\n"
                               "(results/data/regions.npz is empty): region analysis skipped.", path)
    frame = regions.assign(series=np.where(
        regions["agent"].isin(["human", "area"]), regions["agent"],
        regions["agent"].str.removeprefix("model:") + " / " + regions["method"]))
    by_model: dict[str, list[str]] = {}
    for name in sorted(set(frame["series"]) - {"human", "area"}):
        model, method = name.split(" / ", 1)
        by_model.setdefault(model, []).append(method)
    machine = [f"{model} / {method}" for model in sorted(by_model)
               for method in order_methods(by_model[model])]  # each model's baselines last
    series = list(dict.fromkeys(["human", *machine, "area"]))
    series = [s for s in series if s in set(frame["series"])]
    colors = {s: color_of("human") if s == "human" else "#bbbbbb" if s == "area"
              else color_of(s.split(" / ", 1)[1]) for s in series}
    region_order = list(dict.fromkeys(frame["region"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.3 * len(series) * len(region_order) + 2.5), 4.0))
    sns.barplot(data=frame, x="region", y="share", hue="series", order=region_order,
                hue_order=series, palette=colors, errorbar=("ci", 95), n_boot=500, seed=0,
                ax=ax, edgecolor="black", linewidth=0.4)
    for container, name in zip(ax.containers, series):
        if " / " in name and is_baseline(name.split(" / ", 1)[1]):  # baselines hatched
            for bar in container:
                bar.set_hatch(BASELINE_HATCH)
    ax.set_ylabel("share of map mass (mean over images)")
    ax.set_xlabel("")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    ax.grid(axis="x", visible=False)
    return save_figure(fig, path)


@_styled
def plot_faithfulness(curves: pd.DataFrame, auc: pd.DataFrame,
                      path: str | os.PathLike) -> tuple[Path, Path]:
    """Mean deletion (left) and insertion (right) curves per method, one row per model.

    ``curves``: ``model, method, curve, fraction, probability`` (mean over images); ``auc``:
    ``results/tables/faithfulness.csv`` (``image_id, model, method, curve, auc``), whose mean AUC
    per line is written in the legend. ``human`` is the human map scored on the model.
    """
    require_columns(curves, ["model", "method", "curve", "fraction", "probability"],
                    "faithfulness curves")
    require_columns(auc, ["image_id", "model", "method", "curve", "auc"], "faithfulness table")
    if curves.empty:
        raise ValueError("faithfulness curves: no rows to plot")
    mean_auc = auc.groupby(["model", "method", "curve"])["auc"].mean()
    models = list(dict.fromkeys(curves["model"]))
    kinds = ["deletion", "insertion"]
    fig, axes = plt.subplots(len(models), 2, figsize=(10.0, 3.6 * len(models)), squeeze=False)
    for r, model in enumerate(models):
        sub = curves[curves["model"] == model]
        methods = order_methods([m for m in dict.fromkeys(sub["method"]) if m != "human"])
        methods = ["human", *methods] if "human" in set(sub["method"]) else methods
        for c, kind in enumerate(kinds):
            ax = axes[r, c]
            for method in methods:
                line = sub[(sub["method"] == method) & (sub["curve"] == kind)]
                value = mean_auc.get((model, method, kind), np.nan)
                ax.plot(line["fraction"], line["probability"], color=color_of(method),
                        linewidth=2.0 if method == "human" else 1.4,
                        linestyle=":" if is_baseline(method) else "-",
                        label=f"{method} (AUC {value:.3f})")
            better = "lower" if kind == "deletion" else "higher"
            ax.set_title(f"{model}: {kind} ({better} AUC = more faithful)")
            ax.set_xlabel(f"share of pixels {'removed' if kind == 'deletion' else 'inserted'}, "
                          "most attended first")
            ax.set_ylabel("probability of the target class")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize="x-small", frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


@_styled
def plot_recovery(recovery: pd.DataFrame, path: str | os.PathLike,
                  metrics: Sequence[str] = ("spearman", "cc")) -> tuple[Path, Path]:
    """The recovery study: per model and metric, a sources x methods grid of normalised scores.

    ``recovery``: ``results/recovery/recovery.csv`` (``source, model, method, metric, mean,
    normalized, rank, planted``). Cells show the normalised score (mean where a metric has no
    bounds; "–" where it is undefined); a black frame marks each source's winner (rank 1), ``*`` the planted map. Only
    ``metrics`` present in the table are drawn (the first metric of the table if none is).
    Returns the ``(png, pdf)`` paths.
    """
    require_columns(recovery, ["source", "model", "method", "metric", "mean", "normalized",
                               "rank", "planted"], "recovery table")
    if recovery.empty:
        raise ValueError("recovery table: no rows to plot")
    present = [m for m in metrics if m in set(recovery["metric"])] or [recovery["metric"].iloc[0]]
    models = list(dict.fromkeys(recovery["model"]))
    sources = list(dict.fromkeys(recovery["source"]))
    methods = order_methods(recovery["method"].tolist())
    cells = [(model, metric) for model in models for metric in present]
    fig, axes = plt.subplots(1, len(cells), squeeze=False,
                             figsize=(max(4.0, 0.75 * len(methods) + 2.2) * len(cells),
                                      0.55 * len(sources) + 2.4))
    for ax, (model, metric) in zip(axes.flat, cells):
        sub = recovery[(recovery["model"] == model) & (recovery["metric"] == metric)]
        value = "normalized" if sub["normalized"].notna().any() else "mean"
        grid = sub.pivot(index="source", columns="method", values=value).reindex(
            index=sources, columns=methods)
        planted = sub.pivot(index="source", columns="method", values="planted").reindex(
            index=sources, columns=methods).fillna(False).astype(bool)
        labels = grid.map(lambda v: "–" if pd.isna(v) else f"{v:.2f}") + planted.map(
            lambda p: "*" if p else "")
        sns.heatmap(grid.astype(float), ax=ax, cmap="viridis", annot=labels, fmt="",
                    vmin=0 if value == "normalized" else None,
                    vmax=1 if value == "normalized" else None,
                    cbar_kws={"label": "normalised score" if value == "normalized" else "mean"},
                    annot_kws={"fontsize": "small"}, linewidths=0.5, linecolor="white")
        ranks = sub.pivot(index="source", columns="method", values="rank").reindex(
            index=sources, columns=methods)
        for i, source in enumerate(sources):
            for j, method in enumerate(methods):
                if ranks.at[source, method] == 1:
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor="black",
                                               linewidth=2.2))
        ax.set_title(f"{model}: {metric}")
        ax.set_xlabel("compared map")
        ax.set_ylabel("attention the observers were given")
        ax.tick_params(axis="x", rotation=35)
        for label in ax.get_xticklabels():
            label.set_ha("right")
    fig.suptitle("Recovery of planted attention (frame: winner; *: planted map; –: undefined, the "
                 "source is the same for every image)", fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return save_figure(fig, path)


@_styled
def plot_agreement(agreement: pd.DataFrame, cells: Mapping[str, pd.DataFrame],
                   path: str | os.PathLike) -> tuple[Path, Path]:
    """Error consistency and confusion patterns of humans and each model.

    Left: Cohen's kappa of correct/incorrect per model agent with its 95% CI (``agreement``:
    ``results/tables/agreement.csv``). Right: per model agent, the human (x) vs model (y) error
    rate of each (true expression, foil) cell (``cells[agent]``: ``label, foil, n_trials,
    human_error, model_error`` from :func:`ferattention.agreement.confusion_cells`), with the
    diagonal and each agent's Pearson r in the legend.
    """
    require_columns(agreement, ["agent", "kappa", "kappa_ci_low", "kappa_ci_high", "confusion_r"],
                    "agreement table")
    if agreement.empty:
        return _message_figure("Human-model agreement", "No model agents in the agreement table.",
                               path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.2))
    y = np.arange(len(agreement))
    colors = [color_of(a) for a in agreement["agent"]]
    err = np.vstack([agreement["kappa"] - agreement["kappa_ci_low"],
                     agreement["kappa_ci_high"] - agreement["kappa"]])
    left.barh(y, agreement["kappa"], color=colors, edgecolor="black", linewidth=0.6)
    left.errorbar(agreement["kappa"], y, xerr=np.nan_to_num(err), fmt="none", ecolor="black",
                  capsize=4)
    left.axvline(0, color="0.3", linestyle="--", linewidth=1.0)
    left.set_yticks(y, [str(a) for a in agreement["agent"]])
    left.invert_yaxis()
    left.set_xlim(min(-0.2, float(np.nanmin(agreement["kappa_ci_low"].fillna(0))) - 0.05), 1.0)
    left.set_xlabel("error consistency (Cohen's kappa)")
    left.set_title("Same trials right or wrong?")
    for agent, color in zip(agreement["agent"], colors):
        sub = cells.get(agent)
        if sub is None or sub.empty:
            continue
        r = agreement.set_index("agent").loc[agent, "confusion_r"]
        right.scatter(sub["human_error"], sub["model_error"], s=12 + 2 * np.sqrt(sub["n_trials"]),
                      color=color, alpha=0.7, edgecolor="black", linewidth=0.3,
                      label=f"{agent} (r = {r:.2f})" if np.isfinite(r) else f"{agent} (r: n/a)")
    right.plot([0, 1], [0, 1], color="0.4", linestyle=":", linewidth=1.0)
    right.set_xlim(-0.02, 1.0)
    right.set_ylim(-0.02, 1.0)
    right.set_xlabel("human error rate")
    right.set_ylabel("model error rate")
    right.set_title("Errors per (true expression, foil)")
    right.legend(loc="upper left", fontsize="small", frameon=False)
    return save_figure(fig, path)
