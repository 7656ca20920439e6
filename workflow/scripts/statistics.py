"""Rule statistics: stats.csv (question 1's tests from rule accuracy_tests, the paired accuracy
tests, method comparisons, question 2's verdict and their breakdowns per expression and pair),
the similarity summary and verdict.csv."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from ferattention import instances, io, tables
    from ferattention.crossed_similarity import apply_crossed_ci, load_replicates

    cfg = snakemake.params.statistics
    manifest = io.read_table(snakemake.input.manifest, usecols=["image_id", "label", "identity"])
    out = tables.statistics_tables(
        # per instance: the statistics see one model per instance key <model>/seed-<k>
        io.read_table(snakemake.input.accuracy_trials),
        instances.fold(io.read_table(snakemake.input.similarity)),
        io.read_table(snakemake.input.reliability), dict(zip(manifest["image_id"], manifest["label"])),
        snakemake.params.primary, n_boot=cfg["n_boot"], seed=cfg["seed"],
        identities=dict(zip(manifest["image_id"], manifest["identity"])),
        # question 2's verdict resamples participants through the crossed bootstrap's draws
        replicates=load_replicates(snakemake.input.replicates),
        accuracy_tests=io.read_table(snakemake.input.accuracy_tests))
    # cc and spearman: CIs by the crossed bootstrap of participants and images (similarity_crossed)
    summary = apply_crossed_ci(out.summary, instances.fold(io.read_table(snakemake.input.crossed)))
    log.info("question 2 on %s:\n%s", snakemake.params.primary, out.verdict.to_string(index=False))
    log.info("%d tests; summary:\n%s", len(out.stats), summary.to_string(index=False))
    io.write_csv(instances.unfold(summary), snakemake.output.summary)
    io.write_csv(out.stats, snakemake.output.stats)
    io.write_csv(instances.unfold(out.verdict), snakemake.output.verdict)
