"""The attribution jobs: one model's maps and metrics on a recorded selection of test images, and their files.

The workflow's ``explain_model`` and ``attribute_model`` jobs: Integrated
Gradients and SHAP maps of the explained images (for the paper's figures) and,
over a larger set of test images, the per-image numbers behind table 7
(alignment, sparsity, faithfulness, robustness of the explanation). The
selection is drawn once per dataset
(:func:`robinterp.attribution.selection.select_images`) so that every model
explains the same images. The methods live in :mod:`robinterp.attribution.methods`,
the metrics in :mod:`robinterp.attribution.metrics`.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from robinterp.attribution.maps import METRICS
from robinterp.attribution.methods import expected_gradients_shap, integrated_gradients
from robinterp.attribution.metrics import alignment, deletion_auc, explanation_robustness, gini
from robinterp.attribution.settings import AttributionSettings
from robinterp.base.seeds import stream_seed
from robinterp.base.tables import sample_std
from robinterp.data.batches import index_batches, load_batch
from robinterp.data.store import Split
from robinterp.models.running import predicted_class

log = logging.getLogger(__name__)


def _ig_kwargs(s: AttributionSettings, generator: torch.Generator) -> dict:
    return {"n_points": s.ig.n_points, "baseline": s.ig.baseline, "n_baselines": s.ig.n_baselines,
            "generator": generator, "internal_batch_size": s.ig.internal_batch_size}


def explain_figures(model: nn.Module, split: Split, selection: dict, s: AttributionSettings,
                    device: torch.device) -> dict[str, np.ndarray]:
    """IG and SHAP maps of the explained images, with the images, labels and predictions (for the figures)."""
    generator = torch.Generator(device=device).manual_seed(stream_seed(s.seed, "attribution_figures"))
    idx = np.asarray(selection["explained"])
    x, y = load_batch(split, idx, device)
    background, _ = load_batch(split, np.asarray(selection["background"]), device)
    pred = predicted_class(model, x)
    ig = torch.cat([integrated_gradients(model, x[b], pred[b], **_ig_kwargs(s, generator))
                    for b in index_batches(np.arange(len(idx)), s.batch_size)])
    shap, shap_class = expected_gradients_shap(model, x, background, nsamples=s.shap.nsamples,
                                               seed=stream_seed(s.seed, "attribution_figures"), batch_size=s.batch_size)
    if not torch.equal(shap_class.to(pred.device), pred):  # SHAP's top-ranked output is the prediction
        raise RuntimeError("SHAP explained a class other than the prediction; this is a bug, please report it")
    log.info("explained %d images (IG %d points × %d %s baselines, SHAP %d samples)", len(idx), s.ig.n_points,
             s.ig.n_baselines, s.ig.baseline, s.shap.nsamples)
    return {"indices": idx, "images": x.float().cpu().numpy(), "labels": y.cpu().numpy(),
            "predictions": pred.cpu().numpy(), "ig": ig.float().cpu().numpy(), "shap": shap.float().cpu().numpy()}


def attribution_metrics(model: nn.Module, split: Split, selection: dict, s: AttributionSettings,
                        device: torch.device) -> dict[str, float]:
    """Table 7's numbers: mean and sample standard deviation (n − 1) over the metric images of each of
    :data:`METRICS` (:func:`summarise_metrics`)."""
    generator = torch.Generator(device=device).manual_seed(stream_seed(s.seed, "attribution_metrics"))
    idx = np.asarray(selection["metrics"])
    background, _ = load_batch(split, np.asarray(selection["background"]), device)
    values: dict[str, list[torch.Tensor]] = {m: [] for m in METRICS}
    correct = 0
    batches = list(index_batches(np.arange(len(idx)), s.batch_size))
    for b, part in enumerate(batches, 1):
        x, y = load_batch(split, idx[part], device)
        pred = predicted_class(model, x)
        correct += (pred == y).sum().item()
        k = max(1, round(s.topk_fraction * x.shape[-2] * x.shape[-1]))
        robust = explanation_robustness(model, x, pred, s.robustness_attack, k=k, ig_kwargs=_ig_kwargs(s, generator),
                                        generator=generator)
        shap, _ = expected_gradients_shap(model, x, background, nsamples=s.shap.nsamples,
                                          seed=stream_seed(s.seed, "attribution_metrics_shap", b), batch_size=s.batch_size)
        values["alignment"].append(alignment(model, x))
        values["ig_gini"].append(gini(robust["ig"]))
        values["shap_gini"].append(gini(shap))
        values["ig_deletion_auc"].append(deletion_auc(model, x, robust["ig"], pred, steps=s.deletion_steps))
        values["ig_topk_intersection_adv"].append(robust["adv"])
        values["ig_topk_intersection_noise"].append(robust["noise"])
        log.info("attribution metrics: batch %d/%d", b, len(batches))
    return {"n": len(idx), "clean_accuracy": 100.0 * correct / len(idx), **summarise_metrics(values)}


def summarise_metrics(values: Mapping[str, list[torch.Tensor]]) -> dict[str, float]:
    """``<metric>_mean`` and ``<metric>_std`` of each metric's per-image values (its batches concatenated).

    The std is the sample standard deviation of every table (:func:`robinterp.base.tables.sample_std`,
    n − 1; NaN for a single image).
    """
    out: dict[str, float] = {}
    for name, parts in values.items():
        v = torch.cat([p.detach().double().flatten().cpu() for p in parts]).numpy()
        out[f"{name}_mean"] = float(v.mean())
        out[f"{name}_std"] = sample_std(v)
    return out
