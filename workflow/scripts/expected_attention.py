"""Rule expected_attention: every map against the density the simulated observers aimed at."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from pathlib import Path

    import pandas as pd

    from ferattention import io
    from ferattention.attention import attention_density
    from ferattention.humans import expected_attention
    from ferattention.similarity import METRICS, similarity_table

    p = snakemake.params
    trial_list = io.read_table(snakemake.input.trials)
    ids = sorted(set(trial_list["image_id"]))
    planted = attention_density(
        p.source, ids, p.image_size, center_sigma=p.center_sigma,
        method_maps=io.load_map_shards(snakemake.input.attention) if snakemake.input.attention
        else None)
    target = expected_attention(trial_list, io.load_maps(snakemake.input.regions),
                                io.read_table(snakemake.input.diagnostic), p.image_size, planted)
    metrics = [m for m, spec in METRICS.items() if not spec.needs_fixations and m != "emd"]
    rows = []
    for model in p.models:
        for method in p.methods:
            folder = Path("results/saliency") / model / method
            maps = io.load_map_shards([f for f in snakemake.input.shards if Path(f).parent == folder])
            table = similarity_table(maps, target, None, metrics)
            means = table.groupby("metric", sort=False)["value"].mean()
            rows += [(p.source, model, method, metric, means[metric]) for metric in metrics]
    out = pd.DataFrame(rows, columns=["source", "model", "method", "metric", "mean"])
    log.info("similarity to the planted attention (%s):\n%s", p.source,
             out.pivot_table(index="method", columns="metric", values="mean").to_string())
    io.write_csv(out, snakemake.output.table)
