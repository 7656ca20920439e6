"""Saliency methods: known identities, a network with a known receptive region, model hygiene."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ferattention import models, saliency
from ferattention.saliency.cam import class_activation_maps
from ferattention.saliency.extremal import batched_extremal_masks, torchray_extremal_masks

torch.set_num_threads(1)

# Small EP settings so the file stays fast: 32 px images -> step 1, sigma 3 (scaled defaults).
# No jitter: TorchRay's jitter flips the image every other step, which assumes a network that does
# not care about left and right -- the quadrant network below does. Contrastive reward: with the
# quadrant network's two opposite classes it is twice the simple one, so 60 steps suffice.
EP_FAST = {"areas": [0.1, 0.2], "max_iter": 60, "jitter": False, "reward": "contrastive"}
#: TorchRay fixes its learning rate; every comparison with it runs at that rate.
TORCHRAY_LR = {"learning_rate": 0.01}


def _compact(seed: int = 0, n_classes: int = 5, width: int = 8) -> models.GapLinearNet:
    torch.manual_seed(seed)
    return models.compact_cnn(n_classes, width=width)


def _images(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _minmax(x: torch.Tensor) -> torch.Tensor:
    """Per-image min-max normalisation to [0, 1] (a constant map becomes 0)."""
    flat = x.flatten(1)
    lo, hi = flat.min(1)[0], flat.max(1)[0]
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return (x - lo[:, None, None]) / span[:, None, None]


class QuadrantGate(nn.Module):
    """Zeroes the feature maps outside the top-left quadrant."""

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[2:]
        gate = torch.zeros(h, w, device=a.device)
        gate[: h // 2, : w // 2] = 1
        return a * gate


def quadrant_net() -> models.GapLinearNet:
    """Class 0's logit = mean over the top-left quadrant of |Laplacian(image)|; class 1's = minus it.

    Only the top-left quadrant's texture matters: every method should put its map there.
    """
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    with torch.no_grad():
        conv.weight[:] = torch.stack([lap, -lap])[:, None]
    net = models.GapLinearNet(nn.Sequential(conv, nn.ReLU(), QuadrantGate()), 2, 2)
    with torch.no_grad():
        # logits of a few units: EP's reward then outweighs its area term within few iterations
        net.fc.weight[:] = torch.tensor([[10.0, 10.0], [-10.0, -10.0]])
        net.fc.bias.zero_()
    return net


def test_registry_lists_the_methods():
    expected = {"cam", "gradcam", "gradcam_pp", "scorecam", "extremal_perturbation", "center"}
    assert expected <= set(saliency.available_methods())
    assert set(saliency.available_methods()) == set(saliency.METHODS)


def test_cam_mean_plus_bias_is_the_logit():
    model = _compact().eval()
    x, t = _images(3, 64), torch.tensor([0, 2, 4])
    cam_low = class_activation_maps(model, x, t)
    assert cam_low.shape == (3, 8, 8)
    with torch.no_grad():
        logits = model(x)[torch.arange(3), t]
    np.testing.assert_allclose(cam_low.mean((1, 2)) + model.fc.bias[t].detach(), logits, rtol=1e-5, atol=1e-6)
    # The method's map is that CAM bilinearly upsampled, without ReLU (negative values kept).
    maps = saliency.compute_maps("cam", model, x, t)
    up = F.interpolate(cam_low[:, None], size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(maps, up.numpy(), atol=1e-7)
    assert (maps < 0).any() and (maps > 0).any()


def test_gradcam_at_last_block_is_relu_cam():
    """GAP + linear: d logit_k / dA = w_k / (h w) everywhere, so GradCAM = ReLU(CAM) / (h w).

    pytorch-grad-cam min-max normalises at the layer's resolution, resizes with cv2 (bilinear,
    half-pixel centres) and min-max normalises again; resizing is linear, so its output equals
    minmax(bilinear(ReLU(CAM_low))) exactly. ReLU must come before the upsampling.
    """
    model = _compact(seed=3)
    x, t = _images(4, 64, seed=5), torch.tensor([0, 1, 3, 4])
    cam_low = class_activation_maps(model.eval(), x, t)
    flat = cam_low.flatten(1)
    assert ((flat < 0).any(1) & (flat > 0).any(1)).all()  # mixed signs: the ReLU matters
    expected = _minmax(
        F.interpolate(cam_low.clamp(min=0)[:, None], size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
    ).numpy()
    grad = saliency.compute_maps("gradcam", model, x, t)
    np.testing.assert_allclose(grad, expected, atol=2e-5)
    # The layer as a dotted path gives the same maps as the default model.target_layer.
    np.testing.assert_array_equal(grad, saliency.compute_maps("gradcam", model, x, t, {"layer": "features.3"}))
    # Rectifying after upsampling (the CAM method's map, then ReLU) is a different map: the order
    # matters, so the tolerance above is a real check.
    relu_after = _minmax(torch.from_numpy(saliency.compute_maps("cam", model, x, t)).clamp(min=0)).numpy()
    assert np.abs(relu_after - grad).max() > 0.05


def test_bench_cam_reference_is_cam_by_definition():
    """The benchmark's CAM reference, checked by hand on a network small enough to write out."""
    from ferattention.bench import saliency as bench

    trunk = nn.Sequential(nn.Conv2d(1, 2, 2, stride=2, bias=False))  # 4x4 image -> 2x2 features
    net = models.GapLinearNet(trunk, 2, 3, mean=0.0, std=1.0).eval()
    with torch.no_grad():
        trunk[0].weight[:] = torch.tensor([[[[1.0, 0], [0, 0]]], [[[0, 0], [0, 1.0]]]])
        net.fc.weight[:] = torch.tensor([[1.0, 0], [0, 1.0], [2.0, -1.0]])
    image = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4) / 15
    # Channel 0 takes each 2x2 block's top-left pixel, channel 1 its bottom-right one.
    a0 = torch.tensor([[0.0, 2], [8, 10]]) / 15
    a1 = torch.tensor([[5.0, 7], [13, 15]]) / 15
    for target, low in ((0, a0), (1, a1), (2, 2 * a0 - a1)):
        # Bilinear upsampling x2 with half-pixel centres: weights 3/4 and 1/4 between neighbours,
        # edge pixels repeat the edge values.
        rows = torch.stack([low[0], 0.75 * low[0] + 0.25 * low[1], 0.25 * low[0] + 0.75 * low[1], low[1]])
        up = torch.stack([rows[:, 0], 0.75 * rows[:, 0] + 0.25 * rows[:, 1],
                          0.25 * rows[:, 0] + 0.75 * rows[:, 1], rows[:, 1]], dim=1)
        got = bench._cam_by_hand(net, image, torch.tensor([target]))[0]
        np.testing.assert_allclose(got, up.numpy(), atol=1e-6)
        # ... and the workflow's CAM is the same map.
        np.testing.assert_allclose(saliency.compute_maps("cam", net, image, torch.tensor([target]))[0],
                                   up.numpy(), atol=1e-6)


def test_cam_requires_a_gap_linear_head():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="global-average-pooling"):
        saliency.compute_maps("cam", model, _images(1, 16), torch.tensor([0]))


def test_unknown_method_parameter_or_layer_is_an_error():
    model, x, t = _compact(), _images(1, 32), torch.tensor([0])
    with pytest.raises(ValueError, match="unknown parameter"):
        saliency.compute_maps("gradcam", model, x, t, {"layr": "features.3"})
    with pytest.raises(ValueError, match="not found"):
        saliency.compute_maps("gradcam", model, x, t, {"layer": "features.9"})
    with pytest.raises(ValueError, match="unknown saliency method"):
        saliency.compute_maps("gradcam++", model, x, t)


QUADRANT_CASES = [
    ("cam", None),
    ("gradcam", None),
    ("gradcam_pp", None),
    ("scorecam", None),
    ("extremal_perturbation", EP_FAST),
    ("extremal_perturbation", {**EP_FAST, **TORCHRAY_LR, "implementation": "torchray"}),
]


@pytest.mark.parametrize(("name", "params"), QUADRANT_CASES)
def test_maps_lie_where_the_network_looks(name, params):
    model = quadrant_net()
    x = _images(2, 32, seed=7)  # texture everywhere; the network reads the top-left only
    maps = saliency.compute_maps(name, model, x, torch.tensor([0, 0]), params)
    assert maps.shape == (2, 32, 32) and maps.dtype == np.float32 and np.isfinite(maps).all()
    for m in maps:
        pos = np.clip(m, 0, None)
        quadrants = [pos[r : r + 16, c : c + 16].sum() / pos.sum() for r in (0, 16) for c in (0, 16)]
        # EP's masks after 60 steps are still far from binary; the gradient methods are exact.
        assert quadrants[0] > (0.3 if name == "extremal_perturbation" else 0.99), (name, quadrants)
        assert quadrants[0] > max(quadrants[1:]) + 0.05, (name, quadrants)
        row, col = np.unravel_index(np.argmax(m), m.shape)
        assert row < 16 and col < 16, name


@pytest.mark.parametrize(
    ("name", "params"),
    [("cam", None), ("gradcam", None), ("gradcam_pp", None), ("scorecam", None),
     ("extremal_perturbation", {"areas": [0.1], "max_iter": 3}),
     ("extremal_perturbation", {"areas": [0.1], "max_iter": 3, **TORCHRAY_LR, "implementation": "torchray"}),
     ("center", None)],
)
def test_model_state_never_leaks(name, params):
    model = _compact()
    model.train()
    model.features[0][0].weight.requires_grad_(False)  # a mixed pattern must come back as it was
    flags = [p.requires_grad for p in model.parameters()]
    saliency.compute_maps(name, model, _images(2, 32), torch.tensor([1, 2]), params)
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)


def test_gradcam_after_extremal_perturbation_is_unaffected():
    model, x, t = _compact(), _images(2, 32), torch.tensor([1, 2])
    before = saliency.compute_maps("gradcam", model, x, t)
    saliency.compute_maps("extremal_perturbation", model, x, t, {"areas": [0.1], "max_iter": 2, **TORCHRAY_LR,
                                                                  "implementation": "torchray"})
    assert all(p.requires_grad for p in model.parameters())
    np.testing.assert_array_equal(saliency.compute_maps("gradcam", model, x, t), before)


def test_center_is_a_centred_gaussian():
    maps = saliency.compute_maps("center", None, _images(3, 33), torch.tensor([0, 1, 2]), {"sigma": 0.2})
    assert maps.shape == (3, 33, 33) and maps.dtype == np.float32
    np.testing.assert_array_equal(maps[0], maps[2])
    assert np.unravel_index(np.argmax(maps[0]), (33, 33)) == (16, 16) and maps[0, 16, 16] == 1
    # One standard deviation (sigma * size = 20 px) from the centre: exp(-1/2).
    np.testing.assert_allclose(
        saliency.baselines.center_gaussian(101, 101, 20 / 101)[50, 50 + 20], np.exp(-0.5), rtol=1e-6
    )
    np.testing.assert_allclose(maps[0], maps[0].T)


@pytest.mark.parametrize("method", ["cam", "gradcam"])
def test_random_model_maps_are_the_method_on_seeded_untrained_weights(method):
    x, t = _images(3, 32), torch.tensor([0, 3, 1])
    trained = models.build_model("compact_cnn", 5, seed=4)
    with torch.no_grad():  # stands in for training: any change of the weights from their seed
        for p in trained.parameters():
            p.add_(0.5 * torch.randn_like(p))
    got = saliency.random_model_maps(method, "compact_cnn", 5, 4, x, t)
    again = saliency.random_model_maps(method, "compact_cnn", 5, 4, x, t)
    np.testing.assert_array_equal(got, again)                      # deterministic per seed
    untrained = models.build_model("compact_cnn", 5, seed=4)
    np.testing.assert_array_equal(got, saliency.compute_maps(method, untrained, x, t))
    assert not np.allclose(got, saliency.compute_maps(method, trained, x, t), atol=1e-4)
    other_seed = saliency.random_model_maps(method, "compact_cnn", 5, 5, x, t)
    assert not np.allclose(got, other_seed, atol=1e-4)
    with pytest.raises(ValueError, match="random_model: method must be an attention method"):
        saliency.random_model_maps("center", "compact_cnn", 5, 4, x, t)


def test_method_names_expand_random_model_and_tell_baselines():
    from ferattention import methods as mn

    run = mn.expand_methods(["cam", "gradcam", "extremal_perturbation", "center", "random_model"],
                            ["cam", "gradcam"])
    assert run == ["cam", "gradcam", "extremal_perturbation", "center", "random_model_cam",
                   "random_model_gradcam"]
    assert mn.attention_methods(run) == ["cam", "gradcam", "extremal_perturbation"]
    assert mn.shuffled_methods(run) == ["shuffled_cam", "shuffled_gradcam",
                                        "shuffled_extremal_perturbation"]
    assert [mn.is_baseline(m) for m in ("center", "random_model_cam", "shuffled_gradcam", "cam")] \
        == [True, True, True, False]
    assert mn.base_method("random_model_gradcam") == mn.base_method("shuffled_gradcam") == "gradcam"
    with pytest.raises(ValueError, match="not baselines"):
        mn.expand_methods(["random_model"], ["center"])


def test_compute_maps_batches_and_accepts_numpy():
    model = _compact()
    x, t = _images(5, 32), np.array([0, 1, 2, 3, 4])
    whole = saliency.compute_maps("gradcam", model, x[:, 0].numpy(), t, batch_size=64)
    np.testing.assert_allclose(saliency.compute_maps("gradcam", model, x, t, batch_size=2), whole, atol=1e-5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        saliency.compute_maps("gradcam", model, x * 2, t)


@pytest.mark.parametrize(
    "params",
    [
        {"areas": [0.1, 0.3], "max_iter": 40, **TORCHRAY_LR},  # TorchRay's defaults: blur, jitter
        {"areas": [0.2], "max_iter": 30, "reward": "simple", "perturbation": "fade", "jitter": False,
         "smooth": 0.05, "step": 2, "sigma": 4.0, **TORCHRAY_LR},
    ],
)
def test_batched_extremal_perturbation_matches_torchray(params):
    model = _compact(seed=2, n_classes=4)
    x, t = _images(3, 32, seed=4), torch.tensor([0, 3, 1])
    batched = saliency.compute_maps("extremal_perturbation", model, x, t, params)
    reference = saliency.compute_maps("extremal_perturbation", model, x, t, {**params, "implementation": "torchray"})
    for b, r in zip(batched, reference):
        assert r.std() > 0.01  # the masks have moved away from their uniform start
        assert np.corrcoef(b.ravel(), r.ravel())[0, 1] >= 0.999
        assert np.abs(b - r).max() <= 1e-3  # in practice ~1e-7: the same computation, batched


def test_torchray_implementation_refuses_another_learning_rate():
    model, x, t = _compact(), _images(1, 32), torch.tensor([1])
    with pytest.raises(ValueError, match="TorchRay's fixed learning_rate 0.01; got 0.1"):
        saliency.compute_maps("extremal_perturbation", model, x, t,
                              {"max_iter": 2, "implementation": "torchray"})


def test_the_default_learning_rate_reaches_the_target_area_sooner():
    """At TorchRay's 0.01 the mask shrinks from its all-ones start too slowly to reach the
    target area in the default's iterations; at the default 0.1 it does (docs/design.md)."""
    from ferattention.saliency.extremal import extremal_maps_and_areas

    model, x, t = _compact(seed=2, n_classes=4), _images(3, 32, seed=4), torch.tensor([0, 3, 1])
    _, slow, _ = extremal_maps_and_areas(model, x, t, {"areas": [0.1], **TORCHRAY_LR})
    _, fast, _ = extremal_maps_and_areas(model, x, t, {"areas": [0.1]})
    assert slow.mean() > 0.5 and fast.mean() < 0.3, (slow.mean(), fast.mean())


def test_bench_saliency_reports_agreeing_maps(capsys):
    from ferattention.bench import saliency as bench

    bench.main(["saliency", "--images", "4", "--ep-images", "2", "--max-iter", "3", "--size", "32",
                "--repeats", "1", "--device", "cpu"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["method"] for r in rows] == list(bench.SALIENCY_METHODS)
    # Every reference is independent of the method it checks: CAM by hand, the libraries as their
    # documentation uses them, TorchRay's own function.
    assert rows[0]["reference"].startswith("CAM by hand")
    keys = {"method", "images", "seconds", "reference", "reference_seconds", "speedup", "limit_seconds",
            "efficiency", "max_abs_diff", "min_pearson"}
    for r in rows:
        assert keys <= set(r)
        assert r["max_abs_diff"] < 1e-4 and r["min_pearson"] > 0.9999, r
        assert r["speedup"] == pytest.approx(r["reference_seconds"] / r["seconds"], rel=0.02, abs=0.01)
        assert r["efficiency"] == pytest.approx(r["limit_seconds"] / r["seconds"], rel=0.02, abs=0.002)


def test_target_classes_by_label_or_prediction():
    from ferattention.saliency import target_classes

    assert target_classes(["sad", "happy", "sad"], ["happy", "sad"], "label").tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match=r"\['anger'\] are not classes"):
        target_classes(["anger"], ["happy", "sad"], "label")

    class Constant(torch.nn.Module):  # always predicts class 2
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor([0.0, 1.0, 5.0]))

        def forward(self, x):
            return self.bias.expand(len(x), 3)

    images = np.zeros((4, 8, 8), np.float32)
    assert target_classes(["a"] * 4, ["a", "b", "c"], "prediction", Constant(), images).tolist() == [2] * 4


def test_max_blur_scales_with_the_image_and_blurs_rather_than_darkens(monkeypatch):
    from torchray.attribution.extremal_perturbation import Perturbation

    from ferattention import synthetic
    from ferattention.saliency import extremal

    assert extremal.scaled_max_blur(224) == 20.0  # TorchRay's value, for its 224 px images
    assert extremal.scaled_max_blur(64) == pytest.approx(20 * 64 / 224)
    img, _ = synthetic.render_face(synthetic.sample_identity(np.random.default_rng(0)), "happy", 1.0, 64)
    x = torch.as_tensor(img, dtype=torch.float32)[None, None]

    def most_perturbed(max_blur: float) -> torch.Tensor:
        return Perturbation(x, max_blur=max_blur).pyramid[0, 0]

    # The method builds its pyramid with the scaled blur.
    used = []
    original = extremal.Perturbation
    monkeypatch.setattr(extremal, "Perturbation",
                        lambda *a, **k: used.append(k["max_blur"]) or original(*a, **k))
    saliency.compute_maps("extremal_perturbation", _compact(), x, torch.tensor([0]), {"max_iter": 1})
    assert used == [pytest.approx(20 * 64 / 224)]

    def face(y: torch.Tensor) -> float:
        return float(y[24:40, 24:40].mean())

    scaled, unscaled = most_perturbed(used[0]), most_perturbed(20.0)
    # A blur of the face: about the image's brightness, in the centre and overall ...
    assert face(scaled) == pytest.approx(face(x[0, 0]), rel=0.05)
    assert float(scaled.mean()) > 0.85 * float(x.mean())
    def detail(y: torch.Tensor) -> float:  # mean |horizontal difference| over the face
        return float(y[16:48, 16:48].diff(dim=1).abs().mean())

    assert detail(scaled) < 0.5 * detail(x[0, 0])  # ... and blurred
    # ... where TorchRay's fixed 20 px with zero padding is a dark vignette at 64 px.
    assert face(unscaled) < 0.7 * face(x[0, 0]) and float(unscaled.mean()) < 0.7 * float(x.mean())


def test_equivalence_with_torchray_small_case(monkeypatch):
    from ferattention.saliency import extremal

    model = _compact(seed=2, n_classes=4)
    x, t = _images(4, 32, seed=5), torch.tensor([0, 1, 2, 3])
    params = {"areas": [0.1], "max_iter": 40, "reward": "contrastive"}
    result = extremal.torchray_equivalence(model, x, t, params)
    assert result["images"] == 4
    for side in ("torchray_noisy", "project"):
        assert -1 <= result[side]["r_p5"] <= 1 and result[side]["max_abs_diff_p95"] >= 0
        assert result[side]["r_min"] <= result[side]["r_p5"]
        assert result[side]["max_abs_diff_max"] >= result[side]["max_abs_diff_p95"]
    assert result["equal"], result  # TorchRay's generator and sort, batched: within TorchRay's own noise

    # A candidate that puts the masks elsewhere (mirrored) is not equal.
    torchray = extremal._IMPLEMENTATIONS["torchray"]
    monkeypatch.setitem(extremal._IMPLEMENTATIONS, "batched",
                        lambda *a, **k: torchray(*a, **k).flip(-1))
    result = extremal.torchray_equivalence(model, x, t, params)
    assert not result["equal"] and not result["max_abs_diff_p95_ok"], result


def test_pearson_and_max_diff_hand_computed():
    from ferattention.saliency.extremal import _pearson_and_max_diff

    a = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    b = np.array([[[0.0, 2.0], [4.0, 6.5]], [[1.0, 1.0], [1.0, 1.0]], [[2.0, 2.0], [2.0, 2.0]]])
    r, diff = _pearson_and_max_diff(a, b)
    assert r[0] == pytest.approx(np.corrcoef(a[0].ravel(), b[0].ravel())[0, 1])
    assert list(r[1:]) == [1.0, 0.0]  # equal constant maps; unequal constant maps
    assert list(diff) == [3.5, 0.0, 1.0]


def test_areas_reached_are_the_mask_means():
    from ferattention.saliency.extremal import areas_table, extremal_maps_and_areas

    model = _compact(seed=2, n_classes=4)
    x, t = _images(3, 32, seed=4), torch.tensor([0, 3, 1])
    params = {"areas": [0.1, 0.3], "max_iter": 20}
    maps, reached, areas = extremal_maps_and_areas(model, x, t, params, batch_size=2)
    method = saliency.make_method("extremal_perturbation", params)
    with saliency.base.preserved_state(model):
        masks = method.masks(model, x, t).numpy()
    np.testing.assert_allclose(maps, masks.sum(axis=1), atol=1e-6)
    np.testing.assert_allclose(reached, masks.mean(axis=(2, 3)), atol=1e-6)
    table = areas_table(["a", "b", "c"], areas, reached)
    assert list(table.columns) == ["image_id", "area_target", "area_reached"]
    assert list(table["image_id"]) == ["a", "a", "b", "b", "c", "c"]
    assert list(table["area_target"]) == [0.1, 0.3] * 3
    np.testing.assert_allclose(table["area_reached"], reached.ravel())


@pytest.mark.parametrize(("size", "n_masks", "chunk"), [(64, 6, 4), (48, 5, 2), (100, 3, 4), (224, 2, 1)])
@pytest.mark.parametrize("start", ["uniform", "random"])
def test_reusing_mask_generator_is_torchrays_bit_for_bit(size, n_masks, chunk, start):
    """Masks and parameter gradients bitwise equal to TorchRay's generator (steps 2, 3 and 7),
    from EP's uniform start (where ties decide the area sort) and from random parameters, with
    the buffers reused over calls."""
    import warnings

    from torchray.attribution.extremal_perturbation import MaskGenerator

    from ferattention.saliency.extremal import ReusingMaskGenerator, scaled_step_sigma

    step, sigma = scaled_step_sigma(size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torchray = MaskGenerator((size, size), step, sigma)
    ours = ReusingMaskGenerator(torchray, n_masks, chunk)
    gen = torch.Generator().manual_seed(size)
    for call in range(2):  # the second call reuses the first one's buffers
        shape = (n_masks, 1, *torchray.shape_in)
        params = torch.ones(shape) if start == "uniform" and call == 0 else torch.rand(shape, generator=gen)
        results = []
        for generate in (torchray.generate, ours):
            p = params.clone().requires_grad_(True)
            cropped, full = generate(p)
            up_c = torch.randn(cropped.shape, generator=torch.Generator().manual_seed(call))
            up_f = torch.randn(full.shape, generator=torch.Generator().manual_seed(call + 10))
            ((cropped * up_c).sum() + (full * up_f).sum()).backward()
            results.append((cropped.detach(), full.detach(), p.grad))
        assert results[0][1].shape == (n_masks, 1, *torchray.shape_out)
        assert results[0][2].abs().max() > 0
        for theirs, mine in zip(*results):
            assert torch.equal(theirs, mine)


def test_batched_extremal_perturbation_leaves_the_models_layout_alone():
    """EP leaves the caller's model as it was: parameters, their values and memory layout."""
    model = _compact(seed=2, n_classes=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    saliency.compute_maps("extremal_perturbation", model, _images(2, 32, seed=1), torch.tensor([0, 1]),
                          {"max_iter": 2})
    for name, value in model.state_dict().items():
        assert value.is_contiguous() and torch.equal(value, before[name]), name


def test_reusing_mask_generator_refuses_what_its_buffers_cannot_serve():
    import warnings

    from torchray.attribution.extremal_perturbation import MaskGenerator

    from ferattention.saliency.extremal import ReusingMaskGenerator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generator = ReusingMaskGenerator(MaskGenerator((32, 32), 1, 3.0), 2, 2)
    shape = (2, 1, *generator.generator.shape_in)
    with pytest.raises(ValueError, match="made for 2 masks, got 3"):
        generator(torch.ones(3, *shape[1:]))
    first = generator(torch.ones(shape, requires_grad=True))[1].sum()
    generator(torch.ones(shape, requires_grad=True))  # overwrites the first call's buffers
    with pytest.raises(RuntimeError, match="backward of an earlier call"):
        first.backward()
