"""Named recipes (adamae_hf.recipes): which values a recipe sets, that the command line wins, and the provenance."""

from __future__ import annotations

import argparse

import pytest

from adamae_hf.recipes import (
    RECIPE_NAMES,
    RECIPES,
    RecipeError,
    given_destinations,
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
    lines = "\n".join(resolution.log_lines())
    assert "from the command line: sampling_rate = 8 (recipe: 2)" in lines
    assert "from the recipe: base_learning_rate = 0.00015" in lines


def test_a_checkpoint_replaces_the_recipes_model_size(toy_recipes):
    parser = toy_parser()
    argv = ["--recipe", "adamae-ssv2", "--train_dir", "v", "--model_name_or_path", "ckpt"]
    resolution = resolve_recipe(parser, argv, "pretraining", ["train_dir"])
    assert parser.parse_args(argv).config_name is None
    assert resolution.overridden == {"model_name_or_path": "base"}


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
    assert resolve_recipe(toy_parser(), ["--recipe", "adamae-ssv2"], "pretraining", ["train_dir"], dry_run=True)


def test_unknown_recipe_and_script():
    with pytest.raises(RecipeError, match="unknown recipe"):
        recipe_values("videomae-ssv2", "pretraining")
    with pytest.raises(RecipeError, match="unknown script"):
        recipe_values("adamae-ssv2", "linear_probe")


def test_recipes_differ_only_where_the_released_scripts_do():
    ssv2, k400 = RECIPES["adamae-ssv2"], RECIPES["adamae-k400"]
    pre = {k for k in ssv2["pretraining"] if ssv2["pretraining"][k] != k400["pretraining"].get(k)}
    assert pre == {"sampling_rate"}  # example-pretrain-adamae.sh: --sampling_rate 2 (ssv2/) vs 4 (kinetics/)
    fine = set(ssv2["finetuning"]) | set(k400["finetuning"])
    fine = {k for k in fine if ssv2["finetuning"].get(k) != k400["finetuning"].get(k)}
    assert fine == {"temporal_sampling", "sampling_rate", "horizontal_flip", "test_num_clips", "base_learning_rate",
                    "num_train_epochs"}  # fmt: skip
