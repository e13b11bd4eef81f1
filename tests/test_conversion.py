"""Conversion of released AdaMAE / VideoMAE checkpoints, checked against an independent plain-torch forward."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adamae_hf.conversion import (
    ConversionError,
    convert_checkpoint,
    convert_state_dict,
    infer_config,
    infer_config_report,
    load_original_state_dict,
)


# Tiny model: 4 frames of 32x32, tubelet 2, patch 8 -> 2 x 4 x 4 = 32 tokens.
HIDDEN, LAYERS, HEADS, MLP = 64, 2, 4, 128
DEC_HIDDEN, DEC_LAYERS, DEC_HEADS, DEC_MLP = 32, 1, 2, 64
FRAMES, IMAGE, PATCH, TUBELET = 4, 32, 8, 2
NUM_TOKENS = (FRAMES // TUBELET) * (IMAGE // PATCH) ** 2
PATCH_DIM = TUBELET * PATCH * PATCH * 3
NUM_CLASSES = 5
FLAGS = {"image_size": IMAGE, "num_attention_heads": HEADS, "decoder_num_attention_heads": DEC_HEADS, "sampler_num_attention_heads": 2}


def sincos_table(num_positions: int, dim: int) -> torch.Tensor:
    """VideoMAE's `get_sinusoid_encoding_table`, written as in the original (numpy) code."""
    table = np.array(
        [[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(num_positions)]
    )
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.tensor(table, dtype=torch.float32).unsqueeze(0)


def block_state(prefix: str, dim: int, mlp: int, qv_bias: bool, generator: torch.Generator) -> dict[str, torch.Tensor]:
    def rand(*shape, scale=0.05):
        return torch.randn(*shape, generator=generator) * scale

    state = {
        f"{prefix}norm1.weight": 1 + rand(dim, scale=0.1), f"{prefix}norm1.bias": rand(dim),
        f"{prefix}attn.qkv.weight": rand(3 * dim, dim, scale=0.2),
        f"{prefix}attn.proj.weight": rand(dim, dim, scale=0.2), f"{prefix}attn.proj.bias": rand(dim),
        f"{prefix}norm2.weight": 1 + rand(dim, scale=0.1), f"{prefix}norm2.bias": rand(dim),
        f"{prefix}mlp.fc1.weight": rand(mlp, dim, scale=0.2), f"{prefix}mlp.fc1.bias": rand(mlp),
        f"{prefix}mlp.fc2.weight": rand(dim, mlp, scale=0.2), f"{prefix}mlp.fc2.bias": rand(dim),
    }  # fmt: skip
    if qv_bias:
        state[f"{prefix}attn.q_bias"] = rand(dim, scale=0.1)
        state[f"{prefix}attn.v_bias"] = rand(dim, scale=0.1)
    return state


def released_state_dict(kind: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the released layout: `adamae` (pre-training + sampler), `videomae` (no sampler), `finetuned`."""
    g = torch.Generator().manual_seed(seed)
    conv = {"patch_embed.proj.weight": torch.randn(HIDDEN, 3, TUBELET, PATCH, PATCH, generator=g) * 0.05,
            "patch_embed.proj.bias": torch.randn(HIDDEN, generator=g) * 0.05}  # fmt: skip
    if kind == "finetuned":
        sd = dict(conv)
        for i in range(LAYERS):
            sd.update(block_state(f"blocks.{i}.", HIDDEN, MLP, True, g))
        sd.update({"fc_norm.weight": 1 + 0.1 * torch.randn(HIDDEN, generator=g), "fc_norm.bias": 0.05 * torch.randn(HIDDEN, generator=g),
                   "head.weight": 0.1 * torch.randn(NUM_CLASSES, HIDDEN, generator=g), "head.bias": 0.1 * torch.randn(NUM_CLASSES, generator=g)})  # fmt: skip
        return sd
    sd = {f"encoder.{k}": v for k, v in conv.items()}
    for i in range(LAYERS):
        sd.update(block_state(f"encoder.blocks.{i}.", HIDDEN, MLP, True, g))
    sd.update({"encoder.norm.weight": 1 + 0.1 * torch.randn(HIDDEN, generator=g), "encoder.norm.bias": 0.05 * torch.randn(HIDDEN, generator=g)})
    if kind == "adamae":
        sd["encoder.pos_embed_probs"] = 0.1 * torch.randn(1, NUM_TOKENS, HIDDEN, generator=g)
        sd.update(block_state("encoder.get_token_probs.0.", HIDDEN, 4 * HIDDEN, False, g))
        sd["encoder.get_token_probs.1.weight"] = 0.3 * torch.randn(1, HIDDEN, generator=g)
        sd["encoder.get_token_probs.1.bias"] = torch.zeros(1)
    sd["encoder_to_decoder.weight"] = 0.1 * torch.randn(DEC_HIDDEN, HIDDEN, generator=g)
    sd["mask_token"] = 0.02 * torch.randn(1, 1, DEC_HIDDEN, generator=g)
    for i in range(DEC_LAYERS):
        sd.update(block_state(f"decoder.blocks.{i}.", DEC_HIDDEN, DEC_MLP, True, g))
    sd.update({"decoder.norm.weight": 1 + 0.1 * torch.randn(DEC_HIDDEN, generator=g), "decoder.norm.bias": 0.05 * torch.randn(DEC_HIDDEN, generator=g),
               "decoder.head.weight": 0.1 * torch.randn(PATCH_DIM, DEC_HIDDEN, generator=g), "decoder.head.bias": 0.05 * torch.randn(PATCH_DIM, generator=g)})  # fmt: skip
    return sd


# ------------------------------------------------------------------ independent reference forward (plain torch ops)
def ref_block(x, sd, prefix, heads, eps):
    dim = x.shape[-1]
    h = F.layer_norm(x, (dim,), sd[f"{prefix}norm1.weight"], sd[f"{prefix}norm1.bias"], eps)
    bias = None
    if f"{prefix}attn.q_bias" in sd:
        bias = torch.cat([sd[f"{prefix}attn.q_bias"], torch.zeros(dim), sd[f"{prefix}attn.v_bias"]])
    qkv = F.linear(h, sd[f"{prefix}attn.qkv.weight"], bias).reshape(x.shape[0], x.shape[1], 3, heads, dim // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    attn = ((q / math.sqrt(dim // heads)) @ k.transpose(-2, -1)).softmax(-1)
    out = (attn @ v).transpose(1, 2).reshape(x.shape)
    x = x + F.linear(out, sd[f"{prefix}attn.proj.weight"], sd[f"{prefix}attn.proj.bias"])
    h = F.layer_norm(x, (dim,), sd[f"{prefix}norm2.weight"], sd[f"{prefix}norm2.bias"], eps)
    h = F.linear(F.gelu(F.linear(h, sd[f"{prefix}mlp.fc1.weight"], sd[f"{prefix}mlp.fc1.bias"])), sd[f"{prefix}mlp.fc2.weight"], sd[f"{prefix}mlp.fc2.bias"])
    return x + h


def ref_tokens(pixel_values, sd, prefix):
    x = F.conv3d(pixel_values.permute(0, 2, 1, 3, 4), sd[f"{prefix}patch_embed.proj.weight"], sd[f"{prefix}patch_embed.proj.bias"], stride=(TUBELET, PATCH, PATCH))
    return x.flatten(2).transpose(1, 2)


def ref_classifier(pixel_values, sd):
    x = ref_tokens(pixel_values, sd, "") + sincos_table(NUM_TOKENS, HIDDEN)
    for i in range(LAYERS):
        x = ref_block(x, sd, f"blocks.{i}.", HEADS, 1e-6)
    x = F.layer_norm(x.mean(1), (HIDDEN,), sd["fc_norm.weight"], sd["fc_norm.bias"], 1e-6)
    return F.linear(x, sd["head.weight"], sd["head.bias"])


def ref_pretraining(pixel_values, mask, sd):
    """Released PretrainVisionTransformer.forward with a given mask: returns decoder predictions for masked tokens."""
    x = ref_tokens(pixel_values, sd, "encoder.") + sincos_table(NUM_TOKENS, HIDDEN)
    x = x[~mask].reshape(x.shape[0], -1, HIDDEN)
    for i in range(LAYERS):
        x = ref_block(x, sd, f"encoder.blocks.{i}.", HEADS, 1e-6)
    x = F.layer_norm(x, (HIDDEN,), sd["encoder.norm.weight"], sd["encoder.norm.bias"], 1e-6)
    x = F.linear(x, sd["encoder_to_decoder.weight"])
    pos = sincos_table(NUM_TOKENS, DEC_HIDDEN).expand(x.shape[0], -1, -1)
    vis_pos = pos[~mask].reshape(x.shape[0], -1, DEC_HIDDEN)
    mask_pos = pos[mask].reshape(x.shape[0], -1, DEC_HIDDEN)
    x = torch.cat([x + vis_pos, sd["mask_token"] + mask_pos], dim=1)
    for i in range(DEC_LAYERS):
        x = ref_block(x, sd, f"decoder.blocks.{i}.", DEC_HEADS, 1e-6)
    x = F.layer_norm(x[:, -mask_pos.shape[1] :], (DEC_HIDDEN,), sd["decoder.norm.weight"], sd["decoder.norm.bias"], 1e-6)
    return F.linear(x, sd["decoder.head.weight"], sd["decoder.head.bias"])


def ref_token_probs(pixel_values, sd):
    x = ref_tokens(pixel_values, sd, "encoder.") + sd["encoder.pos_embed_probs"]
    x = ref_block(x, sd, "encoder.get_token_probs.0.", 2, 1e-5)
    logits = F.linear(x, sd["encoder.get_token_probs.1.weight"], sd["encoder.get_token_probs.1.bias"]).flatten(1)
    return torch.nan_to_num(logits).softmax(-1)


@pytest.fixture
def pixel_values():
    return torch.randn(2, FRAMES, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------ tests
def test_adamae_pretraining_checkpoint_matches_reference(pixel_values):
    sd = released_state_dict("adamae")
    sd["encoder.pos_embed"] = sincos_table(NUM_TOKENS, HIDDEN)  # stored fixed table: known-unneeded, verified
    result = convert_checkpoint(sd, **FLAGS)
    model, config = result.model, result.model.config
    assert result.kind == "adamae-pretraining" and result.skipped_keys == ["encoder.pos_embed"]
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.num_frames) == (HIDDEN, LAYERS, MLP, FRAMES)
    assert (config.patch_size, config.tubelet_size, config.num_tokens) == (PATCH, TUBELET, NUM_TOKENS)
    assert (config.decoder_hidden_size, config.decoder_num_hidden_layers, config.decoder_intermediate_size) == (DEC_HIDDEN, DEC_LAYERS, DEC_MLP)
    assert (config.mask_type, config.mask_ratio, config.sampler_depth) == ("adaptive", 0.95, 1)
    assert torch.equal(model.state_dict()["token_sampler.layers.0.attention.qkv.weight"], sd["encoder.get_token_probs.0.attn.qkv.weight"])
    assert result.verification["logits_shape"] == [1, NUM_TOKENS - config.num_visible_tokens, PATCH_DIM]

    # Same mask: decoder predictions equal the released forward.
    g = torch.Generator().manual_seed(2)
    mask = torch.stack([torch.randperm(NUM_TOKENS, generator=g) < NUM_TOKENS - 4 for _ in range(2)])
    with torch.no_grad():
        ours = model(pixel_values, bool_masked_pos=mask)
        expected = ref_pretraining(pixel_values, mask, sd)
        probs = model.get_token_probabilities(pixel_values).flatten(1)
    torch.testing.assert_close(ours.logits, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(probs, ref_token_probs(pixel_values, sd), atol=1e-6, rtol=1e-4)


def test_finetuned_checkpoint_matches_reference(pixel_values):
    sd = released_state_dict("finetuned")
    labels = {i: f"action_{i}" for i in range(NUM_CLASSES)}
    result = convert_checkpoint(sd, id2label=labels, num_frames=FRAMES, **FLAGS)
    config = result.model.config
    assert result.kind == "finetuned" and config.num_labels == NUM_CLASSES and config.id2label[3] == "action_3"
    assert config.use_mean_pooling and config.mask_type == "tube"
    with torch.no_grad():
        logits = result.model(pixel_values).logits
    torch.testing.assert_close(logits, ref_classifier(pixel_values, sd), atol=1e-5, rtol=1e-4)
    assert [name for name, _ in result.verification["top5"]][0].startswith("action_")


def test_videomae_checkpoint_becomes_tube_masking(pixel_values):
    sd = released_state_dict("videomae")
    result = convert_checkpoint(sd, num_frames=FRAMES, **FLAGS)
    config = result.model.config
    assert result.kind == "videomae-pretraining" and result.model.token_sampler is None
    assert (config.mask_type, config.mask_ratio) == ("tube", 0.9)
    mask = torch.zeros(2, NUM_TOKENS, dtype=torch.bool)
    mask[:, 5:] = True
    with torch.no_grad():
        torch.testing.assert_close(result.model(pixel_values, bool_masked_pos=mask).logits, ref_pretraining(pixel_values, mask, sd), atol=1e-5, rtol=1e-4)
    with pytest.raises(ConversionError, match="no sampler"):
        infer_config(sd, mask_type="adaptive", **FLAGS)


def test_unknown_and_missing_keys_are_errors():
    sd = released_state_dict("adamae")
    sd["encoder.extra_proj.weight"] = torch.zeros(3)
    with pytest.raises(ConversionError, match=r"unknown keys.*encoder\.extra_proj\.weight"):
        convert_checkpoint(sd, **FLAGS)

    sd = released_state_dict("adamae")
    del sd["decoder.norm.weight"], sd["encoder.blocks.1.attn.v_bias"]
    with pytest.raises(ConversionError, match=r"missing keys.*adamae\.encoder\.layer\.1\.attention\.v_bias.*decoder\.norm\.weight"):
        convert_checkpoint(sd, **FLAGS)

    sd = released_state_dict("finetuned")
    sd["blocks.5.norm1.weight"] = torch.ones(HIDDEN)  # a block beyond the inferred depth
    with pytest.raises(ConversionError):
        convert_checkpoint(sd, num_frames=FRAMES, **FLAGS)

    sd = released_state_dict("finetuned")
    sd["pos_embed"] = torch.randn(1, NUM_TOKENS, HIDDEN)  # a learned table cannot be dropped silently
    with pytest.raises(ConversionError, match="not the fixed sin-cos table"):
        convert_checkpoint(sd, **FLAGS)

    with pytest.raises(ConversionError, match="contradicts"):
        infer_config(released_state_dict("adamae"), num_frames=8, **FLAGS)


def test_convert_state_dict_lists_keys_model_lacks():
    sd = released_state_dict("finetuned")
    with pytest.raises(ConversionError, match=r"does not have: \['classifier\.bias'"):
        convert_state_dict(sd, expected_keys={k for k in convert_state_dict(sd)[0] if k != "classifier.bias"})


def test_load_checkpoint_containers_and_pickle_fallback(tmp_path, caplog):
    sd = released_state_dict("finetuned")
    torch.save({"module": sd, "epoch": 3}, tmp_path / "module.pth")
    assert load_original_state_dict(tmp_path / "module.pth").keys() == sd.keys()
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "ddp.pth")
    assert load_original_state_dict(tmp_path / "ddp.pth").keys() == sd.keys()

    # The authors' files also pickle their argparse Namespace: the safe loader refuses it.
    torch.save({"model": sd, "args": argparse.Namespace(lr=1e-3)}, tmp_path / "released.pth")
    with pytest.raises(ConversionError, match="weights_only=True"):
        load_original_state_dict(tmp_path / "released.pth", allow_unsafe_pickle=False)
    with caplog.at_level("WARNING"):
        loaded = load_original_state_dict(tmp_path / "released.pth")
    assert loaded.keys() == sd.keys() and "falling back to weights_only=False" in caplog.text


def test_cli_converts_saves_and_loads_by_short_name(tmp_path, monkeypatch, pixel_values, capsys):
    import importlib.util
    from pathlib import Path

    from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining

    script = Path(__file__).resolve().parents[1] / "scripts" / "convert_original_checkpoint.py"
    spec = importlib.util.spec_from_file_location("convert_original_checkpoint", script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)

    sd = released_state_dict("adamae")
    torch.save({"model": sd}, tmp_path / "checkpoint.pth")
    monkeypatch.chdir(tmp_path)
    cli.main([
        "--checkpoint_path", "checkpoint.pth", "--pytorch_dump_folder_path", "adamae-base-ssv2", "--image_size", str(IMAGE),
        "--num_attention_heads", str(HEADS), "--decoder_num_attention_heads", str(DEC_HEADS),
        "--sampler_num_attention_heads", "2", "--model_card", "adamae-base-ssv2",
    ])  # fmt: skip
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["assumed"] == {"mask_type": "adaptive", "mask_ratio": 0.95}  # printed: not given, not in the shapes
    assert summary["read"]["num_frames"].startswith("32 tokens of encoder.pos_embed_probs at the given image_size")
    assert "Read from the weights: hidden_size=64, num_channels=3, tubelet_size=2, patch_size=8" in captured.err
    assert "num_frames=4" in captured.err and "Assumed (the released models'" in captured.err
    # nothing but the weights: one error listing every value they do not tell, no traceback, nothing written
    assert cli.main(["--checkpoint_path", "checkpoint.pth", "--pytorch_dump_folder_path", "out"]) == 2
    error = capsys.readouterr().err
    for flag in ("--num_attention_heads", "--decoder_num_attention_heads", "--sampler_num_attention_heads",
                 "--image_size or --num_frames"):  # fmt: skip
        assert f"\n  {flag}: " in error, error
    assert "32 tokens, which fit 32 px x 4 frames, 16 px x 16 frames, 8 px x 64 frames" in error
    assert not (tmp_path / "out").exists()
    files = {p.name for p in (tmp_path / "adamae-base-ssv2").iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md",
            "configuration_adamae.py", "modeling_adamae.py"} <= files  # fmt: skip
    assert set(json.loads((tmp_path / "adamae-base-ssv2" / "config.json").read_text())["auto_map"]) >= {"AutoModel", "AutoConfig"}

    model = AutoModelForPreTraining.from_pretrained("adamae-base-ssv2")  # the short name, from the local directory
    mask = torch.zeros(2, NUM_TOKENS, dtype=torch.bool)
    mask[:, ::2] = True
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values, bool_masked_pos=mask).logits, ref_pretraining(pixel_values, mask, sd), atol=1e-5, rtol=1e-4)
    encoder = AutoModel.from_pretrained("adamae-base-ssv2")
    assert type(encoder).__name__ == "AdaMAEModel" and encoder.layernorm is not None  # the encoder's final norm
    processor = AutoImageProcessor.from_pretrained("adamae-base-ssv2")
    assert processor.crop_size["height"] == IMAGE
    # the video processor samples as the released SSv2 scripts do: the checkpoint's frames at stride 2, resized as the
    # released test resize (OpenCV's bilinear, no smoothing)
    video_processor = json.loads((tmp_path / "adamae-base-ssv2" / "video_preprocessor_config.json").read_text())
    assert (video_processor["num_frames"], video_processor["sampling_rate"], video_processor["antialias"]) == (4, 2, False)


def test_heads_are_assumed_only_for_released_widths_and_reported(caplog):
    def finetuned(width: int) -> dict[str, torch.Tensor]:  # infer_config reads shapes only
        return {
            "patch_embed.proj.weight": torch.empty(width, 3, 2, 16, 16), "blocks.0.norm1.weight": torch.empty(width),
            "blocks.0.mlp.fc1.weight": torch.empty(4 * width, width), "fc_norm.weight": torch.empty(width),
            "head.weight": torch.empty(5, width),
        }  # fmt: skip

    with caplog.at_level("WARNING", logger="adamae_hf.conversion"):
        assert infer_config(finetuned(384)).num_attention_heads == 6  # ViT-S
        assert infer_config(finetuned(1280)).num_attention_heads == 16  # ViT-H: head width 80, not 64
    assert "Assumed num_attention_heads=6 for width 384" in caplog.text
    with pytest.raises(ConversionError, match="--num_attention_heads: the weights do not tell the number of heads, and width 64"):
        infer_config(finetuned(64))  # width // 64 would silently give 1 head
    assert infer_config(finetuned(64), num_attention_heads=4).num_attention_heads == 4
    # what the conversion assumed is part of its result (the CLI prints it)
    sd = released_state_dict("adamae")
    assert convert_checkpoint(sd, **FLAGS).assumed == {"mask_type": "adaptive", "mask_ratio": 0.95}
    # heads of widths the released models do not have are never guessed; all of them are named in one error
    with pytest.raises(ConversionError, match="(?s)--decoder_num_attention_heads: .*--sampler_num_attention_heads: "):
        convert_checkpoint(sd, image_size=IMAGE, num_attention_heads=HEADS)


def test_image_size_and_frames_are_read_given_one_assumed_only_as_released(caplog):
    """The issue's case: one checkpoint converted "successfully" as 16 frames at 32 px and as 4 frames at 64 px.
    Given neither, several sizes fit and none is the released 224 x 16: refused, listing them; given one, the other
    is read from the weights; the released layout is assumed (and said) where it fits."""
    sd = released_state_dict("adamae")
    heads = {name: FLAGS[name] for name in ("num_attention_heads", "decoder_num_attention_heads", "sampler_num_attention_heads")}
    with pytest.raises(ConversionError, match="--image_size or --num_frames: .* none is the released 224 px x 16 frames"):
        infer_config(sd, **heads)
    config, report = infer_config_report(sd, image_size=16, **heads)
    assert (config.image_size, config.num_frames) == (16, 16) and "num_frames" in report.read
    config, report = infer_config_report(sd, num_frames=4, **heads)
    assert (config.image_size, config.num_frames) == (32, 4) and "image_size" in report.read
    with pytest.raises(ConversionError, match="image_size=64 contradicts the weights"):
        infer_config(sd, image_size=64, **heads)
    released = dict(sd, **{"encoder.pos_embed_probs": torch.zeros(1, 8 * 28 * 28, HIDDEN)})  # 224 px x 16 frames
    with caplog.at_level("WARNING", logger="adamae_hf.conversion"):
        config, report = infer_config_report(released, **heads)
    assert (config.image_size, config.num_frames) == (224, 16) and report.assumed["image_size"] == 224
    assert "Assumed image_size=224" in caplog.text
