"""The pre-training model: its config from a preset, a config file or a checkpoint, with `--config_overrides` and the
dedicated flags applied; the model fresh, continued from an AdaMAE checkpoint or warm-started from a VideoMAE one."""

from __future__ import annotations

import argparse

from ..configuration_adamae import AdaMAEConfig
from ..presets import MODEL_PRESETS, preset_config
from .errors import ArgumentError


__all__ = ["apply_config_overrides", "build_config", "build_model", "checkpoint_model_type"]


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


def checkpoint_model_type(name_or_path: str) -> str | None:
    """The `model_type` of a model folder or Hub repository (`"adamae"`, `"videomae"`, ...)."""
    from transformers import PretrainedConfig

    config_dict, _ = PretrainedConfig.get_config_dict(name_or_path)
    return config_dict.get("model_type")


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
        config = AdaMAEConfig.from_pretrained(args.config_name)
    else:
        config = preset_config("tiny")
    return apply_config_overrides(config, args.config_overrides, args)


def build_model(args: argparse.Namespace, config: AdaMAEConfig):
    """`AdaMAEForPreTraining`: fresh, continued from an AdaMAE checkpoint, or warm-started from a VideoMAE one
    (`AdaMAEForPreTraining.from_videomae`, the sampler freshly initialised)."""
    from ..modeling_adamae import AdaMAEForPreTraining

    if not args.model_name_or_path:
        return AdaMAEForPreTraining(config)
    try:
        if checkpoint_model_type(args.model_name_or_path) == "videomae":
            overrides = {k: v for k, v in config.to_dict().items() if k not in ("transformers_version", "model_type")}
            return AdaMAEForPreTraining.from_videomae(args.model_name_or_path, **overrides)
        return AdaMAEForPreTraining.from_pretrained(args.model_name_or_path, config=config)
    except (RuntimeError, ValueError) as error:
        raise ArgumentError(
            f"cannot load {args.model_name_or_path!r} with the requested configuration "
            f"(changed sizes need matching weights): {error}"
        ) from None

