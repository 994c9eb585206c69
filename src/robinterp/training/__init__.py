"""Training: the one loop, the objectives of every method, data parallelism and preemption, the training job.

Modules: :mod:`~robinterp.training.settings` (what a method's config says),
:mod:`~robinterp.training.step` (the objectives' interface and shared pieces),
:mod:`~robinterp.training.objectives` (standard, adversarial, gradient-norm; the name table),
:mod:`~robinterp.training.saliency` (SGT, ASGT), :mod:`~robinterp.training.cam` (Int, Int2),
:mod:`~robinterp.training.schedules` (the ε warm-up in optimisation steps),
:mod:`~robinterp.training.loop` (the loop, checkpoints, resume), :mod:`~robinterp.training.distributed`,
:mod:`~robinterp.training.preemption`, :mod:`~robinterp.training.figures`, :mod:`~robinterp.training.job`.
"""
