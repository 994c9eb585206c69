"""Typed settings built from config sections, with errors that name the key.

The workflow validates the whole config against
``workflow/schemas/config.schema.yaml``; the CLI receives only the sections a
job needs (as JSON) and turns them into these frozen dataclasses, so library
code is configured through arguments, never through a global config.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, TypeVar

from robinterp.attacks import AttackSpec
from robinterp.data.batches import Augmentation
from robinterp.errors import ConfigError

T = TypeVar("T")
_NESTED = {"AttackSpec": AttackSpec, "Augmentation": Augmentation}


def from_dict(cls: type[T], values: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``values``; unknown or missing keys raise ConfigError naming ``where``."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing key(s) {missing} in {where}")
    for name, f in fields.items():
        # Nested sections (an attack, an augmentation) arrive as mappings; annotations are strings here.
        nested_cls = _NESTED.get(str(f.type).replace(" | None", ""))
        if nested_cls is not None and isinstance(values.get(name), Mapping):
            values[name] = from_dict(nested_cls, values[name], f"{where}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value in {where}: {exc}") from exc


def parse_json_argument(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object")
    return value


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
            ``asgt``, ``int``, ``int2``, ``gradnorm``; see :mod:`robinterp.objectives`);
            ``None`` = adversarial training with ``attack``, or standard training without.
        attack_in_train_mode: attack with BatchNorm in train mode (author's code).
        amp_bf16: bfloat16 autocast on CUDA.
        channels_last: channels-last memory format on CUDA.
        log_every: log progress every this many batches.
    """

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
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.selection not in ("mean_clean_adv", "clean", "last"):
            raise ValueError(f"selection must be 'mean_clean_adv', 'clean' or 'last', got {self.selection!r}")
        if self.selection == "mean_clean_adv" and self.val_attack is None:
            raise ValueError("selection 'mean_clean_adv' needs val_attack")
        if self.selection != "last" and self.val_size <= 0:
            raise ValueError(f"selection {self.selection!r} needs val_size > 0")
        self.training_objective()  # a bad objective section fails here, naming its key

    def training_objective(self):
        """The :mod:`robinterp.objectives` object of ``objective`` (and ``attack``)."""
        from robinterp.objectives import make_objective

        return make_objective(self.objective, "objective", has_attack=self.attack is not None)


@dataclass(frozen=True)
class IGSettings:
    """Integrated Gradients (config ``attribution.ig``); see :func:`robinterp.attribution.integrated_gradients`."""

    n_points: int
    baseline: str
    n_baselines: int
    internal_batch_size: int | None = None

    def __post_init__(self):
        if self.baseline not in ("black", "uniform"):
            raise ValueError(f"baseline must be 'black' or 'uniform', got {self.baseline!r}")


@dataclass(frozen=True)
class ShapSettings:
    """Expected-gradients SHAP (config ``attribution.shap``)."""

    nsamples: int


@dataclass(frozen=True)
class FigureNumbers:
    """The paper's figure numbers for a dataset's attribution figures (two digits each)."""

    samples: str
    ig_grid: str
    shap_grid: str


@dataclass(frozen=True)
class AttributionSettings:
    """Which images to explain and how (config ``datasets.<name>.attribution``).

    Args:
        seed: seed of the image selection, the uniform baselines and SHAP's sampling.
        n_background: SHAP background images (author: 176).
        n_explained: images of the grid figures (author: 24).
        sample_rows: positions among the explained images shown in the 3-sample figure.
        n_metrics: images whose metrics table 7 averages.
        batch_size: images per batch.
        amp_bf16: bfloat16 autocast for the attack's forward passes (CUDA).
        ig, shap: method settings.
        deletion_steps: points of the deletion curve.
        topk_fraction: k of the top-k intersection, as a share of the pixels.
        robustness_attack: the small PGD attack of the explanation-robustness metric.
        figures: the paper's figure numbers.
    """

    seed: int
    n_background: int
    n_explained: int
    sample_rows: tuple[int, ...]
    n_metrics: int
    batch_size: int
    ig: IGSettings
    shap: ShapSettings
    deletion_steps: int
    topk_fraction: float
    robustness_attack: AttackSpec
    figures: FigureNumbers
    amp_bf16: bool = False

    def __post_init__(self):
        object.__setattr__(self, "sample_rows", tuple(self.sample_rows))
        bad = [r for r in self.sample_rows if not 0 <= r < self.n_explained]
        if bad:
            raise ValueError(f"sample_rows {bad} are not positions among the {self.n_explained} explained images")


_NESTED.update({"IGSettings": IGSettings, "ShapSettings": ShapSettings, "FigureNumbers": FigureNumbers})


@dataclass(frozen=True)
class NoiseSettings:
    """Gaussian noise images N(mean, std²), clamped to [0, 1]: starts of inversion 2 and feature visualisation."""

    mean: float
    std: float


@dataclass(frozen=True)
class SeedSettings:
    """Seeds of class generation: per-class normals on ``grain``-block averages, covariance + ``ridge``·I."""

    grain: int
    ridge: float


@dataclass(frozen=True)
class GenerationSettings:
    """Class-specific generation (eq. 16).

    Args:
        per_class: images generated per class (paper: 1,000 on CIFAR-10, 60 on Small ImageNet).
        attack: the ascent (paper: L2, ε = 30, σ = 0.5, 60 steps on CIFAR-10).
    """

    per_class: int
    attack: AttackSpec


@dataclass(frozen=True)
class InversionSettings:
    """Representation inversion (eq. 15).

    Args:
        n_images: target test images, each inverted from another class's image
            (inversion 1) and from noise (inversion 2); the distances of tables 3
            and 6 average over them (paper: 3).
        attack: the ascent (paper: L2, ε = 1000, σ = 1, 10,000 steps).
    """

    n_images: int
    attack: AttackSpec


@dataclass(frozen=True)
class VisualisationSettings:
    """Direct feature visualisation (eqs. 13–14).

    Args:
        coordinates: one entry per figure: a coordinate of R(x), or a list of
            coordinates whose mean is maximised (paper: 130 on CIFAR-10, 492 on Small ImageNet).
        n_images: visualisations from noise and from test images, each.
        n_extremes: test images shown that activate the coordinate most and least.
        attack: the ascent (paper: L2, ε = 1000, σ = 1, 400 steps).
    """

    coordinates: tuple
    n_images: int
    n_extremes: int
    attack: AttackSpec

    def __post_init__(self):
        object.__setattr__(self, "coordinates", tuple(
            tuple(c) if isinstance(c, (list, tuple)) else (int(c),) for c in self.coordinates))


@dataclass(frozen=True)
class SynthesisFigures:
    """The paper's figure numbers and what the figures show.

    Args:
        seeds, generation: figure numbers of the seeds and of class generation.
        inversion: one number per inversion figure; figure i shows targets
            i·inversion_rows … (i+1)·inversion_rows − 1.
        visualisation: one number per entry of ``visualisation.coordinates``.
        classes: the seeds and generation figures show the first this many classes, one row each.
        columns: images per class (and model) in those figures.
        inversion_rows: targets per inversion figure.
    """

    seeds: str
    generation: str
    inversion: tuple
    visualisation: tuple
    classes: int
    columns: int
    inversion_rows: int

    def __post_init__(self):
        object.__setattr__(self, "inversion", tuple(self.inversion))
        object.__setattr__(self, "visualisation", tuple(self.visualisation))


@dataclass(frozen=True)
class SynthesisSettings:
    """Class generation, inversion, feature visualisation and their metrics (config ``datasets.<name>.synthesis``).

    A job gets only the keys it uses (the workflow passes each rule its part of
    the section), so that changing, say, a figure does not re-run 10,000-step
    inversions; the sections are therefore optional here and :meth:`need`
    names one that a job needs and did not get. The workflow's schema requires
    all of them in the config.

    Args:
        seed: seed of the class seeds, the inversion pairs, the noise and the real-data sample.
        batch_size: images per ascent batch.
        feature_batch_size: images per batch of the feature extractor.
        amp_bf16: bfloat16 autocast for the forward passes (CUDA).
        log_every: log the mean objective every this many ascent steps.
        noise: the noise images.
        seeds, generation, inversion, visualisation: the procedures.
        features: ``"inception"`` (FID and the Inception-192 distance, the paper's)
            or ``"judge"`` (the same distances on an independent classifier's
            features, named ``fid_judge`` and ``judge_l2``: the offline demo).
        judge: how to train the judge (``seed`` and ``train`` overrides); needed with ``features: judge``.
        figures: the paper's figure numbers and the figures' sizes.
        tables: output names of the FID and inversion-distance tables.
    """

    seed: int = 0
    batch_size: int = 100
    feature_batch_size: int = 100
    noise: NoiseSettings | None = None
    seeds: SeedSettings | None = None
    generation: GenerationSettings | None = None
    inversion: InversionSettings | None = None
    visualisation: VisualisationSettings | None = None
    features: str = "inception"
    figures: SynthesisFigures | None = None
    tables: dict | None = None
    judge: dict | None = None
    amp_bf16: bool = False
    log_every: int = 0

    def __post_init__(self):
        if self.features not in ("inception", "judge"):
            raise ValueError(f"features must be 'inception' or 'judge', got {self.features!r}")
        if self.figures is not None and self.visualisation is not None and \
                len(self.figures.visualisation) != len(self.visualisation.coordinates):
            raise ValueError(f"figures.visualisation has {len(self.figures.visualisation)} numbers for "
                             f"{len(self.visualisation.coordinates)} visualisation.coordinates; give one per entry")
        if self.figures is not None and self.inversion is not None:
            shown = len(self.figures.inversion) * self.figures.inversion_rows
            if shown > self.inversion.n_images:
                raise ValueError(f"{len(self.figures.inversion)} inversion figures of {self.figures.inversion_rows} "
                                 f"rows need inversion.n_images >= {shown}")

    def need(self, *names: str):
        """The sections ``names`` (one value, or a tuple for several); ConfigError for one not given."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ConfigError(f"the synthesis settings lack {missing}; give the dataset's whole synthesis section")
        values = tuple(getattr(self, n) for n in names)
        return values[0] if len(values) == 1 else values


_NESTED.update({"NoiseSettings": NoiseSettings, "SeedSettings": SeedSettings,
                "GenerationSettings": GenerationSettings, "InversionSettings": InversionSettings,
                "VisualisationSettings": VisualisationSettings, "SynthesisFigures": SynthesisFigures})
