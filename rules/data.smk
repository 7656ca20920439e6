# Dataset preparation (a checkpoint: the number of test images fixes the saliency shards) and the
# 2AFC trial list.


checkpoint prepare_dataset:
    input:
        # Images shown to humans must land in the test split, so real click logs are an input.
        human_trials=[] if SIMULATED_HUMANS else [config["humans"]["trials"]],
    output:
        manifest="results/data/manifest.csv",
        images=directory("results/data/images"),
        regions="results/data/regions.npz",
        diagnostic="results/data/diagnostic_regions.csv",
        geometry="results/data/geometry.csv",
        qc="results/data/qc.csv",
    params:
        dataset=config["dataset"],
    # Synthetic faces are rendered by this many worker processes (capped by --cores).
    threads: 4
    log:
        "logs/prepare_dataset.log",
    conda:
        ENV
    script:
        "../workflow/scripts/prepare_dataset.py"


rule make_trials:
    localrule: True  # light: on SLURM it runs beside Snakemake instead of waiting in the queue
    priority: 10  # seconds; the human side (maps, noise ceiling, faithfulness) waits for it
    input:
        manifest="results/data/manifest.csv",
    output:
        trials="results/data/trials.csv",
    params:
        expressions=config["dataset"]["expressions"],
        trials=config["trials"],
    log:
        "logs/make_trials.log",
    conda:
        ENV
    script:
        "../workflow/scripts/make_trials.py"
