"""The DAG grows with images / saliency.shard_size (ferattention.bench.dag on a fake dataset)."""

from pathlib import Path

import yaml

from ferattention.bench import dag as bench_dag

REPO = Path(__file__).resolve().parents[1]


def test_saliency_jobs_grow_with_shards_not_images(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"saliency": {"shard_size": 10}}))
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    sal = default["saliency"]
    # random_model counts once per method of saliency.random_model.methods
    methods = [m for m in sal["methods"] if m != "random_model"] + sal["random_model"]["methods"]
    per_shard = len(default["models"]) * len(methods)
    (small, large) = bench_dag.bench_dag([200, 600], config, REPO / "Snakefile")
    for result in (small, large):
        n_shards = -(-result["test_images"] // 10)
        assert result["saliency_jobs"] == result["expected_saliency_jobs"] == per_shard * n_shards
    assert large["saliency_jobs"] > small["saliency_jobs"]
    # Everything but the saliency shards is a fixed number of jobs.
    assert large["jobs"] - large["saliency_jobs"] == small["jobs"] - small["saliency_jobs"]


def test_job_counts_reads_the_dry_run_table():
    log = ("rule all:\n    jobid: 0\nJob stats:\njob         count\n--------  -------\n"
           "saliency     12\ntrain         1\ntotal        13\n\nReasons:\n")
    assert bench_dag.job_counts(log) == {"saliency": 12, "train": 1, "total": 13}
