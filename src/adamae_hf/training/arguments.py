"""The training scripts' arguments: the options both scripts share (one name, type, choices and help each), the
help formatter that prints each default once, the help of recipe arguments (the recipes themselves are
`adamae_hf.recipes`), and the checks that refuse an argument that cannot work before any training starts."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from transformers.hf_argparser import string_to_bool

from ..configuration_adamae import MASK_TYPES
from ..presets import MODEL_PRESETS
from ..recipes import RECIPE_NAMES, RECIPES
from .errors import ArgumentError


__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "NONFINITE_LOSS_POLICIES",
    "PRETRAINING_DATA_ARGUMENTS",
    "SHARED_OPTIONS",
    "HelpFormatter",
    "add_shared_option",
    "parse_checkpointing_steps",
    "recipe_help",
    "shared_field",
    "uses_synthetic_data",
    "validate_args",
]

DEFAULT_OUTPUT_DIR = "outputs/adamae-pretrain-synthetic"

# What a NaN / inf training loss does: "stop" raises `NonFiniteLossError` naming the step; "skip" drops that batch's
# gradients (nothing of it reaches the weights) and trains on.
NONFINITE_LOSS_POLICIES = ("stop", "skip")

# The options of both `scripts/run_pretraining.py` (argparse) and `scripts/run_finetuning.py` (`HfArgumentParser`
# dataclasses): keyword arguments of `ArgumentParser.add_argument` less the default, which each script sets.
SHARED_OPTIONS: dict[str, dict[str, Any]] = {
    "dataset_name": dict(help="a `datasets` Hub dataset id or a local dataset / videofolder folder"),
    "dataset_config_name": dict(help="the configuration of --dataset_name"),
    "train_dir": dict(help="a local video folder: <dir>[/train]/<class>/<video> (pre-training also reads a flat <dir>/<video>)"),
    "train_list": dict(help="a VideoMAE list file: '<path> <label>' per line (SSv2, K400; pre-training also reads bare paths)"),
    "data_root": dict(help="the folder that list-file paths are relative to (default: the list file's folder)"),
    "train_split_name": dict(help="the training split of --dataset_name"),
    "video_column_name": dict(help="the column of the videos (--dataset_name)"),
    "streaming": dict(action="store_true", help="stream --dataset_name; a stream has no length, so give the number of "
                      "optimiser steps (run_pretraining.py: --max_train_steps, run_finetuning.py: --max_steps)"),
    "shuffle_buffer_size": dict(type=int, help="--streaming: training examples shuffled in a buffer of this many "
                                "(datasets' IterableDataset.shuffle, re-seeded every epoch with seed + epoch; its "
                                "shard order is shuffled too); 0 reads the stream in order"),
    "on_bad_video": dict(choices=("raise", "skip"),
                         help="an unreadable video stops the run, or is skipped with a warning"),  # fmt: skip
    "min_crop_scale": dict(type=float, help="the smallest area fraction of the random resized crop"),
    "num_sample": dict(type=int, help="repeated sampling: clips made from each video read, each augmented on its own; "
                       "the batch size still counts clips, and an epoch (every video read once) has num_sample times "
                       "the clips and steps"),
    "horizontal_flip": dict(
        type=string_to_bool, nargs="?", const=True, metavar="BOOL",
        help="random horizontal flips; `--horizontal_flip` alone is `--horizontal_flip true`. Off for SSv2-like "
        "data and the synthetic dataset, whose classes include left / right motions",
    ),
    "recipe": dict(
        choices=RECIPE_NAMES,
        help="the settings of a named recipe (docs/recipes.md): adamae-ssv2 / adamae-k400, the released scripts for "
        "that dataset; synthetic-demo, the quick start (the default without a dataset). A flag you give wins. A run "
        "on a dataset must name one",
    ),
    "dry_run": dict(
        action="store_true",
        help="print the resolved arguments (and where each came from), the derived learning rates and the model "
        "config as JSON, then exit, without reading data or building weights",
    ),
    "base_min_learning_rate": dict(
        type=float, help="the floor of the released cosine schedule, x total batch / 256 as the learning rate"
    ),
    "resume_from_checkpoint": dict(
        nargs="?", const="latest", metavar="CHECKPOINT",
        help="continue a run from a checkpoint folder, or from 'latest', the newest checkpoint in --output_dir "
        "(`--resume_from_checkpoint` alone is `--resume_from_checkpoint latest`; none there yet: a fresh start)",
    ),
    "on_nonfinite_loss": dict(
        choices=NONFINITE_LOSS_POLICIES,
        help="a NaN/inf training loss stops the run naming the step, or its batch is skipped (its gradients dropped)",
    ),
}  # fmt: skip


def add_shared_option(parser, name: str, default: Any = None, help_suffix: str = "") -> argparse.Action:
    """`parser.add_argument("--<name>", ...)` with the shared definition of `name` and this script's default."""
    spec = dict(SHARED_OPTIONS[name])
    spec["help"] += help_suffix
    return parser.add_argument(f"--{name}", default=default, **spec)


def shared_field(name: str, default: Any, help_suffix: str = ""):
    """A `dataclasses.field` for an `HfArgumentParser` dataclass with the shared help and choices of `name`."""
    from dataclasses import field

    # HfArgumentParser passes the metadata to `add_argument`; it sets the type (and a flag's action) itself
    metadata = {key: value for key, value in SHARED_OPTIONS[name].items() if key not in ("type", "action")}
    metadata["help"] += help_suffix
    return field(default=default, metadata=metadata)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, except that an option whose help already speaks of its default, or whose
    default is `None`, gets no second "(default: ...)"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if action.default is None or "default" in help_text.lower():
            return help_text
        return super()._get_help_string(action)


# The arguments that name a pre-training dataset (none: the embedded synthetic dataset).
PRETRAINING_DATA_ARGUMENTS = ("dataset_name", "train_dir", "train_list")


def recipe_help(name: str, text: str = "", script: str = "pretraining") -> str:
    """The help of a recipe argument: `text`, then its value in each recipe (`adamae_hf.recipes.RECIPES`)."""
    values = ", ".join(f"{RECIPES[recipe][script].get(name)} ({recipe})" for recipe in RECIPE_NAMES)
    return f"{text} (default: {values})" if text else f"default: {values}"


def uses_synthetic_data(args: argparse.Namespace) -> bool:
    return not any(getattr(args, name) for name in PRETRAINING_DATA_ARGUMENTS)


def _positive(args, names: Sequence[str], allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            raise ArgumentError(f"--{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def validate_args(args: argparse.Namespace) -> None:
    """Raise [`ArgumentError`] with a message naming the argument for anything that cannot work."""
    sources = [name for name in ("dataset_name", "train_dir", "train_list") if getattr(args, name)]
    if len(sources) > 1:
        raise ArgumentError(f"give at most one data source, got {', '.join('--' + s for s in sources)}")
    for name, kind in (("train_dir", "dir"), ("train_list", "file"), ("data_root", "dir")):
        path = getattr(args, name, None)
        if path and not (os.path.isdir(path) if kind == "dir" else os.path.isfile(path)):
            raise ArgumentError(f"--{name} {path!r} does not exist or is not a {'folder' if kind == 'dir' else 'file'}")
    if args.streaming and not args.dataset_name:
        raise ArgumentError("--streaming applies to --dataset_name sources only")
    if args.shuffle_buffer_size < 0:
        raise ArgumentError(f"--shuffle_buffer_size must be >= 0, got {args.shuffle_buffer_size}")
    if args.streaming and args.max_train_steps is None:
        raise ArgumentError("a --streaming dataset has no length: give --max_train_steps")
    if getattr(args, "in_memory_videos", None) and args.streaming:
        raise ArgumentError("--in_memory_videos needs a dataset with a length, not a --streaming one")
    if args.mask_ratio is not None and not 0.0 < args.mask_ratio < 1.0:
        raise ArgumentError(f"--mask_ratio must lie strictly between 0 and 1, got {args.mask_ratio}")
    if args.mask_type is not None and args.mask_type not in MASK_TYPES:
        raise ArgumentError(f"--mask_type must be one of {', '.join(MASK_TYPES)}, got {args.mask_type!r}")
    _positive(
        args,
        ("per_device_train_batch_size", "gradient_accumulation_steps", "base_learning_rate", "num_train_epochs",
         "max_train_steps", "num_frames", "sampling_rate", "image_size", "visualize_every", "checkpoints_total_limit",
         "num_sample", "in_memory_videos"),
    )  # fmt: skip
    if args.per_device_train_batch_size is not None and args.per_device_train_batch_size % args.num_sample:
        raise ArgumentError(f"--per_device_train_batch_size ({args.per_device_train_batch_size}) must be a multiple of "
                            f"--num_sample ({args.num_sample}): each video read gives num_sample clips of the batch")  # fmt: skip
    if getattr(args, "augment_on_device", False) and getattr(args, "crop", None) == "multiscale":
        raise ArgumentError("--augment_on_device has the random resized crop only: give --crop random_resized, or "
                            "leave out --augment_on_device for the multi-scale crop (the released recipes' crop)")  # fmt: skip
    _positive(args, ("weight_decay", "warmup_epochs", "num_warmup_steps", "max_grad_norm", "dataloader_num_workers",
                     "base_min_learning_rate"), True)  # fmt: skip
    if args.released_lr_schedule and args.base_min_learning_rate > args.base_learning_rate:
        raise ArgumentError(
            f"--base_min_learning_rate {args.base_min_learning_rate} is above --base_learning_rate "
            f"{args.base_learning_rate}: the cosine would rise"
        )
    if not 0.0 < args.min_crop_scale <= 1.0:
        raise ArgumentError(f"--min_crop_scale must lie in (0, 1], got {args.min_crop_scale}")
    for index, beta in enumerate(args.adam_betas, 1):
        if not 0.0 <= beta < 1.0:
            raise ArgumentError(f"--adam_betas: beta{index} must lie in [0, 1), got {beta}")
    parse_checkpointing_steps(args.checkpointing_steps)
    if args.model_name_or_path and args.config_name:
        raise ArgumentError("give --model_name_or_path or --config_name, not both")
    if args.model_name_or_path and _looks_local(args.model_name_or_path) and not os.path.isdir(args.model_name_or_path):
        raise ArgumentError(f"--model_name_or_path {args.model_name_or_path!r} does not exist")
    if (
        args.config_name
        and args.config_name not in MODEL_PRESETS
        and _looks_local(args.config_name)
        and not os.path.exists(args.config_name)
    ):
        raise ArgumentError(
            f"--config_name {args.config_name!r} is neither a preset ({', '.join(MODEL_PRESETS)}) nor an existing path"
        )
    if args.resume_from_checkpoint not in (None, "latest") and not os.path.isdir(args.resume_from_checkpoint):
        raise ArgumentError(f"--resume_from_checkpoint {args.resume_from_checkpoint!r} is not a folder")
    if args.push_to_hub and not args.hub_model_id:
        raise ArgumentError("--push_to_hub needs --hub_model_id <user or org>/<name>")


def _looks_local(name: str) -> bool:
    """A path rather than a Hub id (`org/name`)."""
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") != 1 or os.path.exists(name)


def parse_checkpointing_steps(value: str | int | None) -> int | str | None:
    """`None`, `"epoch"` or a positive number of optimiser steps."""
    if value is None or value == "epoch":
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    if isinstance(value, int) and value > 0:
        return value
    raise ArgumentError(f"--checkpointing_steps must be 'epoch' or a positive integer, got {value!r}")

