"""Behaviour tests of the AdaMAE config and models (tiny configs, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    VideoMAEConfig,
    VideoMAEForPreTraining,
    VideoMAEForVideoClassification,
)

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining, AdaMAEForVideoClassification, AdaMAEModel
from adamae_hf.modeling_adamae import adaptive_masking, frame_masking, random_masking, tube_masking


TINY = dict(
    image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=64, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=128, decoder_hidden_size=32, decoder_num_hidden_layers=2,
    decoder_num_attention_heads=4, decoder_intermediate_size=64, sampler_num_attention_heads=4, mask_ratio=0.75,
)  # fmt: skip  # 2 x 4 x 4 = 32 tokens, 8 visible


def tiny_config(**overrides) -> AdaMAEConfig:
    return AdaMAEConfig(**{**TINY, **overrides})


def clips(batch_size: int = 2, config: AdaMAEConfig | None = None, seed: int = 0) -> torch.Tensor:
    config = config or tiny_config()
    generator = torch.Generator().manual_seed(seed)
    shape = (batch_size, config.num_frames, 3, config.image_size, config.image_size)
    return torch.randn(shape, generator=generator)


# ------------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(mask_ratio=0.0), "mask_ratio"),
        (dict(mask_ratio=1.0), "mask_ratio"),
        (dict(mask_ratio=0.99), "mask_ratio"),  # int(32 * 0.01) = 0 visible tokens
        (dict(mask_type="block"), "mask_type"),
        (dict(sampler_type="cnn"), "sampler_type"),
        (dict(image_size=30), "image_size"),
        (dict(num_frames=5), "num_frames"),
        (dict(num_attention_heads=5), "num_attention_heads"),
        (dict(decoder_num_attention_heads=5), "decoder_num_attention_heads"),
        (dict(sampler_num_attention_heads=3), "sampler_num_attention_heads"),
        (dict(hidden_act="tanhh"), "hidden_act"),
        (dict(drop_path_rate=1.5), "drop_path_rate"),
        (dict(sampling_loss_weight=-1.0), "sampling_loss_weight"),
        (dict(hidden_size=0), "hidden_size"),
    ],
)
def test_invalid_config_values_name_field_and_value(overrides, field):
    with pytest.raises(ValueError, match=rf"AdaMAEConfig\.{field}=") as error:
        tiny_config(**overrides)
    assert repr(overrides.get(field, next(iter(overrides.values())))) in str(error.value) or field in str(error.value)


def test_default_config_is_released_vit_b():
    config = AdaMAEConfig()
    assert (config.num_frames, config.image_size, config.tubelet_size, config.patch_size) == (16, 224, 2, 16)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.decoder_hidden_size, config.decoder_num_hidden_layers, config.decoder_num_attention_heads) == (384, 4, 6)
    assert config.num_tokens == 1568 and config.num_visible_tokens == 78
    assert config.layer_norm_eps == 1e-6 and config.norm_pix_loss and config.qkv_bias and config.use_mean_pooling
    assert config.sampler_hidden_size == 768 and config.mask_type == "adaptive" and config.mask_ratio == 0.95
    assert AdaMAEConfig(mask_type="tube", mask_ratio=0.9).num_visible_tokens == 8 * 20  # VideoMAE: int(0.9*196) masked


def test_default_models_have_vit_b_parameter_counts():
    with torch.device("meta"):
        classifier = AdaMAEForVideoClassification(AdaMAEConfig(num_labels=174))
        pretraining = AdaMAEForPreTraining(AdaMAEConfig())
    num_classifier = sum(p.numel() for p in classifier.parameters())
    assert 86e6 < num_classifier < 88e6  # "~87 M" in the paper's tables
    num_sampler = sum(p.numel() for p in pretraining.token_sampler.parameters())
    block = 12 * 768 * 768 + 10 * 768  # qkv, proj, fc1, fc2 weights; q/v-free biases and two norms
    assert num_sampler == 1568 * 768 + block + 768 + 1  # position embedding, one block, Linear(768, 1)


# ------------------------------------------------------------------------------------------------ masking
def test_adaptive_mask_has_exactly_nv_distinct_visible_tokens_and_probabilities_sum_to_one():
    config = tiny_config()
    model = AdaMAEForPreTraining(config)
    outputs = model(clips(4))
    mask = outputs.bool_masked_pos
    assert mask.shape == (4, 32) and mask.dtype == torch.bool
    assert ((~mask).sum(1) == config.num_visible_tokens).all()
    assert outputs.logits.shape == (4, 32 - 8, config.patch_dim)
    torch.testing.assert_close(outputs.token_probabilities.sum(1), torch.ones(4))
    assert outputs.sampling_loss is not None and torch.isfinite(outputs.loss)


def test_adaptive_mask_is_reproducible_under_manual_seed_and_random_otherwise():
    model = AdaMAEForPreTraining(tiny_config()).eval()
    pixel_values = clips(2)
    torch.manual_seed(3)
    first = model(pixel_values).bool_masked_pos
    torch.manual_seed(3)
    second = model(pixel_values).bool_masked_pos
    third = model(pixel_values).bool_masked_pos
    assert torch.equal(first, second)
    assert not torch.equal(first, third)


def test_adaptive_sampling_follows_the_sampler_distribution():
    model = AdaMAEForPreTraining(tiny_config(mask_ratio=0.875))  # 4 visible of 32
    torch.nn.init.zeros_(model.token_sampler.head.weight)
    with torch.no_grad():
        model.token_sampler.head.bias.zero_()
        # make tokens 0-3 overwhelmingly likely through the position embedding and a head reading one channel
        model.token_sampler.head.weight[0, 0] = 1.0
        model.token_sampler.position_embeddings.zero_()
        model.token_sampler.position_embeddings[0, :4, 0] = 1e3
    model.token_sampler.layers = torch.nn.ModuleList()  # position embedding straight to the head
    mask = model(clips(3)).bool_masked_pos
    assert (~mask[:, :4]).all() and mask[:, 4:].all()


def test_mask_types_have_their_structure_and_ratio():
    grid = (4, 3, 5)  # slices, height, width
    tube = tube_masking(6, grid, num_masked_per_slice=12)
    assert tube.shape == (6, 60) and (tube.sum(1) == 4 * 12).all()
    per_slice = tube.view(6, 4, 15)
    assert (per_slice == per_slice[:, :1]).all()  # same spatial mask at every time step
    random = random_masking(6, 60, num_masked=45)
    assert (random.sum(1) == 45).all()
    assert not (random.view(6, 4, 15) == random.view(6, 4, 15)[:, :1]).all()
    frame = frame_masking(6, grid, num_visible_slices=1)
    slices = frame.view(6, 4, 15)
    assert (slices.all(-1) | (~slices).all(-1)).all()  # whole slices
    assert (slices.all(-1).sum(1) == 3).all()


@pytest.mark.parametrize("mask_type, ratio", [("tube", 0.75), ("random", 0.75), ("frame", 0.5)])
def test_baseline_masks_in_the_model(mask_type, ratio):
    config = tiny_config(mask_type=mask_type, mask_ratio=ratio)
    model = AdaMAEForPreTraining(config)
    assert model.token_sampler is None
    outputs = model(clips(3, config))
    assert ((~outputs.bool_masked_pos).sum(1) == config.num_visible_tokens).all()
    assert outputs.token_probabilities is None and outputs.sampling_loss is None
    assert torch.equal(outputs.loss, outputs.reconstruction_loss)


@pytest.mark.parametrize("mask_type", ["tube", "random", "frame"])
def test_mask_type_draws_its_structure_through_the_model(mask_type):
    """Without `bool_masked_pos` the model draws the mask of `config.mask_type` (issue 14: a "tube" that drew a
    random mask passed every other test). 4 slices of 4 x 4 tokens at 50 %: every type masks 32 of 64 tokens, so
    only the structure tells them apart, and a random mask with tube or frame structure has probability < 1e-12."""
    config = tiny_config(mask_type=mask_type, num_frames=8, mask_ratio=0.5)
    model = AdaMAEForPreTraining(config).eval()
    with torch.no_grad():
        mask = model(clips(16, config)).bool_masked_pos.view(16, 4, 16)  # (clip, slice, spatial token)
    assert (mask.sum((1, 2)) == 32).all()
    repeated_over_time = (mask == mask[:, :1]).all(-1).all(-1)  # per clip
    whole_slices = (mask.all(-1) | (~mask).all(-1)).all(-1)
    assert repeated_over_time.all() == (mask_type == "tube") and repeated_over_time.any() == (mask_type == "tube")
    assert whole_slices.all() == (mask_type == "frame") and whole_slices.any() == (mask_type == "frame")
    if mask_type == "tube":
        assert (mask[:, 0].sum(-1) == 8).all()  # int(0.5 * 16) masked per slice
    if mask_type == "frame":
        assert (mask.all(-1).sum(-1) == 2).all()  # 4 - int(4 * 0.5) masked slices
    assert len({tuple(row.tolist()) for row in mask.flatten(1)}) > 1  # drawn per clip


def test_adaptive_mask_draws_only_tokens_of_nonzero_probability():
    """Tokens whose sampler logit is -inf (probability exactly 0) are never visible; the visible ones are drawn
    among the others (exactly N_v of them, different per clip)."""
    config = tiny_config()  # 32 tokens, 8 visible
    model = AdaMAEForPreTraining(config).eval()
    allowed = torch.zeros(16, 32, dtype=torch.bool)
    generator = torch.Generator().manual_seed(0)
    for row in allowed:  # 10 to 31 tokens of non-zero probability per clip
        row[torch.randperm(32, generator=generator)[: int(torch.randint(10, 32, (1,), generator=generator))]] = True

    def forbid(module, args, log_probs):
        return torch.log_softmax(log_probs.masked_fill(~allowed, float("-inf")), dim=-1)

    model.token_sampler.register_forward_hook(forbid)
    with torch.no_grad():
        outputs = model(clips(16, config))
    visible = ~outputs.bool_masked_pos
    assert (outputs.token_probabilities[~allowed] == 0).all()
    assert (visible.sum(1) == 8).all() and not (visible & ~allowed).any()
    assert len({tuple(row.tolist()) for row in visible}) > 1


def test_given_mask_is_used_and_sampling_loss_computed_against_it():
    config = tiny_config()
    model = AdaMAEForPreTraining(config)
    mask = random_masking(2, 32, 24)
    outputs = model(clips(2), bool_masked_pos=mask)
    assert torch.equal(outputs.bool_masked_pos, mask)
    log_probs = outputs.token_probabilities.log()
    per_token = (outputs.logits - _masked_targets(clips(2), mask, config)).pow(2).mean(-1)
    expected = -(log_probs[mask].view(2, -1) * per_token).mean()
    torch.testing.assert_close(outputs.sampling_loss, expected, rtol=1e-4, atol=1e-5)


def _masked_targets(pixel_values, mask, config):
    from adamae_hf.modeling_adamae import patchify_targets

    targets = patchify_targets(pixel_values, config)
    return targets[mask].view(mask.shape[0], -1, targets.shape[-1])


@pytest.mark.parametrize(
    "mask, message",
    [
        (torch.zeros(2, 32, dtype=torch.long), "torch.bool"),
        (torch.zeros(2, 31, dtype=torch.bool), "shape"),
        (torch.stack([random_masking(1, 32, 24)[0], random_masking(1, 32, 20)[0]]), "same number"),
        (torch.zeros(2, 32, dtype=torch.bool), "some but not all"),
    ],
)
def test_bad_bool_masked_pos_gives_clear_error(mask, message):
    with pytest.raises(ValueError, match=message):
        AdaMAEForPreTraining(tiny_config())(clips(2), bool_masked_pos=mask)


@pytest.mark.parametrize(
    "pixel_values, message",
    [
        (torch.randn(4, 3, 32, 32), "5 dimensions"),
        (torch.randn(1, 6, 3, 32, 32), "num_frames=4"),
        (torch.randn(1, 4, 3, 48, 48), "image_size=32"),
        (torch.randn(1, 4, 1, 32, 32), "num_channels=3"),
        (torch.zeros(1, 4, 3, 32, 32, dtype=torch.uint8), "floating point"),
        (None, "required"),
    ],
)
def test_bad_pixel_values_give_clear_errors(pixel_values, message):
    config = tiny_config()
    for model in (AdaMAEForPreTraining(config), AdaMAEForVideoClassification(config), AdaMAEModel(config)):
        with pytest.raises(ValueError, match=message):
            model(pixel_values)


# ------------------------------------------------------------------------------------------------ losses
def _grads(module):
    return [p.grad for p in module.parameters()]


def test_sampler_learns_only_from_the_sampling_loss():
    model = AdaMAEForPreTraining(tiny_config())
    outputs = model(clips(2))
    outputs.reconstruction_loss.backward(retain_graph=True)
    assert all(g is None or not g.any() for g in _grads(model.token_sampler))
    assert model.decoder.head.weight.grad.abs().sum() > 0
    model.zero_grad()
    outputs.sampling_loss.backward()
    assert all(g is not None and g.abs().sum() > 0 for g in _grads(model.token_sampler.layers))
    assert all(g is None or not g.any() for g in _grads(model.decoder))


def test_zero_sampling_loss_weight_gives_zero_sampler_gradient():
    model = AdaMAEForPreTraining(tiny_config(sampling_loss_weight=0.0))
    model(clips(2)).loss.backward()
    assert all(g is None or not g.any() for g in _grads(model.token_sampler))
    assert model.adamae.encoder.layer[0].mlp.fc1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("to_tokenizer", [True, False])
def test_sampling_loss_reaches_tokenizer_only_when_configured(to_tokenizer):
    model = AdaMAEForPreTraining(tiny_config(sampling_loss_to_tokenizer=to_tokenizer))
    model(clips(2)).sampling_loss.backward()
    grad = model.adamae.embeddings.patch_embeddings.projection.weight.grad
    assert (grad is not None and grad.abs().sum() > 0) == to_tokenizer


def test_a_few_dozen_steps_lower_the_reconstruction_loss():
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(tiny_config())
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    # fixed clips, each one texture tiled over space and time: any visible token tells the masked ones
    texture = torch.randn((4, 1, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    pixel_values = texture.repeat(1, 4, 1, 4, 4)
    losses = []
    for _ in range(30):
        outputs = model(pixel_values)
        outputs.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(outputs.reconstruction_loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5


# ------------------------------------------------------------------------------------------------ transformers integration
def test_output_attentions_and_hidden_states():
    config = tiny_config()
    model = AdaMAEForPreTraining(config)
    outputs = model(clips(2), output_attentions=True, output_hidden_states=True)
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    assert outputs.hidden_states[-1].shape == (2, config.num_visible_tokens, config.hidden_size)
    assert len(outputs.attentions) == config.num_hidden_layers
    assert outputs.attentions[0].shape == (2, 4, 8, 8)
    torch.testing.assert_close(outputs.attentions[0].sum(-1), torch.ones(2, 4, 8))
    classifier = AdaMAEForVideoClassification(config)
    outputs = classifier(clips(2), output_attentions=True, output_hidden_states=True)
    assert outputs.attentions[1].shape == (2, 4, 32, 32) and outputs.hidden_states[0].shape == (2, 32, 64)
    assert len(classifier(clips(2), return_dict=False)) == 1


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(tiny_config(drop_path_rate=0.1))
    model.train()
    mask = random_masking(2, 32, 24)

    def gradients():
        model.zero_grad()
        torch.manual_seed(1)
        model(clips(2), bool_masked_pos=mask).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.gradient_checkpointing_enable()
    assert model.adamae.encoder.layer[0].gradient_checkpointing
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5, msg=name)
    # the sampler-only switch (its dropout draws are replayed in the recomputation)
    model.gradient_checkpointing_disable()
    sampler_only = AdaMAEForPreTraining(tiny_config(drop_path_rate=0.1, sampler_gradient_checkpointing=True))
    sampler_only.load_state_dict(model.state_dict())
    model = sampler_only.train()
    assert model.token_sampler.layers[0].gradient_checkpointing and not model.adamae.encoder.layer[0].gradient_checkpointing
    for name, grad in gradients().items():
        torch.testing.assert_close(plain[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def _save(model, tmp_dir=None) -> str:
    import tempfile

    directory = tmp_dir or tempfile.mkdtemp()
    model.save_pretrained(directory)
    return directory


def test_auto_classes_resolve_to_adamae(tmp_path):
    config = tiny_config(num_labels=3)
    assert isinstance(AutoConfig.for_model("adamae", **TINY), AdaMAEConfig)
    assert isinstance(AutoModel.from_config(config), AdaMAEModel)
    assert isinstance(AutoModelForPreTraining.from_config(config), AdaMAEForPreTraining)
    assert isinstance(AutoModelForVideoClassification.from_config(config), AdaMAEForVideoClassification)
    AdaMAEForVideoClassification(config).save_pretrained(tmp_path)
    assert isinstance(AutoModelForVideoClassification.from_pretrained(tmp_path), AdaMAEForVideoClassification)


@pytest.mark.parametrize("model_class", [AdaMAEForPreTraining, AdaMAEForVideoClassification])
def test_save_pretrained_writes_safetensors_and_reloads_bit_exactly(tmp_path, model_class):
    model = model_class(tiny_config(num_labels=3)).eval()
    model.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"model.safetensors", "config.json", "modeling_adamae.py", "configuration_adamae.py"} <= files
    assert not any(name.endswith(".bin") for name in files)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), name
    torch.manual_seed(0)
    first = model(clips(2))
    torch.manual_seed(0)
    second = reloaded(clips(2))
    assert torch.equal(first.logits, second.logits)


def test_checkpoint_loads_with_trust_remote_code_without_the_package(tmp_path):
    model = AdaMAEForPreTraining(tiny_config()).eval()
    model.save_pretrained(tmp_path / "ckpt")
    torch.manual_seed(0)
    expected = model(clips(2)).loss.item()
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path = [p for p in sys.path if not p.rstrip('/').endswith('src')]
        try:
            import adamae_hf
            raise SystemExit("adamae_hf should not be importable here")
        except ImportError:
            pass
        from transformers import AutoModelForPreTraining, AutoModel
        model = AutoModelForPreTraining.from_pretrained({str(tmp_path / 'ckpt')!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        AutoModel.from_pretrained({str(tmp_path / 'ckpt')!r}, trust_remote_code=True)
        assert model.config._attn_implementation == "sdpa" and type(model)._supports_flex_attn
        eager = AutoModelForPreTraining.from_pretrained(
            {str(tmp_path / 'ckpt')!r}, trust_remote_code=True, attn_implementation="eager"
        ).eval()
        assert eager.config._attn_implementation == "eager"
        x = torch.randn((2, 4, 3, 32, 32), generator=torch.Generator().manual_seed(0))
        torch.manual_seed(0)
        eager_loss = eager(x).loss.item()
        torch.manual_seed(0)
        loss = model(x).loss.item()
        assert abs(loss - eager_loss) < 1e-5, (loss, eager_loss)
        print(repr(loss))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.strip().splitlines()[-1]) == expected


# ------------------------------------------------------------------------------------------------ classification
def test_classification_accepts_class_ids_and_soft_targets():
    model = AdaMAEForVideoClassification(tiny_config(num_labels=3))
    outputs = model(clips(2), labels=torch.tensor([0, 2]))
    expected = torch.nn.functional.cross_entropy(outputs.logits, torch.tensor([0, 2]))
    torch.testing.assert_close(outputs.loss, expected)
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    outputs = model(clips(2), labels=soft)
    expected = -(soft * outputs.logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(outputs.loss, expected)
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float()
    torch.testing.assert_close(model(clips(2), labels=one_hot).loss, model(clips(2), labels=torch.tensor([0, 2])).loss)
    with pytest.raises(ValueError, match="Soft-target labels"):
        model(clips(2), labels=torch.rand(2, 4))
    multi = AdaMAEForVideoClassification(tiny_config(num_labels=3, problem_type="multi_label_classification"))
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    outputs = multi(clips(2), labels=targets)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.binary_cross_entropy_with_logits(outputs.logits, targets))


def test_classifier_uses_mean_pooling_fc_norm_and_drop_path():
    model = AdaMAEForVideoClassification(tiny_config(num_labels=3, drop_path_rate=0.5))
    assert model.adamae.layernorm is None and model.fc_norm is not None
    assert model.adamae.encoder.layer[-1].drop_path_rate == 0.5 and model.adamae.encoder.layer[0].drop_path_rate == 0
    assert model.classifier.weight.std() < 0.02 * 0.01  # init scale 0.001
    model.train()
    torch.manual_seed(0)
    a = model(clips(2)).logits
    b = model(clips(2)).logits
    assert not torch.equal(a, b)  # stochastic depth is active in training
    model.eval()
    assert torch.equal(model(clips(2)).logits, model(clips(2)).logits)


def test_token_probabilities_as_a_saliency_map():
    config = tiny_config()
    model = AdaMAEForPreTraining(config).eval()
    saliency = model.get_token_probabilities(clips(3))
    assert saliency.shape == (3, 2, 4, 4)
    torch.testing.assert_close(saliency.sum((1, 2, 3)), torch.ones(3))
    with pytest.raises(ValueError, match="adaptive"):
        AdaMAEForPreTraining(tiny_config(mask_type="tube")).get_token_probabilities(clips(1))


# ------------------------------------------------------------------------------------------------ VideoMAE warm start
def _videomae_config(**overrides) -> VideoMAEConfig:
    keys = ("image_size", "patch_size", "num_frames", "tubelet_size", "hidden_size", "num_hidden_layers",
            "num_attention_heads", "intermediate_size", "decoder_hidden_size", "decoder_num_hidden_layers",
            "decoder_num_attention_heads", "decoder_intermediate_size")  # fmt: skip
    return VideoMAEConfig(**{k: TINY[k] for k in keys}, norm_pix_loss=True, **overrides)


def _randomise(model):
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


@pytest.mark.parametrize("use_mean_pooling", [False, True], ids=["with-final-norm", "without-final-norm"])
def test_warm_start_from_videomae_pretraining_matches_its_loss_and_logits(tmp_path, use_mean_pooling):
    """Both layouts of a VideoMAE pre-training checkpoint: with the encoder's final norm (`use_mean_pooling=False`,
    as the MCG-NJU checkpoints) and without it (transformers' default `VideoMAEConfig`)."""
    videomae = _randomise(VideoMAEForPreTraining(_videomae_config(use_mean_pooling=use_mean_pooling))).eval()
    assert (videomae.videomae.layernorm is None) == use_mean_pooling
    videomae.save_pretrained(tmp_path)
    mask = tube_masking(2, (2, 4, 4), 12)
    expected = videomae(clips(2), bool_masked_pos=mask)
    for source in (videomae, str(tmp_path)):
        model = AdaMAEForPreTraining.from_videomae(source).eval()
        assert model.token_sampler is not None  # fresh sampler
        assert model.config.use_final_layernorm is (not use_mean_pooling)
        assert (model.adamae.layernorm is None) == use_mean_pooling
        outputs = model(clips(2), bool_masked_pos=mask)
        torch.testing.assert_close(outputs.logits, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(outputs.reconstruction_loss, expected.loss, atol=1e-5, rtol=0)
    # the layout survives a save / reload, by AdaMAEForPreTraining and by AutoModel
    model.save_pretrained(tmp_path / "adamae")
    reloaded = AdaMAEForPreTraining.from_pretrained(tmp_path / "adamae").eval()
    torch.testing.assert_close(reloaded(clips(2), bool_masked_pos=mask).logits, expected.logits, atol=1e-5, rtol=0)
    encoder, info = AutoModel.from_pretrained(tmp_path / "adamae", output_loading_info=True)
    assert (encoder.layernorm is None) == use_mean_pooling and not info["unexpected_keys"] and not info["missing_keys"]


@pytest.mark.parametrize("use_mean_pooling", [False, True], ids=["with-final-norm", "without-final-norm"])
def test_classifier_from_a_videomae_pretraining_checkpoint_matches_videomae(tmp_path, use_mean_pooling):
    _randomise(VideoMAEForPreTraining(_videomae_config(use_mean_pooling=use_mean_pooling))).save_pretrained(tmp_path)
    torch.manual_seed(0)  # the same fresh head on both sides
    videomae = VideoMAEForVideoClassification.from_pretrained(tmp_path).eval()  # 2 labels (the config default)
    torch.manual_seed(0)
    model = AdaMAEForVideoClassification.from_videomae(str(tmp_path)).eval()
    assert (model.fc_norm is not None) == use_mean_pooling and (model.adamae.layernorm is None) == use_mean_pooling
    labels = torch.tensor([1, 0])
    expected, outputs = videomae(clips(2), labels=labels), model(clips(2), labels=labels)
    torch.testing.assert_close(outputs.logits, expected.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(outputs.loss, expected.loss, atol=1e-5, rtol=0)
    # from the pre-training model itself: the same encoder, a head of AdaMAE's initialisation
    pretraining = VideoMAEForPreTraining.from_pretrained(tmp_path).eval()
    model = AdaMAEForVideoClassification.from_videomae(pretraining).eval()
    assert model.classifier.weight.std() < 0.02 * 0.01  # classifier_init_scale, not VideoMAE's head
    with torch.no_grad():
        encoder = pretraining.videomae(clips(2)).last_hidden_state
        torch.testing.assert_close(model.adamae(clips(2)).last_hidden_state, encoder, atol=1e-5, rtol=0)


@pytest.mark.parametrize("use_mean_pooling", [True, False])
def test_warm_start_from_videomae_classifier_matches_its_logits(use_mean_pooling):
    videomae = VideoMAEForVideoClassification(_videomae_config(num_labels=5, use_mean_pooling=use_mean_pooling))
    videomae = _randomise(videomae).eval()
    model = AdaMAEForVideoClassification.from_videomae(videomae).eval()
    torch.testing.assert_close(model(clips(2)).logits, videomae(clips(2)).logits, atol=1e-5, rtol=0)


def test_warm_start_rejects_a_non_videomae_checkpoint(tmp_path):
    AdaMAEForVideoClassification(tiny_config()).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a VideoMAE"):
        AdaMAEForVideoClassification.from_videomae(str(tmp_path))


# ------------------------------------------------------------------------------------------------ found by mutation testing
# Behaviours that no test checked until `mutmut` (tests/README.md) showed that changing the code kept the suite green.
def test_adaptive_masking_samples_the_categorical_distribution_without_replacement():
    """`adaptive_masking` draws as `torch.multinomial(P, N_v, replacement=False)` does: each token first with
    probability p_i, and within two draws with probability p_i + sum_j p_j p_i / (1 - p_j)."""
    p = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05])
    torch.manual_seed(0)
    log_probs = p.log()[None].repeat(20000, 1)
    once = (~adaptive_masking(log_probs, 1)).float().mean(0)
    twice = (~adaptive_masking(log_probs, 2)).float().mean(0)
    within_two = torch.stack([p[i] + sum(p[j] * p[i] / (1 - p[j]) for j in range(5) if j != i) for i in range(5)])
    torch.testing.assert_close(once, p, atol=0.02, rtol=0)  # 5 standard errors of 20000 draws
    torch.testing.assert_close(twice, within_two, atol=0.02, rtol=0)


def test_loss_is_reconstruction_plus_weighted_sampling_loss():
    config = tiny_config(sampling_loss_weight=0.5)
    outputs = AdaMAEForPreTraining(config)(clips(2))
    assert outputs.sampling_loss.abs() > 1e-3
    torch.testing.assert_close(outputs.loss, outputs.reconstruction_loss + 0.5 * outputs.sampling_loss)


def test_return_dict_false_gives_tuples_from_the_argument_or_the_config():
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(tiny_config())
    torch.manual_seed(1)
    as_dict = model(clips(2))
    torch.manual_seed(1)
    as_tuple = model(clips(2), return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], as_dict.loss)
    configured = AdaMAEForPreTraining(tiny_config(return_dict=False))
    assert isinstance(configured(clips(2)), tuple)
    classifier = AdaMAEForVideoClassification(tiny_config(num_labels=3, return_dict=False))
    loss, logits = classifier(clips(2), labels=torch.tensor([0, 1]))
    assert logits.shape == (2, 3) and loss.ndim == 0
    classifier = AdaMAEForVideoClassification(tiny_config(num_labels=3))
    assert isinstance(classifier(clips(2), return_dict=False), tuple)


def test_models_run_in_bfloat16(tmp_path):
    """Cast with `.to` or loaded with `from_pretrained(dtype=...)` (which keeps the fixed position tables in
    float32), the models run in bfloat16: the tables follow the activations' dtype."""
    config = tiny_config(num_labels=3)
    for model_class in (AdaMAEForPreTraining, AdaMAEForVideoClassification):
        model_class(config).save_pretrained(tmp_path / model_class.__name__)
        loaded = model_class.from_pretrained(tmp_path / model_class.__name__, dtype=torch.bfloat16)
        for model in (model_class(config).to(torch.bfloat16), loaded):
            outputs = model(clips(2).to(torch.bfloat16))
            assert outputs.logits.dtype == torch.bfloat16 and torch.isfinite(outputs.logits).all()


@pytest.mark.parametrize("sampler", [dict(sampler_type="mlp"), dict(sampler_hidden_size=32)])
def test_sampler_variants_give_a_distribution_and_learn_from_the_sampling_loss(sampler):
    """Table 1f's MLP sampler, and a sampler narrower than the encoder (with its input projection)."""
    model = AdaMAEForPreTraining(tiny_config(**sampler))
    outputs = model(clips(2))
    torch.testing.assert_close(outputs.token_probabilities.sum(1), torch.ones(2))
    outputs.sampling_loss.backward()
    trained = model.token_sampler.mlp if "sampler_type" in sampler else model.token_sampler.input_projection
    assert trained.weight.grad.abs().sum() > 0


def test_sampler_checkpointing_works_with_autograd_grad_and_without_warnings():
    """The checkpointed sampler gives the same gradients through `torch.autograd.grad` (as for a gradient norm of
    the sampling loss alone), which a re-entrant checkpoint refuses, and warns about nothing."""
    import warnings

    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = AdaMAEForPreTraining(tiny_config(sampler_gradient_checkpointing=checkpointing))
        parameters = list(model.token_sampler.layers.parameters())
        torch.manual_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gradients.append(torch.autograd.grad(model(clips(2)).sampling_loss, parameters))
    assert all(g.abs().sum() > 0 for g in gradients[1])
    for plain, checkpointed in zip(*gradients):
        torch.testing.assert_close(plain, checkpointed, atol=1e-6, rtol=1e-5)


def test_a_single_clip_with_a_given_mask():
    mask = random_masking(1, 32, 24)
    outputs = AdaMAEForPreTraining(tiny_config())(clips(1), bool_masked_pos=mask)
    assert torch.equal(outputs.bool_masked_pos, mask) and outputs.logits.shape[:2] == (1, 24)


@pytest.mark.parametrize(
    "mask, message",
    [
        ([[True] * 24 + [False] * 8], "bool_masked_pos must be a torch.bool tensor, got list."),
        (torch.zeros(2, 32, dtype=torch.long), "bool_masked_pos must be a torch.bool tensor, got torch.int64."),
        (random_masking(3, 32, 24), "bool_masked_pos has 3 rows but pixel_values holds 2 clips."),
    ],
)
def test_bad_bool_masked_pos_messages_name_what_was_given(mask, message):
    with pytest.raises(ValueError) as error:
        AdaMAEForPreTraining(tiny_config())(clips(2), bool_masked_pos=mask)
    assert str(error.value) == message


def test_sample_mask_without_log_probs_for_adaptive_says_what_it_needs():
    with pytest.raises(ValueError) as error:
        AdaMAEForPreTraining(tiny_config()).sample_mask(2)
    assert str(error.value) == "mask_type='adaptive' needs the sampler's token_log_probs."


def _reference_targets(pixels: torch.Tensor, tubelet: int, patch: int, normalise: bool) -> torch.Tensor:
    """Targets token by token (time-major token order, values laid out (t h w c)) from `pixels` (B, T, C, H, W)."""
    batch_size, time, channels, height, width = pixels.shape
    tokens = []
    for t in range(0, time, tubelet):
        for h in range(0, height, patch):
            for w in range(0, width, patch):
                cube = pixels[:, t : t + tubelet, :, h : h + patch, w : w + patch]  # (B, t, C, p, p)
                values = cube.permute(0, 1, 3, 4, 2).reshape(batch_size, -1, channels)  # (B, t*p*p, C)
                if normalise:
                    values = (values - values.mean(1, keepdim=True)) / (values.std(1, keepdim=True) + 1e-6)
                tokens.append(values.reshape(batch_size, -1))
    return torch.stack(tokens, dim=1)


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_targets_are_the_pixels_of_each_tubelet(norm_pix_loss):
    """RGB clips are un-normalised to [0, 1] (ImageNet mean/std); with norm_pix_loss each tubelet and channel is
    normalised by its mean and unbiased std (+1e-6)."""
    from adamae_hf.modeling_adamae import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, patchify_targets

    config = tiny_config(norm_pix_loss=norm_pix_loss)
    rgb = torch.rand((2, 4, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(IMAGENET_DEFAULT_MEAN)[:, None, None], torch.tensor(IMAGENET_DEFAULT_STD)[:, None, None]
    targets = patchify_targets((rgb - mean) / std, config)
    expected = _reference_targets(rgb, config.tubelet_size, config.patch_size, norm_pix_loss)
    torch.testing.assert_close(targets, expected, atol=1e-5, rtol=1e-4)


def test_non_rgb_clips_need_norm_pix_loss():
    config = tiny_config(num_channels=1)
    pixels = torch.randn((2, 4, 1, 32, 32), generator=torch.Generator().manual_seed(0))
    from adamae_hf.modeling_adamae import patchify_targets

    torch.testing.assert_close(patchify_targets(pixels, config), _reference_targets(pixels, 2, 8, normalise=True))
    assert torch.isfinite(AdaMAEForPreTraining(config)(pixels).loss)
    with pytest.raises(ValueError) as error:
        AdaMAEForPreTraining(tiny_config(num_channels=1, norm_pix_loss=False))(pixels)
    assert str(error.value) == "Can't un-normalise non-RGB pixel values; set config.norm_pix_loss=True."


def test_regression_losses():
    """`num_labels=1` (or `problem_type="regression"`) gives the mean squared error, as transformers' models."""
    single = AdaMAEForVideoClassification(tiny_config(num_labels=1))
    targets = torch.tensor([0.5, -1.0])
    outputs = single(clips(2), labels=targets)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.mse_loss(outputs.logits[:, 0], targets))
    multi = AdaMAEForVideoClassification(tiny_config(num_labels=3, problem_type="regression"))
    targets = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.0, 3.0]])
    outputs = multi(clips(2), labels=targets)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.mse_loss(outputs.logits, targets))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_masks_and_labels_follow_the_device_of_the_inputs():
    """Masks are drawn on the clips' device, a CPU mask or CPU labels are moved there (CUDA only)."""
    for mask_type, ratio in (("adaptive", 0.75), ("tube", 0.75), ("random", 0.75), ("frame", 0.5)):
        model = AdaMAEForPreTraining(tiny_config(mask_type=mask_type, mask_ratio=ratio)).cuda()
        assert model(clips(2).cuda()).bool_masked_pos.is_cuda
    model = AdaMAEForPreTraining(tiny_config()).cuda()
    assert model(clips(2).cuda(), bool_masked_pos=random_masking(2, 32, 24)).bool_masked_pos.is_cuda
    classifier = AdaMAEForVideoClassification(tiny_config(num_labels=3)).cuda()
    assert torch.isfinite(classifier(clips(2).cuda(), labels=torch.tensor([0, 2])).loss)


# Mutants of modeling_adamae.py that survive the tests above and are equivalent (the same behaviour for every input
# the public API can pass), with mutmut 3.8.1's names at the commit of tests/README.md's score:
# - x_adaptive_masking__mutmut_15: `keys.topk(k, dim=1)` -> `keys.topk(k)`: the keys are (B, N), dim -1 is dim 1.
# - x_adaptive_masking__mutmut_16/18: `topk(..., sorted=False)` -> sorted=True (or the default, True): the indices
#   are only scattered into the mask, their order is irrelevant.
# - x_mask_to_indices__mutmut_6: `argsort(..., dim=1)` -> the default dim -1: the mask is (B, N).
# - x_mask_to_indices__mutmut_8: `.to(torch.uint8)` -> `.to(None)` (stays bool): a stable argsort of bools orders
#   False before True, as of 0 before 1.
# - x_patchify_targets__mutmut_86/96: `mean(dim=-2)` / `var(dim=-2)` -> dim=+2: the tensor is 4-D there.
# - x_patchify_targets__mutmut_94: `var(unbiased=True)` -> `var()`: torch's default is the unbiased estimate.
# - xǁAdaMAETokenSamplerǁforward__mutmut_23: `log_softmax(dim=-1)` -> dim=+1: the logits are (B, N).
# - xǁAdaMAEForVideoClassificationǁclassification_loss__mutmut_11/12/13: the default problem type
#   "single_label_classification" -> None / another string: the last branch (cross-entropy) is taken for any
#   problem type other than "regression" and "multi_label_classification".
# - xǁAdaMAEForVideoClassificationǁclassification_loss__mutmut_24: `logits.squeeze(-1)` -> squeeze(+1): the logits
#   are (B, 1) there.
# - xǁAdaMAETokenSamplerǁ__init____mutmut_28: the sampler blocks' `qkv_bias=False` -> None: AdaMAEAttention only
#   tests its truth value.
# - xǁAdaMAETokenSamplerǁ__init____mutmut_45/48/51: `getattr(config, "sampler_gradient_checkpointing", False)`
#   with the default None, none or True: AdaMAEConfig.__init__ always sets the attribute, so the default is unused.
# Not equivalent, surviving (counted as survivors in tests/README.md's score):
# - x_adaptive_masking__mutmut_3/5: the Exp(1) noise drawn in the log-probabilities' dtype instead of float32. The
#   same for the float32 log-probs the model always passes (AdaMAETokenSampler returns float32, also under
#   autocast); a direct call with bfloat16 log-probs would round the noise to bfloat16, which skews the draw too
#   little to measure in a test.
# - xǁAdaMAEForPreTrainingǁforward__mutmut_77 (`self.mask_token.to(decoder_tokens.dtype)` -> `.to(None)`) and
#   xǁAdaMAETokenSamplerǁforward__mutmut_6 (`position_embeddings.to(tokens.dtype)` -> `.to(None)`): both are
#   Parameters, which have the model's dtype whether it is cast with `.to` or loaded with `dtype=`; they differ from
#   the activations only under autocast, where the mutant adds in float32 instead of rounding to bfloat16 first, a
#   difference in the last bits that no behaviour pins down.
# - Observable only on a CUDA device: `device=device` / `device=pixel_values.device` / `.to(pixel_values.device)` /
#   `labels.to(logits.device)` dropped or set to None in random_masking (5, 8), tube_masking (6, 10), frame_masking
#   (6, 10), sample_mask (20, 24, 34, 38, 44, 48), AdaMAEForPreTraining.forward (32, 35, 47) and
#   classification_loss (3): on CPU the default device is the clips' device. test_masks_and_labels_follow_the_device_
#   of_the_inputs is written to kill them on a GPU; it has not run yet (no GPU was available), so they count as
#   survivors.


@pytest.mark.parametrize(
    "model_class, overrides, architectures, expected",
    [
        (AdaMAEForPreTraining, {}, None, True),
        (AdaMAEForPreTraining, {"use_final_layernorm": False}, None, False),
        (AdaMAEForVideoClassification, {}, None, False),
        (AdaMAEForVideoClassification, {"use_final_layernorm": True}, None, False),  # not read by the classifier
        (AdaMAEForVideoClassification, {"use_mean_pooling": False}, None, True),
        (AdaMAEModel, {}, None, False),
        (AdaMAEModel, {"use_mean_pooling": False}, None, True),
        (AdaMAEModel, {}, ["AdaMAEForPreTraining"], True),  # a config saved by pre-training before the field existed
        (AdaMAEModel, {"use_final_layernorm": False}, ["AdaMAEForPreTraining"], False),
        (AdaMAEModel, {"use_final_layernorm": True}, None, True),
    ],
)
def test_the_final_layernorm_rule_decides_every_model(model_class, overrides, architectures, expected):
    from adamae_hf.modeling_adamae import encoder_has_final_layernorm

    config = tiny_config(architectures=architectures, **overrides)
    assert encoder_has_final_layernorm(config, model_class) is expected
    model = model_class(config)
    encoder = model if isinstance(model, AdaMAEModel) else model.adamae
    assert (encoder.layernorm is not None) is expected


def test_the_forward_stages_compose_to_forward():
    config = tiny_config(decoder_mask_ratio=0.5)
    model = AdaMAEForPreTraining(config).train()
    pixel_values = clips(config=config)
    torch.manual_seed(1)
    output = model(pixel_values)
    torch.manual_seed(1)
    tokens = model.adamae.embeddings.patch_embeddings(pixel_values)
    log_probs, mask, visible, masked, decoded = model.forward_masking(tokens)
    encoded = model.forward_encoder(tokens, visible).last_hidden_state
    logits = model.forward_decoder(encoded, visible, masked)
    loss, reconstruction_loss, sampling_loss = model.forward_loss(pixel_values, logits, masked, log_probs)
    assert torch.equal(mask, output.bool_masked_pos) and torch.equal(decoded, output.bool_decoded_pos)
    assert masked.shape[1] == int(mask[0].sum()) - int(0.5 * int(mask[0].sum()))
    torch.testing.assert_close(logits, output.logits, atol=0, rtol=0)
    for mine, theirs in ((loss, output.loss), (reconstruction_loss, output.reconstruction_loss),
                         (sampling_loss, output.sampling_loss)):  # fmt: skip
        torch.testing.assert_close(mine, theirs, atol=0, rtol=0)
