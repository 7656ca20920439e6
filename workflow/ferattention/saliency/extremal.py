"""Extremal Perturbation (Fong, Patrick & Vedaldi, ICCV 2019) with TorchRay.

The preserve variant: for each target area ``a``, a smooth mask ``m`` (TorchRay's
:class:`MaskGenerator`) of about that area is optimised so that the image blurred outside the mask
(TorchRay's :class:`Perturbation` pyramid) keeps the target class's reward high. The saliency map
of an image is the sum of its masks over the areas, so pixels kept even by the smallest mask score
highest.

TorchRay's :func:`extremal_perturbation` optimises one image at a time (``N * max_iter`` small
forward/backward passes). :func:`batched_extremal_masks` runs the same optimisation for a whole
batch at once -- TorchRay's mask generator and perturbation pyramid, its initialisation, its
momentum SGD, reward, area regulariser with the same growing weight, and its jitter schedule,
vectorised over images -- and gives TorchRay's masks. Each mask only affects its own image (the
model is in eval mode, so BatchNorm is per sample), hence the summed energy's gradient with respect
to each image's mask parameters is that image's own.

How close "the same" is: the only difference is float rounding where the backend computes a batch
of ``N * len(areas)`` images differently from one of ``len(areas)``, and on the CPU the
channels-last copy of the model (about 1e-8 in the logits, 1e-6 relative in the input gradients).
EP's optimisation is not smooth (contrastive reward switching between near-tied rival classes,
sorting, clamping), and on images whose logits nearly tie such differences grow with the
iterations: measured up to 0.16 in single pixels after 100 iterations (Pearson r >= 0.999) -- the
same change TorchRay's own masks show when the input image moves by 1e-6.

What batching buys: on a GPU, TorchRay's per-image loop is bound by kernel launches and batching
gains many-fold. On a CPU the default model is compute-bound already at TorchRay's batch of
``len(areas)`` images: on 1 thread (what a job gets under ``--cores 8`` on 2 cores) a forward +
backward pass costs the same per image at batch 3 as at batch 48. The gain must then come from the
work around the model, so this loop makes TorchRay's masks with the same arithmetic at less cost:
:class:`ReusingMaskGenerator` (TorchRay's generator, bitwise equal in masks and gradients, without
its upsampling/padding copies and fresh allocations: about -15% generator time, -230 MB peak
memory for 48 masks) and a channels-last copy of the model on the CPU (about -7% of EP time; a
rounding-level change that leaves the equivalence figures below as they were). Profile of one
batch (16 faces x 3 areas, 64 px, 1 thread, torch.profiler): the model's passes ~55%
(convolutions forward and backward ~45%, batch norm, ReLU, pooling), the mask generator ~35%
(element-wise products ~17%, soft-max forward and backward ~12%, ``unfold``/``fold``, sums),
TorchRay's full sort for the area term ~3%, the perturbation pyramid lookup and the rest ~5%.
Measured in CPU time on 1 thread (shared machine, load 3-8; "before": the loop with TorchRay's
own generator and a contiguous model): 8 faces x 3 areas x 30 iterations, this loop 7.04 s (8.65
s before), TorchRay's loop 9.11 s, bare model passes 4.71 s -- speedup 1.30 (1.05), efficiency
0.67 (0.55); at ``bench saliency``'s defaults (16 faces x 3 areas x 100 iterations) 50.1 s (56.6 s
before), TorchRay 60.6 s, bare passes 30.0 s -- speedup 1.21 (1.07), efficiency 0.60 (0.53). Not
counted there: :func:`ferattention.runtime.reuse_freed_memory`, which the saliency jobs add (about
-10%). The bare passes alone are about half of TorchRay's time, so no loop that makes them (and
TorchRay's generator and sort, which equivalence needs) can be 2x faster than TorchRay's on one
CPU thread.

Equivalence is judged by TorchRay's own reproducibility (:func:`torchray_equivalence`): the
project's EP equals TorchRay when, over images, its 5th-percentile Pearson r against TorchRay is
at least that of TorchRay with its input moved by 1e-6, its 95th-percentile max abs diff at most
TorchRay's, and the mean maps agree with r >= 0.999. This loop meets it
(``python -m ferattention.bench ep-equivalence``, 32 faces of the trained default model, default
settings: TorchRay against itself with 1e-6 noise r_p5 0.99965, max diff p95 0.077; this loop
against TorchRay r_p5 0.999993, max diff p95 0.011 -- 0.010 without the channels-last copy;
mean maps r 0.9999998; 1 thread). Faster variants fail
it by far, measured on
8 faces of the trained default model (default settings, 150 iterations): TorchRay against itself
with 1e-6 noise r_p5 0.9997, max diff p95 0.063; a mask generator computed in another order
(2-3x faster, equal to TorchRay's to 3e-6 in value and relative 1e-5 in gradient) with TorchRay's
sort r_p5 0.77, max diff p95 0.59; the same with a top-k in place of the sort r_p5 0.16. The
reason is systematic, not chaotic: EP sorts the full mask for its area term, and from the uniform
start whole groups of pixels hold exactly tied values; which group ranks first decides where the
mask grows, and rounding differences of 1e-7 reorder the groups (a top-k breaks ties in yet another
order). TorchRay's masks need TorchRay's own generator and sort, which this loop uses.

Notes on TorchRay 1.0.0.2 under current PyTorch: it works unchanged. It sets ``requires_grad=False``
on all model parameters and never restores it (handled by :func:`.base.preserved_state`);
``Perturbation.to`` does not move the pyramid (harmless: the pyramid is built on the input's
device); with several areas its ``contrastive_reward`` broadcasts ``(K,) - (K, 1)`` to ``(K, K)``,
which changes the per-area rewards it logs but not their sum, the energy it optimises. Its blur
pyramid uses a maximum blur of 20 px with zero padding (a parameter of ``Perturbation``, not of
``extremal_perturbation``): right for 224 px images, a dark vignette at 64 px; here it is scaled
with the image (:func:`scaled_max_blur`).
"""

from __future__ import annotations

import copy
import functools
import unittest.mock
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torchray.attribution import extremal_perturbation as torchray_ep
from torchray.attribution.extremal_perturbation import (
    BLUR_PERTURBATION,
    FADE_PERTURBATION,
    PRESERVE_VARIANT,
    MaskGenerator,
    Perturbation,
    contrastive_reward,
    extremal_perturbation,
    simple_reward,
)
from torchray.utils import imsmooth

from ..catalogue import method_defaults
from ..models import fast_inference_copy
from .base import SaliencyMethod, register

#: Reward name -> TorchRay reward function (for the per-image reference).
REWARDS = {"contrastive": contrastive_reward, "simple": simple_reward}
PERTURBATIONS = (BLUR_PERTURBATION, FADE_PERTURBATION)

# TorchRay's optimiser constants (fixed inside its extremal_perturbation).
_MOMENTUM = 0.9
#: TorchRay's SGD step size; the batched loop takes another (setting ``learning_rate``).
TORCHRAY_LEARNING_RATE = 0.01
_REGUL_WEIGHT = 300.0
_REGUL_GROWTH = 1.0035
#: Masks generated per call of TorchRay's mask generator on the CPU (see batched_extremal_masks).
_CPU_MASK_CHUNK = 2


def scaled_step_sigma(size: int) -> tuple[int, float]:
    """Mask step and smoothing (pixels) for images of side ``size``.

    TorchRay's defaults (step 7, sigma 21) are for 224 px images; they are scaled by
    ``size / 224``, with at least 1 px of step and 2 px of sigma (64 px: step 2, sigma 6).
    """
    step = max(1, round(7 * size / 224))
    sigma = max(2.0, 21 * size / 224)
    return step, sigma


def scaled_max_blur(size: int) -> float:
    """Maximum blur (Gaussian sigma, pixels) of the perturbation pyramid for images of side ``size``.

    TorchRay's fixed 20 px is for 224 px images; scaled by ``size / 224`` (64 px: 5.71 px). At
    64 px an unscaled 20 px blur with TorchRay's zero padding is a dark vignette, not a blur.
    """
    return 20.0 * size / 224


def _contrastive(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row: target logit minus the largest other logit (TorchRay's contrastive reward)."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    others = logits.clone()
    others[rows, targets] = -100  # TorchRay's way of excluding the target
    return logits[rows, targets] - others.max(dim=1)[0]


def _simple(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row: the target logit (TorchRay's simple reward)."""
    return logits[torch.arange(logits.shape[0], device=logits.device), targets]


_BATCHED_REWARDS = {"contrastive": _contrastive, "simple": _simple}


def _perturb(pyramid: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``Perturbation.apply`` with one pyramid per image.

    Args:
        pyramid: ``(N, L, C, H, W)``, level ``L - 1`` the unperturbed image.
        masks: ``(N, A, 1, H, W)`` in [0, 1], ``A`` masks per image.

    Returns:
        ``(N * A, C, H, W)`` perturbed images, image-major.
    """
    n, levels, c, h, w = pyramid.shape
    a = masks.shape[1]
    weight = masks.reshape(n, a, 1, 1, h, w) * (levels - 1)
    k = weight.floor()
    weight = weight - k
    k = k.long().expand(n, a, 1, c, h, w)
    y = pyramid[:, None].expand(n, a, levels, c, h, w)
    y0 = torch.gather(y, 2, k)
    y1 = torch.gather(y, 2, torch.clamp(k + 1, max=levels - 1))
    return ((1 - weight) * y0 + weight * y1).reshape(n * a, c, h, w)


class ReusingMaskGenerator:
    """TorchRay's :meth:`MaskGenerator.generate` for a fixed number of masks, bitwise equal in value
    and gradient, with its large intermediates kept in buffers reused from call to call.

    TorchRay makes each mask from ``(2r+1)^2`` shifted copies of its parameters
    (``unfold`` -> nearest ``interpolate`` by ``step`` -> ``pad`` to crop -> times the kernel
    weights -> soft-max pooling over the copies). For a mask of a 64 px image that is 81 maps of
    75x75 per intermediate, and most of the generator's time went into allocating, copying and
    zero-filling them (and page faults on fresh memory), not into arithmetic. Here the same
    arithmetic runs on the same tensor shapes, in the same order, by the same kernels -- so every
    value and every gradient is the bit pattern TorchRay's gives (tested) -- minus the copies:

    - forward: the upsampling and crop are a broadcasting view, multiplied with the kernel weights
      (zero-padded to the upsampled size) straight into a reused buffer;
    - backward: autograd's chain (sum, the two products, ``_softmax_backward_data``, the coldness
      factor, the weights, ``pad``/``interpolate``/``unfold`` backward), written out with
      ``out=`` buffers; the nearest-upsampling backward is the sum over each ``step x step``
      block in the order PyTorch's kernel adds them (row by row), the ``unfold`` backward
      :func:`torch.nn.functional.fold` (``col2im``, as autograd calls it).

    Only TorchRay's default pooling (``softmax``, finite coldness) is supported. The buffers of a
    call are overwritten by the next, so each call's backward must run before the next call (as
    in EP's loop). Masks go through in chunks of ``chunk`` (cache-sized on a CPU).
    """

    def __init__(self, generator: MaskGenerator, n_masks: int, chunk: int) -> None:
        if generator.pooling_method != "softmax" or not generator.clamp or not np.isfinite(generator.coldness):
            raise ValueError("ReusingMaskGenerator supports TorchRay's default softmax pooling only")
        self.generator = generator
        self.chunk = max(1, int(chunk))
        self.n_masks = int(n_masks)
        self.calls = 0  # forward calls so far: a backward must belong to the latest
        step, (h_mid, w_mid), (h_out, w_out) = generator.step, generator.shape_mid, generator.shape_out
        self.kernel = 2 * generator.radius + 1
        channels = self.kernel**2
        device = generator.weight.device
        padded = torch.zeros(1, channels, h_mid * step, w_mid * step, device=device)
        padded[:, :, :h_out, :w_out] = generator.weight
        #: The weights as (1, C, h_mid, step, w_mid, step) blocks, zero outside TorchRay's crop.
        self.weight_blocks = padded.view(1, channels, h_mid, step, w_mid, step)
        sizes = [min(self.chunk, n_masks - i) for i in range(0, n_masks, self.chunk)]
        up = (channels, h_mid * step, w_mid * step)
        # Kept from forward to backward, one per chunk: weights x parameters (upsampled) and soft-max.
        self.weighted = [torch.empty(k, *up, device=device) for k in sizes]
        self.softmax = [torch.empty(k, channels, h_out, w_out, device=device) for k in sizes]
        # Scratch shared by the chunks.
        big = max(sizes)
        self.scratch = [torch.empty(big, channels, h_out, w_out, device=device) for _ in range(3)]
        self.grad_up = torch.zeros(big, *up, device=device)  # stays zero outside the crop
        self.grad_mid = torch.empty(big, channels, h_mid, w_mid, device=device)

    def __call__(self, pmask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cropped, full)`` masks of parameters ``pmask`` ``(K, 1, *shape_in)``, as TorchRay's
        ``generate``: ``(K, 1, *shape)`` and ``(K, 1, *shape_out)`` in [0, 1]."""
        g = self.generator
        full = _GenerateMasks.apply(pmask, self).clamp(min=0, max=1)
        m = round(g.margin)
        return full[:, :, m : m + g.shape[0], m : m + g.shape[1]], full

    def _chunks(self, n: int) -> list[tuple[int, slice]]:
        return [(i, slice(start, min(start + self.chunk, n))) for i, start in enumerate(range(0, n, self.chunk))]

    def forward(self, pmask: torch.Tensor) -> torch.Tensor:
        """Soft-max pooled masks before clamping, ``(K, 1, *shape_out)``."""
        if len(pmask) != self.n_masks:
            raise ValueError(f"ReusingMaskGenerator was made for {self.n_masks} masks, got {len(pmask)}")
        self.calls += 1
        g, step = self.generator, self.generator.step
        (h_mid, w_mid), (h_out, w_out) = g.shape_mid, g.shape_out
        out = torch.empty(len(pmask), 1, h_out, w_out, device=pmask.device)
        for i, rows in self._chunks(len(pmask)):
            p = pmask[rows]
            k, channels = len(p), self.kernel**2
            params = F.unfold(p, (self.kernel,) * 2, padding=(g.padding,) * 2)
            params = params.view(k, channels, h_mid, 1, w_mid, 1)  # nearest upsampling: broadcast
            weighted = self.weighted[i]
            torch.mul(self.weight_blocks, params, out=weighted.view(k, channels, h_mid, step, w_mid, step))
            weighted = weighted[:, :, :h_out, :w_out]  # TorchRay's crop (its negative pad)
            cold = torch.mul(weighted, g.coldness, out=self.scratch[0][:k])
            torch.ops.aten._softmax.out(cold, 1, False, out=self.softmax[i])
            pooled = torch.mul(weighted, self.softmax[i], out=self.scratch[0][:k])
            torch.sum(pooled, dim=1, keepdim=True, out=out[rows])
        return out

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        """Gradient with respect to the parameters of the gradient ``grad`` of :meth:`forward`."""
        g, step = self.generator, self.generator.step
        (h_mid, w_mid), (h_out, w_out) = g.shape_mid, g.shape_out
        weight = self.weight_blocks.view(1, -1, h_mid * step, w_mid * step)[:, :, :h_out, :w_out]
        parts = []
        for i, rows in self._chunks(len(grad)):
            grad_pooled = grad[rows]
            k, channels = len(grad_pooled), self.kernel**2
            weighted = self.weighted[i][:, :, :h_out, :w_out]
            softmax = self.softmax[i]
            grad_weighted = torch.mul(grad_pooled, softmax, out=self.scratch[0][:k])
            grad_softmax = torch.mul(grad_pooled, weighted, out=self.scratch[1][:k])
            grad_cold = torch.ops.aten._softmax_backward_data.out(
                grad_softmax, softmax, 1, torch.float32, grad_input=self.scratch[2][:k])
            grad_weighted.add_(grad_cold.mul_(g.coldness))
            grad_up = self.grad_up[:k]
            torch.mul(grad_weighted, weight, out=grad_up[:, :, :h_out, :w_out])
            blocks = grad_up.view(k, channels, h_mid, step, w_mid, step)
            grad_mid = self.grad_mid[:k]
            grad_mid.copy_(blocks[:, :, :, 0, :, 0])
            for dy in range(step):
                for dx in range(step):
                    if dy or dx:
                        grad_mid.add_(blocks[:, :, :, dy, :, dx])
            parts.append(F.fold(grad_mid.view(k, channels, h_mid * w_mid), g.shape_in,
                                (self.kernel,) * 2, padding=(g.padding,) * 2))
        return torch.cat(parts)


class _GenerateMasks(torch.autograd.Function):
    """Autograd node of :meth:`ReusingMaskGenerator.forward` / :meth:`ReusingMaskGenerator.backward`."""

    @staticmethod
    def forward(ctx: Any, pmask: torch.Tensor, generator: ReusingMaskGenerator) -> torch.Tensor:
        out = generator.forward(pmask)
        ctx.generator, ctx.call = generator, generator.calls
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        if ctx.call != ctx.generator.calls:
            raise RuntimeError("ReusingMaskGenerator: backward of an earlier call (its buffers are overwritten)")
        return ctx.generator.backward(grad.contiguous()), None


def batched_extremal_masks(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    areas: list[float],
    max_iter: int,
    step: int,
    sigma: float,
    reward: str = "simple",
    perturbation: str = BLUR_PERTURBATION,
    num_levels: int = 8,
    jitter: bool = True,
    smooth: float = 0.0,
    max_blur: float = 20.0,
    learning_rate: float = TORCHRAY_LEARNING_RATE,
) -> torch.Tensor:
    """Extremal perturbation masks of a batch, in one optimisation (TorchRay's loop, vectorised).

    Args:
        model: classifier in eval mode; its parameters should not require grad.
        images: ``(N, C, H, W)`` in [0, 1], on the model's device.
        targets: ``(N,)`` target classes.
        areas, max_iter, step, sigma, num_levels, jitter, smooth: as TorchRay's
            ``extremal_perturbation`` (preserve variant).
        reward: ``"simple"`` or ``"contrastive"``.
        perturbation: ``"blur"`` or ``"fade"``.
        max_blur: the pyramid's largest blur (Gaussian sigma, pixels; TorchRay's fixed 20).
        learning_rate: the SGD step (TorchRay's fixed 0.01; larger reaches the target area in
            fewer steps).

    Returns:
        ``(N, len(areas), H, W)`` masks in [0, 1]; ``[n, i]`` is (up to float rounding, see the
        module docstring, and at TorchRay's learning rate) TorchRay's
        ``extremal_perturbation(model, images[n:n+1], targets[n], areas, ...)[0][i, 0]``.
    """
    n, c, h, w = images.shape
    n_areas = len(areas)
    device = images.device
    # Images as channels of one input: TorchRay's blur is per channel, so this is its pyramid
    # for every image, built in one call.
    pyramid = Perturbation(images.reshape(1, n * c, h, w), num_levels=num_levels, max_blur=max_blur,
                           type=perturbation)
    pyramid = pyramid.pyramid.reshape(num_levels, n, c, h, w).transpose(0, 1)

    with warnings.catch_warnings():  # TorchRay calls torch.meshgrid without `indexing`
        warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
        generator = MaskGenerator((h, w), step, sigma).to(device)
    pmask = torch.ones(n * n_areas, 1, *generator.shape_in, device=device)
    max_area = int(np.prod(generator.shape_out))
    reference = torch.ones(n_areas, max_area, device=device)
    for i, area in enumerate(areas):
        reference[i, : int(max_area * (1 - area))] = 0
    reference = reference.repeat(n, 1)  # row n * A + i: image n, area i
    row_targets = targets.repeat_interleave(n_areas)
    reward_of = _BATCHED_REWARDS[reward]
    if device.type == "cpu":
        # oneDNN's convolutions are faster on channels-last tensors (the model's passes are most of
        # EP's time); a copy, so the caller's model keeps its layout.
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    # The generator's (masks, (2r+1)^2, H', W') intermediates are large; on the CPU they are
    # faster made a few masks at a time (cache-sized; with reused buffers, 2 masks ~5% faster than
    # 4 and ~15% faster than 8 on 1 thread), on a GPU in one go. The chunking changes no value.
    chunk_size = len(pmask) if device.type == "cuda" else _CPU_MASK_CHUNK
    masks_of = ReusingMaskGenerator(generator, len(pmask), chunk_size)

    optimizer = torch.optim.SGD([pmask], lr=learning_rate, momentum=_MOMENTUM, dampening=_MOMENTUM)
    regul_weight = _REGUL_WEIGHT
    for t in range(max_iter):
        pmask.requires_grad_(True)
        cropped, full = masks_of(pmask)
        x = _perturb(pyramid, cropped.reshape(n, n_areas, 1, h, w))
        if jitter and t % 2 == 0:
            x = torch.flip(x, dims=(3,))
        gain = reward_of(model(x), row_targets)
        full_sorted = full.reshape(n * n_areas, -1).sort(dim=1)[0]
        regul = -((full_sorted - reference) ** 2).mean(dim=1) * regul_weight
        energy = (gain + regul).sum()
        optimizer.zero_grad()
        (-energy).backward()
        optimizer.step()
        pmask.data = pmask.data.clamp(0, 1)
        regul_weight *= _REGUL_GROWTH

    # As TorchRay: the masks of the last iteration (before its update).
    masks = cropped.detach()
    if smooth > 0:
        masks = imsmooth(masks, sigma=smooth * min(masks.shape[2:]), padding_mode="constant")
    return masks.reshape(n, n_areas, h, w)


def torchray_extremal_masks(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    areas: list[float],
    max_iter: int,
    step: int,
    sigma: float,
    reward: str = "simple",
    perturbation: str = BLUR_PERTURBATION,
    num_levels: int = 8,
    jitter: bool = True,
    smooth: float = 0.0,
    max_blur: float = 20.0,
    learning_rate: float = TORCHRAY_LEARNING_RATE,
) -> torch.Tensor:
    """The reference: TorchRay's ``extremal_perturbation`` called once per image.

    Same arguments and result ``(N, len(areas), H, W)`` as :func:`batched_extremal_masks`.
    ``max_blur`` is not an argument of TorchRay's function (its :class:`Perturbation` takes it,
    default 20): the function is called with its module's ``Perturbation`` given that value.
    TorchRay leaves the model's parameters with ``requires_grad=False``; callers restore them.
    TorchRay fixes its learning rate: ``learning_rate`` must be its 0.01.
    """
    if learning_rate != TORCHRAY_LEARNING_RATE:
        raise ValueError(f"extremal_perturbation: implementation torchray runs at TorchRay's fixed "
                         f"learning_rate {TORCHRAY_LEARNING_RATE}; got {learning_rate} (use "
                         f"implementation: batched, or learning_rate: {TORCHRAY_LEARNING_RATE})")
    masks = []
    blurred = functools.partial(Perturbation, max_blur=max_blur)
    with unittest.mock.patch.object(torchray_ep, "Perturbation", blurred), warnings.catch_warnings():
        # TorchRay calls torch.meshgrid without `indexing`
        warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
        for image, target in zip(images, targets):
            mask, _ = extremal_perturbation(
                model,
                image[None],
                int(target),
                areas=list(areas),
                perturbation=perturbation,
                max_iter=max_iter,
                num_levels=num_levels,
                step=step,
                sigma=sigma,
                jitter=jitter,
                variant=PRESERVE_VARIANT,
                reward_func=REWARDS[reward],
                smooth=smooth,
            )
            masks.append(mask[:, 0])
    return torch.stack(masks)


_IMPLEMENTATIONS = {"batched": batched_extremal_masks, "torchray": torchray_extremal_masks}


@register("extremal_perturbation")
class ExtremalPerturbation(SaliencyMethod):
    """Extremal Perturbation, preserve variant; map = sum of the masks over ``areas``.

    Params (TorchRay's names and meaning):
        areas: target mask areas as fractions of the image (the EP paper's figures use
            0.05, 0.1, 0.2). Defaults of all params: :mod:`ferattention.catalogue`.
        max_iter: optimisation steps (TorchRay's default: 800).
        learning_rate: the SGD step (TorchRay's fixed 0.01; the default's larger step reaches
            the target area in fewer iterations, docs/design.md).
        step, sigma: mask parameter spacing and smoothness in pixels; ``None`` scales TorchRay's
            224 px defaults (7, 21) to the image size (see :func:`scaled_step_sigma`).
        reward: ``simple`` (target logit: the default of TorchRay's ``extremal_perturbation``,
            ``reward_func=simple_reward``) or ``contrastive`` (target minus best other logit, as
            in TorchRay's example script).
        perturbation: ``blur`` (default) or ``fade``.
        max_blur: the blur pyramid's largest Gaussian sigma in pixels; ``None`` scales TorchRay's
            fixed 20 px for 224 px images to the image size (see :func:`scaled_max_blur`).
        num_levels: levels of the perturbation pyramid (8). jitter: flip every other step (True).
        smooth: Gaussian smoothing of the final masks, sigma as a fraction of the size (0: none).
        implementation: ``batched`` (one optimisation per batch) or ``torchray`` (TorchRay's
            function per image: the reference, N times slower).
    """

    defaults = method_defaults("extremal_perturbation")  # ferattention.catalogue

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        p = self.params
        areas = p["areas"]
        if isinstance(areas, (int, float)):
            areas = [areas]
        if not areas or not all(0 < float(a) < 1 for a in areas):
            raise ValueError(f"extremal_perturbation: areas must be fractions in (0, 1); got {areas}")
        p["areas"] = [float(a) for a in areas]
        if not float(p["learning_rate"]) > 0:
            raise ValueError(f"extremal_perturbation: learning_rate must be > 0; got {p['learning_rate']}")
        if int(p["max_iter"]) < 1:
            raise ValueError(f"extremal_perturbation: max_iter must be >= 1; got {p['max_iter']}")
        if p["step"] is not None and (int(p["step"]) != p["step"] or p["step"] < 1):
            raise ValueError(f"extremal_perturbation: step must be a positive integer; got {p['step']}")
        for key in ("sigma", "max_blur"):
            if p[key] is not None and not p[key] > 0:
                raise ValueError(f"extremal_perturbation: {key} must be > 0; got {p[key]}")
        for key, allowed in (
            ("reward", tuple(REWARDS)),
            ("perturbation", PERTURBATIONS),
            ("implementation", tuple(_IMPLEMENTATIONS)),
        ):
            if p[key] not in allowed:
                raise ValueError(f"extremal_perturbation: {key} must be one of {allowed}; got {p[key]!r}")
        #: ``(N, len(areas))`` mean of each final mask, one array per batch computed.
        self.areas_reached: list[np.ndarray] = []

    def masks(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Masks ``(N, len(areas), H, W)`` of one batch (model prepared by the caller)."""
        p = self.params
        size = min(images.shape[2:])
        step, sigma = scaled_step_sigma(size)
        return _IMPLEMENTATIONS[p["implementation"]](
            model,
            images,
            targets,
            areas=p["areas"],
            max_iter=int(p["max_iter"]),
            step=int(p["step"]) if p["step"] is not None else step,
            sigma=float(p["sigma"]) if p["sigma"] is not None else sigma,
            reward=p["reward"],
            perturbation=p["perturbation"],
            num_levels=int(p["num_levels"]),
            jitter=bool(p["jitter"]),
            smooth=float(p["smooth"]),
            max_blur=float(p["max_blur"]) if p["max_blur"] is not None else scaled_max_blur(size),
            learning_rate=float(p["learning_rate"]),
        )

    def compute(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.params["implementation"] == "batched":
            # Conv-BN folded, channels-last on the CPU (bench saliency: speedup 1.21 -> 1.55; no
            # gain measured in the default's 1-thread jobs); still equal to TorchRay by `bench
            # ep-equivalence`. The torchray reference keeps the model as it is.
            model = fast_inference_copy(model).requires_grad_(False)
        masks = self.masks(model, images, targets)
        # The area each optimisation reached: the mean of its final mask over the image.
        self.areas_reached.append(masks.mean(dim=(2, 3)).cpu().numpy())
        return masks.sum(dim=1)


def extremal_maps_and_areas(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
    params: dict[str, Any] | None = None, batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """EP maps ``(N, H, W)`` (as :func:`.base.compute_maps`), the area each mask reached
    ``(N, len(areas))`` (mean of the final mask over the image, a fraction like the targets) and
    the target areas."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    method = ExtremalPerturbation(params)
    areas = method.params["areas"]
    maps = [method(model, images[i : i + batch_size], targets[i : i + batch_size])
            for i in range(0, len(images), batch_size)]
    if not maps:
        return np.zeros((0, *images.shape[2:]), np.float32), np.zeros((0, len(areas)), np.float32), areas
    return np.concatenate(maps), np.concatenate(method.areas_reached), areas


def areas_table(image_ids: Sequence[str], areas: Sequence[float], reached: np.ndarray) -> pd.DataFrame:
    """``image_id, area_target, area_reached``: one row per image and target area (image-major)."""
    reached = np.asarray(reached, dtype=float).reshape(len(image_ids), len(areas))
    return pd.DataFrame({
        "image_id": np.repeat(np.asarray(image_ids, dtype=object), len(areas)),
        "area_target": np.tile(np.asarray(areas, dtype=float), len(image_ids)),
        "area_reached": reached.ravel(),
    })


def _pearson_and_max_diff(maps: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: Pearson r (1 for two equal constant maps, 0 for unequal ones) and max |diff|."""
    a = maps.reshape(len(maps), -1).astype(np.float64)
    b = reference.reshape(len(reference), -1).astype(np.float64)
    a_c, b_c = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    norm = np.sqrt((a_c**2).sum(1) * (b_c**2).sum(1))
    equal = np.all(np.isclose(a, b), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(norm > 0, (a_c * b_c).sum(1) / norm, np.where(equal, 1.0, 0.0))
    return r, np.abs(a - b).max(axis=1)


def torchray_equivalence(
    model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
    params: dict[str, Any] | None = None, noise: float = 1e-6, seed: int = 0,
    rounding: float = 1e-6,
) -> dict[str, Any]:
    """The project's EP against TorchRay, judged by TorchRay's own reproducibility.

    Three sets of maps (sum of masks over areas) of ``images`` ``(N, C, H, W)``: TorchRay's
    function per image (``reference``), the same on the images plus uniform noise of amplitude
    ``noise`` (clipped to [0, 1]; TorchRay's own sensitivity), and the project's ``batched``
    implementation. Per image, Pearson r and max abs diff against ``reference``. The project's EP
    is equal to TorchRay when its 5th-percentile r is at least TorchRay-with-noise's and its
    95th-percentile max abs diff at most TorchRay-with-noise's, and the mean maps over images
    agree with r >= 0.999. Differences within float ``rounding`` count as none (r >= 1 - rounding,
    max abs diff <= rounding): where TorchRay's own noise stays at rounding level, which of two
    rounding-level numbers is smaller decides nothing.

    Returns a JSON-ready dict: ``images``, ``noise``, per side (``torchray_noisy``, ``project``)
    ``r_p5``, ``r_min``, ``max_abs_diff_p95``, ``max_abs_diff_max`` and ``mean_map_r``; and
    ``equal`` (the verdict) with its three parts.
    """
    # at TorchRay's fixed learning rate, the only one its function runs at
    params = {**(params or {}), "learning_rate": TORCHRAY_LEARNING_RATE, "implementation": "torchray"}
    gen = torch.Generator().manual_seed(seed)
    jitter = (torch.rand(images.shape, generator=gen) * 2 - 1).to(images.device) * noise
    noisy = (images + jitter).clamp(0, 1)
    reference = ExtremalPerturbation(params)(model, images, targets)
    torchray_noisy = ExtremalPerturbation(params)(model, noisy, targets)
    project = ExtremalPerturbation({**params, "implementation": "batched"})(model, images, targets)
    result: dict[str, Any] = {"images": len(images), "noise": noise, "rounding": rounding}
    for name, maps in (("torchray_noisy", torchray_noisy), ("project", project)):
        r, diff = _pearson_and_max_diff(maps, reference)
        mean_r, _ = _pearson_and_max_diff(maps.mean(0)[None], reference.mean(0)[None])
        result[name] = {
            "r_p5": float(np.percentile(r, 5)), "r_min": float(r.min()),
            "max_abs_diff_p95": float(np.percentile(diff, 95)), "max_abs_diff_max": float(diff.max()),
            "mean_map_r": float(mean_r[0]),
        }
    own, ours = result["torchray_noisy"], result["project"]
    result["r_p5_ok"] = ours["r_p5"] >= min(own["r_p5"], 1 - rounding)
    result["max_abs_diff_p95_ok"] = ours["max_abs_diff_p95"] <= max(own["max_abs_diff_p95"], rounding)
    result["mean_map_ok"] = ours["mean_map_r"] >= 0.999
    result["equal"] = result["r_p5_ok"] and result["max_abs_diff_p95_ok"] and result["mean_map_ok"]
    return result


__all__ = [
    "ExtremalPerturbation",
    "areas_table",
    "batched_extremal_masks",
    "extremal_maps_and_areas",
    "scaled_max_blur",
    "scaled_step_sigma",
    "torchray_equivalence",
    "torchray_extremal_masks",
]
