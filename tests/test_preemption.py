"""A training process stopped by a real signal: SIGTERM/SIGUSR1 checkpoint and resume, SIGKILL leaves no output.

These drive ``python -m robinterp train`` in a subprocess, as SLURM does, and
signal it while it trains. (tests/slurm/ does the same through a real SLURM
controller and Snakemake's SLURM executor.)
"""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robinterp.data.demo import prepare_demo_digits

MODEL = json.dumps({"arch": "resnet_small", "mean": [0.1307], "std": [0.3081]})
TRAIN = json.dumps({"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                    "val_size": 200, "selection": "clean", "log_every": 1})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    prepare_demo_digits(out, test_size=2000)
    return out


def _start(data: Path, run: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "robinterp", "train", "--data", str(data), "--model-settings", MODEL,
           "--train-settings", TRAIN, "--device", "cpu", "--threads", "1", "--checkpoint", str(run / "resume.pt"),
           "--history", str(run / "history.csv"), "--out", str(run / "model.pt")]
    return subprocess.Popen(cmd, stderr=log.open("w"), stdout=subprocess.DEVNULL)


def _wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log.read_text()):
        assert proc.poll() is None, f"training ended before {pattern!r}:\n{log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} in {log}"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_checkpoints_then_kill_leaves_no_output_then_resume_finishes(data, tmp_path):
    """SIGUSR1 takes the same path (tests/test_training.py checks both signals in-process)."""
    signum, name = signal.SIGTERM, "SIGTERM"

    # 1. Preemption (or the time-limit warning) in epoch 1: checkpoint after the current batch, exit 128+signal.
    log1 = tmp_path / "attempt1.log"
    proc = _start(data, tmp_path, log1)
    _wait_for(log1, r"epoch 1/3 batch 2/", proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=120) == 128 + signum
    text = log1.read_text()
    stopped = re.search(rf"stopped by {name} at epoch 1, batch (\d+)/\d+; checkpoint written to", text)
    assert stopped, text[-2000:]
    assert (tmp_path / "resume.pt").exists()
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "history.csv").exists()

    # 2. Resumed, then killed without warning (what a time limit does after KillWait): still no output.
    log2 = tmp_path / "attempt2.log"
    proc = _start(data, tmp_path, log2)
    _wait_for(log2, rf"resuming from checkpoint .* at epoch 1, batch {stopped.group(1)}\b", proc)
    _wait_for(log2, r"epoch 2/3 batch 2/", proc)
    proc.kill()
    proc.wait(timeout=60)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "history.csv").exists()
    assert not list(tmp_path.glob(".*tmp*")), "a temporary file was left behind"

    # 3. The retry resumes after epoch 1 (not from scratch) and writes both outputs.
    log3 = tmp_path / "attempt3.log"
    proc = _start(data, tmp_path, log3)
    assert proc.wait(timeout=600) == 0, log3.read_text()[-2000:]
    text = log3.read_text()
    assert "resuming from checkpoint" in text and "at the end of epoch 1" in text
    assert "training from scratch" not in text and "epoch 1/3 batch" not in text
    attempts = (tmp_path / "resume.log").read_text()  # all three attempts, in order
    assert attempts.count("training from scratch") == 1 and attempts.count("resuming from checkpoint") == 2
    assert attempts.index(stopped.group(0)) < attempts.index(f"at epoch 1, batch {stopped.group(1)}\n")
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2", "3"]
    assert (tmp_path / "model.pt").stat().st_size > 0
