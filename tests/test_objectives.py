"""Training objectives (docs/papers.md): each loss against a direct computation written here.

Models: a linear classifier (flatten → linear head), whose input gradients are
known in closed form, and the CPU demo's ``resnet_small`` for class activation
maps. Every objective is called as the training loop calls it: the whole
global batch plus this process's shard, random draws from a generator.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.attacks.ascent import projected_gradient_ascent
from robinterp.attacks.spec import AttackSpec
from robinterp.attacks.threats import LinfThreat
from robinterp.base.errors import ConfigError
from robinterp.models.architectures import Classifier, build_model
from robinterp.training.cam import Int, Int2, class_activation_maps, logits_and_feature_maps
from robinterp.training.objectives import FGSMRS, Adversarial, Free, GradNorm, Standard, make_objective
from robinterp.training.saliency import ASGT, SGT, input_saliency, masked_pixel_count
from robinterp.training.step import StepContext
from tinymodels import one_thread

C, H, W, K = 2, 4, 4, 3
MEAN, STD = [0.5, 0.4], [0.25, 0.2]


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear_model(dtype=torch.float32, seed=0) -> Classifier:
    torch.manual_seed(seed)
    model = Classifier(nn.Flatten(), nn.Linear(C * H * W, K), MEAN, STD).to(dtype)
    with torch.no_grad():
        model.head.weight.normal_(0, 1.0)
        model.head.bias.normal_(0, 0.5)
    return model


def _cam_model(seed=0) -> Classifier:
    torch.manual_seed(seed)
    return build_model("resnet_small", 3, 1, [0.5], [0.25]).double()


def _batch(n=5, shape=(C, H, W), dtype=torch.float32, seed=1):
    g = _gen(seed)
    x = torch.rand((n, *shape), generator=g, dtype=dtype)
    y = torch.randint(0, K, (n,), generator=g)
    return x, y


def _ctx(model, seed=7, attack=None, **kw) -> StepContext:
    return StepContext(net=model, model=model, generator=_gen(seed), attack=attack, **kw)


LINF = AttackSpec("linf", eps=0.1, step_size=0.04, steps=3, random_start=True)


def _std_map(dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(STD, dtype=dtype).view(C, 1, 1)


def _linear_saliency(model: Classifier, y: torch.Tensor) -> torch.Tensor:
    """∂ logit_y / ∂x of the linear model, averaged over channels: W_y / std, reshaped (closed form)."""
    w = model.head.weight.detach()[y].view(-1, C, H, W) / _std_map(model.head.weight.dtype)
    return w.mean(1)


def _hand_mask(x, saliency, fraction, u):
    """M_k written directly: sort each image's pixels by saliency, replace the lowest in all channels."""
    out = x.clone()
    n = int(fraction * H * W)
    for b in range(len(x)):
        order = torch.argsort(saliency[b].flatten())[:n]
        lo, hi = x[b].min(), x[b].max()
        for p in order.tolist():
            i, j = divmod(p, W)
            out[b, :, i, j] = lo + (hi - lo) * u[b, :, i, j]
    return out


# ---------------------------------------------------------------------------------------------------------------
# standard, adversarial


def test_standard_is_summed_cross_entropy_of_the_shard():
    model = _linear_model()
    x, y = _batch()
    loss, logits = Standard()(_ctx(model), x, y, slice(1, 4))
    torch.testing.assert_close(loss, F.cross_entropy(model(x[1:4]), y[1:4], reduction="sum"))
    torch.testing.assert_close(logits, model(x[1:4]))


def test_adversarial_equals_attack_spec_with_global_random_start():
    model = _linear_model()
    x, y = _batch()
    shard = slice(2, 5)
    loss, logits = Adversarial()(_ctx(model, seed=3, attack=LINF), x, y, shard)
    g = _gen(3)
    start = LINF.threat.random_perturb(x, g)[shard]  # drawn for the global batch, then sharded
    x_adv = LINF(model, x[shard], y[shard], generator=g, start=start)
    torch.testing.assert_close(loss, F.cross_entropy(model(x_adv), y[shard], reduction="sum"))
    torch.testing.assert_close(logits, model(x_adv))
    assert loss > F.cross_entropy(model(x[shard]), y[shard], reduction="sum")  # the attack did something
    # ... within the threat: the L∞ ball of radius 0.1 around the clean shard, inside [0, 1]
    assert (x_adv - x[shard]).abs().max() <= LINF.eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("objective", [Adversarial(), SGT(mask_fraction=0.3), ASGT(mask_fraction=0.3)],
                         ids=lambda o: o.name)
def test_two_shards_make_the_full_batch(objective):
    """N processes with the same generator state together compute exactly what one process computes."""
    model = _linear_model(torch.float64)
    x, y = _batch(dtype=torch.float64)
    full, full_logits = objective(_ctx(model, seed=11, attack=LINF), x, y, slice(0, 5))
    a, a_logits = objective(_ctx(model, seed=11, attack=LINF), x, y, slice(0, 2))
    b, b_logits = objective(_ctx(model, seed=11, attack=LINF), x, y, slice(2, 5))
    torch.testing.assert_close(a + b, full)
    torch.testing.assert_close(torch.cat([a_logits, b_logits]), full_logits)
    other, _ = objective(_ctx(model, seed=12, attack=LINF), x, y, slice(0, 5))
    assert not torch.allclose(other, full)  # the random draws matter, so the equality above is not vacuous


@pytest.mark.parametrize("objective,model", [(Adversarial(), "linear"), (Int(weight=0.01), "cam"),
                                             (Int2(weight=0.01, adversarial_ce=True), "cam")],
                         ids=["adversarial", "int", "int2-adv"])
def test_at_eps_zero_the_objective_is_clean_training_with_one_pass_and_no_random_draw(objective, model):
    """The first steps of an ε warm-up (ε = 0, σ = 0): x′ = x, so the loss is the clean cross-entropy (Int's D is
    0), computed in a single forward pass and without drawing from the generator (no attack start)."""
    model = _linear_model() if model == "linear" else _cam_model()
    x, y = _batch(shape=(1, 8, 8), dtype=torch.float64) if objective.name != "adversarial" else _batch()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    ctx = _ctx(model, seed=3, attack=LINF.at_eps(0.0))
    before = ctx.generator.get_state()
    loss, logits = objective(ctx, x, y, slice(1, 4))
    assert len(calls) == 1
    assert torch.equal(ctx.generator.get_state(), before)
    clean = model(x[1:4])
    torch.testing.assert_close(loss, F.cross_entropy(clean, y[1:4], reduction="sum"), rtol=1e-12, atol=0)
    torch.testing.assert_close(logits, clean.detach())


# ---------------------------------------------------------------------------------------------------------------
# FGSM-RS (Wong et al. 2020) and free adversarial training (Shafahi et al. 2019)


def _ce_input_gradient(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂ Σ CE / ∂x of the linear model in closed form: (softmax − onehot)·W / std, reshaped."""
    residual = F.softmax(model(x), 1) - F.one_hot(y, K).to(x.dtype)
    return (residual @ model.head.weight.detach()).view(-1, C, H, W) / _std_map(x.dtype)


def _l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fgsm_rs_is_one_signed_step_of_alpha_from_a_uniform_start_projected(norm):
    """Wong et al.'s Algorithm 3 written out: δ₀ uniform in the L∞ ball (L2: on the sphere), drawn for the global
    batch and sharded, one step of α = 1.25 ε along sign(∇) (L2: ∇/‖∇‖), projected onto the ball and [0, 1]."""
    model = _linear_model(torch.float64)
    with torch.no_grad():
        model.head.weight.mul_(0.2)  # no example classified with near certainty, where a float32 gradient is noise
    x, y = _batch(6, dtype=torch.float64)
    eps = 0.1 if norm == "linf" else 0.5
    attack = AttackSpec(norm, eps, 1.25 * eps, 1, random_start=True)
    shard = slice(2, 6)
    loss, logits = FGSMRS()(_ctx(model, seed=5, attack=attack), x, y, shard)
    g = _gen(5)
    if norm == "linf":
        start = torch.clamp(x + (2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1) * eps, 0, 1)[shard]
    else:
        noise = torch.randn(x.shape, generator=g, dtype=x.dtype)
        start = torch.clamp(x + eps * noise / _l2(noise), 0, 1)[shard]
    grad = _ce_input_gradient(model, start, y[shard])
    xs = x[shard]
    if norm == "linf":
        x_adv = torch.clamp(xs + torch.clamp(start + 1.25 * eps * grad.sign() - xs, -eps, eps), 0, 1)
    else:
        delta = start + 1.25 * eps * grad / _l2(grad) - xs
        x_adv = torch.clamp(xs + delta * torch.clamp(eps / _l2(delta), max=1), 0, 1)
    # The attack takes its cross-entropy in float32 (pgd_attack), so the L2 step's direction agrees to ~1e-7.
    tolerance = {} if norm == "linf" else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(loss, F.cross_entropy(model(x_adv), y[shard], reduction="sum"), **tolerance)
    torch.testing.assert_close(logits, model(x_adv), **tolerance)
    size = (x_adv - xs).abs().flatten(1).amax(1) if norm == "linf" else _l2(x_adv - xs).flatten()
    assert (size <= eps + 1e-12).all() and (size > 0.5 * eps).all()  # in the ball, and the step moved it out
    assert loss > F.cross_entropy(model(start), y[shard], reduction="sum")


def test_fgsm_rs_shards_make_the_full_batch():
    model = _linear_model(torch.float64)
    x, y = _batch(dtype=torch.float64)
    attack = AttackSpec("linf", 0.1, 0.125, 1, random_start=True)
    full, _ = FGSMRS()(_ctx(model, seed=11, attack=attack), x, y, slice(0, 5))
    a, _ = FGSMRS()(_ctx(model, seed=11, attack=attack), x, y, slice(0, 2))
    b, _ = FGSMRS()(_ctx(model, seed=11, attack=attack), x, y, slice(2, 5))
    torch.testing.assert_close(a + b, full)


def _free_context(model, attack, delta):
    return _ctx(model, attack=attack, perturbation=delta.clone().requires_grad_(True))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_free_trains_on_the_clamped_carried_perturbation_and_updates_it_from_the_same_backward(norm):
    """Shafahi et al.'s Algorithm 1 (and their code's clamp of x + δ): the loss is CE at clamp(x + δ, 0, 1); the
    backward pass that gives the parameters' gradient gives ∇_δ, and δ ← clip_ε(δ + σ·sign(∇_δ)) (L2: the
    normalised gradient, rescaled onto the ball), σ = ε; coordinates clamped at 0 or 1 have no gradient."""
    model = _linear_model(torch.float64)
    x, y = _batch(6, dtype=torch.float64)
    eps = 0.1 if norm == "linf" else 0.5
    attack = AttackSpec(norm, eps, eps, 1)
    shard = slice(1, 5)
    g = _gen(3)
    delta = (2 * torch.rand((6, C, H, W), generator=g, dtype=torch.float64) - 1) * 0.6 * eps  # a carried δ
    if norm == "l2":
        delta = delta * (0.6 * eps / _l2(delta))
    delta = delta[shard]
    x = x.clone()
    x[shard][0, 0, 0, 0] = 1.0  # a pixel at the top of the range: x + δ is clamped there if δ > 0
    objective = Free(replays=3)
    ctx = _free_context(model, attack, delta)
    loss, logits = objective(ctx, x, y, shard)
    x_adv = torch.clamp(x[shard] + delta, 0, 1)
    torch.testing.assert_close(loss, F.cross_entropy(model(x_adv), y[shard], reduction="sum"))
    torch.testing.assert_close(logits, model(x_adv))
    loss.backward()  # what the loop does (it scales the loss by a positive factor first)
    inside = ((x[shard] + delta > 0) & (x[shard] + delta < 1)).to(x.dtype)
    grad = _ce_input_gradient(model, x_adv, y[shard]) * inside
    torch.testing.assert_close(ctx.perturbation.grad, grad)
    assert model.head.weight.grad is not None  # the same pass gave the parameters' gradient
    updated = objective.update_perturbation(ctx, ctx.perturbation.detach(), ctx.perturbation.grad)
    if norm == "linf":
        expected = torch.clamp(delta + eps * grad.sign(), -eps, eps)
    else:
        step = delta + eps * grad / _l2(grad)
        expected = step * torch.clamp(eps / _l2(step), max=1)
    torch.testing.assert_close(updated, expected)
    assert not updated.requires_grad
    # the carried δ is clipped to the ball only, not to the image range: x + δ may leave [0, 1]
    size = updated.abs().flatten(1).amax(1) if norm == "linf" else _l2(updated).flatten()
    assert (size <= eps + 1e-12).all()


def test_free_without_its_carried_perturbation_is_an_error():
    with pytest.raises(ValueError, match="carried perturbation"):
        Free()(_ctx(_linear_model(), attack=AttackSpec("linf", 0.1, 0.1, 1)), *_batch(), slice(0, 5))


@pytest.mark.parametrize("name,attack,message", [
    ("fgsm_rs", AttackSpec("linf", 0.1, 0.025, 5, random_start=True), r"random start.*the attack has steps 5"),
    ("fgsm_rs", AttackSpec("linf", 0.1, 0.125, 1), r"random_start False"),
    ("fgsm_rs", AttackSpec("l2", 1.0, 1.25, 1, random_start=True, use_best=True), r"use_best True"),
    ("free", AttackSpec("linf", 0.1, 0.1, 1, random_start=True), r"random_start True"),
    ("free", AttackSpec("l2", 2.0, 0.5, 4), r"steps 4"),
])
def test_fgsm_rs_and_free_refuse_an_attack_that_is_not_their_one_step(name, attack, message):
    with pytest.raises(ConfigError, match=rf"methods\.m\.objective.*'{name}'.*{message}"):
        make_objective({"name": name}, "methods.m.objective", attack=attack)


# ---------------------------------------------------------------------------------------------------------------
# SGT, ASGT


def test_masked_pixel_count_is_the_reference_floor():
    assert masked_pixel_count(0.3, 16) == 4
    assert masked_pixel_count(0.2, 1024) == 204
    assert masked_pixel_count(0.29, 100) == 29
    assert masked_pixel_count(0.5, 784) == 392


def test_saliency_is_signed_logit_gradient_averaged_over_channels():
    model = _linear_model()
    x, y = _batch()
    torch.testing.assert_close(input_saliency(model, x, y), _linear_saliency(model, y))
    assert (_linear_saliency(model, y) < 0).any()  # signed: absolute values would differ


def test_sgt_replaces_exactly_the_lowest_saliency_pixels_in_all_channels():
    model = _linear_model()
    x, y = _batch()
    k, shard = 0.3, slice(1, 5)
    x_masked = SGT(mask_fraction=k).masked(_ctx(model, seed=5), x, y, shard)
    u = torch.rand(x.shape, generator=_gen(5))[shard]
    xs = x[shard]
    saliency = _linear_saliency(model, y[shard])
    torch.testing.assert_close(x_masked, _hand_mask(xs, saliency, k, u))
    changed = (x_masked != xs)  # (B, C, H, W)
    n = masked_pixel_count(k, H * W)
    assert (changed.all(1) == changed.any(1)).all()  # a replaced pixel is replaced in every channel
    assert (changed.any(1).flatten(1).sum(1) == n).all()
    for b in range(len(xs)):
        lowest = torch.argsort(saliency[b].flatten())[:n]
        assert set(changed[b].any(0).flatten().nonzero().flatten().tolist()) == set(lowest.tolist())
        inside = x_masked[b][changed[b]]
        assert inside.min() >= xs[b].min() and inside.max() <= xs[b].max()


def test_sgt_loss_is_ce_plus_batchmean_kl_of_masked_against_clean():
    model = _linear_model()
    x, y = _batch()
    shard, k, lam = slice(0, 4), 0.3, 0.7
    loss, logits = SGT(mask_fraction=k, weight=lam)(_ctx(model, seed=9), x, y, shard)
    xs, ys = x[shard], y[shard]
    u = torch.rand(x.shape, generator=_gen(9))[shard]
    z, z_masked = model(xs), model(_hand_mask(xs, _linear_saliency(model, ys), k, u))
    kl = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(z_masked, 1), F.softmax(z, 1)) * len(xs)
    torch.testing.assert_close(loss, F.cross_entropy(z, ys, reduction="sum") + lam * kl)
    torch.testing.assert_close(logits, z)
    reversed_kl = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(z, 1), F.softmax(z_masked, 1)) * len(xs)
    assert not torch.allclose(kl, reversed_kl, rtol=1e-3)  # the direction is distinguishable on this batch


def test_sgt_kl_target_is_not_detached():
    model = _linear_model()
    x, y = _batch()
    shard, k = slice(0, 5), 0.5
    loss, _ = SGT(mask_fraction=k)(_ctx(model, seed=2), x, y, shard)
    (grad,) = torch.autograd.grad(loss, model.head.weight)
    u = torch.rand(x.shape, generator=_gen(2))
    x_masked = _hand_mask(x, _linear_saliency(model, y), k, u)

    def hand(detach: bool) -> torch.Tensor:
        z, z_masked = model(x), model(x_masked)
        target = F.softmax(z.detach() if detach else z, 1)
        kl = F.kl_div(F.log_softmax(z_masked, 1), target, reduction="sum")
        (g,) = torch.autograd.grad(F.cross_entropy(z, y, reduction="sum") + kl, model.head.weight)
        return g

    torch.testing.assert_close(grad, hand(detach=False))
    assert not torch.allclose(grad, hand(detach=True), atol=1e-4)


def test_asgt_masks_the_adversarial_example_and_adds_both_cross_entropies():
    model = _linear_model(torch.float64)
    x, y = _batch(dtype=torch.float64)
    shard, k, lam = slice(1, 5), 0.3, 1.0
    loss, logits = ASGT(mask_fraction=k, weight=lam)(_ctx(model, seed=4, attack=LINF), x, y, shard)
    xs, ys = x[shard], y[shard]
    g = _gen(4)
    start = LINF.threat.random_perturb(x, g)[shard]  # first draw: the attack start
    x_adv = LINF(model, xs, ys, start=start)
    u = torch.rand(x.shape, generator=g, dtype=torch.float64)[shard]  # second draw: the masking values
    x_masked = _hand_mask(x_adv, _linear_saliency(model, ys), k, u)  # range and saliency taken at x′
    z, z_adv, z_masked = model(xs), model(x_adv), model(x_masked)
    kl = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(z_masked, 1), F.softmax(z, 1)) * len(xs)
    expected = F.cross_entropy(z, ys, reduction="sum") + F.cross_entropy(z_adv, ys, reduction="sum") + lam * kl
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logits, z_adv)
    # The adversarial example the loss is built on is one: in the ball and the box, with a higher loss.
    assert (x_adv - xs).abs().max() <= LINF.eps + 1e-9 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert F.cross_entropy(z_adv, ys, reduction="sum") > F.cross_entropy(z, ys, reduction="sum")


# ---------------------------------------------------------------------------------------------------------------
# Int, Int2


def _hand_cams(model: Classifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and CAM_i = Σ_c W_ic A_c from the trunk's feature maps, computed directly."""
    maps = model.trunk.feature_maps(model.normalize(x))
    cams = (model.head.weight[None, :, :, None, None] * maps[:, None]).sum(2)
    return model(x), cams


def _hand_int_loss(model, x, x_adv, y, lam, adversarial_ce) -> torch.Tensor:
    z, cams = _hand_cams(model, x)
    z_adv, cams_adv = _hand_cams(model, x_adv)
    p = F.softmax(z_adv, 1) * (1 - F.one_hot(y, K))
    p = p / p.sum(1, keepdim=True)  # renormalised over i ≠ y
    total = []
    for b in range(len(x)):
        d = (cams_adv[b, y[b]] - cams[b, y[b]]).abs().sum()
        d = d + sum(p[b, i] * (cams_adv[b, i] - cams[b, i]).abs().sum() for i in range(K) if i != y[b])
        ce = F.cross_entropy((z_adv if adversarial_ce else z)[b:b + 1], y[b:b + 1])
        total.append(ce + lam * d)
    return torch.stack(total).sum()


def test_cams_from_feature_maps_average_to_the_logits_minus_bias():
    model = _cam_model().eval()
    x, _ = _batch(4, (1, 8, 8), torch.float64)
    z, cams = _hand_cams(model, x)
    assert cams.shape == (4, K, 2, 2)
    torch.testing.assert_close(cams.mean((2, 3)) + model.head.bias, z)
    logits, maps = logits_and_feature_maps(model, model, x)
    torch.testing.assert_close(logits, z)
    torch.testing.assert_close(class_activation_maps(model, maps), cams)
    assert model.trunk.feature_maps.__func__ is type(model.trunk).feature_maps  # the recorder was removed


@pytest.mark.parametrize("cls", [Int, Int2])
@pytest.mark.parametrize("adversarial_ce", [False, True])
def test_int_loss_matches_cam_discrepancy_by_hand(cls, adversarial_ce):
    model = _cam_model().train()
    x, y = _batch(5, (1, 8, 8), torch.float64)
    shard, lam = slice(1, 5), 0.3
    attack = AttackSpec("linf", eps=0.2, step_size=0.1, steps=2, random_start=False)
    objective = cls(weight=lam, adversarial_ce=adversarial_ce)
    x_adv = objective.perturb(_ctx(model, seed=6, attack=attack), x, y, shard)  # the same generator: the same x′
    assert model.training and (x_adv - x[shard]).abs().max() <= 0.2 + 1e-12
    loss, logits = objective(_ctx(model, seed=6, attack=attack), x, y, shard)
    torch.testing.assert_close(loss, _hand_int_loss(model, x[shard], x_adv, y[shard], lam, adversarial_ce))
    torch.testing.assert_close(logits, model(x_adv if adversarial_ce else x[shard]))
    assert model.training  # restored after the inner maximisation


def test_int_attack_maximises_the_whole_objective_and_int2_only_the_cross_entropy():
    model = _cam_model().train()
    x, y = _batch(4, (1, 8, 8), torch.float64)
    shard, lam = slice(0, 4), 0.5
    attack = AttackSpec("linf", eps=0.1, step_size=0.04, steps=3, random_start=False)
    start = LinfThreat(0.1, 0.04).random_perturb(x, _gen(8))[shard]
    x_int = Int(weight=lam, adversarial_ce=True).perturb(_ctx(model, seed=8, attack=attack), x, y, shard)
    x_int2 = Int2(weight=lam).perturb(_ctx(model, seed=8, attack=attack), x, y, shard)
    assert model.training
    model.eval()

    def whole(x_adv):
        return torch.stack([_hand_int_loss(model, x[b:b + 1], x_adv[b:b + 1], y[b:b + 1], lam, True)
                            for b in range(len(x_adv))])

    torch.testing.assert_close(x_int, projected_gradient_ascent(whole, x, attack.threat, 3, start=start))
    torch.testing.assert_close(x_int2, attack(model, x, y, start=start))
    assert not torch.allclose(x_int, x_int2)
    # Each is an ascent from the shared start on its own objective, inside the ball and the box.
    for x_adv in (x_int, x_int2):
        assert (x_adv - x).abs().max() <= attack.eps + 1e-9 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert whole(x_int).sum() > whole(start).sum()
    with torch.no_grad():
        assert F.cross_entropy(model(x_int2), y, reduction="sum") > F.cross_entropy(model(start), y, reduction="sum")


def test_int_rejects_a_trunk_without_feature_maps():
    model = _linear_model()
    x, y = _batch()
    for cls in (Int, Int2):
        with pytest.raises(ValueError, match=rf"'{cls.name}'.*Flatten.*feature_maps.*resnet50"):
            cls()(_ctx(model, attack=LINF), x, y, slice(0, 5))


# ---------------------------------------------------------------------------------------------------------------
# gradient-norm regularisation


def test_gradnorm_penalty_is_squared_input_gradient_of_cross_entropy():
    model = _linear_model(torch.float64)
    x, y = _batch(dtype=torch.float64)
    lam = 0.5
    loss, _ = GradNorm(weight=lam)(_ctx(model), x, y, slice(0, 5))
    z = model(x)
    residual = F.softmax(z, 1) - F.one_hot(y, K)  # ∂CE/∂z
    grad_x = (residual @ model.head.weight).view(-1, C, H, W) / _std_map(torch.float64)  # closed form
    expected = F.cross_entropy(z, y, reduction="sum") + lam * grad_x.pow(2).sum()
    torch.testing.assert_close(loss, expected)


def test_gradnorm_parameter_gradient_matches_finite_differences():
    model = _linear_model(torch.float64)
    x, y = _batch(dtype=torch.float64)
    objective, ctx = GradNorm(weight=2.0), _ctx(model)
    loss, _ = objective(ctx, x, y, slice(0, 5))
    (grad,) = torch.autograd.grad(loss, model.head.weight)
    h = 1e-6
    weight = model.head.weight.detach().clone()

    def loss_at(index, delta) -> float:
        with torch.no_grad():
            model.head.weight.copy_(weight)
            model.head.weight[index] += delta
        return objective(ctx, x, y, slice(0, 5))[0].item()  # needs autograd (double backprop) itself

    for index in [(0, 0), (1, 5), (2, 31)]:
        up, down = loss_at(index, h), loss_at(index, -h)
        assert grad[index].item() == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-8)
    with torch.no_grad():
        model.head.weight.copy_(weight)
    ce_only, _ = GradNorm(weight=0.0)(ctx, x, y, slice(0, 5))
    (ce_grad,) = torch.autograd.grad(ce_only, model.head.weight)
    assert not torch.allclose(grad, ce_grad)  # the penalty contributes


def test_gradnorm_is_per_example_for_a_model_in_eval_mode():
    model = _cam_model().eval()
    x, y = _batch(3, (1, 8, 8), torch.float64)
    loss, _ = GradNorm(weight=1.0)(_ctx(model), x, y, slice(0, 3))
    expected = 0.0
    for b in range(3):
        xb = x[b:b + 1].clone().requires_grad_(True)
        ce = F.cross_entropy(model(xb), y[b:b + 1])
        (g,) = torch.autograd.grad(ce, xb)
        expected = expected + ce.detach() + g.pow(2).sum()
    torch.testing.assert_close(loss.detach(), expected)


# ---------------------------------------------------------------------------------------------------------------
# make_objective


def test_make_objective_defaults_and_fields():
    assert make_objective(None, "methods.x.objective", attack=None) == Standard()
    assert make_objective(None, "methods.x.objective", attack=LINF) == Adversarial()
    assert make_objective({"name": "sgt", "mask_fraction": 0.1}, "w", attack=None) == SGT(0.1, 1.0)
    assert make_objective({"name": "int", "adversarial_ce": True}, "w", attack=LINF) == Int(0.01, True)
    assert make_objective({"name": "gradnorm", "weight": 0.1}, "w", attack=None) == GradNorm(0.1)
    one_step = AttackSpec("linf", 0.1, 0.125, 1, random_start=True)
    assert make_objective({"name": "fgsm_rs"}, "w", attack=one_step) == FGSMRS() != Adversarial()
    free = make_objective({"name": "free", "replays": 4}, "w", attack=AttackSpec("linf", 0.1, 0.1, 1))
    assert free == Free(4) and free.replays == 4 and free.carries_perturbation
    assert make_objective({"name": "free"}, "w", attack=AttackSpec("l2", 2.0, 2.0, 1)).replays == 8
    assert (Standard().replays, Standard().carries_perturbation, Int().replays) == (1, False, 1)


@pytest.mark.parametrize("spec, has_attack, message", [
    ({"name": "trades"}, True, r"unknown training objective 'trades' in methods\.m\.objective\.name.*'asgt'"),
    ({"mask_fraction": 0.1}, True, r"unknown training objective None"),
    ({"name": "sgt", "mask_fraction": 0.1, "lambda": 1}, False, r"\['lambda'\].*methods\.m\.objective.*'weight'"),
    ({"name": "sgt"}, False, r"missing key\(s\) \['mask_fraction'\] in methods\.m\.objective"),
    ({"name": "gradnorm"}, False, r"missing key\(s\) \['weight'\]"),
    ({"name": "sgt", "mask_fraction": 1.5}, False, r"invalid value in methods\.m\.objective.*mask_fraction"),
    ({"name": "asgt", "mask_fraction": 0.1, "weight": -1}, True, r"invalid value.*weight"),
    ({"name": "int", "adversarial_ce": "yes"}, True, r"invalid value.*adversarial_ce"),
    ({"name": "adversarial"}, False, r"'adversarial' in methods\.m\.objective needs an attack"),
    ({"name": "asgt", "mask_fraction": 0.1}, False, r"'asgt' .*needs an attack"),
    ({"name": "int"}, False, r"'int' .*needs an attack"),
    ({"name": "int2"}, False, r"'int2' .*needs an attack"),
    ({"name": "fgsm_rs"}, False, r"'fgsm_rs' .*needs an attack"),
    ({"name": "free"}, False, r"'free' .*needs an attack"),
    ({"name": "free", "replays": 0}, True, r"invalid value.*replays must be an integer >= 1"),
    ({"name": "free", "replays": 2.5}, True, r"invalid value.*replays"),
    ("sgt", False, r"must be a mapping"),
])
def test_make_objective_errors_name_the_key(spec, has_attack, message):
    attack = AttackSpec("linf", 0.1, 0.1, 1) if has_attack else None
    with pytest.raises(ConfigError, match=message):
        make_objective(spec, "methods.m.objective", attack=attack)
