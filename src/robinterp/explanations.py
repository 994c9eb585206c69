"""Attributions of one trained model on a fixed, recorded selection of test images.

The workflow's ``attribute_model`` job: Integrated Gradients and SHAP maps of
the explained images (for the paper's figures) and, over a larger set of test
images, the per-image numbers behind table 7 (alignment, sparsity,
faithfulness, robustness of the explanation). The selection is drawn once per
dataset (:func:`select_images`) so that every model explains the same images.
The methods themselves live in :mod:`robinterp.attribution`.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn as nn

from robinterp.attribution import (alignment, deletion_auc, expected_gradients_shap, explanation_robustness, gini,
                                   integrated_gradients, predicted_class)
from robinterp.data.batches import load_batch
from robinterp.data.store import Split
from robinterp.errors import DataError
from robinterp.settings import AttributionSettings

log = logging.getLogger(__name__)

METRICS = ["alignment", "ig_gini", "shap_gini", "ig_deletion_auc", "ig_topk_intersection_adv",
           "ig_topk_intersection_noise"]


def select_images(n_test: int, *, n_background: int, n_explained: int, n_metrics: int, seed: int) -> dict:
    """Disjoint random test-image indices: SHAP background, explained (figures), and metric images.

    Args:
        n_test: size of the test split.
        n_background, n_explained, n_metrics: how many of each.
        seed: seed of the draw (recorded with the result).

    Returns:
        ``{"seed", "background", "explained", "metrics"}`` with sorted index lists
        (explained in draw order, so the figures' first rows are random images).
    """
    needed = n_background + n_explained + n_metrics
    if needed > n_test:
        raise DataError(f"attribution needs {needed} distinct test images (n_background + n_explained + n_metrics) "
                        f"but the test split has {n_test}; lower them in the config's attribution section")
    order = np.random.default_rng(seed).permutation(n_test)
    return {"seed": seed,
            "explained": order[:n_explained].tolist(),
            "background": np.sort(order[n_explained:n_explained + n_background]).tolist(),
            "metrics": np.sort(order[n_explained + n_background:needed]).tolist()}


def _ig_kwargs(s: AttributionSettings, generator: torch.Generator) -> dict:
    return {"n_points": s.ig.n_points, "baseline": s.ig.baseline, "n_baselines": s.ig.n_baselines,
            "generator": generator, "internal_batch_size": s.ig.internal_batch_size}


def explain_figures(model: nn.Module, split: Split, selection: dict, s: AttributionSettings,
                    device: torch.device) -> dict[str, np.ndarray]:
    """IG and SHAP maps of the explained images, with the images, labels and predictions (for the figures)."""
    generator = torch.Generator(device=device).manual_seed(s.seed)
    idx = np.asarray(selection["explained"])
    x, y = load_batch(split, idx, device)
    background, _ = load_batch(split, np.asarray(selection["background"]), device)
    pred = predicted_class(model, x)
    ig = torch.cat([integrated_gradients(model, x[b], pred[b], **_ig_kwargs(s, generator))
                    for b in _batches(len(idx), s.batch_size)])
    shap, shap_class = expected_gradients_shap(model, x, background, nsamples=s.shap.nsamples, seed=s.seed,
                                               batch_size=s.batch_size)
    if not torch.equal(shap_class.to(pred.device), pred):  # SHAP's top-ranked output is the prediction
        raise RuntimeError("SHAP explained a class other than the prediction; this is a bug, please report it")
    log.info("explained %d images (IG %d points × %d %s baselines, SHAP %d samples)", len(idx), s.ig.n_points,
             s.ig.n_baselines, s.ig.baseline, s.shap.nsamples)
    return {"indices": idx, "images": x.float().cpu().numpy(), "labels": y.cpu().numpy(),
            "predictions": pred.cpu().numpy(), "ig": ig.float().cpu().numpy(), "shap": shap.float().cpu().numpy()}


def attribution_metrics(model: nn.Module, split: Split, selection: dict, s: AttributionSettings,
                        device: torch.device) -> dict[str, float]:
    """Table 7's numbers: mean and standard deviation over the metric images of each of :data:`METRICS`."""
    generator = torch.Generator(device=device).manual_seed(s.seed + 1)
    idx = np.asarray(selection["metrics"])
    background, _ = load_batch(split, np.asarray(selection["background"]), device)
    values: dict[str, list[torch.Tensor]] = {m: [] for m in METRICS}
    correct = 0
    batches = _batches(len(idx), s.batch_size)
    for b, part in enumerate(batches, 1):
        x, y = load_batch(split, idx[part], device)
        pred = predicted_class(model, x)
        correct += (pred == y).sum().item()
        k = max(1, round(s.topk_fraction * x.shape[-2] * x.shape[-1]))
        robust = explanation_robustness(model, x, pred, s.robustness_attack, k=k, ig_kwargs=_ig_kwargs(s, generator),
                                        generator=generator)
        shap, _ = expected_gradients_shap(model, x, background, nsamples=s.shap.nsamples, seed=s.seed + b,
                                          batch_size=s.batch_size)
        values["alignment"].append(alignment(model, x))
        values["ig_gini"].append(gini(robust["ig"]))
        values["shap_gini"].append(gini(shap))
        values["ig_deletion_auc"].append(deletion_auc(model, x, robust["ig"], pred, steps=s.deletion_steps))
        values["ig_topk_intersection_adv"].append(robust["adv"])
        values["ig_topk_intersection_noise"].append(robust["noise"])
        log.info("attribution metrics: batch %d/%d", b, len(batches))
    out: dict[str, float] = {"n": len(idx), "clean_accuracy": 100.0 * correct / len(idx)}
    for name, parts in values.items():
        v = torch.cat([p.detach().double().flatten().cpu() for p in parts])
        out[f"{name}_mean"] = v.mean().item()
        out[f"{name}_std"] = v.std(unbiased=True).item() if len(v) > 1 else 0.0
    return out


def metric_names() -> list[str]:
    """Table 7's metrics, in table order."""
    return [f"{m}_{stat}" for m in METRICS for stat in ("mean", "std")]


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)] if n else []
