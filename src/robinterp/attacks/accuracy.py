"""Clean and adversarial accuracy of a classifier on a prepared split, and robustness curves over ε.

:func:`evaluate_accuracy` is the one accuracy loop of the package (the tables,
checkpoint selection during training, and every point of a robustness curve);
:func:`robustness_curve` sweeps an attack's ε, as in the accuracy-vs-ε panels of
Ismail et al. (2021, Figs. 2–5: MNIST ε 0.05–0.4, CIFAR-10 ε around 0.01–0.03).
"""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from robinterp.attacks.spec import (AttackSpec, accuracy_metric, attacked_count, on_subset, subset_comparisons,
                                    subset_size)
from robinterp.data.batches import ordered_batches
from robinterp.data.store import Split
from robinterp.models.running import autocast, model_mode

log = logging.getLogger(__name__)


def evaluate_accuracy(model: nn.Module, split: Split, attacks: Mapping[str, AttackSpec], *, batch_size: int,
                      device: torch.device, indices: np.ndarray | None = None, seed: int = 0,
                      amp: bool = False) -> dict[str, float]:
    """Accuracy in percent on clean images and under each attack.

    The images are evaluated in the order of ``indices``; an attack on a subset attacks the
    first ``max_examples`` of them (a prefix: with the evaluation job's seeded,
    class-stratified order, :func:`robinterp.data.subsets.stratified_order`, a balanced
    subset nested in every larger one). Each image's outcome is kept, so for every attack A
    on a subset the clean accuracy and every other attack's accuracy are also reported on
    exactly A's images (:func:`robinterp.attacks.spec.subset_comparisons`).

    Args:
        model: classifier taking images in [0, 1]; evaluated in eval mode.
        split: images and labels.
        attacks: name → attack (an :class:`~robinterp.attacks.spec.AttackSpec`, or anything
            called as ``attack(model, x, y, generator=…, amp=…)``); each adds a metric ``<name>_accuracy``.
            An attack with a ``max_examples`` attribute that is not None (AutoAttack on a subset,
            as RobustBench does for costly attacks) attacks only the first ``max_examples`` of
            the evaluated images, and its accuracy is over those.
        batch_size: images per batch.
        device: where to compute.
        indices: evaluate only these images of ``split``, in this order (default: all, in order).
        seed: seed of the attacks' random starts.
        amp: bfloat16 autocast for forward passes.

    Returns:
        ``{"n": number of images, "clean_accuracy": …, "<name>_accuracy": …, "n_<name>": images
        attacked by <name>}``, and for each attack A with ``max_examples``:
        ``"clean_accuracy_on_<A>"`` and ``"<B>_accuracy_on_<A>"`` for the attacks B compared on
        A's images (:func:`robinterp.attacks.spec.accuracy_metric_names` lists them).
    """
    indices = np.arange(len(split)) if indices is None else np.asarray(indices)
    generator = torch.Generator(device=device).manual_seed(seed)
    n = len(indices)
    limit = {name: min(n, subset_size(attack) or n) for name, attack in attacks.items()}
    clean = torch.zeros(n, dtype=torch.bool)  # per image, in the order of indices
    survived = {name: torch.zeros(limit[name], dtype=torch.bool) for name in attacks}
    n_batches = math.ceil(n / batch_size)
    with model_mode(model, False):
        for b, (x, y) in enumerate(ordered_batches(split, indices, batch_size, device)):
            start = b * batch_size
            with torch.no_grad(), autocast(device, amp):
                clean[start:start + len(y)] = (model(x).argmax(1) == y).cpu()
            for name, attack in attacks.items():
                take = min(len(y), limit[name] - start)
                if take <= 0:
                    continue
                x_adv = attack(model, x[:take], y[:take], generator=generator, amp=amp)
                with torch.no_grad(), autocast(device, amp):
                    survived[name][start:start + take] = (model(x_adv).argmax(1) == y[:take]).cpu()
            if attacks and ((b + 1) % 10 == 0 or b + 1 == n_batches):
                log.info("evaluated batch %d/%d", b + 1, n_batches)
    out = {"n": n, "clean_accuracy": _percent(clean)}
    for name in attacks:
        out[accuracy_metric(name)] = _percent(survived[name])
        out[attacked_count(name)] = limit[name]
    for subset, others in subset_comparisons(attacks).items():
        m = limit[subset]
        out[on_subset("clean_accuracy", subset)] = _percent(clean[:m])
        out.update({on_subset(accuracy_metric(other), subset): _percent(survived[other][:m]) for other in others})
    return out


def _percent(correct: torch.Tensor) -> float:
    """The share of True in percent; NaN for no images."""
    return 100.0 * correct.sum().item() / len(correct) if len(correct) else math.nan


def robustness_curve(model: nn.Module, split: Split, attack: AttackSpec, eps_values, *, batch_size: int,
                     device: torch.device, indices: np.ndarray | None = None, seed: int = 0,
                     amp: bool = False) -> list[dict[str, float]]:
    """Accuracy (%) under ``attack`` at each ε: one curve of Ismail et al. (2021), Figs. 2–5.

    Each point is :func:`evaluate_accuracy` with the one attack ``attack.at_eps(ε)``
    (:meth:`~robinterp.attacks.spec.AttackSpec.at_eps`: the given step size keeps its ratio
    step_size/ε from the configured spec, so PGD with σ = 2.5·ε/K stays σ = 2.5·ε′/K at
    every ε′, and K·σ′ ≥ ε′ holds at every point as it does at the configured ε: each point's
    spec is built, and checked, before the first attack runs) and its own random generator
    seeded with ``seed``, so a point does not depend on the other ε values. ε = 0 is the
    clean accuracy (no attack is run). The points are independent attacks: nothing forces
    the curve to be monotone in ε (an image that survives at ε may fall at a smaller ε),
    although with enough steps it is in practice.

    Args:
        model: classifier taking images in [0, 1]; evaluated in eval mode (mode restored).
        split: images and labels.
        attack: the attack; its ``eps`` only sets the step-size ratio.
        eps_values: the budgets ε ≥ 0 to evaluate, in the order wanted in the output.
        batch_size: images per batch.
        device: where to compute.
        indices: evaluate only these images of ``split`` (default: all), the first
            ``attack.max_examples`` of them where that is set (the evaluation job passes a
            prefix of the seeded, class-stratified order, so that subset is balanced too).
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
    # every point's attack is built (and checked: AttackSpec refuses one that cannot reach its ε) before any runs
    points = {eps: attack.at_eps(eps) for eps in eps_values if eps > 0}
    curve = []
    for eps in eps_values:
        attacks = {"attack": points[eps]} if eps > 0 else {}
        result = evaluate_accuracy(model, split, attacks, batch_size=batch_size, device=device, indices=indices,
                                   seed=seed, amp=amp)
        curve.append({"eps": eps, "accuracy": result[accuracy_metric("attack") if attacks else "clean_accuracy"]})
    log.info("robustness curve (%s, %s): %s", attack.kind, attack.norm,
             ", ".join(f"ε={p['eps']:g}: {p['accuracy']:.1f}%" for p in curve))
    return curve
