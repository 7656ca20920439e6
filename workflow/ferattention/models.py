"""Network architectures for facial expression recognition.

Every model takes a batch of gray images ``(N, 1, H, W)`` with values in ``[0, 1]`` and returns
logits ``(N, K)``. Normalisation happens inside the model, so saliency methods and perturbations
work on the images as stored. Models with a global-average-pooling + linear head expose it as
``features`` (the convolutional trunk, output ``(N, C, h, w)``), ``pool`` and ``fc`` so that CAM can
read the class weights; ``target_layer`` is the default layer for GradCAM (the last block).
"""

from __future__ import annotations

import torch
from torch import nn

#: Mean and standard deviation used to normalise gray images inside every model.
GRAY_MEAN = 0.5
GRAY_STD = 0.25


class Normalize(nn.Module):
    """Fixed affine normalisation ``(x - mean) / std``."""

    def __init__(self, mean: float = GRAY_MEAN, std: float = GRAY_STD) -> None:
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class GapLinearNet(nn.Module):
    """A convolutional trunk followed by global average pooling and one linear layer.

    This is the head CAM is defined for (Zhou et al. 2016): ``logit_k = sum_c w_kc mean(A_c) + b_k``.
    """

    def __init__(self, features: nn.Sequential, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(n_features, n_classes)

    @property
    def target_layer(self) -> nn.Module:
        """The last convolutional block: GradCAM's default layer and CAM's feature maps."""
        return self.features[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(self.normalize(x))
        return self.fc(torch.flatten(self.pool(a), 1))


def compact_cnn(n_classes: int, width: int = 32) -> GapLinearNet:
    """The default model: a strided 5x5 stem, three conv blocks (two 2x poolings), GAP, linear.

    For a 64x64 input the last feature maps are 8x8 with ``4 * width`` channels. The strided stem
    keeps full-resolution work to one convolution, which makes the many forward and backward
    passes of Extremal Perturbation affordable on a CPU (about 10x faster than a stride-1 stem).
    """
    stem = nn.Sequential(
        nn.Conv2d(1, width, 5, stride=2, padding=2, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=False),
    )
    features = nn.Sequential(
        stem,
        _conv_block(width, 2 * width, pool=True),
        _conv_block(2 * width, 4 * width, pool=True),
        _conv_block(4 * width, 4 * width, pool=False),
    )
    return GapLinearNet(features, 4 * width, n_classes)


#: Architecture name -> builder ``(n_classes) -> nn.Module``.
ARCHITECTURES = {
    "compact_cnn": compact_cnn,
}


def build_model(arch: str, n_classes: int, seed: int) -> nn.Module:
    """Build an untrained model with weights drawn from ``seed`` (same seed, same weights)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {sorted(ARCHITECTURES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[arch](n_classes)


def has_gap_linear_head(model: nn.Module) -> bool:
    """Whether CAM is defined for ``model`` (features -> global average pool -> one linear)."""
    return isinstance(model, GapLinearNet)


def save_checkpoint(model: nn.Module, path, *, arch: str, classes: list[str], seed: int,
                    image_size: int) -> None:
    """Save weights with what is needed to rebuild the model (atomically)."""
    from .io import atomic_path

    payload = {"arch": arch, "classes": list(classes), "seed": seed, "image_size": image_size,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path, device: torch.device | str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns (model in eval mode, metadata)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(payload["arch"], len(payload["classes"]), payload["seed"])
    model.load_state_dict(payload["state_dict"])
    if device is not None:
        model.to(device)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.eval(), meta
