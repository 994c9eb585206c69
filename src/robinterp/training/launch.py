"""How a training job starts: one process, one DDP process per GPU of one node, or DDP on several nodes.

The workflow's rules call :func:`launcher` with the job's resources and put what it returns in front of
``train ...``:

- at most one GPU on one node: ``python -m robinterp`` (plain training);
- several GPUs on one node: ``torchrun --standalone`` with one process per GPU;
- several nodes (the ``nodes`` resource, which snakemake-executor-plugin-slurm submits as
  ``sbatch --nodes``): ``python -m robinterp launch ... --``, which runs *inside* the SLURM allocation,
  reads the allocation's nodes and job id from SLURM's environment (:func:`slurm_rendezvous`) and
  replaces itself with :func:`multinode_command`'s ``srun``: one task per node, each a ``torchrun``
  agent starting one process per GPU of its node, the agents meeting at a c10d rendezvous hosted on
  the allocation's first node. The host cannot be known when Snakemake writes the command (SLURM has
  not chosen the nodes yet), hence the step inside the job.

``train.batch_size`` stays the global batch of every process together, as with one node: the processes
(nodes × GPUs per node of them) shard every batch by their rank in the world
(:class:`robinterp.training.distributed.DataParallel`), whatever node they run on.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from typing import Mapping, Sequence

from robinterp.base.errors import RobinterpError

log = logging.getLogger(__name__)

# torchrun's own default master port: the rendezvous port unless the config's rendezvous_port says otherwise.
RENDEZVOUS_PORT = 29500

_TORCHRUN = "-m torch.distributed.run"
_HOSTLIST_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets (the items of a SLURM hostlist)."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise RobinterpError(f"unbalanced ']' in the SLURM nodelist {text!r}")
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise RobinterpError(f"unbalanced '[' in the SLURM nodelist {text!r}")
    items.append(text[start:])
    return items


def _expand_ranges(ranges: str, nodelist: str) -> list[str]:
    """The numbers of a bracket's ``01-03,07`` list, each zero-padded to the width written (``01`` → 2 digits)."""
    numbers = []
    for part in ranges.split(","):
        match = _HOSTLIST_RANGE.match(part)
        if not match:
            raise RobinterpError(f"cannot read {part!r} in the SLURM nodelist {nodelist!r}")
        first, last = match[1], match[2] or match[1]
        if int(last) < int(first):
            raise RobinterpError(f"the range {part!r} of the SLURM nodelist {nodelist!r} runs backwards")
        numbers += [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]
    return numbers


def _expand_host(item: str, nodelist: str) -> list[str]:
    """The hostnames of one hostlist item, e.g. ``rack[1-2]-gpu[01,03]`` (each bracket in turn, leftmost first)."""
    open_at = item.find("[")
    if open_at < 0:
        return [item]
    close_at = item.index("]", open_at)
    prefix, ranges, rest = item[:open_at], item[open_at + 1:close_at], item[close_at + 1:]
    tails = _expand_host(rest, nodelist)
    return [f"{prefix}{number}{tail}" for number in _expand_ranges(ranges, nodelist) for tail in tails]


def expand_nodelist(nodelist: str) -> list[str]:
    """The hostnames of a SLURM nodelist, in SLURM's order (what ``scontrol show hostnames`` prints).

    Args:
        nodelist: SLURM's compressed hostlist, e.g. ``SLURM_JOB_NODELIST``: comma-separated items, each
            a name or a name with bracketed numbers and ranges, e.g. ``gpu[01-03,07],cpu5``.

    Returns:
        One hostname per node, e.g. ``["gpu01", "gpu02", "gpu03", "gpu07", "cpu5"]``.
    """
    if not nodelist.strip():
        raise RobinterpError("the SLURM nodelist is empty")
    return [host for item in _split_top_level(nodelist.strip()) for host in _expand_host(item, nodelist)]


def gpus_per_node(gpu: int, gres: str | None, nodes: int) -> int:
    """The GPUs of each node of a job, from its Snakemake resources.

    Args:
        gpu: the ``gpu`` resource, which snakemake-executor-plugin-slurm submits as ``--gpus`` (the job's
            GPUs in all) and also asks for in the one-task job step it runs the rule's command in.
        gres: the ``gres`` resource (``sbatch --gres``, per node), e.g. ``gpu:4`` or ``gpu:a100:4``; ``None``
            or one naming no GPUs when not set.
        nodes: the ``nodes`` resource.

    Returns:
        ``gpu`` on one node; on several, the count of ``gres``'s GPUs (0 without: one CPU process per node).
        Several nodes with ``gpu`` above 0 are refused, naming the fix.
    """
    per_node = 0
    if gres:
        match = re.match(r"^gpu(?::[^:]+)?:(\d+)$", gres)
        per_node = int(match[1]) if match else (1 if gres == "gpu" else 0)
    if nodes <= 1:
        return gpu  # as before several nodes existed: gres is a per-node request that only they read
    if gpu:
        # --gpus is a total that SLURM may split unevenly, and the plugin's job step would ask for all of
        # it on the first node: only a per-node request (--gres) gives every node its GPUs.
        raise RobinterpError(
            f"a training job on {nodes} nodes asks for GPUs per node with the gres resource (gres: 'gpu:G'), "
            f"not with gpu ({gpu}): set gpu: 0 and gres: 'gpu:{gpu}' for train_model (slurm/config.yaml)")
    return per_node


def launcher(gpus: int, nodes: int = 1, port: int = RENDEZVOUS_PORT) -> str:
    """The shell words that start ``robinterp`` for one job; the rule appends the command (``train ...``).

    Args:
        gpus: GPUs per node (:func:`gpus_per_node`); above 1, one DDP process each.
        nodes: nodes of the SLURM allocation; above 1, :func:`multinode_command` runs inside it.
        port: the rendezvous port on the allocation's first node (several nodes only).

    Returns:
        ``python -m robinterp`` (≤ 1 GPU, 1 node), ``python -m torch.distributed.run --standalone ...
        -m robinterp`` (several GPUs, 1 node), or ``python -m robinterp launch ... --`` (several nodes).
        ``python`` is the workflow's interpreter (its shell prefix puts it first on PATH).
    """
    if nodes > 1:
        return f"python -m robinterp launch --nodes {nodes} --gpus-per-node {gpus} --port {port} --"
    if gpus > 1:
        return f"python {_TORCHRUN} --standalone --nnodes=1 --nproc-per-node={gpus} -m robinterp"
    return "python -m robinterp"


def slurm_rendezvous(env: Mapping[str, str]) -> tuple[str, str]:
    """Where the agents of a multi-node job meet: the allocation's first node, and the job id as rendezvous id.

    Args:
        env: the environment of the job (``os.environ`` inside the allocation): ``SLURM_JOB_NODELIST``
            (the allocation's nodes, not a step's) and ``SLURM_JOB_ID``.

    Returns:
        (head hostname, rendezvous id).
    """
    missing = [v for v in ("SLURM_JOB_NODELIST", "SLURM_JOB_ID") if not env.get(v)]
    if missing:
        raise RobinterpError(f"a multi-node launch runs inside a SLURM allocation, but {' and '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} not set (submit the job with --nodes, e.g. through the slurm profile)")
    return expand_nodelist(env["SLURM_JOB_NODELIST"])[0], env["SLURM_JOB_ID"]


def multinode_command(nodes: int, gpus_per_node: int, head: str, port: int, rdzv_id: str,
                      args: Sequence[str], python: str = "python") -> list[str]:
    """The ``srun`` that starts one ``torchrun`` agent per node of the allocation, running ``robinterp args``.

    Args:
        nodes: nodes of the allocation; one agent (one SLURM task) on each.
        gpus_per_node: processes each agent starts, one per GPU (at least one: a CPU node runs one).
        head: the host whose agent hosts the c10d rendezvous (:func:`slurm_rendezvous`).
        port: the rendezvous port on ``head``.
        rdzv_id: the rendezvous id; the SLURM job id, so that two jobs never join each other's group.
        args: the ``robinterp`` command and its arguments (``train --data ...``).
        python: the interpreter every node runs (the same path on a shared filesystem).

    Returns:
        The argv. ``--ntasks`` is given beside ``--ntasks-per-node`` because the command runs in the plugin's
        one-task job step, whose ``SLURM_NTASKS=1`` srun would otherwise read; ``--overlap`` lets the new step
        share the first node's CPUs and GPUs with that step, which holds them while it waits for this one.
    """
    return ["srun", "--overlap", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1",
            python, *_TORCHRUN.split(), f"--nnodes={nodes}", f"--nproc-per-node={max(gpus_per_node, 1)}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={head}:{port}", f"--rdzv-id={rdzv_id}",
            "-m", "robinterp", *args]


def exec_multinode(nodes: int, gpus_per_node: int, port: int, args: Sequence[str], python: str) -> None:
    """Replace this process by :func:`multinode_command`'s ``srun``, so that SLURM's signals reach it directly.

    Args:
        nodes, gpus_per_node, port, args, python: as for :func:`multinode_command`; the head and the
            rendezvous id come from this process's environment (:func:`slurm_rendezvous`).
    """
    head, rdzv_id = slurm_rendezvous(os.environ)
    argv = multinode_command(nodes, gpus_per_node, head, port, rdzv_id, args, python)
    log.info("starting %d nodes: %s", nodes, shlex.join(argv))
    os.execvp(argv[0], argv)
