# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""End to end: ``scripts/run_pretraining.py``'s optimiser steps per second on a folder of generated K400-like H.264
videos, against the same run on in-memory clips, and their ratio.

Videos: ``--videos`` K400-like MP4s (``bench_data.py``'s ``k400`` set: 340x256 H.264, x264 veryfast, keyframe
interval 250 with 3 B-frames, 30 fps, 10 s) and their ``scripts/prepare_videos.py`` versions (``k400-prepared``),
written once into ``--work_dir`` in ``--generate_workers`` processes. Each set is trained on through a list file
(``--train_list``, one bare path per line) that repeats its videos so that the run stays within one epoch (the
DataLoader's workers start once); their frame indices are cached before the runs (as in every epoch after the first).

Runs (each a fresh ``python scripts/run_pretraining.py --recipe adamae-k400 ...`` process; the same model, batch,
precision, seed and pipeline options; ``--crop random_resized``, which ``--augment_on_device`` needs):

- ``in memory``: ``--in_memory_videos M``: the first M videos of the first set are read once before training, and
  every batch is made of their items (decoded and resized by the workers' part of the pipeline), so the loop reads
  no video: the step's speed with the same workers, collation, transfer and device augmentation, without decoding;
- one run per set in ``--sets``: the videos, read by ``--num_workers`` DataLoader workers.

Steps per second are measured from the run's TensorBoard log (``--with_tracking``, ``train/loss`` at every step: the
wall time at which step k's losses were logged, after its optimiser step and the loss's copy to the host): over
steps ``--warmup_steps + 1 .. --warmup_steps + --steps``, so that the workers' start, the first batches and the
device's warm-up are left out. The ratio is a set's steps per second over the in-memory run's (the input-pipeline
target: at least 0.9 with ``--augment_on_device --num_sample 4`` on prepared videos).

    # one GPU (ViT-B, bf16, batch 32, 16 workers: the defaults on CUDA)
    PYTHONPATH=src python benchmarks/bench_end_to_end.py --work_dir /tmp/adamae_e2e --output benchmarks/results/e2e
    # CPU smoke run: the tiny model, 2 workers
    PYTHONPATH=src python benchmarks/bench_end_to_end.py --device cpu --config_name tiny --batch_size 4 \\
        --num_sample 2 --num_workers 2 --mixed_precision no --videos 4 --warmup_steps 2 --steps 6
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_data import SETS, generate, prepare
from common import environment, markdown_table

from adamae_hf.data import VideoReader


ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.9


def build_sets(args) -> dict[str, Path]:
    """Generate (and prepare) the videos once; one list file per set that repeats its videos; frame indices cached.
    Returns ``{set: list file}``."""
    work_dir = Path(args.work_dir)
    lists = {}
    videos_needed = (args.warmup_steps + args.steps + 1) * (args.batch_size // args.num_sample)
    for name in args.sets:
        base = name.removesuffix("-prepared")
        start = time.perf_counter()
        paths = generate(work_dir, base, args.videos, args.generate_workers)
        if name.endswith("-prepared"):
            paths = prepare(work_dir, base, args.videos)
        for path in paths:  # the frame index cache, as every epoch after the first finds it
            with VideoReader(str(path), num_threads=1):
                pass
        lines = [str(path.relative_to(work_dir)) for path in paths] * math.ceil(videos_needed / len(paths))
        lists[name] = work_dir / f"{name}_{len(paths)}x{len(lines) // len(paths)}.txt"
        lists[name].write_text("\n".join(lines) + "\n")
        print(f"{name}: {len(paths)} videos ({sum(p.stat().st_size for p in paths) / 2**20:.1f} MiB), listed "
              f"{len(lines) // len(paths)} times, ready in {time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
    return lists


def command(args, set_name: str, train_list: Path, output_dir: Path, in_memory: bool) -> list[str]:
    """The ``run_pretraining.py`` command line of one run on set ``set_name`` (its clips' temporal stride)."""
    cmd = [
        sys.executable, "scripts/run_pretraining.py", "--recipe", "adamae-k400", "--train_list", str(train_list),
        "--sampling_rate", str(SETS[set_name.removesuffix("-prepared")][7]), "--config_name", args.config_name, "--crop", "random_resized",
        "--per_device_train_batch_size", str(args.batch_size), "--num_sample", str(args.num_sample),
        "--dataloader_num_workers", str(args.num_workers), "--mixed_precision", args.mixed_precision,
        "--max_train_steps", str(args.warmup_steps + args.steps), "--checkpointing_steps", str(10**9),
        "--num_visualizations", "0", "--disable_tqdm", "--with_tracking", "--report_to", "tensorboard",
        "--logging_steps", "1", "--seed", "0", "--output_dir", str(output_dir),
    ]  # fmt: skip
    if args.augment_on_device:
        cmd.append("--augment_on_device")
    if args.device == "cpu":
        cmd.append("--cpu")
    if in_memory:
        cmd += ["--in_memory_videos", str(args.in_memory_videos)]
    return cmd


def step_times(output_dir: Path) -> dict[int, float]:
    """``{step: wall time}`` of the ``train/loss`` values in the run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    times = {}
    for events in sorted((output_dir / "runs").rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        if "train/loss" in accumulator.Tags()["scalars"]:
            times.update({event.step: event.wall_time for event in accumulator.Scalars("train/loss")})
    return times


def run(args, name: str, set_name: str, train_list: Path, in_memory: bool) -> dict:
    """One ``run_pretraining.py`` run, called ``name``; its steps per second over the timed steps."""
    output_dir = Path(args.work_dir) / "runs" / name.replace(" ", "_")
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    cmd = command(args, set_name, train_list, output_dir, in_memory)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = result.stdout + result.stderr
    (Path(args.work_dir) / "runs" / f"{name.replace(' ', '_')}.log").write_text(log)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: run_pretraining.py exited with {result.returncode}:\n{log[-4000:]}")
    times = step_times(output_dir)
    first, last = args.warmup_steps, args.warmup_steps + args.steps
    if first not in times or last not in times:
        raise RuntimeError(f"{name}: steps {first} and {last} not both in the TensorBoard log (found {sorted(times)})")
    seconds = times[last] - times[first]
    # the script's "Running on <device> (...)" line, without the logging prefix ("12:00:00 - INFO - ... [RANK 0] ")
    running_on = next((line[line.index("Running on ") :] for line in log.splitlines() if "Running on " in line), "")
    return {
        "data": name, "in_memory": in_memory, "steps_per_second": args.steps / seconds,
        "clips_per_second": args.steps * args.batch_size / seconds, "timed_steps": args.steps,
        "timed_seconds": seconds, "run_wall_seconds": wall, "running_on": running_on,
        "command": " ".join(cmd[1:]).replace(str(ROOT) + "/", ""),
    }  # fmt: skip


def report(args, results: list[dict], info: dict) -> str:
    setting = (f"{args.config_name}, batch {args.batch_size}, mixed precision {args.mixed_precision}, "
               f"{'--augment_on_device ' if args.augment_on_device else ''}--num_sample {args.num_sample}, "
               f"{args.num_workers} workers")  # fmt: skip
    rows = [[r["data"], f"{r['steps_per_second']:.2f}", f"{r['clips_per_second']:.0f}", f"{r['ratio']:.3f}",
             "" if r["in_memory"] else ("yes" if r["ratio"] >= TARGET_RATIO else "no")] for r in results]  # fmt: skip
    device = info.get("gpu") or f"CPU ({info.get('cpu_model', info['processor'])}, {info['cpu_count']} cores)"
    lines = [
        f"### End to end: run_pretraining.py on videos against in-memory clips ({device})", "",
        f"{setting}; steps {args.warmup_steps + 1}-{args.warmup_steps + args.steps} timed after {args.warmup_steps} "
        f"warm-up steps; {args.videos} videos per set; {info['cpu_count']} CPU cores; torch {info['torch']}", "",
        markdown_table(["data", "steps/s", "clips/s", "ratio to in memory",
                        f"ratio >= {TARGET_RATIO}"], rows), "",  # fmt: skip
        "Commands (from the repository root, PYTHONPATH=src):", "",
    ]
    lines += [f"- {r['data']}: `python {r['command']}`" for r in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="/tmp/adamae_e2e", help="videos, list files and runs go here")
    parser.add_argument("--sets", default="k400,k400-prepared", help="comma-separated: k400, k400-prepared, ssv2, ...")
    parser.add_argument("--videos", type=int, default=32, help="distinct videos per set")
    parser.add_argument("--generate_workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if cuda else "cpu")
    parser.add_argument("--config_name", default="base")
    parser.add_argument("--batch_size", type=int, default=32, help="clips per step")
    parser.add_argument("--num_sample", type=int, default=4)
    parser.add_argument("--augment_on_device", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--num_workers", type=int, default=16, help="DataLoader workers")
    parser.add_argument("--mixed_precision", choices=("no", "bf16", "fp16"), default="bf16" if cuda else "no")
    parser.add_argument("--in_memory_videos", type=int, help="videos the in-memory run reads (default: 16 or --videos)")
    parser.add_argument("--warmup_steps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200, help="timed steps")
    parser.add_argument("--output", help="write <output>.json and <output>.md")
    args = parser.parse_args()
    args.sets = args.sets.split(",")
    unknown = [name for name in args.sets if name.removesuffix("-prepared") not in SETS]
    if unknown:
        parser.error(f"unknown sets {unknown}: the sets are {', '.join(SETS)}, each also with -prepared")
    if args.batch_size % args.num_sample:
        parser.error(f"--batch_size {args.batch_size} must be a multiple of --num_sample {args.num_sample}")
    args.in_memory_videos = args.in_memory_videos or min(16, args.videos)
    if args.in_memory_videos > args.videos:
        parser.error(f"--in_memory_videos {args.in_memory_videos} is more than --videos {args.videos}")
    if min(args.warmup_steps, args.steps) < 1:
        parser.error("--warmup_steps and --steps must be >= 1")
    os.environ.setdefault("ADAMAE_FRAME_INDEX_CACHE", str(Path(args.work_dir) / "frame_index"))

    lists = build_sets(args)
    results = [run(args, "in memory", args.sets[0], lists[args.sets[0]], in_memory=True)]
    results += [run(args, name, name, lists[name], in_memory=False) for name in args.sets]
    for r in results:
        r["ratio"] = r["steps_per_second"] / results[0]["steps_per_second"]
        print(f"{r['data']:16s} {r['steps_per_second']:8.2f} steps/s {r['clips_per_second']:8.1f} clips/s "
              f"ratio {r['ratio']:.3f}  ({r['running_on']}; run {r['run_wall_seconds']:.0f} s)", flush=True)  # fmt: skip
    info = environment(args.device)
    if os.path.isdir("/dev/shm"):  # where DataLoader workers hand batches over: a small one fails the video runs
        info["dev_shm_free_gib"] = round(shutil.disk_usage("/dev/shm").free / 2**30, 1)
    text = report(args, results, info)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output + ".json").write_text(json.dumps({"arguments": vars(args), "environment": info,
                                                          "target_ratio": TARGET_RATIO, "results": results}, indent=1))  # fmt: skip
        Path(args.output + ".md").write_text(text)


if __name__ == "__main__":
    main()
