"""Figures of the analyses: Etmann et al.'s alignment against robustness, robustness curves, the methods matrix,
and robust accuracy against each interpretability metric of the matrix."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from robinterp.analysis.etmann_summary import SUMMARY_KEYS, check_analysis
from robinterp.analysis.matrix import ATTRIBUTION_COLUMNS, ETMANN_COLUMNS, HIGHER_IS_BETTER, SYNTHESIS_COLUMNS
from robinterp.base.tables import ReplicateSummary, summarise_replicates
from robinterp.base.plotting import method_colours, new_figure, save_figure


def _check_out_paths(out_paths: Sequence[str | Path]) -> None:
    if isinstance(out_paths, (str, Path)) or not out_paths:
        raise ValueError("out_paths: give a non-empty list of files (.png and/or .pdf)")


def plot_alignment_vs_robustness(summaries: Mapping[str, Sequence[Mapping[str, float]]],
                                 out_paths: Sequence[str | Path], gradnorm_order: Sequence[str] | None = None,
                                 title: str | None = None) -> None:
    """Median alignment against median robustness, one point per model (Etmann et al. 2019, Figs. 2–3).

    Each model gets two markers at the same height (its median α): a filled one at its
    median PGD boundary distance and a hollow one at its median linearised robustness ρ̃,
    so the figure also shows how well ρ̃ estimates the attack's distance (their Fig. 2
    plots several attacks and ρ̃ the same way). The models named in ``gradnorm_order``
    (the gradient-norm-regularised models, in increasing λ) are joined by a line per
    robustness measure, as their λ sweep is in the paper. A model with several replicates
    is drawn at the mean of its replicates' medians, with error bars of ± one sample
    standard deviation.

    Args:
        summaries: model/method name → the :func:`summary` of each replicate's :func:`per_image_analysis`.
        out_paths: files to write (PNG and/or PDF, by extension), atomically.
        gradnorm_order: names in ``summaries`` to join by lines, in this order; ``None``: no line.
        title: figure title.
    """
    _check_out_paths(out_paths)
    if not summaries:
        raise ValueError("summaries: no models to plot")
    for name, replicates in summaries.items():
        if not replicates or isinstance(replicates, Mapping):
            raise ValueError(f"summaries[{name!r}]: give a list of the replicates' summaries")
        for s in replicates:
            missing = [key for key in SUMMARY_KEYS if key not in s]
            if missing:
                raise ValueError(f"summaries[{name!r}]: missing {missing}; pass the output of etmann_summary.summary")
    order = list(gradnorm_order or [])
    unknown = [name for name in order if name not in summaries]
    if unknown:
        raise ValueError(f"gradnorm_order: {unknown} not in summaries ({list(summaries)})")
    keys = ("median_alignment", "median_boundary_distance", "median_linearised_robustness")
    means = {name: {k: summarise_replicates([s[k] for s in replicates]) for k in keys}
             for name, replicates in summaries.items()}
    replicated = any(len(replicates) > 1 for replicates in summaries.values())
    fig = new_figure(5.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    colours = method_colours(len(summaries))
    for (name, m), colour in zip(means.items(), colours):
        a = m["median_alignment"]
        label = f"{name} (n={a.n})" if replicated else name
        for key, face, legend in (("median_boundary_distance", colour, label),
                                  ("median_linearised_robustness", "none", None)):
            x = m[key]
            ax.errorbar([x.value], [a.value], xerr=None if x.std is None else [x.std],
                        yerr=None if a.std is None else [a.std], fmt="o", mfc=face, color=colour, label=legend,
                        elinewidth=0.8, capsize=2)
    if len(order) > 1:
        for key, style in (("median_boundary_distance", "-"), ("median_linearised_robustness", ":")):
            ax.plot([means[n][key].value for n in order], [means[n]["median_alignment"].value for n in order],
                    style, color="0.4", linewidth=1, zorder=0)
    ax.plot([], [], "o", color="0.3", label="PGD-L2 boundary distance")
    ax.plot([], [], "o", mfc="none", color="0.3", label="linearised robustness ρ̃")
    ax.set_xlabel("median robustness (L2)" + (", mean ± std over replicates" if replicated else ""))
    ax.set_ylabel("median alignment α")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    save_figure(fig, out_paths)


def plot_per_image_scatter(analyses: Mapping[str, Mapping[str, np.ndarray]], out_paths: Sequence[str | Path],
                           title: str | None = None) -> None:
    """Per-image scatter plots, one colour per model (Etmann et al. 2019, Figs. 4–5).

    Left: alignment α(x) against linearised robustness ρ̃(x) (their Fig. 4). Right: PGD
    boundary distance against ρ̃(x) (their Fig. 5, with CW there), with the diagonal;
    images not flipped within the budget (+inf) are left out of this panel and counted
    in the legend. Only correctly classified images are drawn (the others have distance 0
    by convention).

    Args:
        analyses: model/method name → :func:`per_image_analysis` output.
        out_paths: files to write (PNG and/or PDF, by extension), atomically.
        title: figure title.
    """
    _check_out_paths(out_paths)
    if not analyses:
        raise ValueError("analyses: no models to plot")
    for name, analysis in analyses.items():
        check_analysis(analysis, f"analyses[{name!r}]")
    fig = new_figure(10, 4.2)
    ax_align, ax_dist = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    top = 0.0
    for (name, analysis), colour in zip(analyses.items(), method_colours(len(analyses))):
        keep = np.asarray(analysis["correct"], dtype=bool)
        rho_lin = np.asarray(analysis["linearised_robustness"], dtype=np.float64)[keep]
        alpha = np.asarray(analysis["alignment"], dtype=np.float64)[keep]
        rho = np.asarray(analysis["boundary_distance"], dtype=np.float64)[keep]
        finite = np.isfinite(rho)
        ax_align.scatter(rho_lin, alpha, s=6, alpha=0.6, color=colour, label=name)
        label = name if finite.all() else f"{name} ({int((~finite).sum())} not flipped)"
        ax_dist.scatter(rho_lin[finite], rho[finite], s=6, alpha=0.6, color=colour, label=label)
        if finite.any():
            top = max(top, float(rho_lin[finite].max()), float(rho[finite].max()))
    if top > 0:
        ax_dist.plot([0, top], [0, top], "--", color="0.5", linewidth=1)
    ax_align.set_xlabel("linearised robustness ρ̃(x)")
    ax_align.set_ylabel("alignment α(x)")
    ax_dist.set_xlabel("linearised robustness ρ̃(x)")
    ax_dist.set_ylabel("PGD-L2 boundary distance ρ(x)")
    for ax in (ax_align, ax_dist):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, markerscale=2)
    if title:
        fig.suptitle(title)
    save_figure(fig, out_paths)


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


def _matrix_text(cell: ReplicateSummary) -> str:
    """A heat-map cell: the mean, with "± std" below it where the method has several replicates."""
    v = cell.value
    text = "—" if math.isnan(v) else ("∞" if math.isinf(v) else f"{v:.3g}")
    if cell.n > 1 and cell.std is not None:
        text += "\n± " + ("—" if not math.isfinite(cell.std) else f"{cell.std:.2g}")
    return text


def plot_methods_matrix(rows: Mapping[str, Mapping[str, ReplicateSummary]], title: str,
                        out_paths: Sequence[str | Path]) -> None:
    """Heat map of the matrix: rows are methods, columns metrics, colour = rank of the mean within the column.

    A cell shows the mean over the method's replicates and, where it has several, "± std" (the sample standard
    deviation); the row label gives their number.

    Args:
        rows: method → metric → its summary over the replicates (as :func:`summarise_methods` returns), all with
            the same metrics.
        title: the figure's title.
        out_paths: files to write (PNG and/or PDF), atomically.
    """
    models = list(rows)
    if not models:
        raise ValueError("rows: no methods")
    columns = list(rows[models[0]])
    values = np.array([[rows[m][c].value for c in columns] for m in models], dtype=np.float64)
    colours = np.column_stack([_column_colours(values[:, j], HIGHER_IS_BETTER.get(c, True))
                               for j, c in enumerate(columns)])
    replicated = any(cell.n > 1 for m in models for cell in rows[m].values())
    fig = new_figure(1.15 * len(columns) + 2.0, (0.6 if replicated else 0.45) * len(models) + 2.2)
    ax = fig.add_subplot()
    ax.imshow(colours, cmap="RdYlGn", vmin=-0.4, vmax=1.4, aspect="auto")  # pale ends: the text stays legible
    for i, m in enumerate(models):
        for j, c in enumerate(columns):
            ax.text(j, i, _matrix_text(rows[m][c]), ha="center", va="center", fontsize=6.5 if replicated else 7)
    ax.set_xticks(range(len(columns)), [c.replace("_", " ") for c in columns], rotation=40, ha="right", fontsize=7)
    labels = [f"{m} (n={max(cell.n for cell in rows[m].values())})" if replicated else m for m in models]
    ax.set_yticks(range(len(models)), labels, fontsize=8)
    note = "; mean ± sample std over n replicates" if replicated else ""
    ax.set_title(title + "\n(colour: rank within the column, green = better; lower is better for FID and distances"
                 + note + ")", fontsize=9)
    save_figure(fig, out_paths)


def mean_curve(replicates: Sequence[Sequence[Mapping[str, float]]]) -> tuple[list[float], list[ReplicateSummary]]:
    """One attack's accuracy-vs-ε curve summarised over replicates: the ε's and, per ε, mean, sample std and n.

    Raises:
        ValueError: the replicates were measured at different ε's.
    """
    eps = [float(p["eps"]) for p in replicates[0]]
    for k, points in enumerate(replicates):
        if [float(p["eps"]) for p in points] != eps:
            raise ValueError(f"replicate {k} has ε {[p['eps'] for p in points]}, replicate 0 {eps}")
    return eps, [summarise_replicates([points[i]["accuracy"] for points in replicates]) for i in range(len(eps))]


def plot_robustness_curves(curves: Mapping[str, Sequence[Mapping[str, Sequence[Mapping[str, float]]]]], title: str,
                           out_paths: Sequence[str | Path]) -> None:
    """Accuracy against ε, one panel per attack and one line per method (Ismail et al. 2021, Figs. 2–5).

    A method with several replicates is drawn as the mean over them, with a band of ± one sample standard deviation.

    Args:
        curves: method → one curve set per replicate: attack name → ``[{"eps", "accuracy"}, …]`` (as
            :func:`robinterp.attacks.accuracy.robustness_curve` returns).
        title: the figure's title.
        out_paths: files to write.
    """
    attacks = sorted({a for replicates in curves.values() for per_method in replicates for a in per_method})
    if not attacks:
        raise ValueError("curves: no attacks")
    replicated = any(len(replicates) > 1 for replicates in curves.values())
    fig = new_figure(4.0 * len(attacks), 3.4)
    axes = fig.subplots(1, len(attacks), squeeze=False)[0]
    colours = dict(zip(curves, method_colours(len(curves))))
    for ax, attack in zip(axes, attacks):
        for model, replicates in curves.items():
            measured = [per_method[attack] for per_method in replicates if per_method.get(attack)]
            if not measured:
                continue
            eps, points = mean_curve(measured)
            mean = np.array([p.value for p in points])
            ax.plot(eps, mean, marker="o", markersize=3, color=colours[model],
                    label=f"{model} (n={len(measured)})" if replicated else model)
            if len(measured) > 1:
                std = np.array([p.std for p in points], dtype=np.float64)
                ax.fill_between(eps, mean - std, mean + std, color=colours[model], alpha=0.2, linewidth=0)
        ax.set_title(attack, fontsize=9)
        ax.set_xlabel("ε")
        ax.set_ylabel("accuracy (%)" + (", mean ± std over replicates" if replicated else ""))
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out_paths)


#: The matrix's interpretability metrics, in the order of their panels.
INTERPRETABILITY_COLUMNS = ATTRIBUTION_COLUMNS + SYNTHESIS_COLUMNS + ETMANN_COLUMNS


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of finite pairs (average ranks for ties); NaN below three pairs or a constant."""
    from scipy.stats import spearmanr

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(spearmanr(a[keep], b[keep]).statistic)


def plot_robustness_vs_interpretability(rows: Mapping[str, Mapping[str, ReplicateSummary]], robust_metric: str,
                                        title: str, out_paths: Sequence[str | Path]) -> None:
    """Robust accuracy against each interpretability metric of the methods matrix, one point per method.

    One panel per metric of :data:`INTERPRETABILITY_COLUMNS` the matrix has (alignment, IG Gini, IG top-k under
    attack, FID or the judge's metrics, inversion distances, Etmann's medians): x is the method's accuracy under
    ``robust_metric``, y the metric, each with ± one sample standard deviation where the method has several
    replicates; the panel's title gives Spearman's rank correlation ρ over the methods (NaN below three). Trained
    and imported methods are drawn alike (the matrix does not tell them apart).

    Args:
        rows: method → metric → its summary (:func:`robinterp.analysis.matrix.summarise_methods`, or the methods
            matrix CSV read back).
        robust_metric: the accuracy on the x axis, a metric of every row (e.g. ``pgd_l2_accuracy``).
        title: the figure's title.
        out_paths: files to write (PNG and/or PDF), atomically.

    Raises:
        ValueError: no methods, a method without ``robust_metric``, or no interpretability metric in the rows.
    """
    _check_out_paths(out_paths)
    if not rows:
        raise ValueError("rows: no methods")
    missing = [m for m, metrics in rows.items() if robust_metric not in metrics]
    if missing:
        raise ValueError(f"robust_metric {robust_metric!r} is not a metric of {missing}")
    first = next(iter(rows.values()))
    columns = [c for c in INTERPRETABILITY_COLUMNS if c in first]
    if not columns:
        raise ValueError(f"the rows have no interpretability metric (one of {list(INTERPRETABILITY_COLUMNS)})")
    n_cols = min(3, len(columns))
    n_rows = math.ceil(len(columns) / n_cols)
    fig = new_figure(3.6 * n_cols, 3.0 * n_rows + 0.6)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    colours = dict(zip(rows, method_colours(len(rows))))
    for ax, column in zip(axes, columns):
        xs, ys = [], []
        for model, metrics in rows.items():
            x, y = metrics[robust_metric], metrics.get(column)
            if y is None:
                continue
            ax.errorbar([x.value], [y.value], xerr=None if not x.std else [x.std], yerr=None if not y.std else [y.std],
                        fmt="o", color=colours[model], label=model, elinewidth=0.8, capsize=2)
            ax.annotate(model, (x.value, y.value), fontsize=6, xytext=(3, 3), textcoords="offset points")
            xs.append(x.value)
            ys.append(y.value)
        rho = spearman(xs, ys)
        better = "lower" if not HIGHER_IS_BETTER.get(column, True) else "higher"
        ax.set_title(f"{column.replace('_', ' ')} ({better} is better)\nSpearman ρ = "
                     + ("—" if math.isnan(rho) else f"{rho:+.2f}"), fontsize=8)
        ax.set_xlabel(f"{robust_metric.replace('_', ' ')} (%)", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{title}: robust accuracy against interpretability, one point per method", fontsize=10)
    save_figure(fig, out_paths)
