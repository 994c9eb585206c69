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
            An attack with a ``max_examples`` attribute that is not None (AutoAttack on a subset,
            as RobustBench does for costly attacks) attacks only the first ``max_examples`` of
            the evaluated images, and its accuracy is over those.
        batch_size: images per batch.
        device: where to compute.
        indices: evaluate only these images of ``split`` (default: all).
        seed: seed of the attacks' random starts.
        amp: bfloat16 autocast for forward passes.

    Returns:
        ``{"n": number of images, "clean_accuracy": …, "<name>_accuracy": …, "n_<name>": images
        attacked by <name>}``.
    """
    indices = np.arange(len(split)) if indices is None else indices
    generator = torch.Generator(device=device).manual_seed(seed)
    n = len(indices)
    limit = {name: min(n, getattr(attack, "max_examples", None) or n) for name, attack in attacks.items()}
    correct = {"clean": 0, **{name: 0 for name in attacks}}
    attacked = {name: 0 for name in attacks}
    n_batches = math.ceil(n / batch_size)
    with model_mode(model, False):
        for b, (x, y) in enumerate(split_batches(split, indices, batch_size, device), 1):
            with torch.no_grad(), autocast(device, amp):
                correct["clean"] += (model(x).argmax(1) == y).sum().item()
            for name, attack in attacks.items():
                take = min(len(y), limit[name] - attacked[name])
                if take <= 0:
                    continue
                x_adv = attack(model, x[:take], y[:take], generator=generator, amp=amp)
                with torch.no_grad(), autocast(device, amp):
                    correct[name] += (model(x_adv).argmax(1) == y[:take]).sum().item()
                attacked[name] += take
            if attacks and (b % 10 == 0 or b == n_batches):
                log.info("evaluated batch %d/%d", b, n_batches)
    out = {"n": n, "clean_accuracy": 100.0 * correct["clean"] / n}
    for name in attacks:
        out[f"{name}_accuracy"] = 100.0 * correct[name] / attacked[name] if attacked[name] else math.nan
        out[f"n_{name}"] = attacked[name]
    return out
