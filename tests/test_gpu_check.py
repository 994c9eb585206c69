"""Tests of benchmarks/gpu_check.sh and its driver benchmarks/gpu_check.py.

These run its smoke mode end to end on the CPU (the same code path at tiny sizes,
bf16 autocast emulated by the CPU) and test the parts that decide pass or fail: the comparisons against their
tolerances, the exit status, and the plan that fits the training runs into the time budget.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import gpu_check  # noqa: E402
from robinterp.analysis.plan import read_throughputs  # noqa: E402

# Every task of the throughput table of a smoke run (its one evaluated model is the PGD-L2 one).
SMOKE_TASKS = {"train/standard", "train/pgd_l2", "logits/pgd_l2", "pgd_eval/pgd_l2", "ig/pgd_l2", "shap/pgd_l2",
               "inversion/pgd_l2", "fid_judge/pgd_l2", "fid_inception"}
# Every comparison of one evaluated model, by the tolerance it is checked against.
MODEL_CHECKS = {"logits", "clean_accuracy", "pgd_accuracy", "ig_correlation", "ig_completeness", "shap_classes",
                "shap_correlation", "inversion_distance"}


@pytest.mark.slow
def test_smoke_run_passes_end_to_end(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(BENCHMARKS / "gpu_check.sh"), "--device", "cpu", "--smoke", "--variants", "minimal",
                           "--json", str(out), "--probe-out", str(tmp_path / "probe.json")], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "images/s" in proc.stdout and "checks passed" in proc.stdout and "FAILED" not in proc.stdout
    result = json.loads(out.read_text())

    assert result["passed"] is True
    assert result["config"]["device"] == "cpu" and result["config"]["smoke"] is True
    assert result["plan"]["variants"] == ["fp32", "bf16_cl"]
    assert set(result["images_per_second"]) == SMOKE_TASKS
    for task, row in result["images_per_second"].items():
        assert set(row) == {"fp32", "bf16_cl"}, task
        assert all(math.isfinite(v) and v > 0 for v in row.values()), (task, row)

    checks = {c["name"]: c for c in result["checks"]}
    assert all(c["passed"] for c in checks.values()), [c for c in checks.values() if not c["passed"]]
    # the plan's probe: in the result, and written in the form `robinterp plan --probe` reads
    probed = read_throughputs(tmp_path / "probe.json")
    assert probed.kind == "cpu" and set(probed.models) == set(result["probe"]["models"]) == {"resnet_small@3x32x32"}
    passes = probed.models["resnet_small@3x32x32"]  # the model's passes (shap's is a residual that may be 0)
    assert all(math.isfinite(passes[k].per_image) and passes[k].per_call + 4 * passes[k].per_image > 0
               for k in ("train", "grad", "double", "fwd")), passes
    assert {c["tolerance"] for c in checks.values()} == set(gpu_check.TOLERANCES)
    assert {name.split("/")[1] for name in checks if name.startswith("pgd_l2/")} == MODEL_CHECKS | {"judge_features"}
    assert {"inception_random/fid_features", "inception_random/distance_features"} <= set(checks)
    for name in ("standard", "pgd_l2"):  # both trained in both precisions, every epoch's loss finite
        for variant in ("fp32", "bf16_cl"):
            history = result["training"][f"{name}/{variant}"]["history"]
            assert len(history) == gpu_check.SMOKE_SIZES.epochs
            assert all(math.isfinite(row["train_loss"]) for row in history)


# --------------------------------------------------------------------------- the comparisons fail outside tolerance


def test_logit_check_fails_beyond_tolerance():
    torch.manual_seed(0)
    logits = torch.randn(16, 10) * 3
    scale = (logits.max(1).values - logits.min(1).values).mean()
    limit = gpu_check.TOLERANCES["logits"].limit
    assert gpu_check.logit_check("x", logits, logits + 0.5 * limit * scale).passed
    bad = gpu_check.logit_check("x", logits, logits + 2 * limit * scale)
    assert not bad.passed and bad.value == pytest.approx(2 * limit, rel=1e-6)


def test_accuracy_check_allows_two_images_on_small_samples():
    points = gpu_check.TOLERANCES["pgd_accuracy"].limit
    assert gpu_check.accuracy_check("x", "pgd_accuracy", 50.0, 50.0 + points + 1.0, n=100).passed  # 3 + 2 points
    assert not gpu_check.accuracy_check("x", "pgd_accuracy", 50.0, 50.0 + points + 3.0, n=100).passed
    assert not gpu_check.accuracy_check("x", "pgd_accuracy", 50.0, 40.0, n=10_000).passed


def test_correlation_check_fails_for_unrelated_maps():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(4, 3, 8, 8, generator=generator)
    noisy = maps + 0.05 * torch.randn(maps.shape, generator=generator)
    assert gpu_check.correlation_check("x", "ig_correlation", maps, noisy).passed
    assert gpu_check.correlation_check("x", "ig_correlation", maps, maps).value == pytest.approx(1.0)
    unrelated = torch.randn(maps.shape, generator=generator)
    assert not gpu_check.correlation_check("x", "ig_correlation", maps, unrelated).passed
    assert not gpu_check.correlation_check("x", "shap_correlation", maps, -maps).passed
    with pytest.raises(ValueError, match="shapes differ"):
        gpu_check.correlation_check("x", "ig_correlation", maps, maps[:2])


def test_relative_error_check_fails_beyond_tolerance():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(8, 64))
    limit = gpu_check.TOLERANCES["fid_features"].limit
    assert gpu_check.relative_error_check("x", "fid_features", features, features * (1 + limit / 2)).passed
    bad = gpu_check.relative_error_check("x", "fid_features", features, features * (1 + 2 * limit))
    assert not bad.passed and bad.value == pytest.approx(2 * limit)


def test_inversion_check_bound_grows_with_the_float32_spread_and_ignores_closer():
    limit = gpu_check.TOLERANCES["inversion_distance"].limit
    assert gpu_check.inversion_check("x", 0.2, 0.2, 0.2 * (1 + limit / 2)).passed
    assert not gpu_check.inversion_check("x", 0.2, 0.2, 0.2 * (1 + 2 * limit)).passed
    # float32 itself moved by 10 % between two starts: the bound widens by twice that
    wide = gpu_check.inversion_check("x", 0.2, 0.22, 0.2 * (1 + 2 * limit))
    assert wide.passed and wide.limit == pytest.approx(limit + 0.2)
    assert gpu_check.inversion_check("x", 0.2, 0.2, 0.01).passed  # closer than float32: never a failure


def test_nan_fails_every_check():
    for name, tolerance in gpu_check.TOLERANCES.items():
        assert not gpu_check.check("x", name, float("nan")).passed, name


def test_a_failed_check_makes_the_run_fail_and_named(monkeypatch, capsys, tmp_path):
    failing = gpu_check.logit_check("pgd_l2/logits", torch.zeros(2, 3) + torch.tensor([0.0, 1.0, 2.0]),
                                    torch.tensor([[5.0, 0.0, 0.0], [0.0, 1.0, 2.0]]))
    passing = gpu_check.check("pgd_l2/ig_correlation", "ig_correlation", 0.999)
    assert not failing.passed and passing.passed

    def fake_run_check(args, sizes, config, device, workdir):
        checks = [passing, failing]
        return {"plan": {"estimated_total_s": 1.0}, "checks": [{**asdict(c), "rule": c.rule} for c in checks],
                "passed": not gpu_check.failed(checks)}

    monkeypatch.setattr(gpu_check, "run_check", fake_run_check)
    out = tmp_path / "result.json"
    assert gpu_check.main(["--device", "cpu", "--smoke", "--threads", "0", "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1/2 checks passed" in printed
    assert "FAILED pgd_l2/logits" in printed and "FAILED pgd_l2/ig_correlation" not in printed
    assert json.loads(out.read_text())["passed"] is False


def test_no_cuda_device_exits_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as info:
        gpu_check.main(["--device", "cuda"])
    assert info.value.code == 2 and "no CUDA device" in capsys.readouterr().err


# --------------------------------------------------------------------------- the plan


def _plan(pass_ms: float, choice: str = "auto", budget_s: float = 300.0) -> gpu_check.Plan:
    """The GPU sizes' plan if a training pass took ``pass_ms`` ms in float32 and 60 % of that in bf16_cl."""
    seconds = {"fp32": pass_ms / 1000, "bf16_cl": 0.6 * pass_ms / 1000}
    return gpu_check.make_plan(gpu_check.GPU_SIZES, seconds, budget_s, choice)


def test_plan_takes_the_four_variants_when_they_fit():
    plan = _plan(2.0)
    assert plan.variants == gpu_check.FULL_VARIANTS and plan.steps_per_epoch == gpu_check.GPU_SIZES.steps_per_epoch
    assert set(plan.estimated_s) == {f"{m}/{v}" for m in gpu_check.METHODS for v in gpu_check.FULL_VARIANTS}
    assert plan.estimated_total_s <= 300


def test_plan_drops_to_two_variants_then_fewer_steps_to_fit_the_budget():
    two = _plan(10.0)  # PGD-L2 alone: 300 steps × 21 passes × 10 ms ≈ 63 s in float32
    assert two.variants == gpu_check.MINIMAL_VARIANTS and two.steps_per_epoch == gpu_check.GPU_SIZES.steps_per_epoch
    assert two.estimated_total_s <= 300
    fewer = _plan(40.0)
    assert fewer.variants == gpu_check.MINIMAL_VARIANTS
    assert 1 <= fewer.steps_per_epoch < gpu_check.GPU_SIZES.steps_per_epoch and "instead of" in fewer.reason
    assert fewer.estimated_total_s <= 300
    # an explicit choice is kept whatever the estimate
    assert _plan(40.0, "full").variants == gpu_check.FULL_VARIANTS
    assert _plan(2.0, "minimal").variants == gpu_check.MINIMAL_VARIANTS


def test_training_settings_are_the_configs_but_for_the_checks_changes():
    config = gpu_check.load_config()
    sizes = gpu_check.GPU_SIZES
    robust = gpu_check.train_settings(config, "pgd_l2", sizes, gpu_check.PRECISIONS["bf16_cl"])
    configured = config["datasets"]["cifar10"]["methods"]["robust_l2"]["attack"]
    assert (robust.attack.norm, robust.attack.eps, robust.attack.step_size, robust.attack.steps,
            robust.attack.random_start) == ("l2", configured["eps"], configured["step_size"], configured["steps"], True)
    assert robust.amp_bf16 and robust.channels_last and robust.val_size == 0 and robust.selection == "last"
    assert robust.lr == config["datasets"]["cifar10"]["train"]["lr"] and robust.batch_size == sizes.batch
    standard = gpu_check.train_settings(config, "standard", gpu_check.SMOKE_SIZES, gpu_check.PRECISIONS["fp32"])
    assert standard.attack is None and not standard.amp_bf16 and not standard.channels_last
    # the smoke run's 2 attack steps cannot reach ε with σ 0.1: Madry's 2.5·ε/K instead
    smoke = gpu_check.train_settings(config, "pgd_l2", gpu_check.SMOKE_SIZES, gpu_check.PRECISIONS["fp32"])
    assert smoke.attack.steps == 2 and smoke.attack.step_size == pytest.approx(2.5 * configured["eps"] / 2)


def test_synthetic_data_is_deterministic_and_shaped_like_cifar():
    a, b = gpu_check.synthetic_split(20, seed=3), gpu_check.synthetic_split(20, seed=3)
    assert a.images.shape == (20, 32, 32, 3) and a.images.dtype == np.uint8 and a.labels.shape == (20,)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, gpu_check.synthetic_split(20, seed=4).images)
