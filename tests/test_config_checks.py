"""Every class of config mistake is caught when the workflow is parsed: the message names the key
and the closest allowed value, and no job starts (``snakemake -n`` and a real run both stop)."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from ferattention.config import check_config, config_problems, schema_problems

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def problems(edit) -> list[str]:
    """Schema problems, else the cross-field problems, of the default config after ``edit``."""
    config = copy.deepcopy(DEFAULT)
    edit(config)
    found = schema_problems(config, SCHEMA)
    if found:
        return found
    validate(config, str(SCHEMA))  # fills the defaults, as the Snakefile does
    return config_problems(config)


def set_key(path: str, value):
    """An edit that sets the dotted ``path`` of the config to ``value``."""
    def edit(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return edit


#: One case per class of mistake: (id, edit, fragments that one line of the error must hold).
CASES = [
    ("unknown_method", set_key("saliency.methods", ["cam", "gradcam", "extremal_perturbation", "gradcm"]),
     ("saliency.methods.3", "unknown method 'gradcm'", "did you mean 'gradcam'?")),
    ("unknown_method_setting", set_key("saliency.extremal_perturbation", {"max_itr": 10}),
     ("saliency.extremal_perturbation.max_itr", "unknown key", "did you mean 'max_iter'?")),
    ("mistyped_method_setting", set_key("saliency.extremal_perturbation", {"max_iter": "ten"}),
     ("saliency.extremal_perturbation.max_iter", "'ten' is not of type 'integer'")),
    ("unknown_setting_value", set_key("saliency.extremal_perturbation", {"reward": "contrastiv"}),
     ("saliency.extremal_perturbation.reward", "unknown value 'contrastiv'", "did you mean 'contrastive'?")),
    ("unknown_random_model_method", set_key("saliency.random_model", {"methods": ["cam", "gradcm"]}),
     ("saliency.random_model.methods.1", "unknown method 'gradcm'", "did you mean 'gradcam'?")),
    ("unknown_random_model_setting", set_key("saliency.random_model", {"method": "gradcam"}),
     ("saliency.random_model.method", "unknown key", "did you mean 'methods'?")),
    ("shuffled_listed", set_key("saliency.methods", ["cam", "gradcam", "extremal_perturbation",
                                                     "shuffled_gradcam"]),
     ("saliency.methods.3", "'shuffled_gradcam' is not listed", "scored for every attention method")),
    ("unknown_metric", set_key("similarity.metrics", ["spearman", "ccc"]),
     ("similarity.metrics.1", "unknown value 'ccc'", "did you mean 'cc'?")),
    ("unknown_architecture", set_key("models", {"net": {"arch": "resnet81"}}),
     ("models.net.arch", "unknown value 'resnet81'", "did you mean 'resnet18'?")),
    ("head_without_cam", set_key("models", {"big": {"arch": "vgg16_bn"}}),
     ("models.big.arch", "vgg16_bn has an MLP head", "cam needs a global-average-pooling",
      "remove cam from saliency.methods")),
    ("split_fractions", set_key("dataset.split", {"train": 0.7, "val": 0.2, "test": 0.15}),
     ("dataset.split", "= 1.05, must be 1", "did you mean test: 0.1?")),
    ("unknown_attention_source", set_key("humans.simulated.attention", "gradcm"),
     ("humans.simulated.attention", "unknown attention source 'gradcm'", "did you mean 'gradcam'?")),
    ("unknown_model", set_key("recovery.model", "compct"),
     ("recovery.model", "unknown model 'compct'", "did you mean 'compact'?")),
    ("primary_not_computed", set_key("similarity.primary", "emd"),
     ("similarity.primary", "'emd'", "not in similarity.metrics")),
    ("missing_path", set_key("dataset.source", "imagefolder"),
     ("dataset.path", "required for dataset.source: imagefolder")),
    ("unknown_observer_parameter", set_key("humans.simulated.params", {"treshold": [0.6, 0.1]}),
     ("humans.simulated.params.treshold", "unknown key", "did you mean 'threshold'?")),
    ("external_named_like_a_method", set_key("saliency.external", {"gradcam": {"path": "x.npz"}}),
     ("saliency.external.gradcam", "is a method of the workflow")),
]


def assert_one_line(text: str, fragments: tuple[str, ...]) -> None:
    assert any(all(f in line for f in fragments) for line in text.splitlines()), (fragments, text)


@pytest.mark.parametrize("edit, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_one_line_naming_the_key_and_the_closest_value(edit, expected):
    found = problems(edit)
    assert len(found) == 1, found
    assert_one_line(found[0], expected)


def test_the_default_config_and_the_names_it_defines_are_valid():
    assert problems(lambda c: None) == []
    # Names the config defines are methods too: external maps and the baseline families.
    assert problems(lambda c: (set_key("saliency", {
        "methods": ["cam", "deepgaze", "random_model_gradcam", "random_model"],
        "external": {"deepgaze": {"path": "maps.npz"}}})(c),
        set_key("recovery.sources", ["regions", "deepgaze"])(c))) == []
    # An untrained network has no maps from outside.
    found = problems(set_key("saliency", {"methods": ["cam", "random_model_deepgaze"],
                                          "external": {"deepgaze": {"path": "maps.npz"}}}))
    assert any(p.startswith("saliency.methods.1: unknown method 'random_model_deepgaze'") for p in found)
    # A GAP-head architecture with CAM, and a VGG without it, are fine.
    assert problems(set_key("models", {"r": {"arch": "resnet18"}})) == []
    assert problems(lambda c: (set_key("models", {"v": {"arch": "vgg16_bn"}})(c),
                               set_key("saliency.methods", ["gradcam", "center"])(c),
                               set_key("recovery.sources", ["regions", "gradcam"])(c))) == []


def test_cam_on_the_untrained_network_is_a_head_mistake_too():
    found = problems(lambda c: (set_key("models", {"v": {"arch": "vgg16_bn"}})(c),
                                set_key("saliency.methods", ["gradcam", "random_model"])(c),
                                set_key("saliency.random_model", {"methods": ["cam"]})(c),
                                set_key("recovery.sources", ["regions"])(c)))
    assert len(found) == 1 and found[0].startswith("models.v.arch: vgg16_bn has an MLP head"), found


# --------------------------------------------------------------------------- through Snakemake

@pytest.mark.workflow
@pytest.mark.parametrize("edit, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_snakemake_stops_at_parse_time_and_starts_no_job(tmp_path, edit, expected):
    from test_bad_input import started_jobs
    from test_workflow import snakemake

    config = copy.deepcopy(DEFAULT)
    edit(config)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert_one_line(output, (str(tmp_path / "config.yaml"), "problem(s)"))
    assert_one_line(output, expected)
    assert started_jobs(output) == set(), output[-3000:]
    assert "Job stats:" not in output  # no DAG was built, let alone run
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_schema_and_other_problems_are_reported_together_without_their_consequences():
    config = copy.deepcopy(DEFAULT)
    config["saliency"].update(methods=["cam", "gradcm", 3], extremal_perturbation={"max_itr": 10})
    with pytest.raises(ValueError) as err:
        check_config(config, SCHEMA, ["my.yaml"])
    lines = str(err.value).splitlines()
    # (recovery.sources naming gradcam and extremal_perturbation, which these methods leave out,
    # are skipped by the recovery study, not errors: ferattention.config.recovery_sources)
    assert lines[0] == "config (my.yaml): 3 problem(s) with the keys of config.schema.yaml:", lines
    assert_one_line(str(err.value), ("saliency.extremal_perturbation.max_itr", "did you mean 'max_iter'?"))
    assert_one_line(str(err.value), ("saliency.methods.1", "unknown method 'gradcm'", "did you mean 'gradcam'?"))
    assert_one_line(str(err.value), ("saliency.methods.2: 3 is not of type 'string'",))
    assert not any("recovery.sources" in line for line in lines)
    assert not any(line.strip().startswith("saliency.methods.2: unknown") for line in lines)


@pytest.mark.workflow
def test_the_issue_example_stops_a_real_run_before_any_job(tmp_path):
    """`saliency: {methods: [cam, gradcm], extremal_perturbation: {max_itr: 10}}`:
    both mistakes in one message, and no job."""
    from test_bad_input import started_jobs
    from test_workflow import snakemake

    config = copy.deepcopy(DEFAULT)
    config["saliency"].update(methods=["cam", "gradcm"], extremal_perturbation={"max_itr": 10})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert_one_line(output, ("saliency.extremal_perturbation.max_itr", "did you mean 'max_iter'?"))
    assert_one_line(output, ("saliency.methods.1", "unknown method 'gradcm'", "did you mean 'gradcam'?"))
    assert started_jobs(output) == set(), output[-3000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_recovery_sources_skip_methods_the_run_leaves_out_but_not_misspellings():
    from ferattention.config import recovery_sources

    config = copy.deepcopy(DEFAULT)
    config["saliency"]["methods"] = ["cam", "center"]
    check_config(config, SCHEMA, ["my.yaml"])                # gradcam, EP: skipped, no error
    assert recovery_sources(config, ["cam", "center"]) == [
        "regions", "center", "eye_region"]
    config["recovery"]["sources"] = ["regions", "gradcm"]
    with pytest.raises(ValueError, match=r"recovery.sources.1: unknown attention source 'gradcm'"):
        check_config(config, SCHEMA, ["my.yaml"])


# --------------------------------------------------------------------------- training seeds

def with_seeds(**entry):
    """An edit that gives the default model ``compact`` the keys ``entry`` (``seed`` removed
    unless given)."""
    def edit(config):
        spec = config["models"]["compact"]
        spec.pop("seed", None)
        spec.update(entry)
    return edit


def test_seeds_beside_seed_replaces_it_and_is_no_problem():
    """`seeds`, when given, replaces `seed` (so that a config file can add seeds to a model of
    config.yaml, whose `seed` Snakemake's merge keeps beside them)."""
    from ferattention.instances import instances

    config = copy.deepcopy(DEFAULT)
    with_seeds(seed=0, seeds=[3, 1])(config)
    assert problems(with_seeds(seed=0, seeds=[3, 1])) == []
    check_config(config, SCHEMA, ["my.yaml"])
    validate(config, str(SCHEMA))
    assert instances(config["models"]) == ["compact/seed-3", "compact/seed-1"]


@pytest.mark.parametrize("seeds, expected", [
    ([], ("models.compact.seeds", "[] should be non-empty")),
    ([1, 1], ("models.compact.seeds", "[1, 1]", "non-unique")),
    ([0, "one"], ("models.compact.seeds.1", "'one' is not of type 'integer'")),
], ids=["empty", "repeated", "not_integers"])
def test_bad_seeds_lists_are_schema_errors(seeds, expected):
    found = problems(with_seeds(seeds=seeds))
    assert len(found) == 1, found
    assert_one_line(found[0], expected)
    config = copy.deepcopy(DEFAULT)
    with_seeds(seeds=seeds)(config)
    with pytest.raises(ValueError, match="problem\\(s\\) with the keys of config.schema.yaml"):
        check_config(config, SCHEMA, ["my.yaml"])


def test_a_seeds_list_alone_is_valid_and_the_defaults_leave_it_in_place():
    assert problems(with_seeds(seeds=[0, 1, 2])) == []
    config = copy.deepcopy(DEFAULT)
    with_seeds(seeds=[2, 0])(config)
    check_config(config, SCHEMA, ["my.yaml"])
    validate(config, str(SCHEMA))
    from ferattention.instances import instances
    assert instances(config["models"]) == ["compact/seed-2", "compact/seed-0"]


@pytest.mark.workflow
def test_a_config_file_adds_seeds_to_the_model_of_config_yaml(tmp_path):
    """`--configfile seeds.yaml` with `models: {compact: {seeds: [0, 1]}}` over a
    config.yaml whose compact has `seed: 0`: Snakemake merges the two entries, and the run
    trains both instances."""
    from test_instances import dry_run_jobs
    from test_workflow import snakemake

    base = copy.deepcopy(DEFAULT)
    base["models"]["compact"] = {k: v for k, v in base["models"]["compact"].items() if k != "seeds"}
    base["models"]["compact"]["seed"] = 0  # a one-seed config.yaml, as a lab's may be
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "seeds.yaml").write_text(yaml.safe_dump({"models": {"compact": {"seeds": [0, 1]}}}))
    result = snakemake(tmp_path, "-n", "--configfile", str(tmp_path / "config.yaml"),
                       str(tmp_path / "seeds.yaml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    train = sorted(wc["seed"] for rule, wc, _ in dry_run_jobs(output) if rule == "train")
    assert train == ["0", "1"]
