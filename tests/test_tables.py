"""The long table format (robinterp.base.tables): a metric over a model's replicates is its mean, sample std and n."""

import json
import math

import numpy as np
import pytest

from robinterp.base.tables import (COLUMNS, long_rows, read_table, summarise_metrics, summarise_replicates,
                                   write_metrics_table)
from robinterp.cli.arguments import replicate_pairs
from robinterp.cli.main import main


@pytest.mark.parametrize("values", [[97.2, 96.4], [0.074, 0.213, 0.092, 0.264, 0.32], [1e6, 1e6 + 1, 1e6 - 3]])
def test_the_summary_is_numpys_mean_and_sample_std(values):
    s = summarise_replicates(values)
    assert s.value == pytest.approx(np.mean(values), rel=1e-12)
    assert s.std == pytest.approx(np.std(values, ddof=1), rel=1e-9) and s.n == len(values)


def test_one_replicate_has_no_std_and_equal_replicates_a_zero_one():
    s = summarise_replicates([3.5])
    assert (s.value, s.std, s.n) == (3.5, None, 1)
    assert summarise_replicates([2.0, 2.0, 2.0]).std == 0.0
    with pytest.raises(ValueError):
        summarise_replicates([])


def test_a_non_finite_replicate_gives_numpys_answer_without_a_warning(recwarn):
    s = summarise_replicates([math.inf, 2.0])
    assert s.value == math.inf and math.isnan(s.std) and s.n == 2
    assert not recwarn.list


def test_every_replicate_must_have_every_metric():
    with pytest.raises(KeyError, match=r"'b' missing for digits/sgt \(replicate 1\)"):
        summarise_metrics([{"a": 1.0, "b": 2.0}, {"a": 1.0}], ["a", "b"], "digits/sgt")


def test_a_table_from_two_replicate_jsons(tmp_path):
    replicates = [{"clean_accuracy": 97.2, "pgd_l2_accuracy": 0.6}, {"clean_accuracy": 96.4, "pgd_l2_accuracy": 2.2}]
    paths = []
    for k, metrics in enumerate(replicates):
        paths.append(tmp_path / f"seed{k}.json")
        paths[-1].write_text(json.dumps(metrics))
    (tmp_path / "robust.json").write_text(json.dumps({"clean_accuracy": 97.6, "pgd_l2_accuracy": 67.7}))
    out = tmp_path / "table1_accuracy.csv"
    args = ["table", "--dataset", "digits", "--metrics", *[f"standard={p}" for p in paths],
            f"robust_l2={tmp_path / 'robust.json'}", "--keep", "clean_accuracy,pgd_l2_accuracy", "--out", str(out)]
    assert main(args) == 0
    assert out.read_text().splitlines()[0] == "dataset,model,metric,value,std,n,paper,paper_comparison" == ",".join(COLUMNS)
    rows = read_table(out)
    assert [(r["model"], r["metric"]) for r in rows] == [(m, k) for m in ("standard", "robust_l2")
                                                         for k in ("clean_accuracy", "pgd_l2_accuracy")]
    for row, metric in zip(rows[:2], ("clean_accuracy", "pgd_l2_accuracy")):
        values = [r[metric] for r in replicates]
        assert row["value"] == f"{np.mean(values):.4f}" and row["std"] == f"{np.std(values, ddof=1):.4f}"
        assert row["n"] == "2" and row["paper"] == ""
    assert [(r["value"], r["std"], r["n"]) for r in rows[2:]] == [("97.6000", "", "1"), ("67.7000", "", "1")]
    # the same through the function, with the dataset in the name (table 7's way)
    assert write_metrics_table({"digits:standard": paths}, None, ["clean_accuracy"], tmp_path / "t7.csv") == 1
    assert read_table(tmp_path / "t7.csv")[0]["std"] == f"{np.std([97.2, 96.4], ddof=1):.4f}"


def test_a_model_named_once_per_replicate_keeps_its_replicates_in_order():
    assert replicate_pairs(["a=x0", "b=y0", "a=x1"], "--metrics") == {"a": ["x0", "x1"], "b": ["y0"]}


def test_rows_keep_the_papers_number_beside_the_mean():
    rows = long_rows("cifar10", "standard", [{"clean_accuracy": 93.0}, {"clean_accuracy": 94.0}], ["clean_accuracy"])
    assert rows == [{"dataset": "cifar10", "model": "standard", "metric": "clean_accuracy", "value": 93.5,
                     "std": pytest.approx(np.std([93.0, 94.0], ddof=1)), "n": 2, "paper": 93.2,
                     "paper_comparison": "differs: settings unknown"}]
