"""The training objectives by name, and the plain ones: standard, adversarial and gradient-norm training.

Every objective is one small object behind the call signature of
:class:`robinterp.training.step.Objective`; :func:`make_objective` turns a
method's config section into one. The other seeds' objectives live beside this
module: saliency-guided training in :mod:`robinterp.training.saliency`, the
CAM-based Int / Int2 in :mod:`robinterp.training.cam`.
"""

from __future__ import annotations

import logging
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F

from robinterp.base.errors import ConfigError
from robinterp.models.running import full_precision
from robinterp.training.cam import Int, Int2
from robinterp.training.saliency import ASGT, SGT
from robinterp.training.step import (NoModelRequirement, Objective, StepContext, adversarial_examples, check_weight,
                                     forward)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Standard(NoModelRequirement):
    """Standard training: per-example loss CE(f(x), y) (Boychev 2023, Algorithm 1 without attack).

    Returns the clean logits.
    """

    name: ClassVar[str] = "standard"
    needs_attack: ClassVar[bool] = False

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        logits = forward(ctx.net, x[shard], ctx.amp)
        return F.cross_entropy(logits, y[shard], reduction="sum"), logits.detach()


@dataclass(frozen=True)
class Adversarial(NoModelRequirement):
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
        logits = forward(ctx.net, self.perturb(ctx, x, y, shard), ctx.amp)
        return F.cross_entropy(logits, y[shard], reduction="sum"), logits.detach()


@dataclass(frozen=True)
class GradNorm(NoModelRequirement):
    """Input-gradient (local Lipschitz) regularisation by double backpropagation (Etmann et al. 2019; Ross & Doshi-Velez 2018).

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
    without its formula; this is the usual λ·mean ‖∇ₓ CE‖₂² of double backpropagation (Drucker & LeCun 1992). Returns the clean logits.

    Args:
        weight: λ; the paper trains models at several values. Required.
    """

    weight: float
    name: ClassVar[str] = "gradnorm"
    needs_attack: ClassVar[bool] = False

    def __post_init__(self):
        check_weight(self.weight)

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        xs = x[shard].detach().clone().requires_grad_(True)
        logits = forward(ctx.net, xs, ctx.amp)
        ce = F.cross_entropy(logits, y[shard], reduction="none")
        (grad,) = torch.autograd.grad(ce.sum(), xs, create_graph=True)
        penalty = full_precision(grad).flatten(1).pow(2).sum(1)
        return (ce + self.weight * penalty).sum(), logits.detach()


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
