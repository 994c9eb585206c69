"""Projected gradient ascent: the one loop behind every attack and every image synthesis.

:func:`projected_gradient_ascent` maximises any per-example objective over a
threat model's set (:mod:`robinterp.attacks.threats`): the adversarial attacks
(:mod:`robinterp.attacks.pgd`) and, elsewhere in the package, representation
inversion, feature visualisation and class generation (:mod:`robinterp.synthesis`).
"""

from __future__ import annotations

from typing import Callable

import torch

from robinterp.attacks.threats import ThreatModel


def projected_gradient_ascent(
    objective: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    threat: ThreatModel,
    steps: int,
    *,
    random_start: bool = False,
    use_best: bool = False,
    generator: torch.Generator | None = None,
    start: torch.Tensor | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Maximise ``objective`` over the threat model's ball around ``x0``.

    Args:
        objective: maps a batch (B, C, H, W) to per-example values (B,) to be
            maximised; it must be differentiable in its input.
        x0: centre of the ball and (without ``random_start``) the first iterate.
        threat: an :class:`L2Threat` or :class:`LinfThreat`.
        steps: number of gradient steps K.
        random_start: start from ``threat.random_perturb(x0)`` instead of ``x0``.
        use_best: return, per example, the iterate with the highest objective
            seen (including the last one) rather than the last iterate.
        generator: source of the random start, for reproducibility.
        start: the first iterate, drawn by the caller (data-parallel training
            draws the random starts of a whole global batch and gives each
            process its shard); overrides ``random_start``.
        callback: called as ``callback(step, values)`` with the step index and the
            objective's values (B,) at the iterate before that step, e.g. to log the
            progress of a 10,000-step inversion. It should read ``values`` only now
            and then: on a GPU every read waits for the device.

    Returns:
        The final (or best) iterates, detached, same shape as ``x0``.
    """
    x0 = x0.detach()
    if start is not None:
        x = start.detach().clone()
    else:
        x = threat.random_perturb(x0, generator) if random_start else x0.clone()
    best_x, best_values = (x.clone(), None) if use_best else (None, None)

    def remember(x_now: torch.Tensor, values: torch.Tensor) -> None:
        nonlocal best_values
        if best_values is None:
            best_values = values.clone()
            best_x.copy_(x_now)
            return
        better = values > best_values
        best_values = torch.where(better, values, best_values)
        best_x[better] = x_now[better]

    for i in range(steps):
        x.requires_grad_(True)
        values = objective(x)
        (grad,) = torch.autograd.grad(values.sum(), x)
        x = x.detach()
        if callback is not None:
            callback(i, values.detach())
        if use_best:
            remember(x, values.detach().float())
        x = threat.project(threat.step(x, grad), x0)
    if use_best:
        with torch.no_grad():
            remember(x, objective(x).float())
        return best_x
    return x
