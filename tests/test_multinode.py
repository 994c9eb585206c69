"""Training on several nodes (robinterp.training.launch): the SLURM nodelist, the launch commands, `robinterp launch`.

Two torchrun agents that rendezvous as two nodes on this machine are in tests/test_distributed.py; what the
workflow submits for a job on two nodes, in tests/test_workflow.py and tests/test_slurm.py.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from robinterp.base.errors import RobinterpError
from robinterp.training.launch import (RENDEZVOUS_PORT, expand_nodelist, gpus_per_node, launcher, multinode_command,
                                       slurm_rendezvous)

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize("nodelist, hosts", [
    ("node1", ["node1"]),
    ("gpu[01-03,07],cpu5", ["gpu01", "gpu02", "gpu03", "gpu07", "cpu5"]),
    ("a[8-11]", ["a8", "a9", "a10", "a11"]),  # no zero written, no padding
    ("n[009-011]", ["n009", "n010", "n011"]),
    ("rack[1-2]-gpu[01,03]", ["rack1-gpu01", "rack1-gpu03", "rack2-gpu01", "rack2-gpu03"]),
    ("c1,c[3-4].cluster", ["c1", "c3.cluster", "c4.cluster"]),
    (" vm ", ["vm"]),
])
def test_a_slurm_nodelist_expands_to_its_hostnames_in_order(nodelist, hosts):
    assert expand_nodelist(nodelist) == hosts


@pytest.mark.parametrize("nodelist", ["", "gpu[01-03", "gpu01-03]", "gpu[3-1]", "gpu[a-b]", "gpu[1,,2]"])
def test_a_nodelist_slurm_would_not_write_is_refused(nodelist):
    with pytest.raises(RobinterpError, match="nodelist"):
        expand_nodelist(nodelist)


@pytest.mark.parametrize("gpus, nodes, port, expected", [
    (0, 1, RENDEZVOUS_PORT, "python -m robinterp"),
    (1, 1, RENDEZVOUS_PORT, "python -m robinterp"),
    (2, 1, RENDEZVOUS_PORT, "python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node=2 -m robinterp"),
    (4, 2, RENDEZVOUS_PORT, "python -m robinterp launch --nodes 2 --gpus-per-node 4 --port 29500 --"),
    (0, 3, 1234, "python -m robinterp launch --nodes 3 --gpus-per-node 0 --port 1234 --"),
])
def test_the_launcher_of_a_job_on_one_node_is_unchanged_and_on_several_is_robinterp_launch(gpus, nodes, port,
                                                                                          expected):
    assert launcher(gpus, nodes, port) == expected


def test_the_multinode_command_is_one_torchrun_agent_per_node_meeting_on_the_first_node():
    argv = multinode_command(2, 4, "gpu01", 29500, "4242", ["train", "--data", "d/meta.json"])
    assert " ".join(argv) == (
        "srun --overlap --nodes=2 --ntasks=2 --ntasks-per-node=1 python -m torch.distributed.run --nnodes=2"
        " --nproc-per-node=4 --rdzv-backend=c10d --rdzv-endpoint=gpu01:29500 --rdzv-id=4242"
        " -m robinterp train --data d/meta.json")
    cpu = multinode_command(3, 0, "n1", 1234, "7", ["train"], python="/venv/bin/python")
    assert cpu[5:7] == ["/venv/bin/python", "-m"] and "--nproc-per-node=1" in cpu  # a CPU node runs one process


@pytest.mark.parametrize("gpu, gres, nodes, expected", [
    (1, None, 1, 1), (2, None, 1, 2), (0, None, 1, 0),
    (0, "gpu:4", 1, 0),  # one node reads gpu only, as before
    (0, "gpu:4", 2, 4), (0, "gpu:a100:2", 3, 2), (0, "gpu", 2, 1), (0, None, 2, 0), (0, "shard:8", 2, 0),
])
def test_gpus_per_node_come_from_gpu_on_one_node_and_from_gres_on_several(gpu, gres, nodes, expected):
    assert gpus_per_node(gpu, gres, nodes) == expected


def test_a_job_on_several_nodes_asking_for_gpu_is_told_to_ask_per_node():
    with pytest.raises(RobinterpError, match=r"gres: 'gpu:2'"):
        gpus_per_node(2, None, 2)


def test_the_rendezvous_is_the_allocations_first_node_and_the_job_id():
    env = {"SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_ID": "991", "SLURM_NODELIST": "gpu08"}
    assert slurm_rendezvous(env) == ("gpu07", "991")
    with pytest.raises(RobinterpError, match="SLURM_JOB_NODELIST and SLURM_JOB_ID are not set"):
        slurm_rendezvous({})


def _launch(tmp_path, env, *args):
    """`robinterp launch` with a stand-in `srun` first on PATH that records its arguments, one per line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / "srun"
    srun.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/srun.args\n')
    srun.chmod(srun.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(SRC), **env}
    return subprocess.run([sys.executable, "-m", "robinterp", "launch", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_robinterp_launch_replaces_itself_by_the_srun_of_its_allocation(tmp_path):
    result = _launch(tmp_path, {"SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_JOB_ID": "77"},
                     "--nodes", "2", "--gpus-per-node", "4", "--port", "29511", "--", "train", "--data", "a b")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "srun.args").read_text().splitlines() == multinode_command(
        2, 4, "gpu01", 29511, "77", ["train", "--data", "a b"], python=sys.executable)[1:]


def test_robinterp_launch_outside_an_allocation_or_on_one_node_says_why(tmp_path):
    env = {k: "" for k in ("SLURM_JOB_NODELIST", "SLURM_JOB_ID")}
    outside = _launch(tmp_path, env, "--nodes", "2", "--gpus-per-node", "1", "--port", "29500", "--", "train")
    assert outside.returncode == 1 and "inside a SLURM allocation" in outside.stderr
    one = _launch(tmp_path, env, "--nodes", "1", "--gpus-per-node", "1", "--port", "29500", "--", "train")
    assert one.returncode == 1 and "one node needs no launch" in one.stderr
    assert not (tmp_path / "srun.args").exists()
