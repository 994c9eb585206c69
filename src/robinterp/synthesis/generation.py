"""Class-specific generation (Boychev 2023, eq. 16): maximise the logit of a class from its seed.

The seeds come from :mod:`robinterp.synthesis.seeds`.
"""

from __future__ import annotations

import torch

from robinterp.attacks.threats import ThreatModel
from robinterp.models.architectures import Classifier
from robinterp.models.running import autocast, model_device, model_mode
from robinterp.synthesis.ascent import Objective, ascend_in_batches


def logit_objective(model: Classifier, targets: torch.Tensor, amp: bool = False) -> Objective:
    """x ↦ the logit of class ``targets`` (per example): the objective of eq. 16."""
    def objective(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, amp):
            logits = model(x)
        return logits.float().gather(1, targets.to(x.device).view(-1, 1)).squeeze(1)
    return objective


def generate_classes(model: Classifier, seeds: torch.Tensor, targets: torch.Tensor, threat: ThreatModel, steps: int,
                     *, batch_size: int, amp: bool = False, log_every: int = 0) -> torch.Tensor:
    """Class-specific generation (eq. 16): maximise the logit of ``targets`` from ``seeds``.

    Args:
        model: the classifier.
        seeds: starting images (N, C, H, W), e.g. from :func:`class_seeds`.
        targets: the class of each (N,).
        threat: the ball the images stay in around their seeds (paper: L2, ε = 30,
            σ = 0.5 on CIFAR-10; ε = 40, σ = 1 on Small ImageNet).
        steps: gradient steps (paper: 60).
        batch_size: images per ascent (mixing classes).
        amp: bf16 autocast for the forward passes.
        log_every: log the mean objective every this many steps (0 = never).
    """
    with model_mode(model, False):
        return ascend_in_batches(lambda part: logit_objective(model, targets[part], amp), seeds, threat, steps,
                                  batch_size, "generation", log_every, model_device(model))
