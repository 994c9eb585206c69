"""Threat models and projected gradient ascent in pixel space (Madry et al. 2018).

A threat model is a small object with three operations, as in MadryLab's
``robustness/attack_steps.py``: ``step`` (move along the gradient), ``project``
(back into the ε-ball around the centre and into [0, 1]) and
``random_perturb`` (a random start inside the ball). One loop,
:func:`projected_gradient_ascent`, maximises any per-example objective with
them: the adversarial attack here, and representation inversion, feature
visualisation and class generation elsewhere in the package.

Semantics (SPEC §3): L2 step x ← x + σ·g/‖g‖₂ per example, projection by
rescaling δ onto the ε-ball; Linf step x ← x + σ·sign(g), projection by
clipping δ to [−ε, ε]; both clamp x to [0, 1] after every step.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

# Guards the division by a zero gradient or zero perturbation; the value is the
# one MadryLab robustness and torchattacks use, so iterates agree with theirs.
_TINY = 1e-10


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each example, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


@dataclass(frozen=True)
class L2Threat:
    """The L2 ball of radius ``eps`` around the start point, intersected with [0, 1].

    Args:
        eps: radius ε of the ball.
        step_size: length σ of each ascent step (before projection).
    """

    eps: float
    step_size: float

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One ascent step of length exactly ``step_size`` along the normalised gradient."""
        return x + self.step_size * grad / (_per_example_norm(grad) + _TINY)

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """Rescale δ = x − center onto the ε-ball, then clamp to [0, 1]."""
        delta = x - center
        scale = torch.clamp(self.eps / (_per_example_norm(delta) + _TINY), max=1.0)
        return torch.clamp(center + delta * scale, 0.0, 1.0)

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random point on the ε-sphere around ``center`` (Madry's L2 start), clamped to [0, 1]."""
        noise = torch.randn(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        return torch.clamp(center + self.eps * noise / (_per_example_norm(noise) + _TINY), 0.0, 1.0)


@dataclass(frozen=True)
class LinfThreat:
    """The L∞ ball of radius ``eps`` around the start point, intersected with [0, 1].

    Args:
        eps: radius ε of the ball (per pixel).
        step_size: size σ of each signed-gradient step.
    """

    eps: float
    step_size: float

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return x + self.step_size * grad.sign()

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        delta = torch.clamp(x - center, -self.eps, self.eps)
        return torch.clamp(center + delta, 0.0, 1.0)

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniform random point of the ε-cube around ``center``, clamped to [0, 1]."""
        u = torch.rand(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        return torch.clamp(center + (2 * u - 1) * self.eps, 0.0, 1.0)


ThreatModel = L2Threat | LinfThreat


def make_threat(norm: str, eps: float, step_size: float) -> ThreatModel:
    """Build a threat model from its config name (``"l2"`` or ``"linf"``)."""
    if norm == "l2":
        return L2Threat(eps, step_size)
    if norm == "linf":
        return LinfThreat(eps, step_size)
    raise ValueError(f"unknown norm {norm!r}; use 'l2' or 'linf'")


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


@contextlib.contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Temporarily put ``model`` in train or eval mode, restoring its mode afterwards."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``enabled``; a no-op otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def pgd_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    steps: int,
    *,
    random_start: bool = False,
    use_best: bool = False,
    generator: torch.Generator | None = None,
    attack_in_train_mode: bool = False,
    amp: bool = False,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """Untargeted PGD: maximise the cross-entropy of ``model`` at the true labels ``y``.

    Args:
        model: classifier taking images in [0, 1].
        x: clean images (B, C, H, W) in [0, 1].
        y: true labels (B,).
        threat, steps, random_start, use_best, generator, start: see
            :func:`projected_gradient_ascent`.
        attack_in_train_mode: attack with the model in train mode, so BatchNorm
            uses and updates batch statistics (the author's code; not Madry's
            semantics, off by default).
        amp: compute the forward passes in bfloat16 autocast.

    Returns:
        Adversarial images, detached.
    """

    def cross_entropy(x_adv: torch.Tensor) -> torch.Tensor:
        with autocast(x_adv.device, amp):
            logits = model(x_adv)
        return F.cross_entropy(logits.float(), y, reduction="none")

    with model_mode(model, attack_in_train_mode):
        return projected_gradient_ascent(cross_entropy, x, threat, steps, random_start=random_start,
                                         use_best=use_best, generator=generator, start=start)


@dataclass(frozen=True)
class AttackSpec:
    """An attack as written in the config: threat model plus loop settings."""

    norm: str
    eps: float
    step_size: float
    steps: int
    random_start: bool = False
    use_best: bool = False

    def __post_init__(self):
        make_threat(self.norm, self.eps, self.step_size)  # rejects an unknown norm at construction

    @property
    def threat(self) -> ThreatModel:
        return make_threat(self.norm, self.eps, self.step_size)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 generator: torch.Generator | None = None, attack_in_train_mode: bool = False,
                 amp: bool = False, start: torch.Tensor | None = None) -> torch.Tensor:
        return pgd_attack(model, x, y, self.threat, self.steps, random_start=self.random_start,
                          use_best=self.use_best, generator=generator,
                          attack_in_train_mode=attack_in_train_mode, amp=amp, start=start)
