"""The catalogue (ferattention.catalogue) against the implementations, the schema and its readers."""

import subprocess
import sys
from pathlib import Path

import yaml

from ferattention import attention, catalogue, figures, saliency, similarity, stats, training

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]


def test_every_registered_saliency_method_is_catalogued_with_the_same_settings():
    assert set(saliency.METHODS) == set(catalogue.METHODS)
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
    assert ep["areas"] == [0.1] and ep["max_iter"] == 150
    assert catalogue.method_defaults("random_model") == {"method": "gradcam", "method_params": {}}
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
