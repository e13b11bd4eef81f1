# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""Convert the authors' released AdaMAE checkpoints (and original VideoMAE ones) to this package's format.

The released checkpoints (github.com/wgcban/adamae) are torch pickles holding `{"model": state_dict}` (or
`"module"`, or a bare state dict) in the layout of the original VideoMAE code plus AdaMAE's sampler keys
(`encoder.pos_embed_probs`, `encoder.get_token_probs.*`). This module

- detects the kind (pre-training / fine-tuned, with or without sampler) from the keys,
- infers an [`AdaMAEConfig`] from tensor shapes (what shapes cannot tell comes from arguments),
- renames every key through one table of regexes ([`KEY_MAPPING`]); keys matched by [`UNNEEDED_KEYS`] (the fixed
  sin-cos tables) are checked and skipped, anything else is an error listing the keys,
- loads the result strictly and verifies it with a forward pass.

Original VideoMAE checkpoints have no sampler: they become AdaMAE models with `mask_type="tube"` and
`mask_ratio=0.9` (VideoMAE's own setting) unless told otherwise.

It also holds the warm start from transformers' VideoMAE models ([`load_videomae_weights`], behind
`AdaMAEForPreTraining.from_videomae` and `AdaMAEForVideoClassification.from_videomae`), whose keys are renamed by the
same function through a second table ([`VIDEOMAE_KEY_MAPPING`]).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .configuration_adamae import AdaMAEConfig
from .data.processor import save_processor
from .modeling_adamae import AdaMAEForPreTraining, AdaMAEForVideoClassification, get_sinusoid_encoding_table


logger = logging.getLogger(__name__)

# Original key -> our key. Ordered: the first matching pattern wins. Block internals keep their names except
# `attn` -> `attention` (`qkv.weight`, `q_bias`, `v_bias`, `proj.*`, `norm1/2.*`, `mlp.fc1/2.*`).
KEY_MAPPING: list[tuple[str, str]] = [
    # pre-training encoder
    (r"^encoder\.patch_embed\.proj\.(weight|bias)$", r"adamae.embeddings.patch_embeddings.projection.\1"),
    (r"^encoder\.blocks\.(\d+)\.attn\.", r"adamae.encoder.layer.\1.attention."),
    (r"^encoder\.blocks\.(\d+)\.", r"adamae.encoder.layer.\1."),
    (r"^encoder\.norm\.(weight|bias)$", r"adamae.layernorm.\1"),
    # adaptive token sampler: nn.Sequential(Block, ..., Linear(d, 1), Flatten)
    (r"^encoder\.pos_embed_probs$", r"token_sampler.position_embeddings"),
    (r"^encoder\.get_token_probs\.(\d+)\.attn\.", r"token_sampler.layers.\1.attention."),
    (r"^encoder\.get_token_probs\.(\d+)\.(norm1|norm2|mlp)\.", r"token_sampler.layers.\1.\2."),
    (r"^encoder\.get_token_probs\.\d+\.(weight|bias)$", r"token_sampler.head.\1"),
    # decoder
    (r"^encoder_to_decoder\.weight$", r"encoder_to_decoder.weight"),
    (r"^mask_token$", r"mask_token"),
    (r"^decoder\.blocks\.(\d+)\.attn\.", r"decoder.layers.\1.attention."),
    (r"^decoder\.blocks\.(\d+)\.", r"decoder.layers.\1."),
    (r"^decoder\.(norm|head)\.(weight|bias)$", r"decoder.\1.\2"),
    # fine-tuned (classification) checkpoints
    (r"^patch_embed\.proj\.(weight|bias)$", r"adamae.embeddings.patch_embeddings.projection.\1"),
    (r"^blocks\.(\d+)\.attn\.", r"adamae.encoder.layer.\1.attention."),
    (r"^blocks\.(\d+)\.", r"adamae.encoder.layer.\1."),
    (r"^norm\.(weight|bias)$", r"adamae.layernorm.\1"),  # use_mean_pooling=False checkpoints only
    (r"^fc_norm\.(weight|bias)$", r"fc_norm.\1"),
    (r"^head\.(weight|bias)$", r"classifier.\1"),
]

# Keys known to be unneeded: the fixed sin-cos position tables (ours are computed; see `check_sincos_table`).
UNNEEDED_KEYS: list[str] = [r"^pos_embed$", r"^encoder\.pos_embed$", r"^decoder\.pos_embed$"]

CHECKPOINT_CONTAINER_KEYS = ("model", "module", "state_dict")


class ConversionError(ValueError):
    """A checkpoint does not fit the released layouts (unknown, missing or mis-shaped keys)."""


@dataclass
class ConversionResult:
    """What [`convert_checkpoint`] produced: the model, its kind, the keys skipped as known-unneeded and the config
    values it assumed."""

    model: AdaMAEForPreTraining | AdaMAEForVideoClassification
    kind: str
    skipped_keys: list[str] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)
    # config values that neither the checkpoint nor the caller gave (the released models' heads, sizes, masking),
    # as used; those read from the weights (name -> tensor or rule); those the caller gave
    assumed: dict[str, Any] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def load_original_state_dict(
    checkpoint_path: str | os.PathLike, checkpoint_key: str | None = None, allow_unsafe_pickle: bool = True
) -> dict[str, torch.Tensor]:
    """
    Read a released checkpoint and return its model state dict.

    Tries `torch.load(weights_only=True)` first. The authors' files also pickle their argparse `Namespace`, which the
    safe loader refuses; then, if `allow_unsafe_pickle`, it falls back to `weights_only=False` with a warning (only
    do this for files you trust), otherwise it raises.

    Args:
        checkpoint_path: the `.pth` file.
        checkpoint_key: the entry holding the state dict; by default the first of `model`, `module`, `state_dict`,
            or the whole object if it is a bare state dict.
        allow_unsafe_pickle: whether to fall back to full unpickling.
    """
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not allow_unsafe_pickle:
            raise ConversionError(
                f"{checkpoint_path} cannot be loaded with torch.load(weights_only=True): {error}. "
                "Allow the unsafe fallback only for checkpoints you trust."
            ) from error
        logger.warning(
            "torch.load(weights_only=True) refused %s (%s); falling back to weights_only=False. "
            "Only do this for checkpoints you trust (e.g. downloaded from the authors' release).",
            checkpoint_path, str(error).splitlines()[0],
        )  # fmt: skip
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    return extract_state_dict(checkpoint, checkpoint_key)


def extract_state_dict(checkpoint: Any, checkpoint_key: str | None = None) -> dict[str, torch.Tensor]:
    """The model state dict inside a loaded checkpoint object (see [`load_original_state_dict`])."""
    if not isinstance(checkpoint, dict):
        raise ConversionError(f"Expected a dict checkpoint, got {type(checkpoint).__name__}.")
    if checkpoint_key is not None:
        if checkpoint_key not in checkpoint:
            raise ConversionError(f"Checkpoint has no entry {checkpoint_key!r}; entries: {sorted(checkpoint)}.")
        state_dict = checkpoint[checkpoint_key]
    else:
        state_dict = next((checkpoint[k] for k in CHECKPOINT_CONTAINER_KEYS if isinstance(checkpoint.get(k), dict)), checkpoint)
    non_tensors = sorted(k for k, v in state_dict.items() if not isinstance(v, torch.Tensor))
    if non_tensors:
        raise ConversionError(
            f"The state dict holds non-tensor entries {non_tensors[:10]}; pass checkpoint_key to pick the model's "
            f"entry (top-level entries: {sorted(checkpoint)})."
        )
    # A checkpoint saved from a DistributedDataParallel wrapper: strip its uniform `module.` prefix.
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


# ---------------------------------------------------------------------------------------------------------------
# Kind and config inference
# ---------------------------------------------------------------------------------------------------------------
def detect_checkpoint_kind(state_dict: dict[str, torch.Tensor]) -> str:
    """`"adamae-pretraining"`, `"videomae-pretraining"` (no sampler) or `"finetuned"`, from the keys."""
    if "encoder.patch_embed.proj.weight" in state_dict:
        return "adamae-pretraining" if "encoder.pos_embed_probs" in state_dict else "videomae-pretraining"
    if "patch_embed.proj.weight" in state_dict:
        return "finetuned"
    raise ConversionError(
        "Unrecognised checkpoint: found neither `encoder.patch_embed.proj.weight` (pre-training) nor "
        f"`patch_embed.proj.weight` (fine-tuned). First keys: {sorted(state_dict)[:10]}."
    )


def _count_blocks(state_dict: dict[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)\.")
    indices = {int(m.group(1)) for k in state_dict if (m := pattern.match(k))}
    if indices and indices != set(range(len(indices))):
        raise ConversionError(f"Non-contiguous block indices under {prefix!r}: {sorted(indices)}.")
    return len(indices)


# Attention heads of the released ViT widths, encoders and decoders (VideoMAE / AdaMAE model zoo: ViT-S 384 / 6 with a
# 192 / 3 decoder, ViT-B 768 / 12 with 384 / 6, ViT-L 1024 / 16 with 512 / 8, ViT-H 1280 / 16 with 640 / 8). Shapes do
# not tell the number of heads; any other width must be given.
RELEASED_HEADS = {192: 3, 384: 6, 512: 8, 640: 8, 768: 12, 1024: 16, 1280: 16}
# The released sampler's heads (`get_token_probs` Block, num_heads=8).
RELEASED_SAMPLER_HEADS = 8


# The released models' input: 16 frames of 224 x 224 (VideoMAE / AdaMAE pre-training and fine-tuning scripts).
RELEASED_IMAGE_SIZE, RELEASED_NUM_FRAMES = 224, 16


@dataclass
class ConfigReport:
    """Where each value of an inferred config came from: `read` from the weights (with the tensor or rule),
    `assumed` (not in the weights, not given: the released models' value), `given` by the caller."""

    read: dict[str, str] = field(default_factory=dict)
    assumed: dict[str, Any] = field(default_factory=dict)
    given: dict[str, Any] = field(default_factory=dict)


def _size_candidates(num_tokens: int, patch_size: int, tubelet_size: int) -> list[tuple[int, int]]:
    """Every `(image_size, num_frames)` whose token count is `num_tokens`: `(S / p)^2 * T / t = N`."""
    found = []
    for grid in range(1, math.isqrt(num_tokens) + 1):
        if num_tokens % (grid * grid) == 0:
            found.append((grid * patch_size, num_tokens // (grid * grid) * tubelet_size))
    return found


def infer_config_report(
    state_dict: dict[str, torch.Tensor],
    *,
    image_size: int | None = None,
    num_frames: int | None = None,
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
    sampler_num_attention_heads: int | None = None,
    mask_type: str | None = None,
    mask_ratio: float | None = None,
    id2label: dict[int, str] | None = None,
    **config_overrides,
) -> tuple[AdaMAEConfig, ConfigReport]:
    """
    [`infer_config`] and the [`ConfigReport`] of where each value came from.

    Raises:
        ConversionError: one error listing every value that is neither in the weights nor given and has no released
            default (attention heads of a width the released models do not have; image size and frames where the
            token count fits several and none is the released 224 px x 16 frames), and every given value the weights
            contradict, each with its flag.
    """
    kind = detect_checkpoint_kind(state_dict)
    prefix = "" if kind == "finetuned" else "encoder."
    conv = state_dict[f"{prefix}patch_embed.proj.weight"]
    if conv.ndim != 5 or conv.shape[-1] != conv.shape[-2]:
        raise ConversionError(f"{prefix}patch_embed.proj.weight must be a Conv3d kernel (d, C, t, p, p), got {tuple(conv.shape)}.")
    hidden_size, num_channels, tubelet_size, patch_size, _ = conv.shape
    report, problems = ConfigReport(), []
    given = dict(image_size=image_size, num_frames=num_frames, num_attention_heads=num_attention_heads,
                 decoder_num_attention_heads=decoder_num_attention_heads, mask_type=mask_type, mask_ratio=mask_ratio,
                 sampler_num_attention_heads=sampler_num_attention_heads)  # fmt: skip
    report.given = {name: value for name, value in given.items() if value is not None}
    kwargs: dict[str, Any] = {
        "hidden_size": hidden_size,
        "num_channels": num_channels,
        "tubelet_size": tubelet_size,
        "patch_size": patch_size,
        "num_hidden_layers": _count_blocks(state_dict, f"{prefix}blocks."),
        "intermediate_size": state_dict[f"{prefix}blocks.0.mlp.fc1.weight"].shape[0],
        "qkv_bias": f"{prefix}blocks.0.attn.q_bias" in state_dict,
    }
    report.read.update({name: f"{prefix}patch_embed.proj.weight {tuple(conv.shape)}" for name in
                        ("hidden_size", "num_channels", "tubelet_size", "patch_size")})  # fmt: skip
    report.read["num_hidden_layers"] = f"{prefix}blocks.*"
    report.read["intermediate_size"] = f"{prefix}blocks.0.mlp.fc1.weight"
    report.read["qkv_bias"] = f"{prefix}blocks.0.attn.q_bias {'present' if kwargs['qkv_bias'] else 'absent'}"

    def heads(name: str, width: int, released: dict[int, int] | int, value: int | None) -> int | None:
        if value is not None:
            return value
        default = released if isinstance(released, int) else released.get(width)
        if width not in RELEASED_HEADS or default is None:
            problems.append(f"--{name}: the weights do not tell the number of heads, and width {width} is none of "
                            f"the released widths ({', '.join(map(str, RELEASED_HEADS))})")  # fmt: skip
            return None
        report.assumed[name] = default
        logger.warning("Assumed %s=%d for width %d (the released models' layout); pass --%s if this checkpoint differs.",
                       name, default, width, name)  # fmt: skip
        return default

    kwargs["num_attention_heads"] = heads("num_attention_heads", hidden_size, RELEASED_HEADS, num_attention_heads)

    # Tokens -> image size and frames: one of them given, the other follows; neither: the released 224 px x 16
    # frames where they fit, else the candidates are listed.
    table = next((key for key in ("encoder.pos_embed_probs", "encoder.pos_embed", "pos_embed") if key in state_dict), None)
    if table is None:  # no table stored (fixed sin-cos): the tokens do not tell
        for name, value, default in (("image_size", image_size, RELEASED_IMAGE_SIZE), ("num_frames", num_frames, RELEASED_NUM_FRAMES)):
            kwargs[name] = value if value is not None else report.assumed.setdefault(name, default)
    else:
        num_tokens = state_dict[table].shape[1]
        candidates = _size_candidates(num_tokens, patch_size, tubelet_size)
        fitting = [(s, t) for s, t in candidates if (image_size in (None, s)) and (num_frames in (None, t))]
        listed = ", ".join(f"{s} px x {t} frames" for s, t in candidates[::-1][:8])
        where = f"{table} has {num_tokens} tokens, which fit {listed}"
        if not fitting:
            asked = " and ".join(f"{k}={v}" for k, v in (("image_size", image_size), ("num_frames", num_frames)) if v)
            problems.append(f"{asked} contradicts the weights: {where}")
        elif image_size is None and num_frames is None:
            if (RELEASED_IMAGE_SIZE, RELEASED_NUM_FRAMES) in fitting:
                kwargs["image_size"], kwargs["num_frames"] = RELEASED_IMAGE_SIZE, RELEASED_NUM_FRAMES
                report.assumed["image_size"] = RELEASED_IMAGE_SIZE
                report.read["num_frames"] = f"{num_tokens} tokens of {table} at the assumed image size"
                if len(fitting) > 1:
                    logger.info("%s; assumed the released %d px x %d frames (pass --image_size or --num_frames "
                                "for another).", where, RELEASED_IMAGE_SIZE, RELEASED_NUM_FRAMES)  # fmt: skip
            elif len(fitting) > 1:
                problems.append(f"--image_size or --num_frames: {where}; none is the released "
                                f"{RELEASED_IMAGE_SIZE} px x {RELEASED_NUM_FRAMES} frames")  # fmt: skip
            else:
                (kwargs["image_size"], kwargs["num_frames"]), = fitting
                report.read["image_size"] = report.read["num_frames"] = f"{num_tokens} tokens of {table}"
        else:
            (kwargs["image_size"], kwargs["num_frames"]), = fitting
            derived = "num_frames" if image_size is not None else "image_size"
            report.read[derived] = f"{num_tokens} tokens of {table} at the given {'image_size' if derived == 'num_frames' else 'num_frames'}"

    if kind == "finetuned":
        kwargs["use_mean_pooling"] = "fc_norm.weight" in state_dict
        report.read["use_mean_pooling"] = f"fc_norm.weight {'present' if kwargs['use_mean_pooling'] else 'absent'}"
        if "head.weight" not in state_dict:
            raise ConversionError("Fine-tuned checkpoint without `head.weight`.")
        num_labels = state_dict["head.weight"].shape[0]
        report.read["num_labels"] = "head.weight"
        if id2label is not None:
            if len(id2label) != num_labels:
                raise ConversionError(f"The label map has {len(id2label)} labels, the head {num_labels} classes.")
            kwargs["id2label"] = {int(k): v for k, v in id2label.items()}
            kwargs["label2id"] = {v: int(k) for k, v in id2label.items()}
        else:
            kwargs["num_labels"] = num_labels
        mask_defaults = ("tube", 0.9)
    else:
        decoder_hidden = state_dict["encoder_to_decoder.weight"].shape[0]
        kwargs.update(
            decoder_hidden_size=decoder_hidden,
            decoder_num_hidden_layers=_count_blocks(state_dict, "decoder.blocks."),
            decoder_num_attention_heads=heads("decoder_num_attention_heads", decoder_hidden, RELEASED_HEADS,
                                              decoder_num_attention_heads),  # fmt: skip
            decoder_intermediate_size=state_dict["decoder.blocks.0.mlp.fc1.weight"].shape[0],
        )
        report.read.update(decoder_hidden_size="encoder_to_decoder.weight", decoder_num_hidden_layers="decoder.blocks.*",
                           decoder_intermediate_size="decoder.blocks.0.mlp.fc1.weight")  # fmt: skip
        patch_dim = tubelet_size * patch_size * patch_size * num_channels
        if state_dict["decoder.head.weight"].shape[0] != patch_dim:
            raise ConversionError(
                f"decoder.head predicts {state_dict['decoder.head.weight'].shape[0]} values per token, expected "
                f"tubelet * patch^2 * channels = {patch_dim}."
            )
        if kind == "adamae-pretraining":
            sampler_width = state_dict["encoder.pos_embed_probs"].shape[-1]
            if sampler_width != hidden_size:
                raise ConversionError(
                    f"Sampler width {sampler_width} != encoder width {hidden_size}: only the released d-wide sampler "
                    "layout (encoder.get_token_probs = Block, Linear) is supported."
                )
            kwargs.update(
                sampler_type="mha",
                sampler_depth=_count_blocks(
                    {k: v for k, v in state_dict.items() if re.match(r"^encoder\.get_token_probs\.\d+\.(attn|norm1)\.", k)},
                    "encoder.get_token_probs.",
                ),
                sampler_num_attention_heads=heads("sampler_num_attention_heads", hidden_size, RELEASED_SAMPLER_HEADS,
                                                  sampler_num_attention_heads),  # fmt: skip
            )
            report.read["sampler_depth"] = "encoder.get_token_probs.*"
            mask_defaults = ("adaptive", 0.95)
        else:  # original VideoMAE: no sampler, VideoMAE's tube masking at 90 %
            if mask_type == "adaptive":
                raise ConversionError("This checkpoint has no sampler weights (a VideoMAE one): mask_type='adaptive' is impossible.")
            mask_defaults = ("tube", 0.9)
    for name, value, default in (("mask_type", mask_type, mask_defaults[0]), ("mask_ratio", mask_ratio, mask_defaults[1])):
        kwargs[name] = value if value is not None else report.assumed.setdefault(name, default)
    if problems:
        raise ConversionError("The weights do not tell these values; pass them:\n  " + "\n  ".join(problems))
    kwargs.update(config_overrides)
    for name in ("image_size", "num_frames"):
        if name in report.assumed:
            logger.warning("Assumed %s=%s (the released models'); pass --%s if this checkpoint differs.", name,
                           report.assumed[name], name)  # fmt: skip
    return AdaMAEConfig(**kwargs), report


def infer_config(state_dict: dict[str, torch.Tensor], **kwargs) -> AdaMAEConfig:
    """
    An [`AdaMAEConfig`] for an original-layout `state_dict`.

    From shapes: hidden size, patch and tubelet sizes (conv kernel), channels, depth, MLP width, q/v bias, the
    number of tokens (sampler position embedding or a stored sin-cos table), decoder width/depth/MLP width, sampler
    depth, number of classes, mean pooling. The tokens give the frames at a given `image_size`, or the image size at
    given `num_frames`; given neither, the released 224 px x 16 frames where they fit (assumed), else an error
    listing the sizes that fit. Attention heads are not in the shapes: given, or those of the released models for
    their widths ([`RELEASED_HEADS`]; 8 for the sampler), assumed. `mask_type` / `mask_ratio` default to adaptive 0.95
    with a sampler, tube 0.9 without (VideoMAE's setting). Keyword arguments: those of [`infer_config_report`]
    (`image_size`, `num_frames`, the three head counts, `mask_type`, `mask_ratio`, `id2label`) and `AdaMAEConfig`
    fields, passed on. Raises [`ConversionError`] listing every missing or contradicted value at once.
    """
    return infer_config_report(state_dict, **kwargs)[0]


# ---------------------------------------------------------------------------------------------------------------
# Renaming
# ---------------------------------------------------------------------------------------------------------------
def rename_key(key: str, mapping: list[tuple[str, str]] = KEY_MAPPING) -> str | None:
    """Our name for a key, via a table of `(pattern, replacement)` regexes (first match; [`KEY_MAPPING`] for the
    released checkpoints, [`VIDEOMAE_KEY_MAPPING`] for transformers' VideoMAE), or `None` if no pattern matches."""
    for pattern, replacement in mapping:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return None


def check_sincos_table(name: str, table: torch.Tensor, atol: float = 1e-4) -> None:
    """Raise unless a stored position table equals the fixed sin-cos table we compute (so it may be dropped)."""
    if table.ndim != 3 or table.shape[0] != 1:
        raise ConversionError(f"{name} has shape {tuple(table.shape)}, expected (1, N, d).")
    expected = get_sinusoid_encoding_table(table.shape[1], table.shape[2])
    if not torch.allclose(table.float(), expected, atol=atol):
        raise ConversionError(
            f"{name} is not the fixed sin-cos table (max abs difference "
            f"{(table.float() - expected).abs().max().item():.3g}); learnable position embeddings are not supported."
        )


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], expected_keys: set[str] | None = None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """
    Rename an original-layout state dict to ours.

    Every key must match [`KEY_MAPPING`] or [`UNNEEDED_KEYS`] (sin-cos tables, verified and skipped); if
    `expected_keys` (the target model's state dict keys) is given, the result must be exactly those keys.

    Returns:
        `(converted_state_dict, skipped_keys)`.
    Raises:
        [`ConversionError`] listing unknown, unexpected or missing keys.
    """
    converted: dict[str, torch.Tensor] = {}
    skipped, unknown = [], []
    for key, value in state_dict.items():
        if any(re.match(pattern, key) for pattern in UNNEEDED_KEYS):
            check_sincos_table(key, value)
            skipped.append(key)
            continue
        new_key = rename_key(key)
        if new_key is None:
            unknown.append(key)
        else:
            converted[new_key] = value
    problems = []
    if unknown:
        problems.append(f"unknown keys (no mapping): {sorted(unknown)}")
    if expected_keys is not None:
        unexpected = sorted(set(converted) - expected_keys)
        missing = sorted(expected_keys - set(converted))
        if unexpected:
            problems.append(f"keys the model does not have: {unexpected}")
        if missing:
            problems.append(f"missing keys: {missing}")
    if problems:
        raise ConversionError("The checkpoint does not fit the AdaMAE layout; " + "; ".join(problems) + ".")
    return converted, skipped


# ---------------------------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------------------------
def convert_checkpoint(
    state_dict: dict[str, torch.Tensor], config: AdaMAEConfig | None = None, verify: bool = True, **config_kwargs
) -> ConversionResult:
    """
    Convert an original-layout state dict to an AdaMAE model.

    Args:
        state_dict: from [`load_original_state_dict`].
        config: the target config; by default [`infer_config`]`(state_dict, **config_kwargs)`.
        verify: run [`verify_model`] (a forward pass) and store its report in `result.verification`.
    """
    kind = detect_checkpoint_kind(state_dict)
    report = ConfigReport()
    if config is None:
        config, report = infer_config_report(state_dict, **config_kwargs)
    model_class = AdaMAEForVideoClassification if kind == "finetuned" else AdaMAEForPreTraining
    model = model_class(config)
    expected = set(model.state_dict())
    converted, skipped = convert_state_dict(state_dict, expected)
    shape_errors = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model.state_dict()[k].shape)}"
        for k, v in converted.items()
        if v.shape != model.state_dict()[k].shape
    ]
    if shape_errors:
        raise ConversionError("Shape mismatches (check image_size / num_frames / heads): " + "; ".join(shape_errors))
    model.load_state_dict({k: v.float() for k, v in converted.items()}, strict=True)
    model.eval()
    logger.info("Converted a %s checkpoint: %d tensors, skipped %s.", kind, len(converted), skipped or "nothing")
    result = ConversionResult(model=model, kind=kind, skipped_keys=skipped, assumed=report.assumed, read=report.read,
                              given=report.given)  # fmt: skip
    if verify:
        result.verification = verify_model(model)
    return result


@torch.no_grad()
def verify_model(model: AdaMAEForPreTraining | AdaMAEForVideoClassification, seed: int = 0) -> dict[str, Any]:
    """
    Forward a fixed random clip (batch 1) through `model` in eval mode and check the outputs are finite and of the
    right shapes. Returns a report (shapes, loss values or top-5 classes); raises `RuntimeError` on failure.
    """
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(
        1, config.num_frames, config.num_channels, config.image_size, config.image_size, generator=generator
    )
    model.eval()
    report: dict[str, Any] = {"model_class": type(model).__name__, "input_shape": list(pixel_values.shape)}
    if isinstance(model, AdaMAEForPreTraining):
        torch.manual_seed(seed)
        outputs = model(pixel_values)
        expected = (1, config.num_tokens - config.num_visible_tokens, config.patch_dim)
        values = {"loss": outputs.loss, "reconstruction_loss": outputs.reconstruction_loss}
        if outputs.sampling_loss is not None:
            values["sampling_loss"] = outputs.sampling_loss
            probs = outputs.token_probabilities
            report["token_probabilities_sum"] = round(float(probs.sum()), 6)
            report["token_probabilities_max"] = float(probs.max())
        report.update({name: float(value) for name, value in values.items()})
        tensors = [outputs.logits, *values.values()]
    else:
        outputs = model(pixel_values)
        expected = (1, config.num_labels)
        top = outputs.logits.softmax(-1)[0].topk(min(5, config.num_labels))
        report["top5"] = [(config.id2label[int(i)], round(float(p), 4)) for p, i in zip(top.values, top.indices)]
        tensors = [outputs.logits]
    report["logits_shape"] = list(outputs.logits.shape)
    if tuple(outputs.logits.shape) != expected:
        raise RuntimeError(f"Verification failed: logits shape {tuple(outputs.logits.shape)}, expected {expected}.")
    if not all(torch.isfinite(t).all() for t in tensors):
        raise RuntimeError(f"Verification failed: non-finite outputs {report}.")
    report["logits_mean_abs"] = float(outputs.logits.abs().mean())
    return report


def read_label_file(path: str | os.PathLike) -> dict[int, str]:
    """Labels from a JSON `{id: label}` map or a text file with one label per line (line number = id)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        return {int(k): v for k, v in json.loads(text).items()}
    return dict(enumerate(line.strip() for line in text.splitlines() if line.strip()))


def convert_original_checkpoint(
    checkpoint_path: str | os.PathLike,
    pytorch_dump_folder_path: str | os.PathLike,
    *,
    checkpoint_key: str | None = None,
    allow_unsafe_pickle: bool = True,
    model_card: str | None = None,
    **config_kwargs,
) -> ConversionResult:
    """
    Load a released checkpoint, convert it, verify it, and save model (safetensors), config, processor config,
    modeling code (`auto_map`) and, if `model_card` names a paper variant (see `adamae_hf.hub.PAPER_VARIANTS`), its
    card as `README.md` (and a video processor with the released stride and test resize) into
    `pytorch_dump_folder_path`. The saved folder is reloaded and must give the same
    outputs. `config_kwargs` go to [`infer_config`].
    """
    import adamae_hf  # noqa: F401  (registers the Auto classes so that save_pretrained writes code + auto_map)

    state_dict = load_original_state_dict(checkpoint_path, checkpoint_key, allow_unsafe_pickle)
    result = convert_checkpoint(state_dict, **config_kwargs)
    folder = Path(pytorch_dump_folder_path)
    folder.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(folder)
    config = result.model.config
    if model_card is not None:
        from .hub import DATASETS, PAPER_VARIANTS, render_model_card

        variant = PAPER_VARIANTS[model_card]
        # the stride of the dataset the model was last trained on (SSv2 2, Kinetics-400 4: the released scripts), and
        # the released test resize (OpenCV's bilinear, no smoothing)
        stride = DATASETS[variant.finetuning or variant.pretraining].temporal_stride
        save_processor(folder, config.image_size, config.num_frames, stride, antialias=False)
        render_model_card(model_card).save(folder / "README.md")
    else:
        save_processor(folder, config.image_size, config.num_frames)

    reloaded = type(result.model).from_pretrained(folder)
    report = verify_model(reloaded)
    for name in ("loss", "logits_mean_abs"):
        if name in report and abs(report[name] - result.verification.get(name, report[name])) > 1e-5:
            raise RuntimeError(f"The saved model differs from the converted one: {report} vs {result.verification}.")
    logger.info("Saved %s to %s; verification: %s", type(result.model).__name__, folder, result.verification)
    return result

# ---------------------------------------------------------------------------------------------------------------
# transformers' VideoMAE (`VideoMAEForPreTraining`, `VideoMAEForVideoClassification`): the same renaming system,
# a second table. Query/key/value are fused into `qkv` (the only change of shape).
# ---------------------------------------------------------------------------------------------------------------
_VIDEOMAE_LAYER_PREFIXES = [(r"videomae\.encoder\.layer", "adamae.encoder.layer"), (r"decoder\.decoder_layers", "decoder.layers")]
_VIDEOMAE_LAYER_PARTS = [
    (r"layernorm_before\.", "norm1."),
    (r"layernorm_after\.", "norm2."),
    (r"attention\.output\.dense\.", "attention.proj."),
    (r"intermediate\.dense\.", "mlp.fc1."),
    (r"output\.dense\.", "mlp.fc2."),
    (r"attention\.attention\.query\.weight$", "attention.qkv.weight"),  # key and value weights are fused into it
    (r"attention\.attention\.(?:query\.bias|q_bias)$", "attention.q_bias"),
    (r"attention\.attention\.(?:value\.bias|v_bias)$", "attention.v_bias"),
]
# transformers VideoMAE key -> our key, first match wins (as [`KEY_MAPPING`]). Keys matching no pattern keep their
# name (`encoder_to_decoder.*`, `mask_token`, `decoder.norm/head.*`, `fc_norm.*`, `classifier.*`), except the
# attention's remaining query/key/value entries, which are fused or (a key bias) dropped.
VIDEOMAE_KEY_MAPPING: list[tuple[str, str]] = [
    (rf"^{prefix}\.(\d+)\.{part}", rf"{ours}.\1.{new}")
    for prefix, ours in _VIDEOMAE_LAYER_PREFIXES
    for part, new in _VIDEOMAE_LAYER_PARTS
] + [(r"^videomae\.(?!.*\.attention\.attention\.)", "adamae.")]


def videomae_config_to_adamae(videomae_config, **overrides) -> AdaMAEConfig:
    """An [`AdaMAEConfig`] with the sizes of a transformers `VideoMAEConfig` (and its LayerNorm epsilons)."""
    names = (
        "image_size", "patch_size", "num_channels", "num_frames", "tubelet_size", "hidden_size", "num_hidden_layers",
        "num_attention_heads", "intermediate_size", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
        "initializer_range", "layer_norm_eps", "use_mean_pooling", "decoder_num_attention_heads", "decoder_hidden_size",
        "decoder_num_hidden_layers", "decoder_intermediate_size", "norm_pix_loss", "id2label", "label2id",
        "problem_type",
    )  # fmt: skip
    kwargs = {name: getattr(videomae_config, name) for name in names if getattr(videomae_config, name, None) is not None}
    kwargs["qkv_bias"] = getattr(videomae_config, "qv_bias", getattr(videomae_config, "qkv_bias", True))
    kwargs["head_layer_norm_eps"] = 1e-5  # torch's default, used by VideoMAE's fc_norm and decoder norm
    # VideoMAE's encoder (VideoMAEModel, also inside VideoMAEForPreTraining) ends with a LayerNorm only when
    # use_mean_pooling=False (transformers' default VideoMAEConfig has none; the MCG-NJU pre-training checkpoints do).
    kwargs["use_final_layernorm"] = not getattr(videomae_config, "use_mean_pooling", True)
    kwargs.update(overrides)
    return AdaMAEConfig(**kwargs)


def videomae_state_dict_to_adamae(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a transformers VideoMAE state dict to AdaMAE's layout through [`VIDEOMAE_KEY_MAPPING`], fusing
    query/key/value into `qkv`."""
    converted: dict[str, torch.Tensor] = {}
    for source_key, value in state_dict.items():
        key = rename_key(source_key, VIDEOMAE_KEY_MAPPING)
        if key is None:
            if ".attention.attention." in source_key:
                continue  # key/value weights: fused into qkv with the query weight
            key = source_key
        if key.endswith(".attention.qkv.weight"):
            stem = source_key[: -len("query.weight")]
            value = torch.cat([value, state_dict[stem + "key.weight"], state_dict[stem + "value.weight"]])
        converted[key] = value
    return converted


@contextlib.contextmanager
def quiet_load_report():
    """
    Hide transformers' load-report table (a warning of `transformers.modeling_utils`) inside the block, for loads
    whose missing and unexpected keys the caller reports itself (`output_loading_info=True`). Errors still raise.

    That logger's level at WARNING or above also switches on transformers' tensor-parallel plan check, which lists
    every weight as "not sharded" for a model without a plan (ours): its logger is quietened too.
    """
    quieted = [logging.getLogger(f"transformers.{name}") for name in ("modeling_utils", "distributed.tensor_parallel")]
    levels = [each.level for each in quieted]
    for each in quieted:
        each.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for each, level in zip(quieted, levels):
            each.setLevel(level)


def load_videomae_weights(cls, videomae, **config_overrides):
    """
    Build `cls` (an AdaMAE model class) from a transformers VideoMAE model or checkpoint (e.g. the public
    `MCG-NJU/videomae-*` ones): the config's sizes and epsilons are copied, the weights renamed, and anything AdaMAE
    adds (the sampler) is freshly initialised. With the same weights and mask the reconstruction loss, logits and
    classification logits equal VideoMAE's.

    A checkpoint path is loaded as `VideoMAEForPreTraining` for [`AdaMAEForPreTraining`] and as
    `VideoMAEForVideoClassification` for [`AdaMAEForVideoClassification`] (a pre-training checkpoint then gets
    VideoMAE's freshly initialised head, logged at info level); a `VideoMAEForPreTraining` model given to
    [`AdaMAEForVideoClassification`] gives its encoder and a head of AdaMAE's initialisation. Pre-training checkpoints come in two layouts: with
    the encoder's final LayerNorm (`use_mean_pooling=False`, as the MCG-NJU ones) and without it (transformers'
    default `VideoMAEConfig`, `use_mean_pooling=True`). The second gives `use_final_layernorm=False`: no final norm,
    the encoder output goes to the decoder as in VideoMAE.
    """
    if isinstance(videomae, (str, bytes)) or hasattr(videomae, "__fspath__"):
        from transformers import AutoConfig, VideoMAEForPreTraining, VideoMAEForVideoClassification

        source_config = AutoConfig.from_pretrained(videomae)
        if source_config.model_type != "videomae":
            raise ValueError(f"{videomae} is a {source_config.model_type!r} checkpoint, not a VideoMAE one.")
        source_cls = VideoMAEForPreTraining if cls is AdaMAEForPreTraining else VideoMAEForVideoClassification
        with quiet_load_report():
            videomae, info = source_cls.from_pretrained(videomae, output_loading_info=True)
        if info["missing_keys"]:
            logger.info("%s initialised %s afresh (not in the checkpoint).", source_cls.__name__, sorted(info["missing_keys"]))
    config = videomae_config_to_adamae(videomae.config, **config_overrides)
    model = cls(config)
    state_dict = videomae_state_dict_to_adamae(videomae.state_dict())
    fresh = ("token_sampler.",)  # what AdaMAE adds to VideoMAE
    if cls is AdaMAEForVideoClassification and not hasattr(videomae, "classifier"):
        # a VideoMAEForPreTraining model: its encoder, and a head of AdaMAE's initialisation
        state_dict = {k: v for k, v in state_dict.items() if k.startswith("adamae.")}
        fresh += ("classifier.", "fc_norm.")
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    unexpected = [k for k in unexpected if not k.endswith("position_embeddings")]
    missing = [k for k in missing if not k.startswith(fresh)]
    if missing or unexpected:
        raise ValueError(
            f"VideoMAE weights do not fit {cls.__name__}: missing {missing}, unexpected {unexpected}."
        )
    return model


__all__ = [
    "KEY_MAPPING",
    "UNNEEDED_KEYS",
    "VIDEOMAE_KEY_MAPPING",
    "ConversionError",
    "ConversionResult",
    "convert_checkpoint",
    "convert_original_checkpoint",
    "convert_state_dict",
    "detect_checkpoint_kind",
    "extract_state_dict",
    "infer_config",
    "infer_config_report",
    "load_original_state_dict",
    "load_videomae_weights",
    "quiet_load_report",
    "read_label_file",
    "rename_key",
    "verify_model",
    "videomae_config_to_adamae",
    "videomae_state_dict_to_adamae",
]
