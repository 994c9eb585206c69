"""Interpretability-aware robust training with class activation maps: Int and Int2 (Boopathy et al. 2020)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.attacks.ascent import projected_gradient_ascent
from robinterp.models.architectures import Classifier
from robinterp.models.running import full_precision, model_mode
from robinterp.training.step import (ObjectiveBase, StepContext, attack_start, check_flag, check_weight, forward,
                                     moves_images, require_attack)


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
        logits = forward(net, x, amp)
    if len(recorded) != 1:
        raise RuntimeError(f"the forward pass of trunk {type(model.trunk).__name__} called feature_maps "
                           f"{len(recorded)} times (expected once); cannot take its class activation maps")
    return logits, full_precision(recorded[0])


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
class _CamObjective(ObjectiveBase):
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
        check_weight(self.weight)
        check_flag(self.adversarial_ce, "adversarial_ce")

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
        attack = require_attack(ctx, self.name)
        model = ctx.model
        self.check_model(model)
        if not moves_images(attack):  # ε = 0 (warm-up): x′ = x, no random draw, no pass
            return x[shard].detach()
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
        if moves_images(require_attack(ctx, self.name)):
            adv_logits, adv_maps = logits_and_feature_maps(ctx.net, ctx.model, x_adv, ctx.amp)
        else:  # ε = 0 (warm-up): x′ = x, so f(x′) is f(x) (one pass), D = 0 and the loss is CE(f(x), y)
            adv_logits, adv_maps = logits, maps
        loss = self.per_example(ctx.model, logits, maps, adv_logits, adv_maps, y[shard]).sum()
        return loss, (adv_logits if self.adversarial_ce else logits).detach()


@dataclass(frozen=True)
class Int(_CamObjective):
    """Int, interpretability-aware robust training (Boopathy et al. 2020).

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

    At ε = 0 (the first steps of an ε warm-up) x′ = x: no attack, one forward
    pass, D = 0, and the loss is the clean cross-entropy, as in the reference
    code, which skips the attack while ``eps_val(step)`` is 0.

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
