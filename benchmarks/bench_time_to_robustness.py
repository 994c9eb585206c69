"""Time to robustness: how long each robust training method needs to reach a PGD-L2 accuracy, side by side.

On the demo's data and model, with the demo config's settings of each method (``config/demo.yaml``: ``robust_l2``,
PGD-L2 training with K steps, Madry et al. 2018; ``fgsm_rs``, FGSM from a random start with the one-cycle learning
rate, Wong et al. 2020; ``free``, m replays of every minibatch, Shafahi et al. 2019), every method is trained once
in this process through the package's training loop, and every ``--every`` optimisation steps the model is measured
on held-out test digits under the demo's evaluation attack (``evaluation.attacks.pgd_l2``). The training clock
excludes these measurements. Per method it reports the training seconds, the forward-backward passes per training
image, the last measurement's clean and PGD-L2 accuracy, and the first time it comes within ``--margin`` points of
the reference method's (``robust_l2``) last PGD-L2 accuracy, as a share of the reference's whole time.

The issue's target on the demo digits: ``fgsm_rs`` or ``free`` within 2 points of ``robust_l2`` in at most a
quarter of its time.

Usage::

    python benchmarks/bench_time_to_robustness.py [--methods robust_l2 fgsm_rs free] [--every 5]
                                                  [--n-eval 500] [--margin 2] [--threads T] [--json PATH]
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from robinterp.attacks.accuracy import evaluate_accuracy
from robinterp.attacks.spec import AttackSpec
from robinterp.base.config import from_dict, validate_section
from robinterp.data.demo import prepare_demo_digits
from robinterp.data.store import load_prepared
from robinterp.data.subsets import stratified_order
from robinterp.models.architectures import build_model, model_spec
from robinterp.training.loop import train, train_val_indices
from robinterp.training.settings import TrainSettings, method_train_section

# The script runs as ``python benchmarks/bench_time_to_robustness.py``: make its sibling common.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import configure, device_name, write_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(REPO / "config" / "demo.yaml"), help="the demo config (default)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--methods", nargs="+", default=["robust_l2", "fgsm_rs", "free"],
                   help="methods of the config's dataset; the first is the reference")
    p.add_argument("--every", type=int, default=5, help="measure every this many optimisation steps (default 5)")
    p.add_argument("--n-eval", type=int, default=500, help="held-out test images measured (default 500)")
    p.add_argument("--margin", type=float, default=2.0, help="points below the reference's accuracy (default 2)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 1 on cpu; 0 = torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", default=None, help="also write the numbers to PATH")
    return p.parse_args(argv)


def method_settings(dataset: dict, method: str) -> TrainSettings:
    """The method's training settings as the workflow builds them (dataset ``train``, method changes on top)."""
    values = method_train_section(dataset, method)
    validate_section(values, TrainSettings.SCHEMA, f"methods.{method}")
    return from_dict(TrainSettings, values, f"methods.{method}")


def passes_per_step(s: TrainSettings) -> int:
    """Forward-backward passes over a batch in one optimisation step: the attack's steps + the update's one.

    Free training's one pass per step also gives its perturbation's gradient.
    """
    objective = s.training_objective()
    if objective.name == "free" or s.attack is None:
        return 1
    return s.attack.steps + 1


def run_method(name: str, s: TrainSettings, data, model_settings: dict, eval_idx: np.ndarray, attack: AttackSpec,
               args, device: torch.device, workdir: Path) -> dict:
    """Train one method, measuring it every ``args.every`` steps; returns its curve and totals."""
    train_split, test_split = data["train"], data["test"]
    n_train = len(train_val_indices(len(train_split), s.val_size, args.seed)[0])
    batches = math.ceil(n_train / s.batch_size)
    total_steps = s.epochs * batches * s.training_objective().replays
    curve, spent = [], {"measuring": 0.0}

    def measure(step: int, model: torch.nn.Module) -> None:
        if step % args.every and step != total_steps:
            return
        tic = time.perf_counter()
        was_training = model.training
        acc = evaluate_accuracy(model, test_split, {"pgd_l2": attack}, batch_size=250, device=device,
                                indices=eval_idx, seed=args.seed)
        model.train(was_training)
        spent["measuring"] += time.perf_counter() - tic
        curve.append({"step": step, "seconds": time.perf_counter() - start - spent["measuring"],
                      "clean": acc["clean_accuracy"], "pgd_l2": acc["pgd_l2_accuracy"]})

    spec = model_spec(model_settings["arch"], data.num_classes, data.image_shape[0], model_settings["mean"],
                      model_settings["std"])
    torch.manual_seed(args.seed)
    model = build_model(**spec)
    start = time.perf_counter()
    train(model, train_split, s, seed=args.seed, device=device, checkpoint_path=workdir / f"{name}.pt",
          after_step=measure)
    seconds = time.perf_counter() - start - spent["measuring"]
    return {"curve": curve, "seconds": seconds, "steps": total_steps, "epochs": s.epochs,
            "passes_per_image": total_steps * passes_per_step(s) / batches,
            "final_clean": curve[-1]["clean"], "final_pgd_l2": curve[-1]["pgd_l2"]}


def first_reach(curve: list[dict], target: float) -> dict | None:
    """The first measurement at or above ``target`` PGD-L2 accuracy, or None."""
    return next((point for point in curve if point["pgd_l2"] >= target), None)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = configure(args)
    config = yaml.safe_load(Path(args.config).read_text())
    dataset = config["datasets"][args.dataset]
    prepare = dataset["prepare"]
    if prepare.get("source") != "demo_digits":
        sys.exit(f"{args.config}: datasets.{args.dataset} is not the demo digits (prepare.source demo_digits)")
    attack = from_dict(AttackSpec, dataset["evaluation"]["attacks"]["pgd_l2"], "evaluation.attacks.pgd_l2")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = load_prepared(prepare_demo_digits(workdir / "data", prepare["test_size"], prepare["seed"]))
        eval_idx = stratified_order(np.asarray(data["test"].labels), args.seed)[:args.n_eval]
        for name in args.methods:
            results[name] = run_method(name, method_settings(dataset, name), data, dataset["model"], eval_idx, attack,
                                       args, device, workdir)
    reference = args.methods[0]
    target = results[reference]["final_pgd_l2"] - args.margin
    for name, r in results.items():
        hit = first_reach(r["curve"], target)
        r["reached_at_seconds"] = None if hit is None else hit["seconds"]
        r["reached_at_step"] = None if hit is None else hit["step"]
        r["time_share_of_reference"] = None if hit is None else hit["seconds"] / results[reference]["seconds"]

    print(f"{args.dataset}: {len(data['train'])} training images; PGD-L2 ε {attack.eps}, {attack.steps} steps of "
          f"{attack.step_size} on {len(eval_idx)} held-out test images every {args.every} steps; "
          f"{device_name(device)}, {torch.get_num_threads()} thread(s)")
    print(f"target: {reference}'s last PGD-L2 accuracy {results[reference]['final_pgd_l2']:.1f} % − {args.margin:g} "
          f"= {target:.1f} %")
    print(f"{'method':<12}{'epochs':>7}{'passes/img':>11}{'train s':>9}{'clean %':>9}{'PGD-L2 %':>10}"
          f"{'reached at s':>14}{'share of ref':>14}")
    for name, r in results.items():
        reached = "never" if r["reached_at_seconds"] is None else f"{r['reached_at_seconds']:.1f}"
        share = "-" if r["time_share_of_reference"] is None else f"{r['time_share_of_reference']:.2f}"
        print(f"{name:<12}{r['epochs']:>7}{r['passes_per_image']:>11.1f}{r['seconds']:>9.1f}{r['final_clean']:>9.1f}"
              f"{r['final_pgd_l2']:>10.1f}{reached:>14}{share:>14}")
    result = {"config": {**vars(args), "threads": torch.get_num_threads(), "torch": torch.__version__,
                         "python": platform.python_version(), "device_name": device_name(device)},
              "target_pgd_l2": target, "methods": results}
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
