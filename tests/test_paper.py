"""The paper's numbers and whether a run's number compares like for like with them (robinterp.base.paper)."""

import copy

import pytest
import yaml

from pathlib import Path

from robinterp.base.paper import LIKE_FOR_LIKE, paper_comparison
from robinterp.base.tables import long_rows

REPO = Path(__file__).resolve().parents[1]


def run_settings(spec: dict) -> dict:
    """The run settings the workflow passes (workflow/rules/common.smk: paper_run_settings), built the same way."""
    synthesis = spec["synthesis"]
    source = {m: (s or {}).get("pretrained", {}).get("source") for m, s in spec["methods"].items()}
    return {"arch": spec["model"]["arch"],
            "epochs": {m: "imported" if source[m] else {**spec["train"], **s.get("train", {})}["epochs"]
                       for m, s in spec["methods"].items()},
            "attack": {m: {"imported": source[m]} if source[m] else s.get("attack") for m, s in spec["methods"].items()},
            "evaluation": spec["evaluation"]["attacks"],
            "generation": {**synthesis["generation"]["attack"], "per_class": synthesis["generation"]["per_class"]},
            "inversion": synthesis["inversion"]["attack"], "features": synthesis["features"]}


@pytest.fixture(scope="module")
def paper_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.mark.parametrize("dataset", ["cifar10", "smallimagenet150"])
@pytest.mark.parametrize("model,metric", [("standard", "clean_accuracy"), ("robust_l2", "pgd_l2_accuracy"),
                                          ("robust_l2", "fid"), ("standard", "inception192_l2_inv1"),
                                          ("real_data", "fid")])
def test_the_paper_config_compares_like_for_like(paper_config, dataset, model, metric):
    run = run_settings(paper_config["datasets"][dataset])
    assert paper_comparison(dataset, model, metric, run) == LIKE_FOR_LIKE


def test_a_small_cpu_run_names_every_setting_that_differs(paper_config):
    spec = yaml.safe_load((REPO / "config" / "cifar10_cpu.yaml").read_text())["datasets"]["cifar10"]
    run = run_settings(spec)
    note = paper_comparison("cifar10", "robust_l2", "pgd_l2_accuracy", run)
    assert note.startswith("differs: ")
    for expected in ("arch: ours resnet_small (paper resnet18_cifar)", "epochs: ours 3 (paper 100)",
                     "training attack.steps: ours 3 (paper 20)"):
        assert expected in note, note
    assert "pgd_l2 attack" not in note  # the evaluation attack is the paper's
    fid = paper_comparison("cifar10", "robust_l2", "fid", run)
    assert "generation.per_class: ours 20 (paper 1000)" in fid and "features: ours judge (paper inception)" in fid


def test_one_changed_evaluation_setting_is_enough_to_differ(paper_config):
    spec = copy.deepcopy(paper_config["datasets"]["cifar10"])
    spec["evaluation"]["attacks"]["pgd_l2"]["steps"] = 10
    note = paper_comparison("cifar10", "robust_l2", "pgd_l2_accuracy", run_settings(spec))
    assert note == "differs: pgd_l2 attack.steps: ours 10 (paper 20)"
    assert paper_comparison("cifar10", "robust_l2", "clean_accuracy", run_settings(spec)) == LIKE_FOR_LIKE


def test_an_imported_method_never_compares_like_for_like_whatever_its_name(paper_config):
    spec = copy.deepcopy(paper_config["datasets"]["cifar10"])
    spec["methods"]["standard"] = {"pretrained": {"source": "robustbench", "name": "Standard", "threat_model": "L2",
                                                  "model_dir": "m"}}
    spec["methods"]["robust_l2"] = {"pretrained": {"source": "robustbench", "name": "Engstrom2019Robustness",
                                                   "threat_model": "L2", "model_dir": "m"}}
    run = run_settings(spec)
    note = paper_comparison("cifar10", "standard", "clean_accuracy", run)
    assert note == "differs: epochs: ours imported (paper 100); training attack: ours {'imported': 'robustbench'} " \
                   "(paper None)", note
    note = paper_comparison("cifar10", "robust_l2", "pgd_l2_accuracy", run)
    assert "epochs: ours imported (paper 100)" in note and "training attack.eps: ours None (paper 0.5)" in note


def test_cells_without_a_paper_number_or_without_settings():
    assert paper_comparison("cifar10", "sgt", "clean_accuracy", None) == ""
    assert paper_comparison("digits", "standard", "clean_accuracy", None) == ""
    assert paper_comparison("cifar10", "standard", "clean_accuracy", None) == "differs: settings unknown"


def test_table_rows_carry_the_comparison(paper_config):
    run = run_settings(paper_config["datasets"]["cifar10"])
    rows = long_rows("cifar10", "standard", [{"clean_accuracy": 93.0, "sgt_x": 1.0}], ["clean_accuracy"], run)
    assert rows[0]["paper"] == 93.2 and rows[0]["paper_comparison"] == LIKE_FOR_LIKE
