"""Calibration of the accuracy tests: ``python -m ferattention.bench inference [--n N] [--jobs J]``.

Simulates ``--n`` data sets shaped like the default run (16 participants x 144 images, 8
expressions, every image in 7 2AFC option pairs of which each participant draws one, one model
answering each image and option pair once) under the null (humans and model with the same fixed
intercept) and ``--n`` with the model 5 percentage points less accurate, and tests each with the
mixed model (:mod:`ferattention.mixed`) and with the exact McNemar test on the 2,304 paired trials.
The null data sets are also fitted with the naive specification ``(1 | participant) + (1 | image)``
with the model's rows in the participants' levels (``fpr_naive_mixed``, the first ``--naive``).
Prints one JSON object: the false-positive rates at alpha 0.05 (target for the mixed model:
0.03-0.07), the power at the 5-point difference, their binomial 95% intervals, the coverage of
``accuracy_tests.csv``'s 95% interval of the accuracy difference (crossed bootstrap) of each
condition's true accuracy difference (:func:`true_difference`), how often the report's answer
(:func:`ferattention.stats.accuracy_verdict`) names a winner under the null and gives the right
answer at the difference (the winner, or ``'directions differ'`` where the planted log odds
ratio and accuracy difference have opposite signs), and the values used.
``--sd-image-agent`` widens the model's own image deviations (a model right on most images and
wrong on a few, as a trained classifier is).

Generating model (logit scale): human ``b0 + u_p + v_i``, model ``b0 - delta + v_i + a_i`` with
participant SD ``sd_participant``, image SD ``sd_image`` (shared: images hard for humans are hard
for the model) and the model's own image deviation SD ``sd_image_agent``; ``b0`` gives the human
accuracy. The values (:class:`Design`) are the mixed model's estimates on the default run (humans
vs ``model:compact``: human accuracy 0.96, SDs 0.43, 0.74 and 0.73). A full-image model's
answer to an image and option pair is drawn once and reused for every participant who drew that
trial, as in the workflow. Workers run with one BLAS thread each.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .. import mixed
from ..stats import ACCURACY_VERDICTS, accuracy_verdict, crossed_bootstrap_ci

EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


@dataclass(frozen=True)
class Design:
    """A default-like 2AFC study and the random-effect SDs (logit units) of the simulation."""

    participants: int = 16
    images: int = 144
    human_accuracy: float = 0.96
    sd_participant: float = 0.43
    sd_image: float = 0.74
    sd_image_agent: float = 0.73


def marginal_accuracy(b0: float, sd: float, nodes: int = 60) -> float:
    """Mean of expit(b0 + N(0, sd^2)) by Gauss-Hermite quadrature with ``nodes`` nodes."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    return float(np.sum(w * special.expit(b0 + sd * x)) / np.sum(w))


def intercepts(design: Design, difference: float) -> tuple[float, float]:
    """Fixed intercepts (human, model) giving the design's human accuracy and a model accuracy
    ``difference`` (proportion) lower, both marginal over their random effects."""
    sd_h = np.hypot(design.sd_participant, design.sd_image)
    sd_m = np.hypot(design.sd_image, design.sd_image_agent)
    b_h = optimize.brentq(lambda b: marginal_accuracy(b, sd_h) - design.human_accuracy, -10, 15)
    if difference == 0:
        return b_h, b_h  # the null: the same fixed intercept
    target = design.human_accuracy - difference
    b_m = optimize.brentq(lambda b: marginal_accuracy(b, sd_m) - target, -10, 15)
    return b_h, b_m


def true_difference(design: Design, difference: float) -> float:
    """Human minus model accuracy, marginal over the random effects, of the generating model.
    ``difference`` for ``difference != 0``; under the null (same fixed intercept) the model's
    own image deviations make it slightly less accurate on average."""
    b_h, b_m = intercepts(design, difference)
    return (marginal_accuracy(b_h, np.hypot(design.sd_participant, design.sd_image))
            - marginal_accuracy(b_m, np.hypot(design.sd_image, design.sd_image_agent)))


def simulate(design: Design, difference: float, seed: int) -> pd.DataFrame:
    """One data set as the per-trial table (``agent, participant_id, trial_id, image_id, label,
    option_a, option_b, correct``) with agents ``human`` and ``model:sim``."""
    rng = np.random.default_rng(seed)
    b_h, b_m = intercepts(design, difference)
    n_p, n_i, n_e = design.participants, design.images, len(EXPRESSIONS)
    u = rng.normal(0, design.sd_participant, n_p)
    v = rng.normal(0, design.sd_image, n_i)
    a = rng.normal(0, design.sd_image_agent, n_i)
    label = np.arange(n_i) % n_e
    foil_of = (label[:, None] + 1 + np.arange(n_e - 1)[None, :]) % n_e  # (images, 7)
    model_correct = rng.random(foil_of.shape) < special.expit(b_m + v + a)[:, None]
    drawn = rng.integers(0, n_e - 1, size=(n_p, n_i))
    pid = np.repeat(np.arange(n_p), n_i)
    img = np.tile(np.arange(n_i), n_p)
    k = drawn.ravel()
    human_correct = rng.random(pid.size) < special.expit(b_h + u[pid] + v[img])
    trial = pd.DataFrame({
        "participant_id": [f"P{p:02d}" for p in pid], "trial_id": [f"t{j:05d}" for j in range(pid.size)],
        "image_id": [f"img{i:03d}" for i in img], "label": np.asarray(EXPRESSIONS)[label[img]],
        "option_a": np.asarray(EXPRESSIONS)[label[img]],
        "option_b": np.asarray(EXPRESSIONS)[foil_of[img, k]],
    })
    return pd.concat([trial.assign(agent="human", correct=human_correct),
                      trial.assign(agent="model:sim", correct=model_correct[img, k])],
                     ignore_index=True)


def one_data_set(args: tuple[Design, float, int, bool]) -> tuple[float, ...]:
    """p-values of one data set: mixed model, McNemar, naive mixed model (NaN unless ``naive``);
    then the mixed model's log odds ratio and its standard error; then 1.0 if the interval of
    the accuracy difference covers the true difference, else 0.0; then the accuracy difference
    (human minus model, proportion) and its interval."""
    design, difference, seed, naive = args
    trials = simulate(design, difference, seed)
    fit = mixed.fit_mixed_logit(mixed.comparison_frame(trials, "model:sim"), seed=seed)
    human = trials[trials["agent"] == "human"]
    h = human["correct"].to_numpy()
    m = trials[trials["agent"] == "model:sim"]["correct"].to_numpy()
    p_naive = np.nan
    if naive:
        frame = mixed.comparison_frame(trials, "model:sim", shared_levels=True)
        p_naive = mixed.fit_mixed_logit(frame, seed=seed).p_value
    # the interval accuracy_tests.csv reports (the rows are the same trials, in the same order)
    low, high = crossed_bootstrap_ci(h.astype(float) - m.astype(float),
                                     human["participant_id"].to_numpy(), human["image_id"].to_numpy())
    covered = float(low <= true_difference(design, difference) <= high)
    return (fit.p_value, mixed.mcnemar_p(h, m), p_naive, fit.log_odds_ratio, fit.se, covered,
            float(h.mean() - m.mean()), low, high)


def _rate(hits: int, n: int) -> dict[str, float]:
    ci = stats.binomtest(hits, n).proportion_ci(0.95, method="exact")
    return {"rate": hits / n, "ci_low": ci.low, "ci_high": ci.high}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferattention.bench inference",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="data sets per condition (default 200)")
    parser.add_argument("--difference", type=float, default=0.05,
                        help="accuracy difference for the power (proportion, default 0.05)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--naive", type=int, default=50,
                        help="null data sets also fitted with the naive specification (default 50)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all CPUs)")
    parser.add_argument("--sd-image-agent", type=float, default=Design.sd_image_agent,
                        help="the model's own image SD, logit units (default %(default)s; large: "
                             "a model right on most images and wrong on a few)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    design = Design(sd_image_agent=args.sd_image_agent)
    start = time.perf_counter()
    tasks = [(design, d, args.seed + 100_000 * j + i, j == 0 and i < args.naive)
             for j, d in enumerate((0.0, args.difference)) for i in range(args.n)]
    # One BLAS thread per worker: the fits' small dense algebra gains nothing from threads, and
    # several workers' thread pools on few cores slow each other down many times over. The
    # workers are spawned so that they read these settings when they load numpy.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(args.jobs, 1), mp_context=spawn) as pool:
        results = list(pool.map(one_data_set, tasks, chunksize=4))
    # condition, data set, (p mixed, p mcnemar, p naive, log odds ratio, se, covered,
    # accuracy difference, its interval's low and high end)
    values = np.array(results).reshape(2, args.n, 9)
    # the report's answer (stats.accuracy_verdict) on each data set, counted per verdict
    verdicts = [Counter(accuracy_verdict(v[0], v[6], args.alpha, v[3], (v[7], v[8]),
                                         (v[3] - 1.959964 * v[4], v[3] + 1.959964 * v[4]))[0]
                        for v in values[j]) for j in range(2)]
    b_h, b_m = intercepts(design, args.difference)
    b1_power, diff_power = b_h - b_m, true_difference(design, args.difference)
    right = ("directions differ" if (b1_power > 0) != (diff_power > 0)
             else "humans better" if diff_power > 0 else "model better")
    covered = values[:, :, 5].sum(axis=1).astype(int)
    hits = (values[:, :, :3] < args.alpha).sum(axis=1)
    b1, se = values[0, :, 3], values[0, :, 4]
    out = {
        "benchmark": "inference", "data_sets": args.n, "alpha": args.alpha,
        "design": asdict(design), "difference": args.difference,
        "fpr_mixed": _rate(int(hits[0, 0]), args.n), "fpr_mcnemar": _rate(int(hits[0, 1]), args.n),
        "fpr_naive_mixed": (_rate(int(hits[0, 2]), min(args.naive, args.n))
                            if args.naive > 0 else None),
        # under the null: is the SE the spread of the estimates? (ratio 1: yes; < 1: too small)
        "null_log_odds_ratio_mean": float(b1.mean()),
        "null_log_odds_ratio_median": float(np.median(b1)),
        "null_log_odds_ratio_sd": float(b1.std(ddof=1)),
        "null_se_mean": float(se.mean()), "null_se_to_sd": float(se.mean() / b1.std(ddof=1)),
        "power_mixed": _rate(int(hits[1, 0]), args.n),
        "power_mcnemar": _rate(int(hits[1, 1]), args.n),
        # the 95% interval of the accuracy difference (crossed bootstrap) around the truth
        "true_difference_null": true_difference(design, 0.0),
        "difference_ci_coverage_null": _rate(int(covered[0]), args.n),
        "difference_ci_coverage_power": _rate(int(covered[1]), args.n),
        # What the report answers. Under the null (b1 = 0) a winner is a false positive of
        # the test. At the difference the right answer depends on the planted effects: where
        # the model's own image SD is wide the model can be better on a typical image (b1 < 0)
        # and still less accurate on average, and then "directions differ" is right.
        "report_verdicts_null": {k: verdicts[0][k] for k in ACCURACY_VERDICTS},
        "report_verdicts_power": {k: verdicts[1][k] for k in ACCURACY_VERDICTS},
        "report_winner_null": _rate(verdicts[0]["humans better"] + verdicts[0]["model better"],
                                    args.n),
        "true_log_odds_ratio_power": b1_power, "true_difference_power": diff_power,
        "report_right_answer_power": right,
        "report_power": _rate(verdicts[1][right], args.n),
        "fpr_target": [0.03, 0.07],
        "fpr_mixed_in_target": bool(0.03 <= hits[0, 0] / args.n <= 0.07),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
