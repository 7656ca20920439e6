# Human attention: simulated observers (the default) or the user's click logs go through the same
# validation, then become per-image maps and a reliability (noise ceiling) table.


# What makes a human map from the clicks (ferattention.humans.human_maps keyword arguments): the
# maps and their split-half reliability are built with the same settings.
HUMAN_MAP_SETTINGS = {
    key: config["humans"][key] for key in ("reveal_radius", "blur_sigma", "order_weighting")
}


# What the simulated observers aim at (humans.simulated.attention): a planted truth.
ATTENTION = config["humans"]["simulated"]["attention"]
ATTENTION_MODEL = config["humans"]["simulated"]["attention_model"] or MODELS[0]

# The simulated observers' settings and, with a target reliability (humans.simulated.reliability),
# how it is measured: the map settings and humans.reliability of rule human_reliability, so that
# the calibrated observers meet it in results/humans/reliability.csv. Without a target (null)
# neither the key nor those settings are passed: the map and ceiling settings then do not redo
# the simulation, and the rule's params are those of a run before the setting existed.
SIMULATED = {
    key: value for key, value in config["humans"]["simulated"].items() if key != "reliability"
}
if config["humans"]["simulated"].get("reliability") is not None:
    SIMULATED = {
        **SIMULATED,
        "reliability": config["humans"]["simulated"]["reliability"],
        "calibration": {"maps": HUMAN_MAP_SETTINGS, "ceiling": config["humans"]["reliability"]},
    }


rule simulate_observers:
    priority: 10  # as make_trials: the human side waits for it
    input:
        manifest="results/data/manifest.csv",
        trials="results/data/trials.csv",
        regions="results/data/regions.npz",
        diagnostic="results/data/diagnostic_regions.csv",
        # the planted source's maps, when it is a method (none for regions, center, uniform)
        attention=lambda wc: attention_inputs(ATTENTION, ATTENTION_MODEL),
    output:
        trials="results/humans/simulated/trials.csv",
        clicks="results/humans/simulated/clicks.csv",
    params:
        simulated=SIMULATED,
        center_sigma=config["saliency"]["center"]["sigma"],
        reveal_radius=config["humans"]["reveal_radius"],
        image_size=config["dataset"]["image_size"],
    log:
        "logs/simulate_observers.log",
    conda:
        ENV
    script:
        "../workflow/scripts/simulate_observers.py"


rule expected_attention:
    # How close each map is to the attention the simulated observers were given: the winner the
    # default's construction predicts, which the report sets beside the winner found.
    input:
        trials="results/data/trials.csv",
        regions="results/data/regions.npz",
        diagnostic="results/data/diagnostic_regions.csv",
        attention=lambda wc: attention_inputs(ATTENTION, ATTENTION_MODEL),
        shards=lambda wc: all_shards(INSTANCES, METHODS),
    output:
        table="results/humans/simulated/expected.csv",
    params:
        source=ATTENTION,
        models=INSTANCES,
        methods=METHODS,
        center_sigma=config["saliency"]["center"]["sigma"],
        image_size=config["dataset"]["image_size"],
    log:
        "logs/expected_attention.log",
    conda:
        ENV
    script:
        "../workflow/scripts/expected_attention.py"


rule ingest_humans:
    # Validated first among the jobs that become ready with the prepared dataset, so that bad
    # click logs fail before training starts wherever the cores do not fit both.
    priority: 10
    input:
        unpack(lambda wc: human_csv_inputs()),
        manifest="results/data/manifest.csv",
        regions="results/data/regions.npz",
        # Crop box and original size of each image: clicks on original stimuli map through them.
        geometry="results/data/geometry.csv",
    output:
        trials="results/humans/trials.csv",
        clicks="results/humans/clicks.csv",
        qc="results/humans/qc.csv",
    params:
        on_invalid=config["humans"]["on_invalid"],
        expressions=config["dataset"]["expressions"],
        stimulus=config["humans"]["stimulus"],
        reveal_radius=config["humans"]["reveal_radius"],
        image_size=config["dataset"]["image_size"],
    log:
        "logs/ingest_humans.log",
    conda:
        ENV
    script:
        "../workflow/scripts/ingest_humans.py"


rule human_maps:
    priority: 10  # faithfulness and every similarity wait for it
    input:
        trials="results/humans/trials.csv",
        clicks="results/humans/clicks.csv",
        geometry="results/data/geometry.csv",
    output:
        maps="results/humans/maps.npz",
        fixations="results/humans/fixations.npz",
    params:
        # Only the keys the maps use: other human settings (reliability, ...) do not redo them.
        stimulus=config["humans"]["stimulus"],
        maps=HUMAN_MAP_SETTINGS,
        image_size=config["dataset"]["image_size"],
    log:
        "logs/human_maps.log",
    conda:
        ENV
    script:
        "../workflow/scripts/human_maps.py"


rule human_reliability:
    priority: 10  # the noise ceiling: the similarity stage waits for it
    input:
        trials="results/humans/trials.csv",
        clicks="results/humans/clicks.csv",
        geometry="results/data/geometry.csv",
        manifest="results/data/manifest.csv",  # face identities: the floor leaves out the same face
    output:
        reliability="results/humans/reliability.csv",
    params:
        stimulus=config["humans"]["stimulus"],
        maps=HUMAN_MAP_SETTINGS,
        reliability=config["humans"]["reliability"],
        image_size=config["dataset"]["image_size"],
        metrics=config["similarity"]["metrics"],
    log:
        "logs/human_reliability.log",
    conda:
        ENV
    script:
        "../workflow/scripts/human_reliability.py"


rule human_view_predictions:
    # Each model answers every human trial on the stimulus as uncovered at the participant's
    # answer (the rest hidden as in the browser experiment: experiment.hiding, hiding_blur).
    priority: 5  # feeds the statistics at the end of the run; do not leave it for last
    input:
        model="results/models/{model}/seed-{seed}/model.pt",
        manifest="results/data/manifest.csv",
        trials="results/humans/trials.csv",
        clicks="results/humans/clicks.csv",
        geometry="results/data/geometry.csv",
    output:
        predictions="results/models/{model}/seed-{seed}/human_view_predictions.csv",
    params:
        # Not blur_sigma or the rest of experiment: model inference is redone only when what the
        # participant saw changes.
        stimulus=config["humans"]["stimulus"],
        reveal_radius=config["humans"]["reveal_radius"],
        hiding=config["experiment"]["hiding"],
        hiding_blur=config["experiment"]["hiding_blur"],
        image_size=config["dataset"]["image_size"],
    threads: SIDE_BY_SIDE_THREADS
    log:
        "logs/human_view_predictions/{model}/seed-{seed}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/human_view_predictions.py"
