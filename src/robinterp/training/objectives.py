"""The training objectives by name, and the plain ones: standard, adversarial (PGD, FGSM-RS, free) and
gradient-norm training.

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

from robinterp.attacks.spec import AttackSpec
from robinterp.base.errors import ConfigError
from robinterp.models.running import full_precision
from robinterp.training.cam import Int, Int2
from robinterp.training.saliency import ASGT, SGT
from robinterp.training.step import (NoModelRequirement, Objective, StepContext, adversarial_examples, check_weight,
                                     forward, require_attack)

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


def _check_one_step(name: str, attack: AttackSpec | None, *, random_start: bool, why: str) -> None:
    """Refuse an attack that is not one PGD step (with or without random start) for objective ``name``."""
    if attack is None:
        return  # make_objective reports a missing attack
    settings = [("kind", attack.kind, "pgd"), ("steps", attack.steps, 1),
                ("random_start", attack.random_start, random_start), ("use_best", attack.use_best, False)]
    wrong = [f"{key} {value!r}" for key, value, need in settings if value != need]
    if wrong:
        raise ValueError(f"objective {name!r} takes the method's attack as {why}: kind pgd, steps 1, "
                         f"random_start {str(random_start).lower()}, use_best false; the attack has "
                         + ", ".join(wrong))


@dataclass(frozen=True)
class FGSMRS(Adversarial):
    """Fast adversarial training: FGSM from a random start (Wong, Rice & Kolter 2020, "Fast is better than free",
    Algorithm 3), per-example loss CE(f(x′), y) with::

        δ₀ ~ U(ε-ball)                                  (L∞: uniform in [−ε, ε]ⁿ, clamped so x + δ₀ ∈ [0, 1])
        x′ = Π_{ε-ball ∩ [0,1]ⁿ}(x + δ₀ + α·sign(∇ CE(f(x + δ₀), y)))

    and for L2 the analogue: δ₀ on the ε-sphere (Madry's L2 start, the bulk of a uniform draw from the ball
    in image dimensions), the step α·g/‖g‖₂, the projection a rescaling onto the ball. This is one step of
    PGD from a random start, so the method's attack (config ``attack``) is that step, and this objective checks
    it is: ``steps: 1``, ``random_start: true``, ``step_size`` α (Wong et al.: α = 1.25 ε, their code's 10/255
    at ε 8/255; ``AttackSpec`` refuses α < ε, which one step cannot reach from the centre). Without the random
    start, FGSM training overfits catastrophically (their §4). It costs two forward-backward passes per example
    (attack and update), against K + 1 for K-step PGD. The attack runs with the model in eval mode unless
    ``attack_in_train_mode`` (their code attacks in train mode). Returns the logits at x′.
    """

    name: ClassVar[str] = "fgsm_rs"

    def check_attack(self, attack: AttackSpec | None) -> None:
        """The method's attack must be one step from a random start."""
        _check_one_step(self.name, attack, random_start=True, why="FGSM from a random start (Wong et al. 2020)")


@dataclass(frozen=True)
class Free(NoModelRequirement):
    """Free adversarial training (Shafahi et al. 2019, "Adversarial training for free!", Algorithm 1).

    Each minibatch is replayed ``replays`` = m times in a row; every replay is one optimisation step, whose one
    backward pass gives both the parameter gradient and the perturbation's::

        x′ = clamp(x + δ, 0, 1);  loss CE(f(x′), y);  θ ← θ − τ·∇_θ;  δ ← clip_ε(δ + σ·sign(∇_δ CE))

    (L∞; L2: δ ← rescale_ε(δ + σ·∇_δ/‖∇_δ‖₂)), σ = the attack's ``step_size`` (Shafahi et al.: σ = ε) and the ball
    its norm and ε (config ``attack``: ``steps: 1``, ``random_start: false``; δ starts at 0 once, at the first step
    of the run). δ is kept per position of the global batch (B, C, H, W) and carried to the next replay, the next
    minibatch and the next epoch regardless of the images, as in their code (a last, partial batch uses its first
    rows); the loop keeps it, checkpoints it and combines the processes' rows under DDP
    (:mod:`robinterp.training.step`). As in their code, δ is clipped to the ball only and the model sees
    clamp(x + δ, 0, 1) (their algorithm has no image range). The ∇_δ is that of the scaled batch-mean loss
    the loop differentiates, whose sign and direction are those of CE's. Shafahi et al. divide the epochs by m,
    so that the optimisation steps, and the cost (one forward-backward pass per step), are those of natural
    training. The perturbation's gradient comes from the training forward pass, so with the model in train mode
    (``attack_in_train_mode`` does not apply). Returns the logits at x′ (each replay's).

    Args:
        replays: m, the optimisation steps per minibatch (Shafahi et al.: 8 on CIFAR-10).
    """

    replays: int = 8
    name: ClassVar[str] = "free"
    needs_attack: ClassVar[bool] = True
    carries_perturbation: ClassVar[bool] = True

    def __post_init__(self):
        if isinstance(self.replays, bool) or not isinstance(self.replays, int) or self.replays < 1:
            raise ValueError(f"replays must be an integer >= 1, got {self.replays!r}")

    def check_attack(self, attack: AttackSpec | None) -> None:
        """The method's attack must be one step from the carried perturbation (no random start)."""
        _check_one_step(self.name, attack, random_start=False,
                        why="the ball and the step of each replay (Shafahi et al. 2019)")

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]:
        if ctx.perturbation is None:
            raise ValueError("objective 'free' needs the carried perturbation in the step context (the loop keeps it)")
        logits = forward(ctx.net, torch.clamp(x[shard] + ctx.perturbation, 0.0, 1.0), ctx.amp)
        return F.cross_entropy(logits, y[shard], reduction="sum"), logits.detach()

    def update_perturbation(self, ctx: StepContext, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """δ after one ascent step along ``grad`` (∇_δ of this step's loss), kept in the ε-ball of ``ctx.attack``."""
        threat = require_attack(ctx, self.name).threat
        return threat.clip_to_ball(threat.step(delta, grad)).detach()


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


OBJECTIVES: dict[str, type] = {cls.name: cls for cls in (Standard, Adversarial, FGSMRS, Free, SGT, ASGT, Int, Int2,
                                                          GradNorm)}


def make_objective(spec: Mapping[str, Any] | None, where: str, *, attack: AttackSpec | None) -> Objective:
    """Build the objective a config section describes.

    Args:
        spec: ``{"name": ..., <the class's fields>}``, e.g.
            ``{"name": "sgt", "mask_fraction": 0.1, "weight": 1.0}``; ``None``
            means ``adversarial`` when the method has an attack, else ``standard``.
        where: the config path of ``spec``, named in error messages.
        attack: the method's attack (config ``attack``), or None.

    Raises:
        ConfigError: unknown name or key, missing required key, invalid value,
            a method that needs an attack (adversarial, fgsm_rs, free, asgt, int, int2)
            configured without one, or an attack that does not suit the objective
            (``fgsm_rs`` and ``free`` take one-step attacks).
    """
    has_attack = attack is not None
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
        objective.check_attack(attack)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value in {where} (objective {name!r}): {exc}") from exc
    log.debug("training objective %s from %s", objective, where)
    return objective
