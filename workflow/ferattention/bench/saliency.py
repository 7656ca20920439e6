"""Benchmarks: ``python -m ferattention.bench {saliency,ep-equivalence,throughput,faces,train,dag,workflow,inference} [options]``.

Each prints one JSON object per line with the measured figures and their ratio to the target:

- ``saliency``: this module, below;
- ``faces``: synthetic face generation rate (:mod:`ferattention.bench.faces`);
- ``train``: training the default model on the default set (:mod:`ferattention.bench.train`);
- ``dag``: Snakemake DAG build time for 1k-20k images (:mod:`ferattention.bench.dag`);
- ``workflow``: the whole default run, time and peak memory (:mod:`ferattention.bench.workflow`);
- ``inference``: calibration (false-positive rate, power) of the accuracy tests
  (:mod:`ferattention.bench.inference`).
- ``throughput``: EP saliency jobs alone and two side by side under ``--cores 8``, images per
  second (:mod:`ferattention.bench.throughput`);
- ``ep-equivalence``: the project's Extremal Perturbation against TorchRay on faces of a trained
  model, judged by TorchRay's own reproducibility (input moved by 1e-6), with the verdict
  (:func:`ferattention.saliency.extremal.torchray_equivalence`). Needs a trained model
  and prepared data (default: ``results/`` of a finished run in the current directory).

``saliency`` times each method as the workflow runs it (one call on a batch) against the
straightforward use of its library (one image at a time), checks that both give the same maps, and
compares the time with a floor: the bare model passes the method cannot avoid on that batch

- ``cam``: one forward pass;
- ``gradcam``, ``gradcam_pp``: one forward and one backward pass (gradients of the input);
- ``extremal_perturbation``: ``max_iter`` forward + backward passes on the ``N * len(areas)``
  perturbed images (the mask generator and perturbation are not counted: they are the method's
  own work, so an efficiency of 1 is out of reach).

One JSON object per method is printed per line, with keys ``method, images, seconds, reference,
reference_seconds, speedup, limit_seconds, efficiency, max_abs_diff, min_pearson`` (plus
``device``). ``speedup = reference_seconds / seconds``, ``efficiency = limit_seconds / seconds``;
``max_abs_diff`` and ``min_pearson`` compare the maps with the reference's, per image.
Timings are the best of ``--repeats`` runs (the first run also warms up).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from .. import models, saliency
from ..models import build_model
from ..saliency.base import preserved_state
from ..saliency.extremal import TORCHRAY_LEARNING_RATE

REPO = Path(__file__).resolve().parents[3]
SALIENCY_METHODS = ("cam", "gradcam", "gradcam_pp", "extremal_perturbation")


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls of ``fn`` (after one untimed warm-up) and its result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        seconds, result = _timed_once(fn, device)
        best = min(best, seconds)
    return best, result


def _agreement(maps: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Max absolute difference and smallest per-image Pearson r (identical constant maps: r = 1)."""
    rs = []
    for a, b in zip(maps.reshape(len(maps), -1), reference.reshape(len(reference), -1)):
        if a.std() == 0 or b.std() == 0:
            rs.append(1.0 if np.allclose(a, b) else 0.0)
        else:
            rs.append(float(np.corrcoef(a, b)[0, 1]))
    return float(np.abs(maps - reference).max()), min(rs)


def _library_cam_per_image(cam_class: type, model: nn.Module, images: torch.Tensor,
                           targets: torch.Tensor) -> np.ndarray:
    """pytorch-grad-cam as its README uses it, one image per call."""
    cam = cam_class(model=model, target_layers=[model.target_layer])
    try:
        maps = [cam(input_tensor=x[None], targets=[ClassifierOutputTarget(int(t))])[0]
                for x, t in zip(images, targets)]
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
    return np.stack(maps)


def _cam_by_hand(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """CAM from its definition (Zhou et al. 2016), one image at a time, independent of
    :mod:`ferattention.saliency`: the target row of the linear layer's weights times the last
    feature maps, summed over channels, bilinearly upsampled (half-pixel centres) to the input.

    ``images`` ``(N, 1, H, W)``, ``targets`` ``(N,)``; returns float32 ``(N, H, W)``.
    """
    maps = []
    with torch.no_grad():
        for x, t in zip(images, targets):
            feats = model.features(model.normalize(x[None]))[0]  # (C, h, w)
            low = (model.fc.weight[int(t)][:, None, None] * feats).sum(dim=0)  # (h, w)
            maps.append(torch.nn.functional.interpolate(
                low[None, None], size=images.shape[2:], mode="bilinear", align_corners=False
            )[0, 0].cpu().numpy())
    return np.stack(maps).astype(np.float32)


def _model_passes(model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
                  n_passes: int, backward: bool) -> None:
    """``n_passes`` bare forward (+ backward to the input) passes of ``model`` on ``images``."""
    with preserved_state(model):
        rows = torch.arange(len(images), device=images.device)
        for _ in range(n_passes):
            if backward:
                x = images.detach().requires_grad_(True)
                model(x)[rows, targets].sum().backward()
            else:
                with torch.no_grad():
                    model(images)


def _reference_and_limit(
    method: str, model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
    params: dict[str, Any],
) -> tuple[str, Callable[[], Any], Callable[[], Any]]:
    """The reference's name, the reference run and the bare-model-passes run for ``method``."""
    if method == "cam":
        def reference() -> np.ndarray:
            return _cam_by_hand(model, images, targets)

        def limit() -> None:
            _model_passes(model, images, targets, 1, backward=False)

        return "CAM by hand (fc weights x last feature maps), one image per call", reference, limit
    if method in ("gradcam", "gradcam_pp"):
        cam_class = GradCAM if method == "gradcam" else GradCAMPlusPlus

        def reference() -> np.ndarray:
            return _library_cam_per_image(cam_class, model, images, targets)

        def limit() -> None:
            _model_passes(model, images, targets, 1, backward=True)

        return f"pytorch_grad_cam.{cam_class.__name__}, one image per call", reference, limit
    if method == "extremal_perturbation":
        n_areas = len(params["areas"])
        perturbed = torch.rand(len(images) * n_areas, *images.shape[1:], device=images.device)
        perturbed_targets = targets.repeat_interleave(n_areas)

        def reference() -> np.ndarray:
            return saliency.compute_maps(method, model, images, targets,
                                         {**params, "implementation": "torchray"}, batch_size=len(images))

        def limit() -> None:
            _model_passes(model, perturbed, perturbed_targets, params["max_iter"], backward=True)

        return "torchray extremal_perturbation, one image per call", reference, limit
    raise ValueError(f"no benchmark for method {method!r}; choose from {SALIENCY_METHODS}")


def bench_saliency(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the saliency benchmark; print and return one result dict per method (module docstring)."""
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    model = build_model(args.arch, args.classes, seed=args.seed).to(device).eval()
    results = []
    for method in args.methods:
        is_ep = method == "extremal_perturbation"
        n = args.ep_images if is_ep else args.images
        gen = torch.Generator().manual_seed(args.seed)  # same images whichever methods run
        images = torch.rand(n, 1, args.size, args.size, generator=gen).to(device)
        targets = torch.randint(args.classes, (n,), generator=gen).to(device)
        params: dict[str, Any] = {}
        if is_ep:
            # TorchRay's learning rate: the speed of the same computation as its loop
            params = {"areas": args.areas, "max_iter": args.max_iter, "learning_rate": TORCHRAY_LEARNING_RATE}
            # EP runs are long: timed once each, after a short warm-up.
            saliency.compute_maps(method, model, images[:2], targets[:2], {**params, "max_iter": 2})

        def timer(fn: Callable[[], Any]) -> tuple[float, Any]:
            return _timed_once(fn, device) if is_ep else _timed(fn, device, args.repeats)

        seconds, maps = timer(
            lambda: saliency.compute_maps(method, model, images, targets, params, batch_size=n)
        )
        reference, reference_fn, limit_fn = _reference_and_limit(method, model, images, targets, params)
        ref_seconds, ref_maps = timer(reference_fn)
        limit_seconds, _ = timer(limit_fn)
        max_abs_diff, min_pearson = _agreement(maps, np.asarray(ref_maps, dtype=np.float32))
        results.append({
            "method": method,
            "images": n,
            "seconds": round(seconds, 6),
            "reference": reference,
            "reference_seconds": round(ref_seconds, 6),
            "speedup": round(ref_seconds / seconds, 3),
            "limit_seconds": round(limit_seconds, 6),
            "efficiency": round(limit_seconds / seconds, 3),
            "max_abs_diff": max_abs_diff,
            "min_pearson": round(min_pearson, 6),
            "device": str(device),
        })
        print(json.dumps(results[-1]), flush=True)
    return results


def _timed_once(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Wall time of a single call of ``fn`` (for runs long enough that one is representative)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


#: Benchmarks kept in modules of their own (``ferattention.bench.<name>``, each with ``main(argv)``).
OTHER_BENCHMARKS = ("faces", "train", "dag", "workflow", "inference", "calibration", "throughput")


def bench_ep_equivalence(args: argparse.Namespace) -> dict[str, Any]:
    """Print and return :func:`torchray_equivalence` on the first ``--images`` test faces."""
    import yaml
    from snakemake.utils import validate

    from .. import datasets
    from ..saliency.extremal import torchray_equivalence

    model, meta = models.load_checkpoint(args.model, "cpu")
    frame, images = datasets.read_prepared(args.manifest, split="test")
    frame, images = frame.iloc[: args.images], images[: args.images]
    with open(args.configfile) as f:
        config = yaml.safe_load(f)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))  # fills the defaults
    targets = saliency.target_classes(frame["label"], meta["classes"], config["saliency"]["target"],
                                      model, images)
    params = dict(config["saliency"].get("extremal_perturbation", {}))
    start = time.perf_counter()
    result = torchray_equivalence(model, torch.as_tensor(images).unsqueeze(1), targets, params)
    result = {"benchmark": "ep-equivalence", "params": params, **result,
              "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(result), flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OTHER_BENCHMARKS:
        module = importlib.import_module(f".{argv[0]}", __package__)
        return module.main(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="python -m ferattention.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark", required=True)
    for name in OTHER_BENCHMARKS:
        sub.add_parser(name, help=f"see python -m ferattention.bench {name} --help")
    sal = sub.add_parser("saliency", help="saliency methods vs their libraries' per-image use")
    sal.add_argument("--methods", nargs="+", default=list(SALIENCY_METHODS), choices=SALIENCY_METHODS)
    sal.add_argument("--images", type=int, default=128, help="images for cam/gradcam (default 128)")
    sal.add_argument("--ep-images", type=int, default=16, help="images for EP (default 16)")
    sal.add_argument("--max-iter", type=int, default=100, help="EP iterations (default 100)")
    sal.add_argument("--areas", type=float, nargs="+", default=[0.05, 0.1, 0.2], help="EP areas")
    sal.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    sal.add_argument("--arch", default="compact_cnn")
    sal.add_argument("--classes", type=int, default=8)
    sal.add_argument("--seed", type=int, default=0)
    sal.add_argument("--repeats", type=int, default=3, help="timed runs, best kept (cam/gradcam)")
    sal.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    sal.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:k]")
    eq = sub.add_parser("ep-equivalence", help="EP against TorchRay on a trained model's faces")
    eq.add_argument("--model", default="results/models/compact/model.pt")
    eq.add_argument("--manifest", default="results/data/manifest.csv")
    eq.add_argument("--configfile", default=str(REPO / "config.yaml"),
                    help="its saliency.target and saliency.extremal_perturbation are used")
    eq.add_argument("--images", type=int, default=32, help="test faces (default 32)")
    eq.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.benchmark == "ep-equivalence":
        if args.threads:
            torch.set_num_threads(args.threads)
        bench_ep_equivalence(args)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    bench_saliency(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
