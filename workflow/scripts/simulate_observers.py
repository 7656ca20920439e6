"""Rule simulate_observers: simulated participants write the two click-log CSV files."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    import time

    from ferattention import io
    from ferattention.attention import attention_density
    from ferattention.humans import calibrate_noise, simulate_observers

    cfg, p = snakemake.params.simulated, snakemake.params
    trial_list = io.read_table(snakemake.input.trials)
    attention = attention_density(
        cfg["attention"], sorted(set(trial_list["image_id"])), p.image_size,
        method_maps=io.load_map_shards(snakemake.input.attention) if snakemake.input.attention
        else None, center_sigma=p.center_sigma)
    study = dict(
        masks=io.load_maps(snakemake.input.regions),
        diagnostic=io.read_table(snakemake.input.diagnostic),
        image_size=p.image_size,
        n_participants=cfg["participants"],
        seed=cfg["seed"],
        stimulus_size=cfg["stimulus_size"],
        reveal_radius=p.reveal_radius,
        params=cfg["params"],
        attention=attention,
    )
    if cfg.get("reliability") is None:
        trials, clicks = simulate_observers(trial_list, **study)
    else:
        # Stray clicks calibrated so that the human maps have the target split-half reliability
        # that rule human_reliability will measure (humans.simulated.reliability).
        start = time.perf_counter()
        ceiling = cfg["calibration"]["ceiling"]
        found = calibrate_noise(cfg["reliability"], trial_list, **study,
                                maps=cfg["calibration"]["maps"], repeats=ceiling["repeats"],
                                split_seed=ceiling["seed"])
        for noise, value in found.evaluations:
            log.info("stray clicks %.4f: split-half spearman %.3f", noise, value)
        log.info("target split-half spearman %.3f: stray clicks %.4f give %.3f (%d simulations, "
                 "%.1f s)", found.target, found.noise, found.split_half, len(found.evaluations),
                 time.perf_counter() - start)
        trials, clicks = found.trials, found.clicks
    log.info("%d simulated participants aiming at %r: %d trials, %d clicks, %.1f%% correct",
             cfg["participants"], cfg["attention"], len(trials), len(clicks),
             100 * (trials["response"] == trial_list.set_index("trial_id")
                    .loc[trials["trial_id"].astype(str), "label"].to_numpy()).mean())
    io.write_csv(clicks, snakemake.output.clicks)
    io.write_csv(trials, snakemake.output.trials)
