# Validation, shared paths and input functions. Rules stay thin: the science lives in the
# `ferattention` package under workflow/, which every rule script imports.
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

# The package is importable here too when it is not pip-installed (a conda env, a SLURM job).
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, PACKAGE_DIR)
from ferattention.config import MODEL_FREE_SOURCES, check_config, recovery_sources  # noqa: E402
from ferattention import shards  # noqa: E402
from ferattention.io import read_table  # noqa: E402
from ferattention.runtime import available_cores  # noqa: E402
from ferattention.catalogue import shard_size_key  # noqa: E402
from ferattention.methods import attention_methods, base_method, expand_methods, shuffled_methods  # noqa: E402
from ferattention import instances  # noqa: E402

CONFIG_SCHEMA = Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
CONFIG_SOURCES = [str(f) for f in workflow.configfiles] + (
    ["--config"] if workflow.config_settings.config else [])
# Every problem of the schema and every cross-field rule, name and method setting
# (ferattention.config.config_problems), with messages naming the key and the closest allowed
# value: a wrong config stops here, before any job.
check_config(config, CONFIG_SCHEMA, CONFIG_SOURCES)
validate(config, str(CONFIG_SCHEMA))  # fills the defaults

# Rule scripts import the package from the repository, whether or not it is pip-installed
# (conda envs, SLURM jobs): they inherit this environment.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (PACKAGE_DIR, os.environ.get("PYTHONPATH")) if p
)

# `--cores` above the cores this machine has (`--cores 8` on 2 cores): schedule as if it had what it
# has, so that a job alone (training, faithfulness) gets every core and jobs side by side never
# hold more threads than there are cores (README, "Threads"). Cluster executors run jobs on other
# machines: left as typed.
if workflow.local_exec and workflow._cores and workflow._cores > available_cores():
    workflow.register_resource("_cores", available_cores())
# The cores scheduled: a job's torch threads are its share of the cores actually available
# (ferattention.runtime.job_threads), in case a job lands where fewer are available.
os.environ["FERATTENTION_TOTAL_CORES"] = str(workflow._cores or 0)
# Torch jobs that run side by side (Extremal Perturbation's shards, evaluation, human views): each
# gets half the cores scheduled (at most 4), so on a 2-core machine two 1-thread jobs run at once,
# which do more work than one 2-thread job (`python -m ferattention.bench throughput`) and leave
# no core idle. Cluster jobs: 4.
SIDE_BY_SIDE_THREADS = (min(4, max(1, workflow._cores // 2))
                        if workflow.local_exec and workflow._cores else 4)

ENV = "../envs/ferattention.yaml"
MODELS = list(config["models"])
# Network instances, one per training seed of a model (`seeds: [0, 1, 2]`), as keys
# `<model>/seed-<k>`: per-instance files lie under .../<model>/seed-<k>/.
INSTANCES = instances.instances(config["models"])
# Training: the instances share the cores scheduled (at most 4 each, 4 on a cluster), so on 2 cores
# three instances train two at a time on 1 thread each: training's threads scale at 1.76x on 2
# (`python -m ferattention.bench train --threads 1`, then `--threads 2`), so two 1-thread jobs do
# more work than one 2-thread job. One instance keeps every core (at most 4), as before.
TRAIN_THREADS = (min(4, max(1, workflow._cores // len(INSTANCES)))
                 if workflow.local_exec and workflow._cores and INSTANCES else 4)
# Map methods (saliency jobs): `random_model` expands to random_model_<m> per saliency.random_model.methods.
METHODS = expand_methods(config["saliency"]["methods"], config["saliency"]["random_model"]["methods"])
# Scored in the similarity stage only: shuffled_<m> for every attention method m (no model cost).
SHUFFLED = shuffled_methods(METHODS)
SIMULATED_HUMANS = config["humans"]["source"] == "simulated"
# Maps from outside (saliency.external, recovery.external): read from a file, model-free.
EXTERNAL = {**config["recovery"]["external"], **config["saliency"]["external"]}
EXTERNAL_METHODS = [m for m in METHODS if m in config["saliency"]["external"]]
MODEL_METHODS = [m for m in METHODS if m not in EXTERNAL_METHODS]


def _name_regex(names):
    """A wildcard constraint matching exactly ``names`` (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"



wildcard_constraints:
    model="[A-Za-z0-9_.-]+",
    seed=r"-?\d+",
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
    return shards.test_image_ids(read_table(manifest, usecols=["image_id", "split"]))


def shard_size(method):
    """Images per saliency job of ``method`` (saliency.shard_size or one_pass_shard_size)."""
    return config["saliency"][shard_size_key(method)]


def n_shards(method):
    return shards.n_shards(len(test_image_ids()), shard_size(method))


def instance_of(wildcards):
    """The instance key `<model>/seed-<k>` of a job's wildcards."""
    return instances.instance_key(wildcards.model, int(wildcards.seed))


def instance_spec(wildcards):
    """One instance's `models:` entry: the model's, with this job's seed."""
    return instances.instance_spec(config["models"][wildcards.model], int(wildcards.seed))


def method_maps(instance, method):
    """Every shard of one instance's maps of one method (model-free maps included)."""
    return shards.shard_paths([instance], [method], n_shards(method))


def all_shards(keys, methods):
    """Every shard of every instance x method, instance by instance."""
    return [path for key in keys for method in methods for path in method_maps(key, method)]


def attention_inputs(source, model):
    """The maps a planted attention source needs: none, a method's shards (of the model's
    first instance), or an external file."""
    if source in MODEL_FREE_SOURCES:
        return []
    if source in config["recovery"]["external"]:
        return [f"results/external/{source}/maps.npz"]
    return method_maps(instances.instances_of(config["models"])[model or MODELS[0]][0], source)


def instance_shards(wildcards):
    """Every shard of one instance, method by method (METHODS order)."""
    return all_shards([instance_of(wildcards)], METHODS)


def final_outputs():
    return [
        "results/report.html",
        "results/provenance.json",
        "results/tables/accuracy.csv",
        "results/tables/similarity.csv",
        "results/tables/similarity_summary.csv",
        "results/tables/stats.csv",
        "results/tables/accuracy_tests.csv",
        "results/tables/agreement.csv",
        "results/humans/reliability.csv",
        *expand("results/models/{instance}/metrics.json", instance=INSTANCES),
    ]
