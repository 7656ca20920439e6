# The browser experiment that collects real click data: a static web page exported from the
# prepared test images and their 2AFC trials. Not part of `rule all`; build it with
#   snakemake --cores 1 experiment
# and see README.md, "Collecting click data: the browser experiment".


rule experiment:
    input:
        manifest="results/data/manifest.csv",
        trials="results/data/trials.csv",
        images="results/data/images",
    output:
        directory("results/experiment"),
    params:
        experiment=config["experiment"],
        reveal_radius=config["humans"]["reveal_radius"],
    log:
        "logs/experiment.log",
    conda:
        ENV
    script:
        "../workflow/scripts/experiment.py"
