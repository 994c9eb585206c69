"""Which test images to explain and how (config ``datasets.<name>.attribution``)."""

from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass

from robinterp.attacks.spec import AttackSpec


@dataclass(frozen=True)
class IGSettings:
    """Integrated Gradients (config ``attribution.ig``); see :func:`robinterp.attribution.methods.integrated_gradients`."""

    n_points: int
    baseline: str
    n_baselines: int
    internal_batch_size: int | None = None


@dataclass(frozen=True)
class ShapSettings:
    """Expected-gradients SHAP (config ``attribution.shap``)."""

    nsamples: int


@dataclass(frozen=True)
class FigureNumbers:
    """The paper's figure numbers for a dataset's attribution figures (two digits each), and their colour scale
    (``per_map`` or ``shared``: see :mod:`robinterp.attribution.figures`)."""

    samples: str
    ig_grid: str
    shap_grid: str
    scale: str = "per_map"


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

    SCHEMA: ClassVar[str] = "attribution"  # its definition in the config schema

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
