"""Attacks beyond PGD, and robustness curves over ε (SPEC §3; seed 002, Ismail et al. 2021, Figs. 2–5).

Every attack here works in pixel space (images in [0, 1], normalisation inside the model),
attacks the model in eval mode (its mode is restored afterwards) and maximises the
cross-entropy at the true labels. The iterative ones reuse the threat models and the one
ascent loop of :mod:`robinterp.attacks` instead of writing their own loops:

- :func:`fgsm`: the fast gradient sign method (Goodfellow et al. 2015),
  x′ = clamp(x + ε·sign(∇ₓ CE), 0, 1): one step of :func:`robinterp.attacks.pgd_attack`
  with an L∞ threat of radius ε and step ε (the clip to [−ε, ε] is then a no-op).
- :func:`mi_fgsm`: the momentum iterative FGSM (Dong et al. 2018), g ← μ·g + ∇/‖∇‖₁,
  x ← clip_ε(x + α·sign(g)); the momentum is a small stateful wrapper
  (:class:`MomentumLinfThreat`) around :class:`robinterp.attacks.LinfThreat`'s step and
  projection, run by the same :func:`robinterp.attacks.pgd_attack`.
- :func:`autoattack`: AutoAttack (Croce & Hein 2020) as implemented by ``torchattacks``,
  the field's reference evaluation (SPEC §3).

:class:`SuiteAttack` describes any of these (or PGD) as written in a config, and
:func:`robustness_curve` sweeps its ε, as in the accuracy-vs-ε panels of Ismail et al.
(2021, Figs. 2–5: MNIST ε 0.05–0.4, CIFAR-10 ε around 0.01–0.03).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from robinterp.attacks import LinfThreat, autocast, make_threat, model_mode, pgd_attack
from robinterp.data.batches import split_batches
from robinterp.data.store import Split

log = logging.getLogger(__name__)

SUITE_KINDS = ("pgd", "fgsm", "mifgsm", "autoattack")
AUTOATTACK_VERSIONS = ("standard", "plus", "rand")
# torchattacks spells the norms "Linf" and "L2".
_TORCHATTACKS_NORMS = {"linf": "Linf", "l2": "L2"}
# Guards the ℓ1 normalisation of an all-zero gradient (torchattacks has no guard and returns NaN there).
_TINY = 1e-12


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, amp: bool = False) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015; Ismail et al. 2021, eq. 6).

    x′ = clamp(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1), computed as one step of
    :func:`robinterp.attacks.pgd_attack` with ``LinfThreat(eps, step_size=eps)``. It
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


class MomentumLinfThreat:
    """The L∞ threat with Dong et al.'s momentum in its step (MI-FGSM).

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
        normalised = grad / (l1 + _TINY)
        self.momentum = normalised if self.momentum is None else self.decay * self.momentum + normalised
        return self.base.step(x, self.momentum)

    def project(self, x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        return self.base.project(x, center)

    def random_perturb(self, center: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.base.random_perturb(center, generator)


def mi_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, decay: float = 1.0,
            step_size: float | None = None, *, random_start: bool = False, use_best: bool = False,
            generator: torch.Generator | None = None, amp: bool = False) -> torch.Tensor:
    """Momentum iterative FGSM (Dong et al. 2018, Alg. 1; Ismail et al. 2021, eq. 8–9).

    For t = 0 … T−1: g ← μ·g + ∇ₓCE(f(xₜ), y)/‖∇ₓCE(f(xₜ), y)‖₁ (g₀ = 0, the ℓ1 norm per
    example over all pixels), xₜ₊₁ = clamp(clip_ε(xₜ + α·sign(g)), 0, 1), run by
    :func:`robinterp.attacks.pgd_attack` with a :class:`MomentumLinfThreat`. With the
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
        random_start, use_best, generator: as for :func:`robinterp.attacks.projected_gradient_ascent`
            (neither is part of Dong et al.'s attack; both off by default).
        amp: compute the forward passes in bfloat16 autocast.

    Returns:
        Adversarial images, detached.
    """
    alpha = eps / steps if step_size is None else step_size
    threat = MomentumLinfThreat(LinfThreat(eps, alpha), decay)
    return pgd_attack(model, x, y, threat, steps, random_start=random_start, use_best=use_best,
                      generator=generator, amp=amp)


def _n_outputs(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), model_mode(model, False):
        return int(model(x[:1]).shape[1])


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, n_classes: int,
               version: str = "standard", seed: int = 0) -> torch.Tensor:
    """AutoAttack (Croce & Hein 2020) through ``torchattacks.AutoAttack``.

    What ``torchattacks`` (3.5) runs, each attack only on the images all earlier ones
    failed to flip (``torchattacks.MultiAttack``), every one with one restart:

    - ``"standard"``: APGD-CE, APGD-T (targeted DLR loss, the ``n_classes − 1`` other
      classes as targets), FAB-T (multi-targeted, ``n_classes − 1`` targets), Square (5,000
      queries). These are the attacks of the reference ``auto-attack`` package and of
      RobustBench, but torchattacks gives APGD, APGD-T and FAB 10 iterations each where
      the reference uses 100 (and 9 targets for APGD-T/FAB-T), so its "standard" run is
      cheaper and can be somewhat weaker than RobustBench's.
    - ``"plus"``: APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T.
    - ``"rand"`` (for randomised defences): APGD-CE and APGD-DLR with 20 EOT samples each.

    torchattacks needs ``n_classes`` (it enumerates the target classes; a smaller number
    silently skips targets, a larger one fails), so it is checked against the model's
    number of outputs. It puts the model in eval mode (restored here too) and reseeds
    torch's *global* random generators with ``seed`` before each of its attacks; the
    global generator state is saved and restored around the call, so the caller's
    random stream is unchanged. It runs in float32 (no autocast: its step-size
    schedules and FAB's linearisations assume full precision).

    Args:
        model: classifier taking images in [0, 1] (torchattacks' convention too).
        x: clean images (B, C, H, W) in [0, 1], on the model's device.
        y: true labels (B,).
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget ε in that norm.
        n_classes: number of classes (outputs) of the model.
        version: ``"standard"``, ``"plus"`` or ``"rand"`` (see above).
        seed: seed of the random starts of the attacks (torchattacks' ``seed``; ``None``
            there means the current time, not reproducible, so a number is required here).

    Returns:
        Adversarial images, detached: for every image, the first successful attack's output,
        or the clean image where all of them failed.
    """
    import torchattacks

    if norm not in _TORCHATTACKS_NORMS:
        raise ValueError(f"norm: unknown norm {norm!r}; use 'l2' or 'linf'")
    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"version: unknown AutoAttack version {version!r}; use one of {AUTOATTACK_VERSIONS}")
    outputs = _n_outputs(model, x)
    if n_classes != outputs:
        raise ValueError(f"n_classes: the model has {outputs} outputs, got n_classes={n_classes}")
    cuda = [x.device.index if x.device.index is not None else torch.cuda.current_device()] \
        if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), model_mode(model, False):
        attack = torchattacks.AutoAttack(model, norm=_TORCHATTACKS_NORMS[norm], eps=eps, version=version,
                                         n_classes=n_classes, seed=seed)
        adv = attack(x.detach(), y.detach())
    return adv.detach()


def _positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")


def _positive_number(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a positive number, got {value!r}")


@dataclass(frozen=True)
class SuiteAttack:
    """An attack as written in the config: which attack, its threat model and loop settings.

    Args:
        kind: ``"pgd"`` (:func:`robinterp.attacks.pgd_attack`, the same semantics as
            :class:`robinterp.attacks.AttackSpec`), ``"fgsm"`` (:func:`fgsm`),
            ``"mifgsm"`` (:func:`mi_fgsm`) or ``"autoattack"`` (:func:`autoattack`).
        norm: ``"l2"`` or ``"linf"``; FGSM and MI-FGSM are L∞ attacks and need ``"linf"``.
        eps: the budget ε ≥ 0.
        step_size: σ (pgd: required) or α (mifgsm: optional, default ε/steps); unused
            otherwise (must be left out).
        steps: iterations (pgd, mifgsm: required); unused otherwise (must be left out).
        random_start, use_best: as for :func:`robinterp.attacks.projected_gradient_ascent`;
            pgd and mifgsm only.
        decay: MI-FGSM's momentum μ ≥ 0.
        version: AutoAttack's version (``"standard"``, ``"plus"``, ``"rand"``).
        max_examples: attack only the first this many of the evaluated images (None: all),
            for attacks too costly for a whole test set (RobustBench runs AutoAttack on
            subsets too); :func:`robinterp.evaluation.evaluate_accuracy` and
            :func:`robustness_curve` report the accuracy over those images.

    Invalid settings raise ``ValueError`` whose message starts with the name of the bad
    field (the settings layer turns it into a ``ConfigError``).
    """

    kind: str
    norm: str
    eps: float
    step_size: float | None = None
    steps: int | None = None
    random_start: bool = False
    use_best: bool = False
    decay: float = 1.0
    version: str = "standard"
    max_examples: int | None = None

    def __post_init__(self):
        if self.max_examples is not None:
            _positive_int(self.max_examples, "max_examples")
        if self.kind not in SUITE_KINDS:
            raise ValueError(f"kind: unknown attack {self.kind!r}; use one of {SUITE_KINDS}")
        if self.norm not in _TORCHATTACKS_NORMS:
            raise ValueError(f"norm: unknown norm {self.norm!r}; use 'l2' or 'linf'")
        if self.kind in ("fgsm", "mifgsm") and self.norm != "linf":
            raise ValueError(f"norm: {self.kind} is an L∞ attack; use norm 'linf', got {self.norm!r}")
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) \
                or not math.isfinite(self.eps) or self.eps < 0:
            raise ValueError(f"eps: must be a number ≥ 0, got {self.eps!r}")
        if self.kind in ("pgd", "mifgsm"):
            _positive_int(self.steps, "steps")
            if self.kind == "pgd" or self.step_size is not None:
                _positive_number(self.step_size, "step_size")
            if self.kind == "pgd":
                make_threat(self.norm, self.eps, self.step_size)
        else:
            for name in ("step_size", "steps"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: not used by {self.kind}; leave it out")
            for name in ("random_start", "use_best"):
                if getattr(self, name):
                    raise ValueError(f"{name}: not supported by {self.kind}")
        if self.kind == "mifgsm" and (isinstance(self.decay, bool) or not isinstance(self.decay, (int, float))
                                      or not math.isfinite(self.decay) or self.decay < 0):
            raise ValueError(f"decay: must be a number ≥ 0, got {self.decay!r}")
        if self.kind == "autoattack" and self.version not in AUTOATTACK_VERSIONS:
            raise ValueError(f"version: unknown AutoAttack version {self.version!r}; use one of {AUTOATTACK_VERSIONS}")

    def at_eps(self, eps: float) -> SuiteAttack:
        """The same attack at budget ``eps``, the step size scaled with ε.

        A given ``step_size`` keeps its ratio to ε (σ′ = σ·ε′/ε, e.g. Madry's 2.5·ε/steps
        stays 2.5·ε′/steps); MI-FGSM's default α = ε/steps follows by itself.
        """
        if self.step_size is None or eps == self.eps:
            return dataclasses.replace(self, eps=eps)
        if self.eps == 0:
            raise ValueError("eps: the ratio step_size/eps is undefined for eps = 0; configure eps > 0")
        return dataclasses.replace(self, eps=eps, step_size=self.step_size * eps / self.eps)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                 generator: torch.Generator | None = None, amp: bool = False) -> torch.Tensor:
        """Adversarial images for ``(x, y)``.

        Args:
            model: classifier taking images in [0, 1]; attacked in eval mode (mode restored).
            x: clean images (B, C, H, W) in [0, 1].
            y: true labels (B,).
            generator: random starts of pgd/mifgsm; for autoattack, the seed given to
                torchattacks is drawn from it (so successive batches get different,
                reproducible seeds); without it, seed 0.
            amp: bfloat16 autocast for the forward passes (not for autoattack, which runs in float32).

        Returns:
            Adversarial images, detached.
        """
        if self.kind == "pgd":
            return pgd_attack(model, x, y, make_threat(self.norm, self.eps, self.step_size), self.steps,
                              random_start=self.random_start, use_best=self.use_best, generator=generator, amp=amp)
        if self.kind == "fgsm":
            return fgsm(model, x, y, self.eps, amp=amp)
        if self.kind == "mifgsm":
            return mi_fgsm(model, x, y, self.eps, self.steps, self.decay, self.step_size,
                           random_start=self.random_start, use_best=self.use_best, generator=generator, amp=amp)
        seed = 0 if generator is None else int(torch.randint(0, 2**31 - 1, (1,), generator=generator,
                                                             device=generator.device).item())
        return autoattack(model, x, y, self.norm, self.eps, _n_outputs(model, x), self.version, seed)


def robustness_curve(model: nn.Module, split: Split, attack: SuiteAttack, eps_values, *, batch_size: int,
                     device: torch.device, indices: np.ndarray | None = None, seed: int = 0,
                     amp: bool = False) -> list[dict[str, float]]:
    """Accuracy (%) under ``attack`` at each ε: one curve of Ismail et al. (2021), Figs. 2–5.

    Each point attacks with ``attack.at_eps(ε)`` (:meth:`SuiteAttack.at_eps`): the given
    step size keeps its ratio step_size/ε from the configured spec, so PGD with σ = 2.5·ε/K
    stays σ = 2.5·ε′/K at every ε′. ε = 0 is the clean accuracy (no attack is run). Every
    point has its own random generator seeded with ``seed`` and consumed batch after batch,
    so a point equals :func:`robinterp.evaluation.evaluate_accuracy` with that one attack and
    seed, whatever the other ε values are. The points are independent attacks: nothing
    forces the curve to be monotone in ε (an image that survives at ε may fall at a
    smaller ε), although with enough steps it is in practice.

    Args:
        model: classifier taking images in [0, 1]; evaluated in eval mode (mode restored).
        split: images and labels.
        attack: the attack; its ``eps`` only sets the step-size ratio.
        eps_values: the budgets ε ≥ 0 to evaluate, in the order wanted in the output.
        batch_size: images per batch.
        device: where to compute.
        indices: evaluate only these images of ``split`` (default: all), the first
            ``attack.max_examples`` of them where that is set.
        seed: seed of the attacks' random starts (and of AutoAttack's seeds).
        amp: bfloat16 autocast for the forward passes.

    Returns:
        ``[{"eps": ε, "accuracy": accuracy in %}, …]`` in the order of ``eps_values``.
    """
    eps_values = [float(e) for e in eps_values]
    if not eps_values:
        raise ValueError("eps_values: give at least one ε")
    if any(not math.isfinite(e) or e < 0 for e in eps_values):
        raise ValueError(f"eps_values: every ε must be a finite number ≥ 0, got {eps_values}")
    indices = np.arange(len(split)) if indices is None else np.asarray(indices)
    indices = indices[:attack.max_examples]
    if len(indices) == 0:
        raise ValueError("indices: no images to evaluate")
    specs = [attack.at_eps(e) if e > 0 else None for e in eps_values]
    generators = [torch.Generator(device=device).manual_seed(seed) for _ in eps_values]
    correct = [0] * len(eps_values)
    with model_mode(model, False):
        for x, y in split_batches(split, indices, batch_size, device):
            with torch.no_grad(), autocast(device, amp):
                clean = (model(x).argmax(1) == y).sum().item()
            for k, spec in enumerate(specs):
                if spec is None:
                    correct[k] += clean
                    continue
                x_adv = spec(model, x, y, generator=generators[k], amp=amp)
                with torch.no_grad(), autocast(device, amp):
                    correct[k] += (model(x_adv).argmax(1) == y).sum().item()
    curve = [{"eps": e, "accuracy": 100.0 * c / len(indices)} for e, c in zip(eps_values, correct)]
    log.info("robustness curve (%s, %s): %s", attack.kind, attack.norm,
             ", ".join(f"ε={p['eps']:g}: {p['accuracy']:.1f}%" for p in curve))
    return curve
