"""Attribution methods and the metrics computed on attributions (SPEC §4–5).

Every function takes a classifier that maps images in [0, 1] to logits (a
:class:`robinterp.models.Classifier`), works on batches, keeps every tensor on
the device of the model and the input, puts the model in eval mode while it
runs and restores the mode afterwards. Configuration comes only through
arguments.

Attribution methods
-------------------

- :func:`integrated_gradients`: Integrated Gradients (Sundararajan et al.
  2017; the paper's eq. 8–12) of the *softmax probability* of a target class,
  computed by ``captum.attr.IntegratedGradients`` with the trapezoid rule over
  ``n_points`` points of the straight path from a baseline x′ to x. The paper's
  code averages over 10 uniform-noise baselines; a black (all-zero) baseline is
  the textbook choice. Completeness (Σᵢ aᵢ = F(x) − F(x′), up to the quadrature
  error) is checked by :func:`ig_completeness_gap`.
- :func:`expected_gradients_shap`: expected gradients (Erion et al. 2021), the
  gradient-based SHAP approximation of Lundberg & Lee 2017 (the paper's
  eq. 17–18), computed by ``shap.GradientExplainer`` on the logits of the
  top-ranked class (``ranked_outputs=1``, as in the paper's code).

Metrics
-------

- :func:`alignment`: α(x) = |⟨x, ∇ₓΨ(x)⟩| / (‖x‖ ‖∇ₓΨ(x)‖) with Ψ the logit of
  the predicted class (Etmann et al. 2019): the cosine between an image and its
  saliency map. Robust models have larger α (SPEC §5, §9). Computed here.
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
  same L2 size (Ghorbani et al. 2019; Boopathy et al. 2020, seed 001), measured
  by :func:`topk_intersection`.

Pixels: maps are compared per pixel, with the attribution summed over the
colour channels (:func:`pixel_scores`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import IntegratedGradients

from robinterp.attacks import AttackSpec, autocast, model_mode

log = logging.getLogger(__name__)

# Guards divisions by a zero norm or a zero total attribution.
_TINY = 1e-12


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each example, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def _check_batch(x: torch.Tensor, target: torch.Tensor | None = None) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
    if target is not None and target.shape != (x.shape[0],):
        raise ValueError(f"target must have shape ({x.shape[0]},), got {tuple(target.shape)}")


def _target_probability(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax probability of class ``target[i]`` for each image (B,), no gradient, model as it is."""
    with torch.no_grad():
        probs = F.softmax(model(x).float(), dim=1)
    return probs.gather(1, target.view(-1, 1)).squeeze(1)


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


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, n_points: int = 51,
                         baseline: str | float = "uniform", n_baselines: int = 10,
                         generator: torch.Generator | None = None,
                         internal_batch_size: int | None = None) -> torch.Tensor:
    """Integrated Gradients of the softmax probability of class ``target`` (Sundararajan et al. 2017).

    IGᵢ(x) = (xᵢ − x′ᵢ) ∫₀¹ ∂F(x′ + t(x − x′))/∂xᵢ dt with F the softmax
    probability of the target class (the paper's eq. 8–12), the integral
    approximated by the trapezoid rule over ``n_points`` equally spaced points
    t = 0, 1/(n_points − 1), …, 1 (``captum.attr.IntegratedGradients`` with
    ``method="riemann_trapezoid"``, ``n_steps=n_points``).

    Args:
        model: classifier taking images in [0, 1]; run in eval mode (its mode is
            restored afterwards).
        x: images (B, C, H, W) in [0, 1].
        target: class to explain for each image (B,), usually
            :func:`predicted_class`.
        n_points: number of points of the path at which the gradient is
            evaluated, both ends included (the paper's code: 51); at least 2.
        baseline: ``"black"``: x′ = 0; ``"uniform"``: x′ drawn from U[0, 1]
            per pixel, independently for each image, and the attributions
            averaged over ``n_baselines`` draws (the paper's code: 10); a number
            v: the constant image x′ = v (e.g. 0.5, a grey image).
        n_baselines: number of uniform-noise baselines averaged; ignored for
            the other baselines.
        generator: source of the uniform baselines, for reproducibility. Draw i
            is the i-th of ``n_baselines`` successive
            ``torch.rand(x.shape, generator=generator)`` calls on ``x``'s device
            (so the generator must live on that device); ``None`` uses torch's
            global generator.
        internal_batch_size: at most this many path points per forward/backward
            pass (captum's argument: bounds memory); ``None``: all
            B × ``n_points`` images of one baseline in one pass.

    Returns:
        Attributions with the shape, dtype and device of ``x``, detached. They
        sum, per image, to about F(x) − F(x′) (averaged over the baselines).
    """
    _check_batch(x, target)
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2 (both ends of the path), got {n_points}")
    if isinstance(baseline, str):
        if baseline == "black":
            baselines: Iterator[torch.Tensor] | list[torch.Tensor] = [torch.zeros_like(x)]
        elif baseline == "uniform":
            if n_baselines < 1:
                raise ValueError(f"n_baselines must be at least 1, got {n_baselines}")
            baselines = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                         for _ in range(n_baselines))
        else:
            raise ValueError(f"unknown baseline {baseline!r}; use 'black', 'uniform' or a number")
    else:
        baselines = [torch.full_like(x, float(baseline))]

    def probability(inputs: torch.Tensor) -> torch.Tensor:
        return F.softmax(model(inputs), dim=1)

    explainer = IntegratedGradients(probability, multiply_by_inputs=True)
    x = x.detach()
    total, count = torch.zeros_like(x), 0
    with model_mode(model, False):
        for x_ref in baselines:
            total += explainer.attribute(x, baselines=x_ref, target=target, n_steps=n_points,
                                         method="riemann_trapezoid",
                                         internal_batch_size=internal_batch_size).detach()
            count += 1
    log.debug("integrated gradients: %d images, %d points, %d baseline(s) %r", x.shape[0], n_points, count, baseline)
    return total / count


def ig_completeness_gap(model: nn.Module, x: torch.Tensor, target: torch.Tensor, attributions: torch.Tensor,
                        baseline_mean_output: torch.Tensor | float) -> torch.Tensor:
    """How far Integrated Gradients are from the completeness axiom, per image.

    Completeness (Sundararajan et al. 2017, Proposition 1): Σᵢ IGᵢ(x) =
    F(x) − F(x′) exactly for the exact integral; the trapezoid rule leaves a gap
    that shrinks as the number of points grows (captum calls the signed gap the
    "convergence delta"). For attributions averaged over several baselines,
    F(x′) is replaced by the mean of F over those baselines.

    Args:
        model: the classifier the attributions were computed for (run in eval mode).
        x: images (B, C, H, W).
        target: the explained classes (B,).
        attributions: :func:`integrated_gradients` of ``x`` (shape of ``x``).
        baseline_mean_output: F(x′), the softmax probability of ``target`` at
            the baseline, (B,) or a number; for several baselines, its mean
            over them. For the black baseline it is the probability at the
            all-zero image.

    Returns:
        |Σᵢ aᵢ − (F(x) − F(x′))| per image (B,).
    """
    _check_batch(x, target)
    with model_mode(model, False):
        fx = _target_probability(model, x, target)
    return (attributions.flatten(1).sum(dim=1).float() - (fx - baseline_mean_output)).abs()


@contextlib.contextmanager
def _numpy_global_rng_kept() -> Iterator[None]:
    """Restore numpy's global random state afterwards (``shap`` reseeds it with ``np.random.seed``)."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def expected_gradients_shap(model: nn.Module, x: torch.Tensor, background: torch.Tensor, *, nsamples: int = 200,
                            seed: int = 0, batch_size: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected gradients of the top-ranked logit with ``shap.GradientExplainer``.

    φᵢ(x) = E_{x′∼D, t∼U[0,1]} [(xᵢ − x′ᵢ) ∂f_c(x′ + t(x − x′))/∂xᵢ] with D the
    background images and f_c the logit of the class c with the largest logit
    (Erion et al. 2021; Lundberg & Lee 2017; the paper's eq. 17–18; the paper's
    code: ``ranked_outputs=1``, 176 background test images). shap estimates the
    expectation with ``nsamples`` random (x′, t) pairs per image, so even for a
    linear model the result is W_c ⊙ (x − mean of the *drawn* background
    images), which equals W_c ⊙ (x − mean(background)) only in expectation.

    shap 0.51 returns the values as a numpy array (B, C, H, W, ranked_outputs)
    in float64 and the explained classes as a torch tensor (B, ranked_outputs);
    shap < 0.45 returned a list with one (B, C, H, W) array per rank. Both are
    handled. shap loops over the images in Python and evaluates ``nsamples``
    gradients per image in batches of ``batch_size``, and it reseeds numpy's
    global generator; that state is restored here.

    Args:
        model: classifier taking images in [0, 1] with at least two outputs;
            run in eval mode (its mode is restored afterwards; shap itself
            would leave it in eval mode).
        x: images to explain (B, C, H, W), on the model's device.
        background: background images (N, C, H, W) defining D, e.g. test
            images that are not explained; moved to ``x``'s device.
        nsamples: (x′, t) samples per image.
        seed: shap's ``rseed``: the samples are the same for the same seed.
        batch_size: gradient evaluations per forward/backward pass.

    Returns:
        (attributions with the shape of ``x``, in ``x``'s dtype and on its
        device; the explained class of each image (B,), i.e. the predicted one).
    """
    import shap  # heavy import (numba, …): only when SHAP is asked for

    _check_batch(x)
    if background.dim() != 4 or background.shape[1:] != x.shape[1:]:
        raise ValueError(f"background must be images shaped like x {tuple(x.shape[1:])}, "
                         f"got {tuple(background.shape)}")
    with model_mode(model, False), torch.enable_grad(), _numpy_global_rng_kept():
        explainer = shap.GradientExplainer(model, background.detach().to(x.device), batch_size=batch_size)
        values, ranks = explainer.shap_values(x.detach(), nsamples=nsamples, ranked_outputs=1, rseed=seed)
    if isinstance(values, list):  # shap < 0.45: one array per ranked output
        values = values[0]
    values = np.asarray(values)
    if values.ndim == x.dim() + 1:  # shap ≥ 0.45: the ranked outputs on the last axis
        values = values[..., 0]
    attributions = torch.as_tensor(values, device=x.device).to(x.dtype)
    explained = torch.as_tensor(ranks, device=x.device)[:, 0].long()
    log.debug("expected gradients: %d images, %d background, %d samples", x.shape[0], background.shape[0], nsamples)
    return attributions, explained


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
    _check_batch(x)
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
    _check_batch(x, target)
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
            p = _target_probability(model, perturbed, target.repeat(chunk.shape[0]))
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
    2020, seed 001, for their interpretability-robustness evaluation).

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
    _check_batch(x, target)
    x = x.detach()
    x_adv = attack(model, x, target, generator=generator)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    direction = direction / (_per_example_norm(direction) + _TINY)
    x_noise = torch.clamp(x + _per_example_norm(x_adv - x) * direction, 0.0, 1.0)

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
