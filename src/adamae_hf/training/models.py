"""The pre-training model: its config from a preset, a config file or a checkpoint, with `--config_overrides` and the
dedicated flags applied; the model fresh, continued from an AdaMAE checkpoint or warm-started from a VideoMAE one."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

import torch

from ..configuration_adamae import AdaMAEConfig
from ..presets import MODEL_PRESETS, preset_config
from .errors import ArgumentError


__all__ = [
    "TRAINING_DTYPE",
    "apply_config_overrides",
    "build_config",
    "build_model",
    "checkpoint_model_type",
    "log_training_dtype",
    "read_config_dict",
]

logger = logging.getLogger(__name__)

# The dtype of the weights while training. As transformers' Trainer and Accelerate expect, the optimiser updates
# float32 master weights; `--bf16` / `--mixed_precision bf16` computes in bfloat16 under autocast. Weights stored in
# bfloat16 and trained as such round most small updates away (bfloat16 keeps 8 bits of mantissa).
TRAINING_DTYPE = torch.float32


def log_training_dtype(config: Any, name: str) -> None:
    """Say, where the checkpoint `name` (its config or config dict) stores its weights in another dtype than
    [`TRAINING_DTYPE`], that they are loaded in float32 for training."""
    stored = config.get("dtype") or config.get("torch_dtype") if isinstance(config, dict) else getattr(config, "dtype", None)
    stored = str(stored).removeprefix("torch.") if stored is not None else None
    if stored not in (None, "float32", "auto"):
        logger.warning(
            "%s stores its weights in %s: they are loaded in float32 for training (the optimiser's master weights; "
            "--bf16 / --mixed_precision bf16 computes in bfloat16 under autocast).", name, stored,
        )  # fmt: skip


def apply_config_overrides(config: AdaMAEConfig, overrides: str | None, args: argparse.Namespace | None = None) -> AdaMAEConfig:
    """
    `config` updated with `--config_overrides` (`"hidden_size=384,num_hidden_layers=6"`, the syntax of
    `PretrainedConfig.update_from_string`, see [`AdaMAEConfig.update_from_string`]) and then the dedicated flags
    (`--mask_type`, `--mask_ratio`, `--num_frames`, `--image_size`), which win; validated.

    Raises:
        ArgumentError: an unknown key, a value of the wrong type or an invalid config, naming the key.
    """
    flags = [
        f"{name}={getattr(args, name)}"
        for name in ("mask_type", "mask_ratio", "num_frames", "image_size")
        if args is not None and getattr(args, name, None) is not None
    ]
    for where, update in (("--config_overrides", overrides), ("the model configuration", ",".join(flags))):
        if update:
            try:
                config.update_from_string(update)
            except ValueError as error:
                raise ArgumentError(f"{where}: {error}") from None
    return config


def read_config_dict(name_or_path: str | os.PathLike, option: str = "--model_name_or_path", **hub_kwargs: Any) -> dict[str, Any]:
    """
    The config dict of a model folder, a config file or a Hub model id (`PretrainedConfig.get_config_dict`;
    `hub_kwargs` such as `cache_dir`, `revision`, `token` pass on where not `None`).

    Raises:
        ArgumentError: naming `option`, in one line: a folder without `config.json`; a name that is no local folder or
            file (relative to the current directory) and no model id the Hub (offline: the local cache) gives, with
            huggingface_hub's reason (no such repository, no network, a gated or private repository, ...).
    """
    from huggingface_hub import is_offline_mode
    from transformers import CONFIG_NAME, PretrainedConfig

    name = str(name_or_path)
    if os.path.isdir(name) and not os.path.isfile(os.path.join(name, CONFIG_NAME)):
        raise ArgumentError(f"{option} {name!r}: the folder has no {CONFIG_NAME} (a saved model folder holds "
                            f"{CONFIG_NAME} and the weights, as save_pretrained writes them)")  # fmt: skip
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(name, **{k: v for k, v in hub_kwargs.items() if v is not None})
    except OSError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if os.path.exists(name):
            raise ArgumentError(f"{option} {name!r}: cannot read its config: {reason}") from None
        hub = "in the local Hugging Face cache (offline: HF_HUB_OFFLINE is set)" if is_offline_mode() else "the Hugging Face Hub gives"
        raise ArgumentError(
            f"{option} {name!r}: no local folder or file of that name exists (relative to {os.getcwd()}), and it is "
            f"not a model id {hub} ({reason})"
        ) from None
    return config_dict


def checkpoint_model_type(name_or_path: str, option: str = "--model_name_or_path") -> str | None:
    """The `model_type` of a model folder or Hub repository (`"adamae"`, `"videomae"`, ...); [`read_config_dict`]'s
    [`ArgumentError`] where it cannot be read."""
    return read_config_dict(name_or_path, option).get("model_type")


def build_config(args: argparse.Namespace) -> AdaMAEConfig:
    """The model config: `--config_name` (preset or config path), the config of `--model_name_or_path`, or
    `preset_config("tiny")`; then `--config_overrides` and the dedicated flags. Raises [`ArgumentError`]."""
    if args.model_name_or_path:
        model_type = checkpoint_model_type(args.model_name_or_path)
        if model_type == "videomae":
            from transformers import VideoMAEConfig

            from ..conversion import videomae_config_to_adamae

            config = videomae_config_to_adamae(VideoMAEConfig.from_pretrained(args.model_name_or_path))
        elif model_type == "adamae":
            config = AdaMAEConfig.from_pretrained(args.model_name_or_path)
        else:
            raise ArgumentError(
                f"--model_name_or_path {args.model_name_or_path!r} is a {model_type!r} model; expected an AdaMAE or a "
                "VideoMAE checkpoint"
            )
    elif args.config_name in MODEL_PRESETS:
        config = preset_config(args.config_name)
    elif args.config_name:
        read_config_dict(args.config_name, "--config_name")  # a missing or unreadable one: one line naming it
        config = AdaMAEConfig.from_pretrained(args.config_name)
    else:
        config = preset_config("tiny")
    return apply_config_overrides(config, args.config_overrides, args)


def build_model(args: argparse.Namespace, config: AdaMAEConfig):
    """`AdaMAEForPreTraining`: fresh, continued from an AdaMAE checkpoint, or warm-started from a VideoMAE one
    (`AdaMAEForPreTraining.from_videomae`, the sampler freshly initialised); weights in [`TRAINING_DTYPE`] whatever
    dtype the checkpoint stores (logged)."""
    from ..modeling_adamae import AdaMAEForPreTraining

    if not args.model_name_or_path:
        return AdaMAEForPreTraining(config)
    log_training_dtype(config, args.model_name_or_path)
    config.dtype = TRAINING_DTYPE  # what the saved model will say
    try:
        if checkpoint_model_type(args.model_name_or_path) == "videomae":
            overrides = {k: v for k, v in config.to_dict().items() if k not in ("transformers_version", "model_type")}
            return AdaMAEForPreTraining.from_videomae(args.model_name_or_path, **overrides).to(TRAINING_DTYPE)
        return AdaMAEForPreTraining.from_pretrained(args.model_name_or_path, config=config, dtype=TRAINING_DTYPE)
    except (RuntimeError, ValueError) as error:
        raise ArgumentError(
            f"cannot load {args.model_name_or_path!r} with the requested configuration "
            f"(changed sizes need matching weights): {error}"
        ) from None

