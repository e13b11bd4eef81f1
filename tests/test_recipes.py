"""Named recipes (adamae_hf.recipes): which values a recipe sets, that the command line wins, and the provenance."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adamae_hf.recipes import (
    RECIPE_NAMES,
    RECIPES,
    RecipeError,
    given_destinations,
    recipe_log_lines,
    recipe_values,
    resolve_recipe,
)


def toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", choices=RECIPE_NAMES)
    parser.add_argument("--train_dir")
    parser.add_argument("--config_name")
    parser.add_argument("--model_name_or_path")
    parser.add_argument("--sampling_rate", type=int)
    parser.add_argument("--base_learning_rate", type=float)
    parser.add_argument("--horizontal_flip", action="store_true")
    parser.add_argument("--adam_betas", type=float, nargs=2, default=(0.9, 0.999))
    return parser


TOY = {"config_name": "base", "sampling_rate": 2, "base_learning_rate": 1.5e-4, "adam_betas": (0.9, 0.95)}


@pytest.fixture
def toy_recipes(monkeypatch):
    for name in RECIPE_NAMES:
        monkeypatch.setitem(RECIPES, name, {"pretraining": dict(TOY), "finetuning": dict(TOY)})


def test_given_destinations_sees_abbreviations_equals_and_flags():
    given = given_destinations(toy_parser(), ["--sampling_rate=4", "--horizontal_flip", "--base_learn", "1e-3"])
    assert given == {"sampling_rate": 4, "horizontal_flip": True, "base_learning_rate": 1e-3}
    assert given_destinations(toy_parser(), []) == {}


def test_the_command_line_wins_and_the_provenance_is_recorded(toy_recipes):
    parser = toy_parser()
    argv = ["--recipe", "adamae-k400", "--train_dir", "videos", "--sampling_rate", "8"]
    resolution = resolve_recipe(parser, argv, "pretraining", ["train_dir"])
    args = parser.parse_args(argv)
    assert args.sampling_rate == 8 and args.base_learning_rate == 1.5e-4 and args.adam_betas == (0.9, 0.95)
    assert args.config_name == "base" and args.recipe == "adamae-k400"
    assert resolution.from_recipe == {"config_name": "base", "base_learning_rate": 1.5e-4, "adam_betas": (0.9, 0.95)}
    assert resolution.from_user == {"train_dir": "videos", "sampling_rate": 8}
    assert resolution.overridden == {"sampling_rate": 2}
    lines = "\n".join(recipe_log_lines(resolution.as_dict()))
    assert "from the command line: sampling_rate = 8 (recipe: 2)" in lines
    assert "from the recipe: base_learning_rate = 0.00015" in lines


def test_a_checkpoint_replaces_the_recipes_model_size(toy_recipes):
    parser = toy_parser()
    argv = ["--recipe", "adamae-ssv2", "--train_dir", "v", "--model_name_or_path", "ckpt"]
    resolution = resolve_recipe(parser, argv, "pretraining", ["train_dir"])
    assert parser.parse_args(argv).config_name is None
    assert resolution.overridden == {"config_name": "base"}  # the recipe field it replaced, with its value
    lines = "\n".join(recipe_log_lines(resolution.as_dict()))
    assert "model_name_or_path*" in lines and "from the command line: model_name_or_path = 'ckpt' (recipe: config_name = 'base')" in lines


def test_no_recipe_on_a_dataset_stops_with_the_choices():
    with pytest.raises(RecipeError, match="--recipe adamae-ssv2 .* --recipe adamae-k400 .* --recipe synthetic-demo"):
        resolve_recipe(toy_parser(), ["--train_dir", "videos"], "pretraining", ["train_dir"])


def test_no_recipe_and_no_dataset_is_the_demo(toy_recipes):
    parser = toy_parser()
    resolution = resolve_recipe(parser, [], "pretraining", ["train_dir"])
    assert resolution.name == "synthetic-demo" and parser.parse_args([]).recipe == "synthetic-demo"


def test_a_recipe_field_the_script_lacks_is_an_error():
    with pytest.raises(RecipeError, match="does not define"):  # the real demo recipe sets fields the toy lacks
        resolve_recipe(toy_parser(), [], "pretraining", ["train_dir"])


def test_a_released_recipe_needs_a_dataset_except_for_a_dry_run(toy_recipes):
    with pytest.raises(RecipeError, match="recipe for a real dataset"):
        resolve_recipe(toy_parser(), ["--recipe", "adamae-ssv2"], "pretraining", ["train_dir"])
    parser = toy_parser()
    parser.add_argument("--dry_run", action="store_true")
    assert resolve_recipe(parser, ["--recipe", "adamae-ssv2", "--dry_run"], "pretraining", ["train_dir"])


def test_unknown_recipe_and_script():
    with pytest.raises(RecipeError, match="unknown recipe"):
        recipe_values("videomae-ssv2", "pretraining")
    with pytest.raises(RecipeError, match="unknown script"):
        recipe_values("adamae-ssv2", "linear_probe")


def test_recipes_differ_only_where_the_released_scripts_do():
    ssv2, k400 = RECIPES["adamae-ssv2"], RECIPES["adamae-k400"]
    pre = {k for k in ssv2["pretraining"] if ssv2["pretraining"][k] != k400["pretraining"].get(k)}
    assert pre == {"sampling_rate", "output_dir"}  # example-pretrain-adamae.sh: --sampling_rate 2 (ssv2/) vs 4 (kinetics/)
    fine = set(ssv2["finetuning"]) | set(k400["finetuning"])
    fine = {k for k in fine if ssv2["finetuning"].get(k) != k400["finetuning"].get(k)}
    assert fine == {"temporal_sampling", "sampling_rate", "horizontal_flip", "test_num_clips", "base_learning_rate",
                    "num_train_epochs", "output_dir"}  # fmt: skip


# ------------------------------------------------------------------------------------------ the scripts' --dry_run
ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """The script as a module of its own name (`recipes_test_<name>`), loaded once: other tests import the scripts
    as `run_*`, whose classes (pickled with the Trainer's arguments) must stay theirs."""
    module_name = f"recipes_test_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses resolve their module's annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def dry_run(capsys, name: str, argv: list[str]) -> dict:
    code = load_script(name).main([*argv, "--dry_run"])
    assert code in (0, None)
    return json.loads(capsys.readouterr().out)


# The released values, typed from wgcban/adamae (docs/recipes.md gives file and line); not read from
# adamae_hf.recipes, so that a changed recipe fails here.
RELEASED_PRETRAINING = {
    "config_name": "base", "crop": "multiscale", "horizontal_flip": False, "per_device_train_batch_size": 32,
    "gradient_accumulation_steps": 1, "base_learning_rate": 1.5e-4, "base_min_learning_rate": 1e-5,
    "released_lr_schedule": True, "warmup_epochs": 40, "num_train_epochs": 801, "weight_decay": 0.05,
    "decay_sampler_positions": True, "adam_betas": [0.9, 0.95], "max_grad_norm": 0.0, "seed": 0,
    "num_sample": 1, "augment_on_device": False,  # no repeated sampling in the released pre-training; CPU augmentation
}  # fmt: skip
RELEASED_VIT_B = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "patch_size": 16, "tubelet_size": 2, "image_size": 224, "num_frames": 16, "layer_norm_eps": 1e-6,
    "qkv_bias": True,
}  # fmt: skip
RELEASED_PRETRAINING_MODEL = {
    **RELEASED_VIT_B, "decoder_hidden_size": 384, "decoder_num_hidden_layers": 4, "decoder_num_attention_heads": 6,
    "decoder_intermediate_size": 1536, "mask_type": "adaptive", "mask_ratio": 0.95, "norm_pix_loss": True,
    "sampling_loss_weight": 1e-4, "sampler_depth": 1, "sampler_num_attention_heads": 8, "sampler_dropout": 0.1,
    "sampler_layer_norm_eps": 1e-5, "drop_path_rate": 0.0, "decoder_mask_ratio": 0.0,
}  # fmt: skip


@pytest.mark.parametrize("recipe,sampling_rate", [("adamae-ssv2", 2), ("adamae-k400", 4)])
def test_pretraining_dry_run_prints_the_released_recipe(capsys, monkeypatch, recipe, sampling_rate):
    monkeypatch.setenv("WORLD_SIZE", "64")  # the released 8 nodes x 8 GPUs
    report = dry_run(capsys, "run_pretraining", ["--recipe", recipe])
    assert report["recipe"]["name"] == recipe
    assert {k: report["arguments"][k] for k in RELEASED_PRETRAINING} == RELEASED_PRETRAINING
    assert report["arguments"]["sampling_rate"] == sampling_rate  # ssv2/ --sampling_rate 2, kinetics/ 4
    assert {k: report["model_config"][k] for k in RELEASED_PRETRAINING_MODEL} == RELEASED_PRETRAINING_MODEL
    derived = report["derived"]
    assert derived["total_batch_size"] == 2048
    assert derived["learning_rate"] == pytest.approx(1.5e-4 * 2048 / 256)  # 1.2e-3
    assert derived["min_learning_rate"] == pytest.approx(1e-5 * 2048 / 256)  # 8e-5
    assert derived["multiscale_crop_scales"] == [1.0, 0.875, 0.75, 0.66]
    assert report["arguments"]["min_crop_scale"] is None  # the random resized crop's, unused by the multi-scale crop


def test_a_crop_scale_for_the_multiscale_crop_is_refused():
    """--min_crop_scale belongs to the random resized crop: given with the recipes' multi-scale crop it would be
    ignored, so it stops the run with a message; with --crop random_resized it is used."""
    script = load_script("run_pretraining")
    with pytest.raises(ValueError, match="--min_crop_scale sets the random resized crop's smallest area"):
        script.parse_args(["--recipe", "adamae-ssv2", "--min_crop_scale", "0.3", "--dry_run"])
    args = script.parse_args(["--recipe", "adamae-ssv2", "--min_crop_scale", "0.3", "--crop", "random_resized", "--dry_run"])
    assert args.min_crop_scale == 0.3


RELEASED_FINETUNING = {
    "model_preset": "base", "drop_path_rate": 0.1, "layer_decay": 0.75, "rand_augment": True,
    "rand_augment_num_ops": 4, "rand_augment_magnitude": 7.0, "rand_augment_magnitude_std": 0.5,
    "min_crop_scale": 0.08, "random_erasing": 0.25, "random_erasing_fill": "pixel", "mixup": 0.8, "cutmix": 1.0,
    "mixup_prob": 1.0, "mixup_switch_prob": 0.5, "label_smoothing_factor": 0.1, "test_num_crops": 3,
    "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1, "base_min_learning_rate": 1e-6,
    "warmup_epochs": 5.0, "released_lr_schedule": True, "weight_decay": 0.05, "adam_beta1": 0.9,
    "adam_beta2": 0.999, "adam_epsilon": 1e-8, "max_grad_norm": 0.0, "dataloader_drop_last": True, "seed": 0,
    "view_average": "logits", "num_sample": 1,
    "released_crop": True, "test_resize_antialias": False,  # video_transforms.py random_resized_crop, resize_clip
}  # fmt: skip
RELEASED_FINETUNING_BY_DATASET = {
    # ft-ssv2.sh (kinetics/ folder, --data_set SSV2) and ft-k400.sh (ssv2/ folder, --data_set Kinetics-400)
    "adamae-ssv2": {"temporal_sampling": "segments", "horizontal_flip": False, "test_num_clips": 2,
                    "base_learning_rate": 5e-4, "num_train_epochs": 50.0},
    "adamae-k400": {"temporal_sampling": "videomae", "sampling_rate": 4, "horizontal_flip": True, "test_num_clips": 5,
                    "base_learning_rate": 1e-3, "num_train_epochs": 100.0},
}  # fmt: skip


@pytest.mark.parametrize("recipe", ["adamae-ssv2", "adamae-k400"])
def test_finetuning_dry_run_prints_the_released_recipe(capsys, monkeypatch, recipe):
    monkeypatch.setenv("WORLD_SIZE", "64")
    report = dry_run(capsys, "run_finetuning", ["--recipe", recipe])
    expected = {**RELEASED_FINETUNING, **RELEASED_FINETUNING_BY_DATASET[recipe]}
    assert {k: report["arguments"][k] for k in expected} == expected
    model = {**RELEASED_VIT_B, "use_mean_pooling": True, "classifier_init_scale": 0.001, "drop_path_rate": 0.1}
    assert {k: report["model_config"][k] for k in model} == model
    derived = report["derived"]
    assert derived["total_batch_size"] == 512
    base = RELEASED_FINETUNING_BY_DATASET[recipe]["base_learning_rate"]
    assert derived["learning_rate"] == pytest.approx(base * 512 / 256)  # 1e-3 (SSv2), 2e-3 (K400)
    assert derived["min_learning_rate"] == pytest.approx(1e-6 * 512 / 256)
    assert derived["rand_augment"] == "rand-m7-n4-mstd0.5-inc1"  # finetune_class.py:90 (--aa)


def test_a_bad_rand_augment_value_is_named_before_any_work(capsys):
    with pytest.raises(ValueError, match="--rand_augment_magnitude.*magnitude must be in \\[0, 10\\], got 12"):
        dry_run(capsys, "run_finetuning", ["--recipe", "adamae-ssv2", "--rand_augment_magnitude", "12"])
    report = dry_run(capsys, "run_finetuning", ["--recipe", "synthetic-demo"])
    assert report["arguments"]["rand_augment"] is False and report["derived"]["rand_augment"] is None


def test_a_flag_wins_over_the_recipe_and_is_reported(capsys):
    report = dry_run(capsys, "run_pretraining", ["--recipe", "adamae-k400", "--sampling_rate", "8", "--config_name",
                                                 "small"])  # fmt: skip
    assert report["arguments"]["sampling_rate"] == 8 and report["model_config"]["hidden_size"] == 384
    assert report["recipe"]["overridden"] == {"config_name": "base", "sampling_rate": 4}
    assert {"sampling_rate", "config_name"} <= set(report["recipe"]["from_user"])
    assert "sampling_rate" not in report["recipe"]["from_recipe"]
    report = dry_run(capsys, "run_finetuning", ["--recipe", "adamae-ssv2", "--learning_rate", "3e-4", "--warmup_steps",
                                                "100"])  # fmt: skip
    assert report["arguments"]["learning_rate"] == 3e-4 and report["arguments"]["base_learning_rate"] is None
    assert report["arguments"]["warmup_steps"] == 100 and report["arguments"]["warmup_epochs"] is None
    assert report["derived"]["learning_rate"] == 3e-4
    # each entry is the recipe field the flag replaced, with that field's recipe value
    assert report["recipe"]["overridden"] == {"base_learning_rate": 5e-4, "warmup_epochs": 5.0}
    lines = "\n".join(recipe_log_lines(report["recipe"]))
    assert "learning_rate*, " in lines and "warmup_steps*;" in lines
    assert "from the command line: learning_rate = 0.0003 (recipe: base_learning_rate = 0.0005)" in lines
    assert "from the command line: warmup_steps = 100.0 (recipe: warmup_epochs = 5.0)" in lines
    report = dry_run(capsys, "run_pretraining", ["--recipe", "adamae-ssv2", "--num_warmup_steps", "10"])
    assert report["recipe"]["overridden"] == {"warmup_epochs": 40} and report["arguments"]["warmup_epochs"] is None


def test_a_recipe_leaves_the_data_pipeline_options_to_the_user(capsys):
    """--num_sample and --augment_on_device are the user's (the released pre-training has neither); the released
    fine-tuning's --num_sample 1 is the recipe's. The on-device augmentation has no multi-scale crop: asking for both
    stops with a message."""
    report = dry_run(capsys, "run_pretraining", ["--recipe", "adamae-k400", "--num_sample", "2", "--augment_on_device",
                                                 "--crop", "random_resized"])  # fmt: skip
    assert report["arguments"]["num_sample"] == 2 and report["arguments"]["augment_on_device"] is True
    assert "num_sample" not in report["recipe"]["from_recipe"] and "num_sample" in report["recipe"]["from_user"]
    with pytest.raises(ValueError, match="--augment_on_device has the random resized crop only"):
        load_script("run_pretraining").parse_args(["--recipe", "adamae-k400", "--augment_on_device", "--dry_run"])
    report = dry_run(capsys, "run_finetuning", ["--recipe", "adamae-ssv2", "--num_sample", "2"])
    assert report["arguments"]["num_sample"] == 2 and report["recipe"]["overridden"] == {"num_sample": 1}


def test_the_demo_recipe_is_the_quick_start(capsys):
    pre = dry_run(capsys, "run_pretraining", [])
    assert pre["recipe"]["name"] == "synthetic-demo"
    expected = {"config_name": "tiny", "base_learning_rate": 2.4e-2, "num_train_epochs": 2, "warmup_epochs": 0.25,
                "per_device_train_batch_size": 16, "sampling_rate": 2, "crop": "random_resized", "min_crop_scale": 0.5,
                "released_lr_schedule": False, "horizontal_flip": False, "decay_sampler_positions": False}  # fmt: skip
    assert {k: pre["arguments"][k] for k in expected} == expected
    assert pre["model_config"]["hidden_size"] == 128 and pre["model_config"]["mask_ratio"] == 0.9
    fine = dry_run(capsys, "run_finetuning", [])
    expected = {"model_preset": "tiny", "num_train_epochs": 12.0, "per_device_train_batch_size": 16,
                "learning_rate": 5e-4, "layer_decay": 1.0, "drop_path_rate": 0.0, "rand_augment": False,
                "min_crop_scale": 0.8, "mixup_prob": 0.0, "random_erasing": 0.0, "sampling_rate": 2,
                "test_num_clips": 1, "horizontal_flip": False, "released_lr_schedule": False,
                "temporal_sampling": "stride", "view_average": "probabilities", "released_crop": False,
                "test_resize_antialias": True}  # fmt: skip
    assert {k: fine["arguments"][k] for k in expected} == expected


@pytest.mark.parametrize("name", ["run_pretraining", "run_finetuning"])
def test_a_dataset_without_a_recipe_stops_with_the_choices(tmp_path, name):
    with pytest.raises(RecipeError, match="needs a recipe: --recipe adamae-ssv2"):
        load_script(name).main(["--train_dir", str(tmp_path)])


def test_the_dry_run_reads_no_data_and_builds_no_weights(capsys, tmp_path, monkeypatch):
    import adamae_hf.modeling_adamae as modeling

    def refuse(*args, **kwargs):
        raise AssertionError("the dry run built a model")

    monkeypatch.setattr(modeling.AdaMAEPreTrainedModel, "__init__", refuse)
    (tmp_path / "empty").mkdir()  # no video at all: reading it would fail
    for name in ("run_pretraining", "run_finetuning"):
        report = dry_run(capsys, name, ["--recipe", "adamae-ssv2", "--train_dir", str(tmp_path / "empty")])
        assert report["recipe"]["name"] == "adamae-ssv2"


def test_the_dry_run_from_the_command_line():
    for name in ("run_pretraining", "run_finetuning"):
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), "--recipe", "adamae-k400",
                                 "--dry_run"], capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["arguments"]["recipe"] == "adamae-k400"


def test_every_released_recipe_field_is_in_the_docs_table():
    text = (ROOT / "docs" / "recipes.md").read_text()
    for recipe in ("adamae-ssv2", "adamae-k400"):
        for script in ("pretraining", "finetuning"):
            for name in RECIPES[recipe][script]:
                if name != "output_dir":
                    assert f"`{name} " in text, (recipe, script, name)


# ------------------------------------------------------------------------------------------ the recipes run
TINY = (
    "image_size=32,patch_size=8,num_frames=8,hidden_size=32,num_hidden_layers=2,num_attention_heads=2,"
    "intermediate_size=64,decoder_hidden_size=32,decoder_num_hidden_layers=1,decoder_num_attention_heads=2,"
    "decoder_intermediate_size=64,sampler_num_attention_heads=2"
)


@pytest.mark.parametrize("recipe", ["adamae-ssv2", "adamae-k400"])
def test_the_released_recipes_run(data_synthetic_dir, tmp_path, caplog, recipe):
    """Two optimiser steps of each script under a released recipe (a tiny model in place of ViT-B): the multi-scale
    crop, the released schedule and weight decay, segment / VideoMAE sampling, noise erasing, logit averaging."""
    caplog.set_level(logging.DEBUG)  # each recipe value is logged at DEBUG, the summary at INFO
    pre = tmp_path / "pre"
    code = load_script("run_pretraining").main([
        "--recipe", recipe, "--train_dir", str(data_synthetic_dir / "train"), "--config_overrides", TINY,
        "--per_device_train_batch_size", "2", "--max_train_steps", "2",
        "--output_dir", str(pre), "--dataloader_num_workers", "0", "--num_visualizations", "0", "--disable_tqdm",
        "--sampling_rate", "1",
    ])  # fmt: skip
    assert code == 0 and (pre / "model.safetensors").is_file()
    assert "from the recipe: crop = 'multiscale'" in caplog.text
    assert "from the command line: sampling_rate = 1 (recipe: " in caplog.text
    # the recipe's 40 warm-up epochs are longer than the 2 steps: cut to 1, said once
    cut = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "warm-up" in r.getMessage()]
    assert len(cut) == 1 and re.search(
        rf"The warm-up \((\d+) steps, --warmup_epochs 40 x (\d+) steps per epoch from the recipe '{recipe}'\) is not "
        r"shorter than the run \(2 steps\): cut to 1 steps. Set a shorter warm-up with --warmup_epochs or "
        r"--num_warmup_steps.$", cut[0]), cut
    caplog.clear()
    results = load_script("run_finetuning").main([
        "--recipe", recipe, "--model_name_or_path", str(pre), "--train_dir", str(data_synthetic_dir),
        "--output_dir", str(tmp_path / "fine"), "--max_steps", "2", "--per_device_train_batch_size", "2",
        "--per_device_eval_batch_size", "4", "--dataloader_num_workers", "0", "--report_to", "none",
        "--save_strategy", "no", "--sampling_rate", "1", "--test_num_clips", "2", "--test_num_crops", "1",
        "--do_train", "--do_eval", "--log_level", "debug",
    ])  # fmt: skip
    assert "eval_top1" in results and results["train_loss"] == results["train_loss"]  # finite
    cut = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "warm-up" in r.getMessage()]
    assert len(cut) == 1 and cut[0].endswith(
        f"steps, --warmup_epochs 5 from the recipe '{recipe}') is not shorter than the run (2 steps): cut to 1 steps. "
        "Set a shorter warm-up with --warmup_epochs or --warmup_steps (< 1: a fraction of the run)."), cut
    assert json.loads((tmp_path / "fine" / "video_preprocessor_config.json").read_text())["antialias"] is False
    expected = {"adamae-ssv2": "'segments'", "adamae-k400": "'videomae'"}[recipe]
    assert f"from the recipe: temporal_sampling = {expected}" in caplog.text
