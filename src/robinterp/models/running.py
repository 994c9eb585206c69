"""Running a classifier: its mode, mixed precision, and its predictions.

Helpers every stage that runs a model shares (attacks, training, attribution,
synthesis, analysis), so that each of them is written once.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn as nn


@contextlib.contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Temporarily put ``model`` in train or eval mode, restoring its mode afterwards."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``enabled``; a no-op otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is in a half-precision type (autocast output), else unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def predicted_class(model: nn.Module, x: torch.Tensor, amp: bool = False) -> torch.Tensor:
    """The class with the largest logit for each image.

    Args:
        model: classifier taking images in [0, 1].
        x: images (B, C, H, W).
        amp: compute the forward pass in bfloat16 autocast.

    Returns:
        Class indices (B,), on ``x``'s device. Computed in eval mode, without gradient.
    """
    with torch.no_grad(), model_mode(model, False), autocast(x.device, amp):
        logits = model(x)
    return logits.float().argmax(dim=1)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters."""
    return next(model.parameters()).device
