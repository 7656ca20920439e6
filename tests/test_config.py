"""Config schema problems: one line each, naming the key, the bad value and the closest allowed key."""

from pathlib import Path

import pytest
import yaml

from ferattention.config import check_schema, schema_problems

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_the_default_config_has_no_problem():
    assert schema_problems(default_config(), SCHEMA) == []


def test_every_problem_is_listed_with_its_key_and_a_suggestion():
    config = default_config()
    config["dataset"]["imag_size"] = config["dataset"].pop("image_size")
    config["models"]["compact"]["epochs"] = "twelve"
    config["saliency"]["methods"] = ["cam", 3]
    problems = schema_problems(config, SCHEMA)
    assert len(problems) == 3, problems
    assert any(p.startswith("dataset.imag_size: unknown key (did you mean 'image_size'?") for p in problems)
    assert any(p.startswith("models.compact.epochs: 'twelve' is not of type 'integer'") for p in problems)
    assert any(p.startswith("saliency.methods.1: 3") for p in problems)


def test_check_schema_names_the_config_files():
    config = default_config()
    config["modles"] = {}
    with pytest.raises(ValueError) as err:
        check_schema(config, SCHEMA, ["my/config.yaml", "--config"])
    message = str(err.value)
    assert message.splitlines()[0] == ("config (my/config.yaml, --config): 1 problem(s) with the keys of "
                                       "config.schema.yaml:")
    assert "modles: unknown key (did you mean 'models'?" in message
