"""Saliency-guided training (Ismail et al. 2021, Alg. 1) and its adversarial variant ASGT (Alg. 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.models.running import full_precision, model_mode
from robinterp.training.step import NoModelRequirement, StepContext, adversarial_examples, check_weight, forward


def input_saliency(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool = False) -> torch.Tensor:
    """Per-pixel saliency ∂ logit_y / ∂x averaged over channels (not absolute), shape (B, H, W).

    The reference code's ``captum.attr.Saliency(model).attribute(x, y, abs=False).mean(1)``.
    The model's mode is the caller's choice; parameter gradients are not touched.
    """
    x = x.detach().requires_grad_(True)
    logits = forward(model, x, amp)
    (grad,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x)
    return full_precision(grad).mean(1)


def masked_pixel_count(fraction: float, pixels: int) -> int:
    """How many of ``pixels`` pixels a mask fraction k replaces: ⌊k·pixels⌋.

    The reference code's ``int(k * n)`` (a tolerance of 1e-9 keeps e.g. 0.29·100 at 29).
    """
    return int(fraction * pixels + 1e-9)


def mask_lowest_saliency(x: torch.Tensor, saliency: torch.Tensor, fraction: float,
                         noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """M_k of Ismail et al. (2021): replace the lowest-saliency pixels by random values in the image's range.

    Args:
        x: images (B, C, H, W).
        saliency: per-pixel saliency (B, H, W); the ⌊k·H·W⌋ pixels with the
            lowest (signed) values are replaced, in all channels.
        fraction: k, the fraction of pixels to replace.
        noise: uniform [0, 1) values (B, C, H, W); a replaced value is
            min(x_b) + (max(x_b) − min(x_b))·noise, min/max over the whole image b.

    Returns:
        ``(x̃, mask)``: the masked images (detached) and the boolean mask (B, H, W).
    """
    b, c, h, w = x.shape
    n = masked_pixel_count(fraction, h * w)
    lowest = saliency.reshape(b, h * w).topk(n, dim=1, largest=False).indices
    mask = torch.zeros(b, h * w, dtype=torch.bool, device=x.device).scatter_(1, lowest, True).view(b, 1, h, w)
    flat = x.detach().reshape(b, -1)
    low, high = flat.amin(1).view(b, 1, 1, 1), flat.amax(1).view(b, 1, 1, 1)
    fill = low + (high - low) * noise.to(x.dtype)
    return torch.where(mask, fill, x.detach()), mask.view(b, h, w)


def kl_sum(logits: torch.Tensor, masked_logits: torch.Tensor) -> torch.Tensor:
    """Σ_b Σ_i p_bi (log p_bi − log q̃_bi), p = softmax(f(x)), q̃ = softmax(f(x̃)).

    The per-example sum behind the reference code's
    ``nn.KLDivLoss(reduction="batchmean")(log_softmax(f(x̃)), softmax(f(x)))``,
    which is this sum divided by the batch size: returning the sum and letting
    the loop divide by the global batch gives batchmean over the global batch.
    In the usual notation this is KL(f(x) ‖ f(x̃)). The target softmax(f(x)) is
    not detached (the reference code does not detach it), so gradients flow
    through both distributions.
    """
    return F.kl_div(F.log_softmax(masked_logits, dim=1), F.softmax(logits, dim=1), reduction="none").sum()


def _masked_inputs(ctx: StepContext, images: torch.Tensor, y: torch.Tensor, fraction: float,
                   noise: torch.Tensor) -> torch.Tensor:
    with model_mode(ctx.model, ctx.attack_in_train_mode):
        saliency = input_saliency(ctx.model, images, y, ctx.amp)
    return mask_lowest_saliency(images, saliency, fraction, noise)[0]


def _check_fraction(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"mask_fraction must be a number in (0, 1], got {value!r}")


@dataclass(frozen=True)
class SGT(NoModelRequirement):
    """Saliency-guided training (Ismail et al. 2021, Alg. 1).

    Per batch: saliency S = ∂ logit_y/∂x at x, averaged over channels (bare
    model, eval mode unless ``ctx.attack_in_train_mode``, as the reference code's
    ``model.eval()`` before ``Saliency``); x̃ = M_k(x, S) replaces the ⌊k·H·W⌋
    lowest-saliency pixels (all channels) by uniform random values in
    [min x_b, max x_b] of each image (:func:`mask_lowest_saliency`; the uniform
    numbers are one ``torch.rand`` of the global batch shape from ``ctx.generator``,
    then sharded). Per-example loss::

        CE(f(x), y) + weight · Σ_i p_i (log p_i − log q̃_i),   p = softmax(f(x)), q̃ = softmax(f(x̃))

    i.e. the reference's ``KLDivLoss(reduction="batchmean")(log_softmax(f(x̃)), softmax(f(x)))``
    once the loop divides the sum by the global batch (:func:`kl_sum`); the
    target p is not detached. Returns the clean logits.

    Args:
        mask_fraction: k, the fraction of pixels replaced; the paper uses 0.1–0.5
            (ASGT's settings: 0.1 on CIFAR-10, 0.3 on MNIST). Required.
        weight: λ, the weight of the KL term (paper: 1).
    """

    mask_fraction: float
    weight: float = 1.0
    name: ClassVar[str] = "sgt"
    needs_attack: ClassVar[bool] = False

    def __post_init__(self):
        _check_fraction(self.mask_fraction)
        check_weight(self.weight)

    def masked(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor, shard: slice) -> torch.Tensor:
        """x̃ for the shard (detached); consumes one global-batch ``torch.rand`` from ``ctx.generator``."""
        noise = torch.rand(x.shape, generator=ctx.generator, device=x.device, dtype=x.dtype)[shard]
        return _masked_inputs(ctx, x[shard], y[shard], self.mask_fraction, noise)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        x_masked = self.masked(ctx, x, y, shard)
        logits = forward(ctx.net, x[shard], ctx.amp)
        masked_logits = forward(ctx.net, x_masked, ctx.amp)
        loss = F.cross_entropy(logits, y[shard], reduction="sum") + self.weight * kl_sum(logits, masked_logits)
        return loss, logits.detach()


@dataclass(frozen=True)
class ASGT(NoModelRequirement):
    """Adversarial saliency-guided training (the saliency-guided robustness study of 2024, Alg. 2, eq. 5).

    Per batch: x′ = ``ctx.attack`` (PGD on the cross-entropy; L∞ in the paper) on
    the shard, with its random start drawn for the global batch (as
    ``adversarial``); S′ = saliency at x′ (∂ logit_y/∂x′, channel mean, as in
    :class:`SGT`); x̃′ = M_k(x′, S′) with values uniform in [min x′_b, max x′_b]
    (one ``torch.rand`` of the global batch shape, drawn after the attack start).
    Per-example loss::

        CE(f(x), y) + CE(f(x′), y) + weight · Σ_i p_i (log p_i − log q̃′_i),
        p = softmax(f(x)), q̃′ = softmax(f(x̃′))

    with the KL term in the same form and direction as :class:`SGT` (the
    reference code of Ismail et al.; the paper writes it D_KL(f(x̃′) ‖ f(x))).
    Returns the logits at x′ (adversarial training accuracy, as ``adversarial``).

    Args:
        mask_fraction: k (that study: 0.1 on CIFAR-10, 0.3 on MNIST). Required.
        weight: λ (that study: 1).
    """

    mask_fraction: float
    weight: float = 1.0
    name: ClassVar[str] = "asgt"
    needs_attack: ClassVar[bool] = True

    def __post_init__(self):
        _check_fraction(self.mask_fraction)
        check_weight(self.weight)

    def perturb(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """(x′, x̃′) for the shard, both detached."""
        x_adv = adversarial_examples(ctx, self.name, x, y, shard)
        noise = torch.rand(x.shape, generator=ctx.generator, device=x.device, dtype=x.dtype)[shard]
        return x_adv, _masked_inputs(ctx, x_adv, y[shard], self.mask_fraction, noise)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        x_adv, x_masked = self.perturb(ctx, x, y, shard)
        ys = y[shard]
        logits = forward(ctx.net, x[shard], ctx.amp)
        adv_logits = forward(ctx.net, x_adv, ctx.amp)
        masked_logits = forward(ctx.net, x_masked, ctx.amp)
        loss = (F.cross_entropy(logits, ys, reduction="sum") + F.cross_entropy(adv_logits, ys, reduction="sum")
                + self.weight * kl_sum(logits, masked_logits))
        return loss, adv_logits.detach()
