"""Etmann et al.'s per-image analysis (config ``datasets.<name>.etmann``)."""

from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass

from robinterp.attacks.spec import check_reach


@dataclass(frozen=True)
class EtmannSettings:
    """Alignment, linearised robustness and boundary distance per test image (Etmann et al. 2019).

    Args:
        n_images: this many test images are analysed: the first of the seeded, class-stratified
            order of the test split (:func:`robinterp.data.subsets.stratified_order`).
        batch_size: images per batch.
        eps_max: the largest L2 budget of the boundary-distance bisection.
        steps: PGD-L2 iterations per attack of the bisection.
        step_size_ratio: PGD step size divided by ε; ``steps`` × ``step_size_ratio`` ≥ 1 (each attack
            of the bisection can reach its ε), checked here.
        bisection_steps: halvings of each image's interval [0, ``eps_max``].
        seed: seed of the image order (its stream ``test_subset``; the config's seed gives the
            evaluation's order, so the images are among the evaluation's) and of the attacks'
            random starts.
        class_chunk: classes whose gradients one batched backward of the linearised robustness
            computes (:func:`robinterp.analysis.etmann.linearised_robustness`); None: all classes at
            once. Memory grows with ``class_chunk`` × ``batch_size`` × the image size.
    """

    SCHEMA: ClassVar[str] = "etmann"  # its definition in the config schema

    n_images: int
    batch_size: int
    eps_max: float
    steps: int
    step_size_ratio: float
    bisection_steps: int
    seed: int = 0
    class_chunk: int | None = None

    def __post_init__(self):
        check_reach(self.steps, self.step_size_ratio, 1.0, key="step_size_ratio", step_key="step_size_ratio",
                    unit="·ε")
