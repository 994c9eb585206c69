#!/usr/bin/env bash
# One short GPU check of the package (issue §5, "Ready for a GPU"): about 5 minutes on one GPU.
#
# Trains ResNet-18 standard and PGD-L2 for a few hundred steps in float32 and bf16 autocast with channels_last,
# runs IG, SHAP, an inversion and the FID feature extractors in both, checks that bf16 stays within the stated
# tolerances of float32, and prints images/s for each; then probes the paper config's models for `robinterp plan`
# (--probe-out PATH writes the probe). The logic is benchmarks/gpu_check.py; see benchmarks/README.md.
#
# Usage:
#   benchmarks/gpu_check.sh [--json PATH] [--probe-out PATH] [--budget-s S] [--variants auto|full|minimal]  # GPU
#   benchmarks/gpu_check.sh --device cpu --smoke [--json PATH]                             # the same code, tiny, on a CPU
#
# The Python: $PYTHON if set, else the checkout's .venv/bin/python, else python3 on the PATH. The package is
# imported from this checkout's src/ (PYTHONPATH), whatever is installed. Exits with the driver's status:
# 0 all checks passed, 1 a check failed (named in the output), 2 bad arguments or no CUDA device.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${PYTHON:-}" ]]; then
    python="$PYTHON"
elif [[ -x "$repo/.venv/bin/python" ]]; then
    python="$repo/.venv/bin/python"
else
    python="$(command -v python3)"
fi
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"

# --device cuda is the driver's default; pass --device cpu (with --smoke) on a machine without a GPU.
exec "$python" "$repo/benchmarks/gpu_check.py" "$@"
