"""Result tables that rules build from several inputs (the rule scripts only read and write).

:func:`accuracy_tables` (rule ``accuracy``): every agent's answers to the trials the humans
answered (the per-trial table ``accuracy_trials.csv``) and their accuracy with CIs
(``accuracy.csv``). :func:`accuracy_tests_table` (rule ``accuracy_tests``): question 1's
tests (``accuracy_tests.csv``). :func:`statistics_tables` (rule ``statistics``): ``stats.csv``,
``similarity_summary.csv`` and ``verdict.csv`` (docs/design.md §5.5). :func:`expected_similarity_table` (rule ``expected_attention``): every
map set against the attention the simulated observers aimed at (``humans/simulated/expected.csv``).
:func:`regions_table` (rule ``regions``): every map's share per facial region (``regions.csv``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import mixed, stats, trials, verdicts
from .catalogue import schema_defaults
from .crossed_similarity import Replicates

#: Defaults of the ``statistics`` settings: the config schema (their one source).
_STATISTICS = schema_defaults("statistics")

#: The columns that identify a trial in the per-trial table (besides ``agent`` and ``correct``).
TRIAL_KEYS = ["participant_id", "trial_id", "image_id", "option_a", "option_b", "label"]


def _logits(predictions: pd.DataFrame) -> pd.DataFrame:
    """A predictions table (``image_id, logit_<expression>...``) as logits indexed by ``image_id``,
    one column per expression."""
    logits = predictions.set_index("image_id").filter(like="logit_")
    logits.columns = logits.columns.str.removeprefix("logit_")
    return logits


def accuracy_tables(
    human: pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame],
    human_view: Mapping[str, pd.DataFrame],
    n_boot: int = _STATISTICS["n_boot"],
    seed: int = _STATISTICS["seed"],
    where: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every agent on the human trials, and the accuracy table.

    ``human``: the validated human trials (``TRIAL_KEYS`` + ``correct``), one row per trial.
    ``predictions``: model name -> its test-set predictions (``image_id, logit_<expression>...``);
    the model answers each trial on the full image (:func:`ferattention.trials.answer_2afc`),
    agent ``model:<name>``. ``human_view``: model name -> its answers on the stimulus as
    uncovered at the participant's answer (``participant_id, trial_id, correct``, one row per
    human trial), agent ``model:<name>@human_view``. ``where``: model name -> the file of its
    human-view answers, for error messages.

    Returns ``(per_trial, accuracy)``: ``TRIAL_KEYS + [agent, correct]`` with the humans' rows
    first, then the full-image models, then the human-view ones (``accuracy_trials.csv``), and
    :func:`ferattention.stats.accuracy_table` of the same agents in that order (``accuracy.csv``).
    A human trial without a human-view answer is a ``ValueError`` naming the file.
    """
    long = [human[TRIAL_KEYS].assign(agent="human", correct=human["correct"].astype(bool))]
    model_correct: dict[str, pd.DataFrame] = {}
    for name, table in predictions.items():
        answers = trials.answer_2afc(_logits(table), human)
        model_correct[name] = human[TRIAL_KEYS].assign(
            agent=f"model:{name}", correct=(answers == human["label"]).to_numpy())
    # The same trials answered on the stimulus as uncovered at the participant's answer.
    for name, seen in human_view.items():
        seen = human[["participant_id", "trial_id"]].merge(
            seen[["participant_id", "trial_id", "correct"]], how="left", validate="one_to_one")
        if seen["correct"].isna().any():
            source = (where or {}).get(name, f"human-view answers of model {name}")
            raise ValueError(f"{source}: no answer for {int(seen['correct'].isna().sum())} "
                             "human trial(s)")
        agent = f"{name}@human_view"
        model_correct[agent] = human[TRIAL_KEYS].assign(
            agent=f"model:{agent}", correct=seen["correct"].astype(bool).to_numpy())
    long += model_correct.values()
    table = stats.accuracy_table(human, model_correct, n_boot=n_boot, seed=seed)
    return pd.concat(long, ignore_index=True), table


@dataclasses.dataclass
class StatisticsTables:
    """What :func:`statistics_tables` returns: the frames of ``accuracy_tests.csv``
    (``accuracy_tests``), ``similarity_summary.csv`` (``summary``), ``stats.csv`` (``stats``) and
    ``verdict.csv`` (``verdict``)."""

    accuracy_tests: pd.DataFrame
    summary: pd.DataFrame
    stats: pd.DataFrame
    verdict: pd.DataFrame


def accuracy_tests_table(
    per_trial: pd.DataFrame,
    n_boot: int = _STATISTICS["n_boot"],
    seed: int = _STATISTICS["seed"],
    identities: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Question 1's tests (``accuracy_tests.csv``, rule ``accuracy_tests``): humans vs each model
    instance by the mixed model (:func:`ferattention.mixed.accuracy_tests`), then pooled per
    model over its instances (:func:`ferattention.verdicts.pooled_accuracy_tests`).

    ``per_trial``: the per-trial table of :func:`accuracy_tables`; ``identities``: image_id ->
    face identity (the unit resampled with its images; the image itself where none is given).
    """
    mixed_tests = mixed.accuracy_tests(per_trial, seed=seed, n_boot=n_boot)
    return verdicts.pooled_accuracy_tests(per_trial, mixed_tests, identities, n_boot=n_boot,
                                          seed=seed)


def statistics_tables(
    per_trial: pd.DataFrame,
    similarity: pd.DataFrame,
    reliability: pd.DataFrame,
    labels: Mapping[str, str],
    primary: str,
    n_boot: int = _STATISTICS["n_boot"],
    seed: int = _STATISTICS["seed"],
    identities: Mapping[str, str] | None = None,
    replicates: Mapping[str, Replicates] | None = None,
    accuracy_tests: pd.DataFrame | None = None,
) -> StatisticsTables:
    """The study's tests: humans vs each model, attention methods against each other, question 2.

    ``per_trial``: the per-trial table of :func:`accuracy_tables` (one row per trial and agent).
    ``similarity``: ``similarity.csv`` (``image_id, model, method, metric, value``);
    ``reliability``: ``humans/reliability.csv`` (the floor and bounds per image and metric);
    ``labels``: image_id -> expression; ``primary``: the metric question 2 is tested on;
    ``identities``: image_id -> face identity (the unit resampled with its images; the image
    itself where none is given); ``replicates``: metric -> the crossed bootstrap's replicates
    (:func:`ferattention.crossed_similarity.crossed_replicates`), with which question 2's verdict
    resamples the participants too (None: instances and identities only);
    ``accuracy_tests``: :func:`accuracy_tests_table` when already computed (rule
    ``accuracy_tests`` runs it beside the similarity jobs), else computed here. Models are
    instance keys (``<model>/seed-<k>``, :func:`ferattention.instances.fold`); the answers to
    both questions are given per instance and pooled per model (:mod:`ferattention.verdicts`).

    ``stats`` holds, in this order: the mixed model's rows (:func:`ferattention.mixed.stats_rows`),
    the pooled rows of question 1, the paired accuracy tests
    (:func:`ferattention.stats.compare_accuracy`), the method comparisons, the tests behind the
    verdict, the accuracy tests per expression and per expression pair, and the method
    comparisons per expression.
    """
    from .similarity import METRICS

    answers_1 = (accuracy_tests_table(per_trial, n_boot, seed, identities)
                 if accuracy_tests is None else accuracy_tests)
    mixed_rows = answers_1[answers_1["test"] == "mixed_logit"]
    pooled = answers_1[answers_1["test"] == "hierarchical_bootstrap"]
    pooled_rows = pd.DataFrame({
        "test": pooled["test"], "comparison": pooled["comparison"],
        "statistic": pooled["difference_pp"], "p_value": pooled["p_value"],
        "p_adjusted": pooled["p_adjusted"], "effect_size": pooled["difference_pp"] / 100,
        "n": pooled["n_model_trials"]})[list(stats.STATS_COLUMNS)]
    keys = ["participant_id", "trial_id", "image_id", "label", "option_a", "option_b"]
    wide = per_trial.pivot_table(index=keys, columns="agent", values="correct",
                                 aggfunc="first").reset_index()
    models = [a.removeprefix("model:") for a in wide.columns if str(a).startswith("model:")]
    human = wide["human"].astype(bool).to_numpy()
    model_correct = {m: wide[f"model:{m}"].astype(bool).to_numpy() for m in models}
    image_ids = wide["image_id"].to_numpy()
    accuracy_tests = stats.compare_accuracy(human, model_correct, image_ids)
    by_expression = stats.compare_accuracy_by(human, model_correct, image_ids,
                                              wide["label"].to_numpy(), "expression")
    pairs = [stats.pair_label(a, b) for a, b in zip(wide["option_a"], wide["option_b"])]
    by_pair = stats.compare_accuracy_by(human, model_correct, image_ids, pairs, "pair")

    method_tests = stats.compare_methods(similarity, reliability)
    methods_by_expression = stats.compare_methods_by(similarity, labels, "expression")
    summary = stats.summarise_similarity(similarity, reliability, n_boot=n_boot, seed=seed)
    answers_2, verdict_tests = verdicts.attention_verdicts(
        similarity, reliability, primary, METRICS[primary].higher_is_better, identities,
        n_boot=n_boot, seed=seed, replicates=(replicates or {}).get(primary))
    table = stats.stats_table(mixed.stats_rows(mixed_rows), pooled_rows, accuracy_tests,
                              method_tests, verdict_tests, by_expression, by_pair,
                              methods_by_expression)
    return StatisticsTables(accuracy_tests=answers_1, summary=summary, stats=table,
                            verdict=answers_2)


def expected_similarity_table(
    source: str, map_sets: Iterable[tuple[str, str, Mapping[str, np.ndarray]]],
    target: Mapping[str, np.ndarray], metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each map set's mean similarity to the attention the simulated observers aimed at.

    ``source``: ``humans.simulated.attention`` (copied into the table); ``map_sets``:
    ``(model, method, {image_id: (H, W) map})`` in table order (a generator keeps one set in
    memory at a time); ``target``: ``image_id -> (H, W)``
    expected click density. ``metrics``: default every metric that needs no fixations, except
    ``emd`` (slow, and a density has no clicks). Returns ``source, model, method, metric, mean``:
    :func:`ferattention.similarity.similarity_table`'s values averaged over the images both have.
    """
    from .similarity import METRICS, similarity_table

    if metrics is None:
        metrics = [m for m, spec in METRICS.items() if not spec.needs_fixations and m != "emd"]
    rows = []
    for model, method, maps in map_sets:
        means = similarity_table(maps, target, None, metrics).groupby("metric", sort=False)["value"].mean()
        rows += [(source, model, method, metric, means[metric]) for metric in metrics]
    return pd.DataFrame(rows, columns=["source", "model", "method", "metric", "mean"])


def regions_table(
    masks: Mapping[str, np.ndarray], human: Mapping[str, np.ndarray],
    map_sets: Iterable[tuple[str, str, Mapping[str, np.ndarray]]],
) -> pd.DataFrame:
    """Share of each map's mass per facial region: humans, the regions' areas, every map set.

    ``masks``: ``image_id -> (R, H, W)`` region masks (``labels.REGIONS`` order); ``human``:
    ``image_id -> (H, W)`` human map; ``map_sets``: ``(model, method, {image_id: (H, W) map})``
    (a generator keeps one set in memory at a time). Rows of
    :func:`ferattention.similarity.region_table`: agent ``human`` (method ``human``), then
    ``area`` (method ``uniform``: a uniform map's share), then ``model:<model>`` per map set.
    Without masks (regions unknown) the table is empty and ``map_sets`` is not consumed.
    """
    from .labels import REGIONS
    from .similarity import region_table

    tables = [region_table({("human", "human"): human}, masks, REGIONS)]  # with the regions' areas
    if not masks:
        return tables[0]
    for model, method, maps in map_sets:
        tables.append(region_table({(f"model:{model}", method): maps}, masks, REGIONS,
                                   include_area=False))
    return pd.concat(tables, ignore_index=True)
