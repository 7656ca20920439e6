"""Benchmark of the synthetic face generator: ``python -m ferattention.bench faces [options]``.

Times :func:`ferattention.synthetic.generate_faces` (images and region masks, as the workflow's
``prepare_dataset`` calls it) on ``--images`` faces of ``--size`` pixels, and compares the time
with its target: 10,000 faces of 64 x 64 with masks in 60 s on 2 cores (the target
scales linearly with the number of images and with the pixels per image).

Prints one JSON object on one line with keys ``images, size, jobs, seconds, images_per_second,
target_seconds, ratio`` where ``ratio = target_seconds / seconds`` (> 1: faster than the
target). The time is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from ..labels import EXPRESSIONS
from ..synthetic import generate_faces

#: Seconds allowed for 10,000 faces of 64 x 64 pixels.
TARGET_SECONDS = 60.0
TARGET_IMAGES = 10_000
TARGET_SIZE = 64


def target_seconds(images: int, size: int) -> float:
    """The target time for ``images`` faces of ``size`` x ``size`` pixels (linear in both)."""
    return TARGET_SECONDS * images / TARGET_IMAGES * (size / TARGET_SIZE) ** 2


def bench_faces(images: int = TARGET_IMAGES, size: int = TARGET_SIZE, jobs: int = 2,
                repeats: int = 1, seed: int = 0) -> dict[str, float | int]:
    """Generate about ``images`` faces (all 8 expressions, 5 per expression and identity, so
    rounded up to a multiple of 40) and time it."""
    expressions = list(EXPRESSIONS)
    per_expression = 5
    per_identity = len(expressions) * per_expression
    identities = -(-images // per_identity)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        frame, faces, masks = generate_faces(identities, expressions, per_expression, size,
                                             seed=seed, n_jobs=jobs)
        best = min(best, time.perf_counter() - start)
    images = len(frame)
    assert faces.shape == (images, size, size) and masks.shape == (images, 4, size, size)
    target = target_seconds(images, size)
    return {"images": images, "size": size, "jobs": jobs, "seconds": round(best, 3),
            "images_per_second": round(images / best, 1), "target_seconds": round(target, 3),
            "ratio": round(target / best, 3)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferattention.bench faces", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=TARGET_IMAGES, help="faces to generate")
    parser.add_argument("--size", type=int, default=TARGET_SIZE, help="image side in pixels")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (the target: 2 cores)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(bench_faces(args.images, args.size, args.jobs, args.repeats, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
