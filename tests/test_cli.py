"""Bad input ends with one message naming the file or key and the fix, and leaves no output behind."""

import json
import subprocess
import sys

import pytest

from robinterp.cli.main import main
from robinterp.base.config import from_dict
from robinterp.training.settings import TrainSettings
from robinterp.base.errors import ConfigError
from robinterp.base.tables import long_rows, read_table, write_table

MODEL = json.dumps({"arch": "resnet_small", "mean": [0.1307], "std": [0.3081]})
TRAIN = json.dumps({"epochs": 1, "batch_size": 32, "optimizer": "sgd", "lr": 0.1, "selection": "last"})


def test_missing_prepared_data_is_named_and_nothing_is_written(tmp_path, caplog):
    out = tmp_path / "model.pt"
    code = main(["train", "--data", str(tmp_path / "nowhere"), "--model-settings", MODEL, "--train-settings", TRAIN,
                 "--checkpoint", str(tmp_path / "r.pt"), "--history", str(tmp_path / "h.csv"), "--out", str(out)])
    assert code == 1
    assert f"{tmp_path / 'nowhere' / 'meta.json'} is missing" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_missing_cifar_archive_names_the_path(tmp_path, caplog):
    archive = tmp_path / "raw" / "cifar-10-python.tar.gz"
    code = main(["prepare", "--settings", json.dumps({"source": "cifar10", "archive": str(archive), "download": False}),
                 "--out", str(tmp_path / "data")])
    assert code == 1 and str(archive) in caplog.text
    assert not (tmp_path / "data" / "meta.json").exists()


def test_unknown_training_key_names_the_key_and_its_section():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['epoch'\] in datasets\.x\.train"):
        from_dict(TrainSettings, {"epoch": 3, "batch_size": 1, "optimizer": "sgd", "lr": 0.1}, "datasets.x.train")
    with pytest.raises(ConfigError, match=r"datasets\.x\.train\.attack"):
        from_dict(TrainSettings, {"epochs": 3, "batch_size": 1, "optimizer": "sgd", "lr": 0.1, "selection": "last",
                                  "attack": {"norm": "l3", "eps": 1, "step_size": 1, "steps": 1, "rnd": True}},
                  "datasets.x.train")


def test_unknown_prepare_source_names_the_key(tmp_path, caplog):
    code = main(["prepare", "--settings", json.dumps({"source": "cifar100"}), "--out", str(tmp_path),
                 "--where", "datasets.c.prepare"])
    assert code == 1 and "datasets.c.prepare.source: 'cifar100' is not one of" in caplog.text


def test_tables_fill_the_paper_column_only_where_the_paper_has_a_number(tmp_path):
    rows = long_rows("cifar10", "robust_l2", [{"clean_accuracy": 84.5, "pgd_l2_accuracy": 60.0, "n": 10}],
                     ["clean_accuracy", "pgd_l2_accuracy"])
    rows += long_rows("digits", "standard", [{"clean_accuracy": 98.0}], ["clean_accuracy"])
    write_table(tmp_path / "t.csv", rows)
    table = read_table(tmp_path / "t.csv")
    assert [(r["metric"], r["value"], r["std"], r["n"], r["paper"]) for r in table] == [
        ("clean_accuracy", "84.5000", "", "1", "85.0"), ("pgd_l2_accuracy", "60.0000", "", "1", "64.6"),
        ("clean_accuracy", "98.0000", "", "1", "")]
    with pytest.raises(KeyError, match="pgd_l2_accuracy"):
        long_rows("cifar10", "standard", [{"clean_accuracy": 1.0}], ["clean_accuracy", "pgd_l2_accuracy"])


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "robinterp", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


def test_atomic_outputs_get_the_permissions_of_normally_created_files(tmp_path):
    import os

    from robinterp.base.io import write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644
