"""The Snakemake workflow itself: lint, dry-runs on the paper's config, and a real end-to-end run.

The end-to-end run uses `.test/config.yaml`, the smallest configuration of the
same DAG as the demo and the paper (same rules, same code, seconds of compute).
"""

import csv
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(*args, cwd=REPO, check=True):
    result = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def test_the_rules_conda_environment_pins_the_package_dependencies():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "robinterp.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip) == sorted(project)


def test_lint_is_clean():
    out = snakemake("--lint", "--directory", str(REPO))
    assert "Lints for" not in out.stdout + out.stderr


def test_the_workflow_is_formatted_with_snakefmt():
    if importlib.util.find_spec("snakefmt") is None:
        pytest.skip("snakefmt is not installed (the test extra installs it on Python >= 3.11)")
    # pyproject.toml's [tool.snakefmt] sets the line length; `snakefmt Snakefile workflow/` fixes what this finds.
    command = [sys.executable, "-m", "snakefmt", "--check", "--compact-diff", "Snakefile", "workflow/rules"]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_slurm_dry_run_of_the_paper_lists_every_job_without_raw_data(tmp_path):
    out = snakemake("--profile", "slurm", "-n", "all", "--directory", str(REPO), "--config", f"results={tmp_path}/r")
    log = out.stdout + out.stderr
    for dataset in ("cifar10", "smallimagenet150"):
        assert f"{tmp_path}/r/data/{dataset}/meta.json" in log
        for model in ("standard", "robust_l2"):  # one replicate: the config seed's
            assert f"{tmp_path}/r/models/{dataset}/{model}/seed0/model.pt" in log
            assert f"{tmp_path}/r/eval/{dataset}/{model}/seed0.json" in log
    assert f"{tmp_path}/r/table1_accuracy.csv" in log and f"{tmp_path}/r/table4_accuracy.csv" in log
    for model in ("fgsm_rs", "free"):  # fast adversarial training beside the paper's two models
        assert f"{tmp_path}/r/models/cifar10/{model}/seed0/model.pt" in log, model
    # MNIST, the dataset of the other seeds' MNIST experiments: its data, the seeds' methods, its tables and matrix
    assert f"{tmp_path}/r/data/mnist/meta.json" in log
    for model in ("standard", "robust_linf", "sgt", "asgt", "int", "int2_adv", "gradnorm_1"):
        assert f"{tmp_path}/r/models/mnist/{model}/seed0/model.pt" in log, model
        assert f"{tmp_path}/r/eval/mnist/{model}/seed0.json" in log, model
    assert f"{tmp_path}/r/judge/mnist/model.pt" in log  # its FID features: a judge, not Inception
    for output in ("mnist_accuracy.csv", "mnist_fid.csv", "mnist_inversion_distance.csv", "mnist/methods_matrix.csv",
                   "fig_robustness_mnist.png", "fig_etmann_mnist_summary.png"):
        assert f"{tmp_path}/r/{output}" in log, output


@pytest.mark.parametrize("gpus", [1, 2, 4])
def test_training_starts_one_ddp_process_per_gpu_only_when_it_asks_for_several(tmp_path, gpus):
    out = snakemake("-n", "-p", "--configfile", str(REPO / ".test" / "config.yaml"), "--directory", str(tmp_path),
                    "--set-resources", f"train_model:gpu={gpus}")
    lines = (out.stdout + out.stderr).splitlines()
    commands = [line for line in lines if " robinterp train " in line and "/models/" in line]
    assert len(commands) == 4  # standard and robust_l2, two replicates each
    judge = [line for line in lines if " robinterp train " in line and "/judge/" in line]
    assert len(judge) == 1 and "python -m robinterp train " in judge[0]  # its own rule, its own resources
    torchrun = f"python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node={gpus} -m robinterp train "
    assert all((torchrun in c) == (gpus > 1) for c in commands), commands
    assert all(("python -m robinterp train " in c) == (gpus == 1) for c in commands), commands


def _train_commands(out):
    """The shell commands of a dry run's train_model jobs (method → its replicates' lines) and of train_judge."""
    lines = [line[line.index("python -m "):] for line in (out.stdout + out.stderr).splitlines() if "python -m " in line]
    models = {}
    for line in lines:
        if " train --data " in line and "/models/" in line:
            models.setdefault(line.split("/models/digits/")[1].split("/")[0], []).append(line)
    return models, [line for line in lines if " train --data " in line and "/judge/" in line]


def test_a_training_job_on_two_nodes_runs_robinterp_launch_with_the_per_node_gpus(tmp_path):
    """The profile's way (set-resources for every training job): nodes 2, GPUs per node as gres; one node is
    today's command. What `robinterp launch` then runs is tested in tests/test_multinode.py."""
    out = snakemake("-n", "-p", "--configfile", str(REPO / ".test" / "config.yaml"), "--directory", str(tmp_path),
                    "--set-resources", "train_model:nodes=2", "train_model:gpu=0", "train_model:gres='gpu:4'")
    models, judge = _train_commands(out)
    launch = "python -m robinterp launch --nodes 2 --gpus-per-node 4 --port 29500 -- train --data "
    assert sorted(models) == ["robust_l2", "standard"] and all(len(c) == 2 for c in models.values())
    assert all(c.startswith(launch) for cs in models.values() for c in cs), models
    assert len(judge) == 1 and judge[0].startswith("python -m robinterp train ")  # its own rule: one node
    resources = [r for rule, r in _job_resources(out.stdout + out.stderr) if rule == "train_model"]
    assert len(resources) == 4 and all("nodes=2" in r and "gres=gpu:4" in r for r in resources), resources

    # A total `gpu` on several nodes is refused before anything runs, naming the per-node request.
    bad = snakemake("-n", "--configfile", str(REPO / ".test" / "config.yaml"), "--directory", str(tmp_path),
                    "--set-resources", "train_model:nodes=2", "train_model:gpu=2", check=False)
    assert bad.returncode != 0 and "gres: 'gpu:2'" in bad.stdout + bad.stderr


def test_a_method_may_train_on_several_nodes_and_its_train_settings_stay_the_same(tmp_path):
    """`nodes` in the config (the method's, else the dataset's) and rendezvous_port: only that method's jobs
    change command, and its --train-settings are the same JSON as on one node, so no model retrains."""
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    one = _train_commands(snakemake("-n", "-p", "--configfile", str(REPO / ".test" / "config.yaml"),
                                    "--directory", str(tmp_path)))[0]
    config["rendezvous_port"] = 29611
    config["datasets"]["digits"]["methods"]["robust_l2"]["nodes"] = 3
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump(config))
    out = snakemake("-n", "-p", "--configfile", str(tmp_path / "nodes.yaml"), "--directory", str(tmp_path))
    models, _ = _train_commands(out)
    assert all(c.startswith("python -m robinterp launch --nodes 3 --gpus-per-node 0 --port 29611 -- train ")
               for c in models["robust_l2"]), models["robust_l2"]
    assert models["standard"] == one["standard"]
    assert [c.split(" -- ", 1)[1] for c in models["robust_l2"]] == [c.split("python -m robinterp ", 1)[1]
                                                                     for c in one["robust_l2"]]
    resources = dict(_job_resources(out.stdout + out.stderr))
    assert "nodes=" in resources["train_model"]

    config["datasets"]["digits"]["methods"]["robust_l2"]["nodes"] = 0  # the schema names the key
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump(config))
    bad = snakemake("-n", "--configfile", str(tmp_path / "nodes.yaml"), "--directory", str(tmp_path), check=False)
    assert bad.returncode != 0 and "nodes" in bad.stdout + bad.stderr


def _job_resources(text):
    """(rule, resources line) of every job in a dry-run's output."""
    return [(m[1], m[2]) for m in re.finditer(r"(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)", text)]


@pytest.mark.parametrize("configfile, gpus", [("config.yaml", 1), (".test/config.yaml", 0)])
def test_compute_jobs_ask_for_a_gpu_unless_the_config_runs_on_the_cpu(tmp_path, configfile, gpus):
    """The rules' own resources (no profile): runtime, memory, and gpu from the config's device."""
    out = snakemake("-n", "--configfile", str(REPO / configfile), "--directory", str(tmp_path),
                    "--config", f"results={tmp_path}/r", "--", f"{tmp_path}/r/table7_attribution.csv")
    jobs = _job_resources(out.stdout + out.stderr)
    assert all("mem_mb=" in r and "runtime=" in r for _, r in jobs), jobs
    resources = dict(jobs)  # rule → the resources of (one of) its jobs
    assert "gpu=0" in resources["prepare_data"]
    assert f"gpu={gpus}" in resources["train_model"] and f"gpu={gpus}" in resources["attribute_model"]
    assert "runtime=2880" in resources["train_model"] and "mem_mb=64000" in resources["train_model"]
    assert "gpu=" not in resources["attribution_table"]  # tables and figures ask for none


def _dry_run_jobs(text):
    """(rule, wildcards) of every job of a dry run's output."""
    return {(block.split(":")[0], m.group(1)) for block in re.split(r"\n(?:local)?rule ", text)
            for m in [re.search(r"wildcards: (.*)", block)] if m}


def test_each_replicate_is_its_own_training_job_with_its_seed_in_the_path(tmp_path):
    """.test trains every method twice: from the config seed (replicate 0) and from the replicate stream's next seed;
    every per-model analysis runs on both, the figures of one model's images on replicate 0 only."""
    from robinterp.base.seeds import replicate_seeds

    seeds = replicate_seeds(0, 2)
    assert seeds == [0, 1000]
    out = snakemake("-n", "-p", "--configfile", str(REPO / ".test" / "config.yaml"), "--directory", str(tmp_path))
    text = out.stdout + out.stderr
    train = [line for line in text.splitlines() if " robinterp train " in line and "/models/" in line]
    for model in ("standard", "robust_l2"):
        mine = sorted(line for line in train if f"/models/digits/{model}/" in line)
        assert len(mine) == 2, mine
        for line, seed in zip(sorted(mine, key=lambda c: int(c.split("--seed ")[1].split()[0])), seeds):
            assert f" --seed {seed} " in line and f"--out results/test/models/digits/{model}/seed{seed}/model.pt" in line
            assert f"--checkpoint results/test/models/digits/{model}/seed{seed}/resume.pt" in line
            assert "replicates" not in line.split("--train-settings '")[1].split("'")[0]  # jobs, not a training setting
    jobs = _dry_run_jobs(text)
    for rule in ("train_model", "evaluate_model", "attribute_model", "generate_classes", "invert_representations",
                 "robustness_curves", "etmann_analysis"):
        assert {w for r, w in jobs if r == rule} == {f"dataset=digits, model={m}, seed={s}"
                                                    for m in ("standard", "robust_l2") for s in seeds}, rule
    for rule in ("explain_model", "visualise_features"):  # the figures' maps and images: replicate 0
        assert {w for r, w in jobs if r == rule} == {f"dataset=digits, model={m}, seed=0"
                                                    for m in ("standard", "robust_l2")}, rule
    table = [line for line in text.splitlines() if " robinterp table " in line]
    assert len(table) == 1 and all(f"standard=results/test/eval/digits/standard/seed{s}.json" in table[0] for s in seeds)


def test_a_method_may_set_its_own_number_of_replicates(tmp_path):
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    config["datasets"]["digits"]["methods"]["robust_l2"]["replicates"] = 3
    config["datasets"]["digits"]["replicates"] = 1
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--configfile", str(path), "--directory", str(tmp_path))
    trained = {w for r, w in _dry_run_jobs(out.stdout + out.stderr) if r == "train_model"}
    assert trained == {"dataset=digits, model=standard, seed=0"} | {
        f"dataset=digits, model=robust_l2, seed={s}" for s in (0, 1000, 2000)}
    # a seed that is not a replicate of the method is refused, naming the replicates' seeds
    bad = snakemake("-n", "--configfile", str(path), "--directory", str(tmp_path),
                    "results/test/models/digits/standard/seed1000/model.pt", check=False)
    assert bad.returncode != 0 and "seed1000 is not a replicate of digits/standard" in bad.stdout + bad.stderr


def test_a_method_with_its_own_objective_and_schedule_is_trained_with_them(tmp_path):
    """Adding a method to the config adds its jobs (training, every analysis, its matrix row), nothing else."""
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    config["datasets"]["digits"]["methods"]["sgt"] = {
        "attack": None, "objective": {"name": "sgt", "mask_fraction": 0.3, "weight": 1.0}, "train": {"epochs": 1}}
    path = tmp_path / "sgt.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "-p", "--configfile", str(path), "--directory", str(tmp_path))
    text = out.stdout + out.stderr
    train = [line for line in text.splitlines() if " robinterp train " in line and "/models/digits/sgt/" in line]
    assert len(train) == 2  # two replicates
    settings = json.loads(train[0].split("--train-settings '")[1].split("'")[0])
    assert settings["objective"] == {"mask_fraction": 0.3, "name": "sgt", "weight": 1.0} and settings["epochs"] == 1
    jobs = {(block.split(":")[0], m.group(1)) for block in re.split(r"\n(?:local)?rule ", text)
            for m in [re.search(r"wildcards: .*model=(\w+)", block)] if m}
    for rule in ("evaluate_model", "attribute_model", "generate_classes", "invert_representations",
                 "robustness_curves", "etmann_analysis"):
        assert (rule, "sgt") in jobs, rule
    assert ("visualise_features", "standard") in jobs and ("visualise_features", "sgt") not in jobs  # figures only


def test_the_zoo_config_dry_runs_offline_importing_every_model_and_training_none(tmp_path):
    """config/zoo.yaml: RobustBench and MadryLab models through every analysis; no weights, data or network needed."""
    out = snakemake("-n", "-p", "--configfile", str(REPO / "config" / "zoo.yaml"), "--directory", str(tmp_path))
    text = out.stdout + out.stderr
    jobs = _dry_run_jobs(text)
    imported = {w for r, w in jobs if r == "import_model"}
    assert imported == {f"dataset=cifar10, model={m}, seed=0" for m in
                        ("rb_standard", "rb_engstrom2019", "rb_rice2020", "rb_rebuffi2021_r18")} | {
        f"dataset=smallimagenet150, model={m}, seed=0" for m in ("madry_l2_eps0", "madry_l2_eps1", "madry_l2_eps3")}
    assert not {r for r, _ in jobs} & {"train_model", "train_judge", "plot_training"}
    for rule in ("evaluate_model", "attribute_model", "generate_classes", "invert_representations",
                 "visualise_features", "robustness_curves", "etmann_analysis"):
        assert (rule, "dataset=smallimagenet150, model=madry_l2_eps3, seed=0") in jobs, rule
    assert "--where datasets.smallimagenet150.methods.madry_l2_eps3.pretrained" in text
    for dataset in ("cifar10", "smallimagenet150"):
        assert f"results/zoo/{dataset}/methods_matrix.csv" in text
        assert f"results/zoo/fig_robustness_interpretability_{dataset}.png" in text


def test_a_pretrained_method_is_imported_once_and_never_trained(tmp_path):
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    config["datasets"]["digits"]["methods"]["zoo_net"] = {
        "pretrained": {"source": "madrylab", "path": "weights/net.pt", "arch": "resnet_small", "classes": "dataset"}}
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "-p", "--configfile", str(path), "--directory", str(tmp_path))
    text = out.stdout + out.stderr
    jobs = _dry_run_jobs(text)
    # the dataset's two replicates are for trained methods: an imported one is one model, at the config seed
    assert {w for r, w in jobs if r == "import_model"} == {"dataset=digits, model=zoo_net, seed=0"}
    assert {w for r, w in jobs if r == "train_model"} == {f"dataset=digits, model={m}, seed={s}"
                                                          for m in ("standard", "robust_l2") for s in (0, 1000)}
    for rule in ("evaluate_model", "attribute_model", "generate_classes", "etmann_analysis", "robustness_curves"):
        assert (rule, "dataset=digits, model=zoo_net, seed=0") in jobs, rule
    command = next(line for line in text.splitlines() if " robinterp import-model " in line)
    assert "--out results/test/models/digits/zoo_net/seed0/model.pt" in command
    assert '"path":"weights/net.pt"' in command and "--record results/test/models/digits/zoo_net/seed0/import.json" in command
    plot = next(line for line in text.splitlines() if " robinterp plot-training " in line)
    assert "zoo_net" not in plot and "robust_l2=" in plot  # an imported method has no history
    report = next(line for line in text.splitlines() if " robinterp report " in line)
    assert "--imported digits/zoo_net=results/test/models/digits/zoo_net/seed0/import.json" in report
    # another seed of it is not a model of the config
    bad = snakemake("-n", "--configfile", str(path), "--directory", str(tmp_path),
                    "results/test/models/digits/zoo_net/seed1000/model.pt", check=False)
    assert bad.returncode != 0 and "seed1000 is not a replicate of digits/zoo_net" in bad.stdout + bad.stderr


def test_a_name_pretrained_in_one_dataset_and_trained_in_another_is_refused(tmp_path):
    """The rule that writes a model is chosen by the method's name, so a name must be of one kind everywhere."""
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    other = json.loads(json.dumps(config["datasets"]["digits"]))
    other["methods"] = {"standard": {"pretrained": {"source": "robinterp", "arch": "resnet_small", "weights": "w.pt",
                                                    "mean": [0.5], "std": [0.5]}}}
    other["accuracy_table"] = "other_accuracy"
    other["synthesis"]["tables"] = {"fid": "other_fid", "inversion": "other_inversion"}
    config["datasets"]["other"] = other
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--configfile", str(path), "--directory", str(tmp_path), check=False)
    assert out.returncode != 0
    assert ("method 'standard' is pretrained in datasets.other and trained in datasets.digits: give one of them "
            "another name") in out.stdout + out.stderr


def test_a_mistyped_config_key_stops_with_its_name(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (REPO / ".test" / "config.yaml").read_text().replace("      epochs: 1 ", "      epoch: 1 ")
    bad.write_text(text)
    out = snakemake("-n", "--configfile", str(bad), "--directory", str(tmp_path), check=False)
    assert out.returncode != 0
    assert "'epoch' was unexpected" in out.stdout + out.stderr


def test_a_failed_jobs_reason_reaches_the_terminal_through_the_workflow_profile(tmp_path):
    """profiles/default (found beside the Snakefile from any directory) sets show-failed-logs."""
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    missing = tmp_path / "raw" / "cifar-10-python.tar.gz"
    config["datasets"]["digits"]["prepare"] = {"source": "cifar10", "archive": str(missing), "download": False}
    path = tmp_path / "missing.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/test/data/digits/meta.json"
    args = ["--cores", "1", "--directory", str(tmp_path), "--configfile", str(path), "--", target]
    out = snakemake(*args, cwd=tmp_path, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and f"workflow specific profile {REPO / 'profiles' / 'default'}" in text, text[-3000:]
    reason = f"CIFAR-10 archive not found: put the official cifar-10-python.tar.gz at {missing}"
    assert reason in text, text[-3000:]
    # the log holds it either way; without the profile Snakemake only names the log
    assert reason in (tmp_path / "results/test/logs/prepare_data/digits.log").read_text()
    without = snakemake("--workflow-profile", "none", *args, cwd=tmp_path, check=False)
    assert without.returncode != 0 and reason not in without.stdout + without.stderr


def _set(config, path, value):
    *parents, key = path.split(".")
    for name in parents:
        config = config[name]
    config[key] = value


@pytest.mark.parametrize("path, value, expected", [
    # attack and objective may be null: the error still names the key and the bound it breaks
    ("datasets.digits.methods.robust_l2.attack.eps", -1.0, ["-1.0 is less than or equal to the minimum of 0",
                                                            "datasets.digits.methods.robust_l2.attack.eps"]),
    ("datasets.digits.train.val_attack.steps", 0, ["0 is less than the minimum of 1",
                                                   "datasets.digits.train.val_attack.steps"]),
    ("datasets.digits.methods.standard.objective", {"name": "sgt", "weight": -1},
     ["-1 is less than the minimum of 0", "datasets.digits.methods.standard.objective.weight"]),
    # each data source has its own keys: a misspelt one is named
    ("datasets.digits.prepare", {"source": "cifar10", "archiv": "raw/cifar-10-python.tar.gz"},
     ["'archiv' was unexpected"]),
])
def test_a_wrong_value_in_a_nullable_or_per_source_section_is_reported_with_its_key(tmp_path, path, value, expected):
    config = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    _set(config, path, value)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--configfile", str(bad), "--directory", str(tmp_path), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "(schema rule" in text, text[-3000:]
    assert all(e in text for e in expected), text[-3000:]
    assert "is not valid under any of the given schemas" not in text


@pytest.mark.slow
def test_end_to_end_run_of_the_test_config(tmp_path):
    shutil.copytree(REPO / ".test", tmp_path / ".test")
    config = str(tmp_path / ".test" / "config.yaml")
    snakemake("--cores", "2", "--configfile", config, "--directory", str(tmp_path))
    results = tmp_path / "results" / "test"
    with open(results / "table1_accuracy.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dataset", "model", "metric", "value", "std", "n", "paper", "paper_comparison"]
    assert all(r["n"] == "2" and float(r["std"]) >= 0 for r in rows)  # two replicates: mean, sample std, n
    evaluations = [json.loads((results / "eval" / "digits" / "standard" / f"seed{s}.json").read_text())
                   for s in (0, 1000)]
    clean = [e["clean_accuracy"] for e in evaluations]
    standard_clean = next(r for r in rows if (r["model"], r["metric"]) == ("standard", "clean_accuracy"))
    assert float(standard_clean["value"]) == pytest.approx(np.mean(clean), abs=1e-4)
    assert float(standard_clean["std"]) == pytest.approx(np.std(clean, ddof=1), abs=1e-4)
    cells = {(r["model"], r["metric"]): float(r["value"]) for r in rows}
    assert set(cells) == {(m, k) for m in ("standard", "robust_l2") for k in ("clean_accuracy", "pgd_l2_accuracy")}
    assert all(0.0 <= v <= 100.0 for v in cells.values())
    assert all(r["paper"] == "" for r in rows)  # the paper has no numbers for the digits
    assert cells[("standard", "clean_accuracy")] > 50.0  # one short epoch on real digits already learns
    assert (results / "fig_training_digits.png").stat().st_size > 10_000
    for figure in ("fig02_digits_attributions", "fig10_digits_ig_grid", "fig13_digits_shap_grid"):
        assert (results / f"{figure}.png").stat().st_size > 10_000 and (results / f"{figure}.pdf").exists()
    with open(results / "table7_attribution.csv", newline="") as f:
        table7 = list(csv.DictReader(f))
    metrics = {r["metric"] for r in table7}
    assert {r["model"] for r in table7} == {"standard", "robust_l2"} and len(table7) == 2 * len(metrics)
    assert {"alignment_mean", "ig_gini_std", "shap_gini_mean", "ig_deletion_auc_mean",
            "ig_topk_intersection_adv_mean", "ig_topk_intersection_noise_mean"} <= metrics
    selection = json.loads((results / "attribution" / "digits" / "selection.json").read_text())
    groups = [set(selection[k]) for k in ("background", "explained", "metrics")]
    assert [len(g) for g in groups] == [16, 6, 8] and len(set().union(*groups)) == 30  # disjoint, as configured
    with open(results / "table2_fid.csv", newline="") as f:
        table2 = list(csv.DictReader(f))
    assert [(r["model"], r["metric"]) for r in table2] == [
        (m, k) for m in ("standard", "robust_l2", "real_data") for k in ("fid_judge", "judge_accuracy")]
    assert [r["n"] for r in table2] == ["2"] * 4 + ["1"] * 2 and table2[-1]["std"] == ""  # real data: one
    with open(results / "table3_inversion_distance.csv", newline="") as f:
        table3 = {(r["model"], r["metric"]) for r in csv.DictReader(f)}
    assert {("robust_l2", "judge_l2_inv1"), ("standard", "judge_l2_inv2_std"), ("standard", "pixel_l2_inv1")} <= table3
    synthesis_figures = ["fig14_digits_seeds", "fig03_digits_generation", "fig04_digits_inversion",
                         "fig11_digits_inversion", "fig05_digits_features", "fig12_digits_features"]
    for figure in synthesis_figures:
        assert (results / f"{figure}.png").stat().st_size > 10_000 and (results / f"{figure}.pdf").exists()
    with open(results / "digits" / "methods_matrix.csv", newline="") as f:
        matrix = {(r["model"], r["metric"]): r for r in csv.DictReader(f)}
    assert all(r["n"] == "2" and r["std"] != "" for r in matrix.values())
    assert {(m, k) for m in ("standard", "robust_l2") for k in ("clean_accuracy", "alignment_mean", "fid_judge",
                                                                 "median_boundary_distance")} <= set(matrix)
    for figure in ("fig_robustness_digits", "fig_etmann_digits_summary", "fig_etmann_digits_scatter"):
        assert (results / f"{figure}.png").stat().st_size > 10_000
    report = (results / "report.html").read_text()
    for name in ["table1_accuracy", "table2_fid", "table3_inversion_distance", "table7_attribution",
                 *synthesis_figures]:
        assert name in report, name
    assert "<th>model</th><th>n</th>" in report and "&#177;" in report  # mean ± std, and n
    # training curves, 3 attribution figures, the synthesis figures, curves, 2 Etmann figures, the matrix,
    # robust accuracy against the interpretability metrics
    assert report.count("<img ") == 4 + len(synthesis_figures) + 5
    assert (results / "fig_robustness_interpretability_digits.png").stat().st_size > 10_000
    logs = results / "logs"
    assert "inversion [1–6 of 6]: step 5/5" in (logs / "invert_representations" / "digits" / "standard" /
                                                 "seed1000.log").read_text()
    assert "epoch 1/1 done" in (logs / "train_model" / "digits" / "robust_l2" / "seed1000.log").read_text()
    assert "evaluated batch 1/1" in (logs / "evaluate_model" / "digits" / "standard" / "seed0.log").read_text()

    # With the checkpoints in place, rebuilding a table re-runs evaluation only, never training.
    (results / "table1_accuracy.csv").unlink()
    (results / "eval" / "digits" / "standard" / "seed0.json").unlink()
    plan = snakemake("-n", "--configfile", config, "--directory", str(tmp_path), "results/test/table1_accuracy.csv")
    text = plan.stdout + plan.stderr
    assert "evaluate_model" in text and "accuracy_table" in text
    assert "train_model" not in text and "prepare_data" not in text
