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

Fit (:func:`fit_mixed_logit`), in three steps:

1. statsmodels ``BinomialBayesMixedGLM`` with flat-ish priors (fixed effects N(0, 10²), log
   random-effect SDs N(0, 1)) fitted by variational Bayes (``fit_vb``) gives starting values.
2. The log SDs are then set to the maximum of their Laplace-approximated marginal posterior (fixed
   and random effects integrated out by the Laplace approximation at their conditional mode, the
   priors above included; Nelder-Mead), as ``glmer`` maximises its Laplace likelihood. Mean-field
   VB understates the variance components, and in a logistic model the fixed effects move with
   them (a conditional intercept lies further from 0 the larger the random effects), so the VB
   values biased ``b1`` and its spread exceeded its SE (measured: SE / SD 0.87-0.90).
3. Estimates: the conditional mode of fixed and random effects at those SDs (Newton's method).
   Covariance: the inverse negative Hessian of the log posterior over fixed and random effects
   there (``se_conditional``, what ``glmer``'s ``vcov`` reports), plus ``G V G'`` for the
   variance components' own uncertainty (delta method: ``G`` the change of ``(b0, b1)`` with
   the log SDs, ``V`` the inverse curvature of their Laplace marginal posterior; both by central
   differences) (``se``).

Wald tests: ``z = b1 / se``, two-sided normal p; 95% intervals ``b1 ± 1.96 se`` (odds ratio:
``exp`` of those). The difference in percentage points is the mean over the images of
``expit(b0 + b1 + v_i) - expit(b0 + v_i)`` (typical participant, image effects at their
estimates), with a delta-method interval from the same covariance. Calibration as measured by
``python -m ferattention.bench inference`` is in README.md ("Statistics of accuracy").
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

from .stats import STATS_COLUMNS, holm

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


@dataclass(frozen=True)
class MixedFit:
    """One fitted comparison: ``b1`` (log odds ratio humans vs model) and its standard error
    (``se``, with the variance components' uncertainty; ``se_conditional`` without it, as
    ``glmer`` reports it), the intercept ``b0`` (model's log odds at typical image), random-effect SDs (logit units), the
    difference in percentage points with its 95% interval, and the row counts."""

    log_odds_ratio: float
    se: float
    se_conditional: float
    intercept: float
    sd_participant: float
    sd_image: float
    sd_image_agent: float
    difference_pp: float
    difference_ci_low: float
    difference_ci_high: float
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


def fit_mixed_logit(frame: pd.DataFrame, seed: int = 0) -> MixedFit:
    """Fit the module's mixed model to ``frame`` (columns of :func:`comparison_frame`).

    Deterministic for a given ``seed`` (the VB start). Returns a :class:`MixedFit`.
    """
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
    ident_arr = np.searchsorted(present, ident)
    exog_vc = sparse.hstack(blocks).tocsr()
    model = BinomialBayesMixedGLM(y, exog, exog_vc, ident_arr, vcp_p=VC_PRIOR_SD, fe_p=FE_PRIOR_SD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vb = model.fit_vb(fit_method="L-BFGS-B", rng=np.random.default_rng(seed))
    fe, log_sd, vc = model._unpack(vb.params)  # noqa: SLF001 - the library's own layout
    n_fe = len(fe)

    design = sparse.hstack([sparse.csr_matrix(exog), exog_vc]).tocsr()
    # Variance components: the maximum of their Laplace marginal posterior, from the VB values
    # (VB understates them, and the logit's fixed effects move with them: module docstring).
    log_sd, theta = _laplace_variances(design, y, np.concatenate([fe, vc]), n_fe, log_sd, ident_arr)
    cov = np.linalg.inv(_information(design, theta, _precision(n_fe, log_sd, ident_arr)))
    # The fixed effects move with the variance components (the logit's conditional intercepts
    # depend on them); add that uncertainty by the delta method (module docstring).
    cov_fe = cov[:2, :2] + _variance_component_term(design, y, theta, n_fe, log_sd, ident_arr)
    b0, b1 = theta[0], theta[1]
    image_cols = np.flatnonzero(np.asarray(ident) == COMPONENTS.index("image"))
    v = theta[n_fe + image_cols]
    p_h, p_m = special.expit(b0 + b1 + v), special.expit(b0 + v)
    diff = float(np.mean(p_h - p_m))
    grad = np.array([np.mean(p_h * (1 - p_h) - p_m * (1 - p_m)), np.mean(p_h * (1 - p_h))])
    diff_se = float(np.sqrt(grad @ cov_fe @ grad))
    sds = dict(zip(present, np.exp(log_sd)))
    return MixedFit(
        log_odds_ratio=float(b1), se=float(np.sqrt(cov_fe[1, 1])),
        se_conditional=float(np.sqrt(cov[1, 1])), intercept=float(b0),
        sd_participant=float(sds.get(0, np.nan)), sd_image=float(sds[1]),
        sd_image_agent=float(sds.get(2, np.nan)), difference_pp=100 * diff,
        difference_ci_low=100 * (diff - _Z95 * diff_se),
        difference_ci_high=100 * (diff + _Z95 * diff_se),
        n_human_trials=int(human.sum()), n_model_trials=int((human == 0).sum()),
    )


def _precision(n_fe: int, log_sd: np.ndarray, ident: np.ndarray) -> np.ndarray:
    """Prior precisions of (fixed effects, random effects) for log random-effect SDs ``log_sd``."""
    random = np.exp(-2 * np.asarray(log_sd))[ident]
    return np.concatenate([np.full(n_fe, FE_PRIOR_SD ** -2), random])


def _information(design: sparse.csr_matrix, theta: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Negative Hessian of the log posterior over (fixed, random effects) at ``theta``, dense."""
    mu = special.expit(design @ theta)
    info = (design.T @ design.multiply((mu * (1 - mu))[:, None])).toarray()
    return info + np.diag(precision)


def _laplace(design: sparse.csr_matrix, y: np.ndarray, start: np.ndarray, n_fe: int,
             log_sd: np.ndarray, ident: np.ndarray) -> tuple[np.ndarray, float]:
    """Conditional mode of (fixed, random effects) given the log SDs, by Newton's method from
    ``start``, and the Laplace approximation of the log marginal posterior of the log SDs
    (their N(0, VC_PRIOR_SD²) prior included), up to a constant."""
    precision = _precision(n_fe, log_sd, ident)
    theta = start.copy()
    for _ in range(50):
        mu = special.expit(design @ theta)
        info = _information(design, theta, precision)
        step = np.linalg.solve(info, design.T @ (y - mu) - precision * theta)
        theta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    eta = design @ theta
    log_post = (np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * np.sum(precision * theta ** 2)
                - np.sum(np.asarray(log_sd)[ident])
                - 0.5 * np.sum(np.square(log_sd)) / VC_PRIOR_SD ** 2
                - 0.5 * np.linalg.slogdet(_information(design, theta, precision))[1])
    return theta, float(log_post)


def _laplace_variances(design: sparse.csr_matrix, y: np.ndarray, start: np.ndarray, n_fe: int,
                       log_sd: np.ndarray, ident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log SDs maximising :func:`_laplace` (Nelder-Mead from ``log_sd``) and the conditional mode
    of (fixed, random effects) there."""
    last = {"mode": _laplace(design, y, start, n_fe, log_sd, ident)[0]}

    def objective(x: np.ndarray) -> float:
        mode, value = _laplace(design, y, last["mode"], n_fe, x, ident)
        last["mode"] = mode
        return -value

    best = optimize.minimize(objective, np.asarray(log_sd, dtype=float), method="Nelder-Mead",
                             options={"xatol": 1e-3, "fatol": 1e-5, "maxiter": 400})
    mode, _ = _laplace(design, y, last["mode"], n_fe, best.x, ident)
    return best.x, mode


def _variance_component_term(design: sparse.csr_matrix, y: np.ndarray, theta: np.ndarray,
                             n_fe: int, log_sd: np.ndarray, ident: np.ndarray,
                             step: float = 0.1) -> np.ndarray:
    """``G V G'`` (2, 2): how far (b0, b1) move with the log SDs (``G``, central differences of
    the conditional mode) times the log SDs' covariance ``V`` (inverse curvature of their Laplace
    log marginal posterior, by finite differences)."""
    k = len(log_sd)
    basis = np.eye(k) * step
    mode0, f0 = _laplace(design, y, theta, n_fe, log_sd, ident)

    def at(shift: np.ndarray) -> tuple[np.ndarray, float]:
        return _laplace(design, y, mode0, n_fe, log_sd + shift, ident)

    plus = [at(basis[j]) for j in range(k)]
    minus = [at(-basis[j]) for j in range(k)]
    gradient = np.column_stack([(plus[j][0][:2] - minus[j][0][:2]) / (2 * step) for j in range(k)])
    curvature = np.empty((k, k))
    for j in range(k):
        curvature[j, j] = (plus[j][1] - 2 * f0 + minus[j][1]) / step ** 2
        for m in range(j):
            cross = (at(basis[j] + basis[m])[1] - at(basis[j] - basis[m])[1]
                     - at(basis[m] - basis[j])[1] + at(-basis[j] - basis[m])[1]) / (4 * step ** 2)
            curvature[j, m] = curvature[m, j] = cross
    # the prior makes the curvature at least 1 / VC_PRIOR_SD² away from degenerate fits; clip
    # what finite differences leave below that
    values, vectors = np.linalg.eigh(-curvature)
    values = np.maximum(values, VC_PRIOR_SD ** -2)
    cov_log_sd = (vectors / values) @ vectors.T
    return gradient @ cov_log_sd @ gradient.T


def mcnemar_p(human: np.ndarray, model: np.ndarray) -> float:
    """Exact McNemar p-value (statsmodels) of paired trial outcomes (booleans, same trials)."""
    human, model = np.asarray(human, bool), np.asarray(model, bool)
    table = [[np.sum(human & model), np.sum(human & ~model)],
             [np.sum(~human & model), np.sum(~human & ~model)]]
    return float(mcnemar(table, exact=True).pvalue)


def accuracy_tests(trials: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Humans vs every model agent of the per-trial table: the table ``accuracy_tests.csv``.

    One row per agent (``comparison = "human vs model:<name>"``, table order) with the mixed
    model's log odds ratio (humans vs model), its SE, z, p, Holm-adjusted p over the comparisons,
    odds ratio and difference (percentage points, human minus model) with 95% intervals, the
    random-effect SDs, raw accuracies, and the exact McNemar p on the paired trials (secondary:
    it treats every trial as independent).
    """
    agents = [a for a in pd.unique(trials["agent"]) if str(a).startswith("model:")]
    human = trials[trials["agent"] == "human"]
    keys = ["participant_id", "trial_id"]
    rows = []
    for agent in agents:
        fit = fit_mixed_logit(comparison_frame(trials, agent), seed=seed)
        model = trials[trials["agent"] == agent]
        paired = human[keys + ["correct"]].merge(model[keys + ["correct"]], on=keys,
                                                 suffixes=("_h", "_m"), validate="one_to_one")
        row = {"comparison": f"human vs {agent}", **asdict(fit), "z": fit.z, "p_value": fit.p_value,
               "n_participants": human["participant_id"].nunique(),
               "n_images": human["image_id"].nunique(),
               "human_accuracy": float(human["correct"].astype(bool).mean()),
               "model_accuracy": float(model["correct"].astype(bool).mean()),
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
