#!/usr/bin/env bash
# One prepared GPU check (issue 12), under 10 minutes on one H100/H200:
#   1. no host-device sync in the training step (adaptive, tube, decoder masking; fp32 and bf16) and bf16 ~ fp32;
#   2. the pre-training step, ViT-B, bf16 autocast, fused AdamW, at batch 16 and 32: AdaMAE adaptive 95 %, AdaMAE
#      adaptive 95 % + decoder masking 50 %, AdaMAE tube 90 %, VideoMAE tube 90 % -> time and memory ratios, MFU;
#   3. `accelerate launch` with the FSDP config and with the DDP config on one GPU: a few steps, a checkpoint, resume;
#   4. end to end (e2e): run_pretraining.py's steps per second on generated K400-like H.264 videos (as generated and
#      prepared by scripts/prepare_videos.py) with 16 workers, --augment_on_device --num_sample 4, against the same run
#      on in-memory clips (benchmarks/bench_end_to_end.py; target ratio >= 0.9 on prepared videos). ~2.5 min.
# Run from the repository root:   bash benchmarks/gpu_check.sh
# Results go to $RESULTS (default benchmarks/results/gpu, or $OUT/gpu when $OUT is set): *.json, *.md, ALL.md and
# gpu_check.log. Optional: PROFILE=1 (where the time goes, +1.5 min), INFERENCE=1 (classification, +1.5 min),
# COMPILE=1 (torch.compile, +4 min). STEPS="sync bench launch e2e" (default: all four) runs a subset, appending to the
# log when it is not all four (so that the timing-insensitive steps can run beside other work, the benchmark alone);
# LAUNCH_DIR (default $RESULTS) is where the launch runs write their checkpoints; E2E_DIR (default /tmp/adamae_e2e)
# is where the e2e step writes its videos (once; reused by a later run) and its runs.
# The same script runs on CPU with tiny sizes (what tests/test_gpu_check.py does, `slow` marker):
#   DEVICE=cpu SIZE=tiny BATCHES=2 DTYPE=fp32 bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"
DEVICE="${DEVICE:-cuda}"
SIZE="${SIZE:-base}"
BATCHES="${BATCHES:-16 32}"
DTYPE="${DTYPE:-bf16}"
REPEATS="${REPEATS:-8}"
STEPS="${STEPS:-sync bench launch e2e}"
RESULTS="${RESULTS:-${OUT:+$OUT/gpu}}"
RESULTS="${RESULTS:-benchmarks/results/gpu}"
LAUNCH_DIR="${LAUNCH_DIR:-$RESULTS}"
E2E_DIR="${E2E_DIR:-/tmp/adamae_e2e}"
mkdir -p "$RESULTS" "$LAUNCH_DIR"
LOG="$RESULTS/gpu_check.log"
[ "$STEPS" = "sync bench launch e2e" ] && : > "$LOG"
echo "=== steps: $STEPS" >> "$LOG"
wants() { [[ " $STEPS " == *" $1 "* ]]; }
FAILED=0
run() {  # run <seconds> <command...>: time-limited, logged; a failure is counted, never aborts the script
  local limit=$1; shift
  echo "=== $(date +%T) $*" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG" | tail -40
  local code=${PIPESTATUS[0]}
  echo "=== exit $code" | tee -a "$LOG"
  [ "$code" = 0 ] || FAILED=$((FAILED + 1))
  return "$code"
}
MODELS="adamae-adaptive-95 adamae-adaptive-95-dec-50 adamae-tube-90 videomae-tube-90"
MEASURED_PEAK=()
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee -a "$LOG"
  # Measured dense bf16 matmul peak of an H200 in this workplace (~790 TFLOP/s; the spec sheet says 989).
  if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
    MEASURED_PEAK=(--measured-peak-tflops "${MEASURED_PEAK_TFLOPS:-790}")
  elif [ -n "${MEASURED_PEAK_TFLOPS:-}" ]; then
    MEASURED_PEAK=(--measured-peak-tflops "$MEASURED_PEAK_TFLOPS")
  fi
fi
"$PYTHON" -c "import torch, transformers, accelerate; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__)" | tee -a "$LOG"

# 1. No host-device sync (CUDA only: the tests skip without it), bf16 close to fp32. ~40 s.
wants sync && run 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_performance.py tests/test_decoder_masking.py \
  -k "sync or bf16"

# 2. The pre-training step at each batch size: time (interleaved rounds), FLOPs, MFU, peak memory per model
#    (fresh subprocesses), activation memory per part. ~2 min per batch size on an H100.
wants bench && for BS in $BATCHES; do
  run 200 "$PYTHON" benchmarks/bench_pretraining.py --sizes "$SIZE" --device "$DEVICE" --dtype "$DTYPE" \
    --batch-size "$BS" --warmup 3 --repeats "$REPEATS" --memory-steps 2 --models $MODELS "${MEASURED_PEAK[@]}" \
    --output "$RESULTS/pretraining_${SIZE}_${DTYPE}_bs$BS"
done

# 3. accelerate launch on one device: FSDP (the repository's config) and DDP, 4 steps with a checkpoint at step 2,
#    then a resume from it to step 6; the log's "Running on" line shows the distributed type accelerate chose. Tiny synthetic model.
LAUNCH=(--mixed_precision "$([ "$DTYPE" = fp32 ] && echo no || echo "$DTYPE")" --num_processes 1 --num_machines 1)
[ "$DEVICE" = cpu ] && LAUNCH+=(--cpu)
wants launch && for ENGINE in fsdp ddp; do
  RUN_DIR="$LAUNCH_DIR/launch_$ENGINE"
  rm -rf "$RUN_DIR"
  ARGS=(--num_visualizations 0 --disable_tqdm --dataloader_num_workers 0 --output_dir "$RUN_DIR"
        --checkpointing_steps 2)
  run 120 "$PYTHON" -m accelerate.commands.launch --config_file "configs/accelerate/${ENGINE}_bf16.yaml" "${LAUNCH[@]}" \
    scripts/run_pretraining.py "${ARGS[@]}" --max_train_steps 4 \
  && run 120 "$PYTHON" -m accelerate.commands.launch --config_file "configs/accelerate/${ENGINE}_bf16.yaml" \
    "${LAUNCH[@]}" scripts/run_pretraining.py "${ARGS[@]}" --max_train_steps 6 --resume_from_checkpoint
  grep -h "Running on" "$LOG" | tail -1
done

# 4. End to end: run_pretraining.py on a list of generated K400-like H.264 videos (32, 10 s each; as generated and
#    prepared) with the input pipeline's best setting, against the same run on in-memory clips (--in_memory_videos):
#    steps per second over 200 steps after 20 warm-up steps, and the ratio. ~2.5 min on 16 cores + an H200.
#    On CPU: the tiny model, 4 videos, 2 workers, a few steps (a smoke run: its ratio says nothing of a GPU).
if [ "$DEVICE" = cpu ]; then
  E2E=(--device cpu --batch_size 4 --num_sample 2 --num_workers 2 --videos 4 --warmup_steps 2 --steps 4)
else
  E2E=(--device cuda --batch_size 32 --num_sample 4 --num_workers 16 --videos 32 --warmup_steps 20 --steps 200)
fi
wants e2e && run 300 "$PYTHON" benchmarks/bench_end_to_end.py "${E2E[@]}" --config_name "$SIZE" --augment_on_device \
  --mixed_precision "$([ "$DTYPE" = fp32 ] && echo no || echo "$DTYPE")" --work_dir "$E2E_DIR" \
  --output "$RESULTS/end_to_end_${SIZE}_${DTYPE}"

# Optional extras.
if [ "${PROFILE:-0}" = "1" ]; then
  run 120 "$PYTHON" benchmarks/bench_pretraining.py --sizes "$SIZE" --device "$DEVICE" --dtype "$DTYPE" --batch-size 16 \
    --warmup 2 --repeats 0 --profile --no-memory --no-flops --no-breakdown --models $MODELS \
    --output "$RESULTS/profile_${SIZE}_${DTYPE}_bs16"
fi
if [ "${INFERENCE:-0}" = "1" ]; then
  run 120 "$PYTHON" benchmarks/bench_inference.py --sizes "$SIZE" --device "$DEVICE" --dtype "$DTYPE" --batch-size 32 \
    --warmup 3 --repeats 10 --output "$RESULTS/inference_${SIZE}_${DTYPE}_bs32"
fi
if [ "${COMPILE:-0}" = "1" ]; then
  run 240 "$PYTHON" benchmarks/bench_pretraining.py --sizes "$SIZE" --device "$DEVICE" --dtype "$DTYPE" --batch-size 32 \
    --compile --warmup 1 --repeats 5 --no-breakdown --models $MODELS --output "$RESULTS/pretraining_${SIZE}_${DTYPE}_bs32_compile"
fi
cat "$RESULTS"/*.md > "$RESULTS/ALL.md" 2>/dev/null
echo "done: $RESULTS ($FAILED failed)" | tee -a "$LOG"
[ "$FAILED" = 0 ]
