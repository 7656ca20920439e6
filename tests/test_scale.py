"""The DAG grows with images / shard size (ferattention.bench.dag on a fake dataset)."""

from pathlib import Path

import yaml

from ferattention import instances
from ferattention.bench import dag as bench_dag

REPO = Path(__file__).resolve().parents[1]


def test_saliency_jobs_grow_with_shards_not_images(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"saliency": {"shard_size": 10, "one_pass_shard_size": 40}}))
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    sal = default["saliency"]
    # random_model counts once per method of saliency.random_model.methods; Extremal Perturbation
    # (many passes per image) is cut into shards of 10, the one-pass methods into shards of 40
    methods = [m for m in sal["methods"] if m != "random_model"] + sal["random_model"]["methods"]
    many = sum(m == "extremal_perturbation" for m in methods)
    (small, large) = bench_dag.bench_dag([200, 600], config, REPO / "Snakefile")
    for result in (small, large):
        n = result["test_images"]
        expected = len(instances.instances(default["models"])) * (many * -(-n // 10) + (len(methods) - many) * -(-n // 40))
        assert result["saliency_jobs"] == result["expected_saliency_jobs"] == expected
    assert large["saliency_jobs"] > small["saliency_jobs"]
    # Everything but the saliency shards is a fixed number of jobs.
    assert large["jobs"] - large["saliency_jobs"] == small["jobs"] - small["saliency_jobs"]


def test_job_counts_reads_the_dry_run_table():
    log = ("rule all:\n    jobid: 0\nJob stats:\njob         count\n--------  -------\n"
           "saliency     12\ntrain         1\ntotal        13\n\nReasons:\n")
    assert bench_dag.job_counts(log) == {"saliency": 12, "train": 1, "total": 13}
