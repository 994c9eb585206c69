# Reproduces Boychev (2023), "Interpretable Computer Vision Models through
# Adversarial Training", end to end. Rules live in workflow/rules/; everything
# they compute lives in the robinterp package (src/robinterp).
#
#   snakemake --profile slurm all                      # the paper, on a SLURM cluster
#   snakemake --cores 2 --configfile config/demo.yaml  # the CPU demo

import sys

from snakemake.utils import min_version

min_version("9.0")

# The package's config schema and attack checks (they import no torch).
sys.path.insert(0, f"{workflow.basedir}/src")
from robinterp.base.config import validate_config

# config.yaml (the paper) unless another config is given with --configfile,
# which then replaces it rather than being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# The schema (workflow/schemas/config.schema.yaml) names the first bad key and the rule it breaks.
validate_config(config)


include: "workflow/rules/common.smk"


check_attacks()


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(sorted({m for d in DATASETS.values() for m in d["methods"]})),
    table="|".join(ACCURACY_TABLES),
    seed="[0-9]+",


include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/synthesis.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


onstart:
    log_cost_plan()


rule all:
    default_target: True
    input:
        all_outputs(),
