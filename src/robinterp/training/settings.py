"""How to train one model: the dataset's ``train`` section merged with the method's attack and objective."""

from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass, field

from robinterp.attacks.spec import AttackSpec
from robinterp.data.batches import Augmentation


@dataclass(frozen=True)
class TrainSettings:
    """How to train one model (config ``datasets.<name>.train`` plus the method's attack).

    Args:
        epochs: number of passes over the training split.
        batch_size: global batch size (all devices together).
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        lr, momentum, weight_decay: optimiser settings.
        lr_schedule: ``"cosine"`` (stepped once per epoch) or ``"constant"``.
        cosine_t_max: period of the cosine schedule in epochs; ``None`` = ``epochs``
            (the author's code used 200 with 100 epochs, so lr only halves).
        grad_clip_value: clip gradients by value (author's code: 0.1); ``None`` = off.
        augmentation: see :class:`robinterp.data.batches.Augmentation`.
        val_size: images carved from the training split for checkpoint selection.
        selection: ``"mean_clean_adv"`` (best mean of validation clean and
            adversarial accuracy, the paper's rule), ``"clean"`` or ``"last"``.
        val_attack: attack used for ``val_adv_accuracy`` during training.
        attack: the training attack (Algorithm 1); ``None`` = standard training.
        objective: the training objective (config ``methods.<name>.objective``):
            ``{"name": ..., <its settings>}`` for the other seeds' methods (``sgt``,
            ``asgt``, ``int``, ``int2``, ``gradnorm``; see :mod:`robinterp.training.objectives`);
            ``None`` = adversarial training with ``attack``, or standard training without.
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
    grad_clip_value: float | None = None
    augmentation: Augmentation = field(default_factory=Augmentation)
    val_size: int = 0
    selection: str = "mean_clean_adv"
    val_attack: AttackSpec | None = None
    attack: AttackSpec | None = None
    objective: dict | None = None
    attack_in_train_mode: bool = False
    amp_bf16: bool = False
    channels_last: bool = False
    log_every: int = 50

    def __post_init__(self):
        if self.selection == "mean_clean_adv" and self.val_attack is None:
            raise ValueError("selection 'mean_clean_adv' needs val_attack")
        if self.selection != "last" and self.val_size <= 0:
            raise ValueError(f"selection {self.selection!r} needs val_size > 0")
        self.training_objective()  # a bad objective section fails here, naming its key

    def training_objective(self):
        """The :mod:`robinterp.training.objectives` object of ``objective`` (and ``attack``)."""
        from robinterp.training.objectives import make_objective

        return make_objective(self.objective, "objective", has_attack=self.attack is not None)
