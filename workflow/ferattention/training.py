"""Training and evaluation of expression classifiers.

Deterministic on the CPU for a seed: weights come from the seed, and every random draw of the loop
(shuffling, augmentation) comes from one seeded generator.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_model` (config ``training:``)."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_shift: int = 3          # pixels of random translation (augmentation)
    flip: bool = True           # random horizontal flips (faces are roughly symmetric)
    patience: int = 5           # early stopping: epochs without validation improvement
    seed: int = 0


def device_for(model: nn.Module | None = None) -> torch.device:
    """CUDA when present, the CPU otherwise (or the device of ``model``'s parameters)."""
    if model is not None:
        return next(model.parameters()).device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def augment(x: torch.Tensor, max_shift: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random shift by up to ``max_shift`` pixels (edge padding) and optional horizontal flip.

    ``x``: ``(N, 1, H, W)``. Draws come from ``generator`` (on the CPU), so a seed repeats them.
    """
    n, _, h, w = x.shape
    if max_shift > 0:
        padded = F.pad(x, (max_shift,) * 4, mode="replicate")
        dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
        dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
        x = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mask.to(x.device)[:, None, None, None], x.flip(-1), x)
    return x


def train_model(model: nn.Module, train_images: np.ndarray, train_labels: np.ndarray,
                val_images: np.ndarray, val_labels: np.ndarray, cfg: TrainConfig,
                progress: bool = True) -> tuple[nn.Module, pd.DataFrame]:
    """Train ``model`` with Adam and cross-entropy; keep the weights of the best validation epoch.

    ``*_images``: float32 ``(N, H, W)`` in ``[0, 1]``; ``*_labels``: int ``(N,)`` class indices.
    Stops early after ``cfg.patience`` epochs without a lower validation loss.
    Returns the model (best weights, eval mode) and the per-epoch history
    (``epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds``).
    """
    import time

    device = device_for(model)
    generator = torch.Generator().manual_seed(cfg.seed)
    x_train = torch.as_tensor(train_images, dtype=torch.float32).unsqueeze(1)
    y_train = torch.as_tensor(train_labels, dtype=torch.long)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=cfg.lr, epochs=cfg.epochs,
        steps_per_epoch=max(1, int(np.ceil(len(x_train) / cfg.batch_size))))
    history, best_loss, best_state, stale = [], np.inf, None, 0
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="epochs", disable=not progress):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total_loss, total_correct = 0.0, 0
        for idx in order.split(cfg.batch_size):
            xb = augment(x_train[idx], cfg.max_shift, cfg.flip, generator).to(device)
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
        if val_loss < best_loss - 1e-4:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, pd.DataFrame(history)


@torch.no_grad()
def predict_logits(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits ``(N, K)`` (float32, on the CPU) for images ``(N, H, W)`` in ``[0, 1]``."""
    was_training = model.training
    model.eval()
    device = device_for(model)
    x = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    out = [model(xb.to(device)).float().cpu() for xb in x.split(batch_size)]
    model.train(was_training)
    k = model.fc.out_features if hasattr(model, "fc") else 0
    return torch.cat(out).numpy() if out else np.zeros((0, k), np.float32)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(K, K)``: row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix
