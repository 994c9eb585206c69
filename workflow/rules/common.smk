# Helpers shared by the workflow modules (output paths, the JSON settings each job
# receives, the list of final outputs); no rules are defined here.

import json
import os
import sys

from snakemake.settings.types import DeploymentMethod

RESULTS = config["results"]
DATASETS = config["datasets"]
ACCURACY_TABLES = {spec["accuracy_table"]: name for name, spec in DATASETS.items()}

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
    spec = DATASETS[wildcards.dataset]
    return as_json({**spec["train"], **spec["methods"][wildcards.model]})


def accuracy_metrics(wildcards):
    dataset = ACCURACY_TABLES[wildcards.table]
    return {m: f"{RESULTS}/eval/{dataset}/{m}.json" for m in methods(dataset)}


def accuracy_metric_names(wildcards):
    dataset = ACCURACY_TABLES[wildcards.table]
    return ",".join(["clean_accuracy"] + [f"{a}_accuracy" for a in DATASETS[dataset]["evaluation"]["attacks"]])


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
    return {m: f"{RESULTS}/attribution/{wildcards.dataset}/{m}.npz" for m in methods(wildcards.dataset)}


def attribution_metric_files():
    """'DATASET:MODEL' → metrics JSON of every (dataset, method), for table 7."""
    return {f"{d}:{m}": f"{RESULTS}/attribution/{d}/{m}.json" for d in DATASETS for m in methods(d)}


def attribution_figures(dataset):
    figures = DATASETS[dataset]["attribution"]["figures"]
    return [f"{RESULTS}/fig{figures['samples']}_{dataset}_attributions.png",
            f"{RESULTS}/fig{figures['ig_grid']}_{dataset}_ig_grid.png",
            f"{RESULTS}/fig{figures['shap_grid']}_{dataset}_shap_grid.png"]


def all_outputs():
    outputs = [f"{RESULTS}/{table}.csv" for table in ACCURACY_TABLES]
    outputs += [f"{RESULTS}/fig_training_{d}.png" for d in DATASETS]
    outputs += [f"{RESULTS}/table7_attribution.csv"]
    outputs += [path for d in DATASETS for path in attribution_figures(d)]
    return outputs
