"""Attribution methods: Integrated Gradients and SHAP (expected gradients).

Every function takes a classifier that maps images in [0, 1] to logits (a
:class:`robinterp.models.architectures.Classifier`), works on batches, keeps
every tensor on the device of the model and the input, puts the model in eval
mode while it runs and restores the mode afterwards. Configuration comes only
through arguments.

- :func:`integrated_gradients`: Integrated Gradients (Sundararajan et al.
  2017; Boychev 2023, eqs. 8–12) of the *softmax probability* of a target class,
  computed by ``captum.attr.IntegratedGradients`` with the trapezoid rule over
  ``n_points`` points of the straight path from a baseline x′ to x. The paper's
  code averages over 10 uniform-noise baselines; a black (all-zero) baseline is
  the textbook choice. Completeness (Σᵢ aᵢ = F(x) − F(x′), up to the quadrature
  error) is checked by :func:`ig_completeness_gap`.
- :func:`expected_gradients_shap`: expected gradients (Erion et al. 2021), the
  gradient-based SHAP approximation of Lundberg & Lee 2017 (Boychev 2023,
  eqs. 17–18), computed by ``shap.GradientExplainer`` on the logits of the
  top-ranked class (``ranked_outputs=1``, as in the paper's code).

The metrics computed on attributions live in :mod:`robinterp.attribution.metrics`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import IntegratedGradients

from robinterp.models.running import model_mode

log = logging.getLogger(__name__)


def check_batch(x: torch.Tensor, target: torch.Tensor | None = None) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
    if target is not None and target.shape != (x.shape[0],):
        raise ValueError(f"target must have shape ({x.shape[0]},), got {tuple(target.shape)}")


def target_probability(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax probability of class ``target[i]`` for each image (B,), no gradient, model as it is."""
    with torch.no_grad():
        probs = F.softmax(model(x).float(), dim=1)
    return probs.gather(1, target.view(-1, 1)).squeeze(1)


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
    check_batch(x, target)
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
    check_batch(x, target)
    with model_mode(model, False):
        fx = target_probability(model, x, target)
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

    check_batch(x)
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
