"""One training loop for standard and adversarial training (paper Algorithm 1) and every other method.

For each batch: augment, optionally replace the batch by PGD adversarial
examples (model in eval mode while attacking, unless the author's option says
otherwise), then one optimiser step on that batch (the method's objective,
:mod:`robinterp.training.step`; free adversarial training takes ``replays``
steps on each batch and carries its perturbation from step to step, in the
checkpoint too). After each epoch: validate
on a split carved from the training data (never the test set), keep the best
weights by the configured rule (never an epoch from a catastrophic overfitting
on: ``TrainSettings.overfit_drop``), and write a resumable checkpoint atomically.

The training attack's ε may be warmed up (``eps_warmup_start``/``eps_warmup_end``,
:mod:`robinterp.training.schedules`): its value at each step is a function of the
global optimisation step, ((epoch − 1)·batches per epoch + batch)·replays + replay,
which the checkpoint determines, so resumed runs repeat it exactly. So is the
learning rate of the ``"steps"`` and ``"cyclic"`` schedules (the scheduler steps
after every optimiser step; the other schedules step after every epoch).

Every random choice (initialisation, shuffling, augmentation, attack starts)
comes from generators seeded by (seed, epoch), so a run killed after any epoch
and resumed from its checkpoint ends with the same weights as an uninterrupted
run on the same device. A run stopped by SIGTERM/SIGUSR1 (SLURM preemption or
time-limit warning) writes a mid-epoch checkpoint holding the epoch generator's
state and resumes at the next batch, with the same guarantee.

With several processes (DDP under ``torchrun``, see :mod:`robinterp.training.distributed`)
every process draws the same random numbers for the global batch and trains on
its shard; rank 0 writes the checkpoint.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from robinterp.data.batches import index_batches, load_batch
from robinterp.data.store import Split
from robinterp.training.distributed import DataParallel
from robinterp.base.errors import CheckpointError, Preempted, TrainingDivergedError
from robinterp.attacks.accuracy import evaluate_accuracy
from robinterp.base.io import save_torch
from robinterp.base.seeds import stream_seed
from robinterp.training.step import StepContext
from robinterp.training.preemption import StopRequest
from robinterp.training.schedules import cyclic_lr_factor, optimisation_step, stepped_lr_factor
from robinterp.training.settings import TrainSettings

log = logging.getLogger(__name__)

HISTORY_FIELDS = ["epoch", "lr", "train_eps", "train_loss", "train_accuracy", "val_clean_accuracy",
                  "val_adv_accuracy", "overfit", "selection_score", "seconds"]


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator of one epoch: a pure function of (seed, epoch), so resumes replay it."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, "training_epoch", epoch))


def train_val_indices(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint training and validation indices of a training split of ``n`` images."""
    order = np.random.default_rng(stream_seed(seed, "train_val_split")).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def make_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    if s.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)


def lr_factor(s: TrainSettings, step: int, total_steps: int) -> float:
    """The factor of ``s.lr`` at global optimisation step ``step`` of a per-step schedule (``"steps"``, ``"cyclic"``).

    Args:
        s: the settings (``lr_schedule`` and its keys).
        step: the global optimisation step (:func:`~robinterp.training.schedules.optimisation_step`).
        total_steps: the run's optimisation steps, epochs · batches per epoch · replays (``"cyclic"`` only).
    """
    if s.lr_schedule == "steps":
        return stepped_lr_factor(step, s.lr_milestones, s.lr_gamma)
    if s.lr_schedule == "cyclic":
        return cyclic_lr_factor(step, total_steps, s.cycle_peak)
    raise ValueError(f"lr_schedule {s.lr_schedule!r} is not a function of the optimisation step")


def make_scheduler(optimizer: torch.optim.Optimizer, s: TrainSettings, total_steps: int):
    """The learning-rate scheduler: stepped once per epoch, except ``"steps"`` and ``"cyclic"``, stepped after every
    optimiser step.

    Those two are a :class:`~torch.optim.lr_scheduler.LambdaLR` of the global step (its counter counts the
    optimiser steps taken and is checkpointed with it), so the rate at every step is ``lr`` times
    :func:`lr_factor` of that step, never a product accumulated over steps.

    Args:
        optimizer: the optimiser whose rate is scheduled.
        s: the settings.
        total_steps: the run's optimisation steps (the length of the ``"cyclic"`` schedule).
    """
    if s.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.cosine_t_max or s.epochs)
    if steps_lr_per_batch(s):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(s, step, total_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def steps_lr_per_batch(s: TrainSettings) -> bool:
    """Whether the scheduler steps after every optimiser step (``"steps"``, ``"cyclic"``) rather than every epoch."""
    return s.lr_schedule in ("steps", "cyclic")


def selection_score(selection: str, clean: float, adv: float | None, epoch: int) -> float:
    """The number checkpoint selection maximises (higher is better)."""
    if selection == "mean_clean_adv":
        return (clean + adv) / 2
    if selection == "clean":
        return clean
    return float(epoch)  # "last": the latest epoch always wins


@dataclass
class TrainResult:
    best_state: dict
    best_epoch: int
    history: list[dict]


@dataclass
class _EpochState:
    """Progress through one epoch: what an interrupted epoch needs to continue exactly.

    ``totals`` holds the sums over the batches done so far (loss, correct,
    examples); ``generator`` the epoch generator's state after batch
    ``next_batch`` − 1.
    """

    epoch: int
    next_batch: int = 0
    totals: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    generator: torch.Tensor | None = None
    seconds: float = 0.0


class _Loop:
    """The state one training run threads through its epochs (model, optimiser, group, files)."""

    def __init__(self, model, s: TrainSettings, *, seed, device, parallel: DataParallel, stop,
                 checkpoint_path: Path, batches_per_epoch: int, after_step=None):
        self.model, self.s, self.seed, self.device = model, s, seed, device
        self.parallel, self.stop, self.checkpoint_path = parallel, stop, checkpoint_path
        self.net = parallel.wrap(model, device)  # what the optimiser steps through; attacks use the bare model
        self.objective = s.training_objective()
        self.objective.check_model(model)  # e.g. CAM objectives need a trunk with feature maps
        self.optimizer = make_optimizer(model, s)
        self.batches_per_epoch, self.replays, self.after_step = batches_per_epoch, self.objective.replays, after_step
        self.total_steps = s.epochs * batches_per_epoch * self.replays  # the length of a "cyclic" schedule
        self.scheduler = make_scheduler(self.optimizer, s, self.total_steps)
        self.completed_epoch, self.best, self.history = 0, None, []
        self.perturbation: torch.Tensor | None = None  # the carried δ of an objective that keeps one (free)
        self.overfit_epoch: int | None = None  # the first epoch the overfitting watch flagged

    def stop_requested(self) -> bool:
        """Whether any process of the group received a stop signal (all processes agree)."""
        flag = float(self.stop is not None and self.stop.requested)
        return self.parallel.sum(torch.tensor([flag], device=self.device)).item() > 0

    def run_epoch(self, split: Split, indices: np.ndarray, state: _EpochState) -> tuple[float, float]:
        """Train one epoch from ``state.next_batch``; returns (mean loss, accuracy %) over the epoch.

        Each batch takes ``objective.replays`` optimiser steps (1, except for free adversarial training); a
        stop signal is honoured after the batch's last one, so a checkpoint never falls between the replays
        of a batch, and the next batch starts afresh after a resume.
        """
        s, model, parallel, device = self.s, self.model, self.parallel, self.device
        model.train()
        generator = epoch_generator(self.seed, state.epoch, device)
        batches = list(index_batches(indices, s.batch_size, generator))  # the shuffle: first draw of the epoch
        if state.generator is not None:
            generator.set_state(state.generator)
        totals = torch.tensor(state.totals, dtype=torch.float64, device=device)
        tic, done_before = time.perf_counter(), totals[2].item()
        for b in range(state.next_batch, len(batches)):
            x, y = load_batch(split, batches[b], device, s.channels_last)
            x = s.augmentation(x, generator)
            # The objective draws its random numbers (attack starts, masks) for the whole global batch
            # on every process and then takes this process's shard, so N processes see exactly the
            # random draws of one process.
            shard = parallel.shard(len(y))
            for replay in range(self.replays):
                step = optimisation_step(state.epoch, b, len(batches), self.replays, replay)
                stats = self.step(x, y, shard, generator, step, f"epoch {state.epoch}, batch {b + 1}/{len(batches)}")
                totals += stats[:3]
                if self.after_step is not None:
                    self.after_step(step + 1, model)
            loss_mean, acc, seen = totals[0].item() / totals[2].item(), 100 * totals[1].item() / totals[2].item(), \
                totals[2].item()
            if (b + 1) % s.log_every == 0 or b + 1 == len(batches):
                rate = (seen - done_before) / (time.perf_counter() - tic)
                log.info("epoch %d/%d batch %d/%d loss %.4f acc %.2f%% (%.0f img/s)",
                         state.epoch, s.epochs, b + 1, len(batches), loss_mean, acc, rate)
            if stats[3].item() > 0:
                partial = _EpochState(state.epoch, b + 1, totals.tolist(), generator.get_state(),
                                      state.seconds + time.perf_counter() - tic)
                self.save(partial)
                raise self.preempted(f"epoch {state.epoch}, batch {b + 1}/{len(batches)}")
        state.seconds += time.perf_counter() - tic
        return totals[0].item() / totals[2].item(), 100 * totals[1].item() / totals[2].item()

    def step(self, x: torch.Tensor, y: torch.Tensor, shard: slice, generator: torch.Generator, step: int,
             where: str) -> torch.Tensor:
        """One optimisation step on the global batch ``(x, y)``, this process training on ``shard``.

        Returns the step's statistics summed over the processes: loss sum, correct, examples, stop flags.
        """
        s, model, parallel, device = self.s, self.model, self.parallel, self.device
        # The step's attack: the ε warm-up's, a function of the global step derived from (epoch, batch, replay),
        # which the checkpoint records, so a resumed run attacks with the ε an uninterrupted one does.
        attack = s.attack_at(step)
        delta = self.carried_rows(x, shard) if self.objective.carries_perturbation else None
        context = StepContext(self.net, model, generator, attack, s.amp_bf16, s.attack_in_train_mode, delta)
        loss_sum, logits = self.objective(context, x, y, shard)
        stop = float(self.stop is not None and self.stop.requested)
        stats = parallel.sum(torch.stack([loss_sum.detach().double(), (logits.argmax(1) == y[shard]).sum().double(),
                                          torch.tensor(len(logits), dtype=torch.float64, device=device),
                                          torch.tensor(stop, dtype=torch.float64, device=device)]))
        if not torch.isfinite(stats[0]):
            raise TrainingDivergedError(
                f"training loss is {stats[0].item()} at {where}; lower train.lr or set train.grad_clip_value in "
                "the config, then re-run (the last good epoch's checkpoint is kept)")
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages gradients over processes: scaling each shard's sum by N / global batch
        # makes that average the gradient of the global batch mean, whatever the shard sizes.
        (loss_sum * (parallel.world_size / stats[2].item())).backward()
        if s.grad_clip_value is not None:
            nn.utils.clip_grad_value_(model.parameters(), s.grad_clip_value)
        self.optimizer.step()
        if steps_lr_per_batch(s):
            self.scheduler.step()  # before a mid-epoch checkpoint, which records the scheduler's counter
        if delta is not None:
            self.carry(context, delta, len(y), shard)
        return stats

    def carried_rows(self, x: torch.Tensor, shard: slice) -> torch.Tensor:
        """This shard's rows of the carried perturbation, as a leaf requiring grad (zeros at the run's first step).

        The carried δ has one row per position of a full global batch; a last, partial batch uses its first rows.
        """
        if self.perturbation is None:
            self.perturbation = torch.zeros((self.s.batch_size, *x.shape[1:]), dtype=x.dtype, device=x.device)
        return self.perturbation[:len(x)][shard].clone().requires_grad_(True)

    def carry(self, context: StepContext, delta: torch.Tensor, n: int, shard: slice) -> None:
        """Replace rows 0 … n − 1 of the carried δ by the objective's update of them, gathered from every process.

        Each process updates its shard's rows from the gradient its backward pass left in ``delta.grad``;
        every row is written by exactly one process (the others add zeros), so the sum over processes is
        the whole batch's δ exactly, and every process keeps the same copy (rank 0's is checkpointed).
        """
        rows = torch.zeros_like(self.perturbation[:n])
        rows[shard] = self.objective.update_perturbation(context, delta.detach(), delta.grad)
        self.perturbation[:n] = self.parallel.sum(rows)

    def validate(self, split: Split, val_idx: np.ndarray, epoch: int) -> dict:
        """Validation accuracies over all of ``val_idx``, each process evaluating its shard."""
        s, parallel = self.s, self.parallel
        attacks = {"adv": s.val_attack} if s.val_attack is not None else {}
        mine = val_idx[parallel.shard(len(val_idx))]
        val = evaluate_accuracy(self.model, split, attacks, batch_size=s.batch_size, device=self.device,
                                indices=mine, seed=stream_seed(self.seed, "validation", epoch), amp=s.amp_bf16)
        names = ["clean"] + list(attacks)
        counts = parallel.sum(torch.tensor([round(val[f"{k}_accuracy"] * len(mine) / 100) for k in names] + [len(mine)],
                                           dtype=torch.float64, device=self.device)).tolist()
        return {f"{k}_accuracy": 100 * c / counts[-1] for k, c in zip(names, counts[:-1])}

    def watch_overfitting(self, epoch: int, adv_accuracy: float | None) -> bool:
        """Whether training has overfitted catastrophically by ``epoch`` (``TrainSettings.overfit_drop``).

        Flags the first epoch whose validation accuracy under ``val_attack`` lies more than
        ``overfit_drop`` points below the best of the earlier epochs, logs it, and stays flagged.
        """
        drop = self.s.overfit_drop
        if self.overfit_epoch is None and drop is not None and adv_accuracy is not None:
            earlier = [row["val_adv_accuracy"] for row in self.history if row["val_adv_accuracy"] is not None]
            if earlier and max(earlier) - adv_accuracy > drop:
                self.overfit_epoch = epoch
                log.warning("catastrophic overfitting at epoch %d: validation accuracy under the validation attack "
                            "fell to %.2f %% from %.2f %% (more than train.overfit_drop = %g points); checkpoint "
                            "selection keeps epoch %d or earlier", epoch, adv_accuracy, max(earlier), drop,
                            self.best["epoch"])
        return self.overfit_epoch is not None

    def save(self, partial: _EpochState | None = None) -> None:
        """Write the resumable state (rank 0), atomically; other processes wait for it."""
        if self.parallel.is_main:
            save_torch(self.checkpoint_path, {
                "resume_key": resume_key(self.s, self.seed), "epoch": self.completed_epoch,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "best": self.best, "history": self.history,
                "perturbation": self.perturbation, "partial": None if partial is None else asdict(partial)})
        self.parallel.barrier()

    def load(self) -> tuple[bool, _EpochState | None]:
        """Restore the state saved by :meth:`save`.

        Returns ``(resumed, the interrupted epoch's progress or None)``; ``resumed`` is False, and
        nothing is restored, when the checkpoint was written with other settings or for a network of
        another structure (a changed config, e.g. another architecture: Snakemake re-runs the job
        because its params changed, and it must not continue the old run).
        """
        path = self.checkpoint_path
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"cannot resume from {path} ({exc}); it is damaged. "
                                  "Delete it to start training from epoch 0.") from exc
        if state.get("resume_key") != resume_key(self.s, self.seed):
            log.warning("checkpoint %s was written with other training settings or seed; training from scratch "
                        "(it is overwritten at the first checkpoint)", path)
            return False, None
        if _shapes(state.get("model", {})) != _shapes(self.model.state_dict()):
            log.warning("checkpoint %s was written for a network of another architecture or size; training from "
                        "scratch (it is overwritten at the first checkpoint)", path)
            return False, None
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except Exception as exc:
            raise CheckpointError(f"cannot resume from {path} ({exc}); it belongs to another model or is damaged. "
                                  "Delete it to start training from epoch 0.") from exc
        self.completed_epoch, self.best, self.history = state["epoch"], state["best"], state["history"]
        self.overfit_epoch = next((row["epoch"] for row in self.history if row.get("overfit")), None)
        self.perturbation = state.get("perturbation")  # absent from checkpoints of objectives that carry none
        partial = state.get("partial")
        return True, None if partial is None else _EpochState(**{**partial, "generator": partial["generator"].cpu()})

    def preempted(self, where: str) -> Preempted:
        mine = self.stop is not None and self.stop.requested
        name = self.stop.signal_name if mine else "a stop signal to another process"
        return Preempted(name, self.stop.signum if mine else signal.SIGTERM,
                         f"stopped by {name} at {where}; checkpoint written to {self.checkpoint_path}. "
                         "Run the same command again (Snakemake retries it) to resume from there.")


def _shapes(state_dict) -> dict[str, tuple[int, ...]]:
    """A network's structure as its checkpoint records it: parameter and buffer names and shapes."""
    return {name: tuple(value.shape) for name, value in state_dict.items()}


def resume_key(s: TrainSettings, seed: int) -> str:
    """What a checkpoint must have been trained with to be resumed: every setting that shapes the run.

    ``epochs`` is left out (a finished run can be extended), except through the
    cosine schedule's period when that defaults to ``epochs``; ``log_every`` is left out too,
    and so are the ε warm-up's keys where there is none, the milestones and γ where the
    schedule is not ``"steps"``, and the cycle's peak where it is not ``"cyclic"`` (so checkpoints written before
    those keys existed still resume). A ``"cyclic"`` schedule spans the whole run, so there ``epochs`` counts.
    """
    settings = asdict(s)
    unused = (() if s.eps_warmup else ("eps_warmup_start", "eps_warmup_end")) + \
        (() if s.lr_schedule == "steps" else ("lr_milestones", "lr_gamma")) + \
        (() if s.lr_schedule == "cyclic" else ("cycle_peak",))
    for key in ("epochs", "log_every") + unused:
        settings.pop(key)
    if s.lr_schedule == "cosine":
        settings["cosine_t_max"] = s.cosine_t_max or s.epochs
    if s.lr_schedule == "cyclic":
        settings["cycle_epochs"] = s.epochs
    return json.dumps({"settings": settings, "seed": seed}, sort_keys=True, default=str)


def history_csv(history: list[dict]) -> str:
    """The history as CSV text, every column numeric (empty where a value does not apply)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        # The overfitting flag as 0/1, so that every column of the file is numeric (its readers parse floats).
        writer.writerow({k: ("" if row.get(k) is None else int(row[k]) if isinstance(row[k], bool) else row[k])
                         for k in HISTORY_FIELDS})
    return buf.getvalue()


def train(model: nn.Module, train_split: Split, s: TrainSettings, *, seed: int, device: torch.device,
          checkpoint_path: str | Path, parallel: DataParallel = DataParallel(),
          stop: StopRequest | None = None,
          after_step: Callable[[int, nn.Module], None] | None = None) -> TrainResult:
    """Train ``model`` on ``train_split``, resuming from ``checkpoint_path`` if it exists.

    Args:
        model: a freshly initialised classifier (its weights are replaced on resume).
        train_split: the prepared training split; ``s.val_size`` images are held out.
        s: training settings; ``s.batch_size`` and ``s.lr`` are global (see
            :mod:`robinterp.training.distributed`).
        seed: seed of the split, shuffling, augmentation and attack starts.
        device: where to train.
        checkpoint_path: resumable state, rewritten atomically after every
            epoch and when training stops on a signal.
        parallel: this process's place in a data-parallel group (default: alone).
        stop: an entered :class:`~robinterp.training.preemption.StopRequest`; when it is
            triggered, training writes a mid-epoch checkpoint after the current
            batch and raises :class:`~robinterp.base.errors.Preempted`.
        after_step: called after every optimiser step as ``after_step(steps taken so far, model)``,
            for measurements outside the run (``benchmarks/bench_time_to_robustness.py``); it must
            leave the model's parameters, buffers and mode as it found them and draw from no
            generator of the run (evaluation in eval mode with its own generator does).

    Returns:
        The selected weights (on the CPU), their epoch, and the history.
    """
    checkpoint_path = Path(checkpoint_path)
    model.to(device)
    if s.channels_last:
        model.to(memory_format=torch.channels_last)
    train_idx, val_idx = train_val_indices(len(train_split), s.val_size, seed)
    batches_per_epoch = -(-len(train_idx) // s.batch_size)  # the last, partial batch is kept
    loop = _Loop(model, s, seed=seed, device=device, parallel=parallel, stop=stop, checkpoint_path=checkpoint_path,
                 batches_per_epoch=batches_per_epoch, after_step=after_step)
    resumed, partial = loop.load() if checkpoint_path.exists() else (False, None)
    if resumed:
        where = (f"epoch {partial.epoch}, batch {partial.next_batch}" if partial
                 else f"the end of epoch {loop.completed_epoch}")
        log.info("resuming from checkpoint %s at %s", checkpoint_path, where)
    else:
        log.info("training from scratch: %d train / %d validation images, %d epochs, attack %s",
                 len(train_idx), len(val_idx), s.epochs, asdict(s.attack) if s.attack else None)
    for epoch in range(loop.completed_epoch + 1, s.epochs + 1):
        state = partial if partial is not None and partial.epoch == epoch else _EpochState(epoch)
        partial = None
        first_step = optimisation_step(epoch, 0, batches_per_epoch, loop.replays)
        # The history's lr and ε: those of the epoch's first step (read before a mid-epoch resume moves on).
        lr = s.lr * lr_factor(s, first_step, loop.total_steps) if steps_lr_per_batch(s) \
            else loop.optimizer.param_groups[0]["lr"]
        first = s.attack_at(first_step)
        loss, acc = loop.run_epoch(train_split, train_idx, state)
        if not steps_lr_per_batch(s):
            loop.scheduler.step()
        tic = time.perf_counter()
        val = loop.validate(train_split, val_idx, epoch) if len(val_idx) else {}
        score = selection_score(s.selection, val.get("clean_accuracy"), val.get("adv_accuracy"), epoch)
        overfit = loop.watch_overfitting(epoch, val.get("adv_accuracy"))
        row = {"epoch": epoch, "lr": lr, "train_eps": None if first is None else first.eps, "train_loss": loss,
               "train_accuracy": acc, "val_clean_accuracy": val.get("clean_accuracy"),
               "val_adv_accuracy": val.get("adv_accuracy"), "overfit": overfit, "selection_score": score,
               "seconds": state.seconds + time.perf_counter() - tic}
        loop.history.append(row)
        if not overfit and (loop.best is None or score > loop.best["score"]):
            loop.best = {"score": score, "epoch": epoch,
                         "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        loop.completed_epoch = epoch
        loop.save()
        log.info("epoch %d/%d done in %.1fs: loss %.4f, val clean %s, val adv %s, best epoch %d",
                 epoch, s.epochs, row["seconds"], loss, _pct(row["val_clean_accuracy"]),
                 _pct(row["val_adv_accuracy"]), loop.best["epoch"])
        if epoch < s.epochs and loop.stop_requested():
            raise loop.preempted(f"the end of epoch {epoch}")
    if loop.best is None:
        raise CheckpointError(f"{checkpoint_path} holds no completed epoch; delete it and re-run")
    return TrainResult(copy.deepcopy(loop.best["state"]), loop.best["epoch"], loop.history)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"
