"""FSDP on CPU: AdaMAE sharded with torch's FSDP2 over 2 gloo processes trains with the ranks in agreement, and a
sharded checkpoint resumes bit-exactly (tests/fsdp_worker.py).

Why not `accelerate launch` with an FSDP config here: accelerate (1.x) turns FSDP on only for GPU-like multi-device
types; on a machine without GPUs, `accelerate launch --config_file <FSDP config, num_processes 2>` starts
`DistributedType.MULTI_CPU` (DDP over gloo) without an error or a warning, so the DDP test in test_pretraining.py
already covers what it runs. torch's FSDP2 itself runs on CPU, which is what this test checks of the model
(DTensor parameters, per-layer units, fused AdamW, torch.distributed.checkpoint).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch


ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "fsdp_worker.py"


def _torchrun(out: Path, *extra: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
         str(WORKER), str(out), *extra],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def test_fsdp2_on_two_cpu_processes_agrees_across_ranks_and_resumes_exactly(tmp_path):
    _torchrun(tmp_path)
    _torchrun(tmp_path, "--resume")
    run = [torch.load(tmp_path / f"run_{rank}.pt") for rank in (0, 1)]
    resumed = [torch.load(tmp_path / f"resumed_{rank}.pt") for rank in (0, 1)]
    assert run[0]["parameter_type"] == "DTensor"  # really sharded
    assert run[0]["losses"] != run[1]["losses"]  # different clips and masks per rank
    for name, tensor in run[0]["weights"].items():
        assert torch.equal(tensor, run[1]["weights"][name]), name  # ranks agree after every step's all-reduce
        assert torch.equal(tensor, resumed[0]["weights"][name]), name  # resume from the step-2 checkpoint: exact
    assert resumed[0]["losses"] == run[0]["losses"][2:]
    assert run[0]["moved"] > 1e-4  # training changed the weights
