"""How a model is evaluated: the accuracy table's attacks and the robustness curves (config ``evaluation``, ``curves``)."""

from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass

from robinterp.attacks.spec import AttackSpec


@dataclass(frozen=True)
class EvaluationSettings:
    """Clean and adversarial test accuracy (config ``datasets.<name>.evaluation``).

    Args:
        batch_size: images per batch.
        attacks: name → attack; each adds the metric ``<name>_accuracy`` to the accuracy table.
        max_examples: evaluate only this many test images (None: all of them): the first of the
            seeded, class-stratified order of the test split
            (:func:`robinterp.data.subsets.stratified_order`, seeded by the config's seed).
        amp_bf16: bfloat16 autocast for the forward passes (CUDA).
    """

    SCHEMA: ClassVar[str] = "evaluation"  # its definition in the config schema

    batch_size: int
    attacks: dict[str, AttackSpec]
    max_examples: int | None = None
    amp_bf16: bool = False


@dataclass(frozen=True)
class CurveSettings:
    """One robustness curve: an attack evaluated at several budgets.

    Args:
        attack: the attack; its ``eps`` sets the ratio step_size/ε kept at every point.
        eps: the budgets ε ≥ 0 of the curve's points (0 = clean accuracy); the attack at each of
            them must be able to reach it (checked here, see
            :meth:`~robinterp.attacks.spec.AttackSpec.at_eps`).
    """

    attack: AttackSpec
    eps: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "eps", tuple(self.eps))
        for eps in self.eps:
            if eps > 0:
                try:
                    self.attack.at_eps(eps)  # AttackSpec refuses a point whose steps cannot reach its ε
                except ValueError as exc:
                    raise ValueError(f"eps: the point ε = {eps:g}: {exc}") from exc


@dataclass(frozen=True)
class CurvesSettings:
    """Robustness curves of every method (config ``datasets.<name>.curves``; Ismail et al. 2021, Figs. 2–5).

    Args:
        batch_size: images per batch.
        attacks: name → curve.
        max_examples: use only this many test images (None: all of them): the first of the
            evaluation's seeded, class-stratified order.
    """

    SCHEMA: ClassVar[str] = "curves"  # its definition in the config schema

    batch_size: int
    attacks: dict[str, CurveSettings]
    max_examples: int | None = None
