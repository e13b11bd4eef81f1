"""benchmarks/gpu_check.sh on CPU with tiny sizes: the same steps as on a GPU (sync tests, the benchmark at each
batch size with its ratio tables, accelerate launches of the FSDP and DDP configs with a checkpoint and a resume, the
end-to-end run on generated videos against in-memory clips), so that the GPU run cannot fail on a typo. Slow: about 4
minutes on 2 cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_script_runs_on_cpu_with_tiny_sizes(tmp_path):
    env = dict(
        os.environ, DEVICE="cpu", SIZE="tiny", BATCHES="2", DTYPE="fp32", REPEATS="1", RESULTS=str(tmp_path),
        PYTHON=sys.executable, OMP_NUM_THREADS="1", ADAMAE_HF_CACHE=str(tmp_path / "cache"), E2E_DIR=str(tmp_path / "e2e"),
    )  # fmt: skip
    env.pop("ACCELERATE_CONFIG_FILE", None)
    result = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    log = (tmp_path / "gpu_check.log").read_text()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + log[-3000:]
    table = (tmp_path / "pretraining_tiny_fp32_bs2.md").read_text()
    for model in ("adamae-adaptive-95", "adamae-adaptive-95-dec-50", "adamae-tube-90", "videomae-tube-90"):
        assert f"| tiny | {model} |" in table
    assert "step time adamae-adaptive-95 / videomae-tube-90 (target: <= FLOP ratio" in table
    assert "step time adamae-adaptive-95-dec-50 / videomae-tube-90 (target: <= 0.85)" in table
    assert "peak memory adamae-adaptive-95-dec-50 / videomae-tube-90 (batch 2)" in table
    for engine in ("fsdp", "ddp"):
        checkpoints = {p.name for p in (tmp_path / f"launch_{engine}" / "checkpoints").iterdir()}
        assert {"step_2", "step_4", "step_6"} <= checkpoints, (engine, checkpoints)
    assert log.count("Resuming from checkpoint") == 2, log[-3000:]
    end_to_end = (tmp_path / "end_to_end_tiny_fp32.md").read_text()
    for data in ("in memory", "k400", "k400-prepared"):
        assert f"| {data} |" in end_to_end, end_to_end
    assert "--in_memory_videos 4" in end_to_end and "--augment_on_device" in end_to_end
    assert "done:" in log and "(0 failed)" in log
