"""scripts/quickstart.sh's choice of torch build, with stand-ins for the venv's python and for nvidia-smi (nothing is
installed): the CUDA build (pip's default `torch`) where nvidia-smi lists a GPU, the CPU wheel otherwise,
ADAMAE_TORCH_SPEC over both; a line says which and how to choose."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_quickstart(tmp_path: Path, nvidia_smi: str, spec: str | None = None) -> tuple[str, list[str]]:
    venv_bin, fakes, calls = tmp_path / "venv" / "bin", tmp_path / "fakes", tmp_path / "calls.log"
    venv_bin.mkdir(parents=True)
    fakes.mkdir()
    # the venv's python: has no torch ("-c import torch" fails), records every other call
    executable(venv_bin / "python", f'#!/bin/sh\n[ "$1" = "-c" ] && exit 1\necho "$*" >> "{calls}"\n')
    (venv_bin / "activate").write_text(f'PATH="{venv_bin}:$PATH"\n')
    executable(fakes / "nvidia-smi", nvidia_smi)
    env = dict(os.environ, PATH=f"{fakes}:{os.environ['PATH']}", ADAMAE_VENV=str(tmp_path / "venv"))
    env.pop("ADAMAE_TORCH_SPEC", None)
    if spec:
        env["ADAMAE_TORCH_SPEC"] = spec
    result = subprocess.run(["bash", str(ROOT / "scripts" / "quickstart.sh"), "test", "-k", "nothing"], env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout, calls.read_text().splitlines()


GPU = '#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n'
NO_GPU = '#!/bin/sh\necho "No devices were found"\nexit 6\n'


@pytest.mark.parametrize(
    "nvidia_smi, spec, install, said",
    [
        (GPU, None, "-m pip install -q torch", "nvidia-smi finds a GPU: installing the CUDA build of torch"),
        (NO_GPU, None, "-m pip install -q torch==2.13.0+cpu", "no GPU found (nvidia-smi): installing the CPU build"),
        (GPU, "torch==2.13.0+cpu", "-m pip install -q torch==2.13.0+cpu", "ADAMAE_TORCH_SPEC says: torch==2.13.0+cpu"),
    ],
    ids=["gpu", "no-gpu", "spec-wins"],
)
def test_torch_build_follows_the_gpu_and_the_spec(tmp_path, nvidia_smi, spec, install, said):
    stdout, calls = run_quickstart(tmp_path, nvidia_smi, spec)
    assert calls[0] == install, calls
    assert said in stdout and ("ADAMAE_TORCH_SPEC" in stdout)
    assert calls[-1] == "-m pytest -q -k nothing"  # then the package and the task, as before
