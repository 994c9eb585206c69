"""Etmann et al. (2019)'s per-image analysis reduced to the numbers of their Figs. 2–3 (medians over images).

The per-image arrays come from :func:`robinterp.analysis.etmann.per_image_analysis`; this module only reads them,
with numpy, so that the figure and matrix jobs start without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

ANALYSIS_KEYS = ("alignment", "linearised_robustness", "boundary_distance", "correct")
SUMMARY_KEYS = ("median_alignment", "median_linearised_robustness", "median_boundary_distance")


def check_analysis(analysis: Mapping[str, np.ndarray], name: str) -> int:
    missing = [key for key in ANALYSIS_KEYS if key not in analysis]
    if missing:
        raise ValueError(f"{name}: missing {missing}; expected the keys of per_image_analysis {list(ANALYSIS_KEYS)}")
    lengths = {key: len(np.asarray(analysis[key])) for key in ANALYSIS_KEYS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{name}: arrays of different lengths {lengths}")
    return next(iter(lengths.values()))


def summary(analysis: Mapping[str, np.ndarray], correct_only: bool = True) -> dict[str, float]:
    """The numbers behind Etmann et al.'s Figs. 2–3: medians (and means) over images.

    Args:
        analysis: the output of :func:`robinterp.analysis.etmann.per_image_analysis`.
        correct_only: summarise only the correctly classified images (the boundary
            distance of the others is 0 by convention, which would drag the medians
            towards 0); ``False``: all images.

    Returns:
        ``median_``/``mean_`` of ``alignment``, ``linearised_robustness`` and
        ``boundary_distance`` (the mean of the boundary distance is over the finite
        values, ``n_not_flipped`` counts the +inf ones; the median counts them, as
        +inf), plus ``n`` (images summarised) and ``accuracy`` (%, over all images). NaN
        where no image is left.
    """
    n_all = check_analysis(analysis, "analysis")
    correct = np.asarray(analysis["correct"], dtype=bool)
    keep = correct if correct_only else np.ones(n_all, dtype=bool)
    out: dict[str, float] = {"n": int(keep.sum()), "accuracy": 100.0 * float(correct.mean()) if n_all else math.nan}
    for key in ANALYSIS_KEYS[:3]:
        values = np.asarray(analysis[key], dtype=np.float64)[keep]
        finite = values[np.isfinite(values)]
        out[f"median_{key}"] = float(np.median(values)) if values.size else math.nan
        out[f"mean_{key}"] = float(finite.mean()) if finite.size else math.nan
    out["n_not_flipped"] = int(np.isinf(np.asarray(analysis["boundary_distance"], dtype=np.float64)[keep]).sum())
    return out
