"""``train`` (one model, resumable, DDP under torchrun), ``launch`` (DDP on several SLURM nodes) and ``plot-training``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from robinterp.base.errors import Preempted, RobinterpError
from robinterp.cli.arguments import add_compute, add_outputs, device, model_settings, replicate_pairs

log = logging.getLogger("robinterp")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(add) -> None:
    sp = add("train", cmd_train, "train one model, resuming from its checkpoint if present")
    sp.add_argument("--data", required=True, help="prepared dataset folder or its meta.json")
    sp.add_argument("--model-settings", required=True, help="JSON: arch, mean, std")
    sp.add_argument("--train-settings", required=True, help="JSON of the train section merged with the method")
    sp.add_argument("--seed", type=int, default=0)
    add_compute(sp)
    sp.add_argument("--checkpoint", required=True, type=Path, help="resumable per-epoch checkpoint")
    sp.add_argument("--history", required=True, type=Path, help="per-epoch CSV")
    sp.add_argument("--out", required=True, type=Path, help="final (selected) model")
    sp.add_argument("--where", default="train", help="config path of the settings, for error messages")

    sp = add("launch", cmd_launch, "inside a SLURM allocation of several nodes: run a command on all of them "
             "(srun, one torchrun agent per node, c10d rendezvous on the first node)")
    sp.add_argument("--nodes", required=True, type=int, help="nodes of the allocation (at least 2)")
    sp.add_argument("--gpus-per-node", required=True, type=int,
                    help="DDP processes per node, one per GPU (0: one CPU process per node)")
    sp.add_argument("--port", required=True, type=int, help="rendezvous port on the allocation's first node")
    sp.add_argument("command", nargs=argparse.REMAINDER, help="-- then the robinterp command, e.g. -- train ...")

    sp = add("plot-training", cmd_plot_training, "training curves of several models")
    sp.add_argument("--history", nargs="+", required=True, help="MODEL=history.csv ..., once per replicate")
    sp.add_argument("--title", required=True)
    add_outputs(sp)


@contextlib.contextmanager
def also_log_to(path: Path):
    """Append this process's log records to ``path`` as well (kept across attempts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", delay=True)  # no file unless something is logged
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def cmd_train(args) -> None:
    from robinterp.training.preemption import StopRequest

    # Catch SLURM's stop signals before the slow imports: one arriving while torch loads
    # would otherwise kill the job before it can say so. Snakemake empties the rule's log
    # before every attempt; the log beside the checkpoint keeps all of them (why a
    # job stopped, where the next one resumed).
    with StopRequest() as stop, also_log_to(args.checkpoint.with_suffix(".log")):
        try:
            _train(args, stop)
        except Preempted as exc:  # logged here so that the attempts log has it too
            log.warning("%s", exc)
            raise


def _train(args, stop) -> None:
    from robinterp.base.config import settings_from_json
    from robinterp.training.job import run_training
    from robinterp.training.settings import TrainSettings

    settings = settings_from_json(TrainSettings, args.train_settings, "--train-settings", args.where)
    run_training(args.data, model_settings(args.model_settings), settings,
                 seed=args.seed, device=device(args.device), threads=args.threads, checkpoint=args.checkpoint,
                 history_out=args.history, model_out=args.out, stop=stop)


def cmd_launch(args) -> None:
    from robinterp.training.launch import exec_multinode

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise RobinterpError("launch: no robinterp command after --")
    if args.nodes < 2:
        raise RobinterpError(f"launch: --nodes is {args.nodes}; one node needs no launch (the workflow runs "
                             "torchrun --standalone or robinterp itself)")
    # sys.executable, not `python`: the interpreter of this job, the same path on every node of a shared filesystem.
    exec_multinode(args.nodes, args.gpus_per_node, args.port, command, sys.executable)


def cmd_plot_training(args) -> None:
    from robinterp.training.figures import plot_training_curves

    plot_training_curves(replicate_pairs(args.history, "--history"), args.title, args.out)
