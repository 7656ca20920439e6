"""Deletion and insertion curves on a toy model whose output depends only on one quadrant."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferattention import faithfulness as ff

torch.set_num_threads(1)
H = 8


class QuadrantModel(torch.nn.Module):
    """Logit of class 0 grows with the top-left quadrant's mean; class 1 is fixed at 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = 20 * x[:, 0, : H // 2, : H // 2].mean(dim=(1, 2)) - 5
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def _setup():
    image = torch.zeros(1, 1, H, H)
    image[..., : H // 2, : H // 2] = 1.0
    on = np.zeros((1, H, H), np.float32)
    on[:, : H // 2, : H // 2] = 1.0
    off = 1.0 - on  # attends everywhere but the used quadrant
    return image, on, off, torch.tensor([0])


def test_map_on_the_used_quadrant_deletes_faster_and_inserts_faster():
    image, on, off, target = _setup()
    model = QuadrantModel()
    c_on = ff.deletion_insertion(model, image, on, target, steps=8, baseline="mean")
    c_off = ff.deletion_insertion(model, image, off, target, steps=8, baseline="mean")
    for c in (c_on, c_off):
        assert c["deletion"].shape == (1, 9)
        assert c["deletion"][0, 0] == pytest.approx(torch.sigmoid(torch.tensor(15.0)).item())
        assert c["deletion"][0, -1] == pytest.approx(0.5)  # all pixels at the mean (0.25): logit 0
        assert c["insertion"][0, -1] == pytest.approx(c["deletion"][0, 0])
    # the quadrant is the first quarter of the pixels removed for `on`, the last for `off`
    assert c_on["deletion"][0, 2] == pytest.approx(0.5)
    assert c_off["deletion"][0, 6] > 0.99
    auc = {k: ff.curve_auc(v["deletion"])[0] for k, v in (("on", c_on), ("off", c_off))}
    assert auc["on"] < auc["off"] - 0.3
    assert ff.curve_auc(c_on["insertion"])[0] > ff.curve_auc(c_off["insertion"])[0] + 0.3


def test_batching_does_not_change_the_curves_and_tables_have_columns():
    image, on, off, target = _setup()
    images = torch.cat([image, image, image])
    maps = np.concatenate([on, off, on])
    targets = torch.tensor([0, 0, 1])
    model = QuadrantModel()
    whole = ff.deletion_insertion(model, images, maps, targets, steps=4, batch_size=1000)
    small = ff.deletion_insertion(model, images, maps, targets, steps=4, batch_size=3)
    for curve in ff.CURVES:
        np.testing.assert_allclose(whole[curve], small[curve])
    # class 1 is the complement of class 0
    np.testing.assert_allclose(whole["deletion"][2], 1 - whole["deletion"][0], atol=1e-6)
    auc, curves = ff.faithfulness_tables(
        model, images, ["a", "b", "c"], targets,
        {"human": {"a": on[0], "b": off[0], "c": on[0]}}, "toy", steps=4)
    assert tuple(auc.columns) == ff.FAITHFULNESS_COLUMNS and len(auc) == 6
    assert len(curves) == 2 * 5
    with pytest.raises(ValueError, match="no cam map for image_id 'c'"):
        ff.faithfulness_tables(model, images, ["a", "b", "c"], targets,
                               {"cam": {"a": on[0], "b": off[0]}}, "toy")


def test_curve_auc_and_baselines():
    assert ff.curve_auc(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])) == pytest.approx([1.0, 0.25])
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(ff.baseline_images(x, "mean")[:, :, 3, 5], x.mean(dim=(2, 3)))
    blurred = ff.baseline_images(x, "blur")
    assert blurred.shape == x.shape and blurred.std() < x.std()
    with pytest.raises(ValueError, match="'blur' or 'mean'"):
        ff.baseline_images(x, "zeros")


@pytest.mark.parametrize(("shape", "kernel", "sigma"), [
    ((3, 1, 64, 64), 49, 8.0), ((2, 3, 16, 20), 7, 1.0), ((1, 2, 33, 31), 13, 2.3)])
def test_gaussian_blur_equals_torchvision_to_the_bit(shape, kernel, sigma):
    from torchvision.transforms.functional import gaussian_blur

    x = torch.rand(shape, generator=torch.Generator().manual_seed(kernel))
    ours = ff.gaussian_blur(x, kernel, sigma)
    assert torch.equal(ours, gaussian_blur(x, [kernel, kernel], [sigma, sigma]))
    # a constant image stays constant
    assert torch.allclose(ff.gaussian_blur(torch.full(shape, 0.3), kernel, sigma), torch.tensor(0.3))


class QuadrantShareModel(torch.nn.Module):
    """Softmax probability of class 0 equals the top-left quadrant's mean (in (0, 1])."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x[:, 0, : H // 2, : H // 2].mean(dim=(1, 2)).clamp(1e-9, 1 - 1e-9)
        return torch.stack([torch.log(p), torch.log1p(-p)], dim=1)


def test_a_constant_map_deletes_pixels_in_random_order_not_raster_order():
    image, _, _, target = _setup()
    model = QuadrantShareModel()
    flat = np.zeros((1, H, H), np.float32)
    assert ff.tie_at_a_step(flat, 8).tolist() == [True]
    # Deleting c random pixels of 64 (mean baseline 0.25) removes 16c/64 quadrant pixels on
    # average, so the expected deletion curve is 1 - 0.75 * c / 64 = 1 - 0.75 k / 8 (by hand).
    curves = ff.deletion_insertion(model, image, flat, target, steps=8, baseline="mean",
                                   tie_draws=3000, seed=0)
    expected = 1 - 0.75 * np.arange(9) / 8
    np.testing.assert_allclose(curves["deletion"][0], expected, atol=0.01)
    # insertion from the mean image puts pixels back at random: 0.25 + 0.75 k / 8
    np.testing.assert_allclose(curves["insertion"][0], 0.25 + 0.75 * np.arange(9) / 8, atol=0.01)
    # the raster order (row by row from the top) would have removed the whole quadrant by k = 4
    assert curves["deletion"][0, 4] > 0.5
    # seeded: the same call gives the same curves
    again = ff.deletion_insertion(model, image, flat, target, steps=8, baseline="mean",
                                  tie_draws=3000, seed=0)
    np.testing.assert_array_equal(again["deletion"], curves["deletion"])


def test_maps_without_a_tie_at_a_step_run_once_and_are_deterministic():
    image, on, _, target = _setup()
    model = QuadrantShareModel()
    ramp = np.arange(H * H, dtype=np.float32).reshape(1, H, H)
    assert ff.tie_at_a_step(ramp, 8).tolist() == [False]
    assert ff.tie_at_a_step(on, 8).tolist() == [True]  # 16 tied ones, a cut every 8 pixels
    # 16 ones then 48 zeros: the cut at 16 pixels separates them; cuts at 8, 24, ..., 56 fall in a run
    assert ff.tie_steps(on, 8)[0].tolist() == [False, True, False, True, True, True, True, True, False]
    a = ff.deletion_insertion(model, image, ramp, target, steps=8, baseline="mean", tie_draws=1)
    b = ff.deletion_insertion(model, image, ramp, target, steps=8, baseline="mean", tie_draws=5,
                              seed=7)
    np.testing.assert_array_equal(a["deletion"], b["deletion"])
    # the ramp is highest at the bottom right: the quadrant (top left) goes last
    assert a["deletion"][0, 4] == pytest.approx(1.0)
