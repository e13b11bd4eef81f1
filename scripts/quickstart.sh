#!/usr/bin/env bash
# Quick start on a fresh machine: makes a virtual environment in .venv (CPU torch where none is installed yet),
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
  echo "== installing the CPU build of torch"
  # The CPU wheel where pip's configured indexes or find-links have it (fails fast where they don't), else
  # pytorch.org's CPU index. Set ADAMAE_TORCH_SPEC to choose another build, e.g. "torch" for CUDA.
  if [ -n "${ADAMAE_TORCH_SPEC:-}" ]; then
    python -m pip install -q "$ADAMAE_TORCH_SPEC"
  else
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
