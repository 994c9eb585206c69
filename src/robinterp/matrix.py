"""The methods × metrics matrix: every training method's robustness and interpretability side by side.

One row per method of a dataset; the columns come from the outputs every
method's checkpoint goes through (issue 6):

- evaluation (``robinterp.evaluation``): clean accuracy and the accuracy under
  every configured attack (PGD-L2, PGD-L∞, AutoAttack, …);
- attribution (``robinterp.explanations``): alignment, IG sparsity (Gini) and the
  IG top-k intersection under attack;
- synthesis (``robinterp.synthesis_jobs``): FID (or ``fid_judge`` and the judge's
  accuracy) of class generation and the inversion distance;
- Etmann's analysis (``robinterp.etmann``): median linearised robustness and
  median boundary distance.

Written in the package's long table schema (``dataset,model,metric,value,paper``)
and drawn as a heat map with one colour scale per column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from robinterp.plots import new_figure, save_figure

ATTRIBUTION_COLUMNS = ("alignment_mean", "ig_gini_mean", "ig_topk_intersection_adv_mean")
SYNTHESIS_COLUMNS = ("fid", "fid_judge", "judge_accuracy", "inception192_l2_inv1", "inception192_l2_inv2",
                     "judge_l2_inv1", "judge_l2_inv2")
ETMANN_COLUMNS = ("median_linearised_robustness", "median_boundary_distance")
# Which direction is better, for the figure's colours (True: higher is better).
HIGHER_IS_BETTER = {"fid": False, "fid_judge": False, "inception192_l2_inv1": False, "inception192_l2_inv2": False,
                    "judge_l2_inv1": False, "judge_l2_inv2": False, "ig_gini_mean": True}


def matrix_metrics(evaluation: Mapping[str, float], attribution: Mapping[str, float],
                   synthesis: Mapping[str, float], etmann: Mapping[str, float]) -> dict[str, float]:
    """One method's row: the matrix's metrics picked from the four analyses' outputs, in column order.

    Accuracies are every ``*_accuracy`` of the evaluation (clean first); the other
    columns are those of ``ATTRIBUTION_COLUMNS``, ``SYNTHESIS_COLUMNS`` and
    ``ETMANN_COLUMNS`` the outputs have (Inception or judge metrics, whichever ran).
    """
    row = {k: float(v) for k, v in evaluation.items() if k.endswith("_accuracy")}
    for source, columns in ((attribution, ATTRIBUTION_COLUMNS), (synthesis, SYNTHESIS_COLUMNS),
                            (etmann, ETMANN_COLUMNS)):
        row.update({k: float(source[k]) for k in columns if k in source})
    return row


def matrix_rows(dataset: str, rows: Mapping[str, Mapping[str, float]]) -> list[dict]:
    """Long-schema rows (method order kept), checking that every method has the same columns."""
    columns = None
    out = []
    for model, metrics in rows.items():
        if columns is None:
            columns = list(metrics)
        elif list(metrics) != columns:
            raise ValueError(f"method {model!r} has metrics {list(metrics)}, the first method {columns}; "
                             "every method must go through the same analyses")
        out += [{"dataset": dataset, "model": model, "metric": k, "value": v, "paper": ""} for k, v in metrics.items()]
    return out


def _column_colours(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Values scaled to [0, 1] within the column (1 = best), NaN/inf → 0.5."""
    finite = np.isfinite(values)
    scaled = np.full(values.shape, 0.5)
    if finite.sum() >= 2 and np.ptp(values[finite]) > 0:
        lo, hi = values[finite].min(), values[finite].max()
        scaled[finite] = (values[finite] - lo) / (hi - lo)
        if not higher_is_better:
            scaled[finite] = 1 - scaled[finite]
    return scaled


def plot_methods_matrix(rows: Mapping[str, Mapping[str, float]], title: str, out_paths: Sequence[str | Path]) -> None:
    """Heat map of the matrix: rows are methods, columns metrics, colour = rank within the column (green best).

    Args:
        rows: method → metrics (as :func:`matrix_metrics` returns), all with the same keys.
        title: the figure's title.
        out_paths: files to write (PNG and/or PDF), atomically.
    """
    models = list(rows)
    if not models:
        raise ValueError("rows: no methods")
    columns = list(rows[models[0]])
    values = np.array([[rows[m][c] for c in columns] for m in models], dtype=np.float64)
    colours = np.column_stack([_column_colours(values[:, j], HIGHER_IS_BETTER.get(c, True))
                               for j, c in enumerate(columns)])
    fig = new_figure(1.15 * len(columns) + 2.0, 0.45 * len(models) + 2.2)
    ax = fig.add_subplot()
    ax.imshow(colours, cmap="RdYlGn", vmin=-0.4, vmax=1.4, aspect="auto")  # pale ends: the text stays legible
    for i in range(len(models)):
        for j in range(len(columns)):
            v = values[i, j]
            text = "—" if math.isnan(v) else ("∞" if math.isinf(v) else f"{v:.3g}")
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(columns)), [c.replace("_", " ") for c in columns], rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(models)), models, fontsize=8)
    ax.set_title(title + "\n(colour: rank within the column, green = better; lower is better for FID and distances)",
                 fontsize=9)
    save_figure(fig, out_paths, dpi=150)


def plot_robustness_curves(curves: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]], title: str,
                           out_paths: Sequence[str | Path]) -> None:
    """Accuracy against ε, one panel per attack and one line per method (Ismail et al. 2021, Figs. 2–5).

    Args:
        curves: method → attack name → ``[{"eps", "accuracy"}, …]`` (as
            :func:`robinterp.attack_suite.robustness_curve` returns).
        title: the figure's title.
        out_paths: files to write.
    """
    attacks = sorted({a for per_method in curves.values() for a in per_method})
    if not attacks:
        raise ValueError("curves: no attacks")
    fig = new_figure(4.0 * len(attacks), 3.4)
    axes = fig.subplots(1, len(attacks), squeeze=False)[0]
    for ax, attack in zip(axes, attacks):
        for model, per_method in curves.items():
            points = per_method.get(attack)
            if points:
                ax.plot([p["eps"] for p in points], [p["accuracy"] for p in points], marker="o", markersize=3,
                        label=model)
        ax.set_title(attack, fontsize=9)
        ax.set_xlabel("ε")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out_paths, dpi=150)
