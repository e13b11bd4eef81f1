"""benchmarks/demo_seeds.py: the demo over seeds through the scripts (aggregation, resume, failures; the runs
themselves are the slow demo tests in test_finetuning.py / test_pretraining.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import demo_seeds  # noqa: E402


def write_run(work: Path, seed: int, reconstruction: float, top1: float, matrix: list[list[int]]) -> None:
    pretrain, finetune = work / f"pretrain-seed{seed}", work / f"finetune-seed{seed}"
    pretrain.mkdir(parents=True)
    finetune.mkdir(parents=True)
    (pretrain / "train_results.json").write_text(json.dumps({
        "train_reconstruction_loss": reconstruction, "focus_object_mass_ratio": 2.0 + seed, "train_runtime": 120.0,
    }))  # fmt: skip
    (finetune / "all_results.json").write_text(
        json.dumps({"eval_top1": top1, "eval_top5": 90.0, "train_runtime": 600.0})
    )
    (finetune / "confusion_matrix.json").write_text(
        json.dumps({"label_names": ["left", "right"], "matrix": matrix})
    )


def test_finished_runs_are_aggregated_without_running_again(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail("a finished stage was run again"))
    write_run(tmp_path / "work", 0, 0.5, 40.0, [[3, 1], [2, 2]])
    write_run(tmp_path / "work", 1, 0.3, 80.0, [[4, 0], [0, 4]])
    argv = ["--seeds", "0", "1", "--work_dir", str(tmp_path / "work"), "--output", str(tmp_path / "out")]
    summary = demo_seeds.main([*argv, "--extra_finetuning_args", "--learning_rate 1e-3"])
    assert summary["eval_top1"] == pytest.approx((60.0, 28.284271), rel=1e-6)  # mean, sample std of 40 and 80
    assert summary["train_reconstruction_loss"][0] == pytest.approx(0.4)
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["runs"]["0"]["per_class"] == {
        "left": 75.0,
        "right": 50.0,
    }  # rows of the confusion matrix: true class
    assert saved["per_class"]["right"][0] == pytest.approx(75.0)
    table = (tmp_path / "out.md").read_text()
    assert "--extra_finetuning_args '--learning_rate 1e-3'`" in table  # the command as it can be run again
    assert "| top-1 % | 60 ± 28 | 40 | 80 |" in table
    assert "| object-mass ratio | 2.5 ± 0.71 | 2 | 3 |" in table


def test_a_failing_stage_stops_with_the_tail_of_its_log(tmp_path, monkeypatch):
    def fail(command, cwd, stdout, stderr):
        stdout.write("Traceback (most recent call last):\nValueError: the reason\n")
        return 1

    monkeypatch.setattr(subprocess, "call", fail)
    with pytest.raises(RuntimeError, match=r"(?s)run_pretraining.py exited with 1.*ValueError: the reason"):
        demo_seeds.main(
            ["--seeds", "3", "--work_dir", str(tmp_path / "work"), "--output", str(tmp_path / "out")]
        )
    assert not (tmp_path / "out.md").exists()
