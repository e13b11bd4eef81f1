# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""PyTorch AdaMAE: adaptive masking for video masked autoencoders (Bandara et al., CVPR 2023).

The model is a VideoMAE (ViT encoder over 2x16x16 tubelets, light decoder, per-patch normalised pixel targets)
whose visible tokens are sampled from a categorical distribution predicted by an *adaptive token sampler* and
trained with a REINFORCE-style loss. Every detail follows the authors' released code (github.com/wgcban/adamae; see
`docs/method.md`); where it differs from the paper's text the docstring says so.

This file holds the model only and is self-contained (it imports only torch, transformers and
`configuration_adamae`) so that it can be saved beside a checkpoint and loaded with `trust_remote_code=True`. Weight
conversion (released checkpoints, transformers' VideoMAE) lives in `adamae_hf.conversion`.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import ModelOutput, logging

from .configuration_adamae import AdaMAEConfig


logger = logging.get_logger(__name__)


# ---------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class AdaMAEForPreTrainingOutput(ModelOutput):
    """
    Output of [`AdaMAEForPreTraining`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): Total loss, `reconstruction_loss + sampling_loss_weight *
            sampling_loss`.
        reconstruction_loss (`torch.FloatTensor` of shape `()`): Mean squared error over the masked tokens.
        sampling_loss (`torch.FloatTensor` of shape `()`, *optional*): The sampler's REINFORCE loss
            (adaptive masking only).
        logits (`torch.FloatTensor` of shape `(batch_size, num_masked, tubelet * patch**2 * channels)`):
            Predicted (normalised) pixels of the masked tokens, in increasing token order (with decoder masking in
            training mode: of the decoded tokens, `bool_decoded_pos`, in increasing token order).
        bool_masked_pos (`torch.BoolTensor` of shape `(batch_size, num_tokens)`): The mask used, True = masked.
        token_probabilities (`torch.FloatTensor` of shape `(batch_size, num_tokens)`, *optional*):
            The sampler's categorical distribution over tokens (adaptive masking only).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): Encoder hidden states (embeddings, then each
            layer), each of shape `(batch_size, num_visible, hidden_size)`.
        attentions (`tuple(torch.FloatTensor)`, *optional*): Encoder attention weights, each of shape
            `(batch_size, num_heads, num_visible, num_visible)`.
        bool_decoded_pos (`torch.BoolTensor` of shape `(batch_size, num_tokens)`, *optional*): With decoder masking
            (`config.decoder_mask_ratio > 0`, training mode): True = a masked token that the decoder reconstructed and
            the losses cover. `None` when every masked token is decoded.
    """

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    sampling_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    bool_masked_pos: torch.BoolTensor | None = None
    token_probabilities: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    bool_decoded_pos: torch.BoolTensor | None = None


# ---------------------------------------------------------------------------------------------------------------
# Masking: small pure functions. All return a `(batch_size, num_tokens)` bool mask, True = masked, in the token
# order of the patch embedding (time-major: index = t * H'W' + h * W' + w).
# ---------------------------------------------------------------------------------------------------------------
def random_masking(batch_size: int, num_tokens: int, num_masked: int, device=None) -> torch.BoolTensor:
    """Uniform masking without replacement over all tokens (SpatiotemporalMAE's "random" / "patch" mask)."""
    ranks = torch.rand(batch_size, num_tokens, device=device).argsort(dim=1)
    return ranks_to_mask(ranks, num_masked)


def tube_masking(
    batch_size: int, token_grid: tuple[int, int, int], num_masked_per_slice: int, device=None
) -> torch.BoolTensor:
    """VideoMAE's tube mask: one random spatial mask of `num_masked_per_slice` tokens repeated over time."""
    slices, height, width = token_grid
    spatial = random_masking(batch_size, height * width, num_masked_per_slice, device=device)
    return spatial[:, None, :].expand(batch_size, slices, height * width).reshape(batch_size, -1)


def frame_masking(
    batch_size: int, token_grid: tuple[int, int, int], num_visible_slices: int, device=None
) -> torch.BoolTensor:
    """Frame mask: all tokens of `slices - num_visible_slices` random temporal slices are masked."""
    slices, height, width = token_grid
    per_slice = random_masking(batch_size, slices, slices - num_visible_slices, device=device)
    return per_slice[:, :, None].expand(batch_size, slices, height * width).reshape(batch_size, -1)


def adaptive_masking(token_log_probs: torch.Tensor, num_visible: int) -> torch.BoolTensor:
    """
    AdaMAE's mask: `num_visible` visible tokens drawn from `Categorical(exp(token_log_probs))` without replacement.

    Gumbel-top-k (`argtopk(log P - log E)`, `E ~ Exp(1)`) draws from exactly the distribution of sequential
    sampling without replacement (`torch.multinomial(P, num_visible, replacement=False)` in the released code),
    stays on the device and is vectorised over the batch.

    Args:
        token_log_probs (`torch.Tensor` of shape `(batch_size, num_tokens)`): log-probabilities.
        num_visible (`int`): visible tokens per clip, `N_v`.
    """
    exponential = torch.empty_like(token_log_probs, dtype=torch.float32).exponential_()
    keys = token_log_probs.float() - exponential.clamp_min(torch.finfo(torch.float32).tiny).log()
    visible = keys.topk(num_visible, dim=1, sorted=False).indices
    mask = torch.ones_like(keys, dtype=torch.bool)
    return mask.scatter_(1, visible, False)


def motion_energy(pixel_values: torch.Tensor, tubelet_size: int, patch_size: int) -> torch.Tensor:
    """Mean absolute frame difference inside each token's tubelet, averaged over its pixels and channels: the
    motion mask's weights ([`motion_masking`]) and the motion side of `adamae_hf.sampler_metrics.motion_correlation`.

    Args:
        pixel_values (`torch.Tensor` of shape `(B, T, C, H, W)`), in any consistent units.

    Raises:
        ValueError: not 5-D, fewer than 2 frames, or sizes not divisible by the token size.

    Returns:
        `torch.Tensor` of shape `(B, T / tubelet_size, H / patch_size, W / patch_size)`, in the units of
        `pixel_values`. With `tubelet_size == 1` each frame is compared with the previous one (the first with the
        second).
    """
    if pixel_values.dim() != 5:
        raise ValueError(f"pixel_values must be (B, T, C, H, W), got shape {tuple(pixel_values.shape)}")
    batch, time, _, height, width = pixel_values.shape
    if time < 2:
        raise ValueError("motion energy needs at least 2 frames")
    for name, size, step, what in (("T", time, tubelet_size, "tubelet_size"), ("H", height, patch_size, "patch_size"),
                                   ("W", width, patch_size, "patch_size")):  # fmt: skip
        if size % step:
            raise ValueError(f"{name} of size {size} is not divisible by {what} {step}")
    frames = pixel_values.float()
    difference = (frames[:, 1:] - frames[:, :-1]).abs().mean(2)  # (B, T - 1, H, W): frame t+1 against frame t
    if tubelet_size == 1:
        per_frame = torch.cat((difference[:, :1], difference), dim=1)  # (B, T, H, W)
        return F.avg_pool3d(per_frame[:, None], (1, patch_size, patch_size))[:, 0]
    slices = time // tubelet_size
    # differences whose two frames lie in the same tubelet: t -> t+1 with t % tubelet_size < tubelet_size - 1
    padded = torch.cat((difference, difference[:, :1]), dim=1).view(batch, slices, tubelet_size, height, width)
    inside = padded[:, :, : tubelet_size - 1]  # the last difference of each slice crosses into the next tubelet
    return F.avg_pool3d(inside.mean(2)[:, None], (1, patch_size, patch_size))[:, 0]


def motion_masking(pixel_values: torch.Tensor, token_grid: tuple[int, int, int], num_visible: int,
                   floor: float) -> torch.BoolTensor:  # fmt: skip
    """
    Motion-guided mask: `num_visible` visible tokens drawn without replacement with probability
    `p_i = (1 - floor) * e_i / sum_j e_j + floor / N`, `e_i` the token's motion energy ([`motion_energy`]: mean
    absolute difference between consecutive frames inside its tubelet), by Gumbel-top-k as [`adaptive_masking`]
    (on the device, no host synchronisation, vectorised over the batch). A clip without motion (`sum e = 0`) gets
    the uniform distribution, i.e. a random mask. No learned parameters: the baseline a learned sampler has to beat.

    The idea is motion-guided masking: MGM (Fan et al., "Motion-Guided Masking for Spatiotemporal Representation
    Learning", ICCV 2023) keeps the tokens that codec motion vectors mark as moving; MGMAE (Huang et al., "MGMAE:
    Motion Guided Masking for Video Masked Autoencoding", ICCV 2023) warps a mask along optical flow. This mask uses
    frame differences (no codec or flow network) and samples in proportion to them rather than keeping the top ones.

    The energy is computed from the model's input, the ImageNet-normalised pixels: normalisation is a per-channel
    affine map, so frame differences are the un-normalised ones divided by the channel's std (0.229, 0.224, 0.225),
    a near-uniform factor that the normalisation by `sum e` cancels; the un-normalised pixels are not available to
    the model.

    Args:
        pixel_values (`torch.Tensor` of shape `(B, T, C, H, W)`): the clips.
        token_grid (`tuple[int, int, int]`): `(T / tubelet, H / patch, W / patch)`.
        num_visible (`int`): visible tokens per clip, `N_v`.
        floor (`float`): the uniform share of the distribution, in (0, 1].
    Returns:
        `torch.BoolTensor` of shape `(B, N)`, True = masked, exactly `N - num_visible` True per row.
    """
    slices, height, width = token_grid
    tubelet, patch = pixel_values.shape[1] // slices, pixel_values.shape[3] // height
    energy = motion_energy(pixel_values.detach(), tubelet, patch).flatten(1)  # (B, N), float32
    total = energy.sum(1, keepdim=True)
    share = torch.where(total > 0, energy / total.clamp_min(torch.finfo(torch.float32).tiny), 1.0 / energy.shape[1])
    probabilities = (1.0 - floor) * share + floor / energy.shape[1]
    return adaptive_masking(probabilities.log(), num_visible)


def ranks_to_mask(ranks: torch.Tensor, num_masked: int) -> torch.BoolTensor:
    """Mask the tokens `ranks[:, :num_masked]` of a `(batch_size, num_tokens)` permutation."""
    mask = torch.zeros_like(ranks, dtype=torch.bool)
    return mask.scatter_(1, ranks[:, :num_masked], True)


def mask_to_indices(bool_masked_pos: torch.BoolTensor, num_visible: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Split a mask with `num_visible` False entries per row into `(visible_indices, masked_indices)`, of shapes
    `(batch_size, num_visible)` and `(batch_size, num_tokens - num_visible)`, each in increasing token order (the
    order of boolean-mask indexing, as VideoMAE uses) but without a host-device synchronisation.
    """
    order = torch.argsort(bool_masked_pos.to(torch.uint8), dim=1, stable=True)
    return order[:, :num_visible], order[:, num_visible:]


def decoder_masking(masked_indices: torch.Tensor, decoder_mask_ratio: float) -> torch.Tensor:
    """
    Decoder masking: keep `n - int(decoder_mask_ratio * n)` of the `n` masked tokens of each clip for the decoder, a
    uniformly random subset per clip (random keys + top-k, on the device, no host-device synchronisation).

    VideoMAE V2 (Wang et al., CVPR 2023, "dual masking"; `RunningCellMaskingGenerator` in its
    `dataset/masking_generator.py`) draws the decoder's mask on the host in the data loader, as a "running cell"
    pattern (a 2x2 spatial cell with `int(4 * ratio)` hidden positions, shifted by one position per frame, tiled
    over the frame), independently of the encoder's tube mask; it puts mask tokens at every decoder-visible position
    and computes the loss over those that are also encoder-masked. Under AdaMAE's adaptive mask that intersection
    has a different size in every clip (a ragged batch, or a host sync to pad it), so here the subset is drawn among
    the encoder-masked tokens, uniformly: every masked token is reconstructed with the same probability, the losses
    over the subset are unbiased estimates of the losses over all masked tokens, and the decoder never spends
    tokens on positions outside the loss.

    Args:
        masked_indices (`torch.LongTensor` of shape `(B, n)`): masked tokens, in increasing token order.
        decoder_mask_ratio (`float`): fraction of them hidden from the decoder, in [0, 1).
    Returns:
        `torch.LongTensor` of shape `(B, n - int(decoder_mask_ratio * n))`, a subset of each row, in increasing token
        order; `masked_indices` itself when nothing is dropped (and then no random number is drawn).
    """
    num_masked = masked_indices.shape[1]
    num_decoded = num_masked - int(decoder_mask_ratio * num_masked)
    if num_decoded == num_masked:
        return masked_indices
    keys = torch.rand(masked_indices.shape, device=masked_indices.device)
    kept = keys.topk(num_decoded, dim=1, sorted=False).indices.sort(dim=1).values
    return torch.gather(masked_indices, 1, kept)


def gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """`tokens[b, indices[b]]` for `tokens` `(B, N, D)` and `indices` `(B, n)`: returns `(B, n, D)`."""
    return torch.gather(tokens, 1, indices.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def get_sinusoid_encoding_table(num_positions: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed sin-cos position table (sin on even, cos on odd channels), shape `(1, num_positions, dim)`."""
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]
    exponents = 2 * (torch.arange(dim) // 2).to(torch.float64) / dim
    angles = positions / torch.pow(torch.tensor(10000.0, dtype=torch.float64), exponents)
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.to(torch.float32).unsqueeze(0)


def patchify(video: torch.Tensor, config: AdaMAEConfig) -> torch.Tensor:
    """`(B, T, C, H, W)` -> `(B, N, tubelet * patch * patch, C)`: the tubelets in token order, each laid out as
    `(t h w)` per channel (the layout of the reconstruction targets)."""
    batch_size, time, channels, height, width = video.shape
    tubelet, patch = config.tubelet_size, config.patch_size
    tubelets = video.reshape(
        batch_size, time // tubelet, tubelet, channels, height // patch, patch, width // patch, patch
    ).permute(0, 1, 4, 6, 2, 5, 7, 3)
    num_tokens = (time // tubelet) * (height // patch) * (width // patch)
    return tubelets.reshape(batch_size, num_tokens, tubelet * patch * patch, channels)


def patchify_targets(pixel_values: torch.Tensor, config: AdaMAEConfig) -> torch.Tensor:
    """
    Reconstruction targets, exactly as `VideoMAEForPreTraining`: un-normalise ImageNet-normalised RGB to [0, 1], cut
    into tubelets, and (with `norm_pix_loss`) normalise each tubelet and channel by its mean and unbiased std.

    Args:
        pixel_values (`torch.Tensor` of shape `(B, T, C, H, W)`).
    Returns:
        `torch.Tensor` of shape `(B, N, tubelet * patch * patch * C)`, laid out as `(t h w c)`.
    """
    channels = pixel_values.shape[2]
    frames = pixel_values.float()
    if channels == 3:
        # per channel with Python scalars: a tensor built from the constants would be a host-to-device copy, which
        # synchronises the host with a CUDA stream (found by the sync test on a GPU); the arithmetic is the same
        frames = torch.stack(
            [frames[:, :, c] * std + mean for c, (mean, std) in enumerate(zip(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD))],
            dim=2,
        )
    elif not config.norm_pix_loss:
        raise ValueError("Can't un-normalise non-RGB pixel values; set config.norm_pix_loss=True.")
    frames = patchify(frames, config)  # (B, N, tubelet * patch * patch, C)
    if config.norm_pix_loss:
        frames = (frames - frames.mean(dim=-2, keepdim=True)) / (
            frames.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6
        )
    return frames.flatten(2)


def check_pixel_values(pixel_values: torch.Tensor | None, config: AdaMAEConfig) -> None:
    """Raise a clear `ValueError` unless `pixel_values` is a float `(B, T, C, H, W)` tensor matching `config`."""
    expected = (config.num_frames, config.num_channels, config.image_size, config.image_size)
    if pixel_values is None:
        raise ValueError("pixel_values is required: a float tensor of shape (batch_size, *{expected}).")
    if not isinstance(pixel_values, torch.Tensor):
        raise ValueError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}.")
    if pixel_values.ndim != 5:
        raise ValueError(
            f"pixel_values must have 5 dimensions (batch, frames, channels, height, width) = (B, {', '.join(map(str, expected))}), "
            f"got shape {tuple(pixel_values.shape)}."
        )
    if tuple(pixel_values.shape[1:]) != expected:
        raise ValueError(
            f"pixel_values has shape {tuple(pixel_values.shape)}, but this model expects (B, {', '.join(map(str, expected))}) "
            f"(num_frames={config.num_frames}, num_channels={config.num_channels}, image_size={config.image_size})."
        )
    if not pixel_values.is_floating_point():
        raise ValueError(
            f"pixel_values must be a floating point tensor (normalised pixels), got dtype {pixel_values.dtype}."
        )


# ---------------------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------------------
def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth per sample (drops the whole residual branch of a sample)."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep_prob = 1 - drop_prob
    shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
    keep = hidden_states.new_empty(shape).bernoulli_(keep_prob)
    return hidden_states * keep / keep_prob


class AdaMAEPatchEmbeddings(nn.Module):
    """Tokenizer: `(B, T, C, H, W)` -> `(B, N, hidden_size)` with a Conv3d over `tubelet x patch x patch` cubes."""

    def __init__(self, config: AdaMAEConfig):
        super().__init__()
        self.projection = nn.Conv3d(
            config.num_channels,
            config.hidden_size,
            kernel_size=(config.tubelet_size, config.patch_size, config.patch_size),
            stride=(config.tubelet_size, config.patch_size, config.patch_size),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(pixel_values.transpose(1, 2)).flatten(2).transpose(1, 2)


class AdaMAEEmbeddings(nn.Module):
    """Patch embeddings plus the fixed sin-cos position table; optionally keeps only the visible tokens."""

    def __init__(self, config: AdaMAEConfig):
        super().__init__()
        self.patch_embeddings = AdaMAEPatchEmbeddings(config)
        self.num_patches = config.num_tokens
        self.register_buffer(
            "position_embeddings", get_sinusoid_encoding_table(config.num_tokens, config.hidden_size), persistent=False
        )

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        visible_indices: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            pixel_values (`(B, T, C, H, W)`), or inputs_embeds (`(B, N, D)`, the tokenizer output).
            visible_indices (`(B, N_v)`, *optional*): keep only these tokens, in the given order.
        Returns: `(B, N or N_v, D)`.
        """
        embeddings = self.patch_embeddings(pixel_values) if inputs_embeds is None else inputs_embeds
        embeddings = embeddings + self.position_embeddings.to(embeddings.dtype)
        if visible_indices is not None:
            embeddings = gather_tokens(embeddings, visible_indices)
        return embeddings


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    The eager attention of transformers' VideoMAE (`softmax(q k^T * scaling + mask) v`), the fallback of the attention
    interface and the path that returns the weights.

    Args:
        query, key, value (`torch.Tensor` of shape `(B, heads, S, head_dim)`).
        attention_mask (`torch.Tensor`, *optional*): additive mask broadcastable to `(B, heads, S, S)`.
    Returns:
        `(attn_output, attn_weights)` of shapes `(B, S, heads, head_dim)` and `(B, heads, S, S)`.
    """
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


def check_cpu_flex_attention() -> None:
    """Refuse `attn_implementation="flex_attention"` on a CPU whose vector unit torch reports as other than AVX-512.

    torch's compiled CPU kernel for `flex_attention` (inductor's C++ template, torch 2.13) returns NaN or values ~1
    off SDPA for small heads (head dim 8 or 16 over 8 tokens) when inductor generates AVX2 code, with a wrong value
    that changes from one process to the next (one thread too); with AVX-512 code it was right in every run.
    Reproduced with torch alone, plain contiguous inputs, no mask or score_mod, caches off
    (`TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 ATEN_CPU_CAPABILITY=avx2`):
    `q, k, v = (torch.randn(2, 2, 8, 8) for _ in range(3)); torch.compile(flex_attention)(q, k, v)` is off SDPA by
    1.1-1.7 or NaN in 7 of 9 fresh processes. AdaMAE needs no mask, so SDPA computes the same attention.

    Raises:
        ValueError: `torch.backends.cpu.get_cpu_capability()` is not an AVX-512 one (AVX2, DEFAULT, ARM, ...).
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if not capability.startswith("AVX512"):
        raise ValueError(
            f"attn_implementation='flex_attention' on CPU is refused on this {capability} CPU: torch's compiled CPU "
            "flex_attention kernel returns NaN or wrong values for small attention heads without AVX-512. Use "
            "attn_implementation='sdpa' (the same attention, the default) on CPU, or flex_attention on a GPU."
        )


class AdaMAEAttention(nn.Module):
    """
    Multi-head self-attention with a fused `qkv` projection and separate query/value biases (no key bias), the
    released code's layout; the sampler's blocks use it without biases.

    The attention itself goes through transformers' attention interface, as in VideoMAE: the function registered in
    `ALL_ATTENTION_FUNCTIONS` under `self.config._attn_implementation` (`"sdpa"`, the default; `"flash_attention_2"`,
    `"flex_attention"`, a Hub kernel, or one registered with `AttentionInterface.register`), or
    [`eager_attention_forward`] for `"eager"`. The implementation is read from the config this module was built with
    at every call, so `model.set_attn_implementation(...)` takes effect at once, and a module built with another
    config follows that config's choice.

    When attention weights are requested (`output_attentions=True`), this call uses [`eager_attention_forward`]
    whatever the implementation, since the fused kernels (SDPA, flash, flex) do not return the weights (transformers'
    own VideoMAE returns no weights under SDPA).
    """

    def __init__(
        self, config: AdaMAEConfig, hidden_size: int, num_heads: int, qkv_bias: bool, attention_dropout: float,
        output_dropout: float,
    ):  # fmt: skip
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = attention_dropout
        self.is_causal = False
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(hidden_size))
            self.v_bias = nn.Parameter(torch.zeros(hidden_size))
        else:
            self.q_bias = self.v_bias = None
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.proj_dropout = nn.Dropout(output_dropout)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(B, S, D)` -> `((B, S, D), weights)`; `weights` is `(B, heads, S, S)` with `output_attentions`, else
        whatever the implementation returns (`None` for SDPA and flash attention)."""
        batch_size, seq_len, hidden_size = hidden_states.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(hidden_states, self.qkv.weight, bias)
        query, key, value = qkv.view(batch_size, seq_len, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)

        attention_interface = eager_attention_forward
        if not output_attentions:
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
            if self.config._attn_implementation == "flex_attention" and query.device.type == "cpu":
                check_cpu_flex_attention()
        context, weights = attention_interface(
            self,
            query,
            key,
            value,
            None,
            is_causal=self.is_causal,
            scaling=self.scaling,
            dropout=self.attention_dropout if self.training else 0.0,
        )
        context = context.reshape(batch_size, seq_len, hidden_size)
        return self.proj_dropout(self.proj(context)), weights


class AdaMAEMLP(nn.Module):
    """`fc1 -> activation -> fc2 -> dropout` (VideoMAE's Mlp: no dropout between the two linears)."""

    def __init__(self, hidden_size: int, intermediate_size: int, hidden_act: str, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.act = ACT2FN[hidden_act]
        self.fc2 = nn.Linear(intermediate_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.act(self.fc1(hidden_states))))


class AdaMAELayer(GradientCheckpointingLayer):
    """Pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`, with optional drop path."""

    def __init__(
        self, config: AdaMAEConfig, hidden_size: int, num_heads: int, intermediate_size: int, *, qkv_bias: bool,
        layer_norm_eps: float, dropout: float, attention_dropout: float = 0.0, drop_path_rate: float = 0.0,
    ):  # fmt: skip
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.attention = AdaMAEAttention(config, hidden_size, num_heads, qkv_bias, attention_dropout, dropout)
        self.norm2 = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.mlp = AdaMAEMLP(hidden_size, intermediate_size, config.hidden_act, dropout)
        self.drop_path_rate = drop_path_rate

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, weights = self.attention(self.norm1(hidden_states), output_attentions)
        hidden_states = hidden_states + drop_path(attention_output, self.drop_path_rate, self.training)
        mlp_output = self.mlp(self.norm2(hidden_states))
        hidden_states = hidden_states + drop_path(mlp_output, self.drop_path_rate, self.training)
        return hidden_states, weights


def run_layers(
    layers: nn.ModuleList, hidden_states: torch.Tensor, output_attentions: bool, output_hidden_states: bool
) -> BaseModelOutput:
    """Run a stack of [`AdaMAELayer`]s, collecting hidden states (input first) and attentions when asked."""
    all_hidden_states = (hidden_states,) if output_hidden_states else None
    all_attentions = () if output_attentions else None
    for layer in layers:
        hidden_states, weights = layer(hidden_states, output_attentions)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        if output_attentions:
            all_attentions += (weights,)
    return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions)


class AdaMAEEncoder(nn.Module):
    """The ViT encoder: `num_hidden_layers` blocks, drop path rising linearly to `drop_path_rate`."""

    def __init__(self, config: AdaMAEConfig):
        super().__init__()
        depth = config.num_hidden_layers
        rates = [config.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.layer = nn.ModuleList(
            AdaMAELayer(
                config, config.hidden_size, config.num_attention_heads, config.intermediate_size,
                qkv_bias=config.qkv_bias, layer_norm_eps=config.layer_norm_eps, dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob, drop_path_rate=rate,
            )  # fmt: skip
            for rate in rates
        )

    def forward(self, hidden_states, output_attentions=False, output_hidden_states=False) -> BaseModelOutput:
        return run_layers(self.layer, hidden_states, output_attentions, output_hidden_states)


class AdaMAETokenSampler(nn.Module):
    """
    The adaptive token sampler (Sec. 3.1, Alg. 1): tokenizer output (before the fixed sin-cos table) plus a learnable
    position embedding (zeros at init), `sampler_depth` pre-norm blocks (qkv without bias, dropout
    `sampler_dropout`, LayerNorm eps `sampler_layer_norm_eps`, no drop path) or the MLP variant, then
    `Linear(d, 1)`, `nan_to_num` and a log-softmax over the N tokens.

    Returns `(B, N)` float32 log-probabilities.
    """

    def __init__(self, config: AdaMAEConfig):
        super().__init__()
        width = config.sampler_hidden_size
        self.input_projection = nn.Linear(config.hidden_size, width) if width != config.hidden_size else None
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_tokens, width))
        if config.sampler_type == "mha":
            self.layers = nn.ModuleList(
                AdaMAELayer(
                    config, width, config.sampler_num_attention_heads, 4 * width, qkv_bias=False,
                    layer_norm_eps=config.sampler_layer_norm_eps, dropout=config.sampler_dropout,
                )  # fmt: skip
                for _ in range(config.sampler_depth)
            )
            self.mlp = None
            if getattr(config, "sampler_gradient_checkpointing", False):
                from torch.utils.checkpoint import checkpoint

                for layer in self.layers:  # transformers' per-layer switch, for the sampler only
                    layer.gradient_checkpointing = True
                    layer._gradient_checkpointing_func = functools.partial(checkpoint, use_reentrant=False)
        else:
            self.layers = nn.ModuleList()
            self.mlp = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.input_projection is not None:
            tokens = self.input_projection(tokens)
        hidden_states = tokens + self.position_embeddings.to(tokens.dtype)
        for layer in self.layers:
            hidden_states = layer(hidden_states)[0]
        if self.mlp is not None:
            hidden_states = self.mlp(hidden_states)
        logits = torch.nan_to_num(self.head(hidden_states).squeeze(-1).float())
        return torch.log_softmax(logits, dim=-1)


class AdaMAEDecoder(nn.Module):
    """Light decoder: blocks at `decoder_hidden_size`, LayerNorm, and a pixel head on the last tokens only."""

    def __init__(self, config: AdaMAEConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            AdaMAELayer(
                config, config.decoder_hidden_size, config.decoder_num_attention_heads,
                config.decoder_intermediate_size, qkv_bias=config.qkv_bias, layer_norm_eps=config.layer_norm_eps,
                dropout=config.hidden_dropout_prob, attention_dropout=config.attention_probs_dropout_prob,
            )  # fmt: skip
            for _ in range(config.decoder_num_hidden_layers)
        )
        self.norm = nn.LayerNorm(config.decoder_hidden_size, eps=config.head_layer_norm_eps)
        self.head = nn.Linear(config.decoder_hidden_size, config.patch_dim)

    def forward(self, hidden_states: torch.Tensor, num_predicted: int) -> torch.Tensor:
        """`(B, N, D_dec)` -> predictions for the last `num_predicted` tokens, `(B, num_predicted, patch_dim)`."""
        for layer in self.layers:
            hidden_states = layer(hidden_states)[0]
        return self.head(self.norm(hidden_states[:, -num_predicted:]))


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------
class AdaMAEPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the transformers plumbing shared by the AdaMAE models."""

    config_class = AdaMAEConfig
    base_model_prefix = "adamae"
    main_input_name = "pixel_values"
    input_modalities = "video"
    supports_gradient_checkpointing = True
    _no_split_modules = ["AdaMAELayer"]
    # Every attention goes through `ALL_ATTENTION_FUNCTIONS` (see `AdaMAEAttention`), as in transformers' VideoMAE.
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:
        """Released code: Linear xavier_uniform / bias 0, LayerNorm 1 / 0, mask token trunc_normal(0.02), sampler
        position embedding 0, classifier trunc_normal(initializer_range * classifier_init_scale)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            if getattr(module, "is_classifier", False):
                nn.init.trunc_normal_(module.weight, std=std * self.config.classifier_init_scale)
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv3d):
            module.reset_parameters()
        elif isinstance(module, AdaMAEAttention) and module.q_bias is not None:
            nn.init.zeros_(module.q_bias)
            nn.init.zeros_(module.v_bias)
        elif isinstance(module, AdaMAETokenSampler):
            nn.init.zeros_(module.position_embeddings)
        elif isinstance(module, AdaMAEForPreTraining):
            nn.init.trunc_normal_(module.mask_token, std=std)
        if isinstance(module, AdaMAEEmbeddings):
            module.position_embeddings.copy_(get_sinusoid_encoding_table(module.num_patches, module.position_embeddings.shape[-1]))
        elif isinstance(module, AdaMAEForPreTraining):
            module.decoder_position_embeddings.copy_(
                get_sinusoid_encoding_table(self.config.num_tokens, self.config.decoder_hidden_size)
            )

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`. The saved config records `use_final_layernorm` as this model has it
        (so that `AutoModel` builds the encoder the checkpoint holds, see [`encoder_has_final_layernorm`]); when the classes are registered for the Auto
        classes (importing `adamae_hf` does it), the config's `auto_map` names all four Auto classes, so that any of
        them loads the checkpoint with `trust_remote_code=True` where `adamae_hf` is not installed."""
        if self._auto_class is not None:
            self.config.auto_map = {"AutoConfig": "configuration_adamae.AdaMAEConfig"} | {
                auto_class: f"modeling_adamae.{name}" for auto_class, name in AUTO_CLASSES.items()
            }
        encoder = self if isinstance(self, AdaMAEModel) else self.adamae
        in_memory = self.config.use_final_layernorm
        self.config.use_final_layernorm = encoder.layernorm is not None
        try:
            return super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            self.config.use_final_layernorm = in_memory

    def _output_flags(self, output_attentions, output_hidden_states, return_dict) -> tuple[bool, bool, bool]:
        config = self.config
        return (
            bool(config.output_attentions if output_attentions is None else output_attentions),
            bool(config.output_hidden_states if output_hidden_states is None else output_hidden_states),
            bool(getattr(config, "return_dict", True) if return_dict is None else return_dict),
        )


class AdaMAEModel(AdaMAEPreTrainedModel):
    """
    The bare AdaMAE encoder (tokenizer, fixed sin-cos positions, ViT blocks, optional final LayerNorm), as
    `VideoMAEModel`.

    Whether it ends with the final LayerNorm is decided by [`encoder_has_final_layernorm`] for the model that owns
    the encoder (the task models pass its answer as `add_final_layernorm`): loaded from a pre-training checkpoint
    (`AutoModel.from_pretrained(...)`), the encoder keeps the final norm that the pre-training decoder saw; from a
    mean-pooling classifier, it has none (as VideoMAE). The pre-training decoder and sampler of such a checkpoint are
    not part of the encoder and are skipped without being reported.
    """

    # What a pre-training checkpoint holds besides the encoder (matched by regex against the checkpoint's keys).
    _keys_to_ignore_on_load_unexpected = [r"^decoder\.", r"^encoder_to_decoder\.", r"^mask_token$", r"^token_sampler\."]

    def __init__(self, config: AdaMAEConfig, add_final_layernorm: bool | None = None):
        super().__init__(config)
        self.embeddings = AdaMAEEmbeddings(config)
        self.encoder = AdaMAEEncoder(config)
        if add_final_layernorm is None:
            add_final_layernorm = encoder_has_final_layernorm(config, type(self))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if add_final_layernorm else None
        self.post_init()

    def get_input_embeddings(self) -> AdaMAEPatchEmbeddings:
        return self.embeddings.patch_embeddings

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        bool_masked_pos: torch.BoolTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        visible_indices: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> BaseModelOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)`): ImageNet-normalised clips.
            bool_masked_pos (`torch.BoolTensor` of shape `(B, N)`, *optional*): True = masked; the encoder sees only
                the visible tokens (the same number in every row), in increasing token order.
            visible_indices (`torch.LongTensor` of shape `(B, N_v)`, *optional*): alternative to `bool_masked_pos`:
                indices of the tokens to encode, in that order.
            inputs_embeds (`torch.FloatTensor` of shape `(B, N, hidden_size)`, *optional*): the tokenizer output,
                instead of `pixel_values`.

        Returns:
            [`~transformers.modeling_outputs.BaseModelOutput`] with `last_hidden_state` of shape
            `(B, N or N_v, hidden_size)`.
        """
        output_attentions, output_hidden_states, return_dict = self._output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        if inputs_embeds is None:
            check_pixel_values(pixel_values, self.config)
        if bool_masked_pos is not None:
            if visible_indices is not None:
                raise ValueError("Pass either bool_masked_pos or visible_indices, not both.")
            num_visible = validate_bool_masked_pos(bool_masked_pos, self.config.num_tokens)
            visible_indices = mask_to_indices(bool_masked_pos, num_visible)[0]
        hidden_states = self.embeddings(pixel_values, visible_indices, inputs_embeds)
        outputs = self.encoder(hidden_states, output_attentions, output_hidden_states)
        sequence_output = outputs.last_hidden_state
        if self.layernorm is not None:
            sequence_output = self.layernorm(sequence_output)
        if not return_dict:
            return tuple(v for v in (sequence_output, outputs.hidden_states, outputs.attentions) if v is not None)
        return BaseModelOutput(
            last_hidden_state=sequence_output, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


def encoder_has_final_layernorm(config: AdaMAEConfig, model_class: type[AdaMAEPreTrainedModel]) -> bool:
    """
    Whether the encoder of a `model_class` built from `config` ends with a LayerNorm (`adamae.layernorm`); the one
    place this is decided (the model then holds the answer, and `save_pretrained` records it as
    `config.use_final_layernorm`).

    - [`AdaMAEForVideoClassification`]: exactly when `use_mean_pooling=False` (with mean pooling `fc_norm`
      normalises the pooled features instead, as in VideoMAE and the released fine-tuning model);
      `use_final_layernorm` is not read.
    - otherwise `config.use_final_layernorm` when set (`True`/`False`);
    - unset (`None`): `True` for [`AdaMAEForPreTraining`] (the released encoder), and for the bare [`AdaMAEModel`]
      `True` when the config was saved by [`AdaMAEForPreTraining`] (its `architectures`: checkpoints saved before
      `use_final_layernorm` existed), else `not use_mean_pooling` (as VideoMAE).
    """
    if issubclass(model_class, AdaMAEForVideoClassification):
        return not config.use_mean_pooling
    if config.use_final_layernorm is not None:
        return config.use_final_layernorm
    if issubclass(model_class, AdaMAEForPreTraining):
        return True
    return "AdaMAEForPreTraining" in (config.architectures or []) or not config.use_mean_pooling


def validate_bool_masked_pos(bool_masked_pos: torch.Tensor, num_tokens: int) -> int:
    """Check a user-given mask (shape `(B, N)`, bool, the same masked count per row); return the visible count."""
    if not isinstance(bool_masked_pos, torch.Tensor) or bool_masked_pos.dtype != torch.bool:
        raise ValueError(
            f"bool_masked_pos must be a torch.bool tensor, got "
            f"{bool_masked_pos.dtype if isinstance(bool_masked_pos, torch.Tensor) else type(bool_masked_pos).__name__}."
        )
    if bool_masked_pos.ndim != 2 or bool_masked_pos.shape[1] != num_tokens:
        raise ValueError(
            f"bool_masked_pos must have shape (batch_size, {num_tokens}), got {tuple(bool_masked_pos.shape)}."
        )
    counts = bool_masked_pos.sum(dim=1)
    if not bool((counts == counts[0]).all()):
        raise ValueError(
            f"Every row of bool_masked_pos must mask the same number of tokens; got counts {counts.tolist()}."
        )
    num_masked = int(counts[0])
    if num_masked in (0, num_tokens):
        raise ValueError(f"bool_masked_pos must mask some but not all of the {num_tokens} tokens, masks {num_masked}.")
    return num_tokens - num_masked


class AdaMAEForPreTraining(AdaMAEPreTrainedModel):
    """
    AdaMAE for self-supervised pre-training: adaptive token sampler, encoder on the visible tokens, decoder that
    reconstructs the masked tokens, and the two losses of Sec. 3.2:

    - `L_R`: mean over masked tokens and batch of the per-token MSE `L_R_i` (mean over the tubelet's values) against
      per-patch normalised pixels;
    - `L_S = -mean_i(log P_i * L_R_i.detach())` over the masked tokens, averaged over the batch (REINFORCE);
    - `loss = L_R + sampling_loss_weight * L_S`. `L_R` cannot reach the sampler (the mask is a discrete draw).

    With `config.decoder_mask_ratio > 0` (decoder masking, after VideoMAE V2; training mode only) the decoder gets
    the visible tokens and a random subset of the masked ones ([`decoder_masking`]), and both losses are means over
    that subset.

    The decoder input is `[visible + pos ; mask_token + pos]` with the position table gathered (tokens are not
    un-shuffled). With `mask_type != "adaptive"` there is no sampler and the model is a VideoMAE with that mask.
    """

    def __init__(self, config: AdaMAEConfig):
        super().__init__(config)
        self.adamae = AdaMAEModel(config, add_final_layernorm=encoder_has_final_layernorm(config, type(self)))
        self.token_sampler = AdaMAETokenSampler(config) if config.mask_type == "adaptive" else None
        self.encoder_to_decoder = nn.Linear(config.hidden_size, config.decoder_hidden_size, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_hidden_size))
        self.register_buffer(
            "decoder_position_embeddings",
            get_sinusoid_encoding_table(config.num_tokens, config.decoder_hidden_size),
            persistent=False,
        )
        self.decoder = AdaMAEDecoder(config)
        self.post_init()

    def sample_mask(
        self, batch_size: int, token_log_probs: torch.Tensor | None = None, device=None,
        pixel_values: torch.Tensor | None = None,
    ) -> torch.BoolTensor:  # fmt: skip
        """Draw a `(B, N)` mask (True = masked) of `config.mask_type` with `config.num_visible_tokens` visible tokens
        (the one place the counts are computed); adaptive needs the sampler's log-probs, motion the `(B, T, C, H, W)`
        pixel values."""
        config = self.config
        slices, height, width = config.token_grid
        num_visible = config.num_visible_tokens
        if config.mask_type == "adaptive":
            if token_log_probs is None:
                raise ValueError("mask_type='adaptive' needs the sampler's token_log_probs.")
            return adaptive_masking(token_log_probs, num_visible)
        if config.mask_type == "tube":
            return tube_masking(batch_size, config.token_grid, height * width - num_visible // slices, device)
        if config.mask_type == "random":
            return random_masking(batch_size, config.num_tokens, config.num_tokens - num_visible, device)
        if config.mask_type == "motion":
            if pixel_values is None:
                raise ValueError("mask_type='motion' needs the clips' pixel_values.")
            return motion_masking(pixel_values, config.token_grid, num_visible, config.motion_mask_floor)
        return frame_masking(batch_size, config.token_grid, num_visible // (height * width), device)

    @torch.no_grad()
    def get_token_probabilities(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """
        The sampler's categorical distribution over the tokens of each clip, as a spatiotemporal saliency map.

        Call `model.eval()` first for a deterministic map (the sampler has dropout).

        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)`).
        Returns:
            `torch.FloatTensor` of shape `(B, T / tubelet, H / patch, W / patch)`, summing to 1 per clip.
        """
        if self.token_sampler is None:
            raise ValueError(f"Token probabilities need mask_type='adaptive', this model has {self.config.mask_type!r}.")
        check_pixel_values(pixel_values, self.config)
        tokens = self.adamae.embeddings.patch_embeddings(pixel_values)
        return self.token_sampler(tokens).exp().view(pixel_values.shape[0], *self.config.token_grid)

    def forward(
        self,
        pixel_values: torch.Tensor,
        bool_masked_pos: torch.BoolTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> AdaMAEForPreTrainingOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)`): ImageNet-normalised clips (the
                convention of `VideoMAEForPreTraining`).
            bool_masked_pos (`torch.BoolTensor` of shape `(B, N)`, *optional*): a mask to use (True = masked, the
                same count per row). Without it the mask is drawn according to `config.mask_type`; with adaptive
                masking the sampling loss is computed against whichever mask is used.

        Returns:
            [`AdaMAEForPreTrainingOutput`].
        """
        output_attentions, output_hidden_states, return_dict = self._output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        check_pixel_values(pixel_values, self.config)
        tokens = self.adamae.embeddings.patch_embeddings(pixel_values)  # (B, N, D)
        token_log_probs, bool_masked_pos, visible_indices, masked_indices, bool_decoded_pos = self.forward_masking(
            tokens, bool_masked_pos, pixel_values
        )
        encoder_outputs = self.forward_encoder(tokens, visible_indices, output_attentions, output_hidden_states)
        logits = self.forward_decoder(encoder_outputs.last_hidden_state, visible_indices, masked_indices)
        loss, reconstruction_loss, sampling_loss = self.forward_loss(
            pixel_values, logits, masked_indices, token_log_probs
        )
        output = AdaMAEForPreTrainingOutput(
            loss=loss,
            reconstruction_loss=reconstruction_loss,
            sampling_loss=sampling_loss,
            logits=logits,
            bool_masked_pos=bool_masked_pos,
            token_probabilities=None if token_log_probs is None else token_log_probs.detach().exp(),
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
            bool_decoded_pos=bool_decoded_pos,
        )
        return output if return_dict else output.to_tuple()

    def forward_masking(
        self, tokens: torch.Tensor, bool_masked_pos: torch.BoolTensor | None = None,
        pixel_values: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.BoolTensor, torch.Tensor, torch.Tensor, torch.BoolTensor | None]:
        """
        Stage 1: the sampler's distribution, the mask and the tokens each part of the model sees.

        Args:
            tokens (`torch.FloatTensor` of shape `(B, N, hidden_size)`): the tokenizer output.
            bool_masked_pos (`torch.BoolTensor` of shape `(B, N)`, *optional*): a given mask (True = masked, the same
                count per row); without it one is drawn according to `config.mask_type`.
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)`, *optional*): the clips, needed to draw a
                motion mask.
        Returns:
            `(token_log_probs, bool_masked_pos, visible_indices, masked_indices, bool_decoded_pos)`: the sampler's
            `(B, N)` float32 log-probabilities (`None` without a sampler), the `(B, N)` mask, the `(B, N_v)` visible
            and `(B, N_m)` reconstructed token indices (in increasing token order; with decoder masking in training
            mode the reconstructed ones are a subset of the masked ones, marked True in the `(B, N)`
            `bool_decoded_pos`, else `bool_decoded_pos` is `None`).
        Raises:
            ValueError: a given mask that is not a `(B, N)` bool tensor with the same masked count per row.
        """
        config = self.config
        batch_size = tokens.shape[0]
        token_log_probs = None
        if self.token_sampler is not None:
            sampler_input = tokens if config.sampling_loss_to_tokenizer else tokens.detach()
            token_log_probs = self.token_sampler(sampler_input)  # (B, N), float32

        if bool_masked_pos is None:
            log_probs_for_draw = None if token_log_probs is None else token_log_probs.detach()
            bool_masked_pos = self.sample_mask(batch_size, log_probs_for_draw, tokens.device, pixel_values)
            num_visible = config.num_visible_tokens
        else:
            num_visible = validate_bool_masked_pos(bool_masked_pos, config.num_tokens)
            if bool_masked_pos.shape[0] != batch_size:
                raise ValueError(
                    f"bool_masked_pos has {bool_masked_pos.shape[0]} rows but pixel_values holds {batch_size} clips."
                )
            bool_masked_pos = bool_masked_pos.to(tokens.device)
        visible_indices, masked_indices = mask_to_indices(bool_masked_pos, num_visible)
        bool_decoded_pos = None
        if self.training and config.decoder_mask_ratio > 0:
            masked_indices = decoder_masking(masked_indices, config.decoder_mask_ratio)  # the tokens to reconstruct
            bool_decoded_pos = torch.zeros_like(bool_masked_pos).scatter_(1, masked_indices, True)
        return token_log_probs, bool_masked_pos, visible_indices, masked_indices, bool_decoded_pos

    def forward_encoder(
        self, tokens: torch.Tensor, visible_indices: torch.Tensor, output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:  # fmt: skip
        """Stage 2: the encoder on the visible tokens `(B, N_v)` of the tokenizer output `(B, N, hidden_size)`;
        `last_hidden_state` is `(B, N_v, hidden_size)`."""
        return self.adamae(
            inputs_embeds=tokens,
            visible_indices=visible_indices,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )

    def forward_decoder(
        self, encoded: torch.Tensor, visible_indices: torch.Tensor, masked_indices: torch.Tensor
    ) -> torch.Tensor:
        """
        Stage 3: the decoder on `[visible + pos ; mask_token + pos]` (position table gathered, tokens not
        un-shuffled).

        Args:
            encoded (`(B, N_v, hidden_size)`), visible_indices (`(B, N_v)`), masked_indices (`(B, N_m)`).
        Returns:
            `(B, N_m, patch_dim)`: predictions for the tokens `masked_indices`, in that order.
        """
        decoder_tokens = self.encoder_to_decoder(encoded)  # (B, N_v, D_dec)
        positions = self.decoder_position_embeddings[0].to(decoder_tokens.dtype)  # (N, D_dec)
        decoder_input = torch.cat(
            (decoder_tokens + positions[visible_indices], self.mask_token.to(decoder_tokens.dtype) + positions[masked_indices]),
            dim=1,
        )
        return self.decoder(decoder_input, masked_indices.shape[1])

    def forward_loss(
        self, pixel_values: torch.Tensor, logits: torch.Tensor, masked_indices: torch.Tensor,
        token_log_probs: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """
        Stage 4: the losses of Sec. 3.2 (see the class docstring), in float32.

        Args:
            pixel_values (`(B, T, C, H, W)`), logits (`(B, N_m, patch_dim)`), masked_indices (`(B, N_m)`),
            token_log_probs (`(B, N)`, *optional*): the sampler's log-probabilities (adaptive masking).
        Returns:
            `(loss, reconstruction_loss, sampling_loss)`, scalars; `sampling_loss` is `None` without a sampler.
        """
        with torch.no_grad():
            targets = gather_tokens(patchify_targets(pixel_values, self.config), masked_indices)
        per_token_loss = (logits.float() - targets).pow(2).mean(dim=-1)  # (B, N_m): L_R_i
        reconstruction_loss = per_token_loss.mean()
        if token_log_probs is None:
            return reconstruction_loss, reconstruction_loss, None
        masked_log_probs = torch.gather(token_log_probs, 1, masked_indices)  # (B, N_m)
        sampling_loss = -(masked_log_probs * per_token_loss.detach()).mean()
        return reconstruction_loss + self.config.sampling_loss_weight * sampling_loss, reconstruction_loss, sampling_loss

    @classmethod
    def from_videomae(cls, videomae, **config_overrides) -> AdaMAEForPreTraining:
        """Warm start from a transformers `VideoMAEForPreTraining` (a model or a checkpoint name/path); see
        `adamae_hf.conversion.load_videomae_weights`. The sampler is freshly initialised."""
        return _load_videomae_weights(cls, videomae, **config_overrides)


class AdaMAEForVideoClassification(AdaMAEPreTrainedModel):
    """
    AdaMAE encoder on all tokens with a classification head: mean pooling, `fc_norm` LayerNorm and a linear layer
    (`use_mean_pooling=True`, the fine-tuning model of the released code), or, with `use_mean_pooling=False`, the
    final LayerNorm and the first token (as transformers' VideoMAE).

    `labels` may be class ids `(B,)` (cross-entropy), soft targets `(B, num_labels)` summing to 1 (cross-entropy
    with probabilities, e.g. after mixup/cutmix), or follow `config.problem_type` (`"regression"`,
    `"multi_label_classification"`) as in transformers. Float labels are read as soft targets unless
    `problem_type` says otherwise.
    """

    def __init__(self, config: AdaMAEConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.adamae = AdaMAEModel(config, add_final_layernorm=encoder_has_final_layernorm(config, type(self)))
        self.fc_norm = nn.LayerNorm(config.hidden_size, eps=config.head_layer_norm_eps) if config.use_mean_pooling else None
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.classifier.is_classifier = True
        self.post_init()
        # Loaded from a pre-training checkpoint, the classifier reports the decoder and sampler it drops.
        self._keys_to_ignore_on_load_unexpected -= set(AdaMAEModel._keys_to_ignore_on_load_unexpected)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> ImageClassifierOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, T, C, H, W)`).
            labels (`torch.LongTensor` of shape `(B,)` or `torch.FloatTensor` of shape `(B, num_labels)`, *optional*).

        Returns:
            [`~transformers.modeling_outputs.ImageClassifierOutput`] with `logits` of shape `(B, num_labels)`.
        """
        output_attentions, output_hidden_states, return_dict = self._output_flags(
            output_attentions, output_hidden_states, return_dict
        )
        outputs = self.adamae(
            pixel_values, output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True
        )
        sequence_output = outputs.last_hidden_state
        pooled = self.fc_norm(sequence_output.mean(1)) if self.fc_norm is not None else sequence_output[:, 0]
        logits = self.classifier(pooled)
        loss = None if labels is None else self.classification_loss(logits, labels)
        output = ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict else output.to_tuple()

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss for `labels` as described in the class docstring (computed in float32)."""
        logits = logits.float()
        labels = labels.to(logits.device)
        problem_type = self.config.problem_type
        if problem_type is None:
            if self.num_labels == 1:
                problem_type = "regression"
            else:
                problem_type = "single_label_classification"
        if problem_type == "regression":
            return F.mse_loss(logits.squeeze(-1), labels.float().view(-1)) if self.num_labels == 1 else F.mse_loss(logits, labels.float())
        if problem_type == "multi_label_classification":
            return F.binary_cross_entropy_with_logits(logits, labels.float())
        if labels.is_floating_point():
            if labels.shape != logits.shape:
                raise ValueError(
                    f"Soft-target labels must have shape (batch_size, num_labels) = {tuple(logits.shape)}, "
                    f"got {tuple(labels.shape)}."
                )
            return F.cross_entropy(logits, labels)
        return F.cross_entropy(logits, labels.view(-1))

    @classmethod
    def from_videomae(cls, videomae, **config_overrides) -> AdaMAEForVideoClassification:
        """Load a transformers `VideoMAEForVideoClassification` (a model or a checkpoint name/path); see
        `adamae_hf.conversion.load_videomae_weights`."""
        return _load_videomae_weights(cls, videomae, **config_overrides)


def _load_videomae_weights(cls, videomae, **config_overrides):
    """`adamae_hf.conversion.load_videomae_weights`, imported by absolute name when called: this file must load
    beside a checkpoint (`trust_remote_code=True`) without the conversion code, which needs the `adamae_hf`
    package."""
    return importlib.import_module("adamae_hf.conversion").load_videomae_weights(cls, videomae, **config_overrides)


# The transformers Auto class of each model, by class name (registered by `adamae_hf/__init__.py`, written into the
# saved config's `auto_map` by `save_pretrained`).
AUTO_CLASSES = {
    "AutoModel": "AdaMAEModel",
    "AutoModelForPreTraining": "AdaMAEForPreTraining",
    "AutoModelForVideoClassification": "AdaMAEForVideoClassification",
}


__all__ = [
    "AUTO_CLASSES",
    "AdaMAEForPreTraining",
    "AdaMAEForPreTrainingOutput",
    "AdaMAEForVideoClassification",
    "AdaMAEModel",
    "AdaMAEPreTrainedModel",
    "AdaMAETokenSampler",
    "adaptive_masking",
    "decoder_masking",
    "frame_masking",
    "motion_energy",
    "motion_masking",
    "random_masking",
    "tube_masking",
    "encoder_has_final_layernorm",
    "patchify",
    "patchify_targets",
]
