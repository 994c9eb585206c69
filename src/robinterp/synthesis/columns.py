"""The columns of the synthesis tables (2/5: FID, 3/6: inversion distance): what the table and figure jobs need.

Kept apart from :mod:`robinterp.synthesis.job`, which computes the metrics, so that the jobs that only tabulate or
draw them start without importing torch.
"""

from __future__ import annotations

SOURCES = ("inv1", "inv2")  # the inversions' sources: another class's test image; noise


def metric_names(features: str) -> tuple[str, str]:
    """Names of the FID and distance metrics of an extractor: the paper's for Inception, ``*_judge`` otherwise."""
    return ("fid", "inception192_l2") if features == "inception" else ("fid_judge", "judge_l2")


def table_metrics(features: str, judge: bool) -> tuple[list[str], list[str]]:
    """Metric columns of the FID table and of the inversion-distance table, in order."""
    fid_name, distance_name = metric_names(features)
    fid_table = [fid_name] + (["judge_accuracy"] if judge else [])
    distance_table = [f"{distance_name}_{s}{suffix}" for s in SOURCES for suffix in ("", "_std")]
    return fid_table, distance_table + [f"pixel_l2_{s}" for s in SOURCES]
