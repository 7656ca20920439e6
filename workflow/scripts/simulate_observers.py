"""Rule simulate_observers: simulated participants write the two click-log CSV files."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import io
    from ferattention.humans import simulate_observers

    cfg = snakemake.params.simulated
    trial_list = io.read_table(snakemake.input.trials)
    trials, clicks = simulate_observers(
        trial_list,
        masks=io.load_maps(snakemake.input.regions),
        diagnostic=io.read_table(snakemake.input.diagnostic),
        image_size=snakemake.params.image_size,
        n_participants=cfg["participants"],
        seed=cfg["seed"],
        stimulus_size=cfg["stimulus_size"],
        reveal_radius=snakemake.params.reveal_radius,
        params=cfg["params"],
    )
    log.info("%d simulated participants: %d trials, %d clicks, %.1f%% correct",
             cfg["participants"], len(trials), len(clicks),
             100 * (trials["response"] == trial_list.set_index("trial_id")
                    .loc[trials["trial_id"].astype(str), "label"].to_numpy()).mean())
    io.write_csv(clicks, snakemake.output.clicks)
    io.write_csv(trials, snakemake.output.trials)
