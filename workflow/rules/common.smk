# Helpers shared by the workflow modules (output paths, the JSON settings each job
# receives, the list of final outputs); no rules are defined here.

import json
import os
import sys

from snakemake.settings.types import DeploymentMethod

RESULTS = config["results"]
DATASETS = config["datasets"]
ACCURACY_TABLES = {spec["accuracy_table"]: name for name, spec in DATASETS.items()}
# Threads of each compute job (torch's intra-op threads); the SLURM profile sets its own per rule.
# On a small machine one thread per job lets jobs run side by side, which small models prefer.
JOB_THREADS = config.get("threads_per_job", 2)

# Every rule runs `python -m robinterp` from this checkout's src/. With --sdm conda
# that is the rule's environment (envs/, dependencies only); otherwise it is the
# Python that runs Snakemake, even when its venv is not activated.
_PATH = "" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else (
    f"export PATH={os.path.dirname(sys.executable)}:$PATH; "
)
shell.prefix(f"set -euo pipefail; {_PATH}export PYTHONPATH={workflow.basedir}/src; ")


def robinterp_launcher(wildcards, resources):
    """How a job starts `robinterp`: plainly, or as one DDP process per GPU when it asks for several.

    `python -m torch.distributed.run` is `torchrun`, found through the same Python as
    everything else (snakemake-executor-plugin-slurm >= 2.7.1 starts one task per job, so
    torchrun, not SLURM, starts the per-GPU processes).
    """
    gpus = int(resources.get("gpu", 0) or 0)
    if gpus > 1:
        return f"python -m torch.distributed.run --standalone --nnodes=1 --nproc-per-node={gpus} -m robinterp"
    return "python -m robinterp"


def methods(dataset):
    return list(DATASETS[dataset]["methods"])


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def prepared(dataset):
    return f"{RESULTS}/data/{dataset}/meta.json"


def model_file(dataset, model):
    return f"{RESULTS}/models/{dataset}/{model}/model.pt"


def train_settings(wildcards):
    """The dataset's train section, with the method's own changes, attack and objective."""
    spec = DATASETS[wildcards.dataset]
    method = dict(spec["methods"][wildcards.model])
    return as_json({**spec["train"], **method.pop("train", {}), **method})


def accuracy_metrics(wildcards):
    dataset = ACCURACY_TABLES[wildcards.table]
    return {m: f"{RESULTS}/eval/{dataset}/{m}.json" for m in methods(dataset)}


def accuracy_metric_names(wildcards):
    """Clean accuracy, each attack's accuracy, and the image count of an attack run on a subset."""
    dataset = ACCURACY_TABLES[wildcards.table]
    names = ["clean_accuracy"]
    for attack, spec in DATASETS[dataset]["evaluation"]["attacks"].items():
        names += [f"{attack}_accuracy"] + ([f"n_{attack}"] if spec.get("max_examples") else [])
    return ",".join(names)


def name_path_args(mapping):
    return " ".join(f"{name}={path}" for name, path in mapping.items())


def attribution_settings(wildcards):
    return as_json(DATASETS[wildcards.dataset]["attribution"])


def attribution_arrays(wildcards):
    """The maps of every method of a dataset, after checking that the figure number is the paper's."""
    figures = DATASETS[wildcards.dataset]["attribution"]["figures"]
    kind = "samples" if "method" not in wildcards.keys() else f"{wildcards.method}_grid"
    if figures[kind] != wildcards.number:
        raise ValueError(f"the {kind.replace('_', ' ')} figure of {wildcards.dataset} is fig{figures[kind]}, not "
                         f"fig{wildcards.number} (config: datasets.{wildcards.dataset}.attribution.figures.{kind})")
    return {m: f"{RESULTS}/attribution/{wildcards.dataset}/{m}.npz" for m in figure_methods(wildcards.dataset)}


def attribution_metric_files():
    """'DATASET:MODEL' → metrics JSON of every (dataset, method), for table 7."""
    return {f"{d}:{m}": f"{RESULTS}/attribution/{d}/{m}.json" for d in DATASETS for m in methods(d)}


def attribution_figures(dataset):
    figures = DATASETS[dataset]["attribution"]["figures"]
    return [f"{RESULTS}/fig{figures['samples']}_{dataset}_attributions.png",
            f"{RESULTS}/fig{figures['ig_grid']}_{dataset}_ig_grid.png",
            f"{RESULTS}/fig{figures['shap_grid']}_{dataset}_shap_grid.png"]


# --- synthesis (workflow/rules/synthesis.smk) ---

INCEPTION_WEIGHTS = config.get("inception_weights", "resources/weights-inception-2015-12-05-6726825d.pth")
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


def synthesis_file(dataset, model, kind):
    """Stored images of one model: kind = generated | inversions | features."""
    return f"{RESULTS}/synthesis/{dataset}/{model}/{kind}.npz"


def synthesis_files(dataset, kind, figure=False):
    """Method → stored images of that kind: every method of the dataset, or those of the figures."""
    return {m: synthesis_file(dataset, m, kind) for m in (figure_methods(dataset) if figure else methods(dataset))}


def judge_file(dataset):
    return f"{RESULTS}/judge/{dataset}/model.pt"


def feature_extractor_file(wildcards):
    """What the FID features come from: the judge's checkpoint, or the Inception weights."""
    if synthesis(wildcards.dataset)["features"] == "judge":
        return judge_file(wildcards.dataset)
    return INCEPTION_WEIGHTS


def judge_train_settings(wildcards):
    judge = synthesis(wildcards.dataset).get("judge")
    if not judge:
        raise ValueError(f"datasets.{wildcards.dataset}.synthesis.features is 'judge' but there is no judge section")
    # A standard model, selected by clean validation accuracy unless the judge section says otherwise.
    return as_json({**DATASETS[wildcards.dataset]["train"], "attack": None, "selection": "clean", **judge["train"]})


def synthesis_shell(command, extra=""):
    """The shell command of a per-model synthesis job (generate, invert, visualise)."""
    return (
        f"python -m robinterp {command} --data {{input.data:q}} --model {{input.model:q}}"
        " --model-settings {params.model:q} --settings {params.settings:q} --device {params.device}"
        f" --threads {{threads}} {extra}--out {{output:q}} --where datasets.{{wildcards.dataset}}.synthesis"
        " 2> {log:q}"
    )


def synthesis_figure_entry(wildcards, kind):
    """Position of figure `number` among the dataset's `kind` figures, after checking it is the paper's."""
    numbers = synthesis(wildcards.dataset)["figures"][kind]
    numbers = numbers if isinstance(numbers, list) else [numbers]
    if wildcards.number not in numbers:
        raise ValueError(f"fig{wildcards.number} is not a {kind} figure of {wildcards.dataset} (config: "
                         f"datasets.{wildcards.dataset}.synthesis.figures.{kind} = {numbers})")
    return numbers.index(wildcards.number)


def synthesis_figures(dataset):
    figures = synthesis(dataset)["figures"]
    return ([f"{RESULTS}/fig{figures['seeds']}_{dataset}_seeds.png",
             f"{RESULTS}/fig{figures['generation']}_{dataset}_generation.png"]
            + [f"{RESULTS}/fig{n}_{dataset}_inversion.png" for n in figures["inversion"]]
            + [f"{RESULTS}/fig{n}_{dataset}_features.png" for n in figures["visualisation"]])


def report_tables():
    return ([f"{RESULTS}/{table}.csv" for table in ACCURACY_TABLES] + [f"{RESULTS}/{t}.csv" for t in SYNTHESIS_TABLES]
            + [f"{RESULTS}/table7_attribution.csv"] + [f"{RESULTS}/{d}/methods_matrix.csv" for d in DATASETS])


def report_figures():
    return ([f"{RESULTS}/fig_training_{d}.png" for d in DATASETS]
            + [path for d in DATASETS for path in attribution_figures(d) + synthesis_figures(d)]
            + [path for d in DATASETS for path in methods_outputs(d) if path.endswith(".png")])


def all_outputs():
    return sorted(set(report_tables() + report_figures())) + [f"{RESULTS}/report.html"]


# --- the other seeds' analyses (workflow/rules/methods.smk) ---


def figure_methods(dataset):
    """The methods in the paper's side-by-side figures; tables and the matrix have every method."""
    return DATASETS[dataset].get("figure_methods") or methods(dataset)


def per_model_files(dataset, pattern):
    """Method → `pattern` formatted with dataset and model, for every method of the dataset."""
    return {m: pattern.format(results=RESULTS, dataset=dataset, model=m) for m in methods(dataset)}


def gradnorm_order(dataset):
    """The gradient-norm methods of a dataset, by increasing weight (the curve of Etmann Figs. 2-3)."""
    weighted = [(spec["objective"]["weight"], m) for m, spec in DATASETS[dataset]["methods"].items()
                if (spec.get("objective") or {}).get("name") == "gradnorm"]
    return ",".join(m for _, m in sorted(weighted))


def methods_outputs(dataset):
    return [f"{RESULTS}/{dataset}/methods_matrix.csv", f"{RESULTS}/{dataset}/methods_matrix.png",
            f"{RESULTS}/fig_robustness_{dataset}.png", f"{RESULTS}/fig_etmann_{dataset}_summary.png",
            f"{RESULTS}/fig_etmann_{dataset}_scatter.png"]
