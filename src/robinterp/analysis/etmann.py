"""Per-image alignment and robustness (Etmann et al. 2019).

Etmann et al. ask whether images further from the decision boundary have saliency
maps better aligned with the image. Per image x with predicted class i:

- alignment α(x) = |⟨x, ∇ₓΨᵢ(x)⟩| / (‖x‖₂ ‖∇ₓΨᵢ(x)‖₂), Ψ the logits
  (:func:`robinterp.attribution.metrics.alignment`, reused here);
- linearised robustness ρ̃(x) = min over j ≠ i of (Ψᵢ(x) − Ψⱼ(x)) / ‖∇ₓΨᵢ(x) − ∇ₓΨⱼ(x)‖₂
  (:func:`linearised_robustness`, their Definition 4): the distance to the decision
  boundary of the model linearised at x, exact for an affine multi-class classifier;
- robustness ρ(x), the L2 distance to the decision boundary, estimated from above by
  the smallest budget at which an attack flips the prediction
  (:func:`boundary_distance`: bisection over ε of our PGD-L2; Etmann et al. used the
  gradient attack, DeepFool and Carlini–Wagner).

:func:`per_image_analysis` computes all three on a split,
:func:`robinterp.analysis.etmann_summary.summary` reduces them
to the medians of their Figs. 2–3 (median α against median robustness, one point per
model, the gradient-norm-regularised models at increasing λ joined by a line), and the
figure functions draw Figs. 2–3 (:func:`plot_alignment_vs_robustness`) and Figs. 4–5
(:func:`plot_per_image_scatter`: ρ̃ against α and ρ̃ against ρ per image).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn as nn

from robinterp.analysis.etmann_summary import ANALYSIS_KEYS
from robinterp.attacks.pgd import pgd_attack
from robinterp.attacks.spec import check_reach
from robinterp.attacks.threats import L2Threat
from robinterp.attribution.metrics import alignment
from robinterp.data.batches import split_batches
from robinterp.data.store import Split
from robinterp.models.running import autocast, model_mode, predicted_class

log = logging.getLogger(__name__)

# Guards the division by a zero gradient difference.
_TINY = 1e-12


def linearised_robustness(model: nn.Module, x: torch.Tensor, amp: bool = False, *,
                           class_chunk: int | None = None) -> torch.Tensor:
    """Linearised robustness ρ̃(x) of each image (Etmann et al. 2019, Definition 4).

    ρ̃(x) = min over j ≠ i of (Ψᵢ(x) − Ψⱼ(x)) / ‖∇ₓΨᵢ(x) − ∇ₓΨⱼ(x)‖₂, with Ψ the logits and
    i the predicted class: the L2 distance from x to the nearest of the hyperplanes where
    the first-order Taylor expansions of Ψᵢ and of some other Ψⱼ at x are equal, i.e. to
    the decision boundary of the model linearised at x (the step DeepFool takes,
    Moosavi-Dezfooli et al. 2016). It is exact for an affine multi-class model, whose
    region of class i is an intersection of half-spaces: the distance from a point inside
    to the boundary is the distance to the nearest of their hyperplanes. The minimum runs
    over all classes, not only the runner-up (second-largest logit): a class with a
    smaller logit but a much steeper difference of gradients can be closer. The box
    [0, 1] is ignored; gradients are taken in pixel space (images in [0, 1]).

    The gradients ∇ₓ(Ψᵢ − Ψⱼ) of all classes j come from one forward pass and one
    batched backward per chunk of ``class_chunk`` classes
    (``torch.autograd.grad(..., is_grads_batched=True)``), on ``x``'s device; a chunk
    holds ``class_chunk`` × B gradients of the size of ``x``.

    Args:
        model: classifier taking images in [0, 1] with at least two outputs; run in eval
            mode (its mode is restored afterwards).
        x: images (B, C, H, W).
        amp: compute the forward pass in bfloat16 autocast (the gradient is then bf16-accurate).
        class_chunk: classes whose gradients one batched backward computes (≥ 1); None: all
            classes at once. Memory grows with ``class_chunk`` × B × C·H·W (Small ImageNet's
            150 classes at 128×128: choose a chunk that fits the device).

    Returns:
        ρ̃ per image (B,), ≥ 0, float32, detached.
    """
    if x.dim() != 4:
        raise ValueError(f"x: expected images (B, C, H, W), got shape {tuple(x.shape)}")
    if class_chunk is not None and class_chunk < 1:
        raise ValueError(f"class_chunk: must be at least 1 (or None: all classes at once), got {class_chunk}")
    x = x.detach().clone().requires_grad_(True)
    with model_mode(model, False), torch.enable_grad():
        with autocast(x.device, amp):
            logits = model(x)
        logits = logits.float()
        n_classes = logits.shape[1]
        if n_classes < 2:
            raise ValueError(f"model: needs at least two outputs, has {n_classes}")
        top = logits.argmax(dim=1)
        batch = torch.arange(x.shape[0], device=x.device)
        margins = (logits[batch, top].unsqueeze(1) - logits).detach()  # (B, K): Ψᵢ − Ψⱼ
        step = n_classes if class_chunk is None else class_chunk
        rho = torch.full((x.shape[0],), math.inf, device=x.device)
        for start in range(0, n_classes, step):
            classes = torch.arange(start, min(start + step, n_classes), device=x.device)
            # grad_outputs[c] = e_i − e_j for j = classes[c]: its vector-Jacobian product is ∇ₓ(Ψᵢ − Ψⱼ)
            outputs = torch.zeros(len(classes), *logits.shape, device=x.device)
            outputs[:, batch, top] = 1.0
            outputs[torch.arange(len(classes), device=x.device).unsqueeze(1), batch, classes.unsqueeze(1)] -= 1.0
            (grads,) = torch.autograd.grad(logits, x, grad_outputs=outputs, is_grads_batched=True,
                                           retain_graph=start + step < n_classes)
            norms = grads.flatten(2).norm(dim=2)  # (chunk, B)
            ratio = margins[:, classes].T / (norms + _TINY)
            ratio = torch.where(classes.unsqueeze(1) == top.unsqueeze(0), math.inf, ratio)  # j = i is no boundary
            rho = torch.minimum(rho, ratio.amin(dim=0))
    return rho.float()


def boundary_distance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps_max: float, steps: int,
                      step_size_ratio: float, bisection_steps: int, generator: torch.Generator | None = None,
                      random_start: bool = False, amp: bool = False) -> torch.Tensor:
    """Smallest L2 budget at which PGD-L2 flips each prediction, found by bisection on ε.

    For each correctly classified image, :func:`robinterp.attacks.pgd.pgd_attack` (cross-entropy
    at ``y``, L2 threat, ``use_best``) is run with budget ε and step size
    ``step_size_ratio``·ε; the attack succeeds when the prediction on its output is no
    longer ``y``. First at ε = ``eps_max``: an image it does not flip gets +inf (its
    distance is beyond ``eps_max``, or beyond what this attack finds). The others keep
    their own interval [lo, hi] = [0, ``eps_max``] and, ``bisection_steps`` times, are all
    attacked at once, each at its own midpoint (the L2 threat broadcasts a per-image ε);
    a success sets hi, a failure lo. The result is hi: a budget at which PGD did find an
    adversarial example, so an upper bound on the true distance ρ(x) up to the
    bisection's resolution ``eps_max``/2^``bisection_steps`` (and assuming success is
    monotone in ε, which the bisection needs and PGD only approximately satisfies).
    Images already misclassified (prediction ≠ ``y``) get 0.

    Args:
        model: classifier taking images in [0, 1]; attacked in eval mode (mode restored).
        x: images (B, C, H, W) in [0, 1].
        y: true labels (B,).
        eps_max: the largest L2 budget tried (> 0).
        steps: PGD iterations per attack.
        step_size_ratio: PGD step size divided by ε (e.g. 2.5/``steps``, Madry's rule); ``steps`` ×
            ``step_size_ratio`` ≥ 1, so that every attack of the bisection can reach its ε
            (:func:`robinterp.attacks.spec.check_reach`).
        bisection_steps: halvings of each interval (≥ 0).
        generator: source of the random starts.
        random_start: start each PGD from a random point of the ε-sphere.
        amp: bfloat16 autocast for the forward passes.

    Returns:
        Distances (B,), float32, on ``x``'s device: 0, a value in (0, ``eps_max``], or +inf.
    """
    if not (isinstance(eps_max, (int, float)) and math.isfinite(eps_max) and eps_max > 0):
        raise ValueError(f"eps_max: must be a positive number, got {eps_max!r}")
    if steps < 1:
        raise ValueError(f"steps: must be at least 1, got {steps}")
    if not step_size_ratio > 0:
        raise ValueError(f"step_size_ratio: must be positive, got {step_size_ratio}")
    check_reach(steps, step_size_ratio, 1.0, key="step_size_ratio", step_key="step_size_ratio", unit="·ε")
    if bisection_steps < 0:
        raise ValueError(f"bisection_steps: must be at least 0, got {bisection_steps}")
    x, y = x.detach(), y.detach()
    shape = (-1, *([1] * (x.dim() - 1)))

    def flips(idx: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        threat = L2Threat(eps.view(shape), step_size_ratio * eps.view(shape))  # per-image ε broadcasts
        x_adv = pgd_attack(model, x[idx], y[idx], threat, steps, random_start=random_start, use_best=True,
                           generator=generator, amp=amp)
        return predicted_class(model, x_adv, amp) != y[idx]

    with model_mode(model, False):
        correct = predicted_class(model, x, amp) == y
        dist = torch.zeros(x.shape[0], device=x.device)
        idx = correct.nonzero().squeeze(1)
        if idx.numel():
            hi = torch.full((idx.numel(),), float(eps_max), device=x.device)
            flipped = flips(idx, hi)
            dist[idx[~flipped]] = math.inf
            idx, hi = idx[flipped], hi[flipped]
            lo = torch.zeros_like(hi)
            for _ in range(bisection_steps if idx.numel() else 0):
                mid = (lo + hi) / 2
                ok = flips(idx, mid)
                hi, lo = torch.where(ok, mid, hi), torch.where(ok, lo, mid)
            dist[idx] = hi
    return dist


def per_image_analysis(model: nn.Module, split: Split, indices: np.ndarray | None = None, *, batch_size: int,
                       device: torch.device, eps_max: float, steps: int, step_size_ratio: float,
                       bisection_steps: int, seed: int = 0, random_start: bool = False,
                       amp: bool = False, class_chunk: int | None = None) -> dict[str, np.ndarray]:
    """α(x), ρ̃(x) and the PGD boundary distance of every selected image (Etmann et al. 2019, Figs. 2–5).

    Args:
        model: classifier taking images in [0, 1]; run in eval mode (mode restored).
        split: images and labels.
        indices: analyse only these images of ``split`` (default: all), in this order.
        batch_size: images per batch.
        device: where to compute.
        eps_max, steps, step_size_ratio, bisection_steps, random_start: the settings of
            :func:`boundary_distance`.
        seed: seed of the random starts.
        amp: bfloat16 autocast for the forward passes of ρ̃ and the attacks (α always runs in float32).
        class_chunk: classes per batched backward of ρ̃ (:func:`linearised_robustness`; None: all).

    Returns:
        ``{"alignment": α, "linearised_robustness": ρ̃, "boundary_distance": ρ,
        "correct": bool}``, numpy arrays of one value per image in the order of
        ``indices``. α is :func:`robinterp.attribution.metrics.alignment` (Ψ the logit of the
        predicted class); ρ̃ and α concern the predicted class even for misclassified
        images, whose boundary distance is 0.
    """
    indices = np.arange(len(split)) if indices is None else np.asarray(indices)
    if len(indices) == 0:
        raise ValueError("indices: no images to analyse")
    order = np.argsort(indices, kind="stable")  # split_batches reads sorted batches of sorted indices
    generator = torch.Generator(device=device).manual_seed(seed)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ANALYSIS_KEYS}
    with model_mode(model, False):
        for x, y in split_batches(split, indices[order], batch_size, device):
            dist = boundary_distance(model, x, y, eps_max=eps_max, steps=steps, step_size_ratio=step_size_ratio,
                                     bisection_steps=bisection_steps, generator=generator,
                                     random_start=random_start, amp=amp)
            parts["alignment"].append(alignment(model, x).cpu().numpy())
            parts["linearised_robustness"].append(linearised_robustness(model, x, amp, class_chunk=class_chunk)
                                                 .cpu().numpy())
            parts["boundary_distance"].append(dist.cpu().numpy())
            parts["correct"].append((predicted_class(model, x, amp) == y).cpu().numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    result = {key: np.concatenate(values)[inverse] for key, values in parts.items()}
    log.info("Etmann analysis of %d images: median α %.4f, median ρ̃ %.4f, %d not flipped within ε %g",
             len(indices), float(np.median(result["alignment"])), float(np.median(result["linearised_robustness"])),
             int(np.isinf(result["boundary_distance"]).sum()), eps_max)
    return result
