"""The methods × metrics matrix and the robustness-curve figure."""

import json

import numpy as np
import pytest

from robinterp.analysis.figures import (_matrix_text, mean_curve, plot_methods_matrix, plot_robustness_curves,
                                        plot_robustness_vs_interpretability, spearman)
from robinterp.analysis.job import methods_matrix
from robinterp.analysis.matrix import matrix_metrics, matrix_rows, read_matrix, summarise_methods
from robinterp.base.tables import COLUMNS, read_table, write_table

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
    rows = {"standard": [matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN)],
            "sgt": [matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN)]}
    long = matrix_rows("digits", summarise_methods(rows))
    assert len(long) == 2 * 12 and long[0] == {"dataset": "digits", "model": "standard", "metric": "clean_accuracy",
                                                 "value": 97.0, "std": None, "n": 1, "paper": ""}
    rows["sgt"] = [matrix_metrics(EVAL, ATTRIBUTION, {}, ETMANN)]  # a method that skipped synthesis
    with pytest.raises(ValueError, match="same analyses"):
        summarise_methods(rows)
    rows["sgt"] = [matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN), matrix_metrics(EVAL, ATTRIBUTION, {}, ETMANN)]
    with pytest.raises(ValueError, match=r"'sgt' \(replicate 1\)"):  # nor may one of its replicates
        summarise_methods(rows)


def test_a_method_with_replicates_gets_their_mean_sample_std_and_number(tmp_path):
    accuracies = [97.0, 95.5, 96.1]
    files = {"evaluation": {}, "attribution": {}, "etmann": {}}
    synthesis = {}
    for model, n in (("standard", 3), ("sgt", 1)):
        for kind in files:
            files[kind][model] = []
        synthesis[model] = []
        for k in range(n):
            for kind, metrics in (("evaluation", {**EVAL, "clean_accuracy": accuracies[k]}),
                                  ("attribution", ATTRIBUTION), ("etmann", ETMANN)):
                path = tmp_path / f"{kind}_{model}_{k}.json"
                path.write_text(json.dumps(metrics))
                files[kind][model].append(path)
            synthesis[model].append({**SYNTHESIS, "fid_judge": 80.0 + k})
    synthesis["real_data"] = [{"fid_judge": 1.0}]
    (tmp_path / "synthesis.json").write_text(json.dumps(synthesis))
    out = [tmp_path / "m.png"]
    methods_matrix("digits", files["evaluation"], files["attribution"], files["etmann"], tmp_path / "synthesis.json",
                   tmp_path / "m.csv", out)
    table = read_table(tmp_path / "m.csv")
    assert list(table[0]) == COLUMNS
    cells = {(r["model"], r["metric"]): r for r in table}
    clean = cells[("standard", "clean_accuracy")]
    assert float(clean["value"]) == pytest.approx(np.mean(accuracies), abs=1e-4)
    assert float(clean["std"]) == pytest.approx(np.std(accuracies, ddof=1), abs=1e-4) and clean["n"] == "3"
    assert cells[("standard", "fid_judge")]["value"] == "81.0000" and cells[("standard", "fid_judge")]["std"] == "1.0000"
    assert cells[("standard", "alignment_mean")]["std"] == "0.0000"  # equal replicates: std 0, not empty
    assert cells[("sgt", "clean_accuracy")]["std"] == "" and cells[("sgt", "clean_accuracy")]["n"] == "1"
    assert out[0].stat().st_size > 5_000
    summaries = summarise_methods({"a": [{"x": 1.0}, {"x": 2.0}], "b": [{"x": float("inf")}]})
    assert _matrix_text(summaries["a"]["x"]) == "1.5\n± 0.71" and _matrix_text(summaries["b"]["x"]) == "∞"
    files["attribution"]["standard"].pop()
    with pytest.raises(Exception, match="2 replicates of standard"):
        methods_matrix("digits", files["evaluation"], files["attribution"], files["etmann"],
                       tmp_path / "synthesis.json", tmp_path / "m2.csv", out)


def test_figures_are_written(tmp_path):
    rows = {"standard": [matrix_metrics(EVAL, ATTRIBUTION, SYNTHESIS, ETMANN)],
            "robust": [matrix_metrics({**EVAL, "pgd_l2_accuracy": 70.0}, ATTRIBUTION, SYNTHESIS,
                                      {**ETMANN, "median_boundary_distance": float("inf")})]}
    plot_methods_matrix(summarise_methods(rows), "digits", [tmp_path / "m.png", tmp_path / "m.pdf"])
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "m.pdf").read_bytes()[:4] == b"%PDF"
    curves = {"standard": [{"fgsm": [{"eps": 0.0, "accuracy": 97.0}, {"eps": 0.1, "accuracy": 10.0}]}],
              "robust": [{"fgsm": [{"eps": 0.0, "accuracy": 96.0}, {"eps": 0.1, "accuracy": 80.0}]},
                         {"fgsm": [{"eps": 0.0, "accuracy": 94.0}, {"eps": 0.1, "accuracy": 70.0}]}]}
    plot_robustness_curves(curves, "digits", [tmp_path / "c.png"])
    assert (tmp_path / "c.png").stat().st_size > 5_000
    with pytest.raises(ValueError, match="no attacks"):
        plot_robustness_curves({"standard": [{}]}, "digits", [tmp_path / "x.png"])


def test_every_method_of_eleven_gets_its_own_line_colour(tmp_path, monkeypatch):
    # matplotlib's colour cycle repeats after ten lines: the demo's eleventh method took the first one's blue.
    from matplotlib.colors import to_rgba

    import robinterp.analysis.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, paths: drawn.append(fig))
    curves = {f"m{i}": [{"fgsm": [{"eps": 0.0, "accuracy": 90.0 - i}, {"eps": 0.1, "accuracy": 50.0 - i}]}]
              for i in range(11)}
    plot_robustness_curves(curves, "digits", [tmp_path / "c.png"])
    assert len({to_rgba(line.get_color()) for line in drawn[0].axes[0].get_lines()}) == 11


def test_a_robustness_curve_over_replicates_is_their_mean_and_sample_std_per_eps():
    eps, points = mean_curve([[{"eps": 0.0, "accuracy": 96.0}, {"eps": 0.1, "accuracy": 80.0}],
                              [{"eps": 0.0, "accuracy": 94.0}, {"eps": 0.1, "accuracy": 70.0}]])
    assert eps == [0.0, 0.1] and [p.value for p in points] == [95.0, 75.0]
    assert [p.std for p in points] == pytest.approx([np.std([96, 94], ddof=1), np.std([80, 70], ddof=1)])
    with pytest.raises(ValueError, match="replicate 1 has ε"):
        mean_curve([[{"eps": 0.0, "accuracy": 96.0}], [{"eps": 0.5, "accuracy": 94.0}]])


def test_robust_accuracy_against_interpretability_from_the_matrix_csv(tmp_path):
    rows = {name: [matrix_metrics({**EVAL, "pgd_l2_accuracy": acc}, {**ATTRIBUTION, "alignment_mean": align},
                                  SYNTHESIS, ETMANN) for acc, align in replicates]
            for name, replicates in {"standard": [(1.0, 0.07)], "robust": [(60.0, 0.2), (64.0, 0.24)],
                                     "imported": [(40.0, 0.15)]}.items()}
    summaries = summarise_methods(rows)
    methods_csv = tmp_path / "methods_matrix.csv"
    write_table(methods_csv, matrix_rows("digits", summaries))
    back = read_matrix(methods_csv)
    assert list(back) == ["standard", "robust", "imported"] and back["robust"]["pgd_l2_accuracy"].n == 2
    assert back["robust"]["alignment_mean"].value == pytest.approx(0.22)
    assert back["robust"]["alignment_mean"].std == pytest.approx(np.std([0.2, 0.24], ddof=1), abs=1e-4)
    plot_robustness_vs_interpretability(back, "pgd_l2_accuracy", "digits", [tmp_path / "r.png", tmp_path / "r.pdf"])
    assert (tmp_path / "r.png").stat().st_size > 10_000 and (tmp_path / "r.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="'autoattack_accuracy' is not a metric of"):
        plot_robustness_vs_interpretability(back, "autoattack_accuracy", "digits", [tmp_path / "x.png"])
    # Spearman's ρ of the panels: ranks, NaN below three pairs or for a constant
    assert spearman([1, 40, 62], [0.07, 0.15, 0.22]) == pytest.approx(1.0)
    assert spearman([1, 40, 62], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(spearman([1, 2], [1, 2])) and np.isnan(spearman([1, 2, 3], [5, 5, 5]))
