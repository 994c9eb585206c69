"""Attacks: threat models, the one projected-ascent loop, the attacks built on it, and accuracy under attack.

Modules, from the bottom up: :mod:`~robinterp.attacks.threats` (L2, L∞ and momentum
threat models), :mod:`~robinterp.attacks.ascent` (projected gradient ascent),
:mod:`~robinterp.attacks.pgd` (PGD, FGSM, MI-FGSM), :mod:`~robinterp.attacks.autoattack`,
:mod:`~robinterp.attacks.spec` (an attack as configured), :mod:`~robinterp.attacks.accuracy`
(accuracy and robustness curves) and :mod:`~robinterp.attacks.job` (the evaluation jobs' I/O).
"""
