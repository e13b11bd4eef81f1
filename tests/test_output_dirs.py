"""One run per output folder: a second run never silently replaces the first run's model or mixes checkpoints with
it; it refuses with the ways out, `--overwrite_output_dir` moves the earlier run aside (nothing deleted), and
`--resume_from_checkpoint` alone then resumes this run's latest checkpoint. Both training scripts."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
import test_pretraining

from adamae_hf import training as P


run_main = test_pretraining.run_main
script, cache_dir = test_pretraining.script, test_pretraining.cache_dir  # the tiny model's fixtures


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import run_finetuning  # noqa: E402


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pretraining_rerun_refuses_then_overwrite_moves_aside_and_resume_is_this_runs(script, cache_dir, tmp_path):
    out = tmp_path / "run"
    assert run_main(script, out, "--max_train_steps", "3", "--checkpointing_steps", "1", "--num_visualizations", "0") == 0
    first_model = digest(out / "model.safetensors")

    # the same command again (the quick start's output folder, a user's second run): refused, nothing written
    with pytest.raises(P.ArgumentError) as refused:
        run_main(script, out, "--max_train_steps", "1", "--num_visualizations", "0")
    message = str(refused.value)
    assert "already holds another run" in message and "model.safetensors" in message
    for way in ("--resume_from_checkpoint", "--overwrite_output_dir", "another --output_dir"):
        assert way in message, message
    assert digest(out / "model.safetensors") == first_model
    assert [p.name for p in P.list_checkpoints(out)] == ["step_1", "step_2", "step_3"]

    # --overwrite_output_dir: a clean start; the earlier run is kept whole beside it
    this_run = ("--max_train_steps", "2", "--checkpointing_steps", "1", "--num_visualizations", "0")
    assert run_main(script, out, *this_run, "--overwrite_output_dir") == 0
    (moved,) = tmp_path.glob("run-replaced-*")
    assert digest(moved / "model.safetensors") == first_model
    assert [p.name for p in P.list_checkpoints(moved)] == ["step_1", "step_2", "step_3"]
    assert [p.name for p in P.list_checkpoints(out)] == ["step_1", "step_2"]  # no checkpoint of the other run is left

    # `--resume_from_checkpoint` alone, after this run stopped at step 1: the latest checkpoint of this run (step 1),
    # not the other run's step 3; a resume keeps the run's settings (resume rules: tests/test_real_world_runs.py)
    shutil.rmtree(out / "checkpoints" / "step_2")
    assert run_main(script, out, *this_run, "--resume_from_checkpoint") == 0
    assert json.loads((out / "train_results.json").read_text())["completed_steps"] == 2
    assert [p.name for p in P.list_checkpoints(out)] == ["step_1", "step_2"]


def test_check_output_dir_cases(tmp_path, monkeypatch):
    check = P.check_output_dir
    empty, finished = tmp_path / "empty", tmp_path / "finished"
    empty.mkdir()
    (empty / "runs").mkdir()  # TensorBoard logs of a job stopped before its first checkpoint: not a run
    finished.mkdir()
    (finished / "config.json").write_text("{}")
    check(tmp_path / "new", resume_from_checkpoint=None, resumable=False, overwrite_output_dir=False)
    check(empty, resume_from_checkpoint="latest", resumable=False, overwrite_output_dir=False)
    with pytest.raises(P.ArgumentError, match="has no checkpoint to resume from and holds another run"):
        check(finished, resume_from_checkpoint="latest", resumable=False, overwrite_output_dir=False)
    with pytest.raises(P.ArgumentError, match="give one of them"):
        check(finished, resume_from_checkpoint="latest", resumable=False, overwrite_output_dir=True)
    with pytest.raises(P.ArgumentError, match="lies in --output_dir"):
        check(finished, resume_from_checkpoint=None, resumable=False, overwrite_output_dir=True,
              model_name_or_path=str(finished))  # fmt: skip
    monkeypatch.chdir(finished)
    with pytest.raises(P.ArgumentError, match="the current folder"):
        check(".", resume_from_checkpoint=None, resumable=False, overwrite_output_dir=True)
    # two moves in the same second get distinct names
    first = P.move_previous_run(finished)
    (finished).mkdir()
    (finished / "model.safetensors").write_text("x")
    second = P.move_previous_run(finished)
    assert first != second and (first / "config.json").is_file() and (second / "model.safetensors").is_file()
    assert P.move_previous_run(finished) is None  # nothing left to move


FINETUNE_ARGS = [
    "--model_preset", "tiny", "--config_overrides", "image_size=32,num_frames=4,hidden_size=32,num_hidden_layers=1,"
    "num_attention_heads=2,intermediate_size=64", "--do_train", "--max_steps", "1", "--per_device_train_batch_size",
    "4", "--report_to", "none", "--dataloader_num_workers", "0", "--sampling_rate", "1", "--save_strategy", "no",
    "--no_rand_augment",
]  # fmt: skip


def test_finetuning_rerun_refuses_then_overwrite_moves_aside(data_synthetic_dir, tmp_path):
    out = tmp_path / "finetuned"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"an earlier run's model")
    argv = ["--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--output_dir", str(out), *FINETUNE_ARGS]
    with pytest.raises(P.ArgumentError, match="already holds another run") as refused:
        run_finetuning.main(argv)
    assert "--overwrite_output_dir" in str(refused.value)
    assert (out / "model.safetensors").read_bytes() == b"an earlier run's model"

    run_finetuning.main([*argv, "--overwrite_output_dir"])
    (moved,) = tmp_path.glob("finetuned-replaced-*")
    assert (moved / "model.safetensors").read_bytes() == b"an earlier run's model"
    assert (out / "config.json").is_file() and (out / "model.safetensors").read_bytes() != b"an earlier run's model"


def test_finetuning_resume_alone_takes_this_runs_latest_checkpoint(data_synthetic_dir, tmp_path):
    """`--resume_from_checkpoint` with no value (as README and docs/training.md say): this run's newest
    `checkpoint-<step>`; where there is none yet, a fresh start in the same folder."""
    out = tmp_path / "finetuned"
    argv = ["--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--output_dir", str(out), *FINETUNE_ARGS,
            "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "1"]  # fmt: skip
    assert run_finetuning.main([*argv, "--resume_from_checkpoint"])["train_loss"] > 0  # nothing saved yet: afresh
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    shutil.rmtree(out / "checkpoint-2")  # as if stopped after step 1
    (out / "model.safetensors").unlink()
    run_finetuning.main([*argv, "--resume_from_checkpoint"])  # without a checkpoint the folder would be refused
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert (out / "checkpoint-2").is_dir() and (out / "model.safetensors").is_file()
