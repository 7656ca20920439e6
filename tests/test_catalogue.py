"""The catalogue (ferattention.catalogue) against the implementations, the schema and its readers."""

import subprocess
import sys
from pathlib import Path

import yaml

from ferattention import attention, catalogue, figures, saliency, similarity, stats, training

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]


def test_every_registered_saliency_method_is_catalogued_with_the_same_settings():
    # random_model is expanded by the workflow to random_model_<m> (method m, untrained weights).
    assert set(saliency.METHODS) == {m for m, spec in catalogue.METHODS.items() if spec.registered}
    assert [m for m, spec in catalogue.METHODS.items() if not spec.registered] == ["random_model"]
    for name, cls in saliency.METHODS.items():
        assert cls.defaults == catalogue.method_defaults(name), name
        assert cls(None).params == catalogue.method_defaults(name), name


def test_the_schema_method_blocks_are_the_catalogue_settings_and_closed():
    blocks = SCHEMA["saliency"]["properties"]
    for name in catalogue.METHODS:
        assert blocks[name] == catalogue.method_schema(name), name
        assert blocks[name]["additionalProperties"] is False
    # Every object block under saliency is closed, except `external` (names chosen by the user).
    open_blocks = [k for k, v in blocks.items()
                   if v.get("type") == "object" and v.get("additionalProperties") is not False]
    assert open_blocks == ["external"]


def test_the_schema_defaults_of_the_method_blocks_are_what_the_methods_use():
    # The default run (schema defaults) is what the methods would use unconfigured: one source.
    ep = catalogue.method_defaults("extremal_perturbation")
    assert ep["areas"] == [0.1] and ep["max_iter"] == 60 and ep["learning_rate"] == 0.1
    assert catalogue.method_defaults("random_model") == {"methods": ["cam", "gradcam"]}
    assert catalogue.method_defaults("center") == {"sigma": 0.25}


def test_metrics_names_directions_and_schema_enums_agree():
    assert list(similarity.METRICS) == list(catalogue.METRICS)
    for name, metric in similarity.METRICS.items():
        spec = catalogue.METRICS[name]
        assert (metric.higher_is_better, metric.needs_fixations) == (spec.higher_is_better,
                                                                   spec.needs_fixations), name
    sim = SCHEMA["similarity"]["properties"]
    assert sim["metrics"]["items"]["enum"] == sim["primary"]["enum"] == list(catalogue.METRICS)
    assert sim["metrics"]["default"] == list(similarity.DEFAULT_METRICS) == list(catalogue.DEFAULT_METRICS)
    # Distances are lower-is-better for every caller (HIGHER_IS_BETTER once had no `emd`).
    assert [m for m in catalogue.METRICS if not figures.is_higher_better(m)] == ["kl", "emd"]


def test_architectures_in_the_schema_are_the_catalogue():
    arch = SCHEMA["models"]["additionalProperties"]["properties"]["arch"]
    assert sorted(arch["enum"]) == sorted(catalogue.ARCHITECTURES)
    assert not catalogue.supports("vgg16_bn", "cam") and catalogue.supports("resnet18", "cam")
    assert not catalogue.supports("vgg16_bn", "random_model_cam")
    assert catalogue.supports("vgg16_bn", "shuffled_gradcam") and catalogue.supports("vgg16_bn", "center")


def test_baseline_status_and_display_order():
    names = ["shuffled_gradcam", "center", "my_map", "extremal_perturbation", "random_model",
             "random_model_cam", "gradcam", "cam", "gradcam"]
    expected = ["cam", "gradcam", "extremal_perturbation", "my_map", "center", "random_model",
                "random_model_cam", "shuffled_gradcam"]
    assert catalogue.method_order(names) == figures.order_methods(names) == expected
    for name in expected:
        assert stats.is_baseline(name) == catalogue.is_baseline(name) == (expected.index(name) >= 4)
    # Each baseline family in the order of its methods (shuffled_cam before shuffled_gradcam).
    mixed = ["shuffled_gradcam", "random_model_gradcam", "shuffled_cam", "random_model_cam",
             "gradcam", "cam", "center"]
    assert catalogue.method_order(mixed) == ["cam", "gradcam", "center", "random_model_cam",
                                             "random_model_gradcam", "shuffled_cam", "shuffled_gradcam"]
    assert catalogue.metric_order(["emd", "zeta", "kl", "spearman"]) == ["spearman", "kl", "emd", "zeta"]
    assert figures.order_metrics(["emd", "kl"]) == ["kl", "emd"]


def test_training_defaults_are_the_schema_defaults():
    cfg = training.TrainConfig()
    assert {k: getattr(cfg, k) for k in training.TRAINING_KEYS} == {
        k: v for k, v in catalogue.schema_defaults("training").items()}
    model_defaults = SCHEMA["models"]["additionalProperties"]["properties"]
    assert (cfg.epochs, cfg.seed) == (model_defaults["epochs"]["default"], model_defaults["seed"]["default"])
    # A config without a training block trains with the same settings as TrainConfig().
    assert training.train_config({"epochs": cfg.epochs, "seed": cfg.seed},
                                 catalogue.schema_defaults("training")) == cfg


def test_model_free_sources_have_one_definition():
    assert attention.MODEL_FREE_SOURCES is catalogue.MODEL_FREE_SOURCES


def test_the_catalogue_and_the_config_checks_do_not_import_torch():
    code = ("import sys, ferattention.catalogue, ferattention.config; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


#: Package modules and the config blocks whose settings they take (a parameter named like a key
#: of those blocks is that setting).
SETTINGS_OF = {
    "training.py": ["training", "models.*"], "stats.py": ["statistics"], "tables.py": ["statistics"],
    "recovery.py": ["statistics", "recovery"], "faithfulness.py": ["faithfulness"],
    "experiment.py": ["experiment"], "humans/views.py": ["experiment"], "humans/maps.py": ["humans"],
    "humans/reliability.py": ["humans", "humans.reliability"], "humans/simulate.py": ["humans.simulated"],
    "humans/ingest.py": ["humans"], **{f"datasets/{m}.py": ["dataset"] for m in (
        "core", "images", "landmarks", "prepared", "sources")}, "synthetic.py": ["dataset.synthetic"],
    "similarity.py": ["similarity"], "trials.py": ["trials"], "splits.py": ["dataset.split"],
    "attention.py": ["humans", "humans.simulated", "saliency.external.*"],
    "saliency/base.py": ["saliency"], "saliency/baselines.py": ["saliency.center", "saliency.random_model"],
    "saliency/gradcam.py": ["saliency.gradcam", "saliency.scorecam"],
    "saliency/extremal.py": ["saliency.extremal_perturbation"],
}
#: Parameters named like a setting that are not that setting, or not yet read from the schema.
NOT_SETTINGS = {
    ("training.py", "augment", "rotate"), ("training.py", "augment", "scale"),  # 0 = step off
    ("training.py", "augment", "brightness"), ("training.py", "augment", "contrast"),
    ("training.py", "predict_logits", "batch_size"),  # images per forward pass, not training's
    ("synthetic.py", "diagnostic_regions", "seed"),  # the regions' own faces, not the dataset's
    ("attention.py", "region_hypothesis_maps", "blur_sigma"),  # the demo map's blur
    # TorchRay's own signature, mirrored by the batched implementation; the
    # method passes every setting explicitly from ExtremalPerturbation.params.
    *(("saliency/extremal.py", fn, key) for fn in ("batched_extremal_masks", "torchray_extremal_masks")
      for key in ("reward", "perturbation", "num_levels", "jitter", "smooth", "max_blur")),
}


def _literal_defaults(path: Path):
    """``(function or class, parameter, value)`` of every literal, non-None default in a module."""
    import ast

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [*node.args.posonlyargs, *node.args.args]
            pairs = [*zip(args[len(args) - len(node.args.defaults):], node.args.defaults),
                     *zip(node.args.kwonlyargs, node.args.kw_defaults)]
            names = [(a.arg, d) for a, d in pairs if d is not None]
        elif isinstance(node, ast.ClassDef):  # dataclass fields
            names = [(s.target.id, s.value) for s in node.body if isinstance(s, ast.AnnAssign)
                     and isinstance(s.target, ast.Name) and s.value is not None]
        else:
            continue
        for name, default in names:
            try:
                value = ast.literal_eval(default)
            except ValueError:
                continue  # an expression: read from somewhere (the schema, the catalogue)
            if value is not None:
                yield node.name, name, value


def test_no_setting_default_is_written_twice():
    """A package function or dataclass that takes a config setting either has no default for it
    or reads it from the schema / catalogue; a literal default is a second definition."""
    root = REPO / "workflow/ferattention"
    twice = []
    for rel, blocks in SETTINGS_OF.items():
        keys = set().union(*(catalogue.schema_defaults(*b.split(".")) for b in blocks))
        for owner, name, value in _literal_defaults(root / rel):
            if name in keys and (rel, owner, name) not in NOT_SETTINGS:
                twice.append(f"{rel}: {owner}({name}={value!r})")
    assert twice == []
    # The allow-list holds only what exists (a removed entry must leave it too).
    present = {(rel, owner, name) for rel in SETTINGS_OF
               for owner, name, _ in _literal_defaults(root / rel)}
    assert NOT_SETTINGS - {("saliency/extremal.py", f, "perturbation") for f in (
        "batched_extremal_masks", "torchray_extremal_masks")} <= present


def test_benchmarked_methods_are_catalogued_attention_methods_in_display_order():
    from ferattention.bench import saliency as bench

    assert list(bench.SALIENCY_METHODS) == catalogue.method_order(bench.SALIENCY_METHODS)
    assert all(m in catalogue.METHODS and not catalogue.is_baseline(m) for m in bench.SALIENCY_METHODS)
