"""The methods × metrics matrix and the robustness-curve figure."""

import pytest

from robinterp.analysis.figures import plot_methods_matrix, plot_robustness_curves
from robinterp.analysis.matrix import matrix_metrics, matrix_rows

EVAL = {"n": 100, "clean_accuracy": 97.0, "pgd_l2_accuracy": 60.0, "pgd_linf_accuracy": 40.0}
ATTRIBUTION = {"clean_accuracy": 96.0, "alignment_mean": 0.15, "alignment_std": 0.1, "ig_gini_mean": 0.5,
               "ig_topk_intersection_adv_mean": 0.9, "shap_gini_mean": 0.78}
SYNTHESIS = {"fid_judge": 80.0, "judge_accuracy": 71.5, "judge_l2_inv1": 4.2, "judge_l2_inv1_std": 1.0,
             "judge_l2_inv2": 4.7, "pixel_l2_inv1": 8.0}
ETMANN = {"median_alignment": 0.16, "median_linearised_robustness": 3.9, "median_boundary_distance": 2.75, "n": 90}


def test_a_row_takes_every_accuracy_and_the_named_columns_in_order():
    row = matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN)
    assert list(row) == ["clean_accuracy", "pgd_l2_accuracy", "pgd_linf_accuracy", "alignment_mean", "ig_gini_mean",
                         "ig_topk_intersection_adv_mean", "fid_judge", "judge_accuracy", "judge_l2_inv1",
                         "judge_l2_inv2", "median_linearised_robustness", "median_boundary_distance"]
    assert row["clean_accuracy"] == 97.0  # the evaluation's, not the attribution subset's
    inception = matrix_metrics(EVAL, ATTRIBUTION, {"fid": 88.0, "inception192_l2_inv1": 20.0}, ETMANN)
    assert "fid" in inception and "fid_judge" not in inception


def test_rows_are_long_and_every_method_must_have_the_same_columns():
    rows = {"standard": matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN),
            "sgt": matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN)}
    long = matrix_rows("digits", rows)
    assert len(long) == 2 * 12 and long[0] == {"dataset": "digits", "model": "standard", "metric": "clean_accuracy",
                                                 "value": 97.0, "paper": ""}
    rows["sgt"] = matrix_metrics(EVAL, ATTRIBUTION, {}, ETMANN)  # a method that skipped synthesis
    with pytest.raises(ValueError, match="same analyses"):
        matrix_rows("digits", rows)


def test_figures_are_written(tmp_path):
    rows = {"standard": matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN),
            "robust": matrix_metrics({**EVAL, "pgd_l2_accuracy": 70.0}, ATTRIBUTION, SYNTHESIS,
                                     {**ETMANN, "median_boundary_distance": float("inf")})}
    plot_methods_matrix(rows, "digits", [tmp_path / "m.png", tmp_path / "m.pdf"])
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "m.pdf").read_bytes()[:4] == b"%PDF"
    curves = {"standard": {"fgsm": [{"eps": 0.0, "accuracy": 97.0}, {"eps": 0.1, "accuracy": 10.0}]},
              "robust": {"fgsm": [{"eps": 0.0, "accuracy": 96.0}, {"eps": 0.1, "accuracy": 80.0}]}}
    plot_robustness_curves(curves, "digits", [tmp_path / "c.png"])
    assert (tmp_path / "c.png").stat().st_size > 5_000
    with pytest.raises(ValueError, match="no attacks"):
        plot_robustness_curves({"standard": {}}, "digits", [tmp_path / "x.png"])
