"""Gradient attacks on the cross-entropy: PGD (Madry et al. 2018), FGSM and MI-FGSM.

Every attack works in pixel space (images in [0, 1], normalisation inside the
model), maximises the cross-entropy at the true labels, and runs the one ascent
loop (:func:`robinterp.attacks.ascent.projected_gradient_ascent`) with a threat
model (:mod:`robinterp.attacks.threats`):

- :func:`pgd_attack`: untargeted PGD with an L2 or L∞ threat;
- :func:`fgsm`: the fast gradient sign method (Goodfellow et al. 2015),
  x′ = clamp(x + ε·sign(∇ₓ CE), 0, 1): one PGD step with an L∞ threat of radius ε
  and step ε (the clip to [−ε, ε] is then a no-op);
- :func:`mi_fgsm`: the momentum iterative FGSM (Dong et al. 2018),
  g ← μ·g + ∇/‖∇‖₁, x ← clip_ε(x + α·sign(g)), PGD with a
  :class:`~robinterp.attacks.threats.MomentumLinfThreat`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.attacks.ascent import projected_gradient_ascent
from robinterp.attacks.threats import LinfThreat, MomentumLinfThreat, ThreatModel
from robinterp.models.running import autocast, model_mode


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


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, amp: bool = False) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015; Ismail et al. 2021, eq. 6).

    x′ = clamp(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1), computed as one step of
    :func:`pgd_attack` with ``LinfThreat(eps, step_size=eps)``. It
    equals ``torchattacks.FGSM(model, eps)`` (which differentiates the mean instead of
    the sum of the per-example losses: the same signs).

    Args:
        model: classifier taking images in [0, 1]; attacked in eval mode (mode restored).
        x: clean images (B, C, H, W) in [0, 1].
        y: true labels (B,).
        eps: the L∞ budget ε (per pixel), also the step size.
        amp: compute the forward pass in bfloat16 autocast.

    Returns:
        Adversarial images, detached, in [0, 1] and within ε of ``x`` in L∞.
    """
    return pgd_attack(model, x, y, LinfThreat(eps, eps), steps=1, amp=amp)


def mi_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, decay: float = 1.0,
            step_size: float | None = None, *, random_start: bool = False, use_best: bool = False,
            generator: torch.Generator | None = None, amp: bool = False) -> torch.Tensor:
    """Momentum iterative FGSM (Dong et al. 2018, Alg. 1; Ismail et al. 2021, eq. 8–9).

    For t = 0 … T−1: g ← μ·g + ∇ₓCE(f(xₜ), y)/‖∇ₓCE(f(xₜ), y)‖₁ (g₀ = 0, the ℓ1 norm per
    example over all pixels), xₜ₊₁ = clamp(clip_ε(xₜ + α·sign(g)), 0, 1), run by
    :func:`pgd_attack` with a :class:`MomentumLinfThreat`. With the
    defaults it equals ``torchattacks.MIFGSM(model, eps, alpha=eps/steps, steps, decay)``,
    which divides by the mean |∇| instead of the sum (a factor of the pixel count on
    every term of g: the same signs) and has no guard against an all-zero gradient.

    Args:
        model: classifier taking images in [0, 1]; attacked in eval mode (mode restored).
        x: clean images (B, C, H, W) in [0, 1].
        y: true labels (B,).
        eps: the L∞ budget ε.
        steps: number of iterations T.
        decay: momentum factor μ (Dong et al.: 1.0; μ = 0 gives iterative FGSM / PGD without random start).
        step_size: α; default ε/T (Dong et al.), so T steps can just reach the border of the ball.
        random_start, use_best, generator: as for :func:`robinterp.attacks.ascent.projected_gradient_ascent`
            (neither is part of Dong et al.'s attack; both off by default).
        amp: compute the forward passes in bfloat16 autocast.

    Returns:
        Adversarial images, detached.
    """
    alpha = eps / steps if step_size is None else step_size
    threat = MomentumLinfThreat(LinfThreat(eps, alpha), decay)
    return pgd_attack(model, x, y, threat, steps, random_start=random_start, use_best=use_best,
                      generator=generator, amp=amp)
