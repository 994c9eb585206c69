"""Data-parallel training over the GPUs of one SLURM job (PyTorch DDP, launched by ``torchrun``).

Semantics: ``train.batch_size`` and ``train.lr`` are *global*. Every process
draws the same random numbers (shuffle, augmentation, attack starts) for the
whole global batch and keeps its own shard of it, and gradients of the
per-shard *sum* of losses, scaled by world size / global batch, are averaged
by DDP into exactly the gradient of the global batch mean. So the same config
gives the same optimisation on 1 or N GPUs (up to float reduction order, and
BatchNorm, which is synchronised across GPUs with ``SyncBatchNorm``; PyTorch
has no CPU SyncBatchNorm, so CPU runs with several processes, used only for
tests, normalise per shard).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataParallel:
    """This process's place in the data-parallel group.

    Args:
        rank: index of this process, 0 … world_size − 1; rank 0 writes files.
        world_size: number of processes; 1 means plain single-device training.
    """

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This process's contiguous part of a batch of ``n`` examples (sizes differ by at most one)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum of ``values`` over all processes (identity for one process)."""
        if self.world_size > 1:
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module to train: ``model`` itself, or a DDP wrapper sharing its parameters."""
        if self.world_size == 1:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def init_data_parallel(device: torch.device) -> tuple[DataParallel, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Args:
        device: the device asked for; with several processes on CUDA each
            process takes ``cuda:LOCAL_RANK`` instead.

    Returns:
        The group membership and the device this process computes on.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DataParallel(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    log.info("data-parallel process %d of %d on %s (%s)", rank, world_size, device, backend)
    return DataParallel(rank, world_size), device


def sync_batchnorm(model: nn.Module, parallel: DataParallel, device: torch.device) -> nn.Module:
    """BatchNorm statistics over the global batch (CUDA only; see the module docstring)."""
    if parallel.world_size > 1 and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def shutdown(parallel: DataParallel) -> None:
    if parallel.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
