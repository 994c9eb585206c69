"""Metrics of attributions: alignment, sparsity, faithfulness and robustness of an explanation.

Every function takes a classifier that maps images in [0, 1] to logits, works on
batches, keeps every tensor on the device of the model and the input, and puts
the model in eval mode while it runs (restoring its mode afterwards).

- :func:`alignment`: α(x) = |⟨x, ∇ₓΨ(x)⟩| / (‖x‖ ‖∇ₓΨ(x)‖) with Ψ the logit of
  the predicted class (Etmann et al. 2019): the cosine between an image and its
  saliency map. Robust models have larger α. Computed here.
- :func:`gini`: the Gini index of the per-pixel |attribution| (Hurley &
  Rickard 2009), the sparseness measure of Chalasani et al. 2020: 0 for a
  uniform map, (n − 1)/n when one pixel holds everything. Computed here; the
  tests check it against ``quantus.Sparseness``, which computes the same
  formula (on whatever array it is given, after adding 1e-7 to every entry).
- :func:`deletion_auc`: faithfulness by deletion ("pixel flipping", Samek et
  al. 2017; "deletion", Petsiuk et al. 2018): remove the most-attributed pixels
  first and integrate the target probability over the removed fraction; lower
  is more faithful. Computed here; the tests check the curve against
  ``quantus.PixelFlipping``, which removes the same pixels in the same order
  but differs in two conventions, so its *AUC* is not ours: its curve has no
  point for the unperturbed image (it starts after the first removal) and it
  integrates with unit spacing (np.trapz, dx=1), so its AUC grows with the
  number of steps instead of lying in [0, 1].
- :func:`topk_intersection`: the share of the k most-attributed pixels of one
  map that are also among the k most-attributed pixels of another (Ghorbani et
  al. 2019). Computed here; it equals ``quantus.TopKIntersection`` with the
  second map's top-k pixels given as the "segmentation mask", which the tests
  check.
- :func:`explanation_robustness`: how much IG changes under a small
  adversarial perturbation of the input versus a random perturbation of the
  same L2 size (Ghorbani et al. 2019; Boopathy et al. 2020), measured
  by :func:`topk_intersection`.

Pixels: maps are compared per pixel, with the attribution summed over the
colour channels (:func:`pixel_scores`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from robinterp.attacks.spec import AttackSpec
from robinterp.attacks.threats import per_example_norm
from robinterp.attribution.methods import check_batch, integrated_gradients, target_probability
from robinterp.models.running import model_mode

log = logging.getLogger(__name__)

# Guards divisions by a zero norm or a zero total attribution.
_TINY = 1e-12


def alignment(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Alignment of each image with its saliency map (Etmann et al. 2019).

    α(x) = |⟨x, ∇ₓΨ(x)⟩| / (‖x‖₂ ‖∇ₓΨ(x)‖₂), Ψ the logit of the predicted
    class, the gradient taken in pixel space (images in [0, 1]). For a linear
    model the gradient is the weight row w_c, so α is the |cosine| between x
    and w_c. An all-zero image or gradient gives α = 0.

    Args:
        model: classifier taking images in [0, 1]; run in eval mode (its mode is
            restored afterwards).
        x: images (B, C, H, W).

    Returns:
        α per image (B,), in [0, 1], detached.
    """
    check_batch(x)
    x = x.detach().clone().requires_grad_(True)
    with model_mode(model, False), torch.enable_grad():
        logits = model(x)
        psi = logits.gather(1, logits.argmax(dim=1, keepdim=True))
        (grad,) = torch.autograd.grad(psi.sum(), x)
    x, grad = x.detach().flatten(1), grad.flatten(1)
    return (x * grad).sum(dim=1).abs() / (x.norm(dim=1) * grad.norm(dim=1) + _TINY)


def pixel_scores(attributions: torch.Tensor, absolute: bool) -> torch.Tensor:
    """Per-pixel scores: the attribution (or its absolute value) summed over the channels.

    Args:
        attributions: (B, C, H, W).
        absolute: sum |a| over the channels instead of a.

    Returns:
        (B, H, W).
    """
    if attributions.dim() != 4:
        raise ValueError(f"expected attributions (B, C, H, W), got shape {tuple(attributions.shape)}")
    return (attributions.abs() if absolute else attributions).sum(dim=1)


def gini(attributions: torch.Tensor) -> torch.Tensor:
    """Gini index of the per-pixel |attribution| (Hurley & Rickard 2009; Chalasani et al. 2020).

    With the n pixel scores sᵢ = Σ_c |a_c,i| sorted ascending, s₍₁₎ ≤ … ≤ s₍ₙ₎:
    G = Σₖ (2k − n − 1) s₍ₖ₎ / (n Σₖ s₍ₖ₎). G = 0 for a uniform map,
    (n − 1)/n for a map with a single nonzero pixel; an all-zero map gives 0.
    Tested against ``quantus.Sparseness`` (the same formula) on pixel maps.

    Args:
        attributions: (B, C, H, W).

    Returns:
        G per image (B,).
    """
    s = pixel_scores(attributions, absolute=True).flatten(1).sort(dim=1).values
    n = s.shape[1]
    k = torch.arange(1, n + 1, device=s.device, dtype=s.dtype)
    total = s.sum(dim=1)
    g = ((2 * k - n - 1) * s).sum(dim=1) / (n * total).clamp_min(_TINY)
    return torch.where(total > 0, g, torch.zeros_like(g))


def _removal_counts(n: int, steps: int) -> list[int]:
    """Pixels removed after step k = 0 … steps: round(k·n/steps), halves rounded up."""
    return [(2 * k * n + steps) // (2 * steps) for k in range(steps + 1)]


def _deletion_curve(model: nn.Module, x: torch.Tensor, attributions: torch.Tensor, target: torch.Tensor, *,
                    steps: int, fill: float, batch_size: int | None) -> torch.Tensor:
    """Target probability after removing 0, 1/steps, …, 100 % of the pixels, most attributed first: (B, steps + 1)."""
    check_batch(x, target)
    if attributions.shape[0] != x.shape[0] or attributions.shape[2:] != x.shape[2:]:
        raise ValueError(f"attributions {tuple(attributions.shape)} do not match images {tuple(x.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    b, _, h, w = x.shape
    n = h * w
    scores = pixel_scores(attributions, absolute=False).flatten(1)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n, device=x.device).expand(b, n))
    rank = rank.view(1, b, 1, h, w)  # position of each pixel in the removal order
    counts = torch.tensor(_removal_counts(n, steps), device=x.device).view(-1, 1, 1, 1, 1)
    per_pass = max(1, (batch_size or (steps + 1) * b) // b)  # whole steps per forward pass
    curve = []
    with model_mode(model, False):
        for start in range(0, steps + 1, per_pass):
            chunk = counts[start:start + per_pass]
            perturbed = torch.where(rank < chunk, fill, x.unsqueeze(0)).flatten(0, 1)
            p = target_probability(model, perturbed, target.repeat(chunk.shape[0]))
            curve.append(p.view(chunk.shape[0], b))
    return torch.cat(curve).T


def deletion_auc(model: nn.Module, x: torch.Tensor, attributions: torch.Tensor, target: torch.Tensor, *,
                 steps: int = 20, fill: float = 0.0, batch_size: int | None = None) -> torch.Tensor:
    """Area under the deletion curve (pixel flipping; Samek et al. 2017, Petsiuk et al. 2018).

    Pixels are ranked by their channel-summed *signed* attribution, largest
    first (ties in index order). At step k = 0 … ``steps`` the first
    round(k·n/steps) pixels of the ranking are set to ``fill`` in every channel
    and the softmax probability of ``target`` is recorded; the area under this
    curve over the nominal removed fraction k/steps ∈ [0, 1] is taken by the
    trapezoid rule, so it lies in [0, 1]. Lower means the attribution found
    the pixels the prediction depends on. The curve (not the AUC: see the module
    docstring) is tested against ``quantus.PixelFlipping``.

    Args:
        model: classifier taking images in [0, 1]; run in eval mode (its mode is
            restored afterwards).
        x: images (B, C, H, W).
        attributions: (B, C, H, W) or (B, 1, H, W) attributions of ``x``.
        target: class whose probability is tracked (B,).
        steps: number of equal removal steps (the curve has steps + 1 points).
        fill: value given to removed pixels (0 = black).
        batch_size: images per forward pass, rounded down to a multiple of B
            (at least B); ``None``: all (steps + 1)·B images in one pass.

    Returns:
        AUC per image (B,).
    """
    curve = _deletion_curve(model, x, attributions, target, steps=steps, fill=fill, batch_size=batch_size)
    return torch.trapezoid(curve, dx=1.0 / steps, dim=1)


def topk_intersection(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """Share of the top-k pixels of ``a`` that are also top-k pixels of ``b`` (Ghorbani et al. 2019).

    Pixels are ranked by the channel-summed |attribution| (:func:`pixel_scores`).
    Ties at the k-th place are broken by ``torch.topk`` (arbitrarily), which
    matters for maps with many equal scores, e.g. IG with a black baseline is
    exactly 0 on every black pixel. Equals ``quantus.TopKIntersection`` with the
    top-k pixels of ``b`` as the mask (tested).

    Args:
        a, b: attributions (B, C, H, W) of the same images.
        k: number of pixels compared, 1 ≤ k ≤ H·W.

    Returns:
        |top_k(a) ∩ top_k(b)| / k per image (B,), in [0, 1].
    """
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    sa, sb = pixel_scores(a, absolute=True).flatten(1), pixel_scores(b, absolute=True).flatten(1)
    if not 1 <= k <= sa.shape[1]:
        raise ValueError(f"k must be between 1 and {sa.shape[1]} pixels, got {k}")
    in_b = torch.zeros_like(sb, dtype=torch.bool).scatter_(1, sb.topk(k, dim=1).indices, True)
    return in_b.gather(1, sa.topk(k, dim=1).indices).float().mean(dim=1)


def explanation_robustness(model: nn.Module, x: torch.Tensor, target: torch.Tensor, attack: AttackSpec, *, k: int,
                           ig_kwargs: Mapping[str, Any], generator: torch.Generator | None = None
                           ) -> dict[str, torch.Tensor]:
    """Robustness of Integrated Gradients to adversarial versus random perturbations (Ghorbani et al. 2019).

    x_adv = ``attack(model, x, target)``: untargeted PGD on the cross-entropy
    of ``target`` (pass the predicted class), with the model in eval mode.
    x_noise = clamp(x + r·u, 0, 1) with u uniformly random on the unit sphere
    (a normalised Gaussian) and r = ‖x_adv − x‖₂ per image, so the random
    perturbation has the adversarial one's size (before clamping). IG of the
    same ``target`` with the same ``ig_kwargs`` is computed at x, x_adv and
    x_noise and compared by :func:`topk_intersection` (as in Boopathy et al.
    2020, for their interpretability-robustness evaluation).

    If ``ig_kwargs`` holds a ``generator`` (uniform baselines), the three IG
    runs use the same baseline draws (its state is rewound before each run and
    ends advanced by one run), so only the input differs between them. The
    attack and the noise are drawn first, so one generator may serve both.

    Args:
        model: classifier taking images in [0, 1].
        x: images (B, C, H, W) in [0, 1].
        target: explained class and attack label per image (B,).
        attack: the PGD attack (small ε, from the config).
        k: number of top pixels compared.
        ig_kwargs: keyword arguments of :func:`integrated_gradients`
            (``n_points``, ``baseline``, ``n_baselines``, ``generator``,
            ``internal_batch_size``).
        generator: source of the attack's random start (if any), then of the
            noise direction.

    Returns:
        ``{"adv": topk_intersection(ig_x, ig_adv, k), "noise":
        topk_intersection(ig_x, ig_noise, k), "ig": ig_x}``; the first two (B,).
    """
    check_batch(x, target)
    x = x.detach()
    x_adv = attack(model, x, target, generator=generator)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    direction = direction / (per_example_norm(direction) + _TINY)
    x_noise = torch.clamp(x + per_example_norm(x_adv - x) * direction, 0.0, 1.0)

    # The state is taken after the attack and the noise, so that one generator passed as both
    # `generator` and ig_kwargs["generator"] does not reuse their draws as baselines.
    ig_generator: torch.Generator | None = ig_kwargs.get("generator")
    ig_state = ig_generator.get_state() if ig_generator is not None else None

    def ig(inputs: torch.Tensor) -> torch.Tensor:
        if ig_state is not None:
            ig_generator.set_state(ig_state)
        return integrated_gradients(model, inputs, target, **ig_kwargs)

    ig_x, ig_adv, ig_noise = ig(x), ig(x_adv), ig(x_noise)
    log.debug("explanation robustness: %d images, attack %s, k=%d", x.shape[0], attack, k)
    return {"adv": topk_intersection(ig_x, ig_adv, k), "noise": topk_intersection(ig_x, ig_noise, k), "ig": ig_x}
