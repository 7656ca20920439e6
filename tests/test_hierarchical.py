"""Tests of ferattention.hierarchical on crossed designs with known variance components."""

from __future__ import annotations

import numpy as np
import pytest

from ferattention import hierarchical as fh

FACTORS = ("instance", "identity", "participant")


def crossed_design(n_instances: int, n_identities: int, n_images: int, n_participants: int):
    """Fully crossed rows: every participant sees every image of every identity, per instance."""
    inst, ident, img, part = np.meshgrid(
        np.arange(n_instances), np.arange(n_identities), np.arange(n_images),
        np.arange(n_participants), indexing="ij",
    )
    return {
        "instance": inst.ravel(), "identity": ident.ravel(),
        "image": (ident * n_images + img).ravel(), "participant": part.ravel(),
    }


def simulate(design, rng, mu=1.0, sd_instance=0.0, sd_identity=0.0, sd_participant=0.0,
             sd_image=0.0, sd_noise=1.0, standardise=False):
    """mu + u_instance + u_identity + u_participant + u_image + noise, Gaussian effects.

    ``standardise``: each factor's effects are centred and scaled to the given SD exactly
    (population SD over its units), so the variance between units is known, not sampled.
    """
    def effect(name, sd):
        z = rng.normal(size=design[name].max() + 1)
        if standardise:
            z = (z - z.mean()) / z.std()
        return sd * z[design[name]]

    n = design["instance"].size
    return (mu + effect("instance", sd_instance) + effect("identity", sd_identity)
            + effect("participant", sd_participant) + effect("image", sd_image)
            + sd_noise * rng.normal(size=n))


def factors_of(design, names=FACTORS):
    return {name: design[name] for name in names}


def width(result: fh.BootstrapResult) -> float:
    return result.ci_high - result.ci_low


# ------------------------------------------------------------------ draws


def test_draw_counts_are_multinomial_rows_and_a_single_unit_gives_ones():
    rng = np.random.default_rng(0)
    counts = fh.draw_counts(5, 300, rng)
    assert counts.shape == (300, 5)
    assert (counts.sum(axis=1) == 5).all() and (counts >= 0).all()
    assert counts.mean() == pytest.approx(1.0, abs=0.05)
    state = rng.bit_generator.state
    assert (fh.draw_counts(1, 7, rng) == np.ones((7, 1))).all()
    assert rng.bit_generator.state == state  # a single unit consumes no draws
    with pytest.raises(ValueError):
        fh.draw_counts(0, 3, rng)


def test_a_replicate_is_the_weighted_mean_computed_by_hand():
    # unit "b" (code 1 once sorted) has 3 rows, unit "a" (code 0) has 2
    ids = np.array(["b", "a", "b", "a", "b"])
    v = np.array([1.0, 10.0, 2.0, 20.0, 3.0])
    res = fh.weighted_mean_bootstrap(v, {"instance": ids}, n_boot=50, seed=7)
    counts = fh.draw_counts(2, 50, np.random.default_rng(7))
    sum_a, sum_b = 30.0, 6.0
    by_hand = (counts[:, 0] * sum_a + counts[:, 1] * sum_b) / (counts[:, 0] * 2 + counts[:, 1] * 3)
    np.testing.assert_allclose(res.replicates, by_hand, rtol=1e-12)
    # the three possible replicates: only a (mean 15), both once (36 / 5), only b (mean 2)
    assert set(np.round(res.replicates, 9)) <= {15.0, 7.2, 2.0}
    assert res.estimate == pytest.approx(v.mean())
    assert res.ci_low == pytest.approx(np.quantile(by_hand, 0.025))
    assert res.ci_high == pytest.approx(np.quantile(by_hand, 0.975))


def test_replicates_with_zero_total_weight_are_dropped():
    # two rows on the diagonal of a 2 x 2 crossing: instance 0 with participant 0, 1 with 1;
    # a replicate drawing instance 0 twice and participant 1 twice weighs both rows 0
    res = fh.weighted_mean_bootstrap(
        [1.0, 3.0], {"instance": [0, 1], "participant": [0, 1]}, n_boot=400, seed=0,
    )
    assert 0 < res.replicates.size < 400
    assert np.isfinite(res.replicates).all()
    assert set(np.round(res.replicates, 9)) <= {1.0, 2.0, 3.0}


# ------------------------------------------------------------------ known variance


def test_replicate_variance_is_the_sum_of_each_factors_share():
    # balanced, fully crossed, additive effects: every replicate's total weight is the same, and
    # its mean is sum_f (1 / n_f) sum_u c_fu a_fu, whose variance under the multinomial counts is
    # sum_f SD_f^2 / n_f with SD_f the population SD of factor f's effects
    design = crossed_design(3, 8, 3, 10)
    sd = {"instance": 0.5, "identity": 1.0, "participant": 1.5}
    v = simulate(design, np.random.default_rng(0), **{f"sd_{k}": s for k, s in sd.items()},
                 sd_noise=0.0, standardise=True)
    res = fh.weighted_mean_bootstrap(v, factors_of(design), n_boot=4000, seed=1)
    n_units = {"instance": 3, "identity": 8, "participant": 10}
    expected = sum(sd[k] ** 2 / n_units[k] for k in sd)
    assert res.replicates.var() == pytest.approx(expected, rel=0.1)
    assert res.estimate == pytest.approx(1.0)
    # one factor at a time: the replicates vary by that factor's share only
    for name in sd:
        alone = fh.weighted_mean_bootstrap(v, {name: design[name]}, n_boot=4000, seed=1)
        assert alone.replicates.var() == pytest.approx(sd[name] ** 2 / n_units[name], rel=0.1)


@pytest.mark.parametrize("source", FACTORS)
def test_ci_width_grows_with_each_sources_sd(source):
    design = crossed_design(3, 8, 3, 10)
    sds = (0.25, 0.5, 1.0, 2.0, 4.0)
    widths = []
    for sd in sds:
        kw = {f"sd_{name}": 0.5 for name in FACTORS} | {f"sd_{source}": sd}
        # the same standardised effects each time, scaled: only this source's SD changes
        v = simulate(design, np.random.default_rng(3), sd_image=0.3, standardise=True, **kw)
        widths.append(width(fh.weighted_mean_bootstrap(v, factors_of(design), n_boot=400)))
    assert np.all(np.diff(widths) > 0), widths
    assert widths[-1] > 3 * widths[0], widths


def test_a_source_left_out_of_the_factors_does_not_widen_the_ci():
    # crossed and balanced: every replicate keeps all participants equally weighted, so their
    # effects shift every replicate by the same amount when participants are not resampled
    design = crossed_design(3, 8, 3, 10)
    widths = []
    for sd in (0.5, 4.0):
        v = simulate(design, np.random.default_rng(3), sd_instance=0.5, sd_identity=0.5,
                     sd_participant=sd)
        res = fh.weighted_mean_bootstrap(v, factors_of(design, ("instance", "identity")),
                                         n_boot=400)
        widths.append(width(res))
    assert widths[1] == pytest.approx(widths[0], rel=1e-9)


def test_coverage_of_the_mean_in_a_crossed_design():
    # 5 instances x 20 identities (3 images each) x 30 participants, variance in all three
    # factors and the images. Observed: 180/200 = 0.90 with these seeds; 0.938 over 2000 data
    # sets of the same design (binomial SE 0.005), so 0.90 is a low but ordinary draw. With
    # instance SD 0 the rate is 0.948 (1000 sets), with SD 0.3 0.928 (2000), with SD 0.5 0.894
    # (1000): five instances are few units, and a percentile interval over five clusters is too
    # narrow (their variance enters with factor 4/5 and the mean has t_4-like tails).
    design = crossed_design(5, 20, 3, 30)
    factors = factors_of(design)
    rng = np.random.default_rng(2024)
    n_sets, covered = 200, 0
    for k in range(n_sets):
        v = simulate(design, rng, mu=1.0, sd_instance=0.2, sd_identity=0.5, sd_participant=0.5,
                     sd_image=0.3, sd_noise=1.0)
        res = fh.weighted_mean_bootstrap(v, factors, n_boot=400, seed=k)
        covered += res.ci_low <= 1.0 <= res.ci_high
    assert 0.88 <= covered / n_sets <= 0.995, covered


# ------------------------------------------------------------------ groups


def test_groups_give_each_instance_equal_weight():
    rng = np.random.default_rng(1)
    inst = np.r_[np.zeros(5, int), np.ones(50, int)]
    ident = rng.integers(0, 6, size=inst.size)
    v = np.r_[rng.normal(0, 1, 5), rng.normal(10, 1, 50)]
    res = fh.weighted_mean_bootstrap(v, {"instance": inst, "identity": ident}, n_boot=300,
                                     groups=inst)
    expected = (v[:5].mean() + v[5:].mean()) / 2
    assert res.estimate == pytest.approx(expected)
    assert res.estimate != pytest.approx(v.mean())
    pooled = fh.weighted_mean_bootstrap(v, {"instance": inst, "identity": ident}, n_boot=300)
    assert pooled.estimate == pytest.approx(v.mean())


def test_a_group_absent_from_a_replicate_is_dropped_from_its_mean():
    inst = np.r_[np.zeros(5, int), np.ones(50, int)]
    v = np.r_[np.arange(5.0), 100 + np.arange(50.0)]
    res = fh.weighted_mean_bootstrap(v, {"instance": inst}, n_boot=100, seed=5, groups=inst)
    counts = fh.draw_counts(2, 100, np.random.default_rng(5))
    m0, m1 = v[:5].mean(), v[5:].mean()
    by_hand = np.where(counts[:, 0] == 0, m1, np.where(counts[:, 1] == 0, m0, (m0 + m1) / 2))
    np.testing.assert_allclose(res.replicates, by_hand, rtol=1e-12)
    assert {m0, m1} <= set(res.replicates)  # both kinds of one-group replicate occur


# ------------------------------------------------------------------ p-values and degenerate inputs


def test_p_value_is_small_for_a_clear_effect_and_large_for_a_centred_one():
    design = crossed_design(3, 8, 3, 10)
    factors = factors_of(design)
    v = simulate(design, np.random.default_rng(0), mu=1.0, sd_instance=0.2, sd_identity=0.3,
                 sd_participant=0.3)
    assert fh.weighted_mean_bootstrap(v, factors, n_boot=500).p_value < 0.01
    centred = v - v.mean()
    res = fh.weighted_mean_bootstrap(centred, factors, n_boot=500)
    assert res.estimate == pytest.approx(0.0, abs=1e-12)
    assert res.p_value > 0.5


def test_degenerate_inputs():
    one = fh.weighted_mean_bootstrap([3.0], {"instance": [0]})
    assert one.estimate == 3.0 and np.isnan([one.ci_low, one.ci_high, one.p_value]).all()
    none = fh.weighted_mean_bootstrap([], {"instance": []})
    assert np.isnan([none.estimate, none.ci_low, none.ci_high, none.p_value]).all()
    ids = {"instance": [0, 0, 1, 1], "participant": [0, 1, 0, 1]}
    const = fh.weighted_mean_bootstrap([0.1] * 4, ids, n_boot=50)
    assert (const.estimate, const.ci_low, const.ci_high, const.p_value) == (0.1, 0.1, 0.1, 2 / 51)
    zero = fh.weighted_mean_bootstrap([0.0] * 4, ids, n_boot=50)
    assert (zero.ci_low, zero.ci_high, zero.p_value) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        fh.weighted_mean_bootstrap([1.0, np.nan], {"instance": [0, 1]})
    with pytest.raises(ValueError):
        fh.weighted_mean_bootstrap([1.0, 2.0], {"instance": [0, 1, 2]})
    with pytest.raises(ValueError):
        fh.weighted_mean_bootstrap([1.0, 2.0], {})


# ------------------------------------------------------------------ paired and shared draws


@pytest.mark.parametrize("grouped", [False, True])
def test_paired_difference_is_the_bootstrap_of_the_difference(grouped):
    design = crossed_design(3, 8, 2, 10)
    rng = np.random.default_rng(4)
    a = simulate(design, rng, sd_identity=0.5, sd_participant=0.5)
    b = a - 0.2 + 0.1 * rng.normal(size=a.size)
    kw = {"n_boot": 300, "seed": 9, "groups": design["instance"] if grouped else None}
    paired = fh.paired_difference_bootstrap(a, b, factors_of(design), **kw)
    direct = fh.weighted_mean_bootstrap(a - b, factors_of(design), **kw)
    np.testing.assert_array_equal(paired.replicates, direct.replicates)
    assert paired.estimate == direct.estimate and paired.ci_low == direct.ci_low
    assert paired.p_value == direct.p_value < 0.01
    with pytest.raises(ValueError):
        fh.paired_difference_bootstrap(a, b[:-1], factors_of(design))


@pytest.mark.parametrize("grouped", [False, True])
def test_same_seed_and_factors_share_the_draws(grouped):
    design = crossed_design(3, 8, 2, 10)
    factors = factors_of(design)
    rng = np.random.default_rng(6)
    a = simulate(design, rng, sd_instance=0.3, sd_identity=0.5, sd_participant=0.5)
    b = simulate(design, rng, mu=-2.0, sd_identity=1.0)
    kw = {"n_boot": 300, "seed": 11, "groups": design["instance"] if grouped else None}
    ra = fh.weighted_mean_bootstrap(a, factors, **kw)
    again = fh.weighted_mean_bootstrap(a, factors, **kw)
    np.testing.assert_array_equal(ra.replicates, again.replicates)
    # the statistic is linear in the values for fixed weights: equal weights <=> additivity
    rb = fh.weighted_mean_bootstrap(b, factors, **kw)
    rab = fh.weighted_mean_bootstrap(a + b, factors, **kw)
    np.testing.assert_allclose(rab.replicates, ra.replicates + rb.replicates, rtol=1e-10)
    other = fh.weighted_mean_bootstrap(a, factors, **(kw | {"seed": 12}))
    assert not np.allclose(other.replicates, ra.replicates)


def test_draws_depend_on_sorted_ids_not_on_row_order_or_chunking(monkeypatch):
    design = crossed_design(3, 8, 2, 10)
    factors = factors_of(design)
    v = simulate(design, np.random.default_rng(8), sd_instance=0.3, sd_identity=0.5)
    ref = fh.weighted_mean_bootstrap(v, factors, n_boot=600, seed=2)
    perm = np.random.default_rng(0).permutation(v.size)
    # ids relabelled in the same sort order (strings of equal width) and rows shuffled
    relabelled = {name: np.char.add("u", np.char.zfill(ids[perm].astype(str), 3))
                  for name, ids in factors.items()}
    shuffled = fh.weighted_mean_bootstrap(v[perm], relabelled, n_boot=600, seed=2)
    np.testing.assert_allclose(shuffled.replicates, ref.replicates, rtol=1e-12)
    monkeypatch.setattr(fh, "CHUNK", 7)
    chunked = fh.weighted_mean_bootstrap(v, factors, n_boot=600, seed=2)
    np.testing.assert_allclose(chunked.replicates, ref.replicates, rtol=1e-12)
