"""Decoder masking (`AdaMAEConfig.decoder_mask_ratio`, VideoMAE V2's dual masking): off by default and then the
released model bit for bit; when on, the decoder reconstructs a random subset of the masked tokens of the requested
size, both losses cover that subset, and the sampler still learns only from the sampling loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
from adamae_hf.modeling_adamae import decoder_masking, patchify_targets, tube_masking
from adamae_hf.training import ArgumentError, apply_config_overrides


TINY = dict(
    image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=64, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=128, decoder_hidden_size=32, decoder_num_hidden_layers=2,
    decoder_num_attention_heads=4, decoder_intermediate_size=64, sampler_num_attention_heads=4, mask_ratio=0.75,
)  # fmt: skip  # 2 x 4 x 4 = 32 tokens, 8 visible, 24 masked


def tiny_model(**overrides) -> AdaMAEForPreTraining:
    torch.manual_seed(0)
    return AdaMAEForPreTraining(AdaMAEConfig(**{**TINY, **overrides})).train()


def clips(batch_size: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch_size, 4, 3, 32, 32), generator=generator)


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, True, "0.5", None])
def test_invalid_decoder_mask_ratio_names_the_field(value):
    with pytest.raises(ValueError, match=r"AdaMAEConfig\.decoder_mask_ratio="):
        AdaMAEConfig(**TINY, decoder_mask_ratio=value)


def test_default_is_off_and_reproduces_the_released_model_bit_for_bit():
    """Values recorded with the code before decoder masking existed (same seeds, same tiny model): the mask, the
    losses and the logits are unchanged, and the forward draws no extra random number (the next draw is the same)."""
    assert AdaMAEConfig().decoder_mask_ratio == 0.0
    model = tiny_model(decoder_mask_ratio=0.0)
    torch.manual_seed(1)
    outputs = model(clips(2))
    next_draw = torch.rand(1).item()
    assert outputs.bool_decoded_pos is None
    assert outputs.logits.shape == (2, 24, 384)
    masked = outputs.bool_masked_pos.nonzero()[:, 1].tolist()[:24]
    assert masked == [0, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 19, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31]
    assert next_draw == 0.5721273422241211
    torch.testing.assert_close(outputs.loss.item(), 1.1452336311340332, rtol=1e-6, atol=0)
    torch.testing.assert_close(outputs.reconstruction_loss.item(), 1.1447137594223022, rtol=1e-6, atol=0)
    torch.testing.assert_close(outputs.sampling_loss.item(), 5.199029445648193, rtol=1e-6, atol=0)
    torch.testing.assert_close(outputs.logits.double().sum().item(), 307.9451532345033, rtol=1e-6, atol=0)


def test_zero_ratio_and_eval_mode_decode_every_masked_token_identically():
    """Same weights, same mask: ratio 0.0 and ratio 0.5 in eval mode give identical outputs (eval decodes all)."""
    mask = tube_masking(2, (2, 4, 4), 12)
    off, on = tiny_model(decoder_mask_ratio=0.0).eval(), tiny_model(decoder_mask_ratio=0.5).eval()
    expected, outputs = off(clips(2), bool_masked_pos=mask), on(clips(2), bool_masked_pos=mask)
    assert outputs.bool_decoded_pos is None
    assert torch.equal(outputs.logits, expected.logits)
    assert torch.equal(outputs.loss, expected.loss)


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.9])
def test_decoded_subset_has_the_requested_size_and_lies_in_the_mask(ratio):
    model = tiny_model(decoder_mask_ratio=ratio)
    outputs = model(clips(3))
    num_decoded = 24 - int(ratio * 24)
    decoded = outputs.bool_decoded_pos
    assert outputs.logits.shape == (3, num_decoded, 384)
    assert decoded.shape == (3, 32) and decoded.sum(dim=1).tolist() == [num_decoded] * 3
    assert not (decoded & ~outputs.bool_masked_pos).any()  # only masked tokens are reconstructed
    # with a given mask of another size the subset follows that mask's count
    mask = tube_masking(3, (2, 4, 4), 8)  # 16 masked
    outputs = model(clips(3), bool_masked_pos=mask)
    assert outputs.logits.shape[1] == 16 - int(ratio * 16)
    assert not (outputs.bool_decoded_pos & ~mask).any()


def test_losses_cover_exactly_the_decoded_subset():
    model = tiny_model(decoder_mask_ratio=0.5)
    pixel_values = clips(2)
    outputs = model(pixel_values)
    decoded = outputs.bool_decoded_pos
    targets = patchify_targets(pixel_values, model.config)[decoded].view(2, 12, -1)  # increasing token order
    per_token = (outputs.logits - targets).pow(2).mean(dim=-1)
    torch.testing.assert_close(outputs.reconstruction_loss, per_token.mean())
    log_probs = outputs.token_probabilities.log()[decoded].view(2, 12)
    torch.testing.assert_close(outputs.sampling_loss, -(log_probs * per_token).mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outputs.loss, outputs.reconstruction_loss + 1e-4 * outputs.sampling_loss)


def test_sampler_learns_only_from_the_sampling_loss_with_decoder_masking():
    model = tiny_model(decoder_mask_ratio=0.5)
    outputs = model(clips(2))
    outputs.reconstruction_loss.backward(retain_graph=True)
    assert all(p.grad is None or not p.grad.any() for p in model.token_sampler.parameters())
    assert model.decoder.head.weight.grad.abs().sum() > 0
    model.zero_grad()
    outputs.sampling_loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.token_sampler.layers.parameters())
    assert all(p.grad is None or not p.grad.any() for p in model.decoder.parameters())


def test_subset_is_uniform_over_the_masked_tokens_and_in_token_order():
    torch.manual_seed(0)
    masked_indices = torch.arange(3, 33, 3).repeat(4000, 1)  # 10 masked tokens per row
    kept = decoder_masking(masked_indices, 0.6)
    assert kept.shape == (4000, 4)
    assert (kept.diff(dim=1) > 0).all()  # increasing token order, no repeats
    frequency = torch.bincount(kept.flatten(), minlength=33)[3::3].float() / 4000
    assert ((frequency - 0.4).abs() < 0.03).all(), frequency
    assert decoder_masking(masked_indices, 0.0) is masked_indices


def test_a_few_dozen_steps_with_decoder_masking_lower_the_loss_on_all_masked_tokens():
    model = tiny_model(decoder_mask_ratio=0.5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    texture = torch.randn((4, 1, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    pixel_values = texture.repeat(1, 4, 1, 4, 4)
    mask = tube_masking(4, (2, 4, 4), 12)

    def full_loss():
        model.eval()
        with torch.no_grad():
            loss = model(pixel_values, bool_masked_pos=mask).reconstruction_loss.item()
        model.train()
        return loss

    before = full_loss()
    for _ in range(30):
        model(pixel_values).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert full_loss() < 0.6 * before


def test_decoder_mask_ratio_through_config_overrides_and_save_pretrained(tmp_path):
    config = apply_config_overrides(AdaMAEConfig(**TINY), "decoder_mask_ratio=0.5")
    assert config.decoder_mask_ratio == 0.5
    config.save_pretrained(tmp_path)
    assert AdaMAEConfig.from_pretrained(tmp_path).decoder_mask_ratio == 0.5
    with pytest.raises(ArgumentError, match="decoder_mask_ratio"):
        apply_config_overrides(config, "decoder_mask_ratio=1.0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: host-device syncs only exist on a GPU")
def test_decoder_masking_step_has_no_host_device_sync():
    device = torch.device("cuda")
    model = tiny_model(decoder_mask_ratio=0.5).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    pixel_values = clips(2).to(device)

    def step():
        loss = model(pixel_values).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(loss).item()


def test_run_pretraining_takes_decoder_mask_ratio_from_config_overrides(tmp_path):
    """scripts/run_pretraining.py trains with `--config_overrides ...,decoder_mask_ratio=0.5` and saves it."""
    root = Path(__file__).resolve().parents[1]
    tiny = (
        "image_size=32,patch_size=8,num_frames=8,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
        "intermediate_size=64,decoder_hidden_size=32,decoder_num_hidden_layers=1,decoder_num_attention_heads=2,"
        "decoder_intermediate_size=64,sampler_num_attention_heads=2,decoder_mask_ratio=0.5"
    )
    env = dict(os.environ, PYTHONPATH=str(root / "src"), OMP_NUM_THREADS="1", ADAMAE_HF_CACHE=str(tmp_path / "cache"))
    env.pop("ACCELERATE_CONFIG_FILE", None)
    result = subprocess.run(
        [sys.executable, str(root / "scripts" / "run_pretraining.py"), "--config_overrides", tiny,
         "--synthetic_num_classes", "2", "--synthetic_train_per_class", "2", "--synthetic_image_size", "32",
         "--per_device_train_batch_size", "2", "--max_train_steps", "2", "--output_dir", str(tmp_path / "out"),
         "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "1"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "config.json").read_text())["decoder_mask_ratio"] == 0.5
    assert any((tmp_path / "out" / "visualizations").glob("final_clip0.png"))  # eval pictures decode every token
