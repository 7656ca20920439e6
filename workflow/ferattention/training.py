"""Training and evaluation of expression classifiers.

Deterministic on the CPU for a seed: weights come from the seed, and every random draw of the loop
(shuffling, augmentation) comes from one seeded generator.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .catalogue import schema_defaults
from .models import forward_batch


#: The defaults of :class:`TrainConfig`: the config schema's (``training:`` and a
#: ``models.<name>`` entry's ``epochs`` and ``seed``), their one source.
_DEFAULTS: dict[str, Any] = {**schema_defaults("training"), **schema_defaults("models", "*")}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_model` (config ``training:``, overridable per model).

    Defaults and meaning: the config schema (workflow/schemas/config.schema.yaml).
    """

    epochs: int = _DEFAULTS["epochs"]
    batch_size: int = _DEFAULTS["batch_size"]
    lr: float = _DEFAULTS["lr"]
    weight_decay: float = _DEFAULTS["weight_decay"]
    max_shift: int = _DEFAULTS["max_shift"]        # pixels of random translation (augmentation)
    flip: bool = _DEFAULTS["flip"]                 # random horizontal flips
    rotate: float = _DEFAULTS["rotate"]            # degrees: random rotation in [-rotate, rotate]
    scale: float = _DEFAULTS["scale"]              # random zoom factor in [1 - scale, 1 + scale]
    brightness: float = _DEFAULTS["brightness"]    # random offset in [-brightness, brightness]
    contrast: float = _DEFAULTS["contrast"]        # random factor in [1 - contrast, 1 + contrast]
    patience: int = _DEFAULTS["patience"]          # early stopping: epochs without improvement
    seed: int = _DEFAULTS["seed"]


#: Share of the epochs in which the one-cycle learning rate rises to ``lr`` (no early stopping).
WARMUP_FRACTION = 0.3

#: Keys of ``TrainConfig`` that a ``models.<name>`` entry may set to override ``training:``.
TRAINING_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("epochs", "seed"))


def train_config(model_spec: Mapping[str, Any], training: Mapping[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` of one ``models.<name>`` entry: ``training:`` with the entry's own
    ``epochs``, ``seed`` and any training key it overrides (e.g. ``models.big.lr``)."""
    keys = {k: v for k, v in training.items() if k in TRAINING_KEYS}
    keys.update({k: v for k, v in model_spec.items() if k in TRAINING_KEYS})
    return TrainConfig(epochs=model_spec["epochs"], seed=model_spec["seed"], **keys)


def device_for(model: nn.Module | None = None) -> torch.device:
    """CUDA when present, the CPU otherwise (or the device of ``model``'s parameters)."""
    if model is not None:
        return next(model.parameters()).device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def augment(x: torch.Tensor, max_shift: int, flip: bool, generator: torch.Generator, *,
            rotate: float = 0.0, scale: float = 0.0, brightness: float = 0.0,
            contrast: float = 0.0) -> torch.Tensor:
    """Random augmentation of a batch of faces ``x`` ``(N, 1, H, W)`` in ``[0, 1]``.

    In this order, each step only when its amount is > 0 (so a step left off draws nothing):
    shift by up to ``max_shift`` whole pixels (edge padding); horizontal flip with probability
    1/2; rotation by up to ``rotate`` degrees and zoom by a factor in ``[1 - scale, 1 + scale]``
    about the centre (bilinear, edge padding); contrast about each image's mean by a factor in
    ``[1 - contrast, 1 + contrast]`` and brightness offset in ``[-brightness, brightness]``,
    clipped to ``[0, 1]``. Draws come from ``generator`` (on the CPU), so a seed repeats them.
    """
    n, _, h, w = x.shape

    def uniform(amount: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * amount

    if max_shift > 0:
        padded = F.pad(x, (max_shift,) * 4, mode="replicate")
        dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
        dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mask.to(x.device)[:, None, None, None], x.flip(-1), x)
    if rotate > 0 or scale > 0:
        angle = uniform(math.radians(rotate))
        zoom = 1 + uniform(scale)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        zeros = torch.zeros(n)
        # Output -> input coordinates (normalised to [-1, 1]); zoom > 1 magnifies.
        theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if contrast > 0 or brightness > 0:
        factor = (1 + uniform(contrast)).to(x)[:, None, None, None]
        offset = uniform(brightness).to(x)[:, None, None, None]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * factor + mean + offset).clamp(0, 1)
    return x


def train_model(model: nn.Module, train_images: np.ndarray, train_labels: np.ndarray,
                val_images: np.ndarray, val_labels: np.ndarray, cfg: TrainConfig,
                progress: bool = True) -> tuple[nn.Module, pd.DataFrame]:
    """Train ``model`` with AdamW (one-cycle learning rate) and cross-entropy; keep the weights
    of the best validation epoch.

    ``*_images``: float32 ``(N, H, W)`` in ``[0, 1]``; ``*_labels``: int ``(N,)`` class indices.
    Stops early after ``cfg.patience`` epochs without a lower validation loss, not counting the
    learning-rate warm-up (the first 30 % of the epochs).
    Returns the model (best weights, eval mode) and the per-epoch history
    (``epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds``).
    """
    import time

    device = device_for(model)
    # Channels-last convolutions are markedly faster on CPUs (oneDNN) and no slower on GPUs.
    model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(cfg.seed)
    x_train = torch.as_tensor(train_images, dtype=torch.float32).unsqueeze(1)
    y_train = torch.as_tensor(train_labels, dtype=torch.long)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=cfg.lr, epochs=cfg.epochs, pct_start=WARMUP_FRACTION,
        steps_per_epoch=max(1, int(np.ceil(len(x_train) / cfg.batch_size))))
    # The validation loss often rises while the learning rate warms up; patience counts only the
    # epochs after the warm-up.
    warmup_epochs = math.ceil(WARMUP_FRACTION * cfg.epochs)
    history, best_loss, best_state, stale = [], np.inf, None, 0
    bar = tqdm(range(1, cfg.epochs + 1), desc="epochs", unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss, total_correct = 0.0, 0
        for idx in order.split(cfg.batch_size):
            xb = augment(x_train[idx], cfg.max_shift, cfg.flip, generator, rotate=cfg.rotate,
                         scale=cfg.scale, brightness=cfg.brightness, contrast=cfg.contrast)
            xb = xb.to(device, memory_format=torch.channels_last)
            yb = y_train[idx].to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            total_loss += loss.item() * len(idx)
            total_correct += (logits.argmax(1) == yb).sum().item()
        val_logits = predict_logits(model, val_images)
        val_loss = F.cross_entropy(torch.as_tensor(val_logits), torch.as_tensor(val_labels)).item()
        history.append({
            "epoch": epoch, "train_loss": total_loss / len(x_train),
            "train_accuracy": total_correct / len(x_train), "val_loss": val_loss,
            "val_accuracy": float((val_logits.argmax(1) == val_labels).mean()),
            "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - start,
        })
        bar.set_postfix(train_loss=f"{history[-1]['train_loss']:.3f}", val_loss=f"{val_loss:.3f}",
                        val_accuracy=f"{history[-1]['val_accuracy']:.3f}")
        if val_loss < best_loss - 1e-4:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        elif epoch > warmup_epochs:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return model, pd.DataFrame(history)


@torch.no_grad()
def predict_logits(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits ``(N, K)`` (float32, on the CPU) for images ``(N, H, W)`` in ``[0, 1]``."""
    was_training = model.training
    model.eval()
    device = device_for(model)
    x = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    out = [model(xb.to(device)).float().cpu() for xb in x.split(forward_batch(batch_size, device))]
    model.train(was_training)
    k = getattr(model, "n_classes", 0)
    return torch.cat(out).numpy() if out else np.zeros((0, k), np.float32)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(K, K)``: row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix
