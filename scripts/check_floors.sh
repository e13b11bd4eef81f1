#!/usr/bin/env bash
# The dependency floors of setup.cfg, tested: installs exactly each `name>=X` of install_requires as `name==X`
# (torch excepted: the installed torch is used, and must meet its floor) into a separate folder, with whatever
# other packages those versions need changed, then runs a fast subset of the tests against them.
#   bash scripts/check_floors.sh            # uses .venv (bash scripts/quickstart.sh makes it)
#   bash scripts/check_floors.sh -k name    # extra arguments go to pytest
# The folder ($ADAMAE_FLOORS_DIR, default .venv/floors) is kept and reused while the floors do not change.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${ADAMAE_VENV:-.venv}
python="$venv/bin/python"
floors_dir=${ADAMAE_FLOORS_DIR:-$venv/floors}
export PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x "$python" ] || { echo "no $python: run bash scripts/quickstart.sh test first" >&2; exit 2; }

# `name==X` for each `name>=X` in install_requires; the torch floor is checked against the installed torch.
pins=$("$python" - <<'EOF'
import configparser, re, sys
import torch
from packaging.version import Version

config = configparser.ConfigParser()
config.read("setup.cfg")
for line in config["options"]["install_requires"].split("\n"):
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^\s,;#]*)\s*", line.split("#")[0])
    if not match:
        continue
    name, floor = match.groups()
    if name == "torch":
        if Version(torch.__version__.split("+")[0]) < Version(floor):
            sys.exit(f"torch {torch.__version__} is below its floor {floor}")
        continue
    print(f"{name}=={floor}")
EOF
)
echo "== floors: $(echo "$pins" | tr '\n' ' ')"

if [ ! -f "$floors_dir/.pins" ] || [ "$(cat "$floors_dir/.pins")" != "$pins" ]; then
  echo "== installing the floors into $floors_dir"
  rm -rf "$floors_dir"
  mkdir -p "$floors_dir"
  # What pip would change in the environment to meet the floors: the floors and the dependencies whose installed
  # versions they do not accept. Those go into the separate folder; the environment itself is not touched.
  # shellcheck disable=SC2086
  "$python" -m pip install -q --dry-run --report "$floors_dir/report.json" $pins
  "$python" - "$floors_dir/report.json" >"$floors_dir/requirements.txt" <<'EOF'
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    if name.lower() == "torch":
        sys.exit(f"the floors need torch=={version}, not the installed torch: install torch separately")
    print(f"{name}=={version}")
EOF
  echo "== into $floors_dir: $(tr '\n' ' ' <"$floors_dir/requirements.txt")"
  "$python" -m pip install -q --no-deps --target "$floors_dir" -r "$floors_dir/requirements.txt"
  echo "$pins" >"$floors_dir/.pins"
fi

export PYTHONPATH="$floors_dir:src${PYTHONPATH:+:$PYTHONPATH}"
# The versions imported are the floors (not the environment's newer ones).
"$python" - "$pins" <<'EOF'
import importlib.metadata as metadata, sys
wrong = []
for pin in sys.argv[1].split():
    name, version = pin.split("==")
    if metadata.version(name) != version:
        wrong.append(f"{name} {metadata.version(name)} (floor {version})")
if wrong:
    sys.exit("not the floors: " + ", ".join(wrong))
EOF

# A fast subset (its time: docs/development.md): imports, the model, conversion and legacy checkpoints, video
# reading, transforms, the datasets sources, the video processor, tiny pre-training and fine-tuning runs, model cards.
"$python" -m pytest -q -p no:cacheprovider \
  tests/test_imports.py tests/test_modeling.py tests/test_conversion.py tests/test_legacy_checkpoints.py \
  tests/test_data_io.py tests/test_video_frames.py tests/test_data_transforms.py tests/test_data_sources.py \
  tests/test_processor.py tests/test_pretraining.py tests/test_finetuning.py tests/test_hub.py "$@"
