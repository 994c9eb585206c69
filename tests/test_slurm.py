"""The shipped SLURM profile against a real SLURM controller (tests/slurm/start_local_slurm.sh).

One run of the `.test` configuration (one replicate) through `slurm/config.yaml` and
snakemake-executor-plugin-slurm, with a SIGTERM sent to the running robust
training job, as a preemption would. Needs root to start munged, slurmdbd,
slurmctld and slurmd; `.ci/run` starts the cluster, and this module starts one
itself when run as root, and is skipped (saying why) otherwise.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm"
STATE = Path(os.environ.get("ROBINTERP_SLURM_DIR", "/tmp/robinterp-slurm"))
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--profile", str(REPO / "slurm")]
# What a user on a small cluster would override on the command line: one thread per job for
# every rule the profile gives more (two jobs share the two-core node), and quicker status
# checks (the plugin's first after 40 s, then every 10 s, by default) to keep the test short.
_PROFILE_THREADS = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())["set-threads"]
OVERRIDES = ["--set-threads", *[f"{rule}=1" for rule in _PROFILE_THREADS],
             "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+?)/(\S*?)/?\d*\.log\)")


def _cluster_answers(env: dict) -> bool:
    if shutil.which("sinfo") is None or not (STATE / "slurm.conf").exists():
        return False
    probes = [["sinfo", "-h", "-o", "%T"], ["sacct", "-n", "-X", "--starttime", "now-1minutes"]]
    return all(subprocess.run(p, env=env, capture_output=True, timeout=30).returncode == 0 for p in probes)


@pytest.fixture(scope="module")
def slurm_env():
    env = {**os.environ, "SLURM_CONF": str(STATE / "slurm.conf")}
    if _cluster_answers(env):  # started by .ci/run (or by hand)
        yield env
        return
    if os.geteuid() != 0:
        pytest.skip("no local SLURM cluster is running and starting one needs root: run "
                    "`bash tests/slurm/start_local_slurm.sh` as root (.ci/run does), then the tests")
    subprocess.run(["bash", str(CLUSTER / "start_local_slurm.sh"), str(STATE)], check=True, timeout=600)
    try:
        yield env
    finally:
        subprocess.run(["bash", str(CLUSTER / "stop_local_slurm.sh"), str(STATE)], timeout=120)


def _wait_for(path: Path, pattern: str, proc: subprocess.Popen, out: Path, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match.group(0)
        assert proc.poll() is None, f"snakemake ended before {pattern!r} appeared in {path}:\n{out.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} in {path} after {timeout} s"
        time.sleep(0.2)


def _sacct(env: dict, job_ids: list[str]) -> dict[str, dict]:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,Partition,ReqTRES,State"],
                         env=env, capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    return {r[0]: {"partition": r[1], "tres": r[2], "state": r[3]} for r in rows}


@pytest.mark.slow
def test_the_shipped_profile_runs_the_workflow_on_slurm_and_survives_a_preemption(slurm_env, tmp_path):
    shutil.copytree(REPO / ".test", tmp_path / ".test")
    # One replicate: every rule still goes through sbatch (what this test is for), with half the per-model jobs;
    # replicates as separate jobs are tested by test_workflow (the dry runs and the local end-to-end run of .test).
    config_path = tmp_path / ".test" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["datasets"]["digits"]["replicates"] = 1
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "snakemake.out"
    started = time.monotonic()
    with out.open("w") as sink:
        proc = subprocess.Popen([*SNAKEMAKE, *OVERRIDES, "--configfile", ".test/config.yaml", "--directory",
                                 str(tmp_path), "all"], cwd=tmp_path, env=slurm_env, stdout=sink,
                                stderr=subprocess.STDOUT)
    try:
        # A preemption: SIGTERM to the steps of the running robust training job (scancel's job-step signal;
        # the plugin's log folder ends in the replicate).
        train_log = tmp_path / "results/test/logs/train_model/digits/robust_l2/seed0.log"
        _wait_for(train_log, r"epoch 1/1 batch 10/", proc, out)
        job = _wait_for(out, r"jobid \d+ \(log: \S*rule_train_model/digits_robust_l2_0/", proc, out).split()[1]
        subprocess.run(["scancel", "--signal=TERM", job], env=slurm_env, check=True)
        assert proc.wait(timeout=600) == 0, out.read_text()[-5000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - started
    text = out.read_text()

    # Before the first submission, the cost plan's line (workflow/rules/common.smk: log_cost_plan).
    assert re.search(r"plan: ~[\d.]+ CPU-hours for the config's \d+ jobs", text), text[:3000]

    # Every job went through sbatch: one SLURM job id per job, the preempted training twice; every method
    # trained once, and every per-model analysis but the figures' run on both.
    submitted = [(m[1], m[2], m[3]) for m in SUBMITTED.finditer(text)]
    per_rule = {}
    for job_id, rule, wildcards in submitted:
        per_rule.setdefault(rule, []).append((job_id, wildcards))
    assert {r: len(j) for r, j in per_rule.items()} == {
        "prepare_data": 1, "train_model": 3, "evaluate_model": 2, "plot_training": 1, "accuracy_table": 1,
        "select_attribution_images": 1, "attribute_model": 2, "explain_model": 2, "plot_attributions": 1,
        "plot_attribution_grid": 2, "attribution_table": 1, "train_judge": 1, "class_seeds": 1,
        "generate_classes": 2, "invert_representations": 2, "visualise_features": 2, "synthesis_metrics": 1,
        "synthesis_table": 2, "plot_seeds": 1, "plot_generation": 1, "plot_inversions": 2, "plot_features": 2,
        "report": 1, "robustness_curves": 2, "plot_robustness_curves": 1, "etmann_analysis": 2, "plot_etmann": 1,
        "methods_matrix": 1, "plot_robustness_interpretability": 1}, text[-3000:]
    robust_attempts = [j for j, w in per_rule["train_model"] if w == "digits_robust_l2_0"]
    assert len(robust_attempts) == 2 and robust_attempts[0] == job

    # GPU for training (in the profile's GPU partition), none for data preparation.
    acct = _sacct(slurm_env, [j for j, _, _ in submitted])
    gpu_rules = ("train_model", "evaluate_model", "attribute_model", "explain_model", "train_judge",
                 "generate_classes", "invert_representations", "visualise_features", "synthesis_metrics",
                 "robustness_curves", "etmann_analysis")
    for job_id, _ in [job for rule in gpu_rules for job in per_rule[rule]]:
        assert acct[job_id]["partition"] == "gpu" and "gres/gpu=1" in acct[job_id]["tres"], acct[job_id]
    prepare = acct[per_rule["prepare_data"][0][0]]
    assert prepare["partition"] == "cpu" and "gpu" not in prepare["tres"], prepare
    assert acct[job]["state"] == "FAILED" and acct[robust_attempts[1]]["state"] == "COMPLETED"

    # The retry resumed from the preempted job's mid-epoch checkpoint, not from epoch 0; the
    # rule's log holds the last attempt, resume.log beside the checkpoint all of them.
    log = train_log.read_text()
    assert re.search(r"resuming from checkpoint \S+resume\.pt at epoch 1, batch \d+", log), log[-2000:]
    assert "training from scratch" not in log and "epoch 1/1 done" in log
    attempts = (tmp_path / "results/test/models/digits/robust_l2/seed0/resume.log").read_text()
    stopped = re.search(r"stopped by SIGTERM at epoch 1, batch (\d+)/\d+; checkpoint written", attempts)
    assert stopped and int(stopped.group(1)) >= 10, attempts[-3000:]
    assert f"at epoch 1, batch {stopped.group(1)}\n" in attempts.split(stopped.group(0))[1]

    # The final tables and figure are complete.
    with open(tmp_path / "results/test/table1_accuracy.csv", newline="") as f:
        cells = {(r["model"], r["metric"]): float(r["value"]) for r in csv.DictReader(f)}
    assert set(cells) == {(m, k) for m in ("standard", "robust_l2") for k in ("clean_accuracy", "pgd_l2_accuracy")}
    assert (tmp_path / "results/test/fig_training_digits.png").stat().st_size > 10_000
    print(f"SLURM workflow with one preemption: {elapsed:.0f} s")

    # A request SLURM cannot satisfy fails at once, with SLURM's reason in Snakemake's output.
    tic = time.monotonic()
    bad = subprocess.run([*SNAKEMAKE, *OVERRIDES, "--configfile", ".test/config.yaml", "--directory", str(tmp_path),
                          "--set-resources", "train_model:gpu=3", "train_model:slurm_partition=gpu",
                          "--forcerun", "train_model", "results/test/models/digits/standard/seed0/model.pt"],
                         cwd=tmp_path, env=slurm_env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "Requested node configuration is not available" in bad.stdout + bad.stderr
    assert time.monotonic() - tic < 120


@pytest.mark.slow
def test_a_training_job_on_two_nodes_is_submitted_for_two_nodes_and_its_srun_runs_in_an_allocation(slurm_env,
                                                                                                   tmp_path):
    """As far as a one-node cluster allows a job on two nodes.

    The plugin's sbatch asks for two nodes and per-node GPUs (gres), a job this cluster queues but never
    starts (what SLURM recorded is checked, then the job cancelled), to run `robinterp launch`. And the step that `robinterp launch` runs inside an allocation (srun --overlap, one
    torchrun agent per node, c10d rendezvous on the allocation's first node, read from SLURM_JOB_NODELIST) is
    started, on one node, from inside a one-task step as the jobstep plugin runs a rule's command: it must
    neither wait for that step's CPUs nor miss the rendezvous.
    """
    shutil.copytree(REPO / ".test", tmp_path / ".test")
    data = tmp_path / "results/test/data/digits/meta.json"  # not submitted: the training job is the first
    data.parent.mkdir(parents=True)
    data.write_text("{}")
    out = tmp_path / "snakemake.out"
    with out.open("w") as sink:
        proc = subprocess.Popen([*SNAKEMAKE, *OVERRIDES, "--configfile", ".test/config.yaml", "--directory",
                                 str(tmp_path), "--set-resources", "train_model:slurm_partition='gpu'",
                                 "train_model:nodes=2", "train_model:gpu=0", "train_model:gres='gpu:1'",
                                 "--", "results/test/models/digits/standard/seed0/model.pt"],
                                cwd=tmp_path, env=slurm_env, stdout=sink, stderr=subprocess.STDOUT)
    job = None
    try:
        # Without EnforcePartLimits SLURM queues what the partition cannot hold (Reason=PartitionNodeLimit).
        job = _wait_for(out, r"submitted with SLURM jobid \d+", proc, out, timeout=120).split()[-1]
        shown = subprocess.run(["scontrol", "show", "job", job], env=slurm_env, capture_output=True, text=True,
                               check=True).stdout
    finally:
        proc.kill()  # before the job is cancelled: the profile's retries would submit it again
        proc.wait(timeout=120)
        if job:
            subprocess.run(["scancel", job], env=slurm_env, check=True)
    assert "NumNodes=2" in shown and "TresPerNode=gres:gpu:1" in shown and "Partition=gpu" in shown, shown
    assert "python -m robinterp launch --nodes 2 --gpus-per-node 1 --port 29500 -- train " in out.read_text()

    # One node: multinode_command's srun from inside the plugin's kind of step (`srun -n1 ... --nodes=1`).
    from robinterp.training.launch import RENDEZVOUS_PORT

    launch = (f"import logging, sys; from robinterp.training.launch import exec_multinode; "
              f"logging.basicConfig(level=logging.INFO); "
              f"exec_multinode(1, 0, {RENDEZVOUS_PORT}, ['train', '--help'], sys.executable)")
    script = tmp_path / "step.sh"
    script.write_text(f"#!/bin/sh\nexport PYTHONPATH={REPO / 'src'}\n"
                      f"srun -n1 --cpu-bind=q --cpus-per-task=1 --nodes=1 {sys.executable} -c \"{launch}\"\n")
    out = tmp_path / "step.out"
    job = subprocess.run(["sbatch", "--wait", "--parsable", "--nodes=1", "--cpus-per-task=1", "--mem=2000",
                          f"--output={out}", "-D", str(tmp_path), str(script)],
                         env=slurm_env, capture_output=True, text=True, timeout=300)
    log = out.read_text() if out.exists() else ""
    assert job.returncode == 0, job.stderr + log[-3000:]
    assert "--checkpoint" in log and "usage: robinterp train" in log, log[-3000:]  # torchrun ran robinterp
    assert f"--rdzv-endpoint={os.uname().nodename.split('.')[0]}:{RENDEZVOUS_PORT}" in log.replace("'", ""), log
