"""Representation inversion (Boychev 2023, eq. 15): from another image or noise, match a target's R(x).

Minimises ‖R(x) − R(x_targ)‖₂ / ‖R(x_targ)‖₂, R the penultimate, globally
pooled features (Engstrom et al. 2019).
"""

from __future__ import annotations

import numpy as np
import torch

from robinterp.attacks.threats import ThreatModel
from robinterp.base.errors import DataError
from robinterp.models.architectures import Classifier
from robinterp.models.running import autocast, model_device, model_mode
from robinterp.synthesis.ascent import Objective, ascend_in_batches, representations


def inversion_objective(model: Classifier, target_representation: torch.Tensor, amp: bool = False) -> Objective:
    """x ↦ −‖R(x) − R(x_targ)‖₂ / ‖R(x_targ)‖₂ per example: eq. 15, negated to be maximised."""
    target = target_representation.float()
    target_norm = target.norm(dim=1)

    def objective(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, amp):
            r = model.representation(x)
        return -(r.float() - target.to(x.device)).norm(dim=1) / target_norm.to(x.device)
    return objective


def invert_representations(model: Classifier, sources: torch.Tensor, targets: torch.Tensor, threat: ThreatModel,
                           steps: int, *, batch_size: int, amp: bool = False,
                           log_every: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Representation inversion (eq. 15): from ``sources``, find images whose R matches that of ``targets``.

    Args:
        model: the classifier whose representation R is inverted.
        sources: starting images (N, C, H, W): other images (the paper's
            "inversion 1") or noise ("inversion 2").
        targets: the images whose representation is matched (N, C, H, W).
        threat: L2 ball around the source (paper: ε = 1000, σ = 1, i.e. in effect unconstrained).
        steps: gradient steps (paper: 10,000).
        batch_size, amp, log_every: see :func:`generate_classes`.

    Returns:
        ``(inversions, final normalised distances (N,))``.
    """
    target_r = representations(model, targets, batch_size, amp)
    with model_mode(model, False):
        inverted = ascend_in_batches(lambda part: inversion_objective(model, target_r[part], amp), sources, threat,
                                      steps, batch_size, "inversion", log_every, model_device(model))
    final_r = representations(model, inverted, batch_size, amp)
    return inverted, (final_r - target_r).norm(dim=1) / target_r.norm(dim=1)


def inversion_pairs(labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets and "inversion 1" sources: ``n`` random test images, each with a random image of another class.

    Returns:
        ``(target indices (n,), source indices (n,))``; labels of each pair differ.
    """
    if n > len(labels):
        raise DataError(f"inversion asks for {n} target images but the test split has {len(labels)}; "
                        "lower synthesis.inversion.n_images")
    rng = np.random.default_rng(seed)
    target_idx = rng.permutation(len(labels))[:n]
    source_idx = np.empty(n, dtype=np.int64)
    for i, t in enumerate(target_idx):
        others = np.flatnonzero(labels != labels[t])
        if len(others) == 0:
            raise DataError("inversion 1 needs test images of at least two classes")
        source_idx[i] = rng.choice(others)
    return target_idx, source_idx
