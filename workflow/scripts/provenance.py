"""Rule provenance: results/provenance.json, what produced this run's results."""

from ferattention.runtime import rule_job

with rule_job(snakemake) as log:
    from pathlib import Path

    from ferattention import io, provenance

    record = provenance.collect(snakemake.params.config, Path(snakemake.scriptdir).parents[1])
    log.info("config %s, commit %s, device %s", record["config_sha256"][:12],
             record["git"]["commit"], record["device"])
    io.write_json(record, snakemake.output.provenance)
