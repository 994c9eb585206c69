"""How much does our PGD loop cost beyond the gradients it needs, and how does it compare with torchattacks?

Measures, on the same model and the same batch, side by side in one run:

  (a) bare:         K forward+backward passes computing only the input gradient
                    (``torch.autograd.grad(F.cross_entropy(model(x), y, reduction='none').sum(), x)``,
                    model in eval mode): the floor any K-step PGD must pay;
  (b) ours:         ``robinterp.attacks.pgd_attack`` with K L2 steps;
  (c) torchattacks: ``torchattacks.PGDL2`` with K steps (``random_start=False`` like ours).

After a warm-up of each, the three are timed in turn R times (interleaved, so
drifting clocks or background load hit all three alike) and the median of each
is reported. b/a is our loop's overhead over the bare gradients (1.00 = none);
b/c is our speed relative to the reference implementation (< 1 = faster).

Usage::

    python benchmarks/bench_pgd.py [--device cpu|cuda] [--arch resnet_small|resnet18_cifar]
                                   [--batch N] [--steps K] [--repeats R] [--threads T] [--json PATH]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from robinterp.attacks.pgd import pgd_attack
from robinterp.attacks.threats import L2Threat
from robinterp.models.architectures import build_model

# The script runs as ``python benchmarks/bench_pgd.py``: make its sibling common.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (CIFAR_MEAN, CIFAR_STD, add_common_arguments, configure, device_name,  # noqa: E402
                    interleaved_medians, write_json)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(p, default_arch="resnet18_cifar")
    p.add_argument("--batch", type=int, default=16, help="images per batch (default 16)")
    p.add_argument("--steps", type=int, default=5, help="PGD steps K = gradient passes (default 5)")
    p.add_argument("--eps", type=float, default=0.5, help="L2 radius (default 0.5: CIFAR-10 in Boychev 2023)")
    p.add_argument("--step-size", type=float, default=0.1, help="L2 step size (default 0.1)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torchattacks

    device = configure(args)
    model = build_model(args.arch, 10, 3, CIFAR_MEAN, CIFAR_STD).to(device).eval()
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    k = args.steps
    threat = L2Threat(args.eps, args.step_size)

    def bare():
        for _ in range(k):
            xi = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xi), y, reduction="none").sum(), xi)
        return g

    def ours():
        return pgd_attack(model, x, y, threat, k)

    reference = torchattacks.PGDL2(model, eps=args.eps, alpha=args.step_size, steps=k, random_start=False)

    def theirs():
        return reference(x, y)

    methods = {"a_bare_grad": bare, "b_ours_pgd_attack": ours, "c_torchattacks_PGDL2": theirs}
    median, samples = interleaved_medians(methods, args.repeats, device)
    result = {
        "config": {**vars(args), "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "torchattacks": torchattacks.__version__, "python": platform.python_version(),
                   "device_name": device_name(device)},
        "seconds_median": median,
        "seconds_all": samples,
        "images_per_second": {name: args.batch / t for name, t in median.items()},
        "ratio_b_over_a": median["b_ours_pgd_attack"] / median["a_bare_grad"],
        "ratio_b_over_c": median["b_ours_pgd_attack"] / median["c_torchattacks_PGDL2"],
    }

    print(f"{args.arch} on {args.device} ({result['config']['device_name']}, {torch.get_num_threads()} threads), "
          f"batch {args.batch} of 3x32x32, K={k} steps, median of {args.repeats}")
    print(f"{'method':<24}{'seconds':>10}{'images/s':>11}{'min s':>9}{'max s':>9}")
    for name, t in median.items():
        print(f"{name:<24}{t:>10.4f}{args.batch / t:>11.1f}{min(samples[name]):>9.4f}{max(samples[name]):>9.4f}")
    print(f"b/a (our loop vs bare K gradients): {result['ratio_b_over_a']:.3f}")
    print(f"b/c (ours vs torchattacks.PGDL2):   {result['ratio_b_over_c']:.3f}")
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
