"""How to train one model: the dataset's ``train`` section merged with the method's attack and objective."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from dataclasses import dataclass, field

from robinterp.attacks.spec import AttackSpec
from robinterp.data.batches import Augmentation
from robinterp.training.schedules import warmup_eps


@dataclass(frozen=True)
class TrainSettings:
    """How to train one model (config ``datasets.<name>.train`` plus the method's attack).

    Args:
        epochs: number of passes over the training split.
        batch_size: global batch size (all devices together).
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        lr, momentum, weight_decay: optimiser settings.
        lr_schedule: ``"cosine"`` (stepped once per epoch), ``"constant"``, ``"steps"``:
            piecewise constant in global optimisation steps (counted across epochs from 0),
            ``lr`` multiplied by ``lr_gamma`` after each step of ``lr_milestones``
            (:func:`robinterp.training.schedules.stepped_lr_factor`; Boopathy et al.'s code:
            milestones 40,000 and 60,000, γ 0.1 on CIFAR-10), or ``"cyclic"``: the one-cycle
            schedule of Wong et al. (2020), per optimisation step linear from 0 up to ``lr`` at
            the fraction ``cycle_peak`` of the run's steps, then down to 0 at its last step
            (:func:`robinterp.training.schedules.cyclic_lr_factor`).
        cosine_t_max: period of the cosine schedule in epochs; ``None`` = ``epochs``
            (the author's code used 200 with 100 epochs, so lr only halves).
        lr_milestones: ``"steps"`` only (required there): increasing optimisation steps.
        lr_gamma: ``"steps"`` only: the factor applied at each milestone (default 0.1).
        cycle_peak: ``"cyclic"`` only: where the rate peaks, as a fraction of the run's
            optimisation steps (default ½, Wong et al.'s CIFAR-10 code; their MNIST code: 0.4).
        grad_clip_value: clip gradients by value (author's code: 0.1); ``None`` = off.
        augmentation: see :class:`robinterp.data.batches.Augmentation`.
        val_size: images carved from the training split for checkpoint selection.
        selection: ``"mean_clean_adv"`` (best mean of validation clean and
            adversarial accuracy, the paper's rule), ``"clean"`` or ``"last"``.
        val_attack: attack used for ``val_adv_accuracy`` during training.
        overfit_drop: the catastrophic-overfitting watch (Wong et al. 2020, §5.3, who saw FGSM
            training lose all PGD robustness within an epoch): an epoch whose ``val_adv_accuracy``
            is more than this many points below the best earlier epoch's is logged as overfitted
            (history column ``overfit``), and checkpoint selection keeps no epoch from it on.
            20 points, their code's threshold (they compare with the previous minibatch and stop;
            we compare with the best earlier epoch, which also catches a decline over several
            epochs, and train on so that the history shows what follows). ``None`` = off;
            no effect without ``val_attack``.
        attack: the training attack (Algorithm 1); ``None`` = standard training.
        objective: the training objective (config ``methods.<name>.objective``):
            ``{"name": ..., <its settings>}`` for the other methods (``fgsm_rs``, ``free``, ``sgt``,
            ``asgt``, ``int``, ``int2``, ``gradnorm``; see :mod:`robinterp.training.objectives`);
            ``None`` = adversarial training with ``attack``, or standard training without.
        eps_warmup_start, eps_warmup_end: the ε warm-up of the training attack
            (:func:`robinterp.training.schedules.warmup_eps`): ε = 0 up to global
            optimisation step ``eps_warmup_start``, then linear to the full ε at
            step ``eps_warmup_end`` (steps counted across epochs from 0). The step
            size keeps its ratio to ε (:meth:`~robinterp.attacks.spec.AttackSpec.at_eps`);
            at ε = 0 the objectives train on the clean images and skip the attack.
            Both ``None`` (the default) = no warm-up; no effect without ``attack``.
            Boopathy et al.'s code: 5,000 and 70,000 (CIFAR-10), 2,000 and 10,000 (MNIST).
        attack_in_train_mode: attack with BatchNorm in train mode (author's code).
        amp_bf16: bfloat16 autocast on CUDA.
        channels_last: channels-last memory format on CUDA.
        log_every: log progress every this many batches.
    """

    SCHEMA: ClassVar[str] = "train_job"  # its definition in the config schema

    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float = 0.0
    momentum: float = 0.0
    lr_schedule: str = "constant"
    cosine_t_max: int | None = None
    lr_milestones: tuple[int, ...] | None = None
    lr_gamma: float = 0.1
    cycle_peak: float = 0.5
    grad_clip_value: float | None = None
    augmentation: Augmentation = field(default_factory=Augmentation)
    val_size: int = 0
    selection: str = "mean_clean_adv"
    val_attack: AttackSpec | None = None
    overfit_drop: float | None = 20.0
    attack: AttackSpec | None = None
    objective: dict | None = None
    eps_warmup_start: int | None = None
    eps_warmup_end: int | None = None
    attack_in_train_mode: bool = False
    amp_bf16: bool = False
    channels_last: bool = False
    log_every: int = 50

    def __post_init__(self):
        if self.selection == "mean_clean_adv" and self.val_attack is None:
            raise ValueError("selection 'mean_clean_adv' needs val_attack")
        if self.selection != "last" and self.val_size <= 0:
            raise ValueError(f"selection {self.selection!r} needs val_size > 0")
        if self.lr_milestones is not None:
            object.__setattr__(self, "lr_milestones", tuple(self.lr_milestones))  # a config list; frozen here
            if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
                raise ValueError(f"lr_milestones must increase strictly, got {list(self.lr_milestones)}")
        if self.lr_schedule == "steps" and not self.lr_milestones:
            raise ValueError("lr_schedule 'steps' needs lr_milestones")
        if (self.eps_warmup_start is None) != (self.eps_warmup_end is None):
            raise ValueError("eps_warmup_start and eps_warmup_end go together: set both, or neither")
        if self.eps_warmup_end is not None and self.eps_warmup_end < self.eps_warmup_start:
            raise ValueError(f"eps_warmup_end ({self.eps_warmup_end}) must be >= eps_warmup_start "
                             f"({self.eps_warmup_start})")
        self.training_objective()  # a bad objective section fails here, naming its key

    @property
    def eps_warmup(self) -> bool:
        """Whether the training attack's ε is warmed up (a warm-up is configured and there is an attack)."""
        return self.attack is not None and self.eps_warmup_end is not None

    def attack_at(self, step: int) -> AttackSpec | None:
        """The training attack at global optimisation step ``step``: ``attack`` at the warm-up's ε_t.

        Without a warm-up, ``attack`` itself. During it, ``attack.at_eps(ε_t)``: the
        step size scales with ε (σ_t = σ·ε_t/ε), so the steps reach the smaller ball as
        they reach the full one (Boopathy et al.'s code keeps σ fixed instead); at
        ε_t = 0 it is an attack that does not move the image (ε = σ = 0), which the
        objectives skip (:func:`robinterp.training.step.adversarial_examples`).
        """
        if not self.eps_warmup:
            return self.attack
        eps = warmup_eps(self.attack.eps, step, self.eps_warmup_start, self.eps_warmup_end)
        return self.attack if eps == self.attack.eps else self.attack.at_eps(eps)

    def training_objective(self):
        """The :mod:`robinterp.training.objectives` object of ``objective`` (and ``attack``)."""
        from robinterp.training.objectives import make_objective

        return make_objective(self.objective, "objective", attack=self.attack)


def method_train_section(dataset: Mapping[str, Any], method: str) -> dict:
    """The train section a method's training job receives (config ``datasets.<name>``).

    The dataset's ``train`` section, the method's own ``train`` changes on top, then the method's ``attack`` and
    ``objective``; ``replicates`` (how many jobs there are) and ``nodes`` (where each runs) say nothing of how
    a model trains, and are left out.
    """
    spec = dict(dataset["methods"][method])
    spec.pop("replicates", None)
    spec.pop("nodes", None)
    return {**dataset["train"], **spec.pop("train", {}), **spec}
