"""Architectures, initial weights, the training loop, checkpoints and evaluation."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ferattention import models, training


#: Augmentation off apart from the shift (the schema's defaults turn it on; these tiny sets
#: would not learn through it in a few epochs).
NO_AUGMENT = {"rotate": 0.0, "scale": 0.0, "brightness": 0.0, "contrast": 0.0}

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
    cfg = training.TrainConfig(epochs=4, batch_size=32, lr=5e-3, patience=10, seed=3, flip=False, **NO_AUGMENT)

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


# --------------------------------------------------------------------------- architectures

ARCHS = ["compact_cnn", "resnet18", "resnet50", "efficientnet_b0", "vgg16_bn"]


@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_trains_one_batch_and_explains_it(arch):
    from ferattention.saliency import compute_maps

    model = models.build_model(arch, n_classes=8, seed=0)
    x, y = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0)), torch.tensor([1, 5])
    logits = model.train()(x)
    assert logits.shape == (2, 8)
    torch.nn.functional.cross_entropy(logits, y).backward()
    first = model.get_submodule(models.ARCHITECTURES[arch].first_conv.removesuffix(".weight"))
    assert first.in_channels == 1 and first.weight.grad.abs().sum() > 0

    model.eval()
    gradcam = compute_maps("gradcam", model, x, y)
    assert gradcam.shape == (2, 64, 64) and np.isfinite(gradcam).all() and gradcam.max() > 0
    if arch == "vgg16_bn":
        assert not models.has_gap_linear_head(model)
        with pytest.raises(ValueError, match="CAM is defined only for networks with a global-average-pooling"):
            compute_maps("cam", model, x, y)
        return
    assert models.has_gap_linear_head(model)
    from ferattention.saliency.cam import class_activation_maps

    # CAM identity: spatial mean of the class map + bias = the logit.
    cam = class_activation_maps(model, x, y)
    with torch.no_grad():
        expected = model(x)[torch.arange(2), y]
    assert torch.allclose(cam.mean(dim=(1, 2)) + model.fc.bias[y], expected, atol=1e-4)


@pytest.mark.parametrize("arch", ["compact_cnn", "resnet18"])
def test_fast_inference_copy_gives_the_same_logits_and_leaves_the_model_alone(arch):
    """Conv-BN folding is exact up to float rounding: trained-like BN statistics (not the
    identity of a fresh model) must give the same logits; the original keeps its layers."""
    torch.manual_seed(0)
    model = models.build_model(arch, 4, seed=0)
    for m in model.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    fast = models.fast_inference_copy(model)
    x = torch.rand(6, 1, 48, 48)
    with torch.inference_mode():
        np.testing.assert_allclose(fast(x).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())  # folded
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == n_bn
    assert not model.training


def test_architectures_match_the_config_schema_and_the_workflow_cam_check():
    from pathlib import Path

    from ferattention import catalogue

    import yaml

    repo = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    entry = schema["properties"]["models"]["additionalProperties"]["properties"]
    assert (sorted(entry["arch"]["enum"]) == sorted(models.ARCHITECTURES) == sorted(ARCHS)
            == sorted(catalogue.ARCHITECTURES))
    # The catalogue's heads (which the config check reads) are the built models' heads.
    no_cam = {a for a in ARCHS if not models.has_gap_linear_head(_meta_model(a))}
    assert {a for a, spec in catalogue.ARCHITECTURES.items() if spec.head == "mlp"} == no_cam == {"vgg16_bn"}
    # Every training key may be overridden per model, without a default there.
    assert set(training.TRAINING_KEYS) <= set(entry)
    assert not any("default" in entry[k] for k in training.TRAINING_KEYS)


def _meta_model(arch: str) -> torch.nn.Module:
    """The architecture's module tree without allocating its weights."""
    with torch.device("meta"):
        return models.ARCHITECTURES[arch].build(8)


# --------------------------------------------------------------------------- initial weights

def test_torchvision_state_dict_loads_into_gray_model_with_new_classifier(tmp_path, caplog):
    import torchvision

    reference = torchvision.models.resnet18(weights=None).eval()  # 1000 classes, RGB
    path = tmp_path / "resnet18-test.pth"
    torch.save(reference.state_dict(), path)

    model = models.build_model("resnet18", 3, seed=0)
    fresh_fc = model.fc.weight.detach().clone()
    with caplog.at_level("INFO"):
        notes = models.load_initial_weights(model, "resnet18", path)
    assert any("summed the RGB kernels" in n for n in notes)
    assert any("re-initialised the classifier" in n and "1000 classes" in n for n in notes)
    assert "re-initialised" in caplog.text
    assert torch.equal(model.features[0].weight, reference.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(model.features[7][1].conv2.weight, reference.layer4[1].conv2.weight)
    assert torch.equal(model.fc.weight, fresh_fc) and model.fc.out_features == 3
    # A gray image through the summed kernels = the same image in RGB through the original.
    model.eval()
    x = torch.rand(2, 1, 64, 64)
    z = model.normalize(x)
    reference.fc = torch.nn.Identity()
    with torch.no_grad():
        ours = torch.flatten(model.pool(model.features(z)), 1)
        theirs = reference(z.repeat(1, 3, 1, 1))
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_weights_that_do_not_fit_are_clear_errors(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(models.WeightsError, match=r"resnet18\.pth does not fit architecture "
                       r"'resnet50'.*(unexpected keys|shape mismatches).*features\.4\.0"):
        models.load_initial_weights(models.build_model("resnet50", 3, 0), "resnet50", path)
    with pytest.raises(FileNotFoundError, match="nope.pth not found"):
        models.load_initial_weights(models.build_model("resnet18", 3, 0), "resnet18", tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(models.WeightsError, match="junk.pth: not a PyTorch"):
        models.load_initial_weights(models.build_model("resnet18", 3, 0), "resnet18", tmp_path / "junk.pth")


def test_own_checkpoint_as_initial_weights(tmp_path):
    trained = models.build_model("compact_cnn", 3, seed=5)
    path = tmp_path / "model.pt"
    models.save_checkpoint(trained, path, arch="compact_cnn", classes=["a", "b", "c"], seed=5, image_size=64)

    same = models.build_model("compact_cnn", 3, seed=0)
    assert models.load_initial_weights(same, "compact_cnn", path, classes=["a", "b", "c"]) == []
    for (k, v), w in zip(trained.state_dict().items(), same.state_dict().values()):
        assert torch.equal(v, w), k

    other = models.build_model("compact_cnn", 2, seed=0)
    fresh = other.fc.weight.detach().clone()
    notes = models.load_initial_weights(other, "compact_cnn", path, classes=["a", "b"])
    assert len(notes) == 1 and "re-initialised" in notes[0]
    assert torch.equal(other.fc.weight, fresh)
    assert torch.equal(other.features[0][0].weight, trained.features[0][0].weight)
    with pytest.raises(models.WeightsError, match="architecture 'compact_cnn', but the model is 'resnet18'"):
        models.load_initial_weights(models.build_model("resnet18", 3, 0), "resnet18", path)


# --------------------------------------------------------------------------- training options

def test_model_entries_override_training_keys():
    training_cfg = {"batch_size": 64, "lr": 0.004, "rotate": 5.0}
    cfg = training.train_config({"arch": "resnet18", "epochs": 7, "seed": 2, "lr": 0.01, "weights": None},
                                training_cfg)
    assert (cfg.epochs, cfg.seed, cfg.lr, cfg.batch_size, cfg.rotate) == (7, 2, 0.01, 64, 5.0)


def test_augmentation_values():
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = torch.exp(-((yy - 15.5) ** 2 + (xx - 15.5) ** 2) / 30).expand(4, 1, 32, 32)
    # Steps left off draw nothing: the old shift + flip stream is unchanged.
    old = training.augment(blob, 2, True, gen())
    assert torch.equal(training.augment(blob, 2, True, gen(), rotate=0, contrast=0), old)
    # A centred round blob survives rotation (up to bilinear resampling) ...
    rotated = training.augment(blob, 0, False, gen(), rotate=45)
    assert (rotated - blob).abs().max() < 0.03
    # ... and zoom changes its size, never its range.
    zoomed = training.augment(blob, 0, False, gen(), scale=0.3)
    assert not torch.allclose(zoomed.sum(dim=(1, 2, 3)), blob.sum(dim=(1, 2, 3)), rtol=0.05)
    assert zoomed.min() >= 0 and zoomed.max() <= 1
    # Contrast keeps a flat image flat; brightness shifts it by at most the amount.
    flat = torch.full((6, 1, 8, 8), 0.5)
    assert torch.equal(training.augment(flat, 0, False, gen(), contrast=0.4), flat)
    bright = training.augment(flat, 0, False, gen(), brightness=0.1)
    offsets = bright.flatten(1)
    assert (offsets == offsets[:, :1]).all() and ((offsets - 0.5).abs() <= 0.1 + 1e-6).all()
    assert offsets[:, 0].unique().numel() == 6
    assert torch.equal(training.augment(blob, 1, True, gen(), rotate=10, scale=0.1, brightness=0.1,
                                        contrast=0.1),
                       training.augment(blob, 1, True, gen(), rotate=10, scale=0.1, brightness=0.1,
                                        contrast=0.1))


# --------------------------------------------------------------------------- evaluation

def test_accuracy_by_pair_on_a_hand_made_table():
    from ferattention import trials

    table = pd.DataFrame({
        "option_a": ["happy", "sad", "anger", "happy", "sad", "anger"],
        "option_b": ["sad", "happy", "happy", "anger", "anger", "sad"],
    })
    correct = [True, False, True, True, True, False]
    out = trials.accuracy_by_pair(table, correct, ["happy", "sad", "anger"])
    assert out.to_dict("records") == [
        {"expression_a": "happy", "expression_b": "sad", "n_trials": 2, "n_correct": 1, "accuracy": 0.5},
        {"expression_a": "happy", "expression_b": "anger", "n_trials": 2, "n_correct": 2, "accuracy": 1.0},
        {"expression_a": "sad", "expression_b": "anger", "n_trials": 2, "n_correct": 1, "accuracy": 0.5},
    ]
    with pytest.raises(KeyError, match="contempt"):
        trials.accuracy_by_pair(table.assign(option_a="contempt"), correct, ["happy", "sad", "anger"])


def test_evaluate_on_hand_made_logits():
    from ferattention import evaluation

    classes = ["happy", "sad", "anger"]
    logits = pd.DataFrame([[3.0, 1.0, 0.0],    # a: happy, predicted happy
                           [0.0, 1.0, 2.0],    # b: sad, predicted anger (sad 2nd)
                           [0.0, 0.5, 1.0]],   # c: anger, predicted anger
                          columns=classes, index=pd.Index(["a", "b", "c"], name="image_id"))
    labels = pd.Series(["happy", "sad", "anger"], index=logits.index)
    hand = pd.DataFrame({"trial_id": ["t1", "t2", "t3", "t4", "t5"],
                         "image_id": ["a", "a", "b", "b", "c"],
                         "option_a": ["happy", "anger", "sad", "happy", "sad"],
                         "option_b": ["sad", "happy", "anger", "sad", "anger"],
                         "label": ["happy", "happy", "sad", "sad", "anger"]})
    result = evaluation.evaluate(logits, labels, hand)
    # 2AFC answers: happy, happy, anger (wrong), sad, anger.
    assert result.trials["correct"].tolist() == [True, True, False, True, True]
    m = result.metrics
    assert m["accuracy_nway"] == pytest.approx(2 / 3) and m["accuracy_2afc"] == pytest.approx(0.8)
    assert m["balanced_accuracy_nway"] == pytest.approx(2 / 3)
    assert m["accuracy_per_expression"] == {"happy": 1.0, "sad": 0.0, "anger": 1.0}
    assert m["accuracy_2afc_per_expression"] == {"happy": 1.0, "sad": 0.5, "anger": 1.0}
    assert m["confusion"]["counts"] == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    assert result.by_expression[["expression", "n_images", "n_correct_nway", "n_trials_2afc",
                                 "n_correct_2afc"]].values.tolist() == [
        ["happy", 1, 1, 2, 2], ["sad", 1, 0, 2, 1], ["anger", 1, 1, 1, 1]]
    pairs = {(r.expression_a, r.expression_b): (r.n_trials, r.accuracy) for r in result.by_pair.itertuples()}
    assert pairs == {("happy", "sad"): (2, 1.0), ("happy", "anger"): (1, 1.0), ("sad", "anger"): (2, 0.5)}


def test_early_stopping_waits_for_the_warm_up_then_counts_patience():
    # A model that cannot learn (no batch norm, learning rate ~0): the validation loss never
    # improves after epoch 1. Warm-up of 10 epochs = 3; patience 2 -> stops after epoch 5.
    x, y = _blobs(40, size=12)
    model = models.GapLinearNet(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3)), 4, 2)
    cfg = training.TrainConfig(epochs=10, batch_size=20, lr=1e-12, patience=2, flip=False, **NO_AUGMENT)
    _, history = training.train_model(model, x, y, x, y, cfg, progress=False)
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5]


def test_early_stopping_restores_the_weights_of_the_best_validation_epoch():
    """The model returned is the best epoch's, not the last one's: its validation loss, recomputed
    from the returned weights, equals the lowest of the history, and the last epoch's is higher."""
    x_train, y_train = _blobs(80, seed=0)
    x_val, y_val = _blobs(40, seed=1)
    # 6 of the 40 validation labels flipped: the loss falls while the model learns, then rises as
    # it grows confident on the flipped ones (overfitting, as seen by the validation set).
    y_val[:6] = 1 - y_val[:6]
    cfg = training.TrainConfig(epochs=6, batch_size=16, lr=5e-3, patience=2, seed=0, flip=False, **NO_AUGMENT)
    model = models.build_model("compact_cnn", 2, seed=0)
    model, history = training.train_model(model, x_train, y_train, x_val, y_val, cfg, progress=False)
    losses = history.set_index("epoch")["val_loss"]
    best_epoch = int(losses.idxmin())
    assert 1 < best_epoch < history["epoch"].iloc[-1]  # a middle epoch was the best
    assert len(history) < cfg.epochs  # and training stopped early, `patience` epochs after it
    assert history["epoch"].iloc[-1] == best_epoch + cfg.patience
    logits = torch.as_tensor(training.predict_logits(model, x_val))
    restored = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y_val)).item()
    assert restored == pytest.approx(losses[best_epoch], rel=1e-6)
    assert restored < losses.iloc[-1] - 0.1


def test_torch_jobs_do_not_import_torchvision():
    """Importing torchvision also imports torch._dynamo (about 1.5 s of CPU per job): the modules
    of the jobs that build the compact model, compute maps or curves must not pull it in."""
    code = ("import sys\n"
            "from ferattention import models, training, faithfulness, saliency, evaluation\n"
            "from ferattention.humans import views\n"
            "models.build_model('compact_cnn', 3, 0)\n"
            "assert 'torchvision' not in sys.modules, sorted(m for m in sys.modules if 'torchvision' in m)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(models.__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
