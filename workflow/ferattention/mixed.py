"""Humans vs each model in a logistic mixed model with crossed random effects.

Per comparison (humans vs one model agent of ``results/tables/accuracy_trials.csv``) the model is

    logit P(correct) = b0 + b1 * human + u[participant] + v[image] + (1 - human) * w[image]

with ``human`` = 1 on the humans' trials and 0 on the model's (so ``b1`` is the log odds ratio of
humans vs the model, > 0 when humans are more accurate), and independent Gaussian random intercepts

* ``u``: one per participant, on the rows whose answer depends on a participant. The humans' rows
  have it; a full-image model's rows do not (its answer to an image and option pair is the same
  whoever drew that trial); a ``@human_view`` model's rows do, in levels of their own
  (``<participant>@model``, same variance), because the model answered what that participant had
  uncovered. A model's variability does not belong to the human participants, so it is never
  given their levels: sharing them would cancel the participants' spread from the humans-vs-model
  contrast and understate its uncertainty (``python -m ferattention.bench inference`` measures it).
* ``v``: one per image, shared by humans and model (the pairing: an image hard for both).
* ``w``: one per image on the model's rows only: how the model's difficulty of an image departs
  from the humans'. An earlier version gave the humans' rows levels of their own in the same
  component (one variance for both); where the model has image-specific errors the humans lack,
  that shared variance is too small for the model and too large for the humans, the model's
  conditional intercept comes out too low, and ``b1`` was biased towards "humans better" under
  the null (``python -m ferattention.bench inference``: mean z +0.47 over 120 null data sets).

A full-image model answers each image and option pair once (:func:`comparison_frame` keeps one row
per answered pair); counting that answer once per participant who drew the trial would treat
copies as independent evidence.

In lme4 terms: ``correct ~ human + (0 + has_participant | participant) + (1 | image) +
(0 + is_model | image_agent)`` (:func:`glmer_formula`; the tests fit it with ``glmer`` as the
reference).

Fit (:func:`fit_mixed_logit`), in two steps:

1. statsmodels ``BinomialBayesMixedGLM`` with flat-ish priors (fixed effects N(0, 10²), log
   random-effect SDs N(0, 1)) fitted by variational Bayes (``fit_vb``) gives starting values.
2. The fixed effects and log SDs are set together to the maximum of the Laplace approximation
   of their marginal posterior: the random effects integrated out at their conditional mode
   (Newton's method), the priors above included (Nelder-Mead). This is ``glmer``'s objective
   (its Laplace deviance, ``nAGQ = 1``) plus the weak priors, which keep a variance component
   off the boundary of 0 where ``glmer`` reports a singular fit (as in blme; Chung et al. 2013).
   Two shortcuts were measured and rejected (``python -m ferattention.bench inference``):
   VB's own values (mean-field VB understates the variance components, and a logit's fixed
   effects move with them: SE / SD 0.87-0.90 over null data sets), and the fixed effects at the
   joint conditional mode of fixed and random effects given the SDs (the penalised-likelihood
   estimate, ``glmer``'s ``nAGQ = 0``), which is biased towards 0 for binary answers in small
   clusters (Breslow & Lin 1995). Here the model has about 6 answers per image, most of them
   correct, so its intercept was pulled down more than the humans': ``b1`` came out +0.16
   (median) under the null, and 6 of 40 null data sets were rejected, where ``glmer`` rejected 2.

Covariance: the inverse of the negative Hessian of that log marginal posterior over (fixed
effects, log SDs), by central differences, its fixed-effect block (``se``: the variance
components' uncertainty included, as lme4's ``vcov`` takes it from the Hessian of its deviance);
with the SDs held at their estimates, the inverse of the fixed-effect block alone
(``se_conditional``).

Wald tests: ``z = b1 / se``, two-sided normal p; 95% intervals ``b1 ± 1.96 se`` (odds ratio:
``exp`` of those). Calibration as measured by ``python -m ferattention.bench inference`` is in
README.md ("Statistics of accuracy").

The difference in percentage points (:func:`accuracy_tests`) is not read off the model. ``b1`` is
conditional: humans vs model on a typical image (``w = 0``). Where the model's own image
deviations ``w`` are wide, that typical image is one the model almost never fails, and any
difference computed at ``w = 0`` (an earlier version averaged ``expit(b0 + b1 + v_i) -
expit(b0 + v_i)`` over the images) is not the accuracy difference, nor need it have its sign. On
data sets with a planted accuracy difference of 5 points, that interval covered it in 27 of 40
(model SD 0.73) and 0 of 40 (SD 2.5, where its mean was -2.6 points). The difference is instead
human minus model accuracy on the same trials, with the percentile interval of the crossed
bootstrap of participants and images (:func:`ferattention.stats.crossed_bootstrap_ci`, the
intervals of ``accuracy.csv``): it covers the true difference in 97-99% of simulated data sets,
model SD 0.73 or 2.5 (the crossed bootstrap is conservative); ``python -m ferattention.bench
inference`` measures it. At SD 2.5 the test of ``b1`` rejects a true null in 0.13 of the data
sets (README, "Statistics of accuracy"), so the report names a winner only where both agree.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from . import catalogue
from .stats import STATS_COLUMNS, crossed_bootstrap_ci, holm

#: Columns of ``results/tables/accuracy_tests.csv``, in order.
TEST_COLUMNS: tuple[str, ...] = (
    "comparison", "n_human_trials", "n_model_trials", "n_participants", "n_images",
    "human_accuracy", "model_accuracy", "log_odds_ratio", "se", "z", "p_value", "p_adjusted",
    "odds_ratio", "or_ci_low", "or_ci_high", "difference_pp", "difference_ci_low",
    "difference_ci_high", "sd_participant", "sd_image", "sd_image_agent", "mcnemar_p_value",
)
#: Random intercepts, by column of :func:`comparison_frame` (a row with level "" has none).
COMPONENTS: tuple[str, ...] = ("participant", "image", "image_agent")
FE_PRIOR_SD = 10.0
VC_PRIOR_SD = 1.0
_Z95 = float(stats.norm.ppf(0.975))
_N_BOOT, _SEED = (catalogue.schema_defaults("statistics")[k] for k in ("n_boot", "seed"))


@dataclass(frozen=True)
class MixedFit:
    """One fitted comparison: ``b1`` (log odds ratio humans vs model) and its standard error
    (``se``, with the variance components' uncertainty, as lme4's default ``vcov``;
    ``se_conditional`` with them held fixed, as ``vcov(use.hessian = FALSE)``), the intercept
    ``b0`` (the model's log odds on a typical image), the random-effect SDs (logit units) and the
    row counts."""

    log_odds_ratio: float
    se: float
    se_conditional: float
    intercept: float
    sd_participant: float
    sd_image: float
    sd_image_agent: float
    n_human_trials: int
    n_model_trials: int

    @property
    def z(self) -> float:
        return self.log_odds_ratio / self.se

    @property
    def p_value(self) -> float:
        return float(2 * stats.norm.sf(abs(self.z)))


def comparison_frame(trials: pd.DataFrame, agent: str, shared_levels: bool = False) -> pd.DataFrame:
    """The rows of the mixed model of humans vs ``agent``.

    ``trials``: the long per-trial table (``agent, participant_id, image_id, option_a, option_b,
    correct``). Returns ``correct`` (0/1), ``human`` (1/0), ``participant`` (level, ``""`` where
    the row has none), ``image``, ``image_agent``: every human trial, and the agent's rows as the
    module docstring says (one per answered image and option pair for a full-image model; one per
    participant trial, in levels ``<participant>@model``, for ``@human_view``). A full-image model
    whose answers to one image and option pair differ between participants is an error.

    ``shared_levels=True`` gives the naive specification instead, ``correct ~ agent +
    (1 | participant) + (1 | image)``: the model's rows are all the participants' trials, in the
    participants' own levels, without ``image_agent`` (for the calibration benchmark only).
    """
    need = ["agent", "participant_id", "image_id", "option_a", "option_b", "correct"]
    missing = [c for c in need if c not in trials.columns]
    if missing:
        raise ValueError(f"per-trial table lacks column(s) {missing}")
    human = trials[trials["agent"] == "human"]
    model = trials[trials["agent"] == agent]
    if human.empty or model.empty:
        raise ValueError(f"per-trial table: no rows for {'human' if human.empty else agent!r}")
    rows = [pd.DataFrame({
        "correct": human["correct"].astype(int).to_numpy(), "human": 1,
        "participant": human["participant_id"].astype(str).to_numpy(),
        "image": human["image_id"].astype(str).to_numpy(),
    })]
    if shared_levels:
        return pd.concat([rows[0], pd.DataFrame({
            "correct": model["correct"].astype(int).to_numpy(), "human": 0,
            "participant": model["participant_id"].astype(str).to_numpy(),
            "image": model["image_id"].astype(str).to_numpy(),
        })], ignore_index=True)
    if agent.endswith("@human_view"):
        rows.append(pd.DataFrame({
            "correct": model["correct"].astype(int).to_numpy(), "human": 0,
            "participant": (model["participant_id"].astype(str) + "@model").to_numpy(),
            "image": model["image_id"].astype(str).to_numpy(),
        }))
    else:
        pair = [" / ".join(sorted(p)) for p in zip(model["option_a"].astype(str),
                                                    model["option_b"].astype(str))]
        answers = model.assign(pair=pair).groupby(["image_id", "pair"], sort=True)["correct"]
        varying = answers.nunique() > 1
        if varying.any():
            image, options = varying[varying].index[0]
            raise ValueError(f"per-trial table: {agent} answers image {image!r}, options {options!r} "
                             "differently for different participants; a full-image model answers "
                             "each image and option pair once")
        once = answers.first().reset_index()
        rows.append(pd.DataFrame({
            "correct": once["correct"].astype(int).to_numpy(), "human": 0, "participant": "",
            "image": once["image_id"].astype(str).to_numpy(),
        }))
    frame = pd.concat(rows, ignore_index=True)
    frame["image_agent"] = np.where(frame["human"] == 1, "", frame["image"] + "@model")
    return frame


def glmer_formula() -> str:
    """The same model in lme4 syntax, on the columns of :func:`comparison_frame` (R adds
    ``has_participant``: 1 where ``participant`` is not empty, and ``is_model = 1 - human``)."""
    return ("correct ~ human + (0 + has_participant | participant) + (1 | image) + "
            "(0 + is_model | image_agent)")


def _one_hot(levels: pd.Series, keep: np.ndarray) -> tuple[sparse.csr_matrix, list[str]]:
    codes, names = pd.factorize(levels.where(keep), sort=True)
    rows = np.flatnonzero(codes >= 0)
    matrix = sparse.csr_matrix((np.ones(rows.size), (rows, codes[rows])),
                               shape=(len(levels), len(names)))
    return matrix, [str(n) for n in names]


def _design(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix,
                                             np.ndarray, list[int]]:
    """Arrays of the model on ``frame`` (columns of :func:`comparison_frame`): answers ``y``
    (n,), fixed-effect design (n, 2: intercept, human), random-effect design (n, levels), the
    index of each level's component among those present, and the present components (indices
    into :data:`COMPONENTS`)."""
    y = frame["correct"].to_numpy(dtype=float)
    human = frame["human"].to_numpy(dtype=float)
    exog = np.column_stack([np.ones_like(human), human])
    blocks, ident = [], []
    for k, column in enumerate(COMPONENTS):
        if column not in frame.columns:
            continue
        levels = frame[column].astype(str)
        matrix, _ = _one_hot(levels, levels.to_numpy() != "")
        blocks.append(matrix)
        ident += [k] * matrix.shape[1]
    present = sorted(set(ident))  # components with at least one level
    return y, exog, sparse.hstack(blocks).tocsr(), np.searchsorted(present, ident), present


def fit_mixed_logit(frame: pd.DataFrame, seed: int = 0) -> MixedFit:
    """Fit the module's mixed model to ``frame`` (columns of :func:`comparison_frame`).

    Deterministic for a given ``seed`` (the VB start). Returns a :class:`MixedFit`.
    """
    y, exog, exog_vc, ident_arr, present = _design(frame)
    human = exog[:, 1]
    model = BinomialBayesMixedGLM(y, exog, exog_vc, ident_arr, vcp_p=VC_PRIOR_SD, fe_p=FE_PRIOR_SD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vb = model.fit_vb(fit_method="L-BFGS-B", rng=np.random.default_rng(seed))
    fe, log_sd, vc = model._unpack(vb.params)  # noqa: SLF001 - the library's own layout
    n_fe = len(fe)

    # Fixed effects and log SDs: the maximum of the Laplace approximation of their marginal
    # posterior, the random effects integrated out (what glmer maximises, nAGQ = 1), from the VB
    # values. Neither VB's nor the joint mode's fixed effects will do (module docstring).
    laplace = _Laplace(exog, exog_vc, y, ident_arr, n_fe)
    laplace.u = np.asarray(vc, dtype=float).copy()  # VB's random effects: Newton's first start
    best = optimize.minimize(lambda x: -laplace(x), np.concatenate([fe, log_sd]),
                             method="Nelder-Mead",
                             options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 4000,
                                      "adaptive": True})
    params = best.x
    # Covariance: the inverse curvature of that log marginal posterior over (fixed effects, log
    # SDs), the fixed-effect block (as lme4's vcov takes it from its deviance's Hessian); with
    # the SDs held fixed, the inverse of the fixed-effect block alone (se_conditional).
    curvature = -_hessian(laplace, params)  # leaves laplace.u at the conditional mode at params
    cov = _inverse_positive(curvature)
    cov_conditional = _inverse_positive(curvature[:n_fe, :n_fe])
    sds = dict(zip(present, np.exp(params[n_fe:])))
    return MixedFit(
        log_odds_ratio=float(params[1]), se=float(np.sqrt(cov[1, 1])),
        se_conditional=float(np.sqrt(cov_conditional[1, 1])), intercept=float(params[0]),
        sd_participant=float(sds.get(0, np.nan)), sd_image=float(sds[1]),
        sd_image_agent=float(sds.get(2, np.nan)),
        n_human_trials=int(human.sum()), n_model_trials=int((human == 0).sum()),
    )


class _Laplace:
    """The Laplace approximation of the log marginal posterior of (fixed effects, log SDs), the
    random effects integrated out at their conditional mode, priors included, up to a constant.

    Called with ``params = (fixed effects, log SDs)``; keeps the last conditional mode of the
    random effects (``u``) as the start of the next call's Newton iterations.
    """

    def __init__(self, exog: np.ndarray, exog_vc: sparse.csr_matrix, y: np.ndarray,
                 ident: np.ndarray, n_fe: int) -> None:
        self.exog, self.z, self.y, self.ident, self.n_fe = exog, exog_vc, y, ident, n_fe
        self.u = np.zeros(exog_vc.shape[1])

    def __call__(self, params: np.ndarray) -> float:
        beta, log_sd = params[:self.n_fe], params[self.n_fe:]
        precision = np.exp(-2 * log_sd)[self.ident]
        offset = self.exog @ beta

        def log_joint(u: np.ndarray) -> float:  # concave in u: Newton with halving converges
            eta = offset + self.z @ u
            return float(np.sum(self.y * eta - np.logaddexp(0, eta))
                         - 0.5 * np.sum(precision * u ** 2))

        u = self.u.copy()
        value, converged = log_joint(u), False
        for _ in range(100):
            mu = special.expit(offset + self.z @ u)
            info = _information(self.z, mu, precision)
            full = step = np.linalg.solve(info, self.z.T @ (self.y - mu) - precision * u)
            # Step halving: where the model is right on nearly every trial (near separation) a
            # full step from a far start overshoots, and undamped Newton then never converges.
            for _ in range(40):
                new = log_joint(u + step)
                if new >= value - 1e-12 * abs(value):
                    break
                step = step / 2
            else:  # no step along Newton's direction ascends: as far as floating point goes
                break
            u, value = u + step, new  # value stays log_joint(u)
            if np.max(np.abs(full)) < 1e-10:
                converged = True
                break
        if not (np.isfinite(value) and np.all(np.isfinite(u))):
            return -np.inf
        if converged:  # a mode not reached is no start for the next call
            self.u = u
        info = _information(self.z, special.expit(offset + self.z @ u), precision)
        return float(value
                     - np.sum(log_sd[self.ident]) - 0.5 * np.linalg.slogdet(info)[1]
                     - 0.5 * np.sum(np.square(beta)) / FE_PRIOR_SD ** 2
                     - 0.5 * np.sum(np.square(log_sd)) / VC_PRIOR_SD ** 2)


def _information(z: sparse.csr_matrix, mu: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Negative Hessian of the log posterior over the random effects, dense: Z'WZ + prior."""
    info = (z.T @ z.multiply((mu * (1 - mu))[:, None])).toarray()
    return info + np.diag(precision)


def _hessian(f: _Laplace, x: np.ndarray, step: float = 0.02) -> np.ndarray:
    """Hessian of ``f`` at ``x`` by central differences (each call warm-starts from the last)."""
    k = len(x)
    basis = np.eye(k) * step
    f0 = f(x)
    hess = np.empty((k, k))
    for j in range(k):
        hess[j, j] = (f(x + basis[j]) - 2 * f0 + f(x - basis[j])) / step ** 2
        for m in range(j):
            hess[j, m] = hess[m, j] = (
                f(x + basis[j] + basis[m]) - f(x + basis[j] - basis[m])
                - f(x - basis[j] + basis[m]) + f(x - basis[j] - basis[m])) / (4 * step ** 2)
    f(x)  # leave the conditional mode at x
    return hess


def _inverse_positive(curvature: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric curvature matrix, eigenvalues floored at the weakest prior
    precision (finite differences can leave a flat direction slightly negative)."""
    values, vectors = np.linalg.eigh((curvature + curvature.T) / 2)
    values = np.maximum(values, min(FE_PRIOR_SD ** -2, VC_PRIOR_SD ** -2))
    return (vectors / values) @ vectors.T


def mcnemar_p(human: np.ndarray, model: np.ndarray) -> float:
    """Exact McNemar p-value (statsmodels) of paired trial outcomes (booleans, same trials)."""
    human, model = np.asarray(human, bool), np.asarray(model, bool)
    table = [[np.sum(human & model), np.sum(human & ~model)],
             [np.sum(~human & model), np.sum(~human & ~model)]]
    return float(mcnemar(table, exact=True).pvalue)


def accuracy_tests(trials: pd.DataFrame, seed: int = _SEED, n_boot: int = _N_BOOT) -> pd.DataFrame:
    """Humans vs every model agent of the per-trial table: the table ``accuracy_tests.csv``.

    One row per agent (``comparison = "human vs model:<name>"``, table order) with the mixed
    model's log odds ratio (humans vs model), its SE, z, p, Holm-adjusted p over the comparisons,
    odds ratio with its 95% interval, the random-effect SDs, raw accuracies, the accuracy
    difference (percentage points, human minus model, on the trials both answered) with the
    95% interval of the crossed bootstrap (``n_boot`` draws, ``seed``; module docstring), and the
    exact McNemar p on the paired trials (secondary: it treats every trial as independent).
    ``seed`` also starts the mixed model's fit.
    """
    agents = [a for a in pd.unique(trials["agent"]) if str(a).startswith("model:")]
    human = trials[trials["agent"] == "human"]
    keys = ["participant_id", "trial_id"]
    rows = []
    for agent in agents:
        fit = fit_mixed_logit(comparison_frame(trials, agent), seed=seed)
        model = trials[trials["agent"] == agent]
        paired = human[keys + ["image_id", "correct"]].merge(
            model[keys + ["correct"]], on=keys, suffixes=("_h", "_m"), validate="one_to_one")
        # The same participant and image draws for both agents: the CI of the paired difference.
        per_trial = (paired["correct_h"].astype(float) - paired["correct_m"].astype(float)).to_numpy()
        low, high = crossed_bootstrap_ci(per_trial, paired["participant_id"].to_numpy(),
                                         paired["image_id"].to_numpy(), n_boot, seed)
        row = {"comparison": f"human vs {agent}", **asdict(fit), "z": fit.z, "p_value": fit.p_value,
               "n_participants": human["participant_id"].nunique(),
               "n_images": human["image_id"].nunique(),
               "human_accuracy": float(human["correct"].astype(bool).mean()),
               "model_accuracy": float(model["correct"].astype(bool).mean()),
               "difference_pp": 100 * float(per_trial.mean()),
               "difference_ci_low": 100 * low, "difference_ci_high": 100 * high,
               "odds_ratio": float(np.exp(fit.log_odds_ratio)),
               "or_ci_low": float(np.exp(fit.log_odds_ratio - _Z95 * fit.se)),
               "or_ci_high": float(np.exp(fit.log_odds_ratio + _Z95 * fit.se)),
               "mcnemar_p_value": mcnemar_p(paired["correct_h"].astype(bool),
                                            paired["correct_m"].astype(bool))}
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(TEST_COLUMNS))
    table["p_adjusted"] = holm(table["p_value"].to_numpy()) if len(table) else []
    return table


def stats_rows(tests: pd.DataFrame) -> pd.DataFrame:
    """The mixed-model rows of ``stats.csv`` (columns ``STATS_COLUMNS``): test ``mixed_logit``,
    statistic = Wald z, effect size = log odds ratio (humans vs model), n = rows fitted."""
    out = pd.DataFrame({
        "test": "mixed_logit", "comparison": tests["comparison"], "statistic": tests["z"],
        "p_value": tests["p_value"], "p_adjusted": tests["p_adjusted"],
        "effect_size": tests["log_odds_ratio"],
        "n": tests["n_human_trials"] + tests["n_model_trials"],
    })
    return out[list(STATS_COLUMNS)]
