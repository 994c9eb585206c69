"""Etmann et al. (2019): linearised robustness, PGD boundary distance, per-image analysis, summaries, figures.

Known answers come from affine classifiers f(x) = Wx + b (a :class:`Classifier` with a
flatten trunk and identity normalisation), whose distance to the boundary between two
classes is |(wᵢ − wⱼ)·x + bᵢ − bⱼ| / ‖wᵢ − wⱼ‖ in closed form, and whose distance to the
decision boundary is the smallest of these over the other classes j; on a network, ρ̃ is
checked against one backward pass per class.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from robinterp.attribution.metrics import alignment
from robinterp.data.store import Split
from robinterp.analysis.etmann import boundary_distance, linearised_robustness, per_image_analysis
from robinterp.analysis.etmann_summary import summary
from robinterp.analysis.figures import plot_alignment_vs_robustness, plot_per_image_scatter
from robinterp.models.architectures import Classifier
from tinymodels import one_thread

CPU = torch.device("cpu")
SHAPE = (1, 4, 4)
D = 16


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> Classifier:
    """f(x) = W·flatten(x) + b, with identity normalisation (mean 0, std 1)."""
    head = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(bias)
    model = Classifier(nn.Flatten(), head, mean=[0.0], std=[1.0]).eval()
    return model.requires_grad_(False)


def _exact_pair_distance(weight, bias, x, i, j) -> torch.Tensor:
    """Distance from each x to the hyperplane {(wᵢ − wⱼ)·x + bᵢ − bⱼ = 0}."""
    v = weight[i] - weight[j]
    return ((v * x.flatten(1)).sum(1) + bias[i] - bias[j]).abs() / v.norm(dim=1)


def test_linearised_robustness_of_binary_linear_model_is_the_exact_distance():
    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(2, D, generator=g), torch.randn(2, generator=g)
    x = torch.rand(32, *SHAPE, generator=g)
    rho = linearised_robustness(_linear(weight, bias), x)
    i = torch.zeros(32, dtype=torch.long)
    torch.testing.assert_close(rho, _exact_pair_distance(weight, bias, x, i, i + 1), rtol=1e-5, atol=1e-6)


def _exact_boundary_distance(weight, bias, x) -> torch.Tensor:
    """Distance from each x to the decision boundary of f(x) = Wx + b, in closed form (numpy, no autograd).

    The region of the predicted class i is the intersection of the half-spaces {(wᵢ − wⱼ)·z + bᵢ − bⱼ ≥ 0},
    so the distance from a point inside it to its boundary is the distance to the nearest of their planes.
    """
    w, b, z = weight.double().numpy(), bias.double().numpy(), x.flatten(1).double().numpy()
    logits = z @ w.T + b
    out = []
    for row, f in zip(z, logits):
        i = int(np.argmax(f))
        out.append(min(abs(f[i] - f[j]) / np.linalg.norm(w[i] - w[j]) for j in range(len(w)) if j != i))
    return torch.tensor(out, dtype=torch.float32)


@pytest.mark.parametrize("class_chunk", [None, 1, 3])
def test_linearised_robustness_of_multiclass_linear_model_is_the_exact_boundary_distance(class_chunk):
    """The minimum over all classes, in any chunking, is the exact distance to the nearest decision boundary."""
    g = torch.Generator().manual_seed(1)
    weight, bias = torch.randn(7, D, generator=g), torch.randn(7, generator=g)
    x = torch.rand(32, *SHAPE, generator=g)
    rho = linearised_robustness(_linear(weight, bias), x, class_chunk=class_chunk)
    torch.testing.assert_close(rho, _exact_boundary_distance(weight, bias, x), rtol=1e-5, atol=1e-6)


def test_linearised_robustness_takes_a_closer_class_than_the_runner_up():
    """Class 0 wins (logit 0); class 2 is the runner-up (logit −0.5, its plane 0.5 away along a unit normal), but
    class 1's plane (logit −1, a normal of length 100) is only 0.01 away: ρ̃ = 0.01, and a step of ρ̃ along that
    normal lands on the boundary between 0 and 1 (a little further flips the prediction to class 1)."""
    e = torch.eye(D)
    weight = torch.stack([torch.zeros(D), 100 * e[0], e[1]])
    bias = torch.tensor([0.0, -1.0, -0.5])
    x = torch.zeros(1, *SHAPE)
    model = _linear(weight, bias)
    rho = linearised_robustness(model, x)
    torch.testing.assert_close(rho, torch.tensor([0.01]))
    with torch.no_grad():
        on_boundary = model(x + rho.item() * e[0].view(1, *SHAPE))
        beyond = model(x + 1.01 * rho.item() * e[0].view(1, *SHAPE))
    torch.testing.assert_close(on_boundary[0, 0], on_boundary[0, 1])
    assert beyond.argmax(1).item() == 1


def _brute_force_linearised_robustness(model, x) -> torch.Tensor:
    """min over j ≠ i of (Ψᵢ − Ψⱼ)/‖∇(Ψᵢ − Ψⱼ)‖, with one backward pass per class (the reference)."""
    x = x.clone().requires_grad_(True)
    logits = model(x)
    i = logits.argmax(1)
    rows = torch.arange(len(x))
    best = torch.full((len(x),), math.inf)
    for j in range(logits.shape[1]):
        margin = logits[rows, i] - logits[:, j]
        (grad,) = torch.autograd.grad(margin.sum(), x, retain_graph=True)
        ratio = margin.detach() / grad.flatten(1).norm(dim=1)
        best = torch.minimum(best, torch.where(i == j, math.inf, ratio))
    return best


@pytest.mark.parametrize("class_chunk", [None, 1, 4])
def test_linearised_robustness_of_a_network_equals_the_brute_force_minimum_over_classes(class_chunk):
    """A ResNet with BatchNorm (eval mode) and 10 classes: the batched per-class gradients, in chunks of any
    size, give the minimum that one backward per class gives."""
    from robinterp.models.architectures import build_model

    torch.manual_seed(3)
    model = build_model("resnet_small", 10, 1, [0.5], [0.25]).eval()
    x = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(4))
    expected = _brute_force_linearised_robustness(model, x)
    torch.testing.assert_close(linearised_robustness(model, x, class_chunk=class_chunk), expected,
                               rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="^class_chunk:"):
        linearised_robustness(model, x, class_chunk=0)


def test_linearised_robustness_is_invariant_to_scaling_the_logits_and_restores_the_mode():
    g = torch.Generator().manual_seed(2)
    weight, bias = torch.randn(3, D, generator=g), torch.randn(3, generator=g)
    x = torch.rand(8, *SHAPE, generator=g)
    model = _linear(weight, bias).train()
    rho = linearised_robustness(model, x)
    assert model.training
    torch.testing.assert_close(linearised_robustness(_linear(7 * weight, 7 * bias), x), rho, rtol=1e-5, atol=1e-6)
    # Both sides are the known answer, not merely equal: the distance to the top-two classes' hyperplane.
    top2 = (x.flatten(1) @ weight.T + bias).topk(2, dim=1).indices
    torch.testing.assert_close(rho, _exact_pair_distance(weight, bias, x, top2[:, 0], top2[:, 1]),
                               rtol=1e-5, atol=1e-6)
    assert (rho > 0).all()


def _binary_inside_box(n: int, seed: int):
    """An affine two-class model whose boundary passes through the grey image, and images near it.

    Returns the model, the images, their predicted labels, the exact distances and the unit
    normal of the boundary.
    """
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(2, D, generator=g)
    v = weight[0] - weight[1]
    bias = torch.stack([-(v * 0.5).sum(), torch.tensor(0.0)])  # boundary through x = 0.5·1
    x = (0.5 + 0.1 * (2 * torch.rand(n, *SHAPE, generator=g) - 1))
    model = _linear(weight, bias)
    with torch.no_grad():
        y = model(x).argmax(1)
    d = _exact_pair_distance(weight, bias, x, torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long))
    return model, x, y, d, v / v.norm()


def test_boundary_distance_matches_the_exact_distance_and_rho_tilde_on_a_linear_model():
    """Inside the box, PGD-L2 walks straight along the boundary normal, so the bisection brackets the exact
    distance: d ≤ result ≤ d + eps_max / 2^k; ρ̃ (exact here) lies within the same tolerance."""
    model, x, y, d, normal = _binary_inside_box(48, seed=3)
    eps_max, k = 0.5, 10
    # Keep the images whose whole segment of length eps_max along ±normal stays inside [0, 1].
    reach = eps_max * normal.abs().view(1, *SHAPE)
    inside = ((x - reach).flatten(1).min(1).values > 0) & ((x + reach).flatten(1).max(1).values < 1) & (d < eps_max)
    assert inside.sum() >= 10
    x, y, d = x[inside], y[inside], d[inside]
    dist = boundary_distance(model, x, y, eps_max=eps_max, steps=10, step_size_ratio=0.25, bisection_steps=k)
    tol = eps_max / 2**k
    assert torch.all(dist >= d - 1e-5) and torch.all(dist <= d + tol + 1e-5), (dist - d)
    torch.testing.assert_close(linearised_robustness(model, x), dist, rtol=0, atol=tol + 1e-5)


def test_boundary_distance_is_zero_when_misclassified_and_inf_beyond_eps_max():
    model, x, y, d, _ = _binary_inside_box(32, seed=4)
    y = y.clone()
    y[:8] = 1 - y[:8]  # these are now misclassified
    eps_max = float(d[8:].median())
    dist = boundary_distance(model, x, y, eps_max=eps_max, steps=10, step_size_ratio=0.25, bisection_steps=6)
    assert torch.all(dist[:8] == 0)
    far = d[8:] > eps_max * 1.01
    assert far.any() and torch.all(torch.isinf(dist[8:][far]))
    near = d[8:] < eps_max * 0.99
    assert near.any() and torch.all(torch.isfinite(dist[8:][near])) and torch.all(dist[8:][near] > 0)


@pytest.mark.parametrize("kwargs,field", [
    (dict(eps_max=0.0), "eps_max"), (dict(eps_max=math.inf), "eps_max"), (dict(steps=0), "steps"),
    (dict(step_size_ratio=0.0), "step_size_ratio"), (dict(bisection_steps=-1), "bisection_steps"),
])
def test_boundary_distance_rejects_bad_settings(kwargs, field):
    model, x, y, _, _ = _binary_inside_box(2, seed=5)
    settings = dict(eps_max=0.5, steps=3, step_size_ratio=0.5, bisection_steps=2) | kwargs
    with pytest.raises(ValueError, match=f"^{field}:"):
        boundary_distance(model, x, y, **settings)


def test_a_bisection_whose_attacks_cannot_reach_their_eps_is_refused():
    """Each attack runs ``steps`` steps of ``step_size_ratio``·ε: fewer than ε in all is refused, by the function and
    by the settings the workflow builds at start-up, naming the key and the fix; exactly ε is accepted."""
    from robinterp.analysis.settings import EtmannSettings

    model, x, y, _, _ = _binary_inside_box(2, seed=5)
    message = ("step_size_ratio: 3 steps of 0.25·ε travel at most 0.75·ε < ε, so the attack cannot reach its budget; "
               "raise steps to ≥ 4 or step_size_ratio to ≥ 0.334")
    with pytest.raises(ValueError) as info:
        boundary_distance(model, x, y, eps_max=0.5, steps=3, step_size_ratio=0.25, bisection_steps=2)
    assert str(info.value) == message
    settings = dict(n_images=2, batch_size=2, eps_max=0.5, steps=3, step_size_ratio=0.25, bisection_steps=2)
    with pytest.raises(ValueError) as info:
        EtmannSettings(**settings)
    assert str(info.value) == message
    EtmannSettings(**{**settings, "step_size_ratio": 1 / 3})
    boundary_distance(model, x, y, eps_max=0.5, steps=4, step_size_ratio=0.25, bisection_steps=1)


def _tiny_cnn() -> Classifier:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        trunk = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Flatten())
        model = Classifier(trunk, nn.Linear(4 * 2 * 2, 3), mean=[0.5], std=[0.25])
    return model.eval().requires_grad_(False)


def test_per_image_analysis_shapes_order_and_reused_alignment():
    """Unsorted indices over several batches come back in their order; α is attribution.alignment's,
    ρ̃ is linearised_robustness's, ``correct`` the prediction's; misclassified images have distance 0."""
    model = _tiny_cnn()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 4, 4, 1), dtype=np.uint8)
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        pred = model(x_all).argmax(1).numpy()
    labels = pred.copy()
    labels[::3] = (pred[::3] + 1) % 3  # every third image misclassified
    split = Split(images, labels)
    indices = np.array([7, 2, 11, 0, 5, 3, 9])
    out = per_image_analysis(model, split, indices, batch_size=3, device=CPU, eps_max=2.0, steps=5,
                             step_size_ratio=0.5, bisection_steps=3)
    assert set(out) == {"alignment", "linearised_robustness", "boundary_distance", "correct"}
    assert all(v.shape == (len(indices),) for v in out.values())
    x = x_all[indices]
    np.testing.assert_allclose(out["alignment"], alignment(model, x).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["linearised_robustness"], linearised_robustness(model, x).numpy(),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(out["correct"], pred[indices] == labels[indices])
    assert np.all(out["boundary_distance"][~out["correct"]] == 0)
    assert np.all(out["boundary_distance"][out["correct"]] > 0)
    # α and ρ̃ from their definitions, written here with autograd on the logits Ψ (so that the two
    # equalities above cannot pass with wrong shared functions): α = |⟨x, ∇Ψᵢ⟩| / (‖x‖ ‖∇Ψᵢ‖),
    # ρ̃ = min over j ≠ i of (Ψᵢ − Ψⱼ) / ‖∇Ψᵢ − ∇Ψⱼ‖ with i the predicted class (Etmann et al., Def. 4).
    for k, image in enumerate(x):
        xr = image[None].clone().requires_grad_(True)
        psi = model(xr)[0]
        i = int(psi.argmax())
        grads = [torch.autograd.grad(psi[c], xr, retain_graph=True)[0] for c in range(len(psi))]
        g_i = grads[i]
        cosine = (image.flatten() @ g_i.flatten()).abs() / (image.norm() * g_i.norm())
        rho = min((psi[i] - psi[j]).detach() / (g_i - grads[j]).norm() for j in range(len(psi)) if j != i)
        assert out["alignment"][k] == pytest.approx(cosine.item(), rel=1e-4, abs=1e-6), k
        assert out["linearised_robustness"][k] == pytest.approx(rho.item(), rel=1e-4, abs=1e-6), k
    assert np.all((out["alignment"] >= 0) & (out["alignment"] <= 1))
    finite = out["boundary_distance"][np.isfinite(out["boundary_distance"])]
    assert np.all(finite <= 2.0)  # bisection over (0, eps_max]; beyond it +inf


def _analysis(alpha, rho_lin, dist, correct):
    return {"alignment": np.array(alpha, dtype=np.float32), "linearised_robustness": np.array(rho_lin),
            "boundary_distance": np.array(dist), "correct": np.array(correct, dtype=bool)}


def test_summary_medians_means_and_correct_only():
    a = _analysis([0.1, 0.2, 0.3, 0.9], [1.0, 2.0, 3.0, 9.0], [1.5, math.inf, 2.5, 0.0], [1, 1, 1, 0])
    s = summary(a)
    assert s["n"] == 3 and s["accuracy"] == pytest.approx(75.0) and s["n_not_flipped"] == 1
    assert s["median_alignment"] == pytest.approx(0.2) and s["mean_alignment"] == pytest.approx(0.2)
    assert s["median_linearised_robustness"] == pytest.approx(2.0)
    assert s["median_boundary_distance"] == pytest.approx(2.5) and s["mean_boundary_distance"] == pytest.approx(2.0)
    everything = summary(a, correct_only=False)
    assert everything["n"] == 4 and everything["median_alignment"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="missing"):
        summary({"alignment": np.zeros(2)})
    with pytest.raises(ValueError, match="different lengths"):
        summary(_analysis([0.1], [1.0, 2.0], [1.0], [1]))


def _is_png(path) -> bool:
    return path.stat().st_size > 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _is_pdf(path) -> bool:
    return path.stat().st_size > 0 and path.read_bytes()[:5] == b"%PDF-"


def _fake_analyses():
    rng = np.random.default_rng(0)
    out = {}
    for k, name in enumerate(["standard", "gradnorm 0.01", "gradnorm 0.1", "robust"]):
        rho = rng.gamma(2.0, 0.2 * (k + 1), size=40)
        dist = rho * rng.uniform(0.8, 1.5, size=40)
        dist[:2] = math.inf
        out[name] = _analysis(np.clip(0.05 * (k + 1) + 0.02 * rng.standard_normal(40), 0, 1), rho, dist,
                              rng.uniform(size=40) < 0.9)
    return out


def test_figures_write_png_and_pdf_without_pyplot_state(tmp_path):
    import matplotlib.pyplot as plt

    analyses = _fake_analyses()
    summaries = {name: [summary(a)] for name, a in analyses.items()}
    summaries["robust"].append({k: 1.1 * v for k, v in summaries["robust"][0].items()})  # two replicates: error bars
    fig2 = [tmp_path / "fig2.png", tmp_path / "sub" / "fig2.pdf"]
    plot_alignment_vs_robustness(summaries, fig2, gradnorm_order=["standard", "gradnorm 0.01", "gradnorm 0.1"],
                                 title="digits")
    fig4 = [tmp_path / "fig4.png", tmp_path / "fig4.pdf"]
    plot_per_image_scatter(analyses, fig4)
    assert _is_png(fig2[0]) and _is_pdf(fig2[1]) and _is_png(fig4[0]) and _is_pdf(fig4[1])
    assert plt.get_fignums() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig2.png", "fig4.pdf", "fig4.png", "sub"]


def test_figures_reject_mismatched_inputs(tmp_path):
    analyses = _fake_analyses()
    summaries = {name: [summary(a)] for name, a in analyses.items()}
    out = [tmp_path / "f.png"]
    with pytest.raises(ValueError, match="gradnorm_order"):
        plot_alignment_vs_robustness(summaries, out, gradnorm_order=["standard", "gradnorm 1.0"])
    with pytest.raises(ValueError, match=r"summaries\['robust'\]: missing"):
        plot_alignment_vs_robustness({**summaries, "robust": [{"median_alignment": 0.3}]}, out)
    with pytest.raises(ValueError, match="list of the replicates"):
        plot_alignment_vs_robustness({**summaries, "robust": summaries["robust"][0]}, out)
    with pytest.raises(ValueError, match="summaries"):
        plot_alignment_vs_robustness({}, out)
    bad = dict(analyses)
    bad["robust"] = {**analyses["robust"], "alignment": analyses["robust"]["alignment"][:5]}
    with pytest.raises(ValueError, match=r"analyses\['robust'\]: arrays of different lengths"):
        plot_per_image_scatter(bad, out)
    with pytest.raises(ValueError, match="out_paths"):
        plot_per_image_scatter(analyses, str(tmp_path / "f.png"))
    with pytest.raises(ValueError, match="out_paths"):
        plot_alignment_vs_robustness(summaries, [])
    assert not any(tmp_path.iterdir())
