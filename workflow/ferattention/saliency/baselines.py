"""Baselines for the attention comparison: a centre bias and the maps of an untrained network.

The third baseline, ``shuffled_<m>`` (another image's map), needs no model and lives in
``ferattention.similarity`` (:func:`~ferattention.similarity.shuffle_partners`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..attention import center_gaussian
from ..catalogue import method_defaults
from .base import METHODS, SaliencyMethod, compute_maps, register


@register("center")
class Center(SaliencyMethod):
    """The centre-bias baseline: the same centred Gaussian for every image (model unused).

    Param ``sigma``: standard deviation as a fraction of the image side.
    """

    defaults = method_defaults("center")

    def compute(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        h, w = images.shape[2:]
        gauss = center_gaussian(h, w, float(self.params["sigma"]))
        return np.repeat(gauss[None], images.shape[0], axis=0)


def untrained_model(arch: str, n_classes: int, seed: int) -> nn.Module:
    """The ``random_model`` baseline's network: ``arch`` with weights drawn from ``seed``, in eval mode.

    The workflow passes the trained model's own seed, so the network is the one training started
    from (for a model trained from a weights file, a random network of the same architecture).
    """
    from ..models import build_model

    return build_model(arch, n_classes, seed).eval()


def random_model_maps(
    method: str, arch: str, n_classes: int, seed: int, images: Any, targets: Any,
    params: Mapping[str, Any] | None = None, device: torch.device | str = "cpu",
    batch_size: int = 64,
) -> np.ndarray:
    """Maps of ``random_model_<method>``: ``method`` on :func:`untrained_model` (``arch``, ``seed``).

    ``images`` ``(N, 1, H, W)`` or ``(N, H, W)`` in [0, 1], ``targets`` ``(N,)`` class indices (the
    caller chooses them from the trained model, as for ``method`` itself); ``params`` are
    ``method``'s own settings. Returns float32 ``(N, H, W)``; the same ``seed`` gives the same maps.
    """
    if method not in METHODS or method == "center":
        raise ValueError(f"random_model: method must be an attention method of "
                         f"{sorted(set(METHODS) - {'center'})}; got {method!r}")
    model = untrained_model(arch, n_classes, seed).to(device)
    return compute_maps(method, model, images, targets, params, batch_size=batch_size)
