"""Machine attention: saliency maps of a classifier, one float32 ``(H, W)`` map per image.

Methods (names are the workflow's config keys, see :data:`METHODS`):

- ``cam``: class activation mapping (Zhou et al. 2016), GAP + linear heads only, no ReLU.
- ``gradcam``, ``gradcam_pp``, ``scorecam``: pytorch-grad-cam (``grad-cam`` package).
- ``extremal_perturbation``: TorchRay's Extremal Perturbation (preserve, blur), batched.
- ``center``: centred Gaussian baseline. The ``random_model_<m>`` baseline is method ``m`` on an
  untrained network (:func:`~ferattention.saliency.baselines.random_model_maps`); see
  ``ferattention.methods`` for the names of methods and baselines.

Use :func:`compute_maps` (batches a whole set) or ``METHODS[name](params)(model, images, targets)``.
"""

from . import baselines, cam, extremal, gradcam  # noqa: F401  (register the methods)
from .base import (
    METHODS,
    SaliencyMethod,
    available_methods,
    compute_maps,
    make_method,
    preserved_state,
    register,
    target_classes,
)
from .baselines import random_model_maps

__all__ = [
    "METHODS",
    "SaliencyMethod",
    "available_methods",
    "compute_maps",
    "make_method",
    "preserved_state",
    "random_model_maps",
    "register",
    "target_classes",
]
