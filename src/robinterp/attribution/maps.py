"""Table 7's metric names and the stored attribution maps of the figures: what the figure and table jobs read.

Kept apart from :mod:`robinterp.attribution.job`, which computes the maps, so that the jobs that only draw or
tabulate them start without importing torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from robinterp.base.errors import RobinterpError
from robinterp.base.io import load_arrays, save_arrays

METRICS = ["alignment", "ig_gini", "shap_gini", "ig_deletion_auc", "ig_topk_intersection_adv",
           "ig_topk_intersection_noise"]


def metric_names() -> list[str]:
    """Table 7's metrics, in table order."""
    return [f"{m}_{stat}" for m in METRICS for stat in ("mean", "std")]


# --- files ----------------------------------------------------------------------------------------------------------

def write_maps(out: str | Path, arrays: Mapping[str, np.ndarray], class_names) -> None:
    """Store the figures' maps of one model (the output of :func:`robinterp.attribution.job.explain_figures`) with the class names."""
    save_arrays(out, {**arrays, "class_names": np.asarray(class_names)})


def load_maps(paths: Mapping[str, str | Path]) -> tuple[dict, dict]:
    """Model → stored maps, for the figures: ``(images, labels, class names, indices; per-model maps)``.

    Args:
        paths: model → file written by :func:`write_maps`, in the figures' order.

    Returns:
        ``(common, models)``: the images, labels, class names and test indices (from the first file), and per
        model its ``ig``, ``shap`` and ``predictions``.

    Raises:
        RobinterpError: the files explain different images.
    """
    models, common, first = {}, None, None
    for model, path in paths.items():
        arrays = load_arrays(path)
        if common is None:
            common, first = {k: arrays[k] for k in ("indices", "images", "labels", "class_names")}, path
        elif not np.array_equal(common["indices"], arrays["indices"]):
            raise RobinterpError(f"{path} explains other images than {first}; re-run the attribute jobs")
        models[model] = {k: arrays[k] for k in ("ig", "shap", "predictions")}
    return common, models
