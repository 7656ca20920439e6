"""GradCAM (Selvaraju et al., ICCV 2017) and relatives from the ``grad-cam`` package.

pytorch-grad-cam computes, per image, ``ReLU(sum_c alpha_c A_c)`` at the chosen layer, min-max
normalises it to [0, 1], resizes it to the input size with ``cv2.resize`` (bilinear, pixel centres
as ``F.interpolate(..., align_corners=False)``) and min-max normalises again. The maps returned here
are exactly the library's: float32 ``(N, H, W)`` in [0, 1] (an image whose map is zero everywhere
stays all zero).
"""

from __future__ import annotations

import contextlib
import io
import importlib
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..catalogue import method_defaults
from .base import SaliencyMethod, register, resolve_layer

if TYPE_CHECKING:
    from pytorch_grad_cam.base_cam import BaseCAM

# pytorch_grad_cam is imported where it is used: it pulls in OpenCV and scikit-learn (about 3 s and
# 300 MB per process), which the jobs of the other methods do not need.


class _LibraryCAM(SaliencyMethod):
    """A pytorch-grad-cam method at one layer, one ``ClassifierOutputTarget`` per image.

    Param ``layer``: dotted module path (``"features.3"``); ``None`` means ``model.target_layer``.
    """

    cam_class: ClassVar[str]  # class name in pytorch_grad_cam
    defaults = method_defaults("gradcam")

    def make_cam(self, model: nn.Module) -> BaseCAM:
        cam_class = getattr(importlib.import_module("pytorch_grad_cam"), self.cam_class)
        return cam_class(model=model, target_layers=[resolve_layer(model, self.params["layer"])])

    def compute(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        cam = self.make_cam(model)
        try:
            # The parameters are frozen (see preserved_state): an input that requires grad makes
            # the target layer's output require grad, which is all the library's hooks need.
            return self.run(cam, images.detach().clone().requires_grad_(True), targets)
        finally:
            # Not `with cam:` -- BaseCAM.__exit__ swallows IndexError; release the hooks ourselves.
            cam.activations_and_grads.release()

    def run(self, cam: BaseCAM, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        return cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])


@register("gradcam")
class GradCAMMethod(_LibraryCAM):
    """GradCAM: channel weights = spatial mean of the gradient of the target logit."""

    cam_class = "GradCAM"
    defaults = method_defaults("gradcam")


@register("gradcam_pp")
class GradCAMPlusPlusMethod(_LibraryCAM):
    """GradCAM++ (Chattopadhay et al., WACV 2018)."""

    cam_class = "GradCAMPlusPlus"
    defaults = method_defaults("gradcam_pp")


@register("scorecam")
class ScoreCAMMethod(_LibraryCAM):
    """Score-CAM (Wang et al., CVPRW 2020): channel weights from the logits of masked inputs.

    Param ``batch_size``: masked images per forward pass (the library's ``cam.batch_size``).
    """

    cam_class = "ScoreCAM"
    defaults = method_defaults("scorecam")

    def make_cam(self, model: nn.Module) -> BaseCAM:
        cam = super().make_cam(model)
        cam.batch_size = int(self.params["batch_size"])
        return cam

    def run(self, cam: BaseCAM, images: torch.Tensor, targets: torch.Tensor) -> Any:
        # The library draws a tqdm progress bar per image on stderr; keep job logs readable.
        with contextlib.redirect_stderr(io.StringIO()):
            return super().run(cam, images, targets)
