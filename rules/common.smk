# Validation, shared paths and input functions. Rules stay thin: the science lives in the
# `ferattention` package under workflow/, which every rule script imports.
import difflib
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

# The package is importable here too when it is not pip-installed (a conda env, a SLURM job).
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, PACKAGE_DIR)
from ferattention.config import check_schema  # noqa: E402
from ferattention.io import read_table  # noqa: E402
from ferattention.methods import attention_methods, base_method, expand_methods, shuffled_methods  # noqa: E402

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
# Map methods (saliency jobs): `random_model` expands to random_model_<m> per saliency.random_model.methods.
METHODS = expand_methods(config["saliency"]["methods"], config["saliency"]["random_model"]["methods"])
# Scored in the similarity stage only: shuffled_<m> for every attention method m (no model cost).
SHUFFLED = shuffled_methods(METHODS)
SIMULATED_HUMANS = config["humans"]["source"] == "simulated"
# Maps from outside (saliency.external, recovery.external): read from a file, model-free.
EXTERNAL = {**config["recovery"]["external"], **config["saliency"]["external"]}
EXTERNAL_METHODS = [m for m in METHODS if m in config["saliency"]["external"]]
MODEL_METHODS = [m for m in METHODS if m not in EXTERNAL_METHODS]
# Attention sources that need no method (ferattention.attention.MODEL_FREE_SOURCES).
MODEL_FREE_SOURCES = ("regions", "center", "uniform")


def _name_regex(names):
    """A wildcard constraint matching exactly ``names`` (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def _check_config():
    """Cross-field checks the JSON schema cannot express, with messages naming the key."""
    ds, hu = config["dataset"], config["humans"]
    if ds["source"] != "synthetic" and not ds["path"]:
        raise ValueError(f"config: dataset.path is required for dataset.source: {ds['source']}")
    if ds["source"] == "affectnet" and not ds["image_root"]:
        raise ValueError("config: dataset.image_root is required for dataset.source: affectnet")
    if hu["source"] == "csv" and not (hu["trials"] and hu["clicks"]):
        raise ValueError("config: humans.trials and humans.clicks are required for humans.source: csv")
    sal, rec = config["saliency"], config["recovery"]
    for block, names in (("saliency.external", sal["external"]), ("recovery.external", rec["external"])):
        for name in names:
            if not re.fullmatch(r"[a-z0-9_]+", name):
                raise ValueError(f"config: {block}.{name}: a method name may hold only a-z, 0-9 and _")
            if name in MODEL_FREE_SOURCES:
                raise ValueError(f"config: {block}.{name}: the name is an attention source; rename it")
    both = set(sal["external"]) & set(rec["external"])
    if both:
        raise ValueError(f"config: {sorted(both)[0]!r} is in both saliency.external and "
                         "recovery.external; keep one")
    first_model = MODELS[0]
    sim = hu["simulated"]
    for key, source, model in (("humans.simulated.attention", sim["attention"], sim["attention_model"]),
                               *(("recovery.sources", s, rec["model"]) for s in rec["sources"])):
        allowed = list(dict.fromkeys([*MODEL_FREE_SOURCES, *METHODS]
                                     + (list(rec["external"]) if key.startswith("recovery") else [])))
        if source not in allowed:
            close = difflib.get_close_matches(source, allowed, n=1)
            raise ValueError(f"config: {key}: unknown attention source {source!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; allowed: {', '.join(allowed)}")
    for key, model in (("humans.simulated.attention_model", sim["attention_model"]),
                       ("recovery.model", rec["model"])):
        if model is not None and model not in MODELS:
            raise ValueError(f"config: {key}: {model!r} is not a model of models ({', '.join(MODELS)})")
    if config["similarity"]["primary"] not in config["similarity"]["metrics"]:
        raise ValueError(f"config: similarity.primary: {config['similarity']['primary']!r} is not "
                         f"in similarity.metrics ({', '.join(config['similarity']['metrics'])})")
    split = ds["split"]
    if abs(split["train"] + split["val"] + split["test"] - 1) > 1e-6:
        raise ValueError("config: dataset.split train + val + test must sum to 1")
    cam_methods = {"cam"} & {base_method(m) for m in METHODS}
    for name, spec in config["models"].items():
        if cam_methods and spec["arch"] in MLP_HEAD_ARCHS:
            raise ValueError(
                f"config: models.{name}: {spec['arch']} has an MLP head, and CAM is defined only "
                "for global-average-pooling + linear heads; remove cam from saliency.methods "
                "(and saliency.random_model.methods) or choose another architecture"
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


def method_maps(model, method):
    """Every shard of one model's maps of one method (model-free maps included)."""
    return expand("results/saliency/{model}/{method}/shard-{shard}.npz", model=model,
                  method=method, shard=range(n_shards()))


def attention_inputs(source, model):
    """The maps a planted attention source needs: none, a method's shards, or an external file."""
    if source in MODEL_FREE_SOURCES:
        return []
    if source in config["recovery"]["external"]:
        return [f"results/external/{source}/maps.npz"]
    return method_maps(model or MODELS[0], source)


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
        "results/tables/accuracy_tests.csv",
        "results/tables/agreement.csv",
        "results/humans/reliability.csv",
        *expand("results/models/{model}/metrics.json", model=MODELS),
    ]
