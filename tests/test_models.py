"""The default model, its training loop and checkpoints."""

import numpy as np
import pytest
import torch

from ferattention import models, training


def _blobs(n: int, size: int = 24, seed: int = 0):
    """Class 0: a bright blob in the upper half; class 1: in the lower half; plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, size, size), np.float32)
    for i, c in enumerate(labels):
        cy = rng.uniform(3, size / 2 - 3) + c * size / 2
        cx = rng.uniform(3, size - 3)
        images[i] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8) + rng.normal(0, 0.1, (size, size))
    return np.clip(images, 0, 1).astype(np.float32), labels


def test_compact_cnn_shapes_and_gap_head():
    model = models.build_model("compact_cnn", n_classes=8, seed=0).eval()
    x = torch.rand(3, 1, 64, 64)
    assert model(x).shape == (3, 8)
    assert model.features(model.normalize(x)).shape[-2:] == (8, 8)
    assert models.has_gap_linear_head(model)
    # Same seed, same weights; another seed, other weights.
    again = models.build_model("compact_cnn", 8, seed=0)
    other = models.build_model("compact_cnn", 8, seed=1)
    assert torch.equal(model.fc.weight, again.fc.weight)
    assert not torch.equal(model.fc.weight, other.fc.weight)
    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'"):
        models.build_model("resnet9000", 8, 0)


def test_training_learns_and_repeats_bit_for_bit(tmp_path):
    x_train, y_train = _blobs(160, seed=0)
    x_val, y_val = _blobs(60, seed=1)
    cfg = training.TrainConfig(epochs=4, batch_size=32, lr=5e-3, patience=10, seed=3, flip=False)

    def run():
        model = models.build_model("compact_cnn", 2, seed=3)
        return training.train_model(model, x_train, y_train, x_val, y_val, cfg, progress=False)

    model, history = run()
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    accuracy = (training.predict_logits(model, x_val).argmax(1) == y_val).mean()
    assert accuracy > 0.8  # chance is 0.5

    model2, history2 = run()
    assert history.drop(columns="seconds").equals(history2.drop(columns="seconds"))
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(a, b), k

    path = tmp_path / "m.pt"
    models.save_checkpoint(model, path, arch="compact_cnn", classes=["a", "b"], seed=3, image_size=24)
    loaded, meta = models.load_checkpoint(path)
    assert meta["classes"] == ["a", "b"] and meta["image_size"] == 24
    assert np.array_equal(training.predict_logits(loaded, x_val), training.predict_logits(model, x_val))


def test_confusion_matrix_counts():
    m = training.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
