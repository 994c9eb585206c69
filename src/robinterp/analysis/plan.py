"""The cost of a whole run before it starts: every job of the workflow, its passes, its hours, and after the run
the estimate against what Snakemake measured.

:func:`plan_jobs` lists the jobs the workflow runs for a config (the rules of ``workflow/rules``, with the
replicates and figure methods of ``workflow/rules/common.smk``), each with the :class:`~robinterp.analysis.cost.Work`
of :mod:`robinterp.analysis.cost`; :func:`job_seconds` prices a job with :class:`Throughputs` (the probe's
numbers on the user's hardware, :mod:`robinterp.analysis.probe`, or the table shipped with the package);
:func:`summarise` sums per rule; :func:`compare` sets the estimate beside the ``benchmark:`` files of a
finished run (``<results>/benchmarks/<rule>/…tsv``, whose ``s`` is the job's wall-clock seconds; their
``cpu_time`` is not used: Snakemake samples it, every 0.5 s for a job's first 15 s and every 30 s after, and writes
the last sample, so a job of 16–45 s is recorded at its first 15 s of CPU). The train sections come from
:func:`robinterp.training.settings.method_train_section`, as the workflow's; that module imports torch.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from robinterp.analysis.cost import (RULE_MODULES, ModelKey, PassCost, Work, attribution_metrics_work,
                                     curves_work, etmann_work, evaluation_work, explanation_work, generation_work,
                                     inversion_work, robust_share, synthesis_metrics_work, training_work,
                                     visualisation_work)
from robinterp.base.errors import ConfigError
from robinterp.base.seeds import replicate_seeds
from robinterp.data.prepare import DatasetLayout, expected_layout, layout_of_prepared
from robinterp.training.settings import method_train_section

#: The throughput table shipped with the package (``python -m robinterp probe`` measures one's own).
SHIPPED_TABLE = "throughput.json"
#: Where ``probe`` writes, and ``plan`` and the workflow look for, a probe of this machine: ``<results>/probe.json``.
PROBE_FILE = "probe.json"
#: Rules whose jobs compute with a model and ask for a GPU unless the config runs on the CPU (``job_gpus``).
GPU_RULES = ("train_model", "evaluate_model", "robustness_curves", "etmann_analysis", "attribute_model",
             "explain_model", "train_judge", "generate_classes", "invert_representations", "visualise_features",
             "synthesis_metrics")
#: Seconds a small job (figure, table, report) spends beyond its start-up: drawing and writing.
SMALL_JOB_SECONDS = {"figure": 3.0, "table": 0.5, "report": 2.0}
#: Seconds of data preparation beyond the start-up: decoding, per image (JPEG decoding and resizing for
#: Small ImageNet, per decoding thread), and reading an archive or a folder tree. demo_digits: measured
#: (`python -m robinterp prepare` of the demo's section: 5.2 CPU-s on the development machine, 2026-12-03, less its
#: 0.2 s of imports; the demo run's benchmark: 4.7 s); the others are guesses, not measured.
PREPARE_SECONDS = {"demo_digits": 4.5, "cifar10": 10.0, "cifar10_folder": 60.0, "mnist": 5.0}
JPEG_SECONDS = 0.01
#: Seconds of import_model beyond the start-up: reading a checkpoint (a guess: the weights' download, where
#: RobustBench fetches them, is not counted).
IMPORT_SECONDS = 5.0
#: Seconds of fetch_inception_weights beyond the start-up: a 92 MB download (a guess: a few MB/s).
INCEPTION_DOWNLOAD_SECONDS = 30.0
#: Where the workflow keeps the FID Inception weights unless the config says (common.smk's INCEPTION_WEIGHTS).
INCEPTION_WEIGHTS = "resources/weights-inception-2015-12-05-6726825d.pth"


@dataclass
class PlannedJob:
    """One job of the workflow and the passes it runs.

    Args:
        rule: the rule's name.
        wildcards: its wildcards (dataset, model, seed), as the benchmark file's path has them.
        gpu: whether the job asks for a GPU (on a config whose device is not the CPU).
        work: the passes of each model it runs.
        imports: imports beyond every job's start-up: the rule's job module and slow imports (``shap``);
            by default :func:`rule_imports`.
        fixed: seconds beyond the start-up that no pass counts (decoding images, drawing figures).
        notes: what the plan assumed for this job (an imported model priced as another architecture).
    """

    rule: str
    wildcards: dict[str, Any] = field(default_factory=dict)
    gpu: bool = False
    work: list[Work] = field(default_factory=list)
    imports: tuple[str, ...] = ()
    fixed: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.imports:
            self.imports = rule_imports(self.rule)

    @property
    def benchmark(self) -> str:
        """The benchmark file's path under ``<results>/benchmarks/`` (the rules' ``benchmark:``)."""
        w = self.wildcards
        if "model" in w:
            return f"{self.rule}/{w['dataset']}/{w['model']}/seed{w['seed']}.tsv"
        return f"{self.rule}/{w['dataset']}.tsv" if "dataset" in w else f"{self.rule}.tsv"


def rule_imports(rule: str) -> tuple[str, ...]:
    """What a rule's job imports beyond every job's start-up: its stage's job module
    (:data:`~robinterp.analysis.cost.RULE_MODULES`), and shap for the attribution jobs."""
    module = RULE_MODULES.get(rule)
    if module is None:
        return ()
    return (module, "shap") if module == "robinterp.attribution.job" else (module,)


# --- throughputs -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughputs:
    """The seconds of each pass on one device, and of a job's start-up.

    Args:
        source: where the numbers come from, as the plan says it.
        device: the device measured (e.g. the processor and its threads, or the GPU's name).
        kind: ``"cpu"`` or ``"cuda"``.
        startup: seconds a job takes before its first pass and after its last (Python, torch and the
            package's imports, reading the data and the model, writing the outputs).
        imports: seconds each rule's job module and the slow imports (``shap``) add to the start-up.
        models: ``str(ModelKey)`` → pass kind → :class:`~robinterp.analysis.cost.PassCost`.
        estimated: the model keys whose numbers are estimates, not measurements.
    """

    source: str
    device: str
    kind: str
    startup: float
    imports: Mapping[str, float]
    models: Mapping[str, Mapping[str, PassCost]]
    estimated: frozenset[str] = frozenset()

    def costs(self, key: ModelKey) -> tuple[Mapping[str, PassCost], str | None]:
        """The pass costs of ``key``, and a note where they stand in for another key.

        bf16 falls back to float32; an architecture measured at another input size is scaled by the
        number of pixels (per image; the per-call overhead kept).
        """
        exact = str(key)
        if exact in self.models:
            return self.models[exact], None
        plain = str(ModelKey(key.arch, key.shape))
        if plain in self.models:
            return self.models[plain], f"{exact}: float32 numbers (no bf16 measurement)"
        pixels = key.shape[0] * key.shape[1] * key.shape[2]
        for name, costs in self.models.items():
            arch, _, rest = name.partition("@")
            if arch == key.arch and "+" not in rest:
                c, h, w = map(int, rest.split("x"))
                ratio = pixels / (c * h * w)
                return ({kind: PassCost(p.per_call, p.per_image * ratio) for kind, p in costs.items()},
                        f"{exact}: scaled from {name} by the pixel count (×{ratio:.2f})")
        raise ConfigError(f"no throughput for {exact} in {self.source} (it has {sorted(self.models)}); run "
                          f"`python -m robinterp probe --config <config>` on the machine that will run it")

    @classmethod
    def from_dict(cls, data: Mapping, source: str) -> Throughputs:
        models = {name: {kind: PassCost(**cost) for kind, cost in entry["passes"].items()}
                  for name, entry in data["models"].items()}
        estimated = frozenset(name for name, entry in data["models"].items() if entry.get("estimate"))
        return cls(source, data["device"], data["kind"], data["startup"], dict(data.get("imports", {})), models,
                   estimated)


def device_kind(config: Mapping) -> str:
    """``"cpu"`` when the config computes on the CPU, else ``"cuda"`` (``auto`` plans for a GPU)."""
    return "cpu" if config["device"] == "cpu" else "cuda"


def shipped_throughputs(kind: str) -> Throughputs:
    """The table shipped with the package for ``kind`` (``"cpu"`` or ``"cuda"``)."""
    text = resources.files("robinterp.analysis").joinpath(SHIPPED_TABLE).read_text()
    tables = json.loads(text)
    if kind not in tables:
        raise ConfigError(f"the shipped throughput table has no {kind} numbers (it has {sorted(tables)}): run "
                          "`python -m robinterp probe --config <config> --device cuda` on the machine that will run "
                          "the jobs, then plan again (the plan reads <results>/probe.json)")
    table = tables[kind]
    return Throughputs.from_dict(table, f"the shipped table (robinterp/analysis/{SHIPPED_TABLE}, {kind}: {table['note']})")


def read_throughputs(path: str | Path) -> Throughputs:
    """A probe's JSON file (``python -m robinterp probe --out``)."""
    with open(path) as f:
        data = json.load(f)
    return Throughputs.from_dict(data, f"the probe {path} ({data['note']})")


def throughputs_for(config: Mapping, probe: str | Path | None = None) -> Throughputs:
    """The probe file given, else ``<results>/probe.json`` where it exists, else the shipped table."""
    default = Path(config["results"]) / PROBE_FILE
    if probe is None and default.exists():
        probe = default
    if probe is not None:
        return read_throughputs(probe)
    return shipped_throughputs(device_kind(config))


# --- the jobs of a config --------------------------------------------------------------------------------------------


def dataset_layout(config: Mapping, name: str) -> DatasetLayout:
    """A dataset's sizes: from its prepared ``meta.json`` where it exists, else from its ``prepare`` section."""
    meta = Path(config["results"]) / "data" / name / "meta.json"
    if meta.exists():
        with open(meta) as f:
            return layout_of_prepared(json.load(f))
    return expected_layout(config["datasets"][name]["prepare"], f"datasets.{name}.prepare")


def judge_train(spec: Mapping) -> dict:
    """The judge's train JSON (common.smk's ``judge_train_settings``)."""
    judge = spec["synthesis"]["judge"]
    return {**spec["train"], "attack": judge.get("attack"), "selection": "clean", **judge["train"]}


def pretrained(spec: Mapping, method: str) -> Mapping | None:
    """The ``pretrained`` section of a method imported rather than trained (rule import_model), else None."""
    return (spec["methods"][method] or {}).get("pretrained")


def method_seeds(config: Mapping, spec: Mapping, method: str) -> list[int]:
    """The training seeds of a method's replicates (common.smk's ``replicate_seeds_of``): its own ``replicates``,
    else its dataset's, else one; an imported method has one."""
    m = spec["methods"][method] or {}
    n = 1 if pretrained(spec, method) else m.get("replicates", spec.get("replicates", 1))
    return replicate_seeds(config["seed"], n)


def imported_model(spec: Mapping, method: str, layout: DatasetLayout) -> tuple[ModelKey, str | None]:
    """The model an imported method runs: its ``arch`` and ``input_size`` where the section names them
    (madrylab, robinterp), else the dataset's architecture at the dataset's size, with a note that it stands in."""
    section = pretrained(spec, method)
    c, h, w = layout.image_shape
    side = section.get("input_size")
    shape = (c, side, side) if side else (c, h, w)
    if section.get("arch"):
        return ModelKey(section["arch"], shape), None
    arch = spec["model"]["arch"]
    return ModelKey(arch, shape), (f"{method}: imported from {section.get('source')} ({section.get('name')}), "
                                   f"priced as the dataset's {arch}")


def prepare_seconds(prepare: Mapping, layout: DatasetLayout) -> float:
    """Seconds of ``prepare_data`` beyond its start-up (:data:`PREPARE_SECONDS`, :data:`JPEG_SECONDS`)."""
    if prepare["source"] in PREPARE_SECONDS:
        return PREPARE_SECONDS[prepare["source"]]
    return (layout.n_train + layout.n_test) * JPEG_SECONDS / (prepare.get("workers") or 1)


def _small(rule: str, kind: str, **wildcards) -> PlannedJob:
    return PlannedJob(rule, wildcards, fixed=SMALL_JOB_SECONDS[kind])


def plan_jobs(config: Mapping) -> list[PlannedJob]:
    """Every job of ``snakemake all`` for ``config`` (not the target rule ``all`` itself), in the workflow's rules
    (common.smk's replicates, figure methods and imported methods), with its passes.

    ``fetch_inception_weights`` is planned where a dataset's FID uses Inception and the weights file is missing,
    as Snakemake does; ``import_model`` replaces ``train_model`` for a method with a ``pretrained`` section.
    """
    jobs: list[PlannedJob] = []
    inception = False
    for name, spec in config["datasets"].items():
        where = f"datasets.{name}"
        layout = dataset_layout(config, name)
        shape = layout.image_shape
        arch = spec["model"]["arch"]
        jobs.append(PlannedJob("prepare_data", {"dataset": name}, fixed=prepare_seconds(spec["prepare"], layout)))
        methods = list(spec["methods"])
        figure_methods = spec.get("figure_methods") or methods
        trained = [m for m in methods if not pretrained(spec, m)]
        for method in methods:
            share = robust_share(spec["methods"][method] or {})
            if pretrained(spec, method):
                plain, note = imported_model(spec, method, layout)
            else:
                train = method_train_section(spec, method)
                plain, note = ModelKey(arch, shape), None
            for k, seed in enumerate(method_seeds(config, spec, method)):
                w = {"dataset": name, "model": method, "seed": seed}
                if pretrained(spec, method):
                    per_model = [("import_model", None)]
                else:
                    per_model = [("train_model", training_work(train, layout, ModelKey(arch, shape,
                                                                                        bool(train.get("amp_bf16"))),
                                                               f"{where}.methods.{method}"))]
                per_model += [
                    ("evaluate_model", evaluation_work(spec["evaluation"], layout, plain, share, f"{where}.evaluation")),
                    ("robustness_curves", curves_work(spec["curves"], layout, plain, share, f"{where}.curves")),
                    ("etmann_analysis", etmann_work(spec["etmann"], layout, plain, f"{where}.etmann")),
                    ("attribute_model", attribution_metrics_work(spec["attribution"], layout, plain,
                                                                 f"{where}.attribution")),
                    ("generate_classes", generation_work(spec["synthesis"], layout, plain, f"{where}.synthesis")),
                    ("invert_representations", inversion_work(spec["synthesis"], layout, plain, f"{where}.synthesis")),
                ]
                if k == 0 and method in figure_methods:
                    per_model += [
                        ("explain_model", explanation_work(spec["attribution"], layout, plain, f"{where}.attribution")),
                        ("visualise_features", visualisation_work(spec["synthesis"], layout, plain,
                                                                  f"{where}.synthesis")),
                    ]
                for rule, work in per_model:
                    if work is None:  # import_model: a local job that reads (or downloads) the weights
                        jobs.append(PlannedJob(rule, dict(w), fixed=IMPORT_SECONDS, notes=[note] if note else []))
                        continue
                    jobs.append(PlannedJob(rule, dict(w), True, [work], notes=[note] if note else []))
        synthesis = spec["synthesis"]
        judge = None
        if synthesis["features"] == "judge":
            judge_spec = synthesis.get("judge")
            if not judge_spec:
                raise ConfigError(f"{where}.synthesis.features is 'judge' but there is no judge section")
            train = judge_train(spec)
            judge = ModelKey(judge_spec.get("arch", arch), shape)
            jobs.append(PlannedJob("train_judge", {"dataset": name}, True,
                                   [training_work(train, layout, ModelKey(judge.arch, shape,
                                                                          bool(train.get("amp_bf16"))),
                                                  f"{where}.synthesis.judge")]))
        else:
            inception = True
        replicates = sum(len(method_seeds(config, spec, m)) for m in methods)
        jobs.append(PlannedJob("synthesis_metrics", {"dataset": name}, True,
                               [synthesis_metrics_work(synthesis, layout, judge, replicates, f"{where}.synthesis")]))
        figures = synthesis["figures"]
        jobs += [_small("select_attribution_images", "table", dataset=name), _small("class_seeds", "table", dataset=name),
                 _small("accuracy_table", "table", dataset=name),
                 _small("plot_attributions", "figure", dataset=name),
                 _small("plot_attribution_grid", "figure", dataset=name, method="ig"),
                 _small("plot_attribution_grid", "figure", dataset=name, method="shap"),
                 _small("synthesis_table", "table", dataset=name, table="fid"),
                 _small("synthesis_table", "table", dataset=name, table="inversion"),
                 _small("plot_seeds", "figure", dataset=name), _small("plot_generation", "figure", dataset=name)]
        if trained:  # the training figure shows the histories of the trained methods (common.smk report_figures)
            jobs.append(_small("plot_training", "figure", dataset=name))
        jobs += [_small("plot_inversions", "figure", dataset=name, number=n) for n in figures["inversion"]]
        jobs += [_small("plot_features", "figure", dataset=name, number=n) for n in figures["visualisation"]]
        jobs += [_small("plot_robustness_curves", "figure", dataset=name), _small("plot_etmann", "figure", dataset=name),
                 _small("methods_matrix", "figure", dataset=name),
                 _small("plot_robustness_interpretability", "figure", dataset=name)]
    jobs += [_small("attribution_table", "table"), _small("report", "report")]
    if inception and not Path(config.get("inception_weights", INCEPTION_WEIGHTS)).exists():
        jobs.append(PlannedJob("fetch_inception_weights", fixed=INCEPTION_DOWNLOAD_SECONDS))
    return jobs


# --- seconds and sums ------------------------------------------------------------------------------------------------


def job_seconds(job: PlannedJob, throughputs: Throughputs) -> tuple[float, list[str]]:
    """The job's estimated wall-clock seconds on ``throughputs``' device, and notes on stand-in numbers."""
    seconds = throughputs.startup + job.fixed + sum(throughputs.imports.get(name, 0.0) for name in job.imports)
    notes = list(job.notes)
    for work in job.work:
        costs, note = throughputs.costs(work.model)
        if note:
            notes.append(note)
        for kind, (images, calls) in work.counts.items():
            seconds += costs[kind].seconds(images, calls)
    return seconds, notes


@dataclass
class RuleTotal:
    rule: str
    jobs: int = 0
    seconds: float = 0.0
    gpu: bool = False
    image_passes: float = 0.0


def summarise(jobs: list[PlannedJob], throughputs: Throughputs, gpu_device: bool) -> tuple[list[RuleTotal], list[str]]:
    """Per rule: jobs, estimated seconds (summed over its jobs), whether they count as GPU time; and the notes."""
    totals: dict[str, RuleTotal] = {}
    notes: list[str] = []
    for job in jobs:
        seconds, job_notes = job_seconds(job, throughputs)
        notes += [n for n in job_notes if n not in notes]
        total = totals.setdefault(job.rule, RuleTotal(job.rule, gpu=gpu_device and job.gpu))
        total.jobs += 1
        total.seconds += seconds
        total.image_passes += sum(w.image_passes() for w in job.work)
    return sorted(totals.values(), key=lambda t: -t.seconds), notes


def plan_line(config: Mapping, probe: str | Path | None = None) -> str:
    """One line for the workflow's start on a cluster: ``plan: ~N GPU-hours … for the config's M jobs (…)``.

    The estimate is of every job of the config, finished ones included (``plan`` per rule, ``plan --compare``
    against a run).
    """
    throughputs = throughputs_for(config, probe)
    jobs = plan_jobs(config)
    totals, _ = summarise(jobs, throughputs, device_kind(config) == "cuda")
    gpu = sum(t.seconds for t in totals if t.gpu) / 3600
    cpu = sum(t.seconds for t in totals if not t.gpu) / 3600
    hours = f"~{gpu:.3g} GPU-hours and {cpu:.2g} CPU-hours" if gpu else f"~{cpu:.3g} CPU-hours"
    return (f"plan: {hours} for the config's {len(jobs)} jobs, finished ones included ({throughputs.source}; "
            "python -m robinterp plan CONFIG: per rule)")


# --- the measurement of a finished run -------------------------------------------------------------------------------


def read_benchmarks(results: str | Path) -> dict[str, float]:
    """``<results>/benchmarks/**.tsv`` (Snakemake's ``benchmark:`` files) → path under it → ``s``, the job's wall-clock
    seconds (of its last line: the last attempt). Their ``cpu_time`` is Snakemake's last sample of the job's CPU time
    (module docstring), short of the truth for any job longer than 15 s, so it is not read."""
    root = Path(results) / "benchmarks"
    out = {}
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            row = rows[-1]
            out[path.relative_to(root).as_posix()] = float(row["s"])
    return out


def benchmark_key(path: str, seeds: Mapping[tuple[str, str], int]) -> str:
    """The planned job's benchmark path for a measured one; files of older runs without the seed folder
    (``<rule>/<dataset>/<model>.tsv``) stand for replicate 0."""
    parts = path[:-len(".tsv")].split("/")
    if len(parts) == 3 and (parts[1], parts[2]) in seeds:
        return f"{parts[0]}/{parts[1]}/{parts[2]}/seed{seeds[(parts[1], parts[2])]}.tsv"
    return path


@dataclass
class Comparison:
    rule: str
    jobs: int
    estimate: float
    measured: float

    @property
    def error(self) -> float:
        """(estimate − measured) / measured: the relative error of the estimate against the wall-clock time."""
        return (self.estimate - self.measured) / self.measured if self.measured else float("nan")


def compare(config: Mapping, jobs: list[PlannedJob], throughputs: Throughputs,
            results: str | Path) -> tuple[list[Comparison], list[str]]:
    """Per rule with benchmark files: the estimate of the measured jobs against their measured seconds.

    Returns the comparisons and the measured files no planned job matches.
    """
    seeds = {(name, m): method_seeds(config, spec, m)[0] for name, spec in config["datasets"].items()
             for m in spec["methods"]}
    planned = {job.benchmark: job for job in jobs}
    rows: dict[str, Comparison] = {}
    unmatched = []
    for path, measured in read_benchmarks(results).items():
        job = planned.get(benchmark_key(path, seeds))
        if job is None:
            unmatched.append(path)
            continue
        row = rows.setdefault(job.rule, Comparison(job.rule, 0, 0.0, 0.0))
        row.jobs += 1
        row.estimate += job_seconds(job, throughputs)[0]
        row.measured += measured
    return sorted(rows.values(), key=lambda r: -r.measured), unmatched


# --- what the plan prints --------------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12.3s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"


def format_plan(config: Mapping, jobs: list[PlannedJob], throughputs: Throughputs, *, title: str,
                per_job: bool = False) -> str:
    """The plan as text: per rule its jobs, summed hours, mean per job and share; the totals; the sources."""
    gpu_device = device_kind(config) == "cuda"
    totals, notes = summarise(jobs, throughputs, gpu_device)
    whole = sum(t.seconds for t in totals) or 1.0
    lines = [f"plan of {title}: {len(jobs)} jobs, device {config['device']}",
             f"throughputs: {throughputs.source}"]
    lines += [f"  estimate, not a measurement: {name}" for name in sorted(throughputs.estimated)]
    lines += [f"  note: {n}" for n in notes]
    lines.append(f"{'rule':<34}{'jobs':>5}{'hours':>10}  {'':<4}{'per job':>9}{'share':>7}{'image-passes':>14}")
    for t in totals:
        unit = "GPU" if t.gpu else "CPU"
        lines.append(f"{t.rule:<34}{t.jobs:>5}{t.seconds / 3600:>10.3f}  {unit:<4}{duration(t.seconds / t.jobs):>9}"
                     f"{100 * t.seconds / whole:>6.1f}%{t.image_passes:>14.3g}")
    gpu = sum(t.seconds for t in totals if t.gpu) / 3600
    cpu = sum(t.seconds for t in totals if not t.gpu) / 3600
    gpu_jobs = sum(t.jobs for t in totals if t.gpu)
    lines.append(f"total: {gpu:.3g} GPU-hours ({gpu_jobs} jobs) and {cpu:.3g} CPU-hours ({len(jobs) - gpu_jobs} jobs)"
                 if gpu_device else f"total: {cpu:.3g} CPU-hours for {len(jobs)} jobs (device cpu: no GPU-hours)")
    lines.append("hours are summed over jobs (what the allocation is charged), not the wall-clock time of the run; "
                 f"each job counts {throughputs.startup:.1f} s of start-up and its job module's import")
    if per_job:
        lines.append("")
        lines.append(f"{'job':<60}{'estimate':>10}")
        for job in jobs:
            lines.append(f"{job.benchmark:<60}{duration(job_seconds(job, throughputs)[0]):>10}")
    return "\n".join(lines)


def format_comparison(rows: list[Comparison], unmatched: list[str], results: str | Path) -> str:
    """The estimate against the measured wall-clock seconds of each rule's jobs."""
    lines = [f"estimate against the benchmark files of {results} (measured: the jobs' wall-clock s)",
             f"{'rule':<26}{'jobs':>5}{'estimate':>10}{'measured':>10}{'error':>8}"]
    for r in rows:
        lines.append(f"{r.rule:<26}{r.jobs:>5}{duration(r.estimate):>10}{duration(r.measured):>10}"
                     f"{100 * r.error:>+7.0f}%")
    estimate, measured = sum(r.estimate for r in rows), sum(r.measured for r in rows)
    if measured:
        lines.append(f"{'total':<26}{sum(r.jobs for r in rows):>5}{duration(estimate):>10}{duration(measured):>10}"
                     f"{100 * (estimate - measured) / measured:>+7.0f}%")
    lines += [f"no planned job for {path}" for path in unmatched]
    return "\n".join(lines)


def run_plan(config: Mapping, *, title: str, probe: str | Path | None = None, results: str | Path | None = None,
             per_job: bool = False) -> str:
    """The ``plan`` command: the plan of ``config``, and with ``results`` its comparison with that run."""
    throughputs = throughputs_for(config, probe)
    jobs = plan_jobs(config)
    text = format_plan(config, jobs, throughputs, title=title, per_job=per_job)
    if results is not None:
        rows, unmatched = compare(config, jobs, throughputs, results)
        if not rows:
            raise ConfigError(f"no benchmark files under {Path(results) / 'benchmarks'} match this config's jobs")
        text += "\n\n" + format_comparison(rows, unmatched, results)
    return text
