"""Direct feature visualisation (Boychev 2023, eqs. 13–14): maximise one coordinate (or a set) of R(x).

Beside the visualisations, the test images that activate the coordinate most and
least (:func:`extreme_activations`).
"""

from __future__ import annotations

from typing import Sequence

import torch

from robinterp.attacks.threats import ThreatModel
from robinterp.models.architectures import Classifier
from robinterp.models.running import autocast, model_device, model_mode
from robinterp.synthesis.ascent import Objective, ascend_in_batches


def activation_objective(model: Classifier, coordinates: Sequence[int], amp: bool = False) -> Objective:
    """x ↦ the mean of R(x) over ``coordinates``: eqs. 13–14 (one coordinate or a set)."""
    index = torch.as_tensor(list(coordinates), dtype=torch.int64)

    def objective(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, amp):
            r = model.representation(x)
        return r.float()[:, index.to(r.device)].mean(dim=1)
    return objective


def visualise_features(model: Classifier, start: torch.Tensor, coordinates: Sequence[int], threat: ThreatModel,
                       steps: int, *, batch_size: int, amp: bool = False, log_every: int = 0) -> torch.Tensor:
    """Direct feature visualisation (eqs. 13–14): maximise the mean of R(x) over ``coordinates``.

    Args:
        model: the classifier.
        start: starting images (N, C, H, W), noise or test images.
        coordinates: indices into R(x); one coordinate (the paper's figures) or a set.
        threat: L2 ball around the start (paper: ε = 1000, σ = 1).
        steps: gradient steps (paper: 400; author's code: 200).
        batch_size, amp, log_every: see :func:`generate_classes`.
    """
    with model_mode(model, False):
        return ascend_in_batches(lambda part: activation_objective(model, coordinates, amp), start, threat, steps,
                                  batch_size, f"feature {list(coordinates)}", log_every, model_device(model))


def extreme_activations(activations: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the ``k`` largest and ``k`` smallest values of ``activations`` (N,), largest/smallest first."""
    if k > len(activations):
        raise ValueError(f"asked for the {k} most and least activating of {len(activations)} images")
    return activations.topk(k).indices, (-activations).topk(k).indices
