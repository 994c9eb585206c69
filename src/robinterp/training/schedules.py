"""Schedules in optimisation steps: the ε warm-up of the training attack and the stepped learning rate.

Both are pure functions of the **global optimisation step** t: the number of
optimiser steps taken before the current one, counted across epochs from 0.
The loop computes t from the epoch and the batch it is at
(:func:`optimisation_step`), the two numbers a checkpoint records, so a run
resumed after a kill or a preemption sees exactly the ε and learning rate an
uninterrupted run sees at the same step; no wall clock and no counter outside
the checkpoint is involved.

Both follow the code of Boopathy et al. (2020), ``train.py`` of
``AkhilanB/Proper-Interpretability``, which feeds ``eps_val(step)`` and
``lr_val(step)`` to every step, ``step`` counting the optimiser steps taken
before it (:func:`warmup_eps`, :func:`stepped_lr_factor`). A step count converts
to epochs as t / B, B = ⌈training images / batch size⌉ batches per epoch.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Sequence


def optimisation_step(epoch: int, batch: int, batches_per_epoch: int) -> int:
    """The global step t of batch ``batch`` (0-based) of epoch ``epoch`` (1-based): (epoch − 1)·B + batch.

    Every epoch has the same number B of batches (the training indices and the
    batch size are fixed for a run; the last, partial batch is kept).
    """
    return (epoch - 1) * batches_per_epoch + batch


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
