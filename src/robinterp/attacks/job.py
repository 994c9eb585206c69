"""The evaluation jobs: a model's accuracy table entry and its robustness curves, from a prepared test split to JSON.

Both evaluate prefixes of one seeded, class-stratified order of the test split
(:func:`robinterp.data.subsets.stratified_order`), drawn from the config seed: the
same images for every model, every subset nested in every larger one, and the images
recorded under ``"images"`` in the output (:func:`robinterp.data.subsets.subset_record`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn

from robinterp.attacks.accuracy import evaluate_accuracy, robustness_curve
from robinterp.attacks.settings import CurvesSettings, EvaluationSettings
from robinterp.attacks.spec import subset_size
from robinterp.base.io import write_json
from robinterp.data.store import Split
from robinterp.data.subsets import stratified_order, subset_record

log = logging.getLogger(__name__)


def evaluate(model: nn.Module, test: Split, settings: EvaluationSettings, *, device: torch.device, seed: int,
             out: str | Path) -> dict:
    """Clean accuracy and the accuracy under each configured attack, written to ``out`` (JSON) and returned.

    Args:
        model: the classifier.
        test: the test split.
        settings: the config's ``evaluation`` section.
        device: where to compute.
        seed: the config seed: of the image order (stream ``test_subset``) and of the attacks' random starts.
        out: the metrics JSON: :func:`robinterp.attacks.accuracy.evaluate_accuracy`'s metrics and
            ``"images"``, the record of the evaluated images (the first ``n`` of the order; each
            attack on a subset used the first ``n_<attack>`` of ``images.indices``).
    """
    order = stratified_order(test.labels, seed)
    n = min(len(test), settings.max_examples or len(test))
    indices = order[:n]
    log.info("evaluating on %d of %d test images (seeded, class-stratified) with attacks %s", n, len(test),
             sorted(settings.attacks))
    metrics = evaluate_accuracy(model, test, settings.attacks, batch_size=settings.batch_size, device=device,
                                indices=indices, seed=seed, amp=settings.amp_bf16)
    sizes = [n] + [min(n, subset_size(a)) for a in settings.attacks.values() if subset_size(a)]
    result = {**metrics, "images": subset_record(order, seed, sizes)}
    write_json(out, result)
    log.info("metrics: %s", metrics)
    return result


def robustness_curves(model: nn.Module, test: Split, settings: CurvesSettings, *, device: torch.device, seed: int,
                      out: str | Path) -> dict:
    """Every configured robustness curve of one model, written to ``out`` (JSON) and returned.

    Args:
        model: the classifier.
        test: the test split.
        settings: the config's ``curves`` section.
        device: where to compute.
        seed: the config seed: of the image order (stream ``test_subset``, the evaluation's) and
            of the attacks' random starts.
        out: JSON ``{"curves": {attack: [{"eps", "accuracy"}, …]}, "images": record}``; a curve
            whose attack has ``max_examples`` used the first so-many of the evaluated images.
    """
    order = stratified_order(test.labels, seed)
    n = min(len(test), settings.max_examples or len(test))
    indices = order[:n]
    curves = {}
    for name, curve in settings.attacks.items():
        curves[name] = robustness_curve(model, test, curve.attack, curve.eps, batch_size=settings.batch_size,
                                        device=device, indices=indices, seed=seed)
        log.info("%s: %s", name, ", ".join(f"ε {p['eps']:g}: {p['accuracy']:.1f}%" for p in curves[name]))
    sizes = [n] + [min(n, subset_size(c.attack)) for c in settings.attacks.values() if subset_size(c.attack)]
    result = {"curves": curves, "images": subset_record(order, seed, sizes)}
    write_json(out, result)
    return result
