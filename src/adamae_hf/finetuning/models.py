"""Fine-tuning's model: [`build_model_for_finetuning`] builds an [`AdaMAEForVideoClassification`] from an AdaMAE
pre-training checkpoint (decoder and sampler dropped), a fine-tuned AdaMAE, a transformers VideoMAE checkpoint, or a
config (from scratch); [`checkpoint_label_names`] reads a classifier's class names."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..configuration_adamae import AdaMAEConfig
from ..conversion import quiet_load_report
from ..modeling_adamae import AdaMAEForVideoClassification
from ..training.errors import ArgumentError
from ..training.models import TRAINING_DTYPE, log_training_dtype, read_config_dict


__all__ = ["LoadedModel", "build_model_for_finetuning", "checkpoint_label_names", "is_named"]

logger = logging.getLogger(__name__)

# What an AdaMAE pre-training checkpoint holds that the classifier does not use, by key prefix.
_DROPPED_PARTS = {
    "decoder.": "decoder",
    "encoder_to_decoder.": "decoder",
    "mask_token": "decoder",
    "decoder_position_embeddings": "decoder",
    "token_sampler.": "adaptive token sampler",
    "adamae.layernorm.": "encoder final norm",
}


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """What [`build_model_for_finetuning`] built, and from what."""

    model: AdaMAEForVideoClassification
    source: str  # "adamae-pretraining", "adamae-classification", "videomae" or "scratch"
    dropped_keys: list[str]
    new_keys: list[str]


def _label_maps(label_names: Sequence[str]) -> dict[str, Any]:
    return {
        "num_labels": len(label_names),
        "id2label": {i: str(name) for i, name in enumerate(label_names)},
        "label2id": {str(name): i for i, name in enumerate(label_names)},
    }


def _check_num_labels(found: int | None, wanted: int, where: str, ignore_mismatched_sizes: bool, for_training: bool) -> None:
    if found is not None and found != wanted and not ignore_mismatched_sizes:
        if not for_training:
            raise ValueError(
                f"{where} classifies {found} classes but the dataset has {wanted}: a classifier can only be evaluated "
                f"on the classes it was trained on. Fine-tune it on this data first (--do_train)."
            )
        raise ValueError(
            f"{where} classifies {found} classes but the dataset has {wanted}. Pass --ignore_mismatched_sizes "
            f"(ignore_mismatched_sizes=True) to re-initialise the classification head for {wanted} classes."
        )


def checkpoint_label_names(model_name_or_path: str | os.PathLike | None, **hub_kwargs: Any) -> list[str] | None:
    """The class names of a video-classification checkpoint in the order of its outputs (`config.id2label`), or `None`
    where it is no classifier or its classes have no names (transformers' default `LABEL_<i>`). Evaluation and
    further fine-tuning map the data's classes to these by name, as transformers' `run_glue.py` example does with
    `model.config.label2id`, so that a dataset whose folders sort differently keeps the checkpoint's meaning. A
    checkpoint that cannot be read raises `adamae_hf.training.read_config_dict`'s [`ArgumentError`]."""
    if model_name_or_path is None:
        return None
    config_dict = read_config_dict(model_name_or_path, **hub_kwargs)
    architectures = config_dict.get("architectures") or []
    id2label = config_dict.get("id2label") or {}
    if not any(name.endswith("ForVideoClassification") for name in architectures) or not id2label:
        return None
    names = [str(id2label.get(str(i), id2label.get(i))) for i in range(len(id2label))]
    if names == [f"LABEL_{i}" for i in range(len(names))]:
        return None
    return names


def is_named(label_names: Sequence[str]) -> bool:
    """Whether `label_names` are real class names, not the ids `"0"`, `"1"`, ... that list files and integer label
    columns get (those map to a checkpoint's classes by position)."""
    return list(label_names) != [str(i) for i in range(len(label_names))]


def _summarise_dropped(keys: Sequence[str]) -> str:
    parts: dict[str, int] = {}
    for key in keys:
        part = next((name for prefix, name in _DROPPED_PARTS.items() if key.startswith(prefix)), "other")
        parts[part] = parts.get(part, 0) + 1
    return ", ".join(f"{name} ({count} tensors)" for name, count in sorted(parts.items()))


def _config_changes(config_dict: dict[str, Any], model_type: str | None, config_overrides: str | None) -> dict[str, Any]:
    """The fields `config_overrides` changes in the checkpoint's config (typed by `update_from_string`), logged."""
    if not config_overrides:
        return {}
    if model_type == "videomae":
        from transformers import VideoMAEConfig as config_class
    elif model_type == "adamae":
        config_class = AdaMAEConfig
    else:
        return {}  # the caller reports the unknown checkpoint type
    config = config_class.from_dict({k: v for k, v in config_dict.items() if k not in ("model_type", "transformers_version")})
    before = config.to_dict()
    try:
        config.update_from_string(config_overrides)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"--config_overrides {config_overrides!r}: {error}") from None
    changes = {key: value for key, value in config.to_dict().items() if before.get(key) != value}
    if changes:
        logger.warning(
            "--config_overrides changes the checkpoint's config: %s%s.",
            ", ".join(f"{key} {before.get(key)!r} -> {value!r}" for key, value in changes.items()),
            " (the fixed sinusoidal position table is rebuilt for the new token count)"
            if {"num_frames", "image_size", "patch_size", "tubelet_size"} & set(changes) else "",
        )  # fmt: skip
    return changes


@contextlib.contextmanager
def _overrides_must_fit(changes: dict[str, Any], path) -> Iterator[None]:
    """Turns a weight-shape error of `from_pretrained` under config overrides into an [`ArgumentError`] naming them."""
    try:
        yield
    except (RuntimeError, ValueError) as error:
        if not changes:
            raise
        raise ArgumentError(
            f"--config_overrides {changes} do not fit the weights of {str(path)!r} (a changed size needs matching "
            f"weights; --ignore_mismatched_sizes re-initialises them): {error}"
        ) from error


def build_model_for_finetuning(
    model_name_or_path: str | os.PathLike | None,
    label_names: Sequence[str],
    *,
    config: AdaMAEConfig | None = None,
    drop_path_rate: float = 0.1,
    ignore_mismatched_sizes: bool = False,
    config_overrides: str | None = None,
    for_training: bool = True,
    **hub_kwargs: Any,
) -> LoadedModel:
    """
    An [`AdaMAEForVideoClassification`] for `label_names`, from:

    - an AdaMAE **pre-training** checkpoint (`architectures=["AdaMAEForPreTraining"]`): the encoder is kept; the
      decoder, the adaptive token sampler and the encoder's final norm are dropped (logged); the head is built for
      mean pooling (`use_mean_pooling=True`: `fc_norm` + linear, freshly initialised), as the released fine-tuning;
    - a **fine-tuned** AdaMAE classifier: loaded as is; its head must have `len(label_names)` outputs unless
      `ignore_mismatched_sizes` (then the head is re-initialised);
    - a transformers **VideoMAE** checkpoint (pre-training or classification): converted with
      [`AdaMAEForVideoClassification.from_videomae`], mean pooling, same head rule as above;
    - `model_name_or_path=None`: a fresh model of `config` (training from scratch).

    `drop_path_rate` sets stochastic depth (0.1 in the released recipe). `config_overrides` (`"num_frames=16"`,
    the format of `PretrainedConfig.update_from_string`) changes the checkpoint's config before its weights are
    loaded, as `from_pretrained(..., num_frames=16)` does: the fixed sinusoidal position table is rebuilt for the
    new token count; a field that changes a weight's shape fails (unless `ignore_mismatched_sizes`). The weights are
    loaded in float32 whatever dtype the checkpoint stores (logged; mixed precision is autocast). `hub_kwargs`
    (`cache_dir`, `revision`, `token`) go to `from_pretrained`. `for_training=False` (evaluation only) refuses
    `ignore_mismatched_sizes`, which would evaluate a freshly initialised head.

    Raises:
        ValueError: a checkpoint that is neither AdaMAE nor VideoMAE (the message names its `model_type` and
            architectures), a class-count mismatch without `ignore_mismatched_sizes`, or (as [`ArgumentError`], a
            `ValueError`) `config_overrides` that name no config field, have the wrong type, or do not fit the
            checkpoint's weights, or a `model_name_or_path` that is no readable local model and no model id the Hub
            gives (`adamae_hf.training.read_config_dict`).
    """
    labels = _label_maps(label_names)
    if ignore_mismatched_sizes and not for_training:
        raise ArgumentError(
            "--ignore_mismatched_sizes re-initialises the classification head; without --do_train that head would be "
            "evaluated untrained. Evaluate on the checkpoint's classes, or fine-tune with --do_train."
        )
    if model_name_or_path is None:
        if config is None:
            raise ValueError("give model_name_or_path or a config to train from scratch")
        config = AdaMAEConfig.from_dict({**config.to_dict(), **labels, "use_mean_pooling": True, "drop_path_rate": drop_path_rate})
        return LoadedModel(AdaMAEForVideoClassification(config), "scratch", [], [])

    hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
    config_dict = read_config_dict(model_name_or_path, **hub_kwargs)
    model_type = config_dict.get("model_type")
    architectures = config_dict.get("architectures") or []
    old_num_labels = len(config_dict["id2label"]) if config_dict.get("id2label") else None
    is_classifier = any(name.endswith("ForVideoClassification") for name in architectures)

    changes = _config_changes(config_dict, model_type, config_overrides)
    if model_type in ("adamae", "videomae"):
        log_training_dtype(config_dict, str(model_name_or_path))
        hub_kwargs["dtype"] = TRAINING_DTYPE
    if model_type == "adamae":
        pretraining = not is_classifier
        if not pretraining:
            _check_num_labels(old_num_labels, labels["num_labels"], f"{model_name_or_path}", ignore_mismatched_sizes, for_training)
        overrides = {**changes, **labels, "drop_path_rate": drop_path_rate}
        if pretraining:
            overrides["use_mean_pooling"] = True
        with quiet_load_report(), _overrides_must_fit(changes, model_name_or_path):  # logged below, in one line
            model, info = AdaMAEForVideoClassification.from_pretrained(
                model_name_or_path, ignore_mismatched_sizes=ignore_mismatched_sizes, output_loading_info=True,
                **overrides, **hub_kwargs,
            )  # fmt: skip
        dropped, new = sorted(info["unexpected_keys"]), sorted(info["missing_keys"])
        new += [str(item[0]) if isinstance(item, tuple) else str(item) for item in info.get("mismatched_keys", [])]
        if pretraining:
            logger.info(
                "Loaded the encoder of the AdaMAE pre-training checkpoint %s; dropped %d tensors the classifier does "
                "not use: %s. Newly initialised: %s.",
                model_name_or_path, len(dropped), _summarise_dropped(dropped) or "none", ", ".join(new) or "none",
            )  # fmt: skip
        elif new:
            logger.warning("Re-initialised in %s: %s", model_name_or_path, ", ".join(new))
        return LoadedModel(model, "adamae-pretraining" if pretraining else "adamae-classification", dropped, new)

    if model_type == "videomae":
        from transformers import VideoMAEForVideoClassification

        if is_classifier:
            _check_num_labels(old_num_labels, labels["num_labels"], f"{model_name_or_path}", ignore_mismatched_sizes, for_training)
        with quiet_load_report(), _overrides_must_fit(changes, model_name_or_path):  # logged below, in one line
            videomae, info = VideoMAEForVideoClassification.from_pretrained(
                model_name_or_path, use_mean_pooling=True, ignore_mismatched_sizes=ignore_mismatched_sizes,
                output_loading_info=True, **{**changes, **labels}, **hub_kwargs,
            )  # fmt: skip
        model = AdaMAEForVideoClassification.from_videomae(videomae, drop_path_rate=drop_path_rate)
        dropped, new = sorted(info["unexpected_keys"]), sorted(info["missing_keys"])
        logger.info(
            "Converted the VideoMAE checkpoint %s (%s) to AdaMAE; dropped: %s; newly initialised: %s.",
            model_name_or_path, ", ".join(architectures) or "no architectures", ", ".join(dropped) or "none",
            ", ".join(new) or "none",
        )  # fmt: skip
        return LoadedModel(model, "videomae", dropped, new)

    raise ValueError(
        f"{str(model_name_or_path)!r} is a {model_type!r} checkpoint (architectures: {architectures or 'none'}); "
        "expected an AdaMAE checkpoint (pre-training or video classification, model_type 'adamae') or a "
        "VideoMAE one (model_type 'videomae')."
    )
