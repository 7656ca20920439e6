# Recovery study (`snakemake --cores 8 recovery`, not part of `all`): for each planted attention
# source, simulated observers click where it says, and the whole comparison is redone; the
# planted map must come out first (ferattention.recovery).

RECOVERY = config["recovery"]
RECOVERY_MODEL = RECOVERY["model"] or MODELS[0]
RECOVERY_EXTERNAL = list(RECOVERY["external"])
# Sources naming a method this run leaves out are skipped (ferattention.config.recovery_sources).
RECOVERY_SOURCES = recovery_sources(config, METHODS)
for _skipped in [s for s in RECOVERY["sources"] if s not in RECOVERY_SOURCES]:
    print(f"recovery.sources: {_skipped!r} is not a method of this run (saliency.methods); "
          "the recovery study leaves it out", file=sys.stderr)


rule recovery_source:
    wildcard_constraints:
        source=_name_regex(RECOVERY_SOURCES),
    input:
        trials="results/data/trials.csv",
        regions="results/data/regions.npz",
        diagnostic="results/data/diagnostic_regions.csv",
        shards=lambda wc: all_shards(INSTANCES, METHODS),
        external=expand("results/external/{name}/maps.npz", name=RECOVERY_EXTERNAL),
    output:
        table="results/recovery/{source}.csv",
    params:
        models=INSTANCES,
        methods=METHODS,
        external=RECOVERY_EXTERNAL,
        planted_model=instances.instances_of(config["models"])[RECOVERY_MODEL][0],
        simulated=config["humans"]["simulated"],
        maps=HUMAN_MAP_SETTINGS,
        reliability=config["humans"]["reliability"],
        metrics=config["similarity"]["metrics"],
        center_sigma=config["saliency"]["center"]["sigma"],
        image_size=config["dataset"]["image_size"],
        statistics=config["statistics"],
    log:
        "logs/recovery/{source}.log",
    benchmark:
        "benchmarks/recovery/{source}.tsv"
    conda:
        ENV
    script:
        "../workflow/scripts/recovery_source.py"


rule recovery_table:
    input:
        expand("results/recovery/{source}.csv", source=RECOVERY_SOURCES),
    output:
        table="results/recovery/recovery.csv",
        figure=multiext("results/figures/recovery", ".png", ".pdf"),
    log:
        "logs/recovery_table.log",
    conda:
        ENV
    script:
        "../workflow/scripts/recovery_table.py"


rule recovery:
    input:
        "results/recovery/recovery.csv",
        "results/figures/recovery.png",
