"""The cost plan (robinterp.analysis.cost, .plan, .probe): pass counts against hand-computed numbers, the job list
against Snakemake's dry run, the comparison with benchmark files, and the probe's output."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robinterp.analysis import cost, plan
from robinterp.attribution.settings import AttributionSettings
from robinterp.base.config import from_dict
from robinterp.data.prepare import DatasetLayout

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
MODEL = cost.ModelKey("resnet_small", (1, 28, 28))
# 100 training images, 10 classes
LAYOUT = DatasetLayout(n_train=100, n_test=50, image_shape=(1, 28, 28), num_classes=10)


def train_section(**changes) -> dict:
    """A train section of 2 epochs of 10 batches of 10 images, no validation split."""
    return {"epochs": 2, "batch_size": 10, "optimizer": "sgd", "lr": 0.1, "val_size": 0, **changes}


def pgd(steps: int, **changes) -> dict:
    return {"kind": "pgd", "norm": "l2", "eps": 2.0, "step_size": 2.5 * 2.0 / steps, "steps": steps,
            "random_start": False, "use_best": False, **changes}


def counts(work: cost.Work) -> dict[str, list[float]]:
    return {kind: [round(images, 6), round(calls, 6)] for kind, (images, calls) in work.counts.items()}


# --- training: passes per image and epoch ---


def test_standard_training_is_one_training_pass_per_image_and_epoch():
    assert counts(cost.training_work(train_section(), LAYOUT, MODEL)) == {"train": [200, 20]}


def test_pgd_training_takes_k_gradients_and_one_update_per_image():
    """Madry et al.: K + 1 forward-backward passes; use_best adds one forward per image."""
    work = cost.training_work(train_section(attack=pgd(3)), LAYOUT, MODEL)
    assert counts(work) == {"grad": [600, 60], "train": [200, 20]}
    work = cost.training_work(train_section(attack=pgd(3, use_best=True)), LAYOUT, MODEL)
    assert counts(work) == {"grad": [600, 60], "train": [200, 20], "fwd": [200, 20]}


def test_fgsm_rs_takes_two_passes_per_image():
    attack = pgd(1, step_size=2.5, random_start=True)
    work = cost.training_work(train_section(attack=attack, objective={"name": "fgsm_rs"}), LAYOUT, MODEL)
    assert counts(work) == {"grad": [200, 20], "train": [200, 20]}


def test_free_takes_one_pass_per_replay():
    """Shafahi et al.: m replays of each minibatch, one forward-backward pass each, no separate attack."""
    attack = pgd(1, step_size=2.0)
    work = cost.training_work(train_section(attack=attack, objective={"name": "free", "replays": 3}), LAYOUT, MODEL)
    assert counts(work) == {"train": [600, 60]}
    default = cost.training_work(train_section(attack=attack, objective={"name": "free"}), LAYOUT, MODEL)
    assert counts(default) == {"train": [200 * cost.FREE_DEFAULT_REPLAYS, 20 * cost.FREE_DEFAULT_REPLAYS]}


def test_gradnorm_is_double_backpropagation():
    work = cost.training_work(train_section(objective={"name": "gradnorm", "weight": 0.1}), LAYOUT, MODEL)
    assert counts(work) == {"double": [200, 20]}


def test_eps_warmup_skips_the_attack_while_eps_is_zero():
    """ε = 0 for the first 10 of the 20 optimisation steps (warmup_eps), then full: half the steps attack."""
    work = cost.training_work(train_section(attack=pgd(4), eps_warmup_start=10, eps_warmup_end=11), LAYOUT, MODEL)
    assert counts(work) == {"grad": [4 * 90, 4 * 9], "train": [200, 20]}


def test_validation_runs_the_accuracy_loop_every_epoch():
    """Per epoch a clean forward of the 10 validation images, and with val_attack its steps and a forward."""
    section = train_section(val_size=10, val_attack=pgd(2))
    work = cost.training_work(section, DatasetLayout(110, 50, (1, 28, 28), 10), MODEL)
    assert counts(work) == {"train": [200, 20], "fwd": [2 * 10 + 2 * 10, 2 + 2], "grad": [2 * 2 * 10, 2 * 2]}


def test_an_unknown_objective_has_no_cost_model():
    with pytest.raises(ValueError, match="no cost model"):
        cost.training_work(train_section(objective={"name": "nonesuch"}), LAYOUT, MODEL)


# --- analyses ---


def attribution_settings(**changes) -> dict:
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    return {**config["datasets"]["digits"]["attribution"], **changes}


def test_integrated_gradients_takes_n_points_times_baselines_gradients():
    section = attribution_settings(ig={"n_points": 8, "baseline": "uniform", "n_baselines": 3}, batch_size=5)
    s = from_dict(AttributionSettings, section, "attribution")
    work = cost._ig(cost.Work(MODEL), s, 12)
    # 12 images in batches of 5, 5 and 2; each batch's 8 path points in one call, per baseline
    assert counts(work) == {"grad": [12 * 8 * 3, 3 * 3]}


def test_inversion_takes_its_steps_from_two_sources():
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    synthesis = config["datasets"]["digits"]["synthesis"]
    n, steps = synthesis["inversion"]["n_images"], synthesis["inversion"]["attack"]["steps"]
    work = cost.inversion_work(synthesis, LAYOUT, MODEL)
    assert work.counts["grad"][0] == 2 * n * steps
    assert work.counts["fwd"][0] == 2 * 2 * n


def test_autoattack_square_queries_follow_the_attack():
    spec = from_dict(cost.AttackSpec, {"kind": "autoattack", "norm": "linf", "eps": 0.1, "square_queries": 100},
                     "a")
    few = cost.attack_passes(cost.Work(MODEL), spec, 10, 10, num_classes=10, robust_share=1.0)
    spec = from_dict(cost.AttackSpec, {"kind": "autoattack", "norm": "linf", "eps": 0.1}, "a")
    many = cost.attack_passes(cost.Work(MODEL), spec, 10, 10, num_classes=10, robust_share=1.0)
    assert many.counts["fwd"][0] - few.counts["fwd"][0] == 10 * (cost.SQUARE_QUERIES - 100)


# --- the job list against Snakemake's dry run ---


def snakemake_job_counts(configfile: Path, tmp_path: Path) -> dict[str, int]:
    """Rule → jobs of `snakemake -n` for ``configfile``, its results redirected to an empty folder."""
    config = yaml.safe_load(configfile.read_text())
    config["results"] = str(tmp_path / "results")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([str(SNAKEMAKE), "-n", "--quiet", "rules", "--configfile", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    table = (out.stdout + out.stderr).split("Job stats:")[1]
    jobs = dict((rule, int(n)) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    jobs.pop("total")
    jobs.pop("all")  # the target rule: no job of its own
    return jobs, config


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake is not installed beside this Python")
@pytest.mark.parametrize("configfile", ["config/demo.yaml", ".test/config.yaml"])
def test_the_planned_jobs_are_the_dry_runs(configfile, tmp_path):
    expected, config = snakemake_job_counts(ROOT / configfile, tmp_path)
    planned: dict[str, int] = {}
    for job in plan.plan_jobs(config):
        planned[job.rule] = planned.get(job.rule, 0) + 1
    assert planned == expected


def test_an_imported_method_is_imported_once_not_trained():
    config = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    config["results"] = "/nonexistent"
    spec = config["datasets"]["digits"]
    spec["methods"]["zoo"] = {"pretrained": {"source": "robinterp", "arch": "convnet_small", "weights": "w.pt"}}
    jobs = [j for j in plan.plan_jobs(config) if j.wildcards.get("model") == "zoo"]
    rules = sorted(j.rule for j in jobs)
    assert "train_model" not in rules and rules.count("import_model") == 1
    assert rules.count("evaluate_model") == 1  # one replicate, whatever the dataset's replicates
    assert {w.model.arch for j in jobs for w in j.work} == {"convnet_small"}


def test_the_start_line_is_the_plans_total():
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["results"] = "/nonexistent"  # no probe there: the shipped table
    jobs = plan.plan_jobs(config)
    text = plan.format_plan(config, jobs, plan.shipped_throughputs("cpu"), title="demo")
    hours, n = re.search(r"^total: ([\d.]+) CPU-hours for (\d+) jobs", text, re.M).groups()
    line = plan.plan_line(config)
    assert line.startswith(f"plan: ~{hours} CPU-hours for the config's {n} jobs")
    assert plan.shipped_throughputs("cpu").source in line



def test_the_paper_config_plans_in_gpu_hours_from_the_shipped_gpu_table():
    """``plan config.yaml`` with no probe of one's own: every model the paper config runs has measured GPU
    numbers in the shipped table (no stand-in from another input size), and the total is in GPU-hours."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["results"] = "/nonexistent"
    gpu = plan.shipped_throughputs("cuda")
    assert gpu.kind == "cuda"
    jobs = plan.plan_jobs(config)
    keys = {w.model for j in jobs for w in j.work}
    assert keys and all(gpu.costs(key)[1] is None for key in keys if not key.amp)
    assert re.search(r"^total: [\d.]+ GPU-hours", plan.format_plan(config, jobs, gpu, title="paper"), re.M)
    assert plan.plan_line(config).startswith("plan: ~") and gpu.source in plan.plan_line(config)

# --- the comparison with a finished run ---

BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path: Path, seconds: float, cpu_time: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + f"{seconds}\t0:00:00\t1\t1\t1\t1\t0\t0\t50\t{cpu_time}\n")


def test_compare_reads_the_benchmark_files_per_rule(tmp_path):
    config = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    config["results"] = str(tmp_path)
    throughputs = plan.shipped_throughputs("cpu")
    jobs = plan.plan_jobs(config)
    trains = [j for j in jobs if j.rule == "train_model"]
    for k, job in enumerate(trains):
        write_benchmark(tmp_path / "benchmarks" / job.benchmark, 100.0 + k, 50.0)
    write_benchmark(tmp_path / "benchmarks" / "train_model" / "digits" / "gone" / "seed0.tsv", 1.0, 1.0)
    rows, unmatched = plan.compare(config, jobs, throughputs, tmp_path)
    assert [r.rule for r in rows] == ["train_model"]
    row = rows[0]
    assert row.jobs == len(trains) == 4  # two methods, two replicates
    assert row.measured == pytest.approx(sum(100.0 + k for k in range(4)))
    estimate = sum(plan.job_seconds(j, throughputs)[0] for j in trains)
    assert row.estimate == pytest.approx(estimate)
    assert row.error == pytest.approx((estimate - row.measured) / row.measured)
    assert unmatched == ["train_model/digits/gone/seed0.tsv"]
    text = plan.format_comparison(rows, unmatched, tmp_path)
    assert f"{100 * row.error:+.0f}%" in text


# --- the probe and the shipped table ---


def test_probe_output_is_a_table_the_plan_reads(tmp_path):
    import torch

    from robinterp.analysis import probe

    key = cost.ModelKey("convnet_small", (1, 8, 8))
    result = probe.probe({key: 3}, torch.device("cpu"), batches=(2, 4), budget=0.01, threads=1, start_up=False)
    entry = result["models"][str(key)]
    assert set(entry["passes"]) == set(cost.PASS_KINDS) | {cost.SHAP}
    assert all(p["per_call"] >= 0 and p["per_image"] > 0 for k, p in entry["passes"].items() if k != cost.SHAP)
    assert set(entry["images_per_second"]) == set(cost.PASS_KINDS)
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(result))
    throughputs = plan.read_throughputs(path)
    costs, note = throughputs.costs(key)
    assert note is None and costs["grad"].per_image == entry["passes"]["grad"]["per_image"]
    scaled, note = throughputs.costs(cost.ModelKey("convnet_small", (1, 16, 16)))
    assert "scaled" in note and scaled["fwd"].per_image == pytest.approx(4 * costs["fwd"].per_image)


def test_the_shipped_table_prices_the_demo_and_says_what_it_is():
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config = copy.deepcopy(config)
    config["results"] = "/nonexistent"
    throughputs = plan.throughputs_for(config)
    assert "shipped table" in throughputs.source and "CPU table" in throughputs.source
    text = plan.format_plan(config, plan.plan_jobs(config), throughputs, title="demo")
    assert re.search(r"^total: [0-9.e+]+ CPU-hours for \d+ jobs", text, re.M)
    assert "train_model" in text and "evaluate_model" in text


def test_repeated_probes_keep_each_numbers_median():
    from robinterp.analysis.probe import median_of

    def result(per_image: float, startup: float) -> dict:
        passes = {kind: {"per_call": 0.001, "per_image": per_image} for kind in cost.PASS_KINDS}
        return {"note": "n", "device": "d", "kind": "cpu", "batches": [8, 64], "startup": startup,
                "imports": {"shap": startup}, "models": {"m@1x2x2": {"passes": passes}}}

    merged = median_of([result(0.3, 1.0), result(0.1, 3.0), result(0.2, 2.0)])
    assert merged["startup"] == 2.0 and merged["imports"] == {"shap": 2.0}
    assert merged["models"]["m@1x2x2"]["passes"]["grad"] == {"per_call": 0.001, "per_image": 0.2}
    assert merged["models"]["m@1x2x2"]["images_per_second"]["grad"] == pytest.approx(64 / (0.001 + 64 * 0.2))
    assert merged["note"].startswith("median of 3 probes")


def test_each_rule_pays_its_job_modules_import():
    """The start-up of a job: every job's, plus its stage's job module (and shap for the attribution jobs)."""
    table = {"note": "t", "device": "d", "kind": "cpu", "startup": 1.0,
             "imports": {"robinterp.attacks.job": 2.0, "robinterp.attribution.job": 3.0, "shap": 4.0},
             "models": {str(MODEL): {"passes": {k: {"per_call": 0.0, "per_image": 0.0} for k in cost.PASS_KINDS}}}}
    throughputs = plan.Throughputs.from_dict(table, "test")
    evaluate = plan.PlannedJob("evaluate_model", work=[cost.Work(MODEL)])
    attribute = plan.PlannedJob("attribute_model", work=[cost.Work(MODEL)])
    assert plan.job_seconds(evaluate, throughputs)[0] == pytest.approx(1.0 + 2.0)
    assert plan.job_seconds(attribute, throughputs)[0] == pytest.approx(1.0 + 3.0 + 4.0)
