"""A method imported rather than trained (config ``datasets.<name>.methods.<method>.pretrained``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

#: The source's default for ``classes``: RobustBench's ImageNet models and MadryLab's ImageNet checkpoints
#: output the 1,000 ImageNet classes; torchvision and timm files the dataset's own unless the config says so.
_DEFAULT_CLASSES = {"madrylab": "imagenet", "torchvision": "dataset", "timm": "dataset", "robinterp": "dataset"}


@dataclass(frozen=True)
class PretrainedSettings:
    """Where an imported network comes from, and how it meets the dataset (the schema's ``pretrained``).

    Args:
        source: ``robustbench``, ``madrylab``, ``torchvision``, ``timm`` or ``robinterp`` (this package's
            architectures as plain networks, :class:`robinterp.models.zoo.PlainNetwork`).
        name: RobustBench: the model's name in its zoo (e.g. ``Engstrom2019Robustness``).
        threat_model: RobustBench: ``Linf``, ``L2`` or ``corruptions``.
        dataset: RobustBench: the zoo's dataset, ``cifar10`` (default), ``cifar100`` or ``imagenet``.
        model_dir: RobustBench: its cache folder; the file is ``<model_dir>/<dataset>/<threat_model>/<name>.pt``.
        path: MadryLab: the checkpoint file.
        arch: MadryLab: the torchvision architecture its classifier has (``resnet50``), or one of this package's;
            torchvision, timm, robinterp: the architecture's name in that library.
        weights: torchvision, timm, robinterp: the file of the architecture's state dict.
        mean, std: torchvision, timm, robinterp: the input normalisation the weights were trained with.
        classes: ``imagenet``: the network outputs the 1,000 ImageNet classes, restricted to the dataset's
            (wnid) classes; ``dataset``: it outputs the dataset's classes in its order. Default: ``imagenet`` for
            MadryLab and RobustBench's ImageNet models, else ``dataset``.
        input_size: images are resized to this side inside the model (e.g. 224 for an ImageNet network on
            128-pixel Small ImageNet); None: the dataset's size.
    """

    SCHEMA: ClassVar[str] = "pretrained"  # its definition in the config schema

    source: str
    name: str | None = None
    threat_model: str | None = None
    dataset: str = "cifar10"
    model_dir: str | None = None
    path: str | None = None
    arch: str | None = None
    weights: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    classes: str | None = None
    input_size: int | None = None

    def __post_init__(self):
        for key in ("mean", "std"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, tuple(float(v) for v in getattr(self, key)))

    @property
    def class_kind(self) -> str:
        """``classes``, or the source's default."""
        if self.classes:
            return self.classes
        if self.source == "robustbench":
            return "imagenet" if self.dataset == "imagenet" else "dataset"
        return _DEFAULT_CLASSES[self.source]

    @property
    def source_file(self) -> str:
        """The file the weights are read from (RobustBench: its cache file)."""
        if self.source == "robustbench":
            return f"{self.model_dir}/{self.dataset}/{self.threat_model}/{self.name}.pt"
        return str(self.path if self.source == "madrylab" else self.weights)
