# Machine vs human maps, per image x model x method x metric.


rule similarity:
    input:
        shards=saliency_shards,
        human_maps="results/humans/maps.npz",
        fixations="results/humans/fixations.npz",
    output:
        table="results/similarity/{model}/{method}.csv",
    params:
        metrics=config["similarity"]["metrics"],
    log:
        "logs/similarity/{model}/{method}.log",
    conda:
        ENV
    script:
        "../workflow/scripts/similarity.py"


rule similarity_table:
    input:
        expand("results/similarity/{model}/{method}.csv", model=MODELS, method=METHODS),
    output:
        table="results/tables/similarity.csv",
    log:
        "logs/similarity_table.log",
    conda:
        ENV
    script:
        "../workflow/scripts/concat_tables.py"
