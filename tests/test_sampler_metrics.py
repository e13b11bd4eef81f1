"""The sampler-focus metrics against hand-computed values, and on a model."""

import math

import pytest
import torch

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
from adamae_hf.sampler_metrics import (
    error_ratio,
    motion_correlation,
    motion_energy,
    object_mass_ratio,
    object_token_mask,
    sampler_focus,
    spearman_correlation,
)


def square_object(batch=1, time=4, size=8, top=0, left=0, side=4) -> torch.Tensor:
    masks = torch.zeros(batch, time, size, size, dtype=torch.bool)
    masks[:, :, top : top + side, left : left + side] = True
    return masks


def test_object_token_mask_coverage_threshold():
    # 4x4 patches, tubelet 2: an object covering 4 of 16 pixels in both frames is 25 % -> object token
    masks = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
    masks[0, :, 0:2, 0:2] = True  # 4 pixels of patch (0, 0) in both frames: exactly 25 %
    masks[0, 0, 4:6, 4:6] = True  # 4 pixels of patch (1, 1) in one frame only: 12.5 %
    tokens = object_token_mask(masks, tubelet_size=2, patch_size=4)
    assert tokens.shape == (1, 1, 2, 2)
    assert tokens.flatten().tolist() == [True, False, False, False]
    assert object_token_mask(masks, 2, 4, min_coverage=0.1).flatten().tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="min_coverage"):
        object_token_mask(masks, 2, 4, min_coverage=0.0)
    with pytest.raises(ValueError, match="divisible"):
        object_token_mask(masks, 2, 3)


def test_object_mass_ratio_uniform_all_on_object_and_half():
    masks = square_object(batch=1, time=4, size=8, side=4)  # 4x4 patches: 1 of 4 spatial tokens, share 1/4
    grid = (1, 2, 2, 2)  # T' = 2, 2 x 2 tokens
    uniform = torch.full(grid, 1 / 8)
    assert object_mass_ratio(uniform, masks, 2, 4).item() == pytest.approx(1.0)
    on_object = torch.zeros(grid)
    on_object[0, :, 0, 0] = 0.5
    assert object_mass_ratio(on_object, masks, 2, 4).item() == pytest.approx(4.0)  # 1 / share
    half = torch.full(grid, 0.5 / 6)
    half[0, :, 0, 0] = 0.25
    assert object_mass_ratio(half, masks, 2, 4).item() == pytest.approx(2.0)
    # unnormalised probabilities are normalised; no object -> NaN
    assert object_mass_ratio(uniform * 3, masks, 2, 4).item() == pytest.approx(1.0)
    assert math.isnan(object_mass_ratio(uniform, torch.zeros_like(masks), 2, 4).item())
    with pytest.raises(ValueError, match="token grid"):
        object_mass_ratio(torch.full((1, 4, 2, 2), 1 / 16), masks, 2, 4)


def test_spearman_hand_computed():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    y = torch.tensor([[10.0, 30.0, 20.0, 40.0]])  # one swap: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman_correlation(x, y).item() == pytest.approx(0.8)
    assert spearman_correlation(x, -y).item() == pytest.approx(-0.8)
    assert spearman_correlation(x, x.exp()).item() == pytest.approx(1.0)  # monotone transform
    # ties share their mean rank: y ranks (1.5, 1.5, 3, 4) -> Pearson of ranks
    ties = torch.tensor([[5.0, 5.0, 6.0, 7.0]])
    rx, ry = torch.tensor([1.0, 2, 3, 4]), torch.tensor([1.5, 1.5, 3, 4])
    expected = torch.corrcoef(torch.stack([rx, ry]))[0, 1].item()
    assert spearman_correlation(x, ties).item() == pytest.approx(expected)
    assert math.isnan(spearman_correlation(x, torch.ones_like(x)).item())
    # per sample: a batch of two
    both = spearman_correlation(torch.cat([x, x]), torch.cat([y, -y]))
    assert both.tolist() == pytest.approx([0.8, -0.8])


def test_motion_energy_hand_computed():
    video = torch.zeros(1, 4, 3, 4, 4)  # T=4, tubelet 2 -> differences 0->1 and 2->3 count, 1->2 does not
    video[0, 1, :, 0, 0] = 1.0  # frame 1 differs from frame 0 at pixel (0, 0), all channels
    video[0, 2:, :, 3, 3] = 2.0  # frames 2 and 3 equal: the change 1 -> 2 crosses tubelets, not counted
    energy = motion_energy(video, tubelet_size=2, patch_size=2)
    assert energy.shape == (1, 2, 2, 2)
    expected = torch.zeros(1, 2, 2, 2)
    expected[0, 0, 0, 0] = 1.0 / 4  # one pixel of the 2x2 patch changed by 1
    torch.testing.assert_close(energy, expected)
    # tubelet 1: each frame against the previous one (the first against the second)
    per_frame = motion_energy(video, tubelet_size=1, patch_size=2)
    assert per_frame.shape == (1, 4, 2, 2)
    assert per_frame[0, 0, 0, 0].item() == pytest.approx(0.25) and per_frame[0, 1, 0, 0].item() == pytest.approx(0.25)
    assert per_frame[0, 2, 1, 1].item() == pytest.approx(0.5) and per_frame[0, 3].abs().sum().item() == 0


def test_motion_correlation_follows_the_moving_token():
    video = torch.zeros(1, 4, 3, 4, 4)
    video[0, 1, :, :2, :2] = 1.0  # top-left patch changes inside tubelet 0
    energy = motion_energy(video, 2, 2)
    probabilities = energy + 0.1  # larger where the motion is, monotone in it
    assert motion_correlation(probabilities / probabilities.sum(), video, 2, 2).item() == pytest.approx(1.0)


def test_error_ratio_hand_computed():
    errors = torch.tensor([[1.0, 3.0, 2.0]])  # masked tokens 0, 2, 3 of 4
    masked_indices = torch.tensor([[0, 2, 3]])
    object_tokens = torch.tensor([[False, True, True, False]])  # object tokens 1 and 2; only 2 is masked
    assert error_ratio(errors, masked_indices, object_tokens).item() == pytest.approx(3.0 / 2.0)
    assert math.isnan(error_ratio(errors, masked_indices, torch.tensor([[False, True, False, False]])).item())


def tiny_model() -> AdaMAEForPreTraining:
    torch.manual_seed(0)
    config = AdaMAEConfig(
        image_size=16, patch_size=4, num_frames=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
        decoder_intermediate_size=32, sampler_num_attention_heads=2, mask_ratio=0.75,
    )  # fmt: skip
    return AdaMAEForPreTraining(config)


def test_sampler_focus_of_a_uniform_sampler_is_one():
    model = tiny_model().train()
    with torch.no_grad():  # a sampler whose scores are constant: the uniform distribution
        model.token_sampler.head.weight.zero_()
    pixel_values = torch.randn(3, 4, 3, 16, 16)
    masks = square_object(batch=3, time=4, size=16, top=4, left=4, side=8)
    metrics = sampler_focus(model, pixel_values, masks, seed=0)
    assert model.training  # restored
    assert metrics["object_mass_ratio"] == pytest.approx(1.0, abs=1e-5)
    assert metrics["object_token_share"] == pytest.approx(4 / 16)
    assert math.isnan(metrics["motion_correlation"])  # constant probabilities have no ranking
    assert metrics["error_ratio"] > 0 and metrics["reconstruction_loss"] > 0
    # the same seed gives the same random mask, hence the same errors
    assert sampler_focus(model, pixel_values, masks, seed=0) == pytest.approx(metrics, nan_ok=True)
    without_masks = sampler_focus(model, pixel_values, seed=0)
    assert set(without_masks) == {"motion_correlation", "reconstruction_loss"}


def test_sampler_focus_needs_a_sampler():
    model = AdaMAEForPreTraining(AdaMAEConfig(**{**tiny_model().config.to_dict(), "mask_type": "tube"}))
    with pytest.raises(ValueError, match="adaptive"):
        sampler_focus(model, torch.randn(1, 4, 3, 16, 16))


def synthetic_batch(count: int, split: int, size: int = 32, frames: int = 4, object_radius=(0.13, 0.17)):
    """In-memory clips of the synthetic dataset's renderer (no video encoding): every 4th of 16 frames. The object
    radius is the one the behaviour test below was measured with (dataset format 3; format 4 draws 0.22-0.28)."""
    import numpy as np

    from adamae_hf.data.synthetic import MOTIONS, render_clip

    videos, masks = zip(*(render_clip(np.random.default_rng([0, split, i]), MOTIONS[i % 8], 16, size, size,
                                      object_radius=object_radius) for i in range(count)))  # fmt: skip
    step = 16 // frames
    video = torch.from_numpy(np.stack(videos)[:, ::step]).permute(0, 1, 4, 2, 3).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
    return (video - mean) / std, torch.from_numpy(np.stack(masks)[:, ::step])


def test_the_sampler_learns_to_focus_on_the_moving_object():
    """Behaviour: 160 AdamW steps of pre-training on synthetic clips move the sampler's probability onto the moving
    object. Measured: object-mass ratio 1.35 -> 2.02, motion correlation 0.05 -> 0.52, error ratio 1.02 -> 3.37
    (object tokens become the hard ones once the static background is learnt), reconstruction loss 1.48 -> 0.51."""
    from transformers import get_cosine_schedule_with_warmup

    from adamae_hf.optimization import build_adamw

    torch.manual_seed(0)
    config = AdaMAEConfig(
        image_size=32, patch_size=4, num_frames=4, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=256, decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=4,
        decoder_intermediate_size=128, sampler_num_attention_heads=4, mask_ratio=0.9,
    )  # fmt: skip
    model = AdaMAEForPreTraining(config)
    train_pixels, _ = synthetic_batch(256, split=0)
    val_pixels, val_masks = synthetic_batch(32, split=1)
    before = sampler_focus(model, val_pixels, val_masks)
    optimizer = build_adamw(model, 4e-3, 0.05, betas=(0.9, 0.95))
    schedule = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=10, num_training_steps=160)
    generator = torch.Generator().manual_seed(0)
    for _ in range(160):
        batch = train_pixels[torch.randint(0, len(train_pixels), (16,), generator=generator)]
        model(batch).loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    after = sampler_focus(model, val_pixels, val_masks)
    assert after["object_mass_ratio"] > max(1.6, before["object_mass_ratio"] + 0.3), (before, after)
    assert after["motion_correlation"] > 0.35 and after["error_ratio"] > 2.0, (before, after)
    assert after["reconstruction_loss"] < 0.8 * before["reconstruction_loss"], (before, after)
