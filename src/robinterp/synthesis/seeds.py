"""Seeds of class generation: draws from a normal fitted to each class's block-averaged test images.

As the author's code (Boychev 2023, Figs. 14 and 19): images block-averaged
``grain`` × ``grain``, the biased covariance plus ``ridge`` · I, samples clamped
to [0, 1] and upsampled back to full size.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from robinterp.base.errors import DataError


def block_average(x: torch.Tensor, grain: int) -> torch.Tensor:
    """Average non-overlapping ``grain`` × ``grain`` blocks (the author's ``downsample``)."""
    if x.shape[-1] % grain or x.shape[-2] % grain:
        raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of the grain {grain}")
    return F.avg_pool2d(x, grain)


def upsample_blocks(x: torch.Tensor, grain: int) -> torch.Tensor:
    """Repeat every pixel into a ``grain`` × ``grain`` block (the author's ``upsample``)."""
    return x.repeat_interleave(grain, dim=-2).repeat_interleave(grain, dim=-1)


def fit_class_gaussian(images: torch.Tensor, grain: int, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and Cholesky factor of the normal fitted to one class's block-averaged images.

    As the author's code: the biased covariance (divided by N) of the flattened
    block averages, plus ``ridge`` · I so that it is positive definite even with
    fewer images than dimensions. Computed in float64.

    Args:
        images: the class's images (N, C, H, W) in [0, 1].
        grain: block size of the averaging (author: 4).
        ridge: added to the covariance's diagonal (author: 1e-4).

    Returns:
        ``(mean (D,), scale_tril (D, D))`` with D = C·(H/grain)·(W/grain).
    """
    flat = block_average(images.double(), grain).flatten(1)
    mean = flat.mean(dim=0)
    centred = flat - mean
    cov = centred.T @ centred / len(flat)
    cov += ridge * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    return mean, torch.linalg.cholesky(cov)


def class_seeds(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int], per_class: int, *, grain: int,
                ridge: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Starting points of class generation: ``per_class`` draws from each class's fitted normal.

    One class at a time, so memory holds one D × D covariance (D = 3072 for
    128-pixel RGB images at grain 4), not one per class. Draws are clamped to
    [0, 1] and upsampled back to the image size.

    Args:
        images: test images (N, C, H, W), float in [0, 1] or uint8 (converted one class at a time).
        labels: their classes (N,).
        classes: the classes to draw seeds for, in output order.
        per_class: seeds per class.
        grain, ridge: see :func:`fit_class_gaussian`.
        generator: source of the normal draws (CPU generator), for reproducibility.

    Returns:
        ``(seeds (len(classes)·per_class, C, H, W), targets)``, class-major.
    """
    seeds, targets = [], []
    small_shape = (images.shape[1], images.shape[2] // grain, images.shape[3] // grain)
    for k in classes:
        members = images[labels == k]
        members = members.float() / 255.0 if members.dtype == torch.uint8 else members
        if len(members) < 2:
            raise DataError(f"class {k} has {len(members)} test image(s); a seed distribution needs at least 2")
        mean, scale_tril = fit_class_gaussian(members, grain, ridge)
        z = torch.randn(per_class, mean.numel(), generator=generator, dtype=torch.float64)
        draws = (mean.cpu() + z @ scale_tril.cpu().T).float().clamp(0.0, 1.0)
        seeds.append(upsample_blocks(draws.view(per_class, *small_shape), grain))
        targets.append(torch.full((per_class,), int(k), dtype=torch.int64))
    return torch.cat(seeds), torch.cat(targets)
