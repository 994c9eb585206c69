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
import json
import platform
import statistics
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F

from robinterp.attacks import L2Threat, pgd_attack
from robinterp.models import build_model

CIFAR_MEAN, CIFAR_STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--arch", choices=["resnet_small", "resnet18_cifar"], default="resnet18_cifar")
    p.add_argument("--batch", type=int, default=16, help="images per batch (default 16)")
    p.add_argument("--steps", type=int, default=5, help="PGD steps K = gradient passes (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats R of each method (default 5)")
    p.add_argument("--eps", type=float, default=0.5, help="L2 radius (default 0.5, SPEC §3 CIFAR-10)")
    p.add_argument("--step-size", type=float, default=0.1, help="L2 step size (default 0.1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: 1 on cpu, see README; torch's default on cuda); "
                        "0 = torch's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", default=None, help="also write the numbers to PATH")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torchattacks

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device available")
    if args.threads is None and args.device == "cpu":
        # One thread by default: on a CPU shared with other jobs, OpenMP barriers across busy
        # cores made every pass up to 10x slower and the timings erratic (README).
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)

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

    def timed(fn: Callable[[], torch.Tensor]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    methods = {"a_bare_grad": bare, "b_ours_pgd_attack": ours, "c_torchattacks_PGDL2": theirs}
    for fn in methods.values():  # warm-up: allocator, cuDNN/oneDNN algorithm choice, lazy init
        timed(fn)
    samples = {name: [] for name in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            samples[name].append(timed(fn))

    median = {name: statistics.median(ts) for name, ts in samples.items()}
    result = {
        "config": {**vars(args), "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "torchattacks": torchattacks.__version__, "python": platform.python_version(),
                   "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                                   else platform.processor() or platform.machine())},
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
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
