# What the workflow modules share: the path pattern of every output, the rules' input
# and params functions (the JSON settings each job receives), the resources of a job,
# and the list of final outputs; no rules are defined here.

import json
import os
import re
import sys

from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod

from robinterp.analysis.settings import EtmannSettings
from robinterp.attacks.settings import CurveSettings
from robinterp.attacks.spec import AttackSpec, accuracy_metric_names
from robinterp.base.config import from_dict
from robinterp.base.seeds import replicate_seeds
from robinterp.training.launch import RENDEZVOUS_PORT, gpus_per_node, launcher
from robinterp.training.settings import method_train_section

RESULTS = config["results"]
DATASETS = config["datasets"]
ACCURACY_TABLES = {spec["accuracy_table"]: name for name, spec in DATASETS.items()}
# Threads of each compute job (torch's intra-op threads); the SLURM profile sets its own per rule.
# On a small machine one thread per job lets jobs run side by side, which small models prefer.
JOB_THREADS = config.get("threads_per_job", 2)

# Every rule runs `python -m robinterp` from this checkout's src/. With --sdm conda
# that is the rule's environment (envs/, dependencies only); otherwise it is the
# Python that runs Snakemake, even when its venv is not activated.
_PATH = (
    ""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else f"export PATH={os.path.dirname(sys.executable)}:$PATH; "
)
shell.prefix(f"set -euo pipefail; {_PATH}export PYTHONPATH={workflow.basedir}/src; ")


# --- output paths ---
# Each output's path pattern, written once: rules name it in `output:`, input functions
# and the list of final outputs format it. A figure is written twice, as .png and .pdf:
# its pattern has no extension. What belongs to one trained model has REPLICATE in its path:
# a method trained n times (replicates) has one such file per training seed.

REPLICATE = "{dataset}/{model}/seed{seed}"

DATA_DIR = f"{RESULTS}/data/{{dataset}}"
DATA_META = f"{DATA_DIR}/meta.json"

MODEL = f"{RESULTS}/models/{REPLICATE}/model.pt"  # written by train_model, or by import_model for a pretrained method
IMPORT_RECORD = f"{RESULTS}/models/{REPLICATE}/import.json"  # what import_model imported (source, sha256, classes)
HISTORY = f"{RESULTS}/models/{REPLICATE}/history.csv"
CHECKPOINT = f"{RESULTS}/models/{REPLICATE}/resume.pt"  # not an output: kept across failed attempts
TRAINING_FIGURE = f"{RESULTS}/fig_training_{{dataset}}"

EVAL_JSON = f"{RESULTS}/eval/{REPLICATE}.json"
ACCURACY_TABLE = f"{RESULTS}/{{table}}.csv"

ATTRIBUTION_SELECTION = f"{RESULTS}/attribution/{{dataset}}/selection.json"
ATTRIBUTION_JSON = f"{RESULTS}/attribution/{REPLICATE}.json"
ATTRIBUTION_NPZ = f"{RESULTS}/attribution/{REPLICATE}.npz"
ATTRIBUTION_FIGURE = f"{RESULTS}/fig{{number}}_{{dataset}}_attributions"
ATTRIBUTION_GRID_FIGURE = f"{RESULTS}/fig{{number}}_{{dataset}}_{{method}}_grid"
ATTRIBUTION_TABLE = f"{RESULTS}/table7_attribution.csv"

JUDGE_MODEL = f"{RESULTS}/judge/{{dataset}}/model.pt"
JUDGE_HISTORY = f"{RESULTS}/judge/{{dataset}}/history.csv"
JUDGE_CHECKPOINT = f"{RESULTS}/judge/{{dataset}}/resume.pt"  # not an output, as CHECKPOINT
CLASS_SEEDS = f"{RESULTS}/synthesis/{{dataset}}/seeds.npz"
GENERATED_NPZ = f"{RESULTS}/synthesis/{REPLICATE}/generated.npz"
INVERSIONS_NPZ = f"{RESULTS}/synthesis/{REPLICATE}/inversions.npz"
FEATURES_NPZ = f"{RESULTS}/synthesis/{REPLICATE}/features.npz"
SYNTHESIS_METRICS = f"{RESULTS}/synthesis/{{dataset}}/metrics.json"
SYNTHESIS_TABLE = f"{RESULTS}/{{synthesis_table}}.csv"
SEEDS_FIGURE = f"{RESULTS}/fig{{number}}_{{dataset}}_seeds"
GENERATION_FIGURE = f"{RESULTS}/fig{{number}}_{{dataset}}_generation"
INVERSION_FIGURE = f"{RESULTS}/fig{{number}}_{{dataset}}_inversion"
FEATURES_FIGURE = f"{RESULTS}/fig{{number}}_{{dataset}}_features"
# Not under RESULTS: every config with synthesis.features: inception shares the one download.
INCEPTION_WEIGHTS = config.get("inception_weights", "resources/weights-inception-2015-12-05-6726825d.pth")

CURVES_JSON = f"{RESULTS}/curves/{REPLICATE}.json"
ROBUSTNESS_FIGURE = f"{RESULTS}/fig_robustness_{{dataset}}"
ETMANN_NPZ = f"{RESULTS}/etmann/{REPLICATE}.npz"
ETMANN_JSON = f"{RESULTS}/etmann/{REPLICATE}.json"
ETMANN_SUMMARY_FIGURE = f"{RESULTS}/fig_etmann_{{dataset}}_summary"
ETMANN_SCATTER_FIGURE = f"{RESULTS}/fig_etmann_{{dataset}}_scatter"
METHODS_MATRIX_CSV = f"{RESULTS}/{{dataset}}/methods_matrix.csv"
METHODS_MATRIX_FIGURE = f"{RESULTS}/{{dataset}}/methods_matrix"
ROBUSTNESS_INTERPRETABILITY_FIGURE = f"{RESULTS}/fig_robustness_interpretability_{{dataset}}"

REPORT_HTML = f"{RESULTS}/report.html"


# --- resources and how a job starts ---
# Rules declare their threads (the config's threads_per_job) and their resources, sized for
# the paper's settings on a GPU node: mem_mb, runtime in minutes and, for compute jobs, gpu.
# A profile's set-threads and set-resources override them (slurm/config.yaml).


def job_gpus(wildcards):
    """GPUs of a compute job: none when the config runs on the CPU (the demo, .test), else one.

    A profile's set-resources overrides it (slurm/: one for every job of the GPU partition);
    above 1, training runs one DDP process per GPU (robinterp_launcher).
    """
    return 0 if config["device"] == "cpu" else 1


def job_nodes(wildcards):
    """Nodes of a training job: the method's `nodes`, else its dataset's, else 1.

    Above 1, the SLURM plugin submits `sbatch --nodes` and the job runs torchrun on every node
    (robinterp_launcher); a profile's set-resources overrides it for every training job.
    """
    dataset = DATASETS[wildcards.dataset]
    method = dataset["methods"].get(wildcards.model) or {}
    return method.get("nodes", dataset.get("nodes", 1))


def robinterp_launcher(wildcards, resources):
    """How a job starts `robinterp`: plainly, as one DDP process per GPU, or on several nodes.

    `python -m torch.distributed.run` is `torchrun`, found through the same Python as
    everything else (snakemake-executor-plugin-slurm >= 2.7.1 starts one task per job, so
    torchrun, not SLURM, starts the per-GPU processes). On several nodes (the nodes resource),
    `robinterp launch` runs srun with one torchrun agent per node inside the allocation
    (robinterp.training.launch); their GPUs are the per-node gres resource.
    """
    nodes = int(resources.get("nodes", 1) or 1)
    gpus = gpus_per_node(int(resources.get("gpu", 0) or 0), resources.get("gres"), nodes)
    return launcher(gpus, nodes, config.get("rendezvous_port", RENDEZVOUS_PORT))


# --- methods, their replicates and the files of each ---


def methods(dataset):
    return list(DATASETS[dataset]["methods"])


def figure_methods(dataset):
    """The methods in the paper's side-by-side figures; tables and the matrix have every method."""
    return DATASETS[dataset].get("figure_methods") or methods(dataset)


def pretrained(dataset, model):
    """The `pretrained` section of a method imported rather than trained (rule import_model), else None."""
    return (DATASETS[dataset]["methods"][model] or {}).get("pretrained")


def trained_methods(dataset):
    return [m for m in methods(dataset) if not pretrained(dataset, m)]


def method_name_pattern(imported):
    """The `model` wildcard's constraint of train_model (imported False) or import_model (imported True).

    The two rules write the same path (MODEL); each matches only the names of its kind of method, so
    Snakemake picks the rule by the method's name. A name must therefore be of one kind in every dataset.
    """
    kinds = {}  # name -> {is pretrained: a dataset where it is}
    for d in DATASETS:
        for m in methods(d):
            kinds.setdefault(m, {})[bool(pretrained(d, m))] = d
    for m, where in kinds.items():
        if len(where) > 1:
            raise ValueError(
                f"method {m!r} is pretrained in datasets.{where[True]} and trained in datasets.{where[False]}: "
                "give one of them another name (the rule that writes a model is chosen by the method's name)"
            )
    ours = {m for m, where in kinds.items() if imported in where}
    return "|".join(re.escape(m) for m in sorted(ours)) or "(?!)"  # (?!) matches no name


def replicates(dataset, model):
    """How many times a method is trained: its own `replicates`, else its dataset's, else once; imported: once."""
    if pretrained(dataset, model):
        return 1
    method = DATASETS[dataset]["methods"][model] or {}
    return method.get("replicates", DATASETS[dataset].get("replicates", 1))


def replicate_seeds_of(dataset, model):
    """The training seeds of a method's replicates, replicate 0 (the config seed) first (robinterp.base.seeds)."""
    return replicate_seeds(config["seed"], replicates(dataset, model))


def per_replicate(pattern, dataset):
    """Method → `pattern` of each of its replicates (replicate 0 first), for every method of the dataset."""
    return {
        m: [pattern.format(dataset=dataset, model=m, seed=seed) for seed in replicate_seeds_of(dataset, m)]
        for m in methods(dataset)
    }


def per_figure_model(pattern, dataset):
    """Figure method → `pattern` of its replicate 0: a figure of a model's images shows one trained model."""
    return {
        m: pattern.format(dataset=dataset, model=m, seed=replicate_seeds_of(dataset, m)[0])
        for m in figure_methods(dataset)
    }


def training_seed(wildcards):
    """Params function: the seed of a training job, after checking it is one of the method's replicate seeds."""
    seeds = replicate_seeds_of(wildcards.dataset, wildcards.model)
    if int(wildcards.seed) not in seeds:
        raise ValueError(
            f"seed{wildcards.seed} is not a replicate of {wildcards.dataset}/{wildcards.model}: its seeds are "
            f"{seeds} (config: seed and datasets.{wildcards.dataset}[.methods.{wildcards.model}].replicates)"
        )
    return int(wildcards.seed)


def png(figure, **wildcards):
    """The PNG file of a figure pattern, with its wildcards filled in."""
    return f"{figure.format(**wildcards)}.png"


def _paths(paths):
    """A path, or a list of paths (a method's replicates), as a list."""
    return [paths] if isinstance(paths, str) else list(paths)


def name_path_args(mapping):
    """`name=path ...`, a name once per path where it maps to several (a method's replicates, in order)."""
    return " ".join(f"{name}={path}" for name, paths in mapping.items() for path in _paths(paths))


def input_name_paths(wildcards, input):
    """Params function: `name=path ...` of the rule's named inputs (a method → path(s) dict, unpacked)."""
    return name_path_args(dict(input.items()))


def input_list(get):
    """Input function: the paths of the method → path(s) input function `get`, as a list (a named input's files)."""

    def get_paths(wildcards):
        return [path for paths in get(wildcards).values() for path in _paths(paths)]

    return get_paths


def name_path_params(get):
    """Params function: `method=path ...` of the method → path(s) input function `get`."""

    def params(wildcards):
        return name_path_args(get(wildcards))

    return params


# --- settings: the JSON of a config section, as each job receives it ---


def config_attacks():
    """Every attack of the config, with its config path."""
    for name, spec in DATASETS.items():
        where = f"datasets.{name}"
        sections = {f"{where}.train.val_attack": spec["train"].get("val_attack")}
        for method, m in spec["methods"].items():
            sections[f"{where}.methods.{method}.attack"] = m.get("attack")
            sections[f"{where}.methods.{method}.train.val_attack"] = m.get("train", {}).get("val_attack")
        for attack, a in spec["evaluation"]["attacks"].items():
            sections[f"{where}.evaluation.attacks.{attack}"] = a
        for curve, c in spec["curves"]["attacks"].items():
            sections[f"{where}.curves.attacks.{curve}.attack"] = c["attack"]
        sections[f"{where}.attribution.robustness_attack"] = spec["attribution"]["robustness_attack"]
        for procedure in ("generation", "inversion", "visualisation"):
            sections[f"{where}.synthesis.{procedure}.attack"] = spec["synthesis"][procedure]["attack"]
        yield from ((path, attack) for path, attack in sections.items() if attack)


def check_attacks():
    """Build every attack as the jobs will, so that settings which do not fit together stop the run now.

    That includes every point of each robustness curve and the attacks of Etmann's bisection
    (steps x step_size must reach each attack's eps).
    """
    for where, attack in config_attacks():
        from_dict(AttackSpec, attack, where)
    for name, spec in DATASETS.items():
        for curve, c in spec["curves"]["attacks"].items():
            from_dict(CurveSettings, c, f"datasets.{name}.curves.attacks.{curve}")
        from_dict(EtmannSettings, spec["etmann"], f"datasets.{name}.etmann")


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def dataset_settings(section):
    """Params function: the JSON of the dataset's config section `section`."""

    def settings(wildcards):
        return as_json(DATASETS[wildcards.dataset][section])

    return settings


def train_settings(wildcards):
    """The dataset's train section, with the method's own changes, attack and objective."""
    return as_json(method_train_section(DATASETS[wildcards.dataset], wildcards.model))


# --- training and import (workflow/rules/training.smk) ---


def get_histories(wildcards):
    """The histories of the trained methods' replicates (an imported method has none)."""
    return {
        m: paths
        for m, paths in per_replicate(HISTORY, wildcards.dataset).items()
        if m in trained_methods(wildcards.dataset)
    }


def pretrained_settings(wildcards):
    """Params function: the JSON of an imported method's `pretrained` section."""
    return as_json(pretrained(wildcards.dataset, wildcards.model))


def imported_records():
    """'DATASET/MODEL' → what import_model recorded, for every imported method (the report's table)."""
    return {
        f"{d}/{m}": IMPORT_RECORD.format(dataset=d, model=m, seed=replicate_seeds_of(d, m)[0])
        for d in DATASETS
        for m in methods(d)
        if pretrained(d, m)
    }


# --- accuracy under attack (workflow/rules/attacks.smk) ---


def accuracy_table_dataset(wildcards):
    return ACCURACY_TABLES[wildcards.table]


def get_accuracy_metrics(wildcards):
    return per_replicate(EVAL_JSON, accuracy_table_dataset(wildcards))


def paper_run_settings(dataset):
    """The settings of a dataset's run that decide whether its numbers compare like for like with the paper's
    (robinterp.base.paper.PAPER_SETTINGS): architecture, each method's epochs and attack, the evaluation attacks,
    generation, inversion and the features of the synthesis metrics. An imported method has neither epochs
    nor a training attack of ours: they read 'imported' and {'imported': source}, so it never compares like for
    like, whatever its name."""
    spec = DATASETS[dataset]
    synthesis = spec["synthesis"]
    imported = {m: pretrained(dataset, m) for m in methods(dataset)}
    return as_json(
        {
            "arch": spec["model"]["arch"],
            "epochs": {
                m: "imported" if imported[m] else {**spec["train"], **(s or {}).get("train", {})}["epochs"]
                for m, s in spec["methods"].items()
            },
            "attack": {
                m: {"imported": imported[m]["source"]} if imported[m] else (s or {}).get("attack")
                for m, s in spec["methods"].items()
            },
            "evaluation": spec["evaluation"]["attacks"],
            "generation": {**synthesis["generation"]["attack"], "per_class": synthesis["generation"]["per_class"]},
            "inversion": synthesis["inversion"]["attack"],
            "features": synthesis["features"],
        }
    )


def accuracy_table_run_settings(wildcards):
    return paper_run_settings(accuracy_table_dataset(wildcards))


def synthesis_table_run_settings(wildcards):
    return paper_run_settings(synthesis_table_dataset(wildcards))


def accuracy_table_metrics(wildcards):
    """The accuracy table's columns: the metrics the evaluation jobs report (robinterp.attacks.spec)."""
    return ",".join(accuracy_metric_names(DATASETS[accuracy_table_dataset(wildcards)]["evaluation"]["attacks"]))


# --- attribution (workflow/rules/attribution.smk) ---


def get_attribution_arrays(wildcards):
    """The maps of every figure method of a dataset, after checking that the figure number is the paper's."""
    figures = DATASETS[wildcards.dataset]["attribution"]["figures"]
    kind = "samples" if "method" not in wildcards.keys() else f"{wildcards.method}_grid"
    if figures[kind] != wildcards.number:
        raise ValueError(
            f"the {kind.replace('_', ' ')} figure of {wildcards.dataset} is fig{figures[kind]}, not "
            f"fig{wildcards.number} (config: datasets.{wildcards.dataset}.attribution.figures.{kind})"
        )
    return per_figure_model(ATTRIBUTION_NPZ, wildcards.dataset)


def attribution_sample_rows(wildcards):
    return ",".join(map(str, DATASETS[wildcards.dataset]["attribution"]["sample_rows"]))


def attribution_figure_scale(wildcards):
    """Each map on its own colour scale (per_map, the default) or one scale shared by the models."""
    return DATASETS[wildcards.dataset]["attribution"]["figures"].get("scale", "per_map")


def attribution_metric_files():
    """'DATASET:MODEL' → metrics JSONs of every (dataset, method), one per replicate, for table 7."""
    return {f"{d}:{m}": paths for d in DATASETS for m, paths in per_replicate(ATTRIBUTION_JSON, d).items()}


def attribution_figures(dataset):
    figures = DATASETS[dataset]["attribution"]["figures"]
    return [
        png(ATTRIBUTION_FIGURE, number=figures["samples"], dataset=dataset),
        png(ATTRIBUTION_GRID_FIGURE, number=figures["ig_grid"], dataset=dataset, method="ig"),
        png(ATTRIBUTION_GRID_FIGURE, number=figures["shap_grid"], dataset=dataset, method="shap"),
    ]


# --- synthesis (workflow/rules/synthesis.smk) ---

SYNTHESIS_TABLES = {
    spec["synthesis"]["tables"][kind]: (name, kind) for name, spec in DATASETS.items() for kind in ("fid", "inversion")
}


def synthesis(dataset):
    return DATASETS[dataset]["synthesis"]


# The part of a dataset's synthesis section each job uses: a job's params change, and the
# job re-runs, only when a setting it uses changes (not, say, a figure's size).
_COMPUTE = ["seed", "batch_size", "amp_bf16", "log_every"]
SYNTHESIS_KEYS = {
    "class_seeds": ["seed", "seeds", "generation"],
    "generate_classes": _COMPUTE + ["generation"],
    "invert_representations": _COMPUTE + ["noise", "inversion"],
    "visualise_features": _COMPUTE + ["noise", "visualisation"],
    "synthesis_metrics": ["seed", "feature_batch_size", "features"],
}


def synthesis_settings(job=None):
    """Params function: the JSON of the dataset's synthesis section, or of the keys `job` uses."""

    def settings(wildcards):
        section = synthesis(wildcards.dataset)
        keys = SYNTHESIS_KEYS[job] if job else section
        return as_json({k: section[k] for k in keys if k in section})

    return settings


def synthesis_shell(command, extra=""):
    """The shell command of a per-model synthesis job (generate, invert, visualise)."""
    return (
        f"python -m robinterp {command} --data {{input.data:q}} --model {{input.model:q}}"
        " --model-settings {params.model:q} --settings {params.settings:q} --device {params.device}"
        f" --threads {{threads}} {extra}--out {{output:q}} --where datasets.{{wildcards.dataset}}.synthesis"
        " 2> {log:q}"
    )


def judge(dataset):
    judge = synthesis(dataset).get("judge")
    if not judge:
        raise ValueError(f"datasets.{dataset}.synthesis.features is 'judge' but there is no judge section")
    return judge


def judge_train_settings(wildcards):
    """The dataset's train section with the judge's attack (none: standard training) and changes, selected by
    clean validation accuracy unless the judge's train section says otherwise."""
    spec = judge(wildcards.dataset)
    train = DATASETS[wildcards.dataset]["train"]
    return as_json({**train, "attack": spec.get("attack"), "selection": "clean", **spec["train"]})


def judge_model_settings(wildcards):
    """The dataset's model section, with the judge's own architecture where it names one."""
    model = DATASETS[wildcards.dataset]["model"]
    arch = synthesis(wildcards.dataset).get("judge", {}).get("arch", model["arch"])
    return as_json({**model, "arch": arch})


def judge_seed(wildcards):
    return judge(wildcards.dataset)["seed"]


def get_feature_extractor(wildcards):
    """What the FID features come from: the judge's checkpoint, or the Inception weights."""
    if synthesis(wildcards.dataset)["features"] == "judge":
        return JUDGE_MODEL.format(dataset=wildcards.dataset)
    return INCEPTION_WEIGHTS


def get_generated(wildcards):
    return per_replicate(GENERATED_NPZ, wildcards.dataset)


def get_inversions(wildcards):
    return per_replicate(INVERSIONS_NPZ, wildcards.dataset)


def synthesis_table_dataset(wildcards):
    return SYNTHESIS_TABLES[wildcards.synthesis_table][0]


def synthesis_table_kind(wildcards):
    return SYNTHESIS_TABLES[wildcards.synthesis_table][1]


def synthesis_table_features(wildcards):
    return synthesis(synthesis_table_dataset(wildcards))["features"]


def synthesis_table_models(wildcards):
    return ",".join(methods(synthesis_table_dataset(wildcards)))


def get_synthesis_table_metrics(wildcards):
    return SYNTHESIS_METRICS.format(dataset=synthesis_table_dataset(wildcards))


def synthesis_figure_entry(wildcards, kind):
    """Position of figure `number` among the dataset's `kind` figures, after checking it is the paper's."""
    numbers = synthesis(wildcards.dataset)["figures"][kind]
    numbers = numbers if isinstance(numbers, list) else [numbers]
    if wildcards.number not in numbers:
        raise ValueError(
            f"fig{wildcards.number} is not a {kind} figure of {wildcards.dataset} (config: "
            f"datasets.{wildcards.dataset}.synthesis.figures.{kind} = {numbers})"
        )
    return numbers.index(wildcards.number)


def figure_entry(kind):
    """Params function: the position of the rule's figure among the dataset's `kind` figures."""

    def entry(wildcards):
        return synthesis_figure_entry(wildcards, kind)

    return entry


def get_class_seeds_of_figure(wildcards):
    """The class seeds, for the seeds figure of the dataset (checked to be the paper's number)."""
    synthesis_figure_entry(wildcards, "seeds")
    return CLASS_SEEDS.format(dataset=wildcards.dataset)


def get_generation_figure_arrays(wildcards):
    """The generated images of the figure methods, for the generation figure (checked as above)."""
    synthesis_figure_entry(wildcards, "generation")
    return per_figure_model(GENERATED_NPZ, wildcards.dataset)


def get_inversion_figure_arrays(wildcards):
    return per_figure_model(INVERSIONS_NPZ, wildcards.dataset)


def get_feature_figure_arrays(wildcards):
    return per_figure_model(FEATURES_NPZ, wildcards.dataset)


def synthesis_figures(dataset):
    figures = synthesis(dataset)["figures"]
    return (
        [
            png(SEEDS_FIGURE, number=figures["seeds"], dataset=dataset),
            png(GENERATION_FIGURE, number=figures["generation"], dataset=dataset),
        ]
        + [png(INVERSION_FIGURE, number=n, dataset=dataset) for n in figures["inversion"]]
        + [png(FEATURES_FIGURE, number=n, dataset=dataset) for n in figures["visualisation"]]
    )


# --- analyses across methods (workflow/rules/analysis.smk) ---


def get_curves(wildcards):
    return per_replicate(CURVES_JSON, wildcards.dataset)


def get_etmann_arrays(wildcards):
    return per_replicate(ETMANN_NPZ, wildcards.dataset)


def gradnorm_order(wildcards):
    """The gradient-norm methods of a dataset, by increasing weight (the curve of Etmann Figs. 2-3)."""
    weighted = [
        (spec["objective"]["weight"], m)
        for m, spec in DATASETS[wildcards.dataset]["methods"].items()
        if (spec.get("objective") or {}).get("name") == "gradnorm"
    ]
    return ",".join(m for _, m in sorted(weighted))


def get_evaluations(wildcards):
    return per_replicate(EVAL_JSON, wildcards.dataset)


def get_attribution_metrics(wildcards):
    return per_replicate(ATTRIBUTION_JSON, wildcards.dataset)


def get_etmann_summaries(wildcards):
    return per_replicate(ETMANN_JSON, wildcards.dataset)


def robust_accuracy_metric(wildcards):
    """The x axis of the robustness-interpretability figure: the accuracy under the dataset's first evaluation attack."""
    attack = next(iter(DATASETS[wildcards.dataset]["evaluation"]["attacks"]), None)
    return f"{attack}_accuracy" if attack else "clean_accuracy"


def methods_outputs(dataset):
    return [
        METHODS_MATRIX_CSV.format(dataset=dataset),
        png(METHODS_MATRIX_FIGURE, dataset=dataset),
        png(ROBUSTNESS_INTERPRETABILITY_FIGURE, dataset=dataset),
        png(ROBUSTNESS_FIGURE, dataset=dataset),
        png(ETMANN_SUMMARY_FIGURE, dataset=dataset),
        png(ETMANN_SCATTER_FIGURE, dataset=dataset),
    ]


# --- the final outputs (Snakefile, workflow/rules/report.smk) ---


def report_tables():
    return (
        [ACCURACY_TABLE.format(table=table) for table in ACCURACY_TABLES]
        + [SYNTHESIS_TABLE.format(synthesis_table=table) for table in SYNTHESIS_TABLES]
        + [ATTRIBUTION_TABLE]
        + [METHODS_MATRIX_CSV.format(dataset=d) for d in DATASETS]
    )


def report_figures():
    return (
        [png(TRAINING_FIGURE, dataset=d) for d in DATASETS if trained_methods(d)]
        + [path for d in DATASETS for path in attribution_figures(d) + synthesis_figures(d)]
        + [path for d in DATASETS for path in methods_outputs(d) if path.endswith(".png")]
    )


def all_outputs():
    return sorted(set(report_tables() + report_figures())) + [REPORT_HTML]


def log_cost_plan():
    """On a cluster executor, before the first job is submitted: the estimated compute of the whole
    config in one line (`python -m robinterp plan CONFIG` gives it per rule)."""
    if workflow.local_exec or workflow.remote_exec:
        return
    from robinterp.analysis.plan import plan_line

    try:
        logger.info(plan_line(config))
    except Exception as exc:  # an estimate must not stop the run it estimates; it says why it is missing
        logger.warning(f"plan: no estimate ({type(exc).__name__}: {exc})")
