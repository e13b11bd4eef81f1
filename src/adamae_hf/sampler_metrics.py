"""Where does the sampler put its probability? Metrics of sampler focus, against ground truth or motion.

AdaMAE's claim (paper, Sec. 3 and Fig. 1/4) is that the adaptive token sampler learns to put its probability, and
so the visible tokens, on the tokens with high spatiotemporal information: the moving parts of a clip. These
functions measure it, on any video (motion correlation) or where ground-truth object masks exist (object-mass and
error ratios; the embedded synthetic dataset has them, :func:`adamae_hf.data.load_synthetic_mask`).

Shapes: ``token_probabilities`` is ``(B, T / tubelet_size, H / patch_size, W / patch_size)`` (what
:meth:`AdaMAEForPreTraining.get_token_probabilities` returns, summing to 1 per clip); ``pixel_values`` is
``(B, T, C, H, W)``; ``object_masks`` is bool ``(B, T, H, W)``, True on object pixels, for the same frames and
crop as ``pixel_values``.

Definitions (this package's, from the "show that the sampler learns" issue):

- *object token*: a token whose tubelet (``tubelet_size x patch_size x patch_size`` pixels) the object covers at
  least ``min_coverage`` (default 25 %).
- *object-mass ratio*: the probability mass on object tokens divided by the object tokens' share of all tokens.
  1.0 is a uniform sampler; the maximum is ``1 / share`` (all mass on the object).
- *error ratio*: the mean reconstruction error (per-token MSE, the model's ``L_R_i``) of the masked object tokens
  divided by the mean error of all masked tokens, under a uniform random mask. Above 1 means object tokens are
  harder to reconstruct: what the sampling loss rewards sampling (Sec. 3.2).
- *motion correlation*: Spearman's rank correlation, over the tokens of a clip, between the probabilities and each
  token's motion energy: the mean absolute difference between consecutive frames inside its tubelet (between a
  frame and the previous one when ``tubelet_size == 1``), averaged over pixels and channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .configuration_adamae import AdaMAEConfig
from .modeling_adamae import mask_to_indices, motion_energy, patchify_targets, random_masking


__all__ = [
    "motion_correlation",
    "motion_energy",
    "object_mass_ratio",
    "object_token_mask",
    "error_ratio",
    "per_token_errors",
    "sampler_focus",
    "spearman_correlation",
    "uniform_random_mask",
]


def _check_grid(name: str, size: int, step: int, what: str) -> None:
    if size % step:
        raise ValueError(f"{name} of size {size} is not divisible by {what} {step}")


def object_token_mask(
    object_masks: torch.Tensor, tubelet_size: int, patch_size: int, min_coverage: float = 0.25
) -> torch.BoolTensor:
    """Tokens that the object covers at least ``min_coverage`` of.

    Args:
        object_masks (`torch.BoolTensor` of shape `(B, T, H, W)`): True on object pixels.
        tubelet_size, patch_size: the model's token size (frames, pixels).
        min_coverage: fraction of the tubelet's pixels, in (0, 1].

    Returns:
        `torch.BoolTensor` of shape `(B, T / tubelet_size, H / patch_size, W / patch_size)`.

    Raises:
        ValueError: wrong rank, sizes not divisible by the token size, or `min_coverage` outside (0, 1].
    """
    if object_masks.dim() != 4:
        raise ValueError(f"object_masks must be (B, T, H, W), got shape {tuple(object_masks.shape)}")
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    _, time, height, width = object_masks.shape
    _check_grid("T", time, tubelet_size, "tubelet_size")
    _check_grid("H", height, patch_size, "patch_size")
    _check_grid("W", width, patch_size, "patch_size")
    coverage = F.avg_pool3d(
        object_masks.float()[:, None], kernel_size=(tubelet_size, patch_size, patch_size)
    )[:, 0]  # (B, T', h, w): fraction of object pixels per tubelet
    return coverage >= min_coverage - 1e-6


def object_mass_ratio(
    token_probabilities: torch.Tensor,
    object_masks: torch.Tensor,
    tubelet_size: int,
    patch_size: int,
    min_coverage: float = 0.25,
) -> torch.Tensor:
    """Probability mass on object tokens over the object tokens' share of all tokens, per clip.

    Args:
        token_probabilities (`torch.Tensor` of shape `(B, T', h, w)`): a distribution over the tokens of each clip.
        object_masks (`torch.BoolTensor` of shape `(B, T, H, W)`): see :func:`object_token_mask`.

    Returns:
        `torch.Tensor` of shape `(B,)`: 1.0 for a uniform distribution, `1 / share` with all mass on the object;
        NaN for a clip without object tokens.

    Raises:
        ValueError: if the token grid of `object_masks` differs from that of `token_probabilities`.
    """
    on_object = object_token_mask(object_masks, tubelet_size, patch_size, min_coverage)
    if on_object.shape != token_probabilities.shape:
        raise ValueError(
            f"object masks give a token grid {tuple(on_object.shape)} but token_probabilities has shape "
            f"{tuple(token_probabilities.shape)}"
        )
    probabilities = token_probabilities.flatten(1).double()
    on_object = on_object.flatten(1)
    mass = (probabilities * on_object).sum(1) / probabilities.sum(1)
    share = on_object.double().mean(1)
    return (mass / share).float()  # 0 / 0 = NaN where there is no object token


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 along the last dimension, ties sharing their mean rank (as `scipy.stats.rankdata`)."""
    order = values.argsort(dim=-1, stable=True)
    sorted_values = values.gather(-1, order)
    n = values.shape[-1]
    positions = torch.arange(n, device=values.device, dtype=torch.float64).expand_as(sorted_values)
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[..., 1:] = sorted_values[..., 1:] != sorted_values[..., :-1]
    group = new_group.long().cumsum(-1) - 1  # group id of each sorted position
    group_sum = torch.zeros_like(positions).scatter_add_(-1, group, positions)
    group_count = torch.zeros_like(positions).scatter_add_(-1, group, torch.ones_like(positions))
    mean_rank = (group_sum / group_count.clamp(min=1)).gather(-1, group)
    return torch.empty_like(mean_rank).scatter_(-1, order, mean_rank)


def spearman_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between `x` and `y` over all but the first dimension.

    Ties get their average rank (the usual definition; equal to `scipy.stats.spearmanr`).

    Args:
        x, y (`torch.Tensor` of the same shape `(B, ...)`).

    Returns:
        `torch.Tensor` of shape `(B,)` in [-1, 1]; NaN where `x` or `y` is constant.
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    rank_x = _average_ranks(x.flatten(1).double())
    rank_y = _average_ranks(y.flatten(1).double())
    rank_x = rank_x - rank_x.mean(1, keepdim=True)
    rank_y = rank_y - rank_y.mean(1, keepdim=True)
    denominator = (rank_x.pow(2).sum(1) * rank_y.pow(2).sum(1)).sqrt()
    return ((rank_x * rank_y).sum(1) / denominator).float()  # 0 / 0 = NaN for a constant input


def motion_correlation(
    token_probabilities: torch.Tensor, pixel_values: torch.Tensor, tubelet_size: int, patch_size: int
) -> torch.Tensor:
    """Spearman correlation over tokens between the sampler's probabilities and motion energy, per clip.

    Args:
        token_probabilities (`torch.Tensor` of shape `(B, T', h, w)`).
        pixel_values (`torch.Tensor` of shape `(B, T, C, H, W)`).

    Returns:
        `torch.Tensor` of shape `(B,)` in [-1, 1] (NaN for a uniform sampler or a still clip).
    """
    energy = motion_energy(pixel_values, tubelet_size, patch_size)
    if energy.shape != token_probabilities.shape:
        raise ValueError(
            f"pixel_values give a token grid {tuple(energy.shape)} but token_probabilities has shape "
            f"{tuple(token_probabilities.shape)}"
        )
    return spearman_correlation(token_probabilities, energy)


def per_token_errors(
    model, pixel_values: torch.Tensor, bool_masked_pos: torch.BoolTensor, config: AdaMAEConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run a pre-training model with a given mask; return its per-token reconstruction errors.

    Args:
        model: an [`AdaMAEForPreTraining`], or a wrapper of one whose forward it is (DDP, FSDP, compiled); then
            pass `config`.
        pixel_values (`torch.Tensor` of shape `(B, T, C, H, W)`).
        bool_masked_pos (`torch.BoolTensor` of shape `(B, N)`): True = masked, the same count per clip.

    Returns:
        `(errors, masked_indices, token_probabilities)`: `errors` `(B, N_m)` float32, the model's `L_R_i` for the
        masked tokens listed in `masked_indices` `(B, N_m)` (increasing order); `token_probabilities` `(B, N)` from
        the sampler (None without one).
    """
    config = config if config is not None else model.config
    num_visible = config.num_tokens - int(bool_masked_pos[0].sum())
    output = model(pixel_values, bool_masked_pos=bool_masked_pos)
    _, masked_indices = mask_to_indices(bool_masked_pos, num_visible)
    targets = patchify_targets(pixel_values, config)
    targets = targets.gather(1, masked_indices[..., None].expand(-1, -1, targets.shape[-1]))
    errors = (output.logits.float() - targets).pow(2).mean(-1)
    return errors, masked_indices, output.token_probabilities


def uniform_random_mask(
    batch_size: int, config: AdaMAEConfig, generator: torch.Generator | None = None, device=None
) -> torch.BoolTensor:
    """A `(B, N)` mask of `config.mask_ratio`, uniform without replacement, reproducible from `generator`."""
    num_masked = int(config.mask_ratio * config.num_tokens)
    if generator is None:
        return random_masking(batch_size, config.num_tokens, num_masked, device)
    noise = torch.rand(batch_size, config.num_tokens, generator=generator, device=generator.device)
    return (noise.argsort(dim=1).argsort(dim=1) < num_masked).to(device)


def error_ratio(
    errors: torch.Tensor, masked_indices: torch.Tensor, object_tokens: torch.BoolTensor
) -> torch.Tensor:
    """Mean error of the masked object tokens over the mean error of all masked tokens, per clip.

    Args:
        errors (`torch.Tensor` of shape `(B, N_m)`) and masked_indices (`(B, N_m)`): from [`per_token_errors`].
        object_tokens (`torch.BoolTensor` of shape `(B, N)` or `(B, T', h, w)`): from [`object_token_mask`].

    Returns:
        `torch.Tensor` of shape `(B,)`; NaN for a clip none of whose object tokens is masked.
    """
    on_object = object_tokens.flatten(1).to(errors.device).gather(1, masked_indices).double()
    object_error = (errors.double() * on_object).sum(1) / on_object.sum(1)
    return (object_error / errors.double().mean(1)).float()


def _nanmean(values: torch.Tensor) -> float:
    finite = values[torch.isfinite(values)]
    return finite.mean().item() if finite.numel() else math.nan


@torch.no_grad()
def sampler_focus(
    model,
    pixel_values: torch.Tensor,
    object_masks: torch.Tensor | None = None,
    config: AdaMAEConfig | None = None,
    min_coverage: float = 0.25,
    seed: int = 0,
) -> dict[str, float]:
    """All the focus metrics of a pre-training model on a batch of clips, averaged over the clips.

    One forward pass in eval mode (the model's mode is restored after) with a uniform random mask drawn from
    `seed`: the sampler's probabilities do not depend on the mask, and the errors are those of that mask. Clips
    where a metric is undefined (NaN) are left out of its mean.

    Args:
        model: an [`AdaMAEForPreTraining`] with `mask_type="adaptive"`, or a wrapper of one (pass `config`).
        pixel_values (`torch.Tensor` of shape `(B, T, C, H, W)`).
        object_masks (`torch.BoolTensor` of shape `(B, T, H, W)`, *optional*): ground truth, for the object-mass
            and error ratios.

    Returns:
        `{"motion_correlation", "reconstruction_loss"}` (the latter: mean `L_R_i` under the uniform random mask),
        plus `"object_mass_ratio"`, `"error_ratio"` and `"object_token_share"` where `object_masks` is given.
    """
    config = config if config is not None else model.config
    if config.mask_type != "adaptive":
        raise ValueError(f"sampler focus needs mask_type='adaptive', the model has {config.mask_type!r}")
    was_training = model.training
    model.eval()
    try:
        generator = torch.Generator().manual_seed(seed)
        mask = uniform_random_mask(pixel_values.shape[0], config, generator, pixel_values.device)
        errors, masked_indices, probabilities = per_token_errors(model, pixel_values, mask, config)
    finally:
        model.train(was_training)
    probabilities = probabilities.float().cpu().view(-1, *config.token_grid)
    errors, masked_indices = errors.cpu(), masked_indices.cpu()
    grid = (config.tubelet_size, config.patch_size)
    metrics = {
        "motion_correlation": _nanmean(motion_correlation(probabilities, pixel_values.float().cpu(), *grid)),
        "reconstruction_loss": errors.mean().item(),
    }
    if object_masks is not None:
        object_masks = object_masks.cpu().bool()
        object_tokens = object_token_mask(object_masks, *grid, min_coverage)
        metrics["object_mass_ratio"] = _nanmean(object_mass_ratio(probabilities, object_masks, *grid, min_coverage))
        metrics["error_ratio"] = _nanmean(error_ratio(errors, masked_indices, object_tokens))
        metrics["object_token_share"] = object_tokens.float().mean().item()
    return metrics
