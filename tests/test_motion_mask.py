"""mask_type="motion": visible tokens drawn in proportion to motion energy plus a uniform floor."""

import pytest
import torch

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
from adamae_hf.modeling_adamae import motion_energy, motion_masking


GRID = (2, 4, 4)  # 4 frames of 32x32 pixels, tubelet 2, patch 8: 32 tokens


def small_config(**overrides) -> AdaMAEConfig:
    values = dict(
        image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2, decoder_intermediate_size=32, mask_type="motion", mask_ratio=0.875,
    )  # fmt: skip
    return AdaMAEConfig(**{**values, **overrides})


def clip_with_motion(batch: int = 1) -> torch.Tensor:
    """`(batch, 4, 3, 32, 32)`: static noise everywhere, and the top-left 16x16 pixels (tokens (h, w) in {0, 1}^2 of
    both slices: 8 of 32) flicker between frames."""
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(1, 1, 3, 32, 32, generator=generator).expand(1, 4, 3, 32, 32).clone()
    video[:, :, :, :16, :16] = torch.randn(1, 4, 3, 16, 16, generator=generator)
    return video.expand(batch, -1, -1, -1, -1)


def moving_tokens() -> torch.Tensor:
    grid = torch.zeros(GRID, dtype=torch.bool)
    grid[:, :2, :2] = True
    return grid.flatten()


def test_moving_tokens_are_visible_far_more_often_than_static_ones():
    torch.manual_seed(0)
    masks = motion_masking(clip_with_motion(4000), GRID, num_visible=4, floor=0.1)
    visible_rate = (~masks).float().mean(0)  # per token, over 4000 draws
    moving = moving_tokens()
    # 8 moving tokens share 90 % of the mass (+ floor): almost every draw sees only them; static tokens ~1 % each
    assert visible_rate[moving].min() > 0.4
    assert visible_rate[~moving].max() < 0.05
    assert visible_rate[moving].mean() > 20 * visible_rate[~moving].mean()


def test_single_draw_probabilities_are_the_motion_share_plus_the_floor():
    """With one visible token the draw is one categorical sample: P(token i) = (1 - f) e_i / sum e + f / N."""
    torch.manual_seed(1)
    video = clip_with_motion(20000)
    floor = 0.3
    masks = motion_masking(video, GRID, num_visible=1, floor=floor)
    energy = motion_energy(video[:1], 2, 8).flatten()
    expected = (1 - floor) * energy / energy.sum() + floor / energy.numel()
    observed = (~masks).float().mean(0)
    standard_error = (expected * (1 - expected) / 20000).sqrt()
    assert ((observed - expected).abs() < 5 * standard_error + 1e-4).all()


def test_a_static_clip_gets_a_uniform_mask():
    torch.manual_seed(2)
    still = torch.randn(1, 1, 3, 32, 32).expand(8000, 4, 3, 32, 32)
    masks = motion_masking(still, GRID, num_visible=4, floor=0.1)
    visible_rate = (~masks).float().mean(0)
    # uniform: every token visible with probability 4 / 32; standard error sqrt(0.125 * 0.875 / 8000) = 0.0037
    assert (visible_rate - 0.125).abs().max() < 0.02


def test_exactly_num_visible_per_clip_and_deterministic_under_a_seed():
    video = torch.cat([clip_with_motion(3), torch.zeros(2, 4, 3, 32, 32)])  # moving and static clips in one batch
    torch.manual_seed(3)
    first = motion_masking(video, GRID, num_visible=5, floor=0.05)
    torch.manual_seed(3)
    again = motion_masking(video, GRID, num_visible=5, floor=0.05)
    assert first.shape == (5, 32) and first.dtype == torch.bool
    assert ((~first).sum(1) == 5).all()
    assert torch.equal(first, again)
    torch.manual_seed(4)
    assert not torch.equal(first, motion_masking(video, GRID, num_visible=5, floor=0.05))


def test_the_mask_does_not_depend_on_the_pixel_scale():
    """Normalised or raw pixels give the same mask: the energy is normalised by its sum (x4 is exact in floats)."""
    video = clip_with_motion(6)
    torch.manual_seed(5)
    first = motion_masking(video, GRID, num_visible=4, floor=0.1)
    torch.manual_seed(5)
    assert torch.equal(first, motion_masking(video * 4.0, GRID, num_visible=4, floor=0.1))


def test_pretraining_forward_with_a_motion_mask():
    torch.manual_seed(6)
    config = small_config()
    model = AdaMAEForPreTraining(config)
    assert model.token_sampler is None  # not learned: no sampler, no sampling loss
    video = clip_with_motion(3).clone()
    outputs = model(video)
    assert ((~outputs.bool_masked_pos).sum(1) == config.num_visible_tokens).all()
    assert config.num_visible_tokens == 4  # int(32 * (1 - 0.875)), as the adaptive mask counts
    assert outputs.sampling_loss is None and outputs.token_probabilities is None
    assert torch.isfinite(outputs.loss) and torch.equal(outputs.loss, outputs.reconstruction_loss)
    assert outputs.logits.shape == (3, 28, 2 * 8 * 8 * 3)
    outputs.loss.backward()
    assert model.adamae.embeddings.patch_embeddings.projection.weight.grad is not None
    given = outputs.bool_masked_pos
    assert torch.equal(model(video, bool_masked_pos=given).bool_masked_pos, given)  # a given mask is used as is


def test_sample_mask_needs_pixel_values_for_motion():
    model = AdaMAEForPreTraining(small_config())
    with pytest.raises(ValueError, match="mask_type='motion' needs the clips' pixel_values"):
        model.sample_mask(2)
    mask = model.sample_mask(2, pixel_values=clip_with_motion(2))
    assert mask.shape == (2, 32)


@pytest.mark.parametrize("floor", [0.0, -0.1, 1.5, True, "0.1", float("nan")])
def test_motion_mask_floor_is_validated(floor):
    with pytest.raises(ValueError, match="motion_mask_floor"):
        small_config(motion_mask_floor=floor)


def test_motion_mask_floor_round_trips_through_the_config(tmp_path):
    config = small_config(motion_mask_floor=0.25)
    config.save_pretrained(tmp_path)
    assert AdaMAEConfig.from_pretrained(tmp_path).motion_mask_floor == 0.25
    assert AdaMAEConfig().motion_mask_floor == 0.1
