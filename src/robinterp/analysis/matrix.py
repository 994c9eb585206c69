"""The methods × metrics matrix: every training method's robustness and interpretability side by side.

One row per method of a dataset; the columns come from the outputs every
method's checkpoint goes through :

- evaluation (:mod:`robinterp.attacks.accuracy`): clean accuracy and the accuracy
  under every configured attack (PGD-L2, PGD-L∞, AutoAttack, …);
- attribution (:mod:`robinterp.attribution.job`): alignment, IG sparsity (Gini) and
  the IG top-k intersection under attack;
- synthesis (:mod:`robinterp.synthesis.job`): FID (or ``fid_judge`` and the judge's
  accuracy) of class generation and the inversion distance;
- Etmann's analysis (:mod:`robinterp.analysis.etmann`): median linearised robustness
  and median boundary distance.

A method trained several times (replicates) gets the mean, the sample standard
deviation and the number of its replicates in every cell. Written in the
package's long table schema (``dataset,model,metric,value,std,n,paper``) and
drawn as a heat map with one colour scale per column, "mean ± std" where a
method has several replicates (:func:`robinterp.analysis.figures.plot_methods_matrix`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from robinterp.base.tables import ReplicateSummary, read_table, summarise_metrics

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


def summarise_methods(replicates: Mapping[str, Sequence[Mapping[str, float]]]) -> dict[str, dict[str, ReplicateSummary]]:
    """Each method's metrics summarised over its replicates (mean, sample std, n), method and column order kept.

    Args:
        replicates: method → one :func:`matrix_metrics` row per replicate (replicate 0 first).

    Raises:
        ValueError: a method's replicates, or two methods, do not have the same columns (every method and replicate
            must go through the same analyses).
    """
    columns = None
    out = {}
    for model, rows in replicates.items():
        for k, metrics in enumerate(rows):
            if columns is None:
                columns = list(metrics)
            elif list(metrics) != columns:
                raise ValueError(f"method {model!r} (replicate {k}) has metrics {list(metrics)}, the first method "
                                 f"{columns}; every method must go through the same analyses")
        out[model] = summarise_metrics(rows, columns or [], model)
    return out


def read_matrix(path) -> dict[str, dict[str, ReplicateSummary]]:
    """The methods matrix CSV read back: method → metric → its summary (method and column order kept)."""
    out: dict[str, dict[str, ReplicateSummary]] = {}
    for row in read_table(path):
        std = float(row["std"]) if row.get("std") not in ("", None) else None
        out.setdefault(row["model"], {})[row["metric"]] = ReplicateSummary(float(row["value"]), std,
                                                                           int(row.get("n") or 1))
    return out


def matrix_rows(dataset: str, summaries: Mapping[str, Mapping[str, ReplicateSummary]]) -> list[dict]:
    """Long-schema rows (method and column order kept) of :func:`summarise_methods`' summaries."""
    return [{"dataset": dataset, "model": model, "metric": k, "value": v.value, "std": v.std, "n": v.n, "paper": ""}
            for model, metrics in summaries.items() for k, v in metrics.items()]
