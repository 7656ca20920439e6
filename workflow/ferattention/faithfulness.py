"""Faithfulness of attention maps to the model: deletion and insertion curves (Petsiuk et al.,
"RISE: Randomized Input Sampling for Explanation of Black-box Models", BMVC 2018).

A map orders the pixels from most to least attended. Deletion replaces the top ``k / steps`` share
of pixels by a baseline image for ``k = 0 .. steps`` and tracks the softmax probability of the
target class; insertion starts from the baseline and puts the top pixels back. A map that points
at what the model uses makes the probability fall fast under deletion (low AUC) and rise fast
under insertion (high AUC). Any map can be scored this way, the human map included: it asks how
much the model relies on the pixels humans looked at.

Conventions: pixels are ranked by value; ties are broken at random, and where a run of equal
values straddles a step (a flat plateau, a clamped or constant map) the curves are averaged over
``tie_draws`` seeded draws, so that no map is favoured or penalised by raster order (a sort by
position would remove a constant map's pixels row by row from the top). Points whose cut falls
between two different values do not depend on the order and run once. Step ``k`` changes ``round(k * P / steps)`` pixels of ``P``. The
baseline is the image blurred with a Gaussian (``baseline="blur"``, sigma ``blur_sigma``, default
an eighth of the image side, as RISE's insertion baseline) or the image's mean grey
(``baseline="mean"``). The AUC is the trapezoid area under probability over the changed share
(x from 0 to 1), so it lies in [0, 1]. All images x steps go through the model in batches.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .catalogue import schema_defaults
from .models import forward_batch

#: Defaults of the ``faithfulness`` settings: the config schema (their one source).
_FAITHFULNESS = schema_defaults("faithfulness")

#: Steps of a curve by default (17 points including 0 and 1): cheap and smooth enough for an AUC.
DEFAULT_STEPS: int = _FAITHFULNESS["steps"]
#: Random tie-breaks averaged by default for maps with a tie across a step.
DEFAULT_TIE_DRAWS: int = _FAITHFULNESS["tie_draws"]
CURVES: tuple[str, ...] = ("deletion", "insertion")
#: Columns of ``results/tables/faithfulness.csv``.
FAITHFULNESS_COLUMNS: tuple[str, ...] = ("image_id", "model", "method", "curve", "auc")


def baseline_images(images: torch.Tensor, baseline: str = _FAITHFULNESS["baseline"],
                    blur_sigma: float | None = None) -> torch.Tensor:
    """The image every pixel is replaced with: blurred (``"blur"``) or its mean grey (``"mean"``)."""
    if baseline == "mean":
        return images.mean(dim=(-2, -1), keepdim=True).expand_as(images).clone()
    if baseline != "blur":
        raise ValueError(f"faithfulness baseline must be 'blur' or 'mean', got {baseline!r}")
    sigma = float(blur_sigma) if blur_sigma else max(1.0, images.shape[-1] / 8)
    kernel = int(2 * round(3 * sigma) + 1)
    return gaussian_blur(images, kernel, sigma)


def gaussian_blur(images: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """``torchvision.transforms.functional.gaussian_blur(images, [k, k], [sigma, sigma])`` for
    float images ``(N, C, H, W)``, the same operations in the same order (equal to the bit, tested).

    Written out because importing torchvision also imports ``torch._dynamo``: about 1.5 s of CPU
    in every faithfulness job, which needs nothing else from it. ``kernel_size``: odd, pixels;
    ``sigma``: pixels; reflect padding of ``kernel_size // 2``.
    """
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, steps=kernel_size, dtype=images.dtype, device=images.device)
    pdf = torch.exp(-0.5 * (x / sigma).pow(2))
    kernel_1d = pdf / pdf.sum()
    kernel = torch.mm(kernel_1d[:, None], kernel_1d[None, :])
    channels = images.shape[-3]
    pad = kernel_size // 2
    padded = F.pad(images, [pad, pad, pad, pad], mode="reflect")
    return F.conv2d(padded, kernel.expand(channels, 1, kernel_size, kernel_size), groups=channels)


def _step_counts(n_pixels: int, steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Pixels changed at each step: ``round(k * P / steps)`` for ``k = 0 .. steps``, long ``(steps + 1,)``."""
    return torch.round(torch.arange(steps + 1, device=device) * n_pixels / steps).long()


def _rank_masks(maps: torch.Tensor, steps: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, H, W) maps -> bool (N, steps + 1, H, W): the pixels changed at each step.

    Pixels are taken in decreasing value; ties in a random order drawn from ``generator`` (CPU),
    by stable-sorting a random permutation of the pixels.
    """
    n, h, w = maps.shape
    p = h * w
    perm = torch.rand(n, p, generator=generator).argsort(dim=1).to(maps.device)
    values = maps.reshape(n, p).gather(1, perm)
    order = perm.gather(1, torch.sort(values, dim=1, descending=True, stable=True).indices)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(p, device=maps.device).expand(n, p))
    counts = _step_counts(p, steps, maps.device)
    return (rank[:, None, :] < counts[None, :, None]).reshape(n, steps + 1, h, w)


def tie_steps(maps: np.ndarray | torch.Tensor, steps: int) -> np.ndarray:
    """(N, H, W) maps -> bool (N, steps + 1): whether step ``k``'s cut falls inside a run of equal values.

    Only at those steps does the order of tied pixels change which pixels are changed (the top
    ``round(k * P / steps)`` set is otherwise unique); the other points need a single draw.
    """
    maps = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    n = maps.shape[0]
    values = torch.sort(maps.reshape(n, -1), dim=1, descending=True).values
    p = values.shape[1]
    counts = _step_counts(p, steps)
    inner = (counts > 0) & (counts < p)
    out = torch.zeros(n, steps + 1, dtype=torch.bool)
    cut = counts[inner]
    out[:, inner] = values[:, cut - 1] == values[:, cut]
    return out.numpy()


def tie_at_a_step(maps: np.ndarray | torch.Tensor, steps: int) -> np.ndarray:
    """(N, H, W) maps -> bool (N,): whether some step's cut falls inside a run of equal values."""
    return tie_steps(maps, steps).any(axis=1)


@torch.inference_mode()
def _curves_once(model: torch.nn.Module, images: torch.Tensor, base: torch.Tensor,
                 maps: torch.Tensor, targets: torch.Tensor, steps: int, batch_size: int,
                 generator: torch.Generator, points: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """One draw of the tie order: ``{"deletion": (N, steps + 1), "insertion": (...)}``.

    With ``points`` (bool ``(N, steps + 1)``) only those points go through the model; the others
    are NaN.
    """
    device = images.device
    n_img, k1 = images.shape[0], steps + 1
    if points is None:
        points = np.ones((n_img, k1), dtype=bool)
        points[:, [0, steps]] = False   # the intact and the fully replaced image: see endpoints
    per_chunk = max(1, batch_size // k1)
    out = {c: np.full((n_img, k1), np.nan) for c in CURVES}
    for start in range(0, n_img, per_chunk):
        sl = slice(start, start + per_chunk)
        sel = torch.as_tensor(points[sl], device=device)            # (n, k1)
        if not sel.any():
            continue
        n = sel.shape[0]
        changed = _rank_masks(maps[sl], steps, generator)[:, :, None][sel]   # (m, 1, H, W)
        x = images[sl, None].expand(n, k1, *images.shape[1:])[sel]          # (m, C, H, W)
        b = base[sl, None].expand(n, k1, *images.shape[1:])[sel]
        tgt = targets[sl, None].expand(n, k1)[sel]
        for curve, batch in (("deletion", torch.where(changed, b, x)),
                             ("insertion", torch.where(changed, x, b))):
            block = out[curve][sl]
            block[points[sl]] = target_probability(model, batch, tgt, batch_size)
    return out


@torch.inference_mode()
def target_probability(model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor,
                       batch_size: int = 256) -> np.ndarray:
    """Softmax probability of each image's target class, (N,) float64, in batches of
    ``batch_size`` images (at most :data:`~ferattention.models.CPU_FORWARD_BATCH` on the CPU)."""
    batch_size = forward_batch(batch_size, images.device)
    out = [F.softmax(model(images[i:i + batch_size]).float(), dim=1)
           .gather(1, targets[i:i + batch_size, None])[:, 0].cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def endpoints(model: torch.nn.Module, images: torch.Tensor, targets: torch.Tensor,
              baseline: str = _FAITHFULNESS["baseline"], blur_sigma: float | None = None,
              batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The target's probability on the intact and on the fully replaced image, (N,) each.

    Every curve starts or ends at them whatever the map (deletion from intact to baseline,
    insertion the other way), so several map sets of the same images can share them.
    """
    model.eval()
    targets = targets.to(images.device)
    base = baseline_images(images, baseline, blur_sigma)
    return (target_probability(model, images, targets, batch_size),
            target_probability(model, base, targets, batch_size))


@torch.inference_mode()
def deletion_insertion(
    model: torch.nn.Module,
    images: torch.Tensor,
    maps: np.ndarray | torch.Tensor,
    targets: torch.Tensor,
    steps: int = DEFAULT_STEPS,
    baseline: str = _FAITHFULNESS["baseline"],
    blur_sigma: float | None = None,
    batch_size: int = 256,
    tie_draws: int = DEFAULT_TIE_DRAWS,
    seed: int = _FAITHFULNESS["seed"],
    intact_and_replaced: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Deletion and insertion curves: ``{"deletion": (N, steps + 1), "insertion": (...)}``.

    ``images``: (N, C, H, W) on the model's device; ``maps``: (N, H, W); ``targets``: (N,) class
    indices. Entry ``[i, k]`` is the target's softmax probability after changing the top
    ``k / steps`` of image ``i``'s pixels, averaged over ``tie_draws`` random orders of tied
    pixels (``torch.Generator`` seeded with ``seed``, then ``seed + 1``, ...) at the points where
    a tie straddles the cut (:func:`tie_steps`); one draw for the others, whose pixel sets do not
    depend on the order. ``batch_size`` bounds the images x steps sent at once.
    ``intact_and_replaced``: :func:`endpoints` of these images, when already computed (the
    first and last points of both curves, which do not depend on the map).
    """
    if steps < 1:
        raise ValueError(f"faithfulness steps must be >= 1, got {steps}")
    if tie_draws < 1:
        raise ValueError(f"faithfulness tie_draws must be >= 1, got {tie_draws}")
    device = images.device
    maps = torch.as_tensor(np.asarray(maps, dtype=np.float32), device=device)
    if images.ndim != 4 or maps.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"images must be (N, C, H, W) and maps (N, H, W) of the same N, H, W; got "
                         f"{tuple(images.shape)} and {tuple(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise ValueError("faithfulness: maps contain non-finite values")
    model.eval()
    base = baseline_images(images, baseline, blur_sigma)
    targets = targets.to(device)
    out = _curves_once(model, images, base, maps, targets, steps, batch_size,
                       torch.Generator().manual_seed(seed))
    intact, replaced = (intact_and_replaced if intact_and_replaced is not None   # base is at hand
                        else (target_probability(model, images, targets, batch_size),
                              target_probability(model, base, targets, batch_size)))
    out["deletion"][:, 0] = out["insertion"][:, steps] = intact
    out["deletion"][:, steps] = out["insertion"][:, 0] = replaced
    tied = tie_steps(maps.cpu(), steps) if tie_draws > 1 else np.zeros((len(maps), 0), bool)
    rows = np.flatnonzero(tied.any(axis=1))
    if len(rows):
        idx = torch.as_tensor(rows, device=device)
        points = tied[rows]
        sums = {c: np.where(points, out[c][rows], 0.0) for c in CURVES}
        for draw in range(1, tie_draws):
            more = _curves_once(model, images[idx], base[idx], maps[idx], targets[idx], steps,
                                batch_size, torch.Generator().manual_seed(seed + draw), points)
            for c in CURVES:
                sums[c] += np.where(points, more[c], 0.0)
        for c in CURVES:
            out[c][rows] = np.where(points, sums[c] / tie_draws, out[c][rows])
    return out


def curve_auc(curves: np.ndarray) -> np.ndarray:
    """(N, K) curves on an even grid of x from 0 to 1 -> (N,) trapezoid areas."""
    curves = np.asarray(curves, dtype=np.float64)
    return np.trapezoid(curves, np.linspace(0.0, 1.0, curves.shape[1]), axis=1)


def faithfulness_tables(
    model: torch.nn.Module,
    images: torch.Tensor,
    image_ids: list[str],
    targets: torch.Tensor,
    maps_by_method: Mapping[str, Mapping[str, np.ndarray]],
    model_name: str,
    **kwargs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per image AUCs and mean curves for several map sets on one model.

    ``maps_by_method`` maps a method name (``human`` for the human maps) to ``{image_id: map}``;
    every image of ``image_ids`` needs a map (an error names the first missing one). Returns
    ``(auc, curves)``: ``auc`` with :data:`FAITHFULNESS_COLUMNS`; ``curves`` with ``model, method,
    curve, fraction, probability`` (the mean over images). ``kwargs`` go to
    :func:`deletion_insertion`.
    """
    aucs, curves = [], []
    if maps_by_method and "intact_and_replaced" not in kwargs:   # shared by every map set
        kwargs["intact_and_replaced"] = endpoints(
            model, images, targets, kwargs.get("baseline", _FAITHFULNESS["baseline"]),
            kwargs.get("blur_sigma"), kwargs.get("batch_size", 256))
    for method, maps in maps_by_method.items():
        missing = [i for i in image_ids if i not in maps]
        if missing:
            raise ValueError(f"faithfulness: no {method} map for image_id {missing[0]!r}")
        result = deletion_insertion(model, images, np.stack([maps[i] for i in image_ids]),
                                    targets, **kwargs)
        for curve, values in result.items():
            aucs.append(pd.DataFrame({"image_id": image_ids, "model": model_name, "method": method,
                                      "curve": curve, "auc": curve_auc(values)}))
            curves.append(pd.DataFrame({
                "model": model_name, "method": method, "curve": curve,
                "fraction": np.linspace(0.0, 1.0, values.shape[1]),
                "probability": values.mean(axis=0)}))
    auc = pd.concat(aucs, ignore_index=True) if aucs else pd.DataFrame(
        columns=list(FAITHFULNESS_COLUMNS))
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["model", "method", "curve", "fraction", "probability"])
    return auc[list(FAITHFULNESS_COLUMNS)], curve
