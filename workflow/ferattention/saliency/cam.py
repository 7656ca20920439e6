"""Class activation mapping (CAM; Zhou et al., CVPR 2016).

For a network ``logit_k = sum_c w_kc mean_xy A_c(x, y) + b_k`` (convolutional trunk, global average
pooling, one linear layer), the CAM of class ``k`` is ``M_k = sum_c w_kc A_c``: the map whose spatial
mean plus ``b_k`` is the logit. No ReLU (the original definition), bilinear upsampling to the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..catalogue import method_defaults
from ..models import has_gap_linear_head
from .base import SaliencyMethod, register


def class_activation_maps(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CAM at the resolution of the last feature maps: ``(N, h, w)``, in logit units.

    ``mean_xy(CAM_n) + model.fc.bias[targets[n]]`` equals the logit of ``targets[n]``.
    The feature maps are read with a forward hook on ``model.features`` during a normal forward
    pass, so whatever the model does before its trunk (normalisation) is applied as in training.
    """
    if not has_gap_linear_head(model):
        raise ValueError(
            f"CAM is defined only for networks with a global-average-pooling + linear head "
            f"(models.GapLinearNet); {type(model).__name__} has none. Use gradcam or "
            "extremal_perturbation for this architecture."
        )
    captured: list[torch.Tensor] = []
    handle = model.features.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.no_grad():
            model(images)
            features = captured[0]  # (N, C, h, w)
            weights = model.fc.weight[targets]  # (N, C)
            return torch.einsum("nc,nchw->nhw", weights, features)
    finally:
        handle.remove()


@register("cam")
class CAM(SaliencyMethod):
    """CAM of the target class, bilinearly upsampled (``align_corners=False``) to the input size."""

    defaults = method_defaults("cam")

    def compute(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        maps = class_activation_maps(model, images, targets)
        return F.interpolate(
            maps[:, None], size=images.shape[2:], mode="bilinear", align_corners=False
        )[:, 0]
