"""Pieces shared by the benchmark scripts: common options, device setup, timing, JSON output.

The scripts run as ``python benchmarks/bench_x.py`` and import this file as a sibling
module (``from common import ...``), so it is not part of the installed package.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Any, Callable

import torch

CIFAR_MEAN, CIFAR_STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
ARCHS = ["resnet_small", "resnet18_cifar"]


def add_common_arguments(parser: argparse.ArgumentParser, *, default_arch: str = "resnet18_cifar",
                         default_repeats: int = 5) -> argparse.ArgumentParser:
    """Add ``--device``, ``--arch``, ``--repeats``, ``--threads``, ``--seed`` and ``--json`` to ``parser``."""
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--arch", choices=ARCHS, default=default_arch)
    parser.add_argument("--repeats", type=int, default=default_repeats,
                        help=f"timed rounds R, each running every method once (default {default_repeats})")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: 1 on cpu, see README; torch's default on cuda); "
                             "0 = torch's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the numbers to PATH")
    return parser


def configure(args: argparse.Namespace) -> torch.device:
    """Check the device, set the number of torch threads and the seed; return the device.

    Exits with a message when ``--device cuda`` is asked for and there is none. Sets
    ``args.threads`` to 1 on CPU when it was not given.
    """
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device available")
    if args.threads is None and args.device == "cpu":
        # One thread by default: on a CPU shared with other jobs, OpenMP barriers across busy
        # cores made every pass up to 10x slower and the timings erratic (README).
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.device(args.device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of one call of ``fn``; on CUDA bracketed by ``torch.cuda.synchronize()``."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    tic = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - tic


def interleaved_medians(methods: dict[str, Callable[[], object]], repeats: int,
                        device: torch.device) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Time ``methods`` side by side: one warm-up call of each, then ``repeats`` interleaved rounds.

    The warm-up absorbs one-off costs (allocator, cuDNN/oneDNN algorithm choice, lazy
    initialisation). Each round calls every method once, in order, so drifting clocks or
    background load hit all of them alike.

    Returns:
        ``(median seconds per method, all timed seconds per method)``.
    """
    for fn in methods.values():
        timed(fn, device)
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            samples[name].append(timed(fn, device))
    return {name: statistics.median(ts) for name, ts in samples.items()}, samples


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the processor (or machine) name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def write_json(path: str | None, result: dict[str, Any]) -> None:
    """Write ``result`` to ``path`` as indented JSON; do nothing when ``path`` is None."""
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
