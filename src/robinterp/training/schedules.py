"""Schedules in optimisation steps: the ε warm-up of the training attack, the stepped and the cyclic learning rate.

All are pure functions of the **global optimisation step** t: the number of
optimiser steps taken before the current one, counted across epochs from 0.
The loop computes t from the epoch and the batch it is at (and, for an objective
that replays each minibatch, the replay; :func:`optimisation_step`), the numbers
a checkpoint records, so a run resumed after a kill or a preemption sees exactly
the ε and learning rate an uninterrupted run sees at the same step; no wall
clock and no counter outside the checkpoint is involved.

The ε warm-up and the stepped rate follow the code of Boopathy et al. (2020),
``train.py`` of ``AkhilanB/Proper-Interpretability``, which feeds
``eps_val(step)`` and ``lr_val(step)`` to every step, ``step`` counting the
optimiser steps taken before it (:func:`warmup_eps`, :func:`stepped_lr_factor`).
The cyclic rate is the one-cycle schedule of Wong, Rice & Kolter (2020)
(:func:`cyclic_lr_factor`). A step count converts to epochs as t / (B·m),
B = ⌈training images / batch size⌉ batches per epoch, m the replays of each
batch (1, except for free adversarial training).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Sequence


def optimisation_step(epoch: int, batch: int, batches_per_epoch: int, replays: int = 1, replay: int = 0) -> int:
    """The global step t of replay ``replay`` of batch ``batch`` (both 0-based) of epoch ``epoch`` (1-based)::

        t = ((epoch − 1)·B + batch)·m + replay

    Every epoch has the same number B of batches (the training indices and the
    batch size are fixed for a run; the last, partial batch is kept), and every
    batch takes m optimiser steps: m = 1, except for free adversarial training,
    which replays each batch m times (:class:`robinterp.training.objectives.Free`),
    so an epoch is B·m optimisation steps.
    """
    return ((epoch - 1) * batches_per_epoch + batch) * replays + replay


def warmup_eps(eps: float, step: int, start: int, end: int) -> float:
    """The attack budget at step t of a linear ε warm-up::

        ε_t = 0                          for t ≤ start
        ε_t = ε·(t − start)/(end − start)  for start < t < end
        ε_t = ε                          for t ≥ end

    Boopathy et al.'s ``eps_val`` (``step <= 5000: 0``, ``step <= 70000:
    eps * (step - 5000) / 65000``, else ``eps``; CIFAR-10), evaluated in the same
    order of operations, so ours equals theirs bit for bit. With ``start == end``
    the budget jumps from 0 to ε after step ``start``.

    Args:
        eps: the full budget ε.
        step: the global optimisation step t (:func:`optimisation_step`).
        start: the last step at ε = 0 (config ``eps_warmup_start``).
        end: the first step at the full ε (config ``eps_warmup_end``), ≥ ``start``.
    """
    if step <= start:
        return 0.0
    if step >= end:
        return eps
    return eps * (step - start) / (end - start)


def stepped_lr_factor(step: int, milestones: Sequence[int], gamma: float) -> float:
    """The factor of the base learning rate at step t of a piecewise-constant schedule: γ^k.

    k = |{m ∈ milestones : t > m}|, the number of milestones already passed: the
    rate is multiplied by γ after each milestone step, so steps 0 … m₁ run at the
    base rate, steps m₁ + 1 … m₂ at γ times it, and so on. This is Boopathy et
    al.'s ``lr_val`` (CIFAR-10: ``step <= 40000: 1e-3``, ``step <= 60000: 1e-4``,
    else ``1e-5``) as milestones (40000, 60000), γ = 0.1 and base rate 1e-3.

    Args:
        step: the global optimisation step t (:func:`optimisation_step`).
        milestones: increasing step numbers (config ``lr_milestones``).
        gamma: the factor applied at each milestone (config ``lr_gamma``).
    """
    return gamma ** bisect_left(milestones, step)


def cyclic_lr_factor(step: int, total_steps: int, peak: float = 0.5) -> float:
    """The factor of the peak learning rate at step t of a one-cycle (triangular) schedule::

        f(t) = t / (p·T)              for t ≤ p·T
        f(t) = (T − t) / ((1 − p)·T)  for p·T < t ≤ T
        f(t) = 0                      for t ≥ T

    linear from 0 up to 1 at step p·T, then down to 0 at step T, the number of
    optimisation steps of the run. Wong, Rice & Kolter (2020, §5.1) train fast
    adversarial models with it: their CIFAR-10 code (``train_fgsm.py``) runs
    ``torch.optim.lr_scheduler.CyclicLR(base_lr=0, max_lr=0.2, step_size_up=T/2,
    step_size_down=T/2)`` stepped after every batch, which is p = ½ (and step 0 at
    rate 0, as here); their MNIST code interpolates between 0, ⅖ and all of the
    epochs, p = 0.4. (Their ``CyclicLR`` also cycles SGD's momentum between 0.9 and
    0.8, PyTorch's default; ours keeps the configured momentum.)

    Args:
        step: the global optimisation step t (:func:`optimisation_step`).
        total_steps: T, the run's optimisation steps (epochs · batches per epoch · replays).
        peak: p, where the rate peaks, as a fraction of the run (config ``cycle_peak``), 0 < p < 1.
    """
    rise = peak * total_steps
    if step <= rise:
        return step / rise
    return max(0.0, (total_steps - step) / (total_steps - rise))
