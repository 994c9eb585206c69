"""The evaluation jobs: a model's accuracy table entry and its robustness curves, from a prepared test split to JSON."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from robinterp.attacks.accuracy import evaluate_accuracy, robustness_curve
from robinterp.attacks.settings import CurvesSettings, EvaluationSettings
from robinterp.base.io import write_json
from robinterp.data.store import Split

log = logging.getLogger(__name__)


def first_images(n_test: int, limit: int | None) -> np.ndarray:
    """Indices of the first ``limit`` test images (all of them for None)."""
    return np.arange(n_test if limit is None else min(n_test, int(limit)))


def evaluate(model: nn.Module, test: Split, settings: EvaluationSettings, *, device: torch.device, seed: int,
             out: str | Path) -> dict[str, float]:
    """Clean accuracy and the accuracy under each configured attack, written to ``out`` (JSON) and returned."""
    indices = first_images(len(test), settings.max_examples)
    log.info("evaluating on %d test images with attacks %s", len(indices), sorted(settings.attacks))
    metrics = evaluate_accuracy(model, test, settings.attacks, batch_size=settings.batch_size, device=device,
                                indices=indices, seed=seed, amp=settings.amp_bf16)
    write_json(out, metrics)
    log.info("metrics: %s", metrics)
    return metrics


def robustness_curves(model: nn.Module, test: Split, settings: CurvesSettings, *, device: torch.device, seed: int,
                      out: str | Path) -> dict[str, list[dict[str, float]]]:
    """Every configured robustness curve of one model, written to ``out`` (JSON: attack → points) and returned."""
    indices = first_images(len(test), settings.max_examples)
    curves = {}
    for name, curve in settings.attacks.items():
        curves[name] = robustness_curve(model, test, curve.attack, curve.eps, batch_size=settings.batch_size,
                                        device=device, indices=indices, seed=seed)
        log.info("%s: %s", name, ", ".join(f"ε {p['eps']:g}: {p['accuracy']:.1f}%" for p in curves[name]))
    write_json(out, curves)
    return curves
