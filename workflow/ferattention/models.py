"""Network architectures for facial expression recognition.

Every model takes a batch of gray images ``(N, 1, H, W)`` with values in ``[0, 1]`` and returns
logits ``(N, K)``. Normalisation happens inside the model, so saliency methods and perturbations
work on the images as stored. Models with a global-average-pooling + linear head expose it as
``features`` (the convolutional trunk, output ``(N, C, h, w)``), ``pool`` and ``fc`` so that CAM can
read the class weights; ``target_layer`` is the default layer for GradCAM (the last block).

Architectures (:data:`ARCHITECTURES`): ``compact_cnn`` (the default, built here) and torchvision's
``resnet18``, ``resnet50``, ``efficientnet_b0`` (GAP + linear heads, wrapped as
:class:`GapLinearNet`) and ``vgg16_bn`` (an MLP head, :class:`MlpHeadNet`: no CAM). The torchvision
networks are built with ``weights=None`` (nothing is downloaded) and adapted to gray input (a
1-channel first convolution) and to the class count. :func:`load_initial_weights` starts a model
from a local file: a torchvision state dict (RGB kernels of the first convolution are summed) or a
checkpoint of this package.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

#: Mean and standard deviation used to normalise gray images inside the compact model.
GRAY_MEAN = 0.5
GRAY_STD = 0.25
#: ImageNet statistics averaged over the RGB channels (torchvision models, gray input).
IMAGENET_GRAY_MEAN = (0.485 + 0.456 + 0.406) / 3
IMAGENET_GRAY_STD = (0.229 + 0.224 + 0.225) / 3


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
    ``dropout`` (training only) sits between the pooling and the linear layer, so it does not
    change that identity in eval mode. ``fc``: a ready linear layer (e.g. torchvision's, with its
    initialisation); by default a new ``nn.Linear(n_features, n_classes)``.
    """

    def __init__(self, features: nn.Sequential, n_features: int, n_classes: int, *,
                 dropout: float = 0.0, fc: nn.Linear | None = None,
                 mean: float = GRAY_MEAN, std: float = GRAY_STD) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = fc if fc is not None else nn.Linear(n_features, n_classes)

    @property
    def target_layer(self) -> nn.Module:
        """The last convolutional block: GradCAM's default layer and CAM's feature maps."""
        return self.features[-1]

    @property
    def n_classes(self) -> int:
        return self.fc.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.features(self.normalize(x))
        return self.fc(self.dropout(torch.flatten(self.pool(a), 1)))


class MlpHeadNet(nn.Module):
    """A convolutional trunk, adaptive average pooling to a grid and an MLP classifier (VGG).

    CAM is not defined for this head; GradCAM (default layer: the trunk's last ReLU, before the
    final max pooling) and Extremal Perturbation are.
    """

    def __init__(self, features: nn.Sequential, avgpool: nn.Module, classifier: nn.Sequential, *,
                 mean: float = IMAGENET_GRAY_MEAN, std: float = IMAGENET_GRAY_STD) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.features = features
        self.avgpool = avgpool
        self.classifier = classifier

    @property
    def target_layer(self) -> nn.Module:
        relus = [m for m in self.features if isinstance(m, nn.ReLU)]
        return relus[-1]

    @property
    def n_classes(self) -> int:
        return self.classifier[-1].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.avgpool(self.features(self.normalize(x)))
        return self.classifier(torch.flatten(a, 1))


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


def _gray_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A 1-channel copy of an RGB input convolution, initialised as torchvision initialises it
    (Kaiming normal, fan-out mode: the same scale whatever the number of input channels)."""
    gray = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                     conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
    nn.init.kaiming_normal_(gray.weight, mode="fan_out", nonlinearity="relu")
    if gray.bias is not None:
        nn.init.zeros_(gray.bias)
    return gray


def _not_inplace(model: nn.Module) -> nn.Module:
    """Switch off in-place activations, which break the hooks of saliency methods."""
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return model


def _torchvision_models() -> Any:
    """``torchvision.models``, imported when a torchvision network is built: importing torchvision
    also imports ``torch._dynamo`` (about 1.5 s of CPU), which every job that builds the compact
    model would otherwise pay."""
    import torchvision.models

    return torchvision.models


def _resnet(name: str) -> Callable[[int], GapLinearNet]:
    def build(n_classes: int) -> GapLinearNet:
        net = getattr(_torchvision_models(), name)(weights=None, num_classes=n_classes)
        features = nn.Sequential(_gray_conv(net.conv1), net.bn1, net.relu, net.maxpool,
                                 net.layer1, net.layer2, net.layer3, net.layer4)
        return _not_inplace(GapLinearNet(features, net.fc.in_features, n_classes, fc=net.fc,
                                         mean=IMAGENET_GRAY_MEAN, std=IMAGENET_GRAY_STD))

    build.__doc__ = (f"torchvision's {name} (no pretrained weights) for gray input: conv1 ... "
                     "layer4 as ``features`` (layer4 is the target layer), GAP, ``fc``.")
    return build


def efficientnet_b0(n_classes: int) -> GapLinearNet:
    """torchvision's EfficientNet-B0 (no pretrained weights) for gray input; head: GAP, dropout
    0.2, ``fc`` (torchvision's ``classifier.1``)."""
    net = _torchvision_models().efficientnet_b0(weights=None, num_classes=n_classes)
    net.features[0][0] = _gray_conv(net.features[0][0])
    dropout, fc = net.classifier
    return _not_inplace(GapLinearNet(net.features, fc.in_features, n_classes, dropout=dropout.p,
                                     fc=fc, mean=IMAGENET_GRAY_MEAN, std=IMAGENET_GRAY_STD))


def vgg16_bn(n_classes: int) -> MlpHeadNet:
    """torchvision's VGG-16 with batch norm (no pretrained weights) for gray input; MLP head."""
    net = _torchvision_models().vgg16_bn(weights=None, num_classes=n_classes)
    net.features[0] = _gray_conv(net.features[0])
    return _not_inplace(MlpHeadNet(net.features, net.avgpool, net.classifier))


@dataclasses.dataclass(frozen=True)
class Architecture:
    """How to build an architecture and how to read weight files into it.

    ``first_conv``: state-dict key of the input convolution's weight (gray: 1 input channel).
    ``classifier``: keys whose shape depends on the class count (re-initialised when a weights
    file has another class count). ``torchvision_prefixes``: (torchvision key prefix, our key
    prefix) pairs that translate a torchvision state dict to this wrapper's keys.
    """

    build: Callable[[int], nn.Module]
    first_conv: str
    classifier: tuple[str, ...]
    torchvision_prefixes: tuple[tuple[str, str], ...] = ()


_RESNET_PREFIXES = (("conv1.", "features.0."), ("bn1.", "features.1."), ("layer1.", "features.4."),
                    ("layer2.", "features.5."), ("layer3.", "features.6."),
                    ("layer4.", "features.7."))

#: Architecture name -> :class:`Architecture`. The config schema's ``models.<name>.arch`` enum
#: lists the same names (a test checks it).
ARCHITECTURES: dict[str, Architecture] = {
    "compact_cnn": Architecture(compact_cnn, "features.0.0.weight", ("fc.weight", "fc.bias")),
    "resnet18": Architecture(_resnet("resnet18"), "features.0.weight", ("fc.weight", "fc.bias"),
                             _RESNET_PREFIXES),
    "resnet50": Architecture(_resnet("resnet50"), "features.0.weight", ("fc.weight", "fc.bias"),
                             _RESNET_PREFIXES),
    "efficientnet_b0": Architecture(efficientnet_b0, "features.0.0.weight", ("fc.weight", "fc.bias"),
                                    (("classifier.1.", "fc."),)),
    "vgg16_bn": Architecture(vgg16_bn, "features.0.weight",
                             ("classifier.6.weight", "classifier.6.bias")),
}


def build_model(arch: str, n_classes: int, seed: int) -> nn.Module:
    """Build an untrained model with weights drawn from ``seed`` (same seed, same weights)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {sorted(ARCHITECTURES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[arch].build(n_classes)


def has_gap_linear_head(model: nn.Module) -> bool:
    """Whether CAM is defined for ``model`` (features -> global average pool -> one linear)."""
    return isinstance(model, GapLinearNet)


class WeightsError(ValueError):
    """A weights file that does not fit the architecture; the message names keys and shapes."""


def _read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors of a weights file and the metadata of our own checkpoints ({} otherwise)."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found (models.<name>.weights)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise WeightsError(f"{path}: not a PyTorch state dict or checkpoint ({err})") from err
    meta: dict = {}
    if isinstance(payload, Mapping) and "state_dict" in payload and "arch" in payload:
        meta = {k: v for k, v in payload.items() if k != "state_dict"}
        payload = payload["state_dict"]
    elif isinstance(payload, Mapping):
        for key in ("state_dict", "model"):  # common wrappers of training scripts
            if isinstance(payload.get(key), Mapping):
                payload = payload[key]
                break
    if not isinstance(payload, Mapping) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise WeightsError(f"{path}: expected a state dict (parameter name -> tensor)")
    state = {k.removeprefix("module."): v for k, v in payload.items()}
    return state, meta


def load_initial_weights(model: nn.Module, arch: str, path: str | Path,
                         classes: list[str] | None = None) -> list[str]:
    """Start ``model`` (built by :func:`build_model` for ``arch``) from the weights in ``path``.

    ``path`` holds a torchvision state dict (e.g. ``resnet18-f37072fd.pth``; keys are translated
    to this package's wrappers) or a checkpoint written by :func:`save_checkpoint` (same ``arch``).
    An RGB input convolution is made gray by summing its kernels over the colour channels.
    Class-dependent layers (:attr:`Architecture.classifier`) whose shape differs, or whose
    checkpoint classes differ from ``classes``, keep their fresh initialisation. Any other
    missing, unexpected or misshapen key is a :class:`WeightsError` that lists them.

    Returns notes on what was adapted (also logged).
    """
    path = Path(path)
    spec = ARCHITECTURES[arch]
    state, meta = _read_state_dict(path)
    if meta and meta.get("arch") != arch:
        raise WeightsError(f"{path}: a checkpoint of architecture {meta.get('arch')!r}, "
                           f"but the model is {arch!r}")
    renamed = {}
    for key, value in state.items():
        for old, new in spec.torchvision_prefixes:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value

    target = model.state_dict()
    notes: list[str] = []
    first = renamed.get(spec.first_conv)
    if first is not None and first.ndim == 4 and first.shape[1] == 3 and target[spec.first_conv].shape[1] == 1:
        renamed[spec.first_conv] = first.sum(dim=1, keepdim=True)
        notes.append(f"summed the RGB kernels of {spec.first_conv} into one gray channel")
    other_classes = bool(meta) and classes is not None and list(meta.get("classes", [])) != list(classes)
    reinit = [k for k in spec.classifier if k in renamed
              and (renamed[k].shape != target[k].shape or other_classes)]
    if reinit:
        key = reinit[0]  # weight or bias: dimension 0 is the class count
        why = (f"checkpoint classes {meta.get('classes')} != {list(classes or [])}" if other_classes
               else f"{renamed[key].shape[0]} classes in the file, {target[key].shape[0]} in the model")
        notes.append(f"re-initialised the classifier layer(s) {reinit} ({why})")
        for k in reinit:
            del renamed[k]

    missing = [k for k in target if k not in renamed and k not in reinit
               and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in renamed if k not in target]
    misshapen = [f"{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
                 for k, v in renamed.items() if k in target and v.shape != target[k].shape]
    if missing or unexpected or misshapen:
        problems = []
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                           ("shape mismatches", misshapen)):
            if keys:
                more = f" ... ({len(keys)} in all)" if len(keys) > 8 else ""
                problems.append(f"{what}: {', '.join(keys[:8])}{more}")
        raise WeightsError(f"{path} does not fit architecture {arch!r}: " + "; ".join(problems))
    model.load_state_dict({**target, **renamed})
    for note in notes:
        log.info("initial weights %s: %s", path, note)
    return notes


def save_checkpoint(model: nn.Module, path, *, arch: str, classes: list[str], seed: int,
                    image_size: int) -> None:
    """Save weights with what is needed to rebuild the model (atomically)."""
    from .io import atomic_path

    payload = {"arch": arch, "classes": list(classes), "seed": seed, "image_size": image_size,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    # Saved through a file object: given a path, torch names the archive's records after the
    # (random) temporary file, and equal weights would give different bytes.
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)


def load_checkpoint(path, device: torch.device | str | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns (model in eval mode, metadata)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(payload["arch"], len(payload["classes"]), payload["seed"])
    model.load_state_dict(payload["state_dict"])
    if device is not None:
        model.to(device)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.eval(), meta


#: Images per forward pass when only logits are needed, on the CPU. Small batches keep a layer's
#: activations near the cache (compact model: 64 x 32 channels x 64 x 64 floats, 34 MB, against
#: 134 MB at 256): on 1 thread 2048 images took 5.1 s at 64, 6.4-6.9 s at 256, and gave the same
#: logits to the bit (batch sizes 32-256 compared). A GPU takes the callers' larger batches.
CPU_FORWARD_BATCH = 64


def forward_batch(batch_size: int, device: torch.device | str) -> int:
    """Images per forward pass: ``batch_size``, at most :data:`CPU_FORWARD_BATCH` on the CPU."""
    return min(batch_size, CPU_FORWARD_BATCH) if torch.device(device).type == "cpu" else batch_size


def fast_inference_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for many forward passes on the CPU, the model itself unchanged.

    On the CPU: in eval mode, each convolution followed by batch normalisation folded into one
    convolution (``torch.fx.experimental.optimization.fuse``) and the weights in channels-last
    layout (oneDNN's faster convolutions): for the compact model 1.6x the images per second on
    1 thread, logits equal within float rounding (max 3e-6 measured). A model that torch.fx
    cannot trace is only made channels-last. On a GPU the model is returned as it is.
    """
    device = next(model.parameters()).device
    if device.type != "cpu":
        return model
    fast = copy.deepcopy(model).eval()
    try:
        from torch.fx.experimental.optimization import fuse

        fast = fuse(fast)
    except Exception as error:  # noqa: BLE001 - any tracing failure: fall back to the unfused copy
        log.info("conv-BN folding skipped (%s: %s)", type(error).__name__, error)
    return fast.to(memory_format=torch.channels_last)
