"""What do our attribution wrappers cost beyond the library calls they wrap?

Measures, on the same model and the same images, side by side in one run:

  (a) captum:  a bare ``captum.attr.IntegratedGradients`` call on the softmax probability of
               the predicted class (trapezoid rule, N points, black baseline);
  (b) ours:    ``robinterp.attribution.integrated_gradients`` with the same settings;
  (c) SHAP, ``shap.GradientExplainer.shap_values`` explaining every output (``ranked_outputs=None``);
  (d) SHAP through ``robinterp.attribution.expected_gradients_shap`` (``ranked_outputs=1``, the paper's).

Each gets one warm-up call, then R rounds run them in turn (interleaved, so background load
hits all alike) and the median of each is reported. b/a is our IG wrapper's overhead (target
≤ 1.05; the values must be equal, which is checked); d/c is what explaining only the predicted
class saves.

Usage::

    python benchmarks/bench_attribution.py [--device cpu|cuda] [--arch resnet_small|resnet18_cifar]
        [--batch N] [--points N] [--nsamples N] [--background N] [--repeats R] [--threads T] [--json PATH]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from robinterp.attribution.methods import expected_gradients_shap, integrated_gradients
from robinterp.models.running import predicted_class
from robinterp.models.architectures import build_model

# The script runs as ``python benchmarks/bench_attribution.py``: make its sibling common.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CIFAR_MEAN, CIFAR_STD, add_common_arguments, configure, interleaved_medians, write_json  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(p, default_arch="resnet18_cifar")
    p.add_argument("--batch", type=int, default=4, help="images explained per call (default 4)")
    p.add_argument("--points", type=int, default=51, help="IG points (default 51, the author's)")
    p.add_argument("--nsamples", type=int, default=50, help="SHAP samples per image (default 50)")
    p.add_argument("--background", type=int, default=32, help="SHAP background images (default 32)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import shap
    from captum.attr import IntegratedGradients

    device = configure(args)
    model = build_model(args.arch, 10, 3, CIFAR_MEAN, CIFAR_STD).to(device).eval()
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    background = torch.rand(args.background, 3, 32, 32, device=device)
    target = predicted_class(model, x)
    captum_ig = IntegratedGradients(lambda inp: F.softmax(model(inp), dim=1))

    def bare_captum():
        return captum_ig.attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=args.points,
                                   method="riemann_trapezoid")

    def ours_ig():
        return integrated_gradients(model, x, target, n_points=args.points, baseline="black")

    def shap_all_outputs():
        explainer = shap.GradientExplainer(model, background, batch_size=50)
        return explainer.shap_values(x, nsamples=args.nsamples, rseed=args.seed)

    def ours_shap():
        return expected_gradients_shap(model, x, background, nsamples=args.nsamples, seed=args.seed)

    max_abs_diff = (bare_captum() - ours_ig()).abs().max().item()
    methods = {"a_captum_ig": bare_captum, "b_ours_ig": ours_ig, "c_shap_all_outputs": shap_all_outputs,
               "d_ours_shap_ranked1": ours_shap}
    median, times = interleaved_medians(methods, args.repeats, device)
    result = {"settings": vars(args), "platform": platform.platform(), "torch": torch.__version__,
              "median_seconds": median, "min_seconds": {n: min(t) for n, t in times.items()},
              "max_seconds": {n: max(t) for n, t in times.items()},
              "ratio_b_over_a": median["b_ours_ig"] / median["a_captum_ig"],
              "ratio_d_over_c": median["d_ours_shap_ranked1"] / median["c_shap_all_outputs"],
              "ig_max_abs_difference": max_abs_diff}
    print(f"{args.arch} on {args.device}, batch {args.batch}, IG {args.points} points, SHAP {args.nsamples} samples "
          f"× {args.background} background, median of {args.repeats}")
    for name, value in median.items():
        print(f"  {name:22s} {value:8.3f} s   (min {min(times[name]):.3f}, max {max(times[name]):.3f})")
    print(f"  b/a (our IG / bare captum)             = {result['ratio_b_over_a']:.2f}   "
          f"max |difference| = {max_abs_diff:.2e}")
    print(f"  d/c (SHAP ranked_outputs=1 / all outputs) = {result['ratio_d_over_c']:.2f}")
    if not np.isclose(max_abs_diff, 0.0, atol=1e-6):
        sys.exit(f"our IG differs from captum's by {max_abs_diff}: not the same computation")
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
