"""Data-parallel training (DDP) on the CPU with the gloo backend, started by the real ``torchrun``."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robinterp.data.demo import prepare_demo_digits
from robinterp.training.distributed import DataParallel
from robinterp.training.launch import multinode_command

WORKER = Path(__file__).parent / "ddp" / "train_worker.py"


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 7, 50, 10])
def test_shards_partition_a_batch_in_order(world_size, n):
    shards = [DataParallel(r, world_size).shard(n) for r in range(world_size)]
    covered = [i for s in shards for i in range(n)[s]]
    assert covered == list(range(n))
    sizes = [len(range(n)[s]) for s in shards]
    assert max(sizes) - min(sizes) <= 1


def _torchrun(nproc: int, tmp_path: Path, model: str = "cnn") -> dict:
    out, ckpt = tmp_path / f"out{nproc}-{model}.pt", tmp_path / f"ckpt{nproc}-{model}.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           str(WORKER), str(out), str(ckpt), model]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.slow
def test_two_processes_train_like_one_on_the_same_global_batch(tmp_path):
    """Same global batch, augmentations and attack starts: without BatchNorm, the weights of two processes
    equal one process's up to float64 rounding (the runs compute in float64; see tests/ddp/train_worker.py)."""
    one, two = _torchrun(1, tmp_path), _torchrun(2, tmp_path)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    for key, value in one["state"].items():
        torch.testing.assert_close(two["state"][key], value, rtol=0, atol=1e-12, msg=key)
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["epoch"] == b["epoch"]
        for k in ("train_loss", "train_accuracy", "val_clean_accuracy", "val_adv_accuracy"):
            assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12), k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_torchrun_agents_meeting_as_two_nodes_train_like_one_process(tmp_path):
    """What a job on two SLURM nodes runs, on this machine: two torchrun agents started apart, one process each,
    that meet at a c10d rendezvous (gloo). Their torchrun flags are the launcher's own (multinode_command, its
    srun taken off and the worker script in place of `-m robinterp`). The weights equal one process's as in
    test_two_processes_train_like_one_on_the_same_global_batch: up to float64 rounding (atol 1e-12)."""
    port, run = _free_port(), tmp_path / "two-nodes"
    argv = multinode_command(2, 0, "127.0.0.1", port, f"test-{os.getpid()}", [], python=sys.executable)
    agent = argv[argv.index(sys.executable):-2]  # torchrun and its flags, without srun nor `-m robinterp`
    assert "--nnodes=2" in agent and "--nproc-per-node=1" in agent and "--rdzv-backend=c10d" in agent
    # Both agents see 127.0.0.1 as their own host; is_host says which one serves the rendezvous, as the name of
    # the allocation's first node does on a cluster.
    agents = [subprocess.Popen([*agent, f"--rdzv-conf=is_host={int(node == 0)}", str(WORKER), str(run / "out.pt"),
                                str(run / "ckpt.pt"), "cnn"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True) for node in (0, 1)]
    try:
        outputs = [a.communicate(timeout=300)[0] for a in agents]
    finally:
        for a in agents:
            if a.poll() is None:
                a.kill()
    assert [a.returncode for a in agents] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    one, two = _torchrun(1, tmp_path), torch.load(run / "out.pt", weights_only=True)
    assert two["world_size"] == 2
    for key, value in one["state"].items():
        torch.testing.assert_close(two["state"][key], value, rtol=0, atol=1e-12, msg=key)
    for a, b in zip(one["history"], two["history"], strict=True):
        for k in ("train_loss", "train_accuracy", "val_clean_accuracy", "val_adv_accuracy"):
            assert b[k] == pytest.approx(a[k], rel=1e-12, abs=1e-12), k


@pytest.mark.slow
def test_with_batchnorm_two_cpu_processes_train_one_process_with_per_shard_statistics(tmp_path):
    """What holds for the package's ResNet (BatchNorm) on the CPU, where there is no SyncBatchNorm: two
    processes are not one process (each normalises its shard with its own batch statistics), but they are
    exactly one process whose BatchNorm uses per-shard statistics and rank 0's running statistics."""
    one, two, ghost = _torchrun(1, tmp_path, "resnet"), _torchrun(2, tmp_path, "resnet"), \
        _torchrun(1, tmp_path, "resnet-ghost-2")
    for key, value in two["state"].items():
        torch.testing.assert_close(ghost["state"][key], value, rtol=0, atol=1e-12, msg=key)
    differ = [k for k, v in one["state"].items() if v.is_floating_point() and (v - two["state"][k]).abs().max() > 1e-6]
    assert differ, "plain one-process training should differ from two processes with BatchNorm"


@pytest.mark.slow
def test_the_cli_under_torchrun_stops_together_on_sigterm_and_resumes(tmp_path):
    """The workflow's multi-GPU command (2 gloo processes here), signalled as SLURM signals a job step: every process.

    Both processes must stop after the same batch (they agree through the group), rank 0 writes one
    checkpoint, and the next run resumes there and writes the outputs once.
    """
    prepare_demo_digits(tmp_path / "data", test_size=2000)
    run = tmp_path / "run"
    train = json.dumps({"epochs": 2, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                        "val_size": 200, "selection": "clean", "log_every": 5,
                        "attack": {"norm": "l2", "eps": 2.0, "step_size": 1.0, "steps": 2, "random_start": True}})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=2",
           "-m", "robinterp", "train", "--data", str(tmp_path / "data"), "--model-settings",
           json.dumps({"arch": "resnet_small", "mean": [0.1307], "std": [0.3081]}), "--train-settings", train,
           "--device", "cpu", "--threads", "2", "--checkpoint", str(run / "resume.pt"),
           "--history", str(run / "history.csv"), "--out", str(run / "model.pt")]
    attempts = run / "resume.log"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (attempts.exists() and "epoch 1/2 batch 10/" in attempts.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, attempts.read_text() if attempts.exists() else ""
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGTERM)  # torchrun and both workers, as slurmstepd does
    assert proc.wait(timeout=120) != 0
    text = attempts.read_text()
    stops = re.findall(r"stopped by SIGTERM at epoch 1, batch (\d+)/\d+", text)
    assert len(stops) == 2 and stops[0] == stops[1], text  # one line per process, the same batch
    assert not (run / "model.pt").exists() and not (run / "history.csv").exists()

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    text = attempts.read_text()
    assert f"resuming from checkpoint {run / 'resume.pt'} at epoch 1, batch {stops[0]}\n" in text
    assert "2 process(es)" in text and text.count("saved epoch") == 1
    assert len((run / "history.csv").read_text().splitlines()) == 3
