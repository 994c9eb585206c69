"""One short GPU check of the package: bf16 and channels_last against float32, and images/s of every GPU task.

Run through ``benchmarks/gpu_check.sh`` (or ``python benchmarks/gpu_check.py``). On one device it:

1. **calibrates**: times a few ResNet-18 forward+backward passes at the training batch in float32 and in bf16 autocast
   with channels_last, and from them plans the training runs that fit ``--budget-s`` (printed before anything
   runs): the four variants float32 / bf16 / channels_last / bf16+channels_last when they fit, else float32 and
   bf16+channels_last, else those two with fewer steps;
2. **trains** ResNet-18 (the paper's CIFAR-10 settings from ``config.yaml``: SGD, lr, cosine schedule, crop and
   flip; the PGD-L2 attack ε 0.5, σ 0.1, 20 steps, random start) with :func:`robinterp.training.loop.train`, standard
   and PGD-L2, once per planned variant, all from the same initial weights on the same data;
3. **evaluates** the float32-trained models twice each, in float32 and in bf16 autocast with channels_last, on the
   same weights and inputs: logits, PGD-L2 accuracy (:func:`robinterp.attacks.accuracy.evaluate_accuracy` with the
   paper's evaluation attack), Integrated Gradients, SHAP (expected gradients), a representation inversion from
   noise, and the FID feature extractors (the Inception network and the judge's R(x));
4. **probes** the models the paper config runs (:func:`robinterp.analysis.probe.probe`, as ``python -m robinterp
   probe --config config.yaml --device cuda``): the throughputs ``python -m robinterp plan`` prices jobs with,
   written to ``--probe-out`` for ``plan --probe``;
5. **checks** that every bf16 result lies within the tolerance stated beside it (:data:`TOLERANCES`), prints the
   images/s of every task and variant and the checks, writes everything to ``--json``, and exits 1 when a check
   failed (naming it), 0 otherwise.

Data: synthetic CIFAR-shaped images (:func:`synthetic_split`), learnable (each class a fixed low-frequency colour
pattern plus pixel noise) so that training has something to learn; the throughput of a step does not depend on
the pixels. The package itself runs IG, SHAP and the FID extractor in float32 only: their bf16 rows say whether
bf16 could be switched on for them, not how the workflow runs today. The Inception network has the real FID weights
when they are where ``config.yaml`` (``inception_weights``) puts them, else random (He-normal) weights of the same
network, labelled so: the cost and the bf16 rounding of the network are measured either way.

``--smoke`` runs the same code at tiny sizes (ResNet-small, batches of 8, a few steps) on the CPU in well under a
minute: the package's autocast also runs on the CPU (``torch.autocast("cpu", bfloat16)``), emulated and slow on
CPUs without bf16 instructions, so the smoke run checks the code path and the numerics, not the speed.

Usage::

    benchmarks/gpu_check.sh                                   # --device cuda, the full check (~5 min on one GPU)
    benchmarks/gpu_check.sh --device cpu --smoke --json /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

# The script runs as ``python benchmarks/gpu_check.py``: make its sibling common.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import device_name, timed, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATASET = "cifar10"  # the config's dataset whose settings are checked
METHODS = {"standard": "standard", "pgd_l2": "robust_l2"}  # our name → the config's method (paper §3.1)


# --------------------------------------------------------------------------- variants and sizes


@dataclass(frozen=True)
class Precision:
    """How a task runs.

    Args:
        amp: bf16 autocast (the package's ``amp_bf16``).
        channels_last: the model (and, in training, the batches) in channels-last memory format.
    """

    amp: bool
    channels_last: bool


PRECISIONS = {"fp32": Precision(False, False), "bf16": Precision(True, False),
              "channels_last": Precision(False, True), "bf16_cl": Precision(True, True)}
REFERENCE, FAST = "fp32", "bf16_cl"  # every check compares FAST with REFERENCE on the same weights and inputs
MINIMAL_VARIANTS = [REFERENCE, FAST]
FULL_VARIANTS = list(PRECISIONS)


@dataclass(frozen=True)
class Sizes:
    """How much work each task does.

    Args:
        arch: the classifier (``robinterp.models.architectures``).
        batch: training batch (the config's 128 on the GPU).
        epochs: training epochs; each is ``steps_per_epoch`` optimiser steps (at least 2, so that the check
            "the loss fell" compares two epochs).
        steps_per_epoch: optimiser steps per epoch, the training split holding exactly that many batches;
            the plan may lower it to fit the budget.
        train_attack_steps: the training attack's steps K (the config's 20 on the GPU); its step size is
            the config's unless K·σ would not reach ε, then Madry et al.'s 2.5·ε/K.
        timing_warmup_steps: optimiser steps at the start of each run left out of its images/s
            (lazy initialisation, cuDNN's algorithm choice, the allocator growing).
        calibration_passes: timed forward+backward passes per precision for the plan (after one warm-up).
        eval_images: test images of the logits and PGD accuracy comparisons.
        eval_attack_steps: steps of the evaluation attack (the config's 20 on the GPU).
        ig_images, ig_points, ig_baselines: IG of this many images, path points, uniform baselines
            (the config: 51 points, 10 baselines).
        shap_images, shap_background, shap_samples: SHAP of this many images, with this many background
            images and samples per image (the config: 176 background images as the paper's code, 200 samples).
        inversion_images, inversion_steps: representation inversions from noise and their ascent steps
            (the paper: 10,000 steps; a few hundred show whether bf16 changes where the ascent goes).
        fid_images: images through each feature extractor.
        eval_methods: the trained methods (keys of :data:`METHODS`) whose float32 models are evaluated.
        warm_up_eval: run each evaluation task once on two images before timing it.
        probe_config: probe every model of the paper config (else only ``arch`` at CIFAR's 3×32×32), with the
            job start-up (seven fresh Pythons).
        probe_batches, probe_budget: the probe's two batch sizes and seconds per timing (``probe --batches,
            --budget``).
        probe_s: the probe's seconds in the plan (measured: 66 s for the paper config on an H200, 2026-12-04).
    """

    arch: str
    batch: int
    epochs: int
    steps_per_epoch: int
    train_attack_steps: int
    timing_warmup_steps: int
    calibration_passes: int
    eval_images: int
    eval_attack_steps: int
    ig_images: int
    ig_points: int
    ig_baselines: int
    shap_images: int
    shap_background: int
    shap_samples: int
    inversion_images: int
    inversion_steps: int
    fid_images: int
    eval_methods: tuple[str, ...]
    warm_up_eval: bool
    probe_config: bool
    probe_batches: tuple[int, int]
    probe_budget: float
    probe_s: float


# 3 epochs of 100 steps: "a few hundred steps" per run (issue §5); the evaluation sizes keep each task to seconds on
# one GPU while giving the comparisons hundreds of thousands of numbers.
GPU_SIZES = Sizes(arch="resnet18_cifar", batch=128, epochs=3, steps_per_epoch=100, train_attack_steps=20,
                  timing_warmup_steps=10, calibration_passes=10, eval_images=1024, eval_attack_steps=20,
                  ig_images=32, ig_points=51, ig_baselines=10, shap_images=32, shap_background=176, shap_samples=200,
                  inversion_images=64, inversion_steps=200, fid_images=512, eval_methods=("standard", "pgd_l2"),
                  warm_up_eval=True, probe_config=True, probe_batches=(32, 256), probe_budget=0.5, probe_s=70.0)
# Small enough for well under a minute on one CPU thread with emulated bf16 (about 6× slower than float32 there).
SMOKE_SIZES = Sizes(arch="resnet_small", batch=8, epochs=2, steps_per_epoch=3, train_attack_steps=2,
                    timing_warmup_steps=1, calibration_passes=1, eval_images=16, eval_attack_steps=2,
                    ig_images=2, ig_points=6, ig_baselines=2, shap_images=2, shap_background=8, shap_samples=8,
                    inversion_images=4, inversion_steps=5, fid_images=1, eval_methods=("pgd_l2",),
                    warm_up_eval=False, probe_config=False, probe_batches=(2, 4), probe_budget=0.01, probe_s=1.0)

# Madry et al. (2018)'s step size rule σ = 2.5·ε/K, used where the config's σ cannot reach ε in the smoke run's K.
MADRY_STEP_FACTOR = 2.5
# Fixed costs of a run besides the planned training: Python, CUDA context, imports (shap, captum, torch-fidelity),
# data, the calibration itself; ours, a generous guess for one GPU node.
FIXED_OVERHEAD_S = 45.0
# Every estimate is multiplied by this: the optimiser step, batch loading, checkpoints and the per-step
# synchronisation of the loop's statistics are not in the calibration passes (ours, a guess on the safe side).
ESTIMATE_SAFETY = 1.25
# Relative cost of one Inception-V3 forward pass at 299×299 (≈ 5.7 GFLOPs) in ResNet-18 CIFAR forward+backward
# passes (≈ 3 × 0.56 GFLOPs); FLOP counts from torchvision's model tables and the CIFAR ResNet-18's layers.
INCEPTION_PASS_COST = 3.4


# --------------------------------------------------------------------------- tolerances and checks


@dataclass(frozen=True)
class Tolerance:
    """A bound on one comparison of bf16 with float32.

    Args:
        limit: the bound.
        at_least: the value must be ≥ ``limit`` (a similarity); otherwise ≤ (an error).
        why: where the bound comes from, printed with a failed check.
    """

    limit: float
    at_least: bool
    why: str


# bf16 keeps 8 significant bits: unit roundoff u = 2^-8 ≈ 0.0039 per rounding (convolutions accumulate in float32).
TOLERANCES = {
    "logits": Tolerance(0.05, False, "max |Δlogit| over the logit range (mean over images of max − min logit): "
                        "a ResNet-18 rounds inputs and weights of ~20 layers to u = 0.4 %; errors of a few u "
                        "per layer add up to 1–2 % (measured on the CPU: 0.5 %); 5 % leaves room for other kernels "
                        "and still catches a wrong cast or layout"),
    "clean_accuracy": Tolerance(3.0, False, "points: only images whose top-2 logit margin is within the logit "
                                "error flip; 3 points plus two images' worth of the sample"),
    "pgd_accuracy": Tolerance(3.0, False, "points: bf16 perturbs the attack's gradient directions by ~u, which moves "
                              "only images near the decision boundary at ε; 3 points plus two images' worth"),
    "ig_correlation": Tolerance(0.95, True, "mean over images of the Pearson correlation of bf16 and float32 IG: "
                                "IG averages the gradient over the path and baselines, which averages rounding away; "
                                "0.95 = the maps look the same (measured on the CPU: 0.9999)"),
    "ig_completeness": Tolerance(0.02, False, "increase of the mean completeness gap |Σa − (F(x) − F(x′))| over "
                                 "float32's, in probability units: F rounded in bf16 moves by ~u·F ≤ 0.004 per point; "
                                 "0.02 allows 5× (measured on the CPU: 0.0005)"),
    "shap_correlation": Tolerance(0.95, True, "mean Pearson correlation of bf16 and float32 SHAP with the same "
                                  "samples (same seed); as IG (measured on the CPU: 0.9999)"),
    "shap_classes": Tolerance(0.9, True, "share of images whose explained (top-1) class agrees: a flip needs a top-2 "
                              "margin within the logit error"),
    "inversion_distance": Tolerance(0.1, False, "how much farther bf16's inversions end, relative to float32's mean "
                                    "final distance ‖R(x) − R(x_t)‖/‖R(x_t)‖ (both measured in float32), bounded by "
                                    "10 % plus twice float32's own relative difference between two noise starts: the "
                                    "paper's ascent (unconstrained L2 steps of σ = 1) is chaotic on a standard model; "
                                    "on the CPU the mean of 16 images moved by ±15 % between starts in float32 alone, "
                                    "bf16 within that spread; ending closer never fails"),
    "fid_features": Tolerance(0.05, False, "median over images of ‖f_bf16 − f_fp32‖/‖f_fp32‖ of the FID feature: "
                              "a deep network's features move by a few u (1–2 % measured on the CPU); FID is a "
                              "difference of means and covariances, so errors of that size change it far less "
                              "than the sampling noise of a few thousand images"),
    "distance_features": Tolerance(0.05, False, "as fid_features, for the inversion-distance feature"),
    "train_loss_fell": Tolerance(0.0, False, "last epoch's mean training loss minus the first epoch's: the run learns "
                                 "(the synthetic data is learnable)"),
    "train_loss_vs_fp32": Tolerance(0.15, False, "last epoch's mean training loss minus float32's, in nats: bf16 "
                                    "training follows another trajectory from the same start, but must learn as "
                                    "well; 0.15 nats = a probability of the true class ~14 % lower"),
}


@dataclass(frozen=True)
class Check:
    """The outcome of one comparison: ``value`` against the tolerance ``tolerance`` of :data:`TOLERANCES`."""

    name: str
    tolerance: str
    value: float
    limit: float
    at_least: bool
    passed: bool

    @property
    def rule(self) -> str:
        """``"≥"`` for a similarity that must reach ``limit``, ``"≤"`` for an error that must stay below it."""
        return "≥" if self.at_least else "≤"


def check(name: str, tolerance: str, value: float, limit: float | None = None) -> Check:
    """Compare ``value`` with the bound of ``TOLERANCES[tolerance]`` (or ``limit``, a bound derived from it).

    Args:
        name: what was compared (e.g. ``"pgd_l2/logits"``).
        tolerance: a key of :data:`TOLERANCES`.
        value: the measured value; NaN fails.
        limit: the bound to use instead of the tolerance's own (e.g. one widened by the sample size).
    """
    tol = TOLERANCES[tolerance]
    bound = tol.limit if limit is None else limit
    value = float(value)
    passed = value >= bound if tol.at_least else value <= bound  # False for NaN
    return Check(name, tolerance, value, bound, tol.at_least, bool(passed))


def logit_check(name: str, reference: torch.Tensor, other: torch.Tensor) -> Check:
    """Max |Δlogit| over the mean logit range (max − min per image) of the reference (B, K) logits."""
    reference, other = reference.double().cpu(), other.double().cpu()
    scale = (reference.max(dim=1).values - reference.min(dim=1).values).mean().clamp_min(1e-12)
    return check(name, "logits", ((other - reference).abs().max() / scale).item())


def accuracy_check(name: str, tolerance: str, reference: float, other: float, n: int) -> Check:
    """|Δ accuracy| in points, against the tolerance's points plus two images' worth of ``n`` (small samples)."""
    return check(name, tolerance, abs(other - reference), TOLERANCES[tolerance].limit + 2 * 100.0 / n)


def per_image_correlation(reference: torch.Tensor, other: torch.Tensor) -> np.ndarray:
    """Pearson correlation of each image's flattened maps (B,); 1 where both are constant and equal."""
    a = reference.detach().double().cpu().flatten(1).numpy()
    b = other.detach().double().cpu().flatten(1).numpy()
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    same = np.all(a == b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(same, 1.0, (a * b).sum(axis=1) / norms)


def correlation_check(name: str, tolerance: str, reference: torch.Tensor, other: torch.Tensor) -> Check:
    """Mean per-image Pearson correlation of two attribution batches of the same shape."""
    if reference.shape != other.shape:
        raise ValueError(f"{name}: shapes differ, {tuple(reference.shape)} vs {tuple(other.shape)}")
    return check(name, tolerance, float(np.mean(per_image_correlation(reference, other))))


def relative_error_check(name: str, tolerance: str, reference: np.ndarray, other: np.ndarray) -> Check:
    """Median over rows of ‖other − reference‖ / ‖reference‖ for (N, D) feature arrays."""
    reference, other = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"{name}: shapes differ, {reference.shape} vs {other.shape}")
    errors = np.linalg.norm(other - reference, axis=1) / np.maximum(np.linalg.norm(reference, axis=1), 1e-12)
    return check(name, tolerance, float(np.median(errors)))


def inversion_check(name: str, reference: float, reference_other_start: float, other: float) -> Check:
    """How much farther from its targets bf16's inversion ends than float32's, relative to float32's mean distance.

    Args:
        name: what was compared.
        reference: float32's mean final distance.
        reference_other_start: float32's mean final distance from another draw of the noise starts.
        other: bf16's mean final distance from the same starts as ``reference``.

    The bound is the tolerance plus twice float32's own start-to-start relative difference (see
    :data:`TOLERANCES`); ending closer than float32 never fails.
    """
    scale = max(abs(reference), 1e-12)
    spread = abs(reference_other_start - reference) / scale
    return check(name, "inversion_distance", (other - reference) / scale,
                 TOLERANCES["inversion_distance"].limit + 2 * spread)


def failed(checks: list[Check]) -> list[Check]:
    """The checks that did not pass."""
    return [c for c in checks if not c.passed]


# --------------------------------------------------------------------------- data, settings, models


# The synthetic classes: a 4×4 grid of random colours per class, upsampled to 32×32, at this amplitude around grey,
# plus independent pixel noise of this standard deviation (ours: two classes' patterns lie ~4.5 apart in L2, so
# PGD-L2 at ε 0.5 fools a standard model often, a robust one less; the noise keeps single pixels uninformative).
# Measured on the CPU (resnet_small, 75 steps of 32 images, fp32): standard 73 % clean, 17 % under PGD-L2 (ε 0.5,
# 10 steps); PGD-L2-trained 62 % and 41 %; the GPU run's 300 steps of 128 images learn more.
TEMPLATE_GRID, TEMPLATE_AMPLITUDE, PIXEL_NOISE_STD, TEMPLATE_SEED = 4, 0.1, 0.1, 1234


def synthetic_split(n: int, seed: int, num_classes: int = 10, size: int = 32):
    """``n`` synthetic CIFAR-shaped images (uint8, 32×32×3) with labels, as a :class:`robinterp.data.store.Split`.

    Args:
        n: number of images.
        seed: seed of the labels and the noise (the class patterns are fixed: the same for every split).
        num_classes: number of classes.
        size: image side (a multiple of :data:`TEMPLATE_GRID`).
    """
    from robinterp.data.store import Split

    patterns = np.random.default_rng(TEMPLATE_SEED).uniform(-1, 1, (num_classes, TEMPLATE_GRID, TEMPLATE_GRID, 3))
    block = size // TEMPLATE_GRID
    patterns = patterns.repeat(block, axis=1).repeat(block, axis=2)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    images = 0.5 + TEMPLATE_AMPLITUDE * patterns[labels] + PIXEL_NOISE_STD * rng.standard_normal((n, size, size, 3))
    return Split(np.clip(np.rint(images * 255), 0, 255).astype(np.uint8), labels.astype(np.int64))


def load_config() -> dict:
    """The repository's ``config.yaml``."""
    import yaml

    with open(REPO / "config.yaml") as f:
        return yaml.safe_load(f)


def with_reach(attack: dict, steps: int) -> dict:
    """``attack`` (a config mapping) with ``steps`` steps; σ raised to Madry's 2.5·ε/K when K·σ cannot reach ε."""
    attack = {**attack, "steps": steps}
    if attack.get("eps") is not None and steps * attack["step_size"] < attack["eps"]:
        attack["step_size"] = MADRY_STEP_FACTOR * attack["eps"] / steps
    return attack


def train_settings(config: dict, method: str, sizes: Sizes, precision: Precision):
    """The config's CIFAR-10 training settings of ``method`` for this check.

    Everything as the workflow trains (optimiser, lr, schedule, augmentation, the attack), except: ``sizes``'s
    epochs, batch and training-attack steps; no validation split (``selection: last``), so the run is the training
    steps alone; the variant's ``amp_bf16`` and ``channels_last``; logging once per epoch.
    """
    from robinterp.base.config import from_dict
    from robinterp.training.settings import TrainSettings, method_train_section

    section = method_train_section(config["datasets"][DATASET], METHODS[method])
    if section.get("attack"):
        section["attack"] = with_reach(section["attack"], sizes.train_attack_steps)
    section |= {"epochs": sizes.epochs, "batch_size": sizes.batch, "val_size": 0, "selection": "last",
                "val_attack": None, "amp_bf16": precision.amp, "channels_last": precision.channels_last,
                "log_every": sizes.steps_per_epoch}
    return from_dict(TrainSettings, section, f"datasets.{DATASET}.methods.{METHODS[method]} (gpu_check)")


def new_model(config: dict, arch: str) -> torch.nn.Module:
    """An untrained classifier of ``arch`` with the config's CIFAR-10 normalisation (seeded by the caller)."""
    from robinterp.models.architectures import build_model

    model = config["datasets"][DATASET]["model"]
    return build_model(arch, 10, 3, model["mean"], model["std"])


def prepared(model: torch.nn.Module, precision: Precision, device: torch.device) -> torch.nn.Module:
    """A copy of ``model`` on ``device`` in eval mode, in channels-last format when ``precision`` says so."""
    model = copy.deepcopy(model).to(device).eval()
    if precision.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def autocast(device: torch.device, precision: Precision):
    """The package's autocast (bf16 when ``precision.amp``)."""
    from robinterp.models.running import autocast as package_autocast

    return package_autocast(device, precision.amp)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- plan


def seconds_per_pass(model: torch.nn.Module, precision: Precision, sizes: Sizes, device: torch.device) -> float:
    """Median seconds of one training-mode forward+backward pass of a random batch of ``sizes.batch``."""
    model = prepared(model, precision, device).train()
    x = torch.rand(sizes.batch, 3, 32, 32, device=device)
    if precision.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (sizes.batch,), device=device)

    def one_pass():
        with autocast(device, precision):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()

    timed(one_pass, device)  # warm-up: lazy initialisation, algorithm choice
    return float(np.median([timed(one_pass, device) for _ in range(sizes.calibration_passes)]))


def passes_per_step(method: str, sizes: Sizes) -> int:
    """Forward+backward passes per optimiser step: 1, plus the attack's K for PGD-L2."""
    return 1 + (sizes.train_attack_steps if method == "pgd_l2" else 0)


def evaluation_passes(sizes: Sizes) -> float:
    """Per evaluated model and precision, the evaluation tasks' work in image forward+backward passes."""
    return (sizes.eval_images * (sizes.eval_attack_steps + 2)  # the attack, clean and final predictions
            + sizes.ig_images * sizes.ig_points * sizes.ig_baselines
            + sizes.shap_images * sizes.shap_samples
            + sizes.inversion_images * (sizes.inversion_steps + 2)
            + sizes.fid_images * (1 + INCEPTION_PASS_COST))  # judge R(x) and Inception


@dataclass(frozen=True)
class Plan:
    """The training runs of this check and what they are expected to cost.

    Args:
        variants: the precisions (keys of :data:`PRECISIONS`) each method is trained in.
        steps_per_epoch: optimiser steps per epoch (``Sizes.steps_per_epoch`` or fewer, to fit the budget).
        estimated_s: expected seconds per training run, ``"<method>/<variant>"``.
        estimated_eval_s: expected seconds of all evaluation tasks.
        estimated_total_s: everything, with :data:`FIXED_OVERHEAD_S`.
        reason: why these variants and steps were chosen.
    """

    variants: list[str]
    steps_per_epoch: int
    estimated_s: dict[str, float]
    estimated_eval_s: float
    estimated_total_s: float
    reason: str


def make_plan(sizes: Sizes, pass_seconds: dict[str, float], budget_s: float, choice: str) -> Plan:
    """Choose the training variants and steps that fit ``budget_s``, from the calibrated pass times.

    Args:
        sizes: the work sizes.
        pass_seconds: seconds of one forward+backward pass of a training batch for ``REFERENCE`` and ``FAST``;
            bf16 alone and channels_last alone are estimated at the reference's (neither is slower than
            float32 on a GPU with bf16 tensor cores).
        budget_s: seconds the whole check may take.
        choice: ``"auto"`` (the four variants if they fit, else the two, else the two with fewer steps),
            ``"full"`` or ``"minimal"`` (those variants, steps never lowered).
    """
    def estimate(variants: list[str], steps_per_epoch: int) -> dict[str, float]:
        return {f"{method}/{variant}": ESTIMATE_SAFETY * sizes.epochs * steps_per_epoch * passes_per_step(method, sizes)
                * pass_seconds.get(variant, pass_seconds[REFERENCE]) for method in METHODS for variant in variants}

    per_image = (pass_seconds[REFERENCE] + pass_seconds[FAST]) / sizes.batch
    eval_s = ESTIMATE_SAFETY * len(sizes.eval_methods) * evaluation_passes(sizes) * per_image
    available = budget_s - FIXED_OVERHEAD_S - sizes.probe_s - eval_s
    steps = sizes.steps_per_epoch
    if choice == "full" or (choice == "auto" and sum(estimate(FULL_VARIANTS, steps).values()) <= available):
        variants, reason = FULL_VARIANTS, f"the four variants ({choice})"
    elif choice == "minimal" or sum(estimate(MINIMAL_VARIANTS, steps).values()) <= available:
        variants, reason = MINIMAL_VARIANTS, ("float32 and bf16+channels_last (minimal)" if choice == "minimal" else
                                              "float32 and bf16+channels_last: the four variants do not fit")
    else:
        variants = MINIMAL_VARIANTS
        per_step = sum(estimate(variants, 1).values())
        steps = max(1, min(steps, math.floor(max(available, 0.0) / per_step)))
        reason = f"float32 and bf16+channels_last with {steps} instead of {sizes.steps_per_epoch} steps per epoch " \
                 "to fit the budget"
    runs = estimate(variants, steps)
    return Plan(list(variants), steps, runs, eval_s, FIXED_OVERHEAD_S + sizes.probe_s + eval_s + sum(runs.values()),
                reason)


# --------------------------------------------------------------------------- training


def train_run(model: torch.nn.Module, split, settings, sizes: Sizes, device: torch.device,
              workdir: Path, name: str) -> dict:
    """Train a copy of ``model`` with :func:`robinterp.training.loop.train`; its history, weights and images/s.

    The images/s count the steps after ``sizes.timing_warmup_steps``, leaving out the intervals that contain an
    epoch's end (checkpoint writing), timed by the loop's ``after_step`` hook with the device synchronised.

    Args:
        model: the initial weights (copied; every run starts from the same).
        split: the training split (``epochs`` passes over it).
        settings: the run's :class:`~robinterp.training.settings.TrainSettings`.
        sizes: the work sizes (``timing_warmup_steps``).
        device: where to train.
        workdir: where the run's checkpoint goes.
        name: ``"<method>/<variant>"``, naming the checkpoint.

    Returns:
        ``{"images_per_s", "wall_s", "timed_steps", "history" (per epoch: loss, accuracy, seconds), "state"}``.
    """
    from robinterp.training.loop import train

    stamps: list[tuple[int, float]] = []

    def after_step(step: int, _model: torch.nn.Module) -> None:
        synchronize(device)
        stamps.append((step, time.perf_counter()))

    tic = time.perf_counter()
    result = train(copy.deepcopy(model), split, settings, seed=0, device=device,
                   checkpoint_path=workdir / f"{name.replace('/', '_')}.pt", after_step=after_step)
    wall = time.perf_counter() - tic
    steps_per_epoch = len(split) // settings.batch_size
    # the interval after step s (stamps count the steps taken) holds an epoch's end where s is a multiple of that
    counted = [t1 - t0 for (s0, t0), (_, t1) in zip(stamps, stamps[1:])
               if s0 >= sizes.timing_warmup_steps and s0 % steps_per_epoch != 0]
    images_per_s = settings.batch_size * len(counted) / sum(counted) if counted else float("nan")
    history = [{k: row[k] for k in ("epoch", "train_loss", "train_accuracy", "seconds")} for row in result.history]
    return {"images_per_s": images_per_s, "wall_s": wall, "timed_steps": len(counted), "history": history,
            "state": result.best_state}


# --------------------------------------------------------------------------- the plan's probe


def run_model_probe(config: dict, sizes: Sizes, device: torch.device, out: str | None) -> dict:
    """The probe of :mod:`robinterp.analysis.probe` on ``device`` (the models of ``config`` when
    ``sizes.probe_config``, else ``sizes.arch`` at 3×32×32); printed, written to ``out`` when given, returned."""
    from robinterp.analysis.cost import ModelKey
    from robinterp.analysis.plan import dataset_layout
    from robinterp.analysis.probe import config_models, format_probe, run_probe

    if sizes.probe_config:
        models = config_models(config, {name: dataset_layout(config, name) for name in config["datasets"]})
    else:
        models = {ModelKey(sizes.arch, (3, 32, 32)): 10}
    tic = time.perf_counter()
    result = run_probe(models, device, batches=sizes.probe_batches, budget=sizes.probe_budget, threads=None,
                       out=out, start_up=sizes.probe_config)
    print(f"\nprobe ({time.perf_counter() - tic:.1f} s; for `python -m robinterp plan`):\n{format_probe(result)}")
    return result


# --------------------------------------------------------------------------- evaluation tasks


def uniform_baselines(x: torch.Tensor, n: int, seed: int) -> list[torch.Tensor]:
    """The uniform baselines :func:`robinterp.attribution.integrated_gradients` draws from a generator of ``seed``."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return [torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) for _ in range(n)]


class Evaluation:
    """The evaluation tasks on one trained model, each run in a given precision; results stay on the CPU.

    Each task method takes the :class:`Precision` to run in and returns ``(its results, images per second)``;
    the images are the first of the test split, the same for every precision.

    Args:
        model: the trained classifier (float32 weights, any device).
        config: the repository's config (the evaluation attack, the IG, SHAP and inversion settings).
        sizes: the work sizes.
        test: the synthetic test split.
        device: where to run.
    """

    def __init__(self, model, config: dict, sizes: Sizes, test, device: torch.device):
        from robinterp.attacks.spec import AttackSpec
        from robinterp.data.batches import load_batch

        cifar = config["datasets"][DATASET]
        self.model, self.sizes, self.test, self.device = model, sizes, test, device
        self.attack = AttackSpec(**with_reach(cifar["evaluation"]["attacks"]["pgd_l2"], sizes.eval_attack_steps))
        self.synthesis = cifar["synthesis"]
        self.x, self.y = load_batch(test, np.arange(sizes.eval_images), device)
        self.inversion_attack = AttackSpec(**{**self.synthesis["inversion"]["attack"], "steps": sizes.inversion_steps})

    def logits(self, precision: Precision) -> tuple[torch.Tensor, float]:
        """Logits of the ``eval_images`` test images (float32, (N, 10))."""
        model = prepared(self.model, precision, self.device)

        def run(n):
            with torch.no_grad(), autocast(self.device, precision):
                return model(self.x[:n]).float()
        out, rate = self._measure(run, len(self.x))
        return out.cpu(), rate

    def accuracy(self, precision: Precision) -> tuple[dict, float]:
        """``evaluate_accuracy``'s clean and PGD-L2 accuracy (the config's attack, ``eval_attack_steps`` steps)."""
        from robinterp.attacks.accuracy import evaluate_accuracy

        model = prepared(self.model, precision, self.device)

        def run(n):
            return evaluate_accuracy(model, self.test, {"pgd_l2": self.attack}, batch_size=self.sizes.batch,
                                     device=self.device, indices=np.arange(n), amp=precision.amp)
        return self._measure(run, self.sizes.eval_images)

    def integrated_gradients(self, precision: Precision) -> tuple[dict, float]:
        """IG of the predicted class (uniform baselines, seed 0) and its completeness gap, measured in float32."""
        from robinterp.attribution.methods import ig_completeness_gap, integrated_gradients, target_probability
        from robinterp.models.running import predicted_class

        model = prepared(self.model, precision, self.device)
        x = self.x[:self.sizes.ig_images]
        target = predicted_class(model, x)  # float32: both precisions explain the same classes

        def run(n):
            generator = torch.Generator(device=self.device).manual_seed(0)
            with autocast(self.device, precision):
                return integrated_gradients(model, x[:n], target[:n], n_points=self.sizes.ig_points,
                                            baseline="uniform", n_baselines=self.sizes.ig_baselines,
                                            generator=generator)
        attributions, rate = self._measure(run, len(x))
        reference_model = prepared(self.model, PRECISIONS[REFERENCE], self.device)
        baseline_output = torch.stack([target_probability(reference_model, b, target)
                                       for b in uniform_baselines(x, self.sizes.ig_baselines, 0)]).mean(dim=0)
        gap = ig_completeness_gap(reference_model, x, target, attributions, baseline_output)
        return {"attributions": attributions.cpu(), "completeness_gap": gap.cpu()}, rate

    def shap(self, precision: Precision) -> tuple[dict, float]:
        """Expected-gradients SHAP (seed 0) and the explained classes."""
        from robinterp.attribution.methods import expected_gradients_shap

        importlib.import_module("shap")  # here, not in the timed call: its first import takes seconds
        model = prepared(self.model, precision, self.device)
        x = self.x[:self.sizes.shap_images]
        background = self.x[-self.sizes.shap_background:]  # test images not explained (eval_images ≥ both)

        def run(n):
            with autocast(self.device, precision):
                return expected_gradients_shap(model, x[:n], background, nsamples=self.sizes.shap_samples, seed=0)
        (values, classes), rate = self._measure(run, len(x))
        return {"attributions": values.cpu(), "classes": classes.cpu()}, rate

    def inversion(self, precision: Precision) -> tuple[dict, float]:
        """Final distances of inversions from noise (float32 also from a second noise draw, for the spread)."""
        from robinterp.synthesis.ascent import noise_images, representations
        from robinterp.synthesis.inversion import invert_representations

        model = prepared(self.model, precision, self.device)
        reference_model = prepared(self.model, PRECISIONS[REFERENCE], self.device)
        n = self.sizes.inversion_images
        targets = self.x[:n]
        target_r = representations(reference_model, targets, n)
        noise = self.synthesis["noise"]

        def sources(seed: int) -> torch.Tensor:  # "inversion 2": from noise
            return noise_images(n, targets.shape[1:], noise["mean"], noise["std"],
                                torch.Generator().manual_seed(seed)).to(self.device)

        def run(m, start=sources(0)):
            return invert_representations(model, start[:m], targets[:m], self.inversion_attack.threat,
                                          self.inversion_attack.steps, batch_size=m, amp=precision.amp)

        def distance(inverted: torch.Tensor) -> torch.Tensor:  # measured in float32 for both precisions
            return ((representations(reference_model, inverted, n) - target_r).norm(dim=1)
                    / target_r.norm(dim=1)).cpu()
        (inverted, _), rate = self._measure(run, n)
        out = {"distance": distance(inverted)}
        if precision == PRECISIONS[REFERENCE]:  # the ascent's own spread: float32 again, from another noise draw
            out["distance_other_start"] = distance(run(n, sources(1))[0])
        return out, rate

    def judge_features(self, precision: Precision) -> tuple[dict, float]:
        """The judge's R(x) of the first ``fid_images`` test images, as the FID code extracts them."""
        from robinterp.synthesis.features import JudgeFeatures

        return features_of(JudgeFeatures(prepared(self.model, precision, self.device)), self.test, self.sizes,
                           precision, self.device)

    def _measure(self, run: Callable[[int], Any], n: int) -> tuple[Any, float]:
        """``run(n)`` timed (after ``run(2)`` when the sizes warm up); its value and n / seconds."""
        if self.sizes.warm_up_eval:
            run(min(2, n))
        seconds, value = _timed_value(lambda: run(n), self.device)
        return value, n / seconds


def _timed_value(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """``(seconds, value)`` of one call of ``fn``, timed as :func:`common.timed` (synchronised on CUDA)."""
    box = {}
    seconds = timed(lambda: box.setdefault("value", fn()), device)
    return seconds, box["value"]


def features_of(extractor, test, sizes: Sizes, precision: Precision, device: torch.device) -> tuple[dict, float]:
    """``extract_features`` of the first ``sizes.fid_images`` test images, in ``precision``; features and images/s."""
    from robinterp.synthesis.features import extract_features

    if precision.channels_last:
        extractor.to(memory_format=torch.channels_last)
    images = test.images[:sizes.fid_images]

    def run(n):
        with autocast(device, precision):
            return extract_features(extractor, images[:n], batch_size=sizes.batch, device=device)
    if sizes.warm_up_eval:
        run(min(2, len(images)))
    seconds, value = _timed_value(lambda: run(len(images)), device)
    return value, len(images) / seconds


def inception_extractor(config: dict, workdir: Path, device: torch.device):
    """The FID Inception network: the real weights when ``config.yaml``'s file is there, else random ones.

    Returns:
        ``(InceptionFeatures on device, "real" or "random")``. Random weights are written to ``workdir`` as
        torch-fidelity's network state dict with He-normal convolutions (as ``tests/test_fid.py``), and loaded
        through the same checked path as the real file.
    """
    import hashlib

    from robinterp.synthesis.features import InceptionFeatures

    real = REPO / config["inception_weights"]
    if real.is_file():
        return InceptionFeatures(real).to(device), "real"
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class RandomInceptionV3(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None  # keep the random initialisation

    empty = workdir / "empty.pth"
    torch.save({}, empty)  # the constructor loads its path before calling load_state_dict
    torch.manual_seed(0)
    net = RandomInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = workdir / "random-inception.pth"
    torch.save(net.state_dict(), path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    return InceptionFeatures(path, sha256_prefix=prefix).to(device), "random"


def compare(model_name: str, results: dict[str, dict], n_eval: int) -> list[Check]:
    """The checks of one model's evaluation: ``results[task][variant]`` for REFERENCE and FAST."""
    ref = {task: r[REFERENCE] for task, r in results.items()}
    fast = {task: r[FAST] for task, r in results.items()}
    m = model_name
    checks = [logit_check(f"{m}/logits", ref["logits"], fast["logits"]),
              accuracy_check(f"{m}/clean_accuracy", "clean_accuracy", ref["pgd_eval"]["clean_accuracy"],
                             fast["pgd_eval"]["clean_accuracy"], n_eval),
              accuracy_check(f"{m}/pgd_accuracy", "pgd_accuracy", ref["pgd_eval"]["pgd_l2_accuracy"],
                             fast["pgd_eval"]["pgd_l2_accuracy"], n_eval),
              correlation_check(f"{m}/ig_correlation", "ig_correlation", ref["ig"]["attributions"],
                                fast["ig"]["attributions"]),
              check(f"{m}/ig_completeness", "ig_completeness",
                    (fast["ig"]["completeness_gap"].mean() - ref["ig"]["completeness_gap"].mean()).item())]
    same_class = ref["shap"]["classes"] == fast["shap"]["classes"]
    checks.append(check(f"{m}/shap_classes", "shap_classes", same_class.double().mean().item()))
    checks.append(correlation_check(f"{m}/shap_correlation", "shap_correlation",
                                    ref["shap"]["attributions"][same_class], fast["shap"]["attributions"][same_class]))
    checks.append(inversion_check(f"{m}/inversion_distance", ref["inversion"]["distance"].mean().item(),
                                  ref["inversion"]["distance_other_start"].mean().item(),
                                  fast["inversion"]["distance"].mean().item()))
    checks.append(relative_error_check(f"{m}/judge_features", "fid_features", ref["fid_judge"]["fid"],
                                       fast["fid_judge"]["fid"]))
    return checks


def training_checks(training: dict[str, dict]) -> list[Check]:
    """Every run's loss fell from its first to its last epoch; each variant's last loss is close to float32's."""
    checks = []
    for name, run in training.items():
        losses = [row["train_loss"] for row in run["history"]]
        checks.append(check(f"train/{name}/loss_fell", "train_loss_fell", losses[-1] - losses[0]))
        method, variant = name.split("/")
        if variant != REFERENCE:
            reference = training[f"{method}/{REFERENCE}"]["history"][-1]["train_loss"]
            checks.append(check(f"train/{name}/loss_vs_fp32", "train_loss_vs_fp32", losses[-1] - reference))
    return checks


# --------------------------------------------------------------------------- driver


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: the same code path in seconds (CPU)")
    p.add_argument("--variants", choices=["auto", "full", "minimal"], default="auto",
                   help="training variants: auto = the four if they fit --budget-s, else fp32 and bf16_cl; "
                        "full = fp32, bf16, channels_last, bf16_cl; minimal = fp32 and bf16_cl")
    p.add_argument("--budget-s", type=float, default=300.0,
                   help="seconds the whole check may take; the plan fits the training runs into it (default 300)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: 1 on cpu, see benchmarks/README.md; torch's on cuda)")
    p.add_argument("--workdir", default=None, help="checkpoints and the random Inception weights (default: a "
                                                   "temporary folder, deleted afterwards)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write every number and check to PATH")
    p.add_argument("--probe-out", metavar="PATH", default=None,
                   help="also write the probe, as `python -m robinterp probe --out` does, for `robinterp plan --probe`")
    return p.parse_args(argv)


def configure(args: argparse.Namespace) -> torch.device:
    """Check the device and set the threads; exits with a message when CUDA is asked for and absent."""
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but no CUDA device is available (use --device cpu --smoke on a CPU)",
              file=sys.stderr)
        sys.exit(2)
    if args.threads is None and args.device == "cpu":
        args.threads = 1  # as benchmarks/common.py: one thread on a shared CPU (README)
    if args.threads:
        torch.set_num_threads(args.threads)
    return torch.device(args.device)


def print_plan(plan: Plan, sizes: Sizes, pass_seconds: dict[str, float], budget_s: float) -> None:
    """Print the calibration, the chosen variants and steps, and each run's estimate (arguments: :func:`make_plan`)."""
    print(f"calibration: one forward+backward pass of {sizes.batch} images: "
          + ", ".join(f"{v} {1000 * s:.1f} ms" for v, s in pass_seconds.items()))
    print(f"plan ({plan.reason}): {sizes.epochs} epochs × {plan.steps_per_epoch} steps of batch {sizes.batch}; "
          f"PGD-L2 training with K = {sizes.train_attack_steps}")
    for run, seconds in plan.estimated_s.items():
        print(f"  train {run:<24} ~{seconds:7.1f} s")
    print(f"  evaluation tasks             ~{plan.estimated_eval_s:7.1f} s")
    print(f"  probe                        ~{sizes.probe_s:7.1f} s")
    print(f"  estimated total              ~{plan.estimated_total_s:7.1f} s of a {budget_s:.0f} s budget")


def print_tables(throughput: dict[str, dict[str, float]], checks: list[Check], notes: dict[str, str]) -> None:
    """Print the images/s table and the checks.

    Args:
        throughput: ``{task: {variant: images/s}}``.
        checks: every check, in order.
        notes: a note per task kind (the part of the task's name before ``/``).
    """
    variants = [v for v in PRECISIONS if any(v in row for row in throughput.values())]
    print(f"\nimages/s{'':<20}" + "".join(f"{v:>14}" for v in variants) + f"{FAST + '/fp32':>14}  note")
    for task, row in throughput.items():
        cells = "".join(f"{row[v]:>14.1f}" if v in row else f"{'':>14}" for v in variants)
        speedup = row[FAST] / row[REFERENCE] if FAST in row and REFERENCE in row else float("nan")
        print(f"{task:<28}{cells}{speedup:>14.2f}  {notes.get(task.split('/')[0], '')}")
    print(f"\n{'check':<44}{'value':>10}  {'rule':<10}result")
    for c in checks:
        print(f"{c.name:<44}{c.value:>10.4f}  {c.rule} {c.limit:<8.4g}{'ok' if c.passed else 'FAILED'}")


def main(argv=None) -> int:
    args = parse_args(argv)
    device = configure(args)
    sizes = SMOKE_SIZES if args.smoke else GPU_SIZES
    config = load_config()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_check(args, sizes, config, device, workdir)
    result["wall_s"] = time.perf_counter() - started
    write_json(args.json, result)
    bad = [c for c in result["checks"] if not c["passed"]]
    print(f"\n{len(result['checks']) - len(bad)}/{len(result['checks'])} checks passed in {result['wall_s']:.1f} s "
          f"(estimated {result['plan']['estimated_total_s']:.0f} s)")
    if bad:
        for c in bad:
            print(f"FAILED {c['name']}: {c['value']:.4g} not {c['rule']} {c['limit']:.4g} — "
                  f"{TOLERANCES[c['tolerance']].why}")
        return 1
    return 0


def run_check(args: argparse.Namespace, sizes: Sizes, config: dict, device: torch.device, workdir: Path) -> dict:
    """Calibrate, plan, train, evaluate and compare; the whole result as a JSON-ready dict (and printed)."""
    torch.manual_seed(0)
    initial = new_model(config, sizes.arch)  # every run starts from these weights
    print(f"gpu_check on {device.type} ({device_name(device)}), torch {torch.__version__}, {sizes.arch}, "
          f"{torch.get_num_threads()} threads{', smoke sizes' if args.smoke else ''}")
    if device.type == "cpu":
        print("note: bf16 autocast on this CPU is emulated and slow; the smoke run checks code and numerics, "
              "not speed")
    pass_seconds = {v: seconds_per_pass(initial, PRECISIONS[v], sizes, device) for v in MINIMAL_VARIANTS}
    plan = make_plan(sizes, pass_seconds, args.budget_s, args.variants)
    print_plan(plan, sizes, pass_seconds, args.budget_s)
    sizes = replace(sizes, steps_per_epoch=plan.steps_per_epoch)
    train_split = synthetic_split(sizes.batch * sizes.steps_per_epoch, seed=1)
    test_split = synthetic_split(max(sizes.eval_images, sizes.shap_images + sizes.shap_background, sizes.fid_images),
                                 seed=2)
    print("data: synthetic CIFAR-shaped images (class colour patterns plus noise), "
          f"{len(train_split)} training, {len(test_split)} test")

    throughput: dict[str, dict[str, float]] = {}
    training: dict[str, dict] = {}
    for method in METHODS:
        for variant in plan.variants:
            name = f"{method}/{variant}"
            run = train_run(initial, train_split, train_settings(config, method, sizes, PRECISIONS[variant]),
                            sizes, device, workdir, name)
            training[name] = run
            throughput.setdefault(f"train/{method}", {})[variant] = run["images_per_s"]
            last = run["history"][-1]
            print(f"trained {name:<24} {run['wall_s']:6.1f} s, {run['images_per_s']:9.1f} images/s, last epoch "
                  f"loss {last['train_loss']:.3f}, accuracy {last['train_accuracy']:.1f} %")
    checks = training_checks(training)

    evaluations: dict[str, dict] = {}
    tasks = {"logits": "logits", "pgd_eval": "accuracy", "ig": "integrated_gradients", "shap": "shap",
             "inversion": "inversion", "fid_judge": "judge_features"}
    for method in sizes.eval_methods:
        model = new_model(config, sizes.arch)
        model.load_state_dict(training[f"{method}/{REFERENCE}"]["state"])
        evaluation = Evaluation(model, config, sizes, test_split, device)
        results: dict[str, dict] = {}
        for task, function in tasks.items():
            for variant in MINIMAL_VARIANTS:
                results.setdefault(task, {})[variant], rate = getattr(evaluation, function)(PRECISIONS[variant])
                throughput.setdefault(f"{task}/{method}", {})[variant] = rate
        checks += compare(method, results, sizes.eval_images)
        accuracies = results["pgd_eval"]
        evaluations[method] = {"clean_accuracy": {v: accuracies[v]["clean_accuracy"] for v in accuracies},
                               "pgd_l2_accuracy": {v: accuracies[v]["pgd_l2_accuracy"] for v in accuracies},
                               "inversion_mean_distance": {v: results["inversion"][v]["distance"].mean().item()
                                                           for v in results["inversion"]}}
        print(f"evaluated {method}: clean {evaluations[method]['clean_accuracy']}, "
              f"PGD-L2 {evaluations[method]['pgd_l2_accuracy']}")

    extractor, weights = inception_extractor(config, workdir, device)
    inception = {}
    for variant in MINIMAL_VARIANTS:
        inception[variant], rate = features_of(copy.deepcopy(extractor), test_split, sizes, PRECISIONS[variant], device)
        throughput.setdefault("fid_inception", {})[variant] = rate
    checks.append(relative_error_check(f"inception_{weights}/fid_features", "fid_features",
                                       inception[REFERENCE]["fid"], inception[FAST]["fid"]))
    checks.append(relative_error_check(f"inception_{weights}/distance_features", "distance_features",
                                       inception[REFERENCE]["distance"], inception[FAST]["distance"]))

    probed = run_model_probe(config, sizes, device, args.probe_out)

    notes = {"ig": "package: fp32 only", "shap": "package: fp32 only",
             "fid_inception": f"package: fp32 only; {weights} weights", "fid_judge": "package: fp32 only"}
    print_tables(throughput, checks, notes)
    return {
        "config": {"device": device.type, "device_name": device_name(device), "torch": torch.__version__,
                   "python": platform.python_version(), "threads": torch.get_num_threads(), "smoke": args.smoke,
                   "budget_s": args.budget_s, "variants_option": args.variants, "sizes": asdict(sizes),
                   "data": "synthetic", "inception_weights": weights,
                   "tf32": {"cudnn": torch.backends.cudnn.allow_tf32,
                            "matmul": torch.backends.cuda.matmul.allow_tf32}},
        "calibration_pass_seconds": pass_seconds,
        "plan": asdict(plan),
        "images_per_second": throughput,
        "training": {name: {k: v for k, v in run.items() if k != "state"} for name, run in training.items()},
        "evaluation": evaluations,
        "checks": [{**asdict(c), "rule": c.rule} for c in checks],
        "probe": probed,
        "tolerances": {name: asdict(t) for name, t in TOLERANCES.items()},
        "passed": not failed(checks),
    }


if __name__ == "__main__":
    sys.exit(main())
