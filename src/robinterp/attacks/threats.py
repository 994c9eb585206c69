"""Threat models: the sets an attack (or any projected ascent) may move an image in.

A threat model is a small object with three operations, as in MadryLab's
``robustness/attack_steps.py``: ``step`` (move along the gradient), ``project``
(back into the ε-ball around the centre and into [0, 1]) and ``random_perturb``
(a random start inside the ball); ``clip_to_ball`` maps a perturbation δ into the
ball alone, for free adversarial training, which carries δ from one batch of
images to the next (:class:`robinterp.training.objectives.Free`). The one ascent loop,
:func:`robinterp.attacks.ascent.projected_gradient_ascent`, talks only to this
interface (:class:`ThreatModel`).

Semantics (Madry et al. 2018; MadryLab ``robustness``): L2 step x ← x + σ·g/‖g‖₂
per example, projection by rescaling δ onto the ε-ball; L∞ step x ← x + σ·sign(g),
projection by clipping δ to [−ε, ε]; both clamp x to [0, 1] after every step.
With ``eps=None`` a threat is unconstrained: the set is the whole box [0, 1]^n, the
projection only clamps, and there is no random start (the synthesis procedures of
Boychev 2023, whose "ε = 1000" stands for no ball at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

# Guards the division by a zero gradient or zero perturbation; the value is the
# one MadryLab robustness and torchattacks use, so iterates agree with theirs.
_TINY = 1e-10
# Guards the ℓ1 normalisation of an all-zero gradient (torchattacks has no guard and returns NaN there).
_TINY_L1 = 1e-12


def per_example_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each example, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def _no_ball(threat) -> ValueError:
    return ValueError(f"eps: {type(threat).__name__} with eps None is unconstrained and has no ball to draw a random "
                      "start from; give a finite eps or start from the centre (random_start false)")


class ThreatModel(Protocol):
    """What the ascent loop needs of a constraint set: a step, a projection and a random start."""

    eps: float | None
    step_size: float

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One ascent step from ``x`` along ``grad`` (before projection)."""
        ...

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """The point of the set around ``center`` that ``x`` is mapped to."""
        ...

    def clip_to_ball(self, delta: torch.Tensor) -> torch.Tensor:
        """The perturbation ``delta`` mapped into the ε-ball around 0, without the box [0, 1]."""
        ...

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random point of the set around ``center``."""
        ...


@dataclass(frozen=True)
class L2Threat:
    """The L2 ball {x′ : ‖x′ − x‖₂ ≤ ε} ∩ [0, 1]^n around the start point x; [0, 1]^n for ε None.

    Args:
        eps: radius ε of the ball (a float, or a tensor broadcasting per example); None:
            unconstrained, the set is the box [0, 1]^n.
        step_size: length σ of each ascent step (before projection).
    """

    eps: float | torch.Tensor | None
    step_size: float | torch.Tensor

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One ascent step of length exactly ``step_size`` along the normalised gradient."""
        return x + self.step_size * grad / (per_example_norm(grad) + _TINY)

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """Rescale δ = x − center onto the ε-ball, then clamp to [0, 1] (only clamp for ε None)."""
        if self.eps is None:
            return torch.clamp(x, 0.0, 1.0)
        return torch.clamp(center + self.clip_to_ball(x - center), 0.0, 1.0)

    def clip_to_ball(self, delta: torch.Tensor) -> torch.Tensor:
        """δ rescaled, per example, onto the ε-ball {‖δ‖₂ ≤ ε} (unchanged inside it; for ε None, unchanged)."""
        if self.eps is None:
            return delta
        return delta * torch.clamp(self.eps / (per_example_norm(delta) + _TINY), max=1.0)

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random point on the ε-sphere around ``center`` (Madry's L2 start), clamped to [0, 1]."""
        if self.eps is None:
            raise _no_ball(self)
        noise = torch.randn(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        return torch.clamp(center + self.eps * noise / (per_example_norm(noise) + _TINY), 0.0, 1.0)


@dataclass(frozen=True)
class LinfThreat:
    """The L∞ ball {x′ : ‖x′ − x‖∞ ≤ ε} ∩ [0, 1]^n around the start point x; [0, 1]^n for ε None.

    Args:
        eps: radius ε of the ball (per pixel); None: unconstrained, the set is the box [0, 1]^n.
        step_size: size σ of each signed-gradient step.
    """

    eps: float | None
    step_size: float

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One ascent step: every coordinate moves by ``step_size`` along the sign of the gradient."""
        return x + self.step_size * grad.sign()

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """Clip δ = x − center to [−ε, ε], then clamp to [0, 1] (only clamp for ε None)."""
        if self.eps is None:
            return torch.clamp(x, 0.0, 1.0)
        return torch.clamp(center + self.clip_to_ball(x - center), 0.0, 1.0)

    def clip_to_ball(self, delta: torch.Tensor) -> torch.Tensor:
        """δ clipped to [−ε, ε] in every coordinate (for ε None, unchanged)."""
        if self.eps is None:
            return delta
        return torch.clamp(delta, -self.eps, self.eps)

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniform random point of the ε-cube around ``center``, clamped to [0, 1]."""
        if self.eps is None:
            raise _no_ball(self)
        u = torch.rand(center.shape, generator=generator, device=center.device, dtype=center.dtype)
        return torch.clamp(center + (2 * u - 1) * self.eps, 0.0, 1.0)


class MomentumLinfThreat:
    """The L∞ threat with Dong et al.'s momentum in its step (MI-FGSM, :func:`robinterp.attacks.pgd.mi_fgsm`).

    ``step`` accumulates g ← μ·g + ∇/‖∇‖₁ (the ℓ1 norm per example, over all pixels and
    channels) and moves the base threat's signed step along g, x ← x + α·sign(g);
    ``project`` and ``random_perturb`` are the base threat's. It carries state (g), so
    build a new one for every attack (:func:`mi_fgsm` does).

    Args:
        base: the L∞ ball (radius ε) and the step size α.
        decay: momentum factor μ (Dong et al.: 1.0).
    """

    def __init__(self, base: LinfThreat, decay: float):
        self.base = base
        self.decay = decay
        self.momentum: torch.Tensor | None = None

    @property
    def eps(self) -> float:
        return self.base.eps

    @property
    def step_size(self) -> float:
        return self.base.step_size

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        l1 = grad.abs().flatten(1).sum(dim=1).view(-1, *([1] * (grad.dim() - 1)))
        normalised = grad / (l1 + _TINY_L1)
        self.momentum = normalised if self.momentum is None else self.decay * self.momentum + normalised
        return self.base.step(x, self.momentum)

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        return self.base.project(x, center)

    def clip_to_ball(self, delta: torch.Tensor) -> torch.Tensor:
        return self.base.clip_to_ball(delta)

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.base.random_perturb(center, generator)


def make_threat(norm: str, eps: float | None, step_size: float) -> ThreatModel:
    """Build a threat model from its config name (``"l2"`` or ``"linf"``); ``eps`` None: unconstrained."""
    if norm == "l2":
        return L2Threat(eps, step_size)
    if norm == "linf":
        return LinfThreat(eps, step_size)
    raise ValueError(f"unknown norm {norm!r}; use 'l2' or 'linf'")
