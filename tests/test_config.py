"""The config layer: one schema validates the config and every section a job receives; errors name the key and the
rule; sections become typed settings objects (robinterp.base.config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robinterp.analysis.settings import EtmannSettings
from robinterp.attacks.settings import CurvesSettings, EvaluationSettings
from robinterp.attacks.spec import AttackSpec
from robinterp.base.config import from_dict, settings_from_json, validate_config, validate_section
from robinterp.base.errors import ConfigError
from robinterp.cli.main import main
from robinterp.training.settings import TrainSettings, method_train_section

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ["config.yaml", "config/demo.yaml", ".test/config.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_the_shipped_configs_are_valid(name):
    validate_config(load(name))


@pytest.mark.parametrize("name", sorted({*CONFIGS, *(f"config/{p.name}" for p in (REPO / "config").glob("*.yaml"))}))
def test_every_trained_method_of_the_shipped_configs_becomes_its_training_settings(name):
    """What the schema cannot see (an objective's parameters, fgsm_rs's and free's one-step attacks, the ε warm-up's
    order) is checked when a training job builds its settings: every method of every shipped config passes."""
    for dataset_name, dataset in load(name)["datasets"].items():
        for method, spec in dataset["methods"].items():
            if "pretrained" in spec:
                continue  # imported, not trained
            where = f"datasets.{dataset_name}.methods.{method}"
            section = method_train_section(dataset, method)
            validate_section(section, TrainSettings.SCHEMA, where)
            settings = from_dict(TrainSettings, section, where)
            assert settings.training_objective().name in {(spec.get("objective") or {}).get("name"), "standard",
                                                          "adversarial"}


def test_the_workflow_validates_with_the_packages_schema():
    """One schema file: the workflow's path is a link to the package's."""
    assert (REPO / "workflow/schemas/config.schema.yaml").resolve() == \
        (REPO / "src/robinterp/base/config.schema.yaml").resolve()


@pytest.mark.parametrize("attack,key,rule", [
    ({"kind": "cw", "norm": "l2", "eps": 1.0}, "kind", "enum"),
    ({"norm": "l1", "eps": 1.0, "step_size": 0.1, "steps": 3}, "norm", "enum"),
    ({"norm": "l2", "eps": -1.0, "step_size": 0.1, "steps": 3}, "eps", "exclusiveMinimum"),
    ({"norm": "l2", "eps": 1.0, "step_size": 0.0, "steps": 3}, "step_size", "exclusiveMinimum"),
    ({"norm": "l2", "eps": 1.0, "step_size": 0.1}, "", "required"),
    ({"kind": "mifgsm", "norm": "linf", "eps": 0.1, "steps": 0}, "steps", "minimum"),
    ({"kind": "mifgsm", "norm": "linf", "eps": 0.1, "steps": 2.5}, "steps", "type"),
    ({"kind": "mifgsm", "norm": "linf", "eps": 0.1, "steps": 3, "decay": -1.0}, "decay", "minimum"),
    ({"kind": "autoattack", "norm": "linf", "eps": 0.1, "version": "fast"}, "version", "enum"),
    ({"kind": "autoattack", "norm": "linf", "eps": 0.1, "max_examples": 0}, "max_examples", "minimum"),
    ({"kind": "autoattack", "norm": "linf", "eps": 0.1, "stepz": 3}, "", "additionalProperties"),
])
def test_an_evaluation_attack_error_names_the_key_and_the_rule(attack, key, rule):
    where = "datasets.cifar10.evaluation"
    path = f"{where}.attacks.bad" + (f".{key}" if key else "")
    with pytest.raises(ConfigError, match=rf"^{path}: .*\(schema rule {rule}"):
        validate_section({"batch_size": 10, "attacks": {"bad": attack}}, "evaluation", where)


def test_a_training_attack_must_be_pgd_and_may_be_null():
    validate_section({"epochs": 1, "batch_size": 2, "optimizer": "sgd", "lr": 0.1, "attack": None}, "train_job", "t")
    with pytest.raises(ConfigError, match=r"^t\.attack\.kind: 'pgd' was expected"):
        validate_section({"epochs": 1, "batch_size": 2, "optimizer": "sgd", "lr": 0.1,
                          "attack": {"kind": "fgsm", "norm": "linf", "eps": 0.1}}, "train_job", "t")


def test_only_the_synthesis_procedures_may_leave_eps_unconstrained():
    """eps null (no ball, only [0, 1]) is the synthesis procedures' "ε = 1000"; everywhere else it is refused by key."""
    config = load("config/demo.yaml")
    synthesis = config["datasets"]["digits"]["synthesis"]
    assert synthesis["inversion"]["attack"]["eps"] is None and synthesis["visualisation"]["attack"]["eps"] is None
    synthesis["generation"]["attack"]["eps"] = None
    validate_config(config)
    section = {"batch_size": 10, "attacks": {"bad": {"norm": "l2", "eps": None, "step_size": 0.1, "steps": 3}}}
    with pytest.raises(ConfigError, match=r"^e\.attacks\.bad\.eps: None is not of type 'number'"):
        validate_section(section, "evaluation", "e")
    with pytest.raises(ConfigError, match=r"^t\.attack\.eps: None is not of type 'number'"):
        validate_section({"epochs": 1, "batch_size": 2, "optimizer": "sgd", "lr": 0.1,
                          "attack": {"norm": "l2", "eps": None, "step_size": 0.1, "steps": 3}}, "train_job", "t")


@pytest.mark.parametrize("section,where,message", [
    ("evaluation", "attacks.pgd_l2", "steps: 5 steps of 0.25 travel at most 1.25 < eps 2"),
    ("curves", "attacks.pgd_l2.attack", "steps: 5 steps of 0.25 travel at most 1.25 < eps 2"),
    ("etmann", "", "step_size_ratio: 2 steps of 0.25·ε travel at most 0.5·ε < ε"),
])
def test_an_attack_that_cannot_reach_its_budget_is_named_by_its_path(section, where, message):
    config = load("config/demo.yaml")["datasets"]["digits"]
    values = config[section]
    if section == "etmann":
        values["steps"] = 2
    else:
        attack = values["attacks"]["pgd_l2"] if section == "evaluation" else values["attacks"]["pgd_l2"]["attack"]
        attack.update(step_size=0.25, steps=5)
    cls = {"evaluation": EvaluationSettings, "curves": CurvesSettings, "etmann": EtmannSettings}[section]
    path = ".".join(p for p in (f"datasets.digits.{section}", where) if p)
    with pytest.raises(ConfigError, match=rf"^invalid value in {path}: {message}"):
        from_dict(cls, values, f"datasets.digits.{section}")


def test_a_misspelt_key_of_a_method_schedule_is_named():
    config = load("config/demo.yaml")
    config["datasets"]["digits"]["methods"]["sgt"]["train"] = {"epoch": 3}
    with pytest.raises(ConfigError, match=r"^datasets\.digits\.methods\.sgt\.train: .*'epoch' was unexpected"):
        validate_config(config)


def test_a_section_becomes_its_typed_settings_with_nested_attacks():
    section = load("config/demo.yaml")["datasets"]["digits"]["evaluation"]
    settings = settings_from_json(EvaluationSettings, json.dumps(section), "--settings", "x")
    assert isinstance(settings.attacks["pgd_l2"], AttackSpec) and settings.attacks["pgd_l2"].kind == "pgd"
    assert settings.attacks["autoattack_linf"].max_examples == section["attacks"]["autoattack_linf"]["max_examples"]
    curves = settings_from_json(CurvesSettings, json.dumps(load("config/demo.yaml")["datasets"]["digits"]["curves"]),
                                "--settings", "x")
    assert curves.attacks["fgsm"].attack.kind == "fgsm" and curves.attacks["fgsm"].eps[0] == 0.0
    etmann = load("config/demo.yaml")["datasets"]["digits"]["etmann"]
    assert settings_from_json(EtmannSettings, json.dumps(etmann), "--settings", "x").n_images == etmann["n_images"]


def test_a_setting_that_does_not_fit_an_attack_names_its_path():
    with pytest.raises(ConfigError, match=r"datasets\.d\.evaluation\.attacks\.f.*norm: fgsm is an L∞ attack"):
        from_dict(EvaluationSettings, {"batch_size": 1, "attacks": {"f": {"kind": "fgsm", "norm": "l2", "eps": 1}}},
                  "datasets.d.evaluation")


def test_a_job_refuses_a_section_its_schema_refuses_before_loading_anything(tmp_path):
    bad = {"epochs": 0, "batch_size": 2, "optimizer": "sgd", "lr": 0.1}
    with pytest.raises(ConfigError, match=r"datasets\.d\.train\.epochs: 0 is less than the minimum of 1"):
        settings_from_json(TrainSettings, json.dumps(bad), "--train-settings", "datasets.d.train")


def test_prepare_with_an_incomplete_section_names_the_missing_key(tmp_path, caplog):
    code = main(["prepare", "--settings", json.dumps({"source": "cifar10"}), "--out", str(tmp_path / "d"),
                 "--where", "datasets.cifar10.prepare"])
    assert code == 1
    assert "datasets.cifar10.prepare: 'archive' is a required property" in caplog.text
    assert not (tmp_path / "d").exists()
