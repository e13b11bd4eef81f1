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
  # A wheel already on this machine (pip's find-links) first; else the CPU index of pytorch.org.
  python -m pip install -q --no-index "torch==2.13.0" 2>/dev/null \
    || python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
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
    python scripts/run_pretraining.py
    python scripts/run_finetuning.py
    ;;
  test)
    python -m pytest -q tests "$@"
    ;;
  *)
    echo "usage: bash scripts/quickstart.sh [demo|test] [pytest arguments]" >&2
    exit 2
    ;;
esac
