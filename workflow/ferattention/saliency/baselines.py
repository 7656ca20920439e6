"""Baselines for the attention comparison: a centre bias and the map of an untrained network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..attention import center_gaussian
from ..catalogue import method_defaults
from .base import METHODS, SaliencyMethod, make_method, register


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


@register("random_model")
class RandomModel(SaliencyMethod):
    """A method's map from an untrained copy of the network.

    The caller passes the untrained network as ``model``; this entry only delegates to the method
    named in param ``method`` with params ``method_params``, so that the
    baseline is stored under its own name.
    """

    defaults = method_defaults("random_model")

    def __init__(self, params=None) -> None:
        super().__init__(params)
        name = self.params["method"]
        if name == self.name or name not in METHODS:
            raise ValueError(
                f"random_model: method must be one of {sorted(set(METHODS) - {self.name})}; got {name!r}"
            )
        self.inner = make_method(name, self.params["method_params"])

    def compute(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        return self.inner(model, images, targets)
