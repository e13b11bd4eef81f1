# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""The paper's Table 1a in miniature: adaptive vs tube vs random masking (and no pre-training) on the embedded
synthetic motion dataset, several seeds, mean and spread.

Every arm runs the quick start's demo commands with one change: pre-training (`scripts/run_pretraining.py`, the
default synthetic recipe: tiny model, the same steps and mask ratio for every arm) with `--mask_type`, then
fine-tuning (`scripts/run_finetuning.py`, its default synthetic recipe) from that checkpoint; the "none" arm
fine-tunes the same tiny model from scratch. Each run is a subprocess with `--seed`; a run whose results exist
is not run again, so an interrupted ablation continues where it stopped.

    PYTHONPATH=src python benchmarks/ablation_masking.py                       # 3 seeds, 4 arms
    PYTHONPATH=src python benchmarks/ablation_masking.py --arms adaptive adaptive-dm50 --seeds 0 1 2

Writes `benchmarks/results/ablation_masking.{json,md}`: per arm, top-1 (and top-5) mean ± std over the seeds,
and the sampler's object-mass ratio / motion correlation on the validation clips for the adaptive arms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
# arm -> extra pre-training arguments (None: no pre-training)
ARMS: dict[str, list[str] | None] = {
    "adaptive": ["--mask_type", "adaptive"],
    "tube": ["--mask_type", "tube"],
    "random": ["--mask_type", "random"],
    "none": None,
    # decoder masking (VideoMAE V2's dual masking) on top of adaptive masking, where the model has it
    "adaptive-dm50": ["--mask_type", "adaptive", "--config_overrides", "decoder_mask_ratio=0.5"],
}
DEFAULT_ARMS = ["adaptive", "tube", "random", "none"]


def run(command: list[str], log: Path) -> float:
    """Run a script, its output to `log`; raise naming the log if it fails. Returns the wall time in seconds."""
    started = time.time()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "w") as handle:
        code = subprocess.call(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {code}; its output is in {log}")
    return time.time() - started


def run_arm(arm: str, seed: int, work_dir: Path, extra_finetuning: list[str]) -> dict:
    """Pre-train (unless 'none') and fine-tune one arm with one seed; returns its results."""
    folder = work_dir / f"{arm}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    result_file = folder / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    result: dict = {"arm": arm, "seed": seed}
    pretraining_args = ARMS[arm]
    finetune_from = ["--from_scratch", "True"]
    if pretraining_args is not None:
        pretrained = folder / "pretrain"
        result["pretraining_seconds"] = run(
            [sys.executable, "scripts/run_pretraining.py", "--seed", str(seed), "--output_dir", str(pretrained),
             "--overwrite_output_dir", "--disable_tqdm", *pretraining_args],
            folder / "pretrain.log",
        )  # fmt: skip
        train_results = json.loads((pretrained / "train_results.json").read_text())
        result.update({k: v for k, v in train_results.items() if k.startswith(("focus_", "train_"))})
        finetune_from = ["--model_name_or_path", str(pretrained)]
    finetuned = folder / "finetune"
    result["finetuning_seconds"] = run(
        [sys.executable, "scripts/run_finetuning.py", "--seed", str(seed), "--output_dir", str(finetuned),
         "--disable_tqdm", "True", *finetune_from, *extra_finetuning],
        folder / "finetune.log",
    )  # fmt: skip
    eval_results = json.loads((finetuned / "eval_results.json").read_text())
    result.update({k: v for k, v in eval_results.items() if k.startswith("eval_")})
    result_file.write_text(json.dumps(result, indent=1))
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: list[dict], arms: list[str]) -> list[dict]:
    rows = []
    for arm in arms:
        runs = [r for r in results if r["arm"] == arm]
        row = {"arm": arm, "seeds": [r["seed"] for r in runs], "top1": [r.get("eval_top1") for r in runs],
               "top5": [r.get("eval_top5") for r in runs]}  # fmt: skip
        for key in ("focus_object_mass_ratio", "focus_motion_correlation", "focus_error_ratio",
                    "focus_reconstruction_loss", "train_reconstruction_loss"):  # fmt: skip
            values = [r.get(key) for r in runs]
            if any(v is not None for v in values):
                row[key] = values
        row["seconds"] = [r.get("pretraining_seconds", 0.0) + r["finetuning_seconds"] for r in runs]
        rows.append(row)
    return rows


def markdown(rows: list[dict], command: str) -> str:
    def cell(values, digits=1):
        mean, std = mean_std(values or [])
        return "-" if mean != mean else f"{mean:.{digits}f} ± {std:.{digits}f}"

    lines = [
        f"Command: `{command}`",
        "",
        "| arm | pre-training mask | top-1 % | top-5 % | object-mass ratio | motion correlation | reconstruction loss "
        "(random mask, validation) | seeds | minutes per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        pre = {"none": "no pre-training"}.get(row["arm"], " ".join(ARMS[row["arm"]] or []).replace("--", ""))
        minutes = statistics.fmean(row["seconds"]) / 60 if row["seconds"] else float("nan")
        lines.append(
            f"| {row['arm']} | {pre} | {cell(row['top1'])} | {cell(row['top5'])} | "
            f"{cell(row.get('focus_object_mass_ratio'), 2)} | {cell(row.get('focus_motion_correlation'), 2)} | "
            f"{cell(row.get('focus_reconstruction_loss'), 3)} | {len(row['seeds'])} | {minutes:.1f} |"
        )
    lines += ["", "Mean ± sample standard deviation over the seeds. Top-1/top-5: the fine-tuning script's evaluation "
              "(64 validation videos, 1 clip x 3 crops). Object-mass ratio: 1.0 = uniform sampler."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=DEFAULT_ARMS, choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--work_dir", default="outputs/ablation_masking", help="runs (kept, so reruns continue)")
    parser.add_argument("--output", default="benchmarks/results/ablation_masking", help="<output>.json and .md")
    parser.add_argument("--finetuning_args", nargs=argparse.REMAINDER, default=[],
                        help="extra arguments for every fine-tuning run (last on the command line)")  # fmt: skip
    args = parser.parse_args(argv)
    work_dir = Path(args.work_dir)
    command = "PYTHONPATH=src python benchmarks/ablation_masking.py " + " ".join(
        (["--arms", *args.arms] if args.arms != DEFAULT_ARMS else [])
        + (["--seeds", *map(str, args.seeds)] if args.seeds != [0, 1, 2] else [])
    )
    results, started = [], time.time()
    for seed in args.seeds:  # seed-major: an interrupted run still has every arm for the first seeds
        for arm in args.arms:
            result = run_arm(arm, seed, work_dir, args.finetuning_args)
            results.append(result)
            print(f"[{time.time() - started:7.0f}s] {arm:>14} seed {seed}: top-1 {result.get('eval_top1')}"
                  + (f", object-mass ratio {result['focus_object_mass_ratio']:.2f}"
                     if "focus_object_mass_ratio" in result else ""), flush=True)  # fmt: skip
    rows = summarise(results, args.arms)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(
        {"command": command.strip(), "wall_seconds": time.time() - started, "rows": rows, "runs": results}, indent=1
    ))  # fmt: skip
    table = markdown(rows, command.strip())
    output.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
