#!/usr/bin/env bash
# The CUDA checks of docs/performance.md ("On a GPU"), as one script for a lent GPU machine:
#   1. tests/test_cuda.py: every train.precision, channels_last and compile train and resume on the GPU,
#      a GPU run samples on the CPU, torchrun with NCCL;
#   2. bench/ab_step.py: the options whose GPU defaults these figures chose, side by side in one process;
#      bench/ab_tf32.py: what TF32 convolutions and matrix multiplies change;
#   3. ganforge bench train for dcgan-fmnist and hw6-dcgan-64: utilisation and data wait; two whole
#      dcgan-fmnist runs, eager and with CUDA graphs, compile time included;
#   4. the whole test suite with the GPU visible (train.device=auto picks it), in parallel.
# Usage: bash bench/cuda_checks.sh OUT_DIR FASHION_MNIST_DIR [STEPS]
# Each part has its own time limit, so a slow part cannot starve the ones after it.
# All parts may take longer than one 10-minute call of a lent machine: WHOLE_RUNS=0 and SUITE_SECONDS=0
# skip the two longest.
set -u
out=${1:?OUT_DIR}; fm=${2:?FASHION_MNIST_DIR}; steps=${3:-200}
device=${GANFORGE_CHECK_DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
mkdir -p "$out"
export PYTHONUNBUFFERED=1

{ nvidia-smi -L; python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())'; nproc; } \
  >"$out/machine.txt" 2>&1

timeout -s INT -k 15 150 python3 -m pytest -q -rA -s -p no:cacheprovider tests/test_cuda.py >"$out/test_cuda.log" 2>&1
echo "test_cuda rc=$?" >>"$out/machine.txt"

bench() {  # NAME PRESET STEPS --set ...: ganforge bench train, one JSON line in bench.jsonl
  local name=$1 preset=$2 n=$3; shift 3
  if timeout 90 python3 -m ganforge bench train "$preset" --steps "$n" --json "$out/b.json" \
       --set train.device="$device" "$@" >>"$out/bench.log" 2>&1; then
    python3 -c 'import json, sys; r = json.load(open(sys.argv[2])); r["name"] = sys.argv[1]; print(json.dumps(r))' \
      "$name" "$out/b.json" >>"$out/bench.jsonl"
  else
    echo "{\"name\": \"$name\", \"failed\": true}" >>"$out/bench.jsonl"
  fi
}
one_line() {  # FILE: a JSON file as one line of a .jsonl log
  python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$1"
}
ab() {  # PRESET A B STEPS [FLAG]: bench/ab_step.py, A and B taking turns in one process, one JSON line in ab.jsonl
  if timeout 60 python3 bench/ab_step.py "$1" --a "$2,train.device=$device" --b "$3,train.device=$device" \
       --steps "$4" --rounds 6 ${5:-} --json "$out/ab.json" >>"$out/ab.log" 2>&1; then
    one_line "$out/ab.json" >>"$out/ab.jsonl"
  else
    echo "{\"preset\": \"$1\", \"a\": \"$2\", \"b\": \"$3\", \"failed\": true}" >>"$out/ab.jsonl"
  fi
}
as_sets() {  # a=1,b=2 -> --set a=1 --set b=2 (the CLI takes one override per --set; ab_step.py takes the list)
  local kv; for kv in ${1//,/ }; do echo --set "$kv"; done
}
fm_data="data.root=$fm"
# 64x64 RGB from the same files (the 10,000 test images: resizing all 60,000 would take longer than the bench)
big_data="data.name=fashion-mnist,data.split=test,data.root=$fm,data.resolution=64"
# the options whose defaults these measurements choose: precision, channels_last; and what determinism costs
ab dcgan-fmnist "$fm_data" "$fm_data,train.precision=fp32" "$steps"
ab dcgan-fmnist "$fm_data" "$fm_data,train.channels_last=false" "$steps"
ab dcgan-fmnist "$fm_data" "$fm_data,train.deterministic=true" "$steps"
ab dcgan-fmnist "$fm_data" "$fm_data" "$steps" --b-batches-in-host-memory  # what holding the data on the GPU gains
ab dcgan-fmnist "$fm_data,train.batch_size=512" "$fm_data,train.batch_size=512,train.precision=fp32" "$((steps / 2))"
ab hw6-dcgan-64 "$big_data" "$big_data,train.precision=bf16" "$((steps / 2))"
ab hw6-dcgan-64 "$big_data" "$big_data,train.deterministic=true" "$((steps / 2))"
# CUDA graphs, an option (not a default)
cuda_graphs="train.compile=true,train.compile_mode=reduce-overhead"
ab dcgan-fmnist "$fm_data" "$fm_data,$cuda_graphs" "$steps"
ab hw6-dcgan-64 "$big_data" "$big_data,$cuda_graphs" "$((steps / 2))"
tf32() {  # PRESET DATA: bench/ab_tf32.py (no TF32, torch's defaults, TF32 matrix multiplies too), one JSON line in tf32.jsonl
  timeout 70 python3 bench/ab_tf32.py "$1" $(as_sets "$2") --set train.device="$device" --steps "$((steps / 2))" \
    --json "$out/tf32.json" >>"$out/tf32.log" 2>&1 && one_line "$out/tf32.json" >>"$out/tf32.jsonl"
}
tf32 dcgan-fmnist "$fm_data"
tf32 hw6-dcgan-64 "$big_data"
bench dcgan-fmnist dcgan-fmnist "$steps" --set "$fm_data"
bench hw6-dcgan-64 hw6-dcgan-64 "$((steps / 4))" $(as_sets "$big_data")
# whole runs, compile time included (ab leaves it out): eager, then CUDA graphs, one line each in runs.jsonl
# with the wall time of the first 50 steps, the median logged img/s, the run's seconds and its last FID
whole() {  # NAME [OVERRIDES]: a comma-separated list, as ab takes
  local name=$1
  timeout 150 python3 -m ganforge train dcgan-fmnist --out "$out/run-$name" --force --set "$fm_data" \
    --set train.device="$device" --set train.max_seconds=0 --set train.max_steps="$((steps * 60))" \
    --set log.progress=false --set eval.every_kimg=256 --set eval.num_samples=5000 $(as_sets "${2:-}") >>"$out/runs.log" 2>&1
  python3 -c 'import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[2])]
rates = [r["images_per_second"] for r in rows if "images_per_second" in r]
fid = [r["eval/fid"] for r in rows if "eval/fid" in r]
print(json.dumps({"name": sys.argv[1], "first_50_steps_s": rows[0]["seconds"], "median_images_per_second": statistics.median(rates),
                  "steps": rows[-1]["step"], "seconds": rows[-1]["seconds"], "fid": fid[-1] if fid else None}))' \
    "$name" "$out/run-$name/metrics.jsonl" >>"$out/runs.jsonl" 2>>"$out/runs.log"
  rm -rf "$out/run-$name"  # only the summary comes back: a run folder holds many files
}
if [ "${WHOLE_RUNS:-1}" != 0 ]; then  # about 4 minutes on an H200; WHOLE_RUNS=0 skips them
  whole eager
  whole cuda-graphs "$cuda_graphs"
fi
rm -f "$out/b.json" "$out/ab.json"

# the rest of the suite with the GPU visible: 12 workers (pytest-xdist), skipped with SUITE_SECONDS=0
if [ "${SUITE_SECONDS:-150}" != 0 ]; then
  # -v: each result is in the log as it happens; under xdist a SIGINT at the limit may not stop
  # pytest before the kill 15 s later, and -rf's summary at the end is then lost
  timeout -s INT -k 15 "${SUITE_SECONDS:-150}" python3 -m pytest -v -rf -n 12 -p no:cacheprovider --ignore tests/test_cuda.py \
    >"$out/suite.log" 2>&1
  echo "suite rc=$?" >>"$out/machine.txt"
fi
