"""The two training scripts' command lines: each option prints its default once, and an option of both scripts has
the same choices and the same help in both (the shared definitions of `adamae_hf.training.arguments`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adamae_hf.training import SHARED_OPTIONS


ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("run_pretraining.py", "run_finetuning.py")


@pytest.fixture(scope="module")
def helps() -> dict[str, dict[str, str]]:
    """`{script: {option: its help block, whitespace-normalised}}` from `--help`."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="100")
    result = {}
    for script in SCRIPTS:
        text = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--help"], env=env, check=True,
                              capture_output=True, text=True, timeout=300).stdout  # fmt: skip
        options = text[text.index("options:"):]
        blocks = re.split(r"\n(?=  --?\w)", options)
        result[script] = {re.match(r"\s*(--?[\w-]+)", b).group(1): " ".join(b.split()) for b in blocks[1:]}
    return result


def _choices(block: str) -> str | None:
    found = re.match(r"--[\w-]+ (\{[^}]*\})", block)
    return found.group(1) if found else None


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_option_prints_one_default(helps, script):
    twice = {name: block for name, block in helps[script].items() if len(re.findall(r"\(default\b", block)) > 1}
    assert not twice, twice


def test_shared_options_have_one_spelling(helps):
    pretraining, finetuning = (helps[script] for script in SCRIPTS)
    shared = {f"--{name}" for name in SHARED_OPTIONS}
    assert shared <= set(pretraining) and shared <= set(finetuning)
    for name in sorted((set(pretraining) & set(finetuning)) - {"-h"}):
        assert _choices(pretraining[name]) == _choices(finetuning[name]), name
    for name, spec in SHARED_OPTIONS.items():
        shared_help = " ".join(spec["help"].split())
        for script in SCRIPTS:
            assert shared_help in helps[script][f"--{name}"], (script, name)
    assert _choices(pretraining["--on_nonfinite_loss"]) == "{stop,skip}"
    # --horizontal_flip takes the same optional value in both
    assert "--horizontal_flip [BOOL]" in pretraining["--horizontal_flip"]
    assert "--horizontal_flip [BOOL]" in finetuning["--horizontal_flip"]


def test_finetuning_has_one_label_smoothing_option(helps):
    assert [name for name in helps["run_finetuning.py"] if "label_smoothing" in name] == ["--label_smoothing_factor"]


def test_pretraining_recipe_helps_match_the_recipes(helps):
    """The help of each recipe argument gives its value in every recipe (`adamae_hf.recipes`)."""
    from adamae_hf.recipes import RECIPE_NAMES, RECIPES

    names = ("sampling_rate", "per_device_train_batch_size", "base_learning_rate", "num_train_epochs", "warmup_epochs",
             "checkpointing_steps", "crop", "released_lr_schedule", "config_name")  # fmt: skip
    for name in names:
        block = helps["run_pretraining.py"][f"--{name}"]
        for recipe in RECIPE_NAMES:
            assert f"{RECIPES[recipe]['pretraining'][name]} ({recipe})" in block, (name, recipe)
