#!/usr/bin/env bash
# Quick start on a fresh machine: makes a virtual environment in .venv (where it has no torch yet: the CUDA build if
# nvidia-smi finds a GPU, else the CPU build; ADAMAE_TORCH_SPEC=<pip requirement> chooses another),
# installs adamae-hf with its [dev] extra, then
#   bash scripts/quickstart.sh demo   pre-trains, then fine-tunes, on the embedded synthetic dataset
#   bash scripts/quickstart.sh test   runs the test suite
# Extra arguments after `test` go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=${ADAMAE_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if ! python -c "import torch" >/dev/null 2>&1; then
  # ADAMAE_TORCH_SPEC (a pip requirement) chooses the build; else the CUDA build where nvidia-smi finds a GPU, the
  # CPU build otherwise.
  if [ -n "${ADAMAE_TORCH_SPEC:-}" ]; then
    echo "== installing torch as ADAMAE_TORCH_SPEC says: $ADAMAE_TORCH_SPEC"
    python -m pip install -q "$ADAMAE_TORCH_SPEC"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo "== nvidia-smi finds a GPU: installing the CUDA build of torch (pip's default). To choose another build," \
      "set ADAMAE_TORCH_SPEC, e.g. ADAMAE_TORCH_SPEC=torch==2.13.0+cpu"
    python -m pip install -q torch
  else
    echo "== no GPU found (nvidia-smi): installing the CPU build of torch. To choose another build, set" \
      "ADAMAE_TORCH_SPEC, e.g. ADAMAE_TORCH_SPEC=torch for pip's default (CUDA) build"
    # The CPU wheel where pip's configured indexes or find-links have it (fails fast where they don't), else
    # pytorch.org's CPU index.
    python -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
      || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
  fi
fi

stamp="$venv/.adamae-hf-installed"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing adamae-hf and its dependencies"
  python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi

task=${1:-demo}
[ $# -gt 0 ] && shift
case "$task" in
  demo)
    # The demo may run again: its earlier outputs are moved aside (outputs/<name>-replaced-<date-time>), never
    # deleted. The scripts themselves refuse an --output_dir that holds another run unless told.
    python scripts/run_pretraining.py --overwrite_output_dir
    python scripts/run_finetuning.py --overwrite_output_dir
    ;;
  test)
    python -m pytest -q "$@"  # no arguments: every test under tests/ (testpaths in pyproject.toml)
    ;;
  *)
    echo "usage: bash scripts/quickstart.sh [demo|test] [pytest arguments]" >&2
    exit 2
    ;;
esac
