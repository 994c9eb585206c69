"""Training objectives: the per-batch loss of every training method, behind one call signature.

The training loop calls ``loss_sum, logits = objective(ctx, x, y, shard)`` for
every method (SPEC §7): ``x, y`` are the *whole global batch* (every process
holds it), ``shard`` the slice of it this process trains on. Each objective
returns the **sum over the shard's examples** of its per-example loss, and the
logits it reports training accuracy with (detached). The loop scales the sum by
world size / global batch, so the optimised quantity is the global batch mean
of the per-example loss written in each class's docstring.

Random numbers (attack starts, masking values) are drawn for the global batch
shape from ``ctx.generator`` and then sharded, so N processes together do what
one process does: the objective on shard A plus the objective on shard B, each
called with the same generator state, equals the objective on the full batch
(exactly, for models whose examples do not interact, i.e. without train-mode
BatchNorm in the training forward passes).

Conventions shared by all objectives:

- Forward passes whose gradients reach the parameters go through ``ctx.net``
  (the DDP wrapper, or the model itself), one call per input batch (x, x′, x̃
  are separate calls, as in the reference codes, so train-mode BatchNorm
  normalises each with its own statistics).
- Inner computations that only produce inputs (PGD attacks, saliency maps,
  the inner maximisation of Int) use the bare ``ctx.model`` in eval mode, or in
  train mode when ``ctx.attack_in_train_mode`` (the author's option for
  attacks, applied to every inner computation); the model's mode is restored
  afterwards. Their results are detached.
- ``ctx.amp`` runs forward passes under bf16 autocast; half-precision outputs
  (logits, feature maps, input gradients) are cast to float32 before any loss.

Objectives (config ``name``): ``standard``, ``adversarial``, ``sgt``, ``asgt``,
``int``, ``int2``, ``gradnorm``; see :func:`make_objective`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, fields, MISSING
from typing import Any, ClassVar, Iterator, Mapping, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.attacks import AttackSpec, autocast, model_mode, projected_gradient_ascent
from robinterp.errors import ConfigError
from robinterp.models import Classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepContext:
    """What an objective needs besides the batch, for one optimisation step.

    Args:
        net: the module parameter gradients flow through: the DDP wrapper of
            ``model`` under data parallelism, else ``model`` itself.
        model: the bare classifier; attacks, saliency maps and the inner
            maximisations use it (never the DDP wrapper).
        generator: the source of every random draw (attack starts, masking values).
        attack: the method's attack (config ``attack``); used by ``adversarial``,
            ``asgt``, ``int`` and ``int2``; ``None`` for methods without one.
        amp: compute forward passes in bfloat16 autocast.
        attack_in_train_mode: run inner computations (attacks, saliency, Int's
            inner maximisation) with the model in train mode (BatchNorm uses and
            updates batch statistics; the author's option, off by default).
    """

    net: nn.Module
    model: Classifier
    generator: torch.Generator
    attack: AttackSpec | None
    amp: bool = False
    attack_in_train_mode: bool = False


class Objective(Protocol):
    """The interface of every objective: ``loss_sum, logits = objective(ctx, x, y, shard)``."""

    name: ClassVar[str]
    needs_attack: ClassVar[bool]

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]: ...

    def check_model(self, model: Classifier) -> None: ...


# ---------------------------------------------------------------------------------------------------------------
# Shared pieces


def _check_weight(value: Any, what: str = "weight") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")


def _check_flag(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, got {value!r}")


def _require_attack(ctx: StepContext, name: str) -> AttackSpec:
    if ctx.attack is None:
        raise ValueError(f"objective {name!r} needs an attack, but the step context has none")
    return ctx.attack


def _full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is in a half-precision type (autocast output), else unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _forward(net: nn.Module, x: torch.Tensor, amp: bool) -> torch.Tensor:
    """Logits of ``net`` at ``x`` (autocast when ``amp``), in float32 or the model's wider type."""
    with autocast(x.device, amp):
        return _full_precision(net(x))


def attack_start(attack: AttackSpec, x: torch.Tensor, generator: torch.Generator, shard: slice,
                 force: bool = False) -> torch.Tensor | None:
    """The random start of ``attack`` drawn for the global batch ``x``, restricted to ``shard``.

    ``None`` when the attack has no random start (unless ``force``). This is the
    draw the training loop made before objectives existed, so ``adversarial``
    reproduces it exactly.
    """
    if not (attack.random_start or force):
        return None
    return attack.threat.random_perturb(x, generator)[shard]


def adversarial_examples(ctx: StepContext, name: str, x: torch.Tensor, y: torch.Tensor,
                         shard: slice) -> torch.Tensor:
    """``ctx.attack`` (PGD on the cross-entropy) applied to the shard, start drawn for the global batch."""
    attack = _require_attack(ctx, name)
    start = attack_start(attack, x, ctx.generator, shard)
    return attack(ctx.model, x[shard], y[shard], generator=ctx.generator,
                  attack_in_train_mode=ctx.attack_in_train_mode, amp=ctx.amp, start=start)


class _NoModelRequirement:
    """Mixin for objectives that work with every :class:`~robinterp.models.Classifier`."""

    def check_model(self, model: Classifier) -> None:
        """Every classifier works with this objective."""


# ---------------------------------------------------------------------------------------------------------------
# Standard and adversarial training


@dataclass(frozen=True)
class Standard(_NoModelRequirement):
    """Standard training: per-example loss CE(f(x), y) (Boychev 2023, Algorithm 1 without attack).

    Returns the clean logits.
    """

    name: ClassVar[str] = "standard"
    needs_attack: ClassVar[bool] = False

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        logits = _forward(ctx.net, x[shard], ctx.amp)
        return F.cross_entropy(logits, y[shard], reduction="sum"), logits.detach()


@dataclass(frozen=True)
class Adversarial(_NoModelRequirement):
    """Adversarial training (Madry et al. 2018; Boychev 2023, Algorithm 1): per-example loss CE(f(x′), y).

    x′ = ``ctx.attack`` applied by the bare model to the shard, starting (when the
    attack has ``random_start``) from ``attack.threat.random_perturb`` drawn for
    the whole global batch and then sharded: exactly what the training loop did
    before objectives existed. Returns the logits at x′ (adversarial training accuracy).
    """

    name: ClassVar[str] = "adversarial"
    needs_attack: ClassVar[bool] = True

    def perturb(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor, shard: slice) -> torch.Tensor:
        """x′ for the shard (detached)."""
        return adversarial_examples(ctx, self.name, x, y, shard)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        logits = _forward(ctx.net, self.perturb(ctx, x, y, shard), ctx.amp)
        return F.cross_entropy(logits, y[shard], reduction="sum"), logits.detach()


# ---------------------------------------------------------------------------------------------------------------
# Saliency-guided training (Ismail et al. 2021) and its adversarial variant (seed 002)


def input_saliency(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool = False) -> torch.Tensor:
    """Per-pixel saliency ∂ logit_y / ∂x averaged over channels (not absolute), shape (B, H, W).

    The reference code's ``captum.attr.Saliency(model).attribute(x, y, abs=False).mean(1)``.
    The model's mode is the caller's choice; parameter gradients are not touched.
    """
    x = x.detach().requires_grad_(True)
    logits = _forward(model, x, amp)
    (grad,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x)
    return _full_precision(grad).mean(1)


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
class SGT(_NoModelRequirement):
    """Saliency-guided training (Ismail et al. 2021; seed 002, Algorithm 1; SPEC §7).

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
        _check_weight(self.weight)

    def masked(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor, shard: slice) -> torch.Tensor:
        """x̃ for the shard (detached); consumes one global-batch ``torch.rand`` from ``ctx.generator``."""
        noise = torch.rand(x.shape, generator=ctx.generator, device=x.device, dtype=x.dtype)[shard]
        return _masked_inputs(ctx, x[shard], y[shard], self.mask_fraction, noise)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        x_masked = self.masked(ctx, x, y, shard)
        logits = _forward(ctx.net, x[shard], ctx.amp)
        masked_logits = _forward(ctx.net, x_masked, ctx.amp)
        loss = F.cross_entropy(logits, y[shard], reduction="sum") + self.weight * kl_sum(logits, masked_logits)
        return loss, logits.detach()


@dataclass(frozen=True)
class ASGT(_NoModelRequirement):
    """Adversarial saliency-guided training (seed 002, Algorithm 2, Eq. 5; SPEC §7).

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
        mask_fraction: k (seed 002: 0.1 on CIFAR-10, 0.3 on MNIST). Required.
        weight: λ (seed 002: 1).
    """

    mask_fraction: float
    weight: float = 1.0
    name: ClassVar[str] = "asgt"
    needs_attack: ClassVar[bool] = True

    def __post_init__(self):
        _check_fraction(self.mask_fraction)
        _check_weight(self.weight)

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
        logits = _forward(ctx.net, x[shard], ctx.amp)
        adv_logits = _forward(ctx.net, x_adv, ctx.amp)
        masked_logits = _forward(ctx.net, x_masked, ctx.amp)
        loss = (F.cross_entropy(logits, ys, reduction="sum") + F.cross_entropy(adv_logits, ys, reduction="sum")
                + self.weight * kl_sum(logits, masked_logits))
        return loss, adv_logits.detach()


# ---------------------------------------------------------------------------------------------------------------
# Interpretability-aware robust training with CAMs (Boopathy et al. 2020; seed 001)


def require_feature_maps(model: Classifier, method: str) -> None:
    """Raise ValueError unless ``model``'s trunk exposes ``feature_maps`` (needed for CAMs)."""
    trunk = getattr(model, "trunk", None)
    if not callable(getattr(trunk, "feature_maps", None)) or not isinstance(getattr(model, "head", None), nn.Linear):
        raise ValueError(
            f"training method {method!r} needs class activation maps, but the model's trunk "
            f"{type(trunk).__name__} has no feature_maps() (architecture resnet50 wraps torchvision's ResNet, which "
            "has none); use a CIFAR-style ResNet (resnet18_cifar, resnet_small) or another method")


@contextlib.contextmanager
def _recorded_feature_maps(trunk: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record the maps ``trunk.feature_maps`` returns while the block runs.

    The trunk's forward computes its maps through ``self.feature_maps``; an
    instance attribute shadows the method for the duration of the block, so the
    maps come from the very forward pass that produces the logits (through the
    DDP wrapper too), with no second pass.
    """
    method = type(trunk).feature_maps
    recorded: list[torch.Tensor] = []

    def recording(x: torch.Tensor) -> torch.Tensor:
        maps = method(trunk, x)
        recorded.append(maps)
        return maps

    object.__setattr__(trunk, "feature_maps", recording)
    try:
        yield recorded
    finally:
        object.__delattr__(trunk, "feature_maps")


def logits_and_feature_maps(net: nn.Module, model: Classifier, x: torch.Tensor,
                            amp: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, K) of ``net`` at ``x`` and the last conv maps A(x) (B, C, h, w) of that same pass.

    ``net`` is ``model`` or its DDP wrapper.
    """
    with _recorded_feature_maps(model.trunk) as recorded:
        logits = _forward(net, x, amp)
    if len(recorded) != 1:
        raise RuntimeError(f"the forward pass of trunk {type(model.trunk).__name__} called feature_maps "
                           f"{len(recorded)} times (expected once); cannot take its class activation maps")
    return logits, _full_precision(recorded[0])


def class_activation_maps(model: Classifier, maps: torch.Tensor) -> torch.Tensor:
    """CAM_i(x) = Σ_c W_ic A_c(x) for every class i, shape (B, K, h, w) (Zhou et al. 2016).

    W is the head's weight; the head's bias is left out, as in the reference
    code (whose last layer has none). For a GAP network,
    logit_i = mean_{h,w} CAM_i + b_i; the bias would cancel in every CAM
    difference Int uses anyway.
    """
    return torch.einsum("kc,bchw->bkhw", model.head.weight.to(maps.dtype), maps)


def other_class_probabilities(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """p̃_i = softmax(z)_i / Σ_{j≠y} softmax(z)_j for i ≠ y, and p̃_y = 0 (shape (B, K)).

    The reference code's ``softmax_adv * (1 − labels)`` renormalised over the
    non-true classes, computed stably as a softmax with logit y set to −∞.
    """
    if logits.shape[1] < 2:
        raise ValueError("Int needs at least two classes")
    return F.softmax(logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")), dim=1)


def cam_discrepancy(cams_adv: torch.Tensor, cams: torch.Tensor, y: torch.Tensor,
                    weights: torch.Tensor) -> torch.Tensor:
    """Per-example interpretation discrepancy of Boopathy et al. (2020), shape (B,).

    D_b = Σ_{h,w} |CAM_y(x′) − CAM_y(x)| + Σ_{i≠y} Σ_{h,w} p̃_i |CAM_i(x′) − CAM_i(x)|,

    as the reference code's ``cam_diff``: the ℓ1 norms are sums over the map's
    positions (and, in the second term, over classes of the p̃-weighted
    differences, a p̃-weighted sum of per-class ℓ1 norms since p̃ ≥ 0), with no
    normalisation of the maps and no factor ½.

    Args:
        cams_adv, cams: CAMs (B, K, h, w) at x′ and x.
        y: true labels (B,).
        weights: p̃ (B, K) with p̃_y = 0 (:func:`other_class_probabilities`).
    """
    diff = cams_adv - cams
    true = diff.gather(1, y.view(-1, 1, 1, 1).expand(-1, 1, *diff.shape[2:])).abs().flatten(1).sum(1)
    others = (weights[:, :, None, None] * diff).abs().flatten(1).sum(1)
    return true + others


@dataclass(frozen=True)
class _CamObjective:
    """Shared implementation of :class:`Int` and :class:`Int2` (see their docstrings for the formulas).

    Args:
        weight: λ, the weight of the CAM discrepancy D.
        adversarial_ce: take the cross-entropy at x′ instead of at x ("-Adv").
    """

    weight: float = 0.01
    adversarial_ce: bool = False
    needs_attack: ClassVar[bool] = True
    maximise_discrepancy: ClassVar[bool] = True

    def __post_init__(self):
        _check_weight(self.weight)
        _check_flag(self.adversarial_ce, "adversarial_ce")

    def check_model(self, model: Classifier) -> None:
        """Raise ValueError unless the model has CAMs (a trunk with ``feature_maps``)."""
        require_feature_maps(model, self.name)

    def per_example(self, model: Classifier, logits: torch.Tensor, maps: torch.Tensor, adv_logits: torch.Tensor,
                    adv_maps: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """CE(f(x), y) [or CE(f(x′), y)] + weight · D(x, x′), per example (B,)."""
        weights = other_class_probabilities(adv_logits, y)
        discrepancy = cam_discrepancy(class_activation_maps(model, adv_maps), class_activation_maps(model, maps),
                                      y, weights)
        ce = F.cross_entropy(adv_logits if self.adversarial_ce else logits, y, reduction="none")
        return ce + self.weight * discrepancy

    def perturb(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor, shard: slice) -> torch.Tensor:
        """x′ for the shard (detached): PGD from a random start drawn for the global batch."""
        attack = _require_attack(ctx, self.name)
        model = ctx.model
        self.check_model(model)
        start = attack_start(attack, x, ctx.generator, shard, force=True)
        xs, ys = x[shard], y[shard]
        if not self.maximise_discrepancy:
            return attack(model, xs, ys, generator=ctx.generator, attack_in_train_mode=ctx.attack_in_train_mode,
                          amp=ctx.amp, start=start)
        with model_mode(model, ctx.attack_in_train_mode):
            with torch.no_grad():
                logits, maps = logits_and_feature_maps(model, model, xs, ctx.amp)

            def objective(x_adv: torch.Tensor) -> torch.Tensor:
                adv_logits, adv_maps = logits_and_feature_maps(model, model, x_adv, ctx.amp)
                return self.per_example(model, logits, maps, adv_logits, adv_maps, ys)

            return projected_gradient_ascent(objective, xs, attack.threat, attack.steps, use_best=attack.use_best,
                                             generator=ctx.generator, start=start)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        x_adv = self.perturb(ctx, x, y, shard)
        logits, maps = logits_and_feature_maps(ctx.net, ctx.model, x[shard], ctx.amp)
        adv_logits, adv_maps = logits_and_feature_maps(ctx.net, ctx.model, x_adv, ctx.amp)
        loss = self.per_example(ctx.model, logits, maps, adv_logits, adv_maps, y[shard]).sum()
        return loss, (adv_logits if self.adversarial_ce else logits).detach()


@dataclass(frozen=True)
class Int(_CamObjective):
    """Int, interpretability-aware robust training (Boopathy et al. 2020; seed 001 abstract; SPEC §7).

    Per-example loss (reference code ``train.py``, ``train_int``)::

        CE(f(x), y)  + weight · D(x, x′)     (adversarial_ce = false)
        CE(f(x′), y) + weight · D(x, x′)     (adversarial_ce = true, "Int-Adv")

    D = ‖CAM_y(x′) − CAM_y(x)‖₁ + Σ_{i≠y} p̃_i ‖CAM_i(x′) − CAM_i(x)‖₁
    (:func:`cam_discrepancy`): ℓ1 norms summed over the positions of the last
    feature maps, CAMs without bias and without normalisation
    (:func:`class_activation_maps`), p̃ the softmax at x′ renormalised over the
    classes i ≠ y (:func:`other_class_probabilities`), with gradients through
    p̃ (the reference does not stop them). The loop's division by the global
    batch gives the reference's ``reduce_mean`` over the batch. "-Adv"
    *replaces* the clean CE by the CE at x′ (reference: ``if adv:
    normal_cross_entropy = CE(logits_adv)``); it does not add it.

    x′ maximises this whole per-example objective (the reference's
    ``tf.gradients(cross_entropy, inputs_adv)``; with adversarial_ce = false only
    weight · D depends on x′) by PGD with ``ctx.attack``'s threat (L∞ in the
    paper), step size, steps and ``use_best``, always from a random start drawn
    for the global batch (the attack's ``random_start`` flag is ignored: from
    x′ = x the gradient of D is zero), on the bare model in eval mode unless
    ``ctx.attack_in_train_mode``. Needs a trunk with ``feature_maps``
    (ValueError otherwise, e.g. resnet50). Returns the logits of the CE term's input.

    Args:
        weight: λ, the weight of D (reference: 0.01).
        adversarial_ce: the "-Adv" variant (CE at x′ instead of at x).
    """

    name: ClassVar[str] = "int"
    maximise_discrepancy: ClassVar[bool] = True


@dataclass(frozen=True)
class Int2(_CamObjective):
    """Int2 (Boopathy et al. 2020; reference ``train_int2``): :class:`Int`'s loss, x′ from standard PGD.

    The per-example loss is exactly :class:`Int`'s (same D, p̃, CAMs, reductions
    and "-Adv" semantics), but x′ maximises only CE(f(x′), y): it is
    ``ctx.attack`` itself (the reference's ``tf.gradients(adv_cross_entropy,
    inputs_adv)``), always from a random start drawn for the global batch.
    Needs a trunk with ``feature_maps``. Returns the logits of the CE term's input.

    Args:
        weight: λ, the weight of D (reference: 0.01).
        adversarial_ce: the "-Adv" variant (CE at x′ instead of at x).
    """

    name: ClassVar[str] = "int2"
    maximise_discrepancy: ClassVar[bool] = False


# ---------------------------------------------------------------------------------------------------------------
# Input-gradient norm regularisation (Etmann et al. 2019; Ross & Doshi-Velez 2018; Drucker & LeCun 1992)


@dataclass(frozen=True)
class GradNorm(_NoModelRequirement):
    """Input-gradient (local Lipschitz) regularisation by double backpropagation (seed 003; SPEC §7).

    Per-example loss::

        CE_b + weight · ‖g_b‖₂²,   g = ∂(Σ_j CE_j)/∂x  (the shard's summed cross-entropy)

    g is taken in the training forward pass itself (through ``ctx.net``, with
    ``create_graph=True``, so the penalty is differentiated w.r.t. the
    parameters). When examples do not interact (no BatchNorm, or BatchNorm in
    eval mode) g_b = ∇_{x_b} CE_b exactly. With train-mode BatchNorm the batch
    statistics couple the examples, and g_b = ∇_{x_b} Σ_j CE_j also contains
    the effect of x_b on the other examples' losses through the statistics (the
    usual double-backprop implementation); then g also depends on how the
    batch is sharded. Seed 003 names the method "local Lipschitz regularization"
    without its formula; this is SPEC §7's λ·mean ‖∇ₓ CE‖₂². Returns the clean logits.

    Args:
        weight: λ; the paper trains models at several values. Required.
    """

    weight: float
    name: ClassVar[str] = "gradnorm"
    needs_attack: ClassVar[bool] = False

    def __post_init__(self):
        _check_weight(self.weight)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        xs = x[shard].detach().clone().requires_grad_(True)
        logits = _forward(ctx.net, xs, ctx.amp)
        ce = F.cross_entropy(logits, y[shard], reduction="none")
        (grad,) = torch.autograd.grad(ce.sum(), xs, create_graph=True)
        penalty = _full_precision(grad).flatten(1).pow(2).sum(1)
        return (ce + self.weight * penalty).sum(), logits.detach()


# ---------------------------------------------------------------------------------------------------------------
# Config


OBJECTIVES: dict[str, type] = {cls.name: cls for cls in (Standard, Adversarial, SGT, ASGT, Int, Int2, GradNorm)}


def make_objective(spec: Mapping[str, Any] | None, where: str, *, has_attack: bool) -> Objective:
    """Build the objective a config section describes.

    Args:
        spec: ``{"name": ..., <the class's fields>}``, e.g.
            ``{"name": "sgt", "mask_fraction": 0.1, "weight": 1.0}``; ``None``
            means ``adversarial`` when the method has an attack, else ``standard``.
        where: the config path of ``spec``, named in error messages.
        has_attack: whether the method configures an attack (config ``attack``).

    Raises:
        ConfigError: unknown name or key, missing required key, invalid value,
            or a method that needs an attack (adversarial, asgt, int, int2)
            configured without one.
    """
    if spec is None:
        return Adversarial() if has_attack else Standard()
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a mapping with a 'name' key, got {spec!r}")
    values = dict(spec)
    name = values.pop("name", None)
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown training objective {name!r} in {where}.name; allowed: {sorted(OBJECTIVES)}")
    cls = OBJECTIVES[name]
    allowed = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where} for objective {name!r}; "
                          f"allowed: {sorted(['name', *allowed])}")
    missing = [k for k, f in allowed.items() if k not in values and f.default is MISSING]
    if missing:
        raise ConfigError(f"missing key(s) {missing} in {where} (objective {name!r})")
    if cls.needs_attack and not has_attack:
        raise ConfigError(f"training objective {name!r} in {where} needs an attack; configure the method's attack "
                          "or choose an objective without one")
    try:
        objective = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value in {where} (objective {name!r}): {exc}") from exc
    log.debug("training objective %s from %s", objective, where)
    return objective

