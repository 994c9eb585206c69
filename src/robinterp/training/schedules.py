"""Schedules in optimisation steps: the ε warm-up of the training attack.

A schedule is a pure function of the **global optimisation step** t: the number of
optimiser steps taken before the current one, counted across epochs from 0.
The loop computes t from the epoch and the batch it is at
(:func:`optimisation_step`), the two numbers a checkpoint records, so a run
resumed after a kill or a preemption sees exactly the ε an
uninterrupted run sees at the same step; no wall clock and no counter outside
the checkpoint is involved.

The warm-up follows the code of Boopathy et al. (2020), ``train.py`` of
``AkhilanB/Proper-Interpretability``, which feeds ``eps_val(step)`` to every
step, ``step`` counting the optimiser steps taken before it (:func:`warmup_eps`).
"""

from __future__ import annotations


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
