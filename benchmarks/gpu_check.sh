#!/usr/bin/env bash
# One prepared GPU check of the pre-training step and classification inference (ViT-B, bf16, batch 16 and 32).
# Run from the repository root on a machine with one CUDA GPU:   bash benchmarks/gpu_check.sh
# About 5-8 minutes on an H100 (the compile run is skipped unless COMPILE=1). Results go to $RESULTS
# (default benchmarks/results/gpu, or $OUT/gpu when $OUT is set): *.json, *.md and gpu_check.log.
set -uo pipefail
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
RESULTS="${RESULTS:-${OUT:+$OUT/gpu}}"
RESULTS="${RESULTS:-benchmarks/results/gpu}"
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
run() {  # run <seconds> <command...>: time-limited, logged, never aborts the script
  local limit=$1; shift
  echo "=== $(date +%T) $*" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -40
  echo "=== exit ${PIPESTATUS[0]}" | tee -a "$LOG"
}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee -a "$LOG"
python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" | tee -a "$LOG"

# 1. No host-device sync in the step (sync debug mode "error"), bf16 close to fp32, compile matches eager.
run 240 python -m pytest -q tests/test_performance.py -p no:cacheprovider

# 2. Pre-training step, ViT-B, bf16 autocast, fused AdamW: batch 16 and 32 (time, FLOPs, MFU, peak memory).
for BS in 16 32; do
  run 150 python benchmarks/bench_pretraining.py --sizes base --device cuda --dtype bf16 --batch-size $BS \
    --warmup 3 --repeats 10 --output "$RESULTS/pretraining_base_bf16_bs$BS"
done

# 3. Where the time goes on the GPU (CUDA time per part), batch 16.
run 90 python benchmarks/bench_pretraining.py --sizes base --device cuda --dtype bf16 --batch-size 16 \
  --warmup 2 --repeats 2 --profile --no-memory --no-flops --no-breakdown --output "$RESULTS/profile_base_bf16_bs16"

# 4. Classification inference, ViT-B, bf16, batch 32.
run 90 python benchmarks/bench_inference.py --sizes base --device cuda --dtype bf16 --batch-size 32 \
  --warmup 3 --repeats 10 --output "$RESULTS/inference_base_bf16_bs32"

# 5. Optional: torch.compile (inductor), batch 32.
if [ "${COMPILE:-0}" = "1" ]; then
  run 240 python benchmarks/bench_pretraining.py --sizes base --device cuda --dtype bf16 --batch-size 32 --compile \
    --warmup 1 --repeats 5 --no-breakdown --output "$RESULTS/pretraining_base_bf16_bs32_compile"
fi
cat "$RESULTS"/*.md > "$RESULTS/ALL.md" 2>/dev/null
echo "done: $RESULTS" | tee -a "$LOG"
