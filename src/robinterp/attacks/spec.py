"""An attack as written in the config: which attack, its threat model and its loop settings.

:class:`AttackSpec` is the one description of an attack in the package: the
training attack of adversarial training (Algorithm 1 of Boychev 2023), the
validation attack of checkpoint selection, every evaluation attack of the
accuracy tables and of the robustness curves, and the small attack of table 7's
explanation robustness. The config schema (``$defs/attack``) validates its
fields; :class:`AttackSpec` keeps the checks that involve several fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # this module imports no torch, so that the workflow can check a config's attacks without it
    import torch
    import torch.nn as nn

    from robinterp.attacks.threats import ThreatModel

KINDS = ("pgd", "fgsm", "mifgsm", "autoattack")
# Rounding slack of the reach check steps·σ ≥ ε: MI-FGSM's α = ε/T, or a step size scaled with ε
# (AttackSpec.at_eps), reaches ε exactly in real numbers but may fall short by an ulp in floats.
_REACH_RTOL = 1e-9


def accuracy_metric_names(attacks: Mapping[str, AttackSpec | Mapping]) -> list[str]:
    """The metrics of an accuracy table, in column order: what :func:`robinterp.attacks.accuracy.evaluate_accuracy`
    reports for these attacks.

    ``clean_accuracy``, then ``<name>_accuracy`` per attack, followed by ``n_<name>`` (the images it
    attacked) where the attack runs on a subset (``max_examples``); then, for each attack A on a
    subset, the like-for-like comparison on A's images (:func:`subset_comparisons`):
    ``clean_accuracy_on_<A>`` and ``<B>_accuracy_on_<A>`` for every other attack B that attacked all
    of them. The workflow's accuracy tables use the same function.
    """
    names = ["clean_accuracy"]
    for name, attack in attacks.items():
        names += [accuracy_metric(name)] + ([attacked_count(name)] if subset_size(attack) else [])
    for subset, others in subset_comparisons(attacks).items():
        names += [on_subset("clean_accuracy", subset)] + [on_subset(accuracy_metric(b), subset) for b in others]
    return names


def accuracy_metric(name: str) -> str:
    """The metric of the accuracy under attack ``name``."""
    return f"{name}_accuracy"


def attacked_count(name: str) -> str:
    """The metric of how many images attack ``name`` attacked."""
    return f"n_{name}"


def on_subset(metric: str, subset: str) -> str:
    """The metric ``metric`` measured on the images of attack ``subset`` only (e.g. ``pgd_l2_accuracy_on_autoattack``)."""
    return f"{metric}_on_{subset}"


def subset_size(attack: AttackSpec | Mapping | object) -> int | None:
    """The subset size of an attack (its ``max_examples``; None: all the evaluated images)."""
    return attack.get("max_examples") if isinstance(attack, Mapping) else getattr(attack, "max_examples", None)


def subset_comparisons(attacks: Mapping[str, AttackSpec | Mapping | object]) -> dict[str, list[str]]:
    """For each attack that runs on a subset, the other attacks whose accuracy is also reported on its images.

    Every subset is a prefix of the same order of the evaluated images
    (:func:`robinterp.data.subsets.stratified_order`), so an attack B with no ``max_examples``,
    or with one at least A's, attacked all of A's images; its accuracy on them, and the clean
    accuracy on them, compare like with like with A's accuracy. (An attack on fewer images than
    A is compared on its own subset, where A's accuracy is reported instead.)

    Args:
        attacks: name → attack (:class:`AttackSpec`, its config mapping, or an object with a
            ``max_examples`` attribute), in table order.

    Returns:
        ``{A: [B, …]}`` for every A with ``max_examples`` set, in the order of ``attacks``.
    """
    sizes = {name: subset_size(attack) for name, attack in attacks.items()}
    return {a: [b for b in attacks if b != a and (sizes[b] is None or sizes[b] >= sizes[a])]
            for a in attacks if sizes[a] is not None}


def _round_up(value: float, digits: int = 3) -> float:
    """``value`` rounded up to ``digits`` significant digits (a step size to suggest that surely reaches)."""
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(value)))
    return math.ceil(round(value * scale, 6)) / scale


def check_reach(steps: int, step_size: float, eps: float, *, key: str = "steps", step_key: str = "step_size",
                unit: str = "") -> None:
    """Refuse an iterative attack that cannot reach the border of its ball: ``steps`` × ``step_size`` < ``eps``.

    An L2 step moves by exactly σ and an L∞ step by σ in every coordinate, so in both norms
    K steps of σ reach ε from the centre only if K·σ ≥ ε (up to rounding). An attack that
    travels less reports the robustness at a smaller budget than it names.

    Args:
        steps: iterations K.
        step_size: σ per step.
        eps: the budget ε.
        key: the setting the error message starts with.
        step_key: the name of the step size in the message (e.g. ``step_size_ratio``).
        unit: written after the step size and the distance (e.g. ``"·ε"`` for a step given as a
            share of ε, with ``eps`` 1).

    Raises:
        ValueError: ``"<key>: K steps of σ travel at most K·σ < ε; raise steps to ≥ … or <step_key> to ≥ …"``.
    """
    travel = steps * step_size
    if travel >= eps * (1 - _REACH_RTOL):
        return
    budget = "ε" if unit else f"eps {eps:g}"
    raise ValueError(f"{key}: {steps} steps of {step_size:g}{unit} travel at most {travel:g}{unit} < {budget}, so "
                     f"the attack cannot reach its budget; raise steps to ≥ "
                     f"{math.ceil(eps * (1 - _REACH_RTOL) / step_size)} or {step_key} to ≥ "
                     f"{_round_up(eps / steps):g}")


@dataclass(frozen=True)
class AttackSpec:
    """An attack: ``kind``, its norm and budget, and the settings of its loop.

    An iterative attack must be able to reach the border of its ball from its centre:
    ``steps`` × ``step_size`` ≥ ε (an L2 step moves by exactly σ, an L∞ step by σ in
    every coordinate, so the inequality is the same for both norms; Madry et al. 2018
    take σ = 2.5·ε/steps). An attack that cannot reach ε reports the robustness at a
    smaller budget than it names, so it is refused here, before any job runs (the
    workflow builds every attack of the config at start-up).

    Args:
        norm: ``"l2"`` or ``"linf"``; FGSM and MI-FGSM are L∞ attacks and need ``"linf"``.
        eps: the budget ε ≥ 0; None (pgd only): unconstrained, the iterates are only kept in
            [0, 1] (the synthesis procedures' "ε = 1000" of Boychev 2023, i.e. no ball).
        step_size: σ (pgd: required) or α (mifgsm: optional, default ε/steps, which reaches ε
            in exactly ``steps`` steps); unused otherwise (must be left out).
        steps: iterations (pgd, mifgsm: required); unused otherwise (must be left out).
        random_start: start from a random point of the ball (pgd, mifgsm).
        use_best: return, per example, the iterate with the highest loss (pgd, mifgsm).
        kind: ``"pgd"`` (:func:`robinterp.attacks.pgd.pgd_attack`), ``"fgsm"``
            (:func:`~robinterp.attacks.pgd.fgsm`), ``"mifgsm"`` (:func:`~robinterp.attacks.pgd.mi_fgsm`)
            or ``"autoattack"`` (:func:`robinterp.attacks.autoattack.autoattack`).
        decay: MI-FGSM's momentum μ ≥ 0.
        version: AutoAttack's version (``"standard"``, ``"plus"``, ``"rand"``).
        square_queries: AutoAttack's Square queries (None: 5,000, as the reference).
        max_examples: attack only the first this many of the evaluated images (None: all),
            for attacks too costly for a whole test set (RobustBench runs AutoAttack on
            subsets too); the evaluated images are in a seeded, class-stratified order
            (:func:`robinterp.data.subsets.stratified_order`), so the subset is balanced and
            nested in every larger one. :func:`robinterp.attacks.accuracy.evaluate_accuracy`
            reports the accuracy over those images, and the clean and other attacks'
            accuracies on the same images (:func:`subset_comparisons`).

    Settings that do not fit together raise ``ValueError`` whose message starts with
    the name of the bad field.
    """

    norm: str
    eps: float | None
    step_size: float | None = None
    steps: int | None = None
    random_start: bool = False
    use_best: bool = False
    kind: str = "pgd"
    decay: float = 1.0
    version: str = "standard"
    max_examples: int | None = None
    square_queries: int | None = None

    def __post_init__(self):
        if self.square_queries is not None and self.kind != "autoattack":
            raise ValueError(f"square_queries: only autoattack has a Square attack, not {self.kind}")
        if self.kind in ("fgsm", "mifgsm") and self.norm != "linf":
            raise ValueError(f"norm: {self.kind} is an L∞ attack; use norm 'linf', got {self.norm!r}")
        if self.kind == "pgd":
            for name in ("step_size", "steps"):
                if getattr(self, name) is None:
                    raise ValueError(f"{name}: pgd needs {name}")
        elif self.kind == "mifgsm":
            if self.steps is None:
                raise ValueError("steps: mifgsm needs steps")
        else:
            for name in ("step_size", "steps"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: not used by {self.kind}; leave it out")
            for name in ("random_start", "use_best"):
                if getattr(self, name):
                    raise ValueError(f"{name}: not supported by {self.kind}")
        if self.eps is None:
            if self.kind != "pgd":
                raise ValueError(f"eps: {self.kind} needs a finite budget; only pgd may be unconstrained (eps null)")
            if self.random_start:
                raise ValueError("random_start: an unconstrained attack (eps null) has no ball to draw a start from; "
                                 "set random_start false or give a finite eps")
        elif self.step_size is not None:
            check_reach(self.steps, self.step_size, self.eps)

    @property
    def threat(self) -> ThreatModel:
        """The threat model of a PGD attack: its ball (none for ``eps`` None) and step size."""
        from robinterp.attacks.threats import make_threat

        return make_threat(self.norm, self.eps, self.step_size)

    def at_eps(self, eps: float) -> AttackSpec:
        """The same attack at budget ``eps``, the step size scaled with ε.

        A given ``step_size`` keeps its ratio to ε (σ′ = σ·ε′/ε, e.g. Madry's 2.5·ε/steps
        stays 2.5·ε′/steps), so steps·σ′ ≥ ε′ holds whenever steps·σ ≥ ε does (and is checked
        again for the new spec); MI-FGSM's default α = ε/steps follows by itself.
        """
        if self.eps is None:
            raise ValueError("eps: an unconstrained attack (eps null) has no budget to move; give a finite eps")
        if self.step_size is None or eps == self.eps:
            return dataclasses.replace(self, eps=eps)
        if self.eps == 0:
            raise ValueError("eps: the ratio step_size/eps is undefined for eps = 0; configure eps > 0")
        return dataclasses.replace(self, eps=eps, step_size=self.step_size * eps / self.eps)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 generator: torch.Generator | None = None, amp: bool = False, attack_in_train_mode: bool = False,
                 start: torch.Tensor | None = None) -> torch.Tensor:
        """Adversarial images for ``(x, y)``.

        Args:
            model: classifier taking images in [0, 1]; attacked in eval mode (mode restored),
                unless ``attack_in_train_mode``.
            x: clean images (B, C, H, W) in [0, 1].
            y: true labels (B,).
            generator: random starts of pgd/mifgsm; for autoattack, the seed given to
                torchattacks is drawn from it (so successive batches get different,
                reproducible seeds); without it, seed 0.
            amp: bfloat16 autocast for the forward passes (not for autoattack, which runs in float32).
            attack_in_train_mode: pgd only: attack with BatchNorm in train mode (the author's code).
            start: pgd only: the first iterate, drawn by the caller (see
                :func:`robinterp.attacks.ascent.projected_gradient_ascent`).

        Returns:
            Adversarial images, detached.
        """
        from robinterp.attacks.pgd import fgsm, mi_fgsm, pgd_attack

        if self.kind == "pgd":
            return pgd_attack(model, x, y, self.threat, self.steps, random_start=self.random_start,
                              use_best=self.use_best, generator=generator,
                              attack_in_train_mode=attack_in_train_mode, amp=amp, start=start)
        if attack_in_train_mode or start is not None:
            raise ValueError(f"kind: {self.kind} takes neither attack_in_train_mode nor start (pgd does)")
        if self.kind == "fgsm":
            return fgsm(model, x, y, self.eps, amp=amp)
        if self.kind == "mifgsm":
            return mi_fgsm(model, x, y, self.eps, self.steps, self.decay, self.step_size,
                           random_start=self.random_start, use_best=self.use_best, generator=generator, amp=amp)
        if self.kind == "autoattack":
            import torch

            from robinterp.attacks.autoattack import autoattack, n_outputs

            seed = 0 if generator is None else int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                                                 device=generator.device).item())
            return autoattack(model, x, y, self.norm, self.eps, n_outputs(model, x), self.version, seed,
                              square_queries=self.square_queries)
        raise ValueError(f"kind: unknown attack {self.kind!r}; use one of {KINDS}")
