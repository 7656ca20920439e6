# Validation, shared paths and input functions. Rules stay thin: the science lives in the
# `ferattention` package under workflow/, which every rule script imports.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# The package is importable here too when it is not pip-installed (a conda env, a SLURM job).
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, PACKAGE_DIR)
from ferattention.config import check_schema  # noqa: E402
from ferattention.io import read_table  # noqa: E402

CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
# Every problem on its own line, naming the key (Snakemake's validate shows one, with the schema).
check_schema(config, CONFIG_SCHEMA, [str(f) for f in workflow.configfiles]
             + (["--config"] if workflow.config_settings.config else []))
validate(config, str(CONFIG_SCHEMA))  # fills the defaults

# Rule scripts import the package from the repository, whether or not it is pip-installed
# (conda envs, SLURM jobs): they inherit this environment.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (PACKAGE_DIR, os.environ.get("PYTHONPATH")) if p
)

# `--cores` as typed: a job's torch threads are its share of the cores actually available
# (ferattention.runtime.job_threads), so `--cores 8` on a 2-core machine does not oversubscribe.
os.environ["FERATTENTION_TOTAL_CORES"] = str(workflow._cores or 0)

ENV = "../envs/ferattention.yaml"
MODELS = list(config["models"])
METHODS = config["saliency"]["methods"]
SIMULATED_HUMANS = config["humans"]["source"] == "simulated"


def _check_config():
    """Cross-field checks the JSON schema cannot express, with messages naming the key."""
    ds, hu = config["dataset"], config["humans"]
    if ds["source"] != "synthetic" and not ds["path"]:
        raise ValueError(f"config: dataset.path is required for dataset.source: {ds['source']}")
    if ds["source"] == "affectnet" and not ds["image_root"]:
        raise ValueError("config: dataset.image_root is required for dataset.source: affectnet")
    if hu["source"] == "csv" and not (hu["trials"] and hu["clicks"]):
        raise ValueError("config: humans.trials and humans.clicks are required for humans.source: csv")
    split = ds["split"]
    if abs(split["train"] + split["val"] + split["test"] - 1) > 1e-6:
        raise ValueError("config: dataset.split train + val + test must sum to 1")
    cam_methods = {"cam"} & {*METHODS, config["saliency"]["random_model"].get("method", "gradcam")}
    for name, spec in config["models"].items():
        if cam_methods and spec["arch"] in MLP_HEAD_ARCHS:
            raise ValueError(
                f"config: models.{name}: {spec['arch']} has an MLP head, and CAM is defined only "
                "for global-average-pooling + linear heads; remove cam from saliency.methods "
                "(and saliency.random_model.method) or choose another architecture"
            )


# Architectures without a GAP + linear head (no CAM); tests check it against ferattention.models.
MLP_HEAD_ARCHS = {"vgg16_bn"}

_check_config()


wildcard_constraints:
    model="[A-Za-z0-9_.-]+",
    method="[a-z0-9_]+",
    shard=r"\d+",


def human_csv_inputs():
    """The two human CSV files: the simulated observers' or the user's."""
    if SIMULATED_HUMANS:
        # Checked only when human data are needed, so that targets before them (such as the
        # browser experiment, `snakemake experiment`) work on any dataset.
        if config["dataset"]["source"] != "synthetic":
            raise ValueError(
                "config: humans.source: simulated needs dataset.source: synthetic (the simulated "
                "observers need the faces' diagnostic regions); give click logs with "
                "humans.source: csv"
            )
        return {
            "trials": "results/humans/simulated/trials.csv",
            "clicks": "results/humans/simulated/clicks.csv",
        }
    return {"trials": config["humans"]["trials"], "clicks": config["humans"]["clicks"]}


def test_image_ids():
    """Test image ids in shard order (known once the dataset is prepared: a checkpoint)."""
    manifest = checkpoints.prepare_dataset.get().output.manifest
    frame = read_table(manifest, usecols=["image_id", "split"])
    return sorted(frame.loc[frame["split"] == "test", "image_id"])


def n_shards():
    shard_size = config["saliency"]["shard_size"]
    return max(1, -(-len(test_image_ids()) // shard_size))


def saliency_shards(wildcards):
    """All shard files of one model and method."""
    return expand(
        "results/saliency/{model}/{method}/shard-{shard}.npz",
        model=wildcards.model,
        method=wildcards.method,
        shard=range(n_shards()),
    )


def final_outputs():
    return [
        "results/report.html",
        "results/provenance.json",
        "results/tables/accuracy.csv",
        "results/tables/similarity.csv",
        "results/tables/similarity_summary.csv",
        "results/tables/stats.csv",
        "results/humans/reliability.csv",
        *expand("results/models/{model}/metrics.json", model=MODELS),
    ]
