"""Named training recipes for `scripts/run_pretraining.py` and `scripts/run_finetuning.py`: `--recipe NAME`.

- `adamae-ssv2`, `adamae-k400`: every setting of the released AdaMAE scripts for that dataset (wgcban/adamae,
  `scripts/{ssv2,kinetics}/.../example-pretrain-adamae.sh` and `example-finetune.sh`, with the argparse defaults of
  `pretrain_mae_vit.py` / `finetune_class.py` for what the shell scripts leave out). The released fine-tuning
  scripts are filed under the other dataset's folder: `scripts/kinetics/.../example-finetune.sh` fine-tunes SSv2
  (`--data_set SSV2 --nb_classes 174`) and `scripts/ssv2/.../example-finetune.sh` Kinetics-400; the recipes follow
  the `--data_set` they pass. `docs/recipes.md` gives the file and line of every value and the deliberate
  differences.
- `synthetic-demo`: the quick start (a tiny model on the embedded synthetic dataset, minutes on 2 CPU cores). It is
  the recipe of a run without `--recipe` and without a dataset; a run on a dataset must name its recipe.

A flag given on the command line always wins over the recipe; [`RecipeResolution`] records which values came from
where, and the scripts log it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


SCRIPTS = ("pretraining", "finetuning")

# ---------------------------------------------------------------------------------------------------------------
# Pre-training (scripts/run_pretraining.py argument names)
# ---------------------------------------------------------------------------------------------------------------
_RELEASED_PRETRAINING: dict[str, Any] = dict(
    # pretrain_videomae_base_patch16_224: ViT-B/16, decoder 4 x 384, 16 frames of 224 x 224, tubelet 2, 95 % adaptive
    # masking: all in the `base` config (a checkpoint given with --model_name_or_path keeps its own)
    config_name="base",
    crop="multiscale", horizontal_flip=False,  # GroupMultiScaleCrop(224, [1, .875, .75, .66]); no flip
    per_device_train_batch_size=32, gradient_accumulation_steps=1,  # x 64 GPUs = 2048 clips per step
    base_learning_rate=1.5e-4, base_min_learning_rate=1e-5,  # both x total batch / 256
    released_lr_schedule=True, warmup_epochs=40, num_train_epochs=801,
    weight_decay=0.05, decay_sampler_positions=True, adam_betas=(0.9, 0.95), max_grad_norm=0.0, seed=0,
    checkpointing_steps="epoch",
)  # fmt: skip

_SYNTHETIC_PRETRAINING: dict[str, Any] = dict(
    # lr = 2.4e-2 * 16 / 256 = 1.5e-3: the tiny model must learn in a few hundred steps, not 800 epochs of SSv2.
    # 8 frames at stride 2 cover the 16-frame synthetic clips.
    config_name="tiny", crop="random_resized", min_crop_scale=0.5, horizontal_flip=False,
    per_device_train_batch_size=16, gradient_accumulation_steps=1, base_learning_rate=2.4e-2,
    base_min_learning_rate=0.0, released_lr_schedule=False, warmup_epochs=0.25, num_train_epochs=2,
    weight_decay=0.05, decay_sampler_positions=False, adam_betas=(0.9, 0.95), max_grad_norm=0.0, seed=0,
    sampling_rate=2, checkpointing_steps="epoch",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------------------
# Fine-tuning (scripts/run_finetuning.py argument names: ModelArguments, DataTrainingArguments, TrainingArguments)
# ---------------------------------------------------------------------------------------------------------------
_RELEASED_FINETUNING: dict[str, Any] = dict(
    model_preset="base", drop_path_rate=0.1, layer_decay=0.75,  # vit_base_patch16_224, mean pooling
    rand_augment=True, rand_augment_num_ops=4, rand_augment_magnitude=7.0, rand_augment_magnitude_std=0.5,
    min_crop_scale=0.08, released_crop=True, random_erasing=0.25, random_erasing_fill="pixel",
    mixup=0.8, cutmix=1.0, mixup_prob=1.0, mixup_switch_prob=0.5, label_smoothing_factor=0.1,
    test_num_crops=3, test_resize_antialias=False, view_average="logits",
    per_device_train_batch_size=8, gradient_accumulation_steps=1,  # x 64 GPUs = 512 clips per step
    base_min_learning_rate=1e-6, warmup_epochs=5.0, released_lr_schedule=True,
    weight_decay=0.05, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, max_grad_norm=0.0,
    dataloader_drop_last=True, seed=0,
    num_sample=1,  # the released --num_sample 1: no repeated sampling (the released pre-training has no such option)
)  # fmt: skip

_SYNTHETIC_FINETUNING: dict[str, Any] = dict(
    # A tiny ViT on 2048 clips: its pre-training is minutes, not 800 epochs, so no layer decay and no drop path;
    # light augmentation only (RandAugment's rotations and shears change the motions, a small crop can miss the
    # moving object, mixing two motions in one clip is more than a short run can learn); no flip (the classes
    # include left / right motions).
    model_preset="tiny", drop_path_rate=0.0, layer_decay=1.0, temporal_sampling="stride", sampling_rate=2,
    horizontal_flip=False, rand_augment=False, min_crop_scale=0.8, random_erasing=0.0, mixup_prob=0.0,
    test_num_clips=1, test_num_crops=3, num_train_epochs=12.0, per_device_train_batch_size=16,
    per_device_eval_batch_size=16, learning_rate=5e-4, released_lr_schedule=False, save_strategy="no",
    dataloader_num_workers=2, output_dir="outputs/adamae-finetune-synthetic",
)  # fmt: skip

RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "adamae-ssv2": {
        "pretraining": {**_RELEASED_PRETRAINING, "sampling_rate": 2, "output_dir": "outputs/adamae-pretrain-ssv2"},
        "finetuning": {
            **_RELEASED_FINETUNING,
            "temporal_sampling": "segments",  # 16 segments, one frame each (TSN), train and test
            "horizontal_flip": False, "test_num_clips": 2, "base_learning_rate": 5e-4, "num_train_epochs": 50.0,
            "output_dir": "outputs/adamae-finetune-ssv2",
        },
    },
    "adamae-k400": {
        "pretraining": {**_RELEASED_PRETRAINING, "sampling_rate": 4, "output_dir": "outputs/adamae-pretrain-k400"},
        "finetuning": {
            **_RELEASED_FINETUNING,
            "temporal_sampling": "videomae", "sampling_rate": 4,  # 16 frames over a 64-frame window, test: stride 4
            "horizontal_flip": True, "test_num_clips": 5, "base_learning_rate": 1e-3, "num_train_epochs": 100.0,
            "output_dir": "outputs/adamae-finetune-k400",
        },
    },
    "synthetic-demo": {"pretraining": _SYNTHETIC_PRETRAINING, "finetuning": _SYNTHETIC_FINETUNING},
}  # fmt: skip
RECIPE_NAMES = tuple(RECIPES)
DEFAULT_RECIPE = "synthetic-demo"
# The processes each recipe's batch is meant for: the released scripts' 64 GPUs (8 nodes x 8, docs/recipes.md), the
# demo's one. With the per-process batch they give the total batch the base learning rates were set for.
RECIPE_NUM_PROCESSES = {"adamae-ssv2": 64, "adamae-k400": 64, "synthetic-demo": 1}

# The released multi-scale crop (datasets.py: GroupMultiScaleCrop(args.input_size, [1, .875, .75, .66])).
MULTISCALE_CROP_SCALES = (1.0, 0.875, 0.75, 0.66)

# A flag the user gives that replaces a recipe field of another name: `--learning_rate` (absolute) replaces the
# recipe's `base_learning_rate` (scaled by the batch); `--model_name_or_path` replaces `--config_name`; the
# fine-tuning `--warmup_steps` and the pre-training `--num_warmup_steps` replace `warmup_epochs`.
_REPLACES = {"learning_rate": "base_learning_rate", "model_name_or_path": "config_name", "warmup_steps": "warmup_epochs",
             "num_warmup_steps": "warmup_epochs"}  # fmt: skip


def _replaced_field(flag: str, overridden: dict[str, Any]) -> str | None:
    """The recipe field (a key of `overridden`) the command-line destination `flag` replaced, or `None`."""
    return flag if flag in overridden else _REPLACES[flag] if _REPLACES.get(flag) in overridden else None


class RecipeError(ValueError):
    """A recipe that cannot apply (unknown name, no recipe for a run on a dataset, a recipe field the script lacks)."""


def recipe_values(name: str, script: str) -> dict[str, Any]:
    """A copy of the named recipe's values for `script` (`"pretraining"` or `"finetuning"`).

    Raises:
        RecipeError: an unknown recipe or script name.
    """
    if name not in RECIPES:
        raise RecipeError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPE_NAMES)}")
    if script not in SCRIPTS:
        raise RecipeError(f"unknown script {script!r}; choose one of {', '.join(SCRIPTS)}")
    return dict(RECIPES[name][script])


_UNSET = object()


def recipe_total_batch_size(name: str, script: str) -> int:
    """The total batch (clips per optimiser step) of recipe `name` for `script` on its `RECIPE_NUM_PROCESSES`, e.g.
    2048 for the released pre-training (32 per GPU x 64 GPUs)."""
    values = recipe_values(name, script)
    return values["per_device_train_batch_size"] * values.get("gradient_accumulation_steps", 1) * RECIPE_NUM_PROCESSES[name]


def given_destinations(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, Any]:
    """The destinations (argument names) given explicitly in `argv`, with their parsed values.

    Every destination is pre-set to a sentinel in the namespace handed to the parser; `argparse` only fills in
    defaults for destinations the namespace lacks, so the ones still holding the sentinel afterwards were not given.
    This sees abbreviations, `--name=value`, store-true flags and `--no_<name>` switches alike."""
    namespace = argparse.Namespace(**{a.dest: _UNSET for a in parser._actions if a.dest != argparse.SUPPRESS})
    parsed, _ = parser.parse_known_args(list(argv), namespace=namespace)
    return {name: value for name, value in vars(parsed).items() if value is not _UNSET}


@dataclass
class RecipeResolution:
    """Where every recipe-controlled value of a run came from."""

    name: str
    script: str
    recipe: dict[str, Any]  # the recipe's own values
    from_recipe: dict[str, Any] = field(default_factory=dict)  # applied as defaults
    from_user: dict[str, Any] = field(default_factory=dict)  # every argument given on the command line
    overridden: dict[str, Any] = field(default_factory=dict)  # recipe value the user replaced, by recipe field

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: the recipe's name and, by field, the values from the recipe, from the command line, and the
        recipe values the command line replaced."""
        return {"name": self.name, "from_recipe": _jsonable(self.from_recipe), "from_user": _jsonable(self.from_user),
                "overridden": _jsonable(self.overridden)}  # fmt: skip


def recipe_log_lines(sources: dict[str, Any]) -> list[str]:
    """Log lines of a [`RecipeResolution.as_dict`]: a summary (the recipe, how many values it set, the names given on
    the command line, those that replaced a recipe value marked `*`; the scripts log it at INFO), then each value it
    set and each value given on the command line, with the recipe value it replaced (logged at DEBUG): `(recipe: 2)`,
    or with the field where the flag replaced one of another name, `(recipe: base_learning_rate = 0.0005)`."""
    overridden = sources["overridden"]
    given = ", ".join(f"{key}*" if _replaced_field(key, overridden) else key for key in sorted(sources["from_user"]))
    lines = [f"recipe {sources['name']!r}: {len(sources['from_recipe'])} values from the recipe, "
             f"{len(sources['from_user'])} given on the command line ({given or 'none'}; * replaced a recipe "
             "value; --log_level debug logs each value, --dry_run prints them all)"]  # fmt: skip
    lines += [f"  from the recipe: {k} = {v!r}" for k, v in sorted(sources["from_recipe"].items())]
    for key, value in sorted(sources["from_user"].items()):
        replaced = _replaced_field(key, overridden)
        note = "" if replaced is None else f" (recipe: {overridden[replaced]!r})" if replaced == key else \
            f" (recipe: {replaced} = {overridden[replaced]!r})"
        lines.append(f"  from the command line: {key} = {value!r}{note}")
    return lines


def resolve_recipe(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    script: str,
    data_arguments: Sequence[str],
) -> RecipeResolution:
    """Choose the run's recipe and install its values as `parser`'s defaults (call before parsing `argv`).

    The recipe is `--recipe` if given; without it, `synthetic-demo` when none of `data_arguments` is given, and
    otherwise an error that says how to choose: a run on a dataset never falls back to the demo's tiny model or to
    one dataset's settings without saying so. Flags given in `argv` keep their values; where one replaces a recipe
    field of another name (`--learning_rate` for `base_learning_rate`, `--model_name_or_path` for `config_name`)
    that recipe field is not applied.

    Raises:
        RecipeError: an unknown recipe, a dataset without `--recipe`, a released recipe without a dataset (unless
            `--dry_run` is given), or a recipe field `parser` does not define.
    """
    given = given_destinations(parser, argv)
    has_data = any(given.get(name) for name in data_arguments)
    name = given.get("recipe")
    if name is None:
        if has_data:
            raise RecipeError(
                "a run on your own data needs a recipe: --recipe adamae-ssv2 (the released SSv2 settings: no flip; "
                "pre-training at stride 2; fine-tuning on 16 segments, tested 2 x 3 views) or --recipe adamae-k400 "
                "(Kinetics-400: flip; stride 4; tested 5 x 3 views), both the paper's ViT-B, or --recipe "
                "synthetic-demo (the quick start's tiny model). Any flag you add overrides the recipe, e.g. "
                "--recipe adamae-k400 --config_name small. `--dry_run` prints what a recipe sets."
            )
        name = DEFAULT_RECIPE
    values = recipe_values(name, script)
    if name != DEFAULT_RECIPE and not has_data and not given.get("dry_run"):
        raise RecipeError(f"--recipe {name} is a recipe for a real dataset: give one ({', '.join('--' + d for d in data_arguments)})")
    known = {action.dest for action in parser._actions}
    missing = sorted(set(values) - known)
    if missing:
        raise RecipeError(f"recipe {name!r} sets {', '.join(missing)}, which this script does not define")
    resolution = RecipeResolution(name, script, values)
    for key, value in values.items():
        replaced_by = [flag for flag, target in _REPLACES.items() if target == key and given.get(flag) is not None]
        if key in given or replaced_by:
            resolution.overridden[key] = value
            continue
        resolution.from_recipe[key] = value
    parser.set_defaults(recipe=name, **resolution.from_recipe)
    resolution.from_user = {key: value for key, value in given.items() if key != "recipe"}
    return resolution


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(getattr(value, "value", value))  # enums (TrainingArguments' strategies) by their value


def dry_run_report(
    script: str,
    arguments: dict[str, Any],
    sources: dict[str, Any],
    derived: dict[str, Any],
    model_config: dict[str, Any] | None,
) -> str:
    """The JSON that `--dry_run` prints: the resolved arguments, where the recipe's values came from (`sources`, a
    [`RecipeResolution.as_dict`]), the values derived from them (total batch, learning rates), and the model config."""
    report = {
        "script": script,
        "recipe": sources,
        "arguments": _jsonable(arguments),
        "derived": _jsonable(derived),
        "model_config": _jsonable(model_config),
    }
    return json.dumps(report, indent=1, sort_keys=True)
