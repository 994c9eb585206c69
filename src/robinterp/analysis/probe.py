"""A short probe of this machine: the seconds of each pass of each model a config runs, for the plan.

For every (architecture, input size) of a config (its datasets' models, the judges, Inception for the
FID), :func:`probe_model` times the four passes of :mod:`robinterp.analysis.cost` at two batch sizes
on random images, and fits ``seconds = per_call + B·per_image`` through them; :func:`start_seconds`
times a job's start (a fresh Python importing torch and the CLI) and what each rule's job module and the slow
imports (shap) add. On CUDA every model is also timed under bf16 autocast (the
``amp_bf16`` settings). The numbers go to a JSON file that ``python -m robinterp plan`` reads
(:meth:`robinterp.analysis.plan.Throughputs.from_dict`).
"""

from __future__ import annotations

import datetime
import logging
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn.functional as F

from robinterp.analysis.cost import INCEPTION, INCEPTION_SHAPE, PASS_KINDS, RULE_MODULES, ModelKey, PassCost
from robinterp.models.architectures import build_model
from robinterp.models.running import autocast, full_precision

log = logging.getLogger(__name__)

#: What every job imports before its first pass (the CLI, torch through the data store); the CLI then imports
#: its stage's job module (cost.RULE_MODULES), which imports the rest.
BASE_MODULES = ("robinterp.cli.main", "robinterp.data.store")
#: Imports a job module's functions make when they run (shap's explainer, in the attribution jobs).
SLOW_IMPORTS = {"robinterp.attribution.job": ("shap",)}


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device: torch.device) -> Callable[[], float]:
    """The clock a timing reads: wall-clock time on CUDA; on the CPU this process's CPU time per torch thread,
    which a machine shared with other jobs inflates far less than the wall clock (a job with its cores to
    itself takes that long; one that shares them takes longer, as the plan's comparison shows)."""
    if device.type == "cuda":
        return time.perf_counter
    threads = torch.get_num_threads()
    return lambda: time.process_time() / threads


def time_call(fn: Callable[[], object], device: torch.device, budget: float, min_repeats: int = 3) -> float:
    """The fewest seconds of ``fn`` after one warm-up call: at least ``min_repeats`` calls, more while within
    ``budget`` (seconds of the wall clock), at most 50. The fewest, as :mod:`timeit` advises: what other processes
    on the machine add to a call is noise that varies from run to run (on the 2-core development machine, with a
    job on the other core, the median of one pass varied by ±30 % between probes, the minimum by less)."""
    clock = _clock(device)
    fn()
    _synchronise(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - start < budget and len(times) < 50):
        tic = clock()
        fn()
        _synchronise(device)
        times.append(clock() - tic)
        if time.perf_counter() - start > 4 * budget and len(times) >= 2:  # slow calls: two are enough
            break
    return min(times)


def random_inception(device: torch.device) -> torch.nn.Module:
    """torch-fidelity's FID Inception-V3 with random weights (the real ones are a download), as the package
    runs it (:class:`robinterp.synthesis.features.InceptionFeatures`): for timing only, its features mean nothing."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from robinterp.synthesis.features import InceptionFeatures

    class RandomInceptionV3(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None  # keep the random initialisation

    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.pth"
        torch.save({}, empty)  # torch-fidelity torch.loads its path before load_state_dict
        net = RandomInceptionV3("inception-v3-compat", ["2048", "192"], feature_extractor_weights_path=str(empty))
        weights = Path(folder) / "random-inception.pth"
        torch.save(net.state_dict(), weights)
        import hashlib

        prefix = hashlib.sha256(weights.read_bytes()).hexdigest()[:8]
        return InceptionFeatures(weights, sha256_prefix=prefix).to(device)


def pass_functions(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool) -> dict[str, Callable]:
    """The four passes of :mod:`robinterp.analysis.cost` on one batch, as the package's jobs run them."""
    device = x.device
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def logits(inputs):
        with autocast(device, amp):
            return full_precision(model(inputs))

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(logits(x), y, reduction="sum").backward()
        optimizer.step()

    def grad():
        model.eval()
        xi = x.detach().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(logits(xi), y, reduction="none").sum(), xi)[0]

    def double():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        xi = x.detach().requires_grad_(True)
        ce = F.cross_entropy(logits(xi), y, reduction="none")
        (g,) = torch.autograd.grad(ce.sum(), xi, create_graph=True)
        (ce + 0.1 * full_precision(g).flatten(1).pow(2).sum(1)).sum().backward()
        optimizer.step()

    def fwd():
        model.eval()
        with torch.no_grad():
            return logits(x)

    return {"train": train, "grad": grad, "double": double, "fwd": fwd}


def probe_model(key: ModelKey, num_classes: int, device: torch.device, batches: tuple[int, int],
                budget: float) -> dict[str, PassCost]:
    """Time the passes of one model at two batch sizes and fit :class:`~robinterp.analysis.cost.PassCost`.

    Args:
        key: the architecture, input shape and precision.
        num_classes: outputs of the model.
        device: where to time.
        batches: the small and the large batch size.
        budget: seconds to spend on each timing (at least three calls each).
    """
    torch.manual_seed(0)
    c = key.shape[0]
    if key.arch == INCEPTION:
        model, kinds = random_inception(device), ("fwd",)
    else:
        model = build_model(key.arch, num_classes, c, [0.5] * c, [0.25] * c).to(device)
        kinds = PASS_KINDS
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    for batch in batches:
        if key.arch == INCEPTION:
            x = torch.rand(batch, 3, 32, 32, device=device)

            def features():
                with torch.no_grad():
                    return model(x)

            fns = {"fwd": features}
        else:
            x = torch.rand(batch, *key.shape, device=device)
            y = torch.randint(0, num_classes, (batch,), device=device)
            fns = pass_functions(model, x, y, key.amp)
        for kind in kinds:
            seconds[kind].append(time_call(fns[kind], device, budget))
    small, large = batches
    out = {}
    for kind, (t_small, t_large) in seconds.items():
        per_image = max((t_large - t_small) / (large - small), t_large / large * 0.05)
        out[kind] = PassCost(max(0.0, t_large - large * per_image), per_image)
    if key.arch != INCEPTION and not key.amp:
        out["shap"] = probe_shap(model, key, num_classes, device, out, budget)
    return out


def probe_shap(model: torch.nn.Module, key: ModelKey, num_classes: int, device: torch.device,
               costs: Mapping[str, PassCost], budget: float, images: int = 4, samples: int = 32) -> PassCost:
    """What shap's GradientExplainer spends beyond the model's passes (its Python loop over the images, drawing
    and weighting the samples): :func:`robinterp.attribution.methods.expected_gradients_shap` on ``images``
    images with ``samples`` samples, less the passes :func:`robinterp.analysis.cost` counts for it; as a
    :class:`~robinterp.analysis.cost.PassCost` per explained image (``per_call``) and per sample (``per_image``)."""
    from robinterp.attribution.methods import expected_gradients_shap

    x = torch.rand(images, *key.shape, device=device)
    background = torch.rand(16, *key.shape, device=device)

    def explain(n: int):
        return lambda: expected_gradients_shap(model, x, background, nsamples=n, seed=0, batch_size=samples)

    totals = {n: time_call(explain(n), device, budget) for n in (samples // 4, samples)}
    for n in totals:  # less the passes: one forward of the images, and per image its samples' gradients
        totals[n] -= costs["fwd"].seconds(images, 1) + costs["grad"].seconds(images * n, images)
    few, many = samples // 4, samples
    per_sample = max(0.0, (totals[many] - totals[few]) / (images * (many - few)))
    return PassCost(max(0.0, totals[many] / images - many * per_sample), per_sample)


def start_seconds(clock: str) -> tuple[float, dict[str, float]]:
    """Seconds every job spends starting, and those each rule's job module and the slow imports add.

    Per job module of :data:`~robinterp.analysis.cost.RULE_MODULES`, a fresh Python imports what every job
    imports (:data:`BASE_MODULES`: torch, the CLI, the data store), then the module (and, for attribution, shap).
    The common start-up is the child's whole time less the module's share (with ``clock="cpu"`` its CPU time,
    user and system, as Snakemake's ``cpu_time`` counts it, interpreter start included; else the wall clock),
    the fewest over the children; each module's share is its own import's time in its child.
    """
    timer = "time.process_time()" if clock == "cpu" else "time.perf_counter()"
    starts, imports = [], {}
    for module in sorted(set(RULE_MODULES.values())):
        extra = [module, *SLOW_IMPORTS.get(module, ())]
        code = "\n".join(["import time", *(f"import {m}" for m in BASE_MODULES),
                           *(f"t = {timer}; import {m}; print({timer} - t)" for m in extra)])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        tic = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime if clock == "cpu"
                 else time.perf_counter() - tic)
        values = [float(v) for v in out.stdout.split()]
        for name, value in zip(extra, values):
            imports[name] = value
        starts.append(total - sum(values))
    return min(starts), imports


def device_description(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {threads} thread{'s' if threads != 1 else ''}"


def probe(models: Mapping[ModelKey, int], device: torch.device, *, batches: tuple[int, int], budget: float,
          threads: int | None = None, start_up: bool = True) -> dict:
    """Probe every model of ``models`` (key → number of classes) and the start-up; the JSON the plan reads.

    On CUDA each model is also timed under bf16 autocast (its ``+bf16`` key). ``start_up=False`` skips the
    start-up's children (seven fresh Pythons, ~20 s) and records none.
    """
    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    keys = dict(models)
    if device.type == "cuda":
        keys |= {ModelKey(k.arch, k.shape, True): n for k, n in models.items() if k.arch != INCEPTION}
    entries = {}
    for key, num_classes in keys.items():
        tic = time.perf_counter()
        costs = probe_model(key, num_classes, device, batches, budget)
        entries[str(key)] = {"passes": {k: {"per_call": c.per_call, "per_image": c.per_image} for k, c in costs.items()},
                             "images_per_second": {k: c.images_per_second(batches[1]) for k, c in costs.items()
                                                   if k in PASS_KINDS}}
        log.info("%s: %s (%.1f s)", key, ", ".join(f"{k} {c.images_per_second(batches[1]):.0f} img/s"
                                                   for k, c in costs.items() if k in PASS_KINDS),
                 time.perf_counter() - tic)
    description = device_description(device, threads)
    clock = "wall" if device.type == "cuda" else "cpu"
    startup, imports = start_seconds(clock) if start_up else (0.0, {})
    today = datetime.date.today().isoformat()
    return {"note": f"measured {today} on {description}, torch {torch.__version__}, {clock} clock", "device": description,
            "kind": device.type, "threads": threads, "batches": list(batches), "clock": clock, "startup": startup, "imports": imports, "models": entries}


def config_models(config: Mapping, layouts: Mapping[str, object]) -> dict[ModelKey, int]:
    """The (architecture, input shape) → classes of every model a config runs: each dataset's, its judge's,
    and Inception where the FID uses it."""
    models: dict[ModelKey, int] = {}
    for name, spec in config["datasets"].items():
        layout = layouts[name]
        models[ModelKey(spec["model"]["arch"], layout.image_shape)] = layout.num_classes
        synthesis = spec["synthesis"]
        if synthesis["features"] == "judge":
            arch = (synthesis.get("judge") or {}).get("arch", spec["model"]["arch"])
            models[ModelKey(arch, layout.image_shape)] = layout.num_classes
        else:
            models[ModelKey(INCEPTION, INCEPTION_SHAPE)] = 1008
    return models


def parse_model_key(text: str) -> ModelKey:
    """``arch@CxHxW`` (as the probe's keys) → :class:`~robinterp.analysis.cost.ModelKey`."""
    arch, _, shape = text.partition("@")
    try:
        c, h, w = (int(v) for v in shape.split("x"))
    except ValueError:
        raise ValueError(f"{text!r}: give a model as ARCH@CxHxW, e.g. resnet18_cifar@3x32x32") from None
    return ModelKey(arch, (c, h, w))


def format_probe(result: Mapping) -> str:
    """The probe's numbers as a table: images/s of each pass at the large batch, and the per-call overhead."""
    batch = result["batches"][1]
    start_up = (f"job start-up {result['startup']:.2f} s; then " + ", ".join(f"import {m} {s:.2f} s"
                                                                         for m, s in result["imports"].items())
                if result["imports"] else "job start-up not measured")
    lines = [f"probe: {result['note']}", start_up,
             f"{'model':<32}" + "".join(f"{kind + ' img/s':>14}" for kind in PASS_KINDS) + f"{'per call':>12}"]
    for name, entry in result["models"].items():
        rates = entry["images_per_second"]
        overhead = max(p["per_call"] for p in entry["passes"].values())
        lines.append(f"{name:<32}" + "".join(f"{rates[k]:>14.0f}" if k in rates else f"{'':>14}" for k in PASS_KINDS)
                     + f"{1000 * overhead:>10.2f}ms")
    lines.append(f"(images/s at batch {batch}; per call: the largest fitted overhead of one call, in ms)")
    return "\n".join(lines)


def run_probe(models: Mapping[ModelKey, int], device: torch.device, *, batches: tuple[int, int], budget: float,
              threads: int | None, out: str | Path | None, repeat: int = 1, start_up: bool = True) -> dict:
    """The ``probe`` command: probe ``models`` (``repeat`` times, keeping the medians; ``start_up`` as
    :func:`probe`), write the JSON to ``out`` when given."""
    from robinterp.base.io import write_json

    runs = [probe(models, device, batches=batches, budget=budget, threads=threads, start_up=start_up)
            for _ in range(max(1, repeat))]
    result = runs[0] if len(runs) == 1 else median_of(runs)
    if out is not None:
        write_json(out, result)
    return result


def median_of(results: list[Mapping]) -> dict:
    """The per-number median of several probes of the same models (``python -m robinterp probe --median``): on a
    machine shared with other jobs one probe's numbers vary by up to ±30 % between runs, their median less."""
    import statistics

    first = results[0]
    out = {**first, "startup": statistics.median(r["startup"] for r in results),
           "imports": {m: statistics.median(r["imports"][m] for r in results) for m in first["imports"]}}
    models = {}
    for name, entry in first["models"].items():
        passes = {kind: {field: statistics.median(r["models"][name]["passes"][kind][field] for r in results)
                         for field in ("per_call", "per_image")} for kind in entry["passes"]}
        models[name] = {"passes": passes,
                        "images_per_second": {k: PassCost(**p).images_per_second(first["batches"][1])
                                              for k, p in passes.items() if k in PASS_KINDS}}
    out["models"] = models
    out["note"] = f"median of {len(results)} probes: " + "; ".join(r["note"] for r in results[:1])
    return out
