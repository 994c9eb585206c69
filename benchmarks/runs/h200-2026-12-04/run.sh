#!/usr/bin/env bash
# One device session: wheels, a CUDA smoke run (gate), the probe of the paper config, bench_pgd, the full gpu_check.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHON=python3
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/nvidia_smi.txt"
python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'numpy', numpy.__version__)"
el smoke
timeout 90 benchmarks/gpu_check.sh --smoke --json "$OUT/smoke_cuda.json" > "$OUT/smoke.log" 2>&1; rc=$?
tail -5 "$OUT/smoke.log"; el "smoke rc $rc"
if [[ $rc -ne 0 ]]; then tail -60 "$OUT/smoke.log"; exit 4; fi
el probe
PYTHONPATH=src:/tmp/site timeout 120 python3 -m robinterp probe --config config.yaml --device cuda --out "$OUT/probe_cuda.json" > "$OUT/probe.log" 2>&1
el "probe rc $?"; tail -30 "$OUT/probe.log"
el bench_pgd
PYTHONPATH=src:/tmp/site timeout 45 python3 benchmarks/bench_pgd.py --device cuda --arch resnet18_cifar --batch 128 --steps 20 --repeats 5 --json "$OUT/bench_pgd_cuda.json" > "$OUT/bench_pgd.log" 2>&1
el "bench_pgd rc $?"; tail -15 "$OUT/bench_pgd.log"
el gpu_check
left=$(( 575 - ($(date +%s) - t0) )); el "gpu_check timeout $left s"
timeout $left benchmarks/gpu_check.sh --budget-s $(( left < 260 ? left - 40 : 220 )) --json "$OUT/gpu_check_cuda.json" > "$OUT/gpu_check.log" 2>&1
el "gpu_check rc $?"; tail -70 "$OUT/gpu_check.log"
