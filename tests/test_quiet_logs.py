"""A demo-sized run's log says what runs, on what, how long and where the output goes, and little else: no
accelerate state dump, no per-file checkpoint lines, no argument or config dump, no "loading configuration file", no
"layers were not sharded" list of every weight. Both scripts, as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
TINY = (
    "image_size=32,patch_size=8,num_frames=4,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
    "intermediate_size=64,decoder_hidden_size=32,decoder_num_hidden_layers=1,decoder_num_attention_heads=2,"
    "decoder_intermediate_size=64,sampler_num_attention_heads=2"
)
NOISE = ("Distributed environment", "accelerate.checkpointing", "Saving current state", "Training/evaluation parameters",
         "were not sharded", "loading configuration file", "Model config", "Configuration saved")  # fmt: skip


def run(script: str, argv: list[str], tmp_path: Path) -> list[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", ADAMAE_HF_CACHE=str(tmp_path / "cache"))
    env.pop("ACCELERATE_CONFIG_FILE", None)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *argv], env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).splitlines()
    for noise in NOISE:
        assert not any(noise in line for line in lines), (noise, lines)
    return lines


def test_demo_sized_runs_log_the_essentials_only(data_synthetic_dir, tmp_path):
    pretrained, finetuned = tmp_path / "pretrained", tmp_path / "finetuned"
    lines = run("run_pretraining.py", [
        "--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir / "train"), "--config_overrides", TINY, "--per_device_train_batch_size",
        "2", "--num_train_epochs", "2", "--sampling_rate", "1", "--output_dir", str(pretrained),
        "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "1",
    ], tmp_path)  # fmt: skip
    text = "\n".join(lines)
    assert len(lines) <= 17, text
    for key in ("recipe 'synthetic-demo': 15 values from the recipe", f"Running on cpu (1 process, mixed precision no); output in {pretrained}", "Running training",
                "total optimisation steps = 12", f"Checkpoint after step 12: {pretrained}", "Done in"):  # fmt: skip
        assert key in text, (key, text)

    lines = run("run_finetuning.py", [
        "--model_name_or_path", str(pretrained), "--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--output_dir", str(finetuned),
        "--max_steps", "2", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--report_to",
        "none", "--dataloader_num_workers", "0", "--sampling_rate", "1", "--save_strategy", "no", "--disable_tqdm",
        "True",
    ], tmp_path)  # fmt: skip
    text = "\n".join(lines)
    assert len(lines) <= 52, text  # two thirds of it the metrics tables (4 classes); 250 lines before
    for key in (f"Running on cpu (1 process, mixed precision no); output in {finetuned}", "4 classes",
                "Training: 12 clips, 2 steps", "eval_top1", f"Outputs in {finetuned}",
                "warm-up 10% of the steps",  # --warmup_steps 0.1 is a fraction of the run, not 0.1 steps
                "Evaluate: 1 clip x 3 crops per video", "Evaluation (1 clip x 3 crops per video, 8 videos"):  # fmt: skip
        assert key in text, (key, text)
    assert "warm-up 0.1 steps" not in text and "1 clips" not in text, text


def test_pretraining_log_level_debug_logs_each_recipe_value(data_synthetic_dir, tmp_path):
    """`--log_level`, as the fine-tuning script's: debug adds each recipe value (which the summary line points at)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", ADAMAE_HF_CACHE=str(tmp_path / "cache"))
    env.pop("ACCELERATE_CONFIG_FILE", None)
    argv = ["--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir / "train"), "--config_overrides", TINY,
            "--per_device_train_batch_size", "2", "--max_train_steps", "1", "--sampling_rate", "1", "--output_dir",
            str(tmp_path / "out"), "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "0",
            "--log_level", "debug"]  # fmt: skip
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_pretraining.py"), *argv], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    assert "--log_level debug logs each value" in text
    assert "DEBUG - __main__ - [RANK 0]   from the recipe: base_learning_rate = " in text, text[-3000:]
    assert "DEBUG - __main__ - [RANK 0]   from the command line: sampling_rate = 1 (recipe: 2)" in text
