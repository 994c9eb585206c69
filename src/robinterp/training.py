"""One training loop for standard and adversarial training (paper Algorithm 1).

For each batch: augment, optionally replace the batch by PGD adversarial
examples (model in eval mode while attacking, unless the author's option says
otherwise), then one optimiser step on that batch. After each epoch: validate
on a split carved from the training data (never the test set), keep the best
weights by the configured rule, and write a resumable checkpoint atomically.

Every random choice (initialisation, shuffling, augmentation, attack starts)
comes from generators seeded by (seed, epoch), so a run killed after any epoch
and resumed from its checkpoint ends with the same weights as an uninterrupted
run on the same device.
"""

from __future__ import annotations

import copy
import csv
import io
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.attacks import autocast
from robinterp.data.batches import split_batches
from robinterp.data.store import Split
from robinterp.errors import CheckpointError, TrainingDivergedError
from robinterp.evaluation import evaluate_accuracy
from robinterp.io import atomic_path, write_text
from robinterp.settings import TrainSettings

log = logging.getLogger(__name__)

HISTORY_FIELDS = ["epoch", "lr", "train_loss", "train_accuracy", "val_clean_accuracy", "val_adv_accuracy",
                  "selection_score", "seconds"]


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator of one epoch: a pure function of (seed, epoch), so resumes replay it."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def train_val_indices(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint training and validation indices of a training split of ``n`` images."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def make_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    if s.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, s: TrainSettings):
    if s.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.cosine_t_max or s.epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


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


def _train_one_epoch(model, optimizer, split, indices, s: TrainSettings, epoch, generator, device) -> tuple[float, float]:
    model.train()
    loss_sum = correct = seen = 0
    n_batches = math.ceil(len(indices) / s.batch_size)
    start = time.perf_counter()
    for b, (x, y) in enumerate(split_batches(split, indices, s.batch_size, device, generator=generator,
                                             channels_last=s.channels_last), 1):
        x = s.augmentation(x, generator)
        if s.attack is not None:
            x = s.attack(model, x, y, generator=generator, attack_in_train_mode=s.attack_in_train_mode,
                         amp=s.amp_bf16)
        with autocast(device, s.amp_bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"training loss is {loss.item()} at epoch {epoch}, batch {b}/{n_batches}; lower train.lr "
                "or set train.grad_clip_value in the config, then re-run (the last good epoch's checkpoint is kept)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if s.grad_clip_value is not None:
            nn.utils.clip_grad_value_(model.parameters(), s.grad_clip_value)
        optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        if b % s.log_every == 0 or b == n_batches:
            rate = seen / (time.perf_counter() - start)
            log.info("epoch %d/%d batch %d/%d loss %.4f acc %.2f%% (%.0f img/s)",
                     epoch, s.epochs, b, n_batches, loss_sum / seen, 100 * correct / seen, rate)
    return loss_sum / seen, 100 * correct / seen


def _save_checkpoint(path: Path, model, optimizer, scheduler, epoch, best, history) -> None:
    with atomic_path(path) as tmp:
        torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "best": best, "history": history}, tmp)


def _load_checkpoint(path: Path, model, optimizer, scheduler, device):
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except Exception as exc:
        raise CheckpointError(f"cannot resume from {path} ({exc}); it belongs to another model or is damaged. "
                              "Delete it to start training from epoch 0.") from exc
    return state["epoch"], state["best"], state["history"]


def history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in HISTORY_FIELDS})
    return buf.getvalue()


def train(model: nn.Module, train_split: Split, s: TrainSettings, *, seed: int, device: torch.device,
          checkpoint_path: str | Path, history_path: str | Path | None = None) -> TrainResult:
    """Train ``model`` on ``train_split``, resuming from ``checkpoint_path`` if it exists.

    Args:
        model: a freshly initialised classifier (its weights are replaced on resume).
        train_split: the prepared training split; ``s.val_size`` images are held out.
        s: training settings.
        seed: seed of the split, shuffling, augmentation and attack starts.
        device: where to train.
        checkpoint_path: resumable state, rewritten atomically after every epoch.
        history_path: per-epoch CSV, rewritten after every epoch.

    Returns:
        The selected weights (on the CPU), their epoch, and the history.
    """
    checkpoint_path = Path(checkpoint_path)
    model.to(device)
    if s.channels_last:
        model.to(memory_format=torch.channels_last)
    train_idx, val_idx = train_val_indices(len(train_split), s.val_size, seed)
    optimizer = make_optimizer(model, s)
    scheduler = make_scheduler(optimizer, s)
    start_epoch, best, history = 0, None, []
    if checkpoint_path.exists():
        start_epoch, best, history = _load_checkpoint(checkpoint_path, model, optimizer, scheduler, device)
        log.info("resuming from checkpoint %s after epoch %d", checkpoint_path, start_epoch)
    else:
        log.info("training from scratch: %d train / %d validation images, %d epochs, attack %s",
                 len(train_idx), len(val_idx), s.epochs, asdict(s.attack) if s.attack else None)
    for epoch in range(start_epoch + 1, s.epochs + 1):
        tic = time.perf_counter()
        generator = epoch_generator(seed, epoch, device)
        lr = optimizer.param_groups[0]["lr"]
        loss, acc = _train_one_epoch(model, optimizer, train_split, train_idx, s, epoch, generator, device)
        scheduler.step()
        val = {}
        if len(val_idx):
            attacks = {"adv": s.val_attack} if s.val_attack is not None else {}
            val = evaluate_accuracy(model, train_split, attacks, batch_size=s.batch_size, device=device,
                                    indices=val_idx, seed=seed + epoch, amp=s.amp_bf16)
        score = selection_score(s.selection, val.get("clean_accuracy"), val.get("adv_accuracy"), epoch)
        row = {"epoch": epoch, "lr": lr, "train_loss": loss, "train_accuracy": acc,
               "val_clean_accuracy": val.get("clean_accuracy"), "val_adv_accuracy": val.get("adv_accuracy"),
               "selection_score": score, "seconds": time.perf_counter() - tic}
        history.append(row)
        if best is None or score > best["score"]:
            best = {"score": score, "epoch": epoch,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        _save_checkpoint(checkpoint_path, model, optimizer, scheduler, epoch, best, history)
        if history_path is not None:
            write_text(history_path, history_csv(history))
        log.info("epoch %d/%d done in %.1fs: loss %.4f, val clean %s, val adv %s, best epoch %d",
                 epoch, s.epochs, row["seconds"], loss, _pct(row["val_clean_accuracy"]),
                 _pct(row["val_adv_accuracy"]), best["epoch"])
    if best is None:
        raise CheckpointError(f"{checkpoint_path} holds no completed epoch; delete it and re-run")
    return TrainResult(copy.deepcopy(best["state"]), best["epoch"], history)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"
