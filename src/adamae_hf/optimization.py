"""AdamW parameter groups of the released recipes: no weight decay on biases, norms, position embeddings and the
mask token; optional layer-wise learning-rate decay for fine-tuning.

The released code (wgcban/adamae `optim_factory.py` `get_parameter_groups`, with the model's `no_weight_decay()`
names `pos_embed`, `cls_token`, `mask_token`) exempts every 1-D tensor, every bias and those names; the adaptive
sampler's position embedding (`pos_embed_probs`, a 3-D parameter not in that list) is decayed. With
`decay_sampler_positions=True` the groups are exactly those; without it the sampler's position embedding is exempt
as well (the quick start's setting)."""

from __future__ import annotations

import torch
from torch import nn
from transformers.trainer_pt_utils import get_parameter_names


__all__ = ["NO_WEIGHT_DECAY_PATTERNS", "build_adamw", "decay_parameter_names", "layer_id", "parameter_groups"]


# Name patterns (lower-cased regexes, as transformers' Trainer uses) of parameters that get no weight decay.
NO_WEIGHT_DECAY_PATTERNS = (r"bias", r"position_embeddings", r"mask_token", r"(?:^|\.)(?:layer)?norm\d*(?:$|\.)", r"fc_norm")


def decay_parameter_names(model: nn.Module, decay_sampler_positions: bool = False) -> set[str]:
    """Names of the parameters that get weight decay (weights of Linear/Conv layers, and with
    `decay_sampler_positions` the adaptive sampler's position embedding, as released)."""
    patterns = [p for p in NO_WEIGHT_DECAY_PATTERNS if not (decay_sampler_positions and p == r"position_embeddings")]
    return set(get_parameter_names(model, [nn.LayerNorm], patterns))


def layer_id(name: str, num_layers: int) -> int:
    """BEiT/VideoMAE layer index of a parameter: 0 for the embeddings, `i + 1` for encoder block `i`, and
    `num_layers + 1` for everything after the encoder (final norms, classifier)."""
    parts = name.split(".")
    if "embeddings" in parts:
        return 0
    if "layer" in parts:
        return int(parts[parts.index("layer") + 1]) + 1
    return num_layers + 1


def parameter_groups(
    model: nn.Module,
    learning_rate: float,
    weight_decay: float,
    layer_decay: float | None = None,
    decay_sampler_positions: bool = False,
) -> list[dict]:
    """
    AdamW parameter groups for `model` (frozen parameters are left out).

    Without `layer_decay`: two groups, with and without weight decay, at `learning_rate`. With it (fine-tuning),
    one group per (layer, decay) pair whose `lr` is `learning_rate * layer_decay ** (num_layers + 1 - layer_id)`:
    encoder block `i` of `L` trains at `learning_rate * layer_decay ** (L - i)`, the head at `learning_rate`.
    `decay_sampler_positions`: see the module docstring. Each group also holds its `lr_scale`. Learning-rate schedulers (`transformers.get_*_schedule_with_warmup`)
    multiply every group's initial `lr`, so the scaling is kept along the schedule.
    """
    decay_names = decay_parameter_names(model, decay_sampler_positions)
    num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", 0)
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        layer = layer_id(name, num_layers) if layer_decay is not None else 0
        decays = name in decay_names
        if (layer, decays) not in groups:
            scale = layer_decay ** (num_layers + 1 - layer) if layer_decay is not None else 1.0
            groups[(layer, decays)] = {
                "params": [],
                "names": [],
                "weight_decay": weight_decay if decays else 0.0,
                "lr": learning_rate * scale,
                "lr_scale": scale,
            }
        groups[(layer, decays)]["params"].append(parameter)
        groups[(layer, decays)]["names"].append(name)
    return [groups[key] for key in sorted(groups)]


def build_adamw(
    model: nn.Module,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.95),
    layer_decay: float | None = None,
    fused: bool | None = None,
    decay_sampler_positions: bool = False,
) -> torch.optim.AdamW:
    """
    `torch.optim.AdamW` over [`parameter_groups`]; fused (one kernel over all parameters) unless `fused=False` or a
    parameter lives on a device other than CPU/CUDA.

    Fused on CPU too: torch's single-tensor AdamW (its CPU default) makes several passes over every parameter, its
    gradient and both moments, and is memory-bound; on 2 shared CPU cores the fused kernel took 1.1-1.3 s per step
    for ViT-B AdaMAE (102.5 M parameters) against 3.1-6.3 s for single-tensor and foreach (benchmarks/RESULTS.md).
    The update is the same AdamW (same formula, float32 arithmetic), equal to the others up to rounding.
    """
    groups = parameter_groups(model, learning_rate, weight_decay, layer_decay, decay_sampler_positions)
    if fused is None:
        fused = all(p.device.type in ("cpu", "cuda") for group in groups for p in group["params"])
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, weight_decay=weight_decay, fused=fused or None)
