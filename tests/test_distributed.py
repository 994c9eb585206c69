"""Data-parallel training (DDP) on the CPU with the gloo backend, started by the real ``torchrun``."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robinterp.distributed import DataParallel

WORKER = Path(__file__).parent / "ddp" / "train_worker.py"


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 7, 50, 10])
def test_shards_partition_a_batch_in_order(world_size, n):
    shards = [DataParallel(r, world_size).shard(n) for r in range(world_size)]
    covered = [i for s in shards for i in range(n)[s]]
    assert covered == list(range(n))
    sizes = [len(range(n)[s]) for s in shards]
    assert max(sizes) - min(sizes) <= 1


def _torchrun(nproc: int, tmp_path: Path) -> dict:
    out, ckpt = tmp_path / f"out{nproc}.pt", tmp_path / f"ckpt{nproc}.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           str(WORKER), str(out), str(ckpt)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.slow
def test_two_processes_train_like_one_on_the_same_global_batch(tmp_path):
    """Same global batch, augmentations and attack starts: the weights agree to float tolerance."""
    one, two = _torchrun(1, tmp_path), _torchrun(2, tmp_path)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    for key, value in one["state"].items():
        torch.testing.assert_close(two["state"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["epoch"] == b["epoch"]
        for k in ("train_loss", "train_accuracy", "val_clean_accuracy", "val_adv_accuracy"):
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-4), k
