"""Training objectives: the per-batch loss of every training method, behind one call signature.

The training loop calls ``loss_sum, logits = objective(ctx, x, y, shard)`` for
every method: ``x, y`` are the *whole global batch* (every process
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

Two optional parts of the interface serve free adversarial training (Shafahi et
al. 2019), the one method whose step is not "one minibatch, one optimiser step":

- ``replays`` (1 for every other objective): the loop calls the objective and steps
  the optimiser ``replays`` times on each minibatch; each call is one global
  optimisation step (:func:`robinterp.training.schedules.optimisation_step`).
- ``carries_perturbation``: the loop keeps a perturbation δ per position of the
  global batch, across replays, batches and epochs (and in every checkpoint); it
  hands the objective this shard's rows as ``ctx.perturbation``, a leaf that
  requires grad, and after the step's one backward pass (which fills its
  ``.grad`` along with the parameters') asks ``update_perturbation`` for their
  next value, which it gathers from every process into the whole batch's δ.

Objectives (config ``name``): ``standard``, ``adversarial``, ``fgsm_rs``, ``free``,
``sgt``, ``asgt``, ``int``, ``int2``, ``gradnorm``; see
:func:`robinterp.training.objectives.make_objective`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
import torch.nn as nn

from robinterp.attacks.spec import AttackSpec
from robinterp.models.architectures import Classifier
from robinterp.models.running import autocast, full_precision


@dataclass(frozen=True)
class StepContext:
    """What an objective needs besides the batch, for one optimisation step.

    Args:
        net: the module parameter gradients flow through: the DDP wrapper of
            ``model`` under data parallelism, else ``model`` itself.
        model: the bare classifier; attacks, saliency maps and the inner
            maximisations use it (never the DDP wrapper).
        generator: the source of every random draw (attack starts, masking values).
        attack: the method's attack (config ``attack``) at this step's ε (the ε
            warm-up's, :meth:`robinterp.training.settings.TrainSettings.attack_at`); used by
            ``adversarial``, ``asgt``, ``int`` and ``int2``; ``None`` for methods without one.
        amp: compute forward passes in bfloat16 autocast.
        attack_in_train_mode: run inner computations (attacks, saliency, Int's
            inner maximisation) with the model in train mode (BatchNorm uses and
            updates batch statistics; the author's option, off by default).
        perturbation: for an objective that ``carries_perturbation`` (``free``): the
            carried δ of this shard's positions, a leaf that requires grad (the loop
            reads its gradient after the backward pass); ``None`` otherwise.
    """

    net: nn.Module
    model: Classifier
    generator: torch.Generator
    attack: AttackSpec | None
    amp: bool = False
    attack_in_train_mode: bool = False
    perturbation: torch.Tensor | None = None


class Objective(Protocol):
    """The interface of every objective: ``loss_sum, logits = objective(ctx, x, y, shard)``.

    ``replays``, ``carries_perturbation``, ``check_attack`` and ``update_perturbation``
    have defaults in :class:`ObjectiveBase` (one step per minibatch, nothing carried).
    """

    name: ClassVar[str]
    needs_attack: ClassVar[bool]
    replays: int
    carries_perturbation: ClassVar[bool]

    def __call__(self, ctx: StepContext, x: torch.Tensor, y: torch.Tensor,
                 shard: slice) -> tuple[torch.Tensor, torch.Tensor]: ...

    def check_model(self, model: Classifier) -> None: ...

    def check_attack(self, attack: AttackSpec | None) -> None: ...

    def update_perturbation(self, ctx: StepContext, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor: ...


class ObjectiveBase:
    """The defaults of :class:`Objective`: one optimiser step per minibatch, no carried perturbation, any attack."""

    replays: ClassVar[int] = 1
    carries_perturbation: ClassVar[bool] = False

    def check_attack(self, attack: AttackSpec | None) -> None:
        """Every attack the schema allows suits this objective."""

    def update_perturbation(self, ctx: StepContext, delta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        raise TypeError(f"objective {type(self).__name__} carries no perturbation")


def check_weight(value: Any, what: str = "weight") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")


def check_flag(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, got {value!r}")


def require_attack(ctx: StepContext, name: str) -> AttackSpec:
    if ctx.attack is None:
        raise ValueError(f"objective {name!r} needs an attack, but the step context has none")
    return ctx.attack


def forward(net: nn.Module, x: torch.Tensor, amp: bool) -> torch.Tensor:
    """Logits of ``net`` at ``x`` (autocast when ``amp``), in float32 or the model's wider type."""
    with autocast(x.device, amp):
        return full_precision(net(x))


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


def moves_images(attack: AttackSpec) -> bool:
    """Whether ``attack`` can move an image: not at ε = 0 (the first steps of an ε warm-up).

    At ε = 0 the ball is the image itself, so x′ = x; the objectives then return x
    without drawing a random start or running a single forward pass, and train on
    the clean images (see :meth:`robinterp.training.settings.TrainSettings.attack_at`).
    """
    return attack.eps > 0


def adversarial_examples(ctx: StepContext, name: str, x: torch.Tensor, y: torch.Tensor,
                         shard: slice) -> torch.Tensor:
    """``ctx.attack`` (PGD on the cross-entropy) applied to the shard, start drawn for the global batch.

    At ε = 0 (:func:`moves_images`) the shard's clean images, with no random draw.
    """
    attack = require_attack(ctx, name)
    if not moves_images(attack):
        return x[shard].detach()
    start = attack_start(attack, x, ctx.generator, shard)
    return attack(ctx.model, x[shard], y[shard], generator=ctx.generator,
                  attack_in_train_mode=ctx.attack_in_train_mode, amp=ctx.amp, start=start)


class NoModelRequirement(ObjectiveBase):
    """Base of the objectives that work with every :class:`~robinterp.models.architectures.Classifier`."""

    def check_model(self, model: Classifier) -> None:
        """Every classifier works with this objective."""
