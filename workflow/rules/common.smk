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


def all_outputs():
    outputs = [f"{RESULTS}/{table}.csv" for table in ACCURACY_TABLES]
    outputs += [f"{RESULTS}/fig_training_{d}.png" for d in DATASETS]
    return outputs
