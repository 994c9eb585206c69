"""Images made by a classifier: class generation, representation inversion, feature visualisation.

The three procedures of Boychev (2023) §3.3–3.5, after Engstrom et al. (2019),
"Adversarial Robustness as a Prior for Learned Representations", and Santurkar
et al. (2019), "Image Synthesis with a Single (Robust) Classifier". Each is
projected gradient ascent in pixel space on a loss other than the
classification loss, so each is one objective handed to
:func:`robinterp.attacks.projected_gradient_ascent` with a threat model:

- **class generation** (eq. 16): maximise the logit of class i from a seed drawn
  from a multivariate normal fitted to that class's test images
  (:func:`class_seeds`, :func:`generate_classes`);
- **representation inversion** (eq. 15): minimise
  ‖R(x) − R(x_targ)‖₂ / ‖R(x_targ)‖₂ from another image or from noise
  (:func:`invert_representations`);
- **direct feature visualisation** (eqs. 13–14): maximise one coordinate, or
  the mean of several, of R(x) (:func:`visualise_features`), next to the test
  images that activate it most and least (:func:`extreme_activations`).

All functions take images as float tensors (B, C, H, W) in [0, 1], on the CPU
or the model's device, run the model in eval mode on its device, ``batch_size``
examples at a time (so that a GPU sees large batches; generation is batched
across classes), and return their results where the inputs were.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from robinterp.attacks import ThreatModel, autocast, model_mode, projected_gradient_ascent
from robinterp.errors import DataError
from robinterp.models import Classifier

log = logging.getLogger(__name__)

Objective = Callable[[torch.Tensor], torch.Tensor]


# --- seeds of class generation ---------------------------------------------------------------------------------

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


# --- the three procedures ---------------------------------------------------------------------------------------

def _progress_logger(what: str, steps: int, every: int) -> Callable[[int, torch.Tensor], None] | None:
    """A callback for the ascent loop that logs the mean objective every ``every`` steps."""
    if every <= 0:
        return None

    def report(step: int, values: torch.Tensor) -> None:
        if step % every == 0 or step == steps - 1:
            log.info("%s: step %d/%d, mean objective %.4f", what, step + 1, steps, values.float().mean().item())
    return report


def _model_device(model: Classifier) -> torch.device:
    return next(model.parameters()).device


def _ascend_in_batches(make_objective: Callable[[slice], Objective], start: torch.Tensor, threat: ThreatModel,
                       steps: int, batch_size: int, what: str, log_every: int, device: torch.device) -> torch.Tensor:
    """Run the ascent on ``start`` in batches moved to ``device``; ``make_objective(batch_slice)`` gives each
    batch its objective. The result stays where ``start`` is (the CPU, for the tens of thousands of images of
    a whole class-generation run)."""
    out = torch.empty_like(start)
    for lo in range(0, len(start), batch_size):
        part = slice(lo, min(lo + batch_size, len(start)))
        label = f"{what} [{part.start + 1}–{part.stop} of {len(start)}]"
        out[part] = projected_gradient_ascent(make_objective(part), start[part].to(device), threat, steps,
                                              callback=_progress_logger(label, steps, log_every)).to(out.device)
    return out


def logit_objective(model: Classifier, targets: torch.Tensor, amp: bool = False) -> Objective:
    """x ↦ the logit of class ``targets`` (per example): the objective of eq. 16."""
    def objective(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, amp):
            logits = model(x)
        return logits.float().gather(1, targets.to(x.device).view(-1, 1)).squeeze(1)
    return objective


def inversion_objective(model: Classifier, target_representation: torch.Tensor, amp: bool = False) -> Objective:
    """x ↦ −‖R(x) − R(x_targ)‖₂ / ‖R(x_targ)‖₂ per example: eq. 15, negated to be maximised."""
    target = target_representation.float()
    target_norm = target.norm(dim=1)

    def objective(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, amp):
            r = model.representation(x)
        return -(r.float() - target.to(x.device)).norm(dim=1) / target_norm.to(x.device)
    return objective


def activation_objective(model: Classifier, coordinates: Sequence[int], amp: bool = False) -> Objective:
    """x ↦ the mean of R(x) over ``coordinates``: eqs. 13–14 (one coordinate or a set)."""
    index = torch.as_tensor(list(coordinates), dtype=torch.int64)

    def objective(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, amp):
            r = model.representation(x)
        return r.float()[:, index.to(r.device)].mean(dim=1)
    return objective


def generate_classes(model: Classifier, seeds: torch.Tensor, targets: torch.Tensor, threat: ThreatModel, steps: int,
                     *, batch_size: int, amp: bool = False, log_every: int = 0) -> torch.Tensor:
    """Class-specific generation (eq. 16): maximise the logit of ``targets`` from ``seeds``.

    Args:
        model: the classifier.
        seeds: starting images (N, C, H, W), e.g. from :func:`class_seeds`.
        targets: the class of each (N,).
        threat: the ball the images stay in around their seeds (paper: L2, ε = 30,
            σ = 0.5 on CIFAR-10; ε = 40, σ = 1 on Small ImageNet).
        steps: gradient steps (paper: 60).
        batch_size: images per ascent (mixing classes).
        amp: bf16 autocast for the forward passes.
        log_every: log the mean objective every this many steps (0 = never).
    """
    with model_mode(model, False):
        return _ascend_in_batches(lambda part: logit_objective(model, targets[part], amp), seeds, threat, steps,
                                  batch_size, "generation", log_every, _model_device(model))


@torch.no_grad()
def representations(model: Classifier, images: torch.Tensor, batch_size: int, amp: bool = False) -> torch.Tensor:
    """R(x) of ``images`` in batches on the model's device, float32, returned where ``images`` are."""
    device = _model_device(model)
    with model_mode(model, False):
        parts = []
        for lo in range(0, len(images), batch_size):
            with autocast(device, amp):
                parts.append(model.representation(images[lo:lo + batch_size].to(device)).float().to(images.device))
        return torch.cat(parts)


def invert_representations(model: Classifier, sources: torch.Tensor, targets: torch.Tensor, threat: ThreatModel,
                           steps: int, *, batch_size: int, amp: bool = False,
                           log_every: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Representation inversion (eq. 15): from ``sources``, find images whose R matches that of ``targets``.

    Args:
        model: the classifier whose representation R is inverted.
        sources: starting images (N, C, H, W): other images (the paper's
            "inversion 1") or noise ("inversion 2").
        targets: the images whose representation is matched (N, C, H, W).
        threat: L2 ball around the source (paper: ε = 1000, σ = 1, i.e. in effect unconstrained).
        steps: gradient steps (paper: 10,000).
        batch_size, amp, log_every: see :func:`generate_classes`.

    Returns:
        ``(inversions, final normalised distances (N,))``.
    """
    target_r = representations(model, targets, batch_size, amp)
    with model_mode(model, False):
        inverted = _ascend_in_batches(lambda part: inversion_objective(model, target_r[part], amp), sources, threat,
                                      steps, batch_size, "inversion", log_every, _model_device(model))
    final_r = representations(model, inverted, batch_size, amp)
    return inverted, (final_r - target_r).norm(dim=1) / target_r.norm(dim=1)


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
        return _ascend_in_batches(lambda part: activation_objective(model, coordinates, amp), start, threat, steps,
                                  batch_size, f"feature {list(coordinates)}", log_every, _model_device(model))


def extreme_activations(activations: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the ``k`` largest and ``k`` smallest values of ``activations`` (N,), largest/smallest first."""
    if k > len(activations):
        raise ValueError(f"asked for the {k} most and least activating of {len(activations)} images")
    return activations.topk(k).indices, (-activations).topk(k).indices


# --- inputs of the procedures -----------------------------------------------------------------------------------

def inversion_pairs(labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets and "inversion 1" sources: ``n`` random test images, each with a random image of another class.

    Returns:
        ``(target indices (n,), source indices (n,))``; labels of each pair differ.
    """
    if n > len(labels):
        raise DataError(f"inversion asks for {n} target images but the test split has {len(labels)}; "
                        "lower synthesis.inversion.n_images")
    rng = np.random.default_rng(seed)
    target_idx = rng.permutation(len(labels))[:n]
    source_idx = np.empty(n, dtype=np.int64)
    for i, t in enumerate(target_idx):
        others = np.flatnonzero(labels != labels[t])
        if len(others) == 0:
            raise DataError("inversion 1 needs test images of at least two classes")
        source_idx[i] = rng.choice(others)
    return target_idx, source_idx


def noise_images(n: int, shape: Sequence[int], mean: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise N(mean, std²) clamped to [0, 1]: the starts of "inversion 2" and of feature visualisation."""
    return (mean + std * torch.randn(n, *shape, generator=generator)).clamp(0.0, 1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float (N, C, H, W) in [0, 1] → uint8 (N, H, W, C), the package's stored image layout."""
    return (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
