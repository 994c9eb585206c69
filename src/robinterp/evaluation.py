"""Clean and adversarial accuracy of a classifier on a prepared split."""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from robinterp.attacks import AttackSpec, autocast, model_mode
from robinterp.data.batches import split_batches
from robinterp.data.store import Split

log = logging.getLogger(__name__)


def evaluate_accuracy(model: nn.Module, split: Split, attacks: Mapping[str, AttackSpec], *, batch_size: int,
                      device: torch.device, indices: np.ndarray | None = None, seed: int = 0,
                      amp: bool = False) -> dict[str, float]:
    """Accuracy in percent on clean images and under each attack.

    Args:
        model: classifier taking images in [0, 1]; evaluated in eval mode.
        split: images and labels.
        attacks: name → attack (an :class:`~robinterp.attacks.AttackSpec` or a
            :class:`~robinterp.attack_suite.SuiteAttack`: anything called as
            ``attack(model, x, y, generator=…, amp=…)``); each adds a metric ``<name>_accuracy``.
        batch_size: images per batch.
        device: where to compute.
        indices: evaluate only these images of ``split`` (default: all).
        seed: seed of the attacks' random starts.
        amp: bfloat16 autocast for forward passes.

    Returns:
        ``{"clean_accuracy": …, "<name>_accuracy": …, "n": number of images}``.
    """
    indices = np.arange(len(split)) if indices is None else indices
    generator = torch.Generator(device=device).manual_seed(seed)
    correct = {"clean": 0, **{name: 0 for name in attacks}}
    n_batches = math.ceil(len(indices) / batch_size)
    with model_mode(model, False):
        for b, (x, y) in enumerate(split_batches(split, indices, batch_size, device), 1):
            with torch.no_grad(), autocast(device, amp):
                correct["clean"] += (model(x).argmax(1) == y).sum().item()
            for name, attack in attacks.items():
                x_adv = attack(model, x, y, generator=generator, amp=amp)
                with torch.no_grad(), autocast(device, amp):
                    correct[name] += (model(x_adv).argmax(1) == y).sum().item()
            if attacks and (b % 10 == 0 or b == n_batches):
                log.info("evaluated batch %d/%d", b, n_batches)
    n = len(indices)
    return {"n": n, **{f"{name}_accuracy": 100.0 * c / n for name, c in correct.items()}}
