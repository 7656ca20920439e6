"""The common frame of all saliency methods: parameters, input checks, model state, registry.

A method is a small subclass of :class:`SaliencyMethod` that implements :meth:`SaliencyMethod.compute`
on one batch. The base class checks the inputs, puts the model in eval mode on its own device and
restores everything it may touch afterwards (train/eval flags, ``requires_grad`` flags, parameter
gradients), so that one method never changes what the next one sees.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .. import catalogue

#: Method name -> class; filled by :func:`register` when the method modules are imported.
METHODS: dict[str, type[SaliencyMethod]] = {}


def register(name: str):
    """Class decorator: add a :class:`SaliencyMethod` subclass to :data:`METHODS` under ``name``,
    a name of :data:`ferattention.catalogue.METHODS` (which holds its settings and defaults)."""

    def decorate(cls: type[SaliencyMethod]) -> type[SaliencyMethod]:
        if name not in catalogue.METHODS:
            raise ValueError(f"saliency method {name!r} is not in ferattention.catalogue.METHODS; "
                             "add it there (settings, order, baseline status) first")
        if name in METHODS:
            raise ValueError(f"saliency method {name!r} registered twice")
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorate


def available_methods() -> list[str]:
    """Names of the registered saliency methods, sorted."""
    return sorted(METHODS)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def resolve_layer(model: nn.Module, layer: str | None) -> nn.Module:
    """The module at dotted path ``layer`` (e.g. ``"features.3"``); ``None``: ``model.target_layer``."""
    if layer is None:
        if not hasattr(model, "target_layer"):
            raise ValueError(
                f"{type(model).__name__} has no `target_layer`; give the layer as a dotted module "
                "path in the method's `layer` parameter"
            )
        return model.target_layer
    try:
        return model.get_submodule(layer)
    except AttributeError as err:
        names = [n for n, _ in model.named_modules() if n]
        raise ValueError(
            f"layer {layer!r} not found in {type(model).__name__}; modules: {names}"
        ) from err


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Run a block with ``model`` in eval mode and frozen, then restore the model as it was.

    Restored on exit: every module's ``training`` flag, every parameter's ``requires_grad`` flag
    and ``.grad``. Inside, parameters do not require gradients: saliency methods need gradients
    with respect to inputs or activations only, and skipping the weight gradients saves time.
    """
    training = {m: m.training for m in model.modules()}
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for m, mode in training.items():
            m.training = mode
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad


class SaliencyMethod:
    """Base class: one attention map per image, at the input size.

    Subclasses set :attr:`defaults` (every accepted parameter with its default value, from
    :func:`ferattention.catalogue.method_defaults`) and implement
    :meth:`compute`. Parameters come from the workflow config (``saliency.<method>: {...}``);
    unknown keys are an error, so that a typo in the config does not silently fall back to a default.
    """

    #: Registry name, set by :func:`register`.
    name: ClassVar[str] = ""
    #: Accepted parameters and their defaults.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for saliency method {self.name!r}; "
                f"accepted: {sorted(self.defaults)}"
            )
        self.params: dict[str, Any] = {**copy.deepcopy(self.defaults), **params}

    def __call__(
        self, model: nn.Module | None, images: torch.Tensor, targets: torch.Tensor
    ) -> np.ndarray:
        """Maps of ``images`` ``(N, C, H, W)`` in [0, 1] for classes ``targets`` ``(N,)``.

        Returns a float32 array ``(N, H, W)`` on the CPU. The computation runs on the model's
        device; the model comes back in the state it was given in. ``model`` may be ``None`` only
        for methods that do not use it (``center``).
        """
        images, targets = check_inputs(images, targets)
        if model is None:
            device, state = torch.device("cpu"), contextlib.nullcontext()
        else:
            device, state = model_device(model), preserved_state(model)
        with state:
            maps = self.compute(model, images.to(device), targets.to(device))
        if isinstance(maps, torch.Tensor):
            maps = maps.detach().cpu().numpy()
        maps = np.asarray(maps, dtype=np.float32)
        expected = (images.shape[0], *images.shape[2:])
        if maps.shape != expected:
            raise RuntimeError(f"{self.name}: maps of shape {maps.shape}, expected {expected}")
        if not np.isfinite(maps).all():
            raise RuntimeError(f"{self.name}: non-finite values in the saliency maps")
        return maps

    def compute(
        self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor
    ) -> np.ndarray | torch.Tensor:
        """Maps ``(N, H, W)`` for one batch; the model is in eval mode with frozen parameters."""
        raise NotImplementedError


def check_inputs(images: Any, targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and convert a batch: images ``(N, C, H, W)`` float32 in [0, 1], targets ``(N,)`` long.

    A numpy or tensor batch ``(N, H, W)`` of gray images gets its channel axis added.
    """
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"images must be (N, 1, H, W) or (N, H, W); got shape {tuple(images.shape)}")
    if images.numel() and (not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise ValueError("images must be finite with values in [0, 1]")
    targets = torch.as_tensor(targets)
    if targets.dtype.is_floating_point or targets.shape != (images.shape[0],):
        raise ValueError(
            f"targets must be integer class indices of shape ({images.shape[0]},); "
            f"got {targets.dtype} {tuple(targets.shape)}"
        )
    return images, targets.long()


def make_method(name: str, params: Mapping[str, Any] | None = None) -> SaliencyMethod:
    """Instantiate the registered method ``name`` with ``params``."""
    if name not in METHODS:
        raise ValueError(f"unknown saliency method {name!r}; available: {available_methods()}")
    return METHODS[name](params)


def compute_maps(
    name: str,
    model: nn.Module | None,
    images: Any,
    targets: Any,
    params: Mapping[str, Any] | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Maps of method ``name`` for all ``images``, ``batch_size`` images at a time.

    Args:
        name: a key of :data:`METHODS`.
        model: the classifier (logits ``(N, K)`` from images in [0, 1]).
        images: ``(N, 1, H, W)`` tensor or ``(N, H, W)`` array, values in [0, 1].
        targets: ``(N,)`` class indices (true label or prediction: the caller decides).
        params: the method's parameters (config ``saliency.<name>``).
        batch_size: images per call of the method (also images per EP optimisation).

    Returns:
        float32 array ``(N, H, W)``, one map per image at the input size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    method = make_method(name, params)
    images, targets = check_inputs(images, targets)
    chunks = [
        method(model, images[i : i + batch_size], targets[i : i + batch_size])
        for i in range(0, images.shape[0], batch_size)
    ]
    if not chunks:
        return np.zeros((0, *images.shape[2:]), dtype=np.float32)
    return np.concatenate(chunks, axis=0)


def target_classes(labels: Sequence[str], classes: Sequence[str], target: str,
                   model: nn.Module | None = None, images: np.ndarray | None = None) -> torch.Tensor:
    """The class each map explains (config ``saliency.target``), as a long tensor ``(N,)``.

    ``"label"``: the images' true labels, looked up in the model's ``classes``; ``"prediction"``:
    the model's arg-max class on ``images`` (float32 ``(N, H, W)`` in ``[0, 1]``).
    """
    if target == "label":
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ValueError(f"label(s) {unknown} are not classes of the model {list(classes)}")
        return torch.tensor([index[label] for label in labels], dtype=torch.long)
    if target == "prediction":
        from ..training import predict_logits

        return torch.tensor(predict_logits(model, images).argmax(1), dtype=torch.long)
    raise ValueError(f"saliency.target must be 'label' or 'prediction', got {target!r}")
