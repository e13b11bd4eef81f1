#!/usr/bin/env bash
# The exploratory fine-tuning sweep that ran on one H200 on 2026-11-30 (issue 10): many small in-memory experiments
# at once (`experiment.py`, one process and one CPU thread each), to find where the synthetic motion classes can be
# learnt. Run from the repository root on a machine with a GPU:
#     bash benchmarks/finetune_sweep/run.sh benchmarks/finetune_sweep/sweep1.txt results_dir
# Each line of the list is "<name> <experiment.py arguments>"; D_S, D_M and D_B stand for clips with object radii
# 13-17 %, 18-22 % and 22-28 % of the frame (2048 training and 256 validation clips each, rendered by make_clips.py
# with seeds [99, split, i], not the embedded dataset's). Writes <results_dir>/sweep.jsonl, one JSON line per run.
set -u
LIST=$1; OUT_DIR=${2:-outputs/finetune_sweep}; mkdir -p "$OUT_DIR"
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
HERE=benchmarks/finetune_sweep
python3 $HERE/make_clips.py /tmp/d_S.npz 0.13 0.17 2048 & python3 $HERE/make_clips.py /tmp/d_B.npz 0.22 0.28 2048 &
python3 $HERE/make_clips.py /tmp/d_M.npz 0.18 0.22 2048 & wait
sed -e "s#D_S#/tmp/d_S.npz#; s#D_B#/tmp/d_B.npz#; s#D_M#/tmp/d_M.npz#" "$LIST" | while read -r name args; do
  echo "--name $name $args --eval_every 256"; done \
  | timeout "${SWEEP_LIMIT:-600}" xargs -P "${PAR:-12}" -L 1 sh -c "OMP_NUM_THREADS=1 python3 $HERE/experiment.py \"\$@\" 2>>$OUT_DIR/sweep.err" _ \
  >> "$OUT_DIR/sweep.jsonl"
