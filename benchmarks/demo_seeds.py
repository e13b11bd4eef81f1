# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""The quick start's demo over several seeds, through the scripts, as a user runs it.

For each seed S this runs

    python scripts/run_pretraining.py --seed S --output_dir WORK/pretrain-seedS
    python scripts/run_finetuning.py --seed S --model_name_or_path WORK/pretrain-seedS --output_dir WORK/finetune-seedS

with every other argument at its default (the embedded synthetic dataset, generated once and cached), and reports
per seed and as mean ± sample standard deviation: the pre-training's reconstruction loss and sampler focus (from
its `train_results.json`), and the fine-tuning's multi-view top-1 / top-5 and per-class accuracy on the validation
videos (from `all_results.json` and `confusion_matrix.json`). A stage whose results exist in `--work_dir` is not
run again, so an interrupted run continues where it stopped.

    PYTHONPATH=src python benchmarks/demo_seeds.py                    # seeds 0 1 2, ~8 min per seed idle on 2 cores

Writes `benchmarks/results/demo_seeds.{json,md}` (unless `--output` says otherwise).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import mean_std  # benchmarks/ is the script's folder


ROOT = Path(__file__).resolve().parents[1]
PRETRAINING_KEYS = {
    "train_reconstruction_loss": "reconstruction loss (last step)",
    "focus_reconstruction_loss": "reconstruction loss (validation, random mask)",
    "focus_object_mass_ratio": "object-mass ratio",
    "focus_error_ratio": "error ratio",
    "focus_motion_correlation": "motion correlation",
}
FINETUNING_KEYS = {"eval_top1": "top-1 %", "eval_top5": "top-5 %"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--work_dir", default="outputs/demo_seeds", help="runs go to WORK/pretrain-seedS, WORK/finetune-seedS"
    )
    parser.add_argument("--output", default="benchmarks/results/demo_seeds", help="prefix of the .json / .md")
    parser.add_argument(
        "--extra_pretraining_args", default="", help="appended to every run_pretraining.py call"
    )
    parser.add_argument(
        "--extra_finetuning_args", default="", help="appended to every run_finetuning.py call"
    )
    return parser.parse_args(argv)


def run_stage(command: list[str], done_file: Path, log_file: Path) -> float | None:
    """Run `command` unless `done_file` exists; its output goes to `log_file`. Returns the seconds it took (None when
    skipped). Raises `RuntimeError` (with the log's tail) when the command fails."""
    if done_file.is_file():
        print(f"  exists, not run again: {done_file}", flush=True)
        return None
    print("  $ " + " ".join(command), flush=True)
    started = time.time()
    with open(log_file, "w") as log:
        code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        tail = "".join(open(log_file).readlines()[-20:])
        raise RuntimeError(f"{command[1]} exited with {code}; the last lines of {log_file}:\n{tail}")
    return time.time() - started


def per_class_accuracy(confusion_file: Path) -> dict[str, float]:
    """Per-class recall in % from the fine-tuning's `confusion_matrix.json` (rows: true class)."""
    data = json.loads(confusion_file.read_text())
    return {
        name: 100.0 * row[i] / max(sum(row), 1)
        for i, (name, row) in enumerate(zip(data["label_names"], data["matrix"]))
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    work = (ROOT / args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    runs = {}
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        pretrain_dir, finetune_dir = work / f"pretrain-seed{seed}", work / f"finetune-seed{seed}"
        seconds = {}
        seconds["pretraining"] = run_stage(
            [sys.executable, "scripts/run_pretraining.py", "--seed", str(seed), "--output_dir", str(pretrain_dir),
             "--overwrite_output_dir"]
            + args.extra_pretraining_args.split(),
            pretrain_dir / "train_results.json", work / f"pretrain-seed{seed}.log",
        )  # fmt: skip
        seconds["finetuning"] = run_stage(
            [sys.executable, "scripts/run_finetuning.py", "--seed", str(seed), "--model_name_or_path", str(pretrain_dir),
             "--output_dir", str(finetune_dir), "--overwrite_output_dir"] + args.extra_finetuning_args.split(),
            finetune_dir / "confusion_matrix.json", work / f"finetune-seed{seed}.log",
        )  # fmt: skip
        pretraining = json.loads((pretrain_dir / "train_results.json").read_text())
        finetuning = json.loads((finetune_dir / "all_results.json").read_text())
        runs[seed] = {
            **{key: pretraining[key] for key in PRETRAINING_KEYS if key in pretraining},
            **{key: finetuning[key] for key in FINETUNING_KEYS if key in finetuning},
            "per_class": per_class_accuracy(finetune_dir / "confusion_matrix.json"),
            "pretraining_runtime": pretraining.get("train_runtime"),
            "finetuning_runtime": finetuning.get("train_runtime"),
            "stage_seconds_this_call": seconds,
        }
        print(f"  top-1 {runs[seed].get('eval_top1', float('nan')):.1f} %", flush=True)

    summary = {key: mean_std([run[key] for run in runs.values()]) for key in {**PRETRAINING_KEYS, **FINETUNING_KEYS}
               if all(key in run for run in runs.values())}  # fmt: skip
    classes = list(next(iter(runs.values()))["per_class"])
    per_class = {name: mean_std([run["per_class"][name] for run in runs.values()]) for name in classes}
    command = "PYTHONPATH=src python benchmarks/demo_seeds.py " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    lines = [
        f"Command: `{command.strip()}`", "",
        "| measure | mean ± std | " + " | ".join(f"seed {s}" for s in runs) + " |",
        "|---|---|" + "---|" * len(runs),
    ]  # fmt: skip
    for key, label in {**PRETRAINING_KEYS, **FINETUNING_KEYS}.items():
        if key in summary:
            mean, std = summary[key]
            lines.append(
                f"| {label} | {mean:.3g} ± {std:.2g} | "
                + " | ".join(f"{run[key]:.3g}" for run in runs.values())
                + " |"
            )
    for name, (mean, std) in per_class.items():
        lines.append(
            f"| top-1 % {name} | {mean:.0f} ± {std:.0f} | "
            + " | ".join(f"{run['per_class'][name]:.0f}" for run in runs.values())
            + " |"
        )
    for stage in ("pretraining", "finetuning"):
        values = [run[f"{stage}_runtime"] for run in runs.values() if run[f"{stage}_runtime"]]
        if values:
            lines.append(
                f"| {stage} runtime (min) | {statistics.mean(values) / 60:.1f} | "
                + " | ".join(f"{v / 60:.1f}" for v in values)
                + " |"
            )
    table = "\n".join(lines) + "\n"
    output = ROOT / args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps({"command": command, "runs": runs, "summary": summary,
                                                       "per_class": per_class}, indent=1))  # fmt: skip
    output.with_suffix(".md").write_text(table)
    print(table)
    return summary


if __name__ == "__main__":
    main()
