"""Projected gradient ascent on images in batches: the machinery the three synthesis procedures share.

Each procedure of Boychev (2023) §3.3–3.5 (after Engstrom et al. 2019 and
Santurkar et al. 2019) is projected gradient ascent in pixel space on a loss
other than the classification loss: one objective handed to
:func:`robinterp.attacks.ascent.projected_gradient_ascent` with a threat model.
All functions take images as float tensors (B, C, H, W) in [0, 1], on the CPU or
the model's device, run the model on its device ``batch_size`` examples at a
time (so that a GPU sees large batches), and return their results where the
inputs were.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch

from robinterp.attacks.ascent import projected_gradient_ascent
from robinterp.attacks.threats import ThreatModel
from robinterp.models.architectures import Classifier
from robinterp.models.running import autocast, model_device, model_mode

log = logging.getLogger(__name__)

Objective = Callable[[torch.Tensor], torch.Tensor]


def progress_logger(what: str, steps: int, every: int) -> Callable[[int, torch.Tensor], None] | None:
    """A callback for the ascent loop that logs the mean objective every ``every`` steps."""
    if every <= 0:
        return None

    def report(step: int, values: torch.Tensor) -> None:
        if step % every == 0 or step == steps - 1:
            log.info("%s: step %d/%d, mean objective %.4f", what, step + 1, steps, values.float().mean().item())
    return report


def ascend_in_batches(make_objective: Callable[[slice], Objective], start: torch.Tensor, threat: ThreatModel,
                       steps: int, batch_size: int, what: str, log_every: int, device: torch.device) -> torch.Tensor:
    """Run the ascent on ``start`` in batches moved to ``device``; ``make_objective(batch_slice)`` gives each
    batch its objective. The result stays where ``start`` is (the CPU, for the tens of thousands of images of
    a whole class-generation run)."""
    out = torch.empty_like(start)
    for lo in range(0, len(start), batch_size):
        part = slice(lo, min(lo + batch_size, len(start)))
        label = f"{what} [{part.start + 1}–{part.stop} of {len(start)}]"
        out[part] = projected_gradient_ascent(make_objective(part), start[part].to(device), threat, steps,
                                              callback=progress_logger(label, steps, log_every)).to(out.device)
    return out


@torch.no_grad()
def representations(model: Classifier, images: torch.Tensor, batch_size: int, amp: bool = False) -> torch.Tensor:
    """R(x) of ``images`` in batches on the model's device, float32, returned where ``images`` are."""
    device = model_device(model)
    with model_mode(model, False):
        parts = []
        for lo in range(0, len(images), batch_size):
            with autocast(device, amp):
                parts.append(model.representation(images[lo:lo + batch_size].to(device)).float().to(images.device))
        return torch.cat(parts)


def noise_images(n: int, shape: Sequence[int], mean: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise N(mean, std²) clamped to [0, 1]: the starts of "inversion 2" and of feature visualisation."""
    return (mean + std * torch.randn(n, *shape, generator=generator)).clamp(0.0, 1.0)
