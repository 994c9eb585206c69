"""From stored uint8 arrays to float batches on the model's device, with augmentation.

Augmentation runs on whole batches on the device (GPU when training there), with
per-example random parameters drawn from an explicit ``torch.Generator`` so a
resumed epoch replays exactly the same crops and flips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from robinterp.data.store import Split


def to_device_batch(images: np.ndarray, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, H, W, C) → float (B, C, H, W) in [0, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(images))
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    x = t.permute(0, 3, 1, 2).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] → uint8 by rounding (same layout), the inverse of :func:`to_device_batch`'s scaling.

    Rounding makes uint8 → :func:`to_device_batch` → uint8 the identity. (torchmetrics' FID with
    ``normalize=True`` truncates, ``(x * 255).byte()``; for images that came from uint8 both agree, for
    optimised float images rounding is the unbiased quantisation.)
    """
    return x.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)


def to_stored_images(x: torch.Tensor) -> np.ndarray:
    """Float (N, C, H, W) in [0, 1] → uint8 (N, H, W, C) on the CPU, the package's stored image layout."""
    return to_uint8(x).permute(0, 2, 3, 1).cpu().numpy()


def index_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator | None = None,
                  drop_last: bool = False) -> Iterator[np.ndarray]:
    """Yield batches of ``indices``; shuffled by ``generator`` when one is given (on its own device: the
    training loop's epoch generator lives on the training device, and a CUDA generator draws on CUDA only)."""
    if generator is not None:
        order = torch.randperm(len(indices), generator=generator, device=generator.device)
        indices = indices[order.cpu().numpy()]
    stop = len(indices) - (len(indices) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        yield np.sort(indices[start:start + batch_size])  # sorted reads are kinder to memory-mapped files


def split_batches(split: Split, indices: np.ndarray, batch_size: int, device: torch.device, *,
                  generator: torch.Generator | None = None, drop_last: bool = False,
                  channels_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, labels) batches of ``split`` restricted to ``indices``, on ``device``."""
    for idx in index_batches(indices, batch_size, generator, drop_last):
        yield load_batch(split, idx, device, channels_last)


def ordered_batches(split: Split, indices: np.ndarray, batch_size: int,
                    device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images, labels) of ``split[indices]`` in exactly the order of ``indices``, ``batch_size`` at a time.

    Unlike :func:`split_batches`, which sorts each batch, the k-th image yielded is
    ``split[indices[k]]``, so the first m images yielded are the first m of ``indices``
    (the subsets of :mod:`robinterp.data.subsets` are prefixes of an order). Each batch is
    still read in sorted order (kinder to memory-mapped files) and then put back in order.
    """
    indices = np.asarray(indices)
    for start in range(0, len(indices), batch_size):
        idx = indices[start:start + batch_size]
        order = np.argsort(idx, kind="stable")
        x, y = load_batch(split, idx[order], device)
        back = torch.from_numpy(np.argsort(order, kind="stable")).to(device)
        yield x[back], y[back]


def load_batch(split: Split, idx: np.ndarray, device: torch.device,
               channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (float, [0, 1]) and labels (int64) of ``split[idx]`` on ``device``."""
    x = to_device_batch(split.images[idx], device, channels_last)
    y = torch.from_numpy(split.labels[idx].astype(np.int64)).to(device, non_blocking=True)
    return x, y


@dataclass(frozen=True)
class Augmentation:
    """Per-example random augmentation of a batch.

    Args:
        crop_padding: pad by this many zero pixels and take a random crop of the
            original size (torchvision ``RandomCrop(size, padding)``); 0 = off.
        horizontal_flip: flip each image left-right with probability 1/2.
        resized_crop: random crop of scale U(0.08, 1) of the area and aspect
            ratio log-U(3/4, 4/3), resized back to the input size
            (torchvision ``RandomResizedCrop`` defaults).
        rotation_degrees: rotate by U(−d, d) degrees; 0 = off.
    """

    crop_padding: int = 0
    horizontal_flip: bool = False
    resized_crop: bool = False
    rotation_degrees: float = 0.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop_padding:
            x = _random_crop(x, self.crop_padding, generator)
        if self.resized_crop or self.rotation_degrees:
            return _random_affine(x, self.resized_crop, self.rotation_degrees, self.horizontal_flip, generator)
        if self.horizontal_flip:
            flip = _rand(x.shape[0], generator, x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x


def _rand(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    # Drawn on the generator's device, then moved: results do not depend on where the batch lives.
    return torch.rand(n, generator=generator, device=generator.device).to(device)


def _random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = (_rand(b, generator, x.device) * (2 * pad + 1)).long()
    dx = (_rand(b, generator, x.device) * (2 * pad + 1)).long()
    rows = (dy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1).expand(b, c, h, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w).expand(b, c, h, w)
    return out.gather(3, cols)


def _random_affine(x: torch.Tensor, resized_crop: bool, degrees: float, flip: bool,
                   generator: torch.Generator) -> torch.Tensor:
    """Crop-resize, rotate and flip in one bilinear resampling (one affine grid per example)."""
    b = x.shape[0]
    ones = torch.ones(b, device=x.device)
    sx, sy, tx, ty = ones, ones, 0 * ones, 0 * ones
    if resized_crop:
        area = 0.08 + (1 - 0.08) * _rand(b, generator, x.device)
        log_ratio = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * _rand(b, generator, x.device)
        ratio = torch.exp(log_ratio)
        sx = torch.sqrt(area * ratio).clamp(max=1.0)  # crop width / image width
        sy = torch.sqrt(area / ratio).clamp(max=1.0)
        tx = (1 - sx) * (2 * _rand(b, generator, x.device) - 1)
        ty = (1 - sy) * (2 * _rand(b, generator, x.device) - 1)
    angle = (2 * _rand(b, generator, x.device) - 1) * math.radians(degrees)
    if flip:
        sx = torch.where(_rand(b, generator, x.device) < 0.5, -sx, sx)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([sx * cos, -sy * sin, tx], 1), torch.stack([sx * sin, sy * cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
