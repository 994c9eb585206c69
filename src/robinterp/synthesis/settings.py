"""Class generation, inversion, feature visualisation and their metrics (config ``datasets.<name>.synthesis``)."""

from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass

from robinterp.attacks.spec import AttackSpec
from robinterp.base.errors import ConfigError


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

    SCHEMA: ClassVar[str] = "synthesis_job"  # its definition in the config schema

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
