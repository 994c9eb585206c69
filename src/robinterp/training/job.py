"""The training job: one model from a prepared dataset to its model file and history, under DDP when started so."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import torch

from robinterp.base.io import write_text
from robinterp.data.store import load_prepared
from robinterp.models.architectures import build_model, model_spec
from robinterp.models.checkpoint import save_model
from robinterp.training.distributed import init_data_parallel, shutdown, sync_batchnorm
from robinterp.training.loop import history_csv, train
from robinterp.training.preemption import StopRequest
from robinterp.training.settings import TrainSettings

log = logging.getLogger(__name__)


def run_training(data_path: str | Path, model_settings: Mapping, settings: TrainSettings, *, seed: int,
                 device: torch.device, threads: int | None, checkpoint: Path, history_out: Path, model_out: Path,
                 stop: StopRequest | None = None) -> None:
    """Train one model and write its selected weights and its history; resume from ``checkpoint`` if present.

    Args:
        data_path: the prepared dataset (folder or its meta.json).
        model_settings: the dataset's ``model`` section (``arch``, ``mean``, ``std``).
        settings: how to train.
        seed: seed of the initialisation, the split, shuffling, augmentation and attack starts.
        device: where to train (under ``torchrun``, each process takes its local GPU).
        threads: the job's CPU threads, shared by its processes; None keeps torch's default.
        checkpoint: the resumable state, rewritten after every epoch and on a stop signal.
        history_out, model_out: the per-epoch CSV and the model file, written only at the end, so a
            job killed earlier (time limit, preemption) leaves none behind.
        stop: an entered :class:`~robinterp.training.preemption.StopRequest`.
    """
    parallel, device = init_data_parallel(device)
    if threads:
        torch.set_num_threads(max(1, threads // parallel.world_size))  # the job's CPUs, shared
    if not parallel.is_main:  # one process reports progress; the others speak up only for problems
        logging.getLogger().setLevel(logging.WARNING)
    try:
        data = load_prepared(data_path)
        spec = model_spec(model_settings["arch"], data.num_classes, data.image_shape[0], model_settings["mean"],
                          model_settings["std"])
        torch.manual_seed(seed)  # weight initialisation, identical on every process
        model = sync_batchnorm(build_model(**spec), parallel, device)
        log.info("training %s on %s (%s, %d classes) on %s, %d process(es)", spec["arch"], data.name,
                 "×".join(map(str, data.image_shape)), data.num_classes, device, parallel.world_size)
        result = train(model, data["train"], settings, seed=seed, device=device, checkpoint_path=checkpoint,
                       parallel=parallel, stop=stop)
    finally:
        shutdown(parallel)
    if parallel.is_main:
        write_text(history_out, history_csv(result.history))
        model.load_state_dict(result.best_state)
        save_model(model_out, model, spec, extra={"best_epoch": result.best_epoch})
        log.info("saved epoch %d (selected by %s) to %s", result.best_epoch, settings.selection, model_out)
