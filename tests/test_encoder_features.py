"""Encoder features from a pre-training checkpoint (`AutoModel`), and fine-tuning from the same checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining, AdaMAEForVideoClassification, AdaMAEModel


SMALL = dict(
    image_size=16, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2, decoder_intermediate_size=32, mask_ratio=0.75,
)  # fmt: skip
LEGACY = Path(__file__).parent / "fixtures" / "legacy"
PIXELS = torch.randn((2, 4, 3, 16, 16), generator=torch.Generator().manual_seed(0))
MASK = torch.tensor([[1, 0, 1, 1, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)


@pytest.fixture(scope="module")
def pretraining_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(AdaMAEConfig(**SMALL))
    with torch.no_grad():
        model.adamae.layernorm.weight.uniform_(0.5, 1.5)  # a final norm that is not the identity at init
        model.adamae.layernorm.bias.normal_()
    folder = tmp_path_factory.mktemp("pretraining")
    model.save_pretrained(folder)
    return folder, model.eval()


@pytest.mark.parametrize("checkpoint", ["new", "legacy"])
def test_automodel_on_a_pretraining_checkpoint_is_the_encoder_with_its_final_norm(
    checkpoint, pretraining_checkpoint, load_warnings
):
    folder, pretraining = pretraining_checkpoint
    if checkpoint == "legacy":  # saved before `use_final_layernorm` existed: its `architectures` decides
        folder, pretraining = LEGACY / "pretraining", AdaMAEForPreTraining.from_pretrained(LEGACY / "pretraining").eval()
    encoder, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert isinstance(encoder, AdaMAEModel) and encoder.layernorm is not None
    assert not info["unexpected_keys"] and not info["missing_keys"] and not info["mismatched_keys"]
    assert not load_warnings  # no load-report table
    torch.testing.assert_close(encoder.layernorm.weight, pretraining.adamae.layernorm.weight, atol=0, rtol=0)
    with torch.no_grad():
        features = encoder.eval()(PIXELS, bool_masked_pos=MASK).last_hidden_state
        seen_by_decoder = pretraining.adamae(PIXELS, bool_masked_pos=MASK).last_hidden_state
        unmasked = encoder(PIXELS).last_hidden_state
    torch.testing.assert_close(features, seen_by_decoder, atol=1e-6, rtol=0)
    assert unmasked.shape == (2, 8, 32)
    # normalised per token by the final LayerNorm (weight/bias applied afterwards)
    normalised = (unmasked - encoder.layernorm.bias) / encoder.layernorm.weight
    torch.testing.assert_close(normalised.mean(-1), torch.zeros(2, 8), atol=1e-4, rtol=0)


def test_feature_extractor_saves_and_reloads_with_its_final_norm(pretraining_checkpoint, tmp_path):
    encoder = AutoModel.from_pretrained(pretraining_checkpoint[0]).eval()
    encoder.save_pretrained(tmp_path)
    reloaded, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert reloaded.layernorm is not None and not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(PIXELS).last_hidden_state, encoder(PIXELS).last_hidden_state)


def test_finetuning_from_the_same_checkpoint_keeps_mean_pooling_and_fc_norm(pretraining_checkpoint, tmp_path):
    folder, _ = pretraining_checkpoint
    classifier, info = AdaMAEForVideoClassification.from_pretrained(folder, num_labels=3, output_loading_info=True)
    assert classifier.adamae.layernorm is None and classifier.fc_norm is not None
    assert {"adamae.layernorm.weight", "adamae.layernorm.bias"} <= set(info["unexpected_keys"])  # dropped, reported
    assert any(key.startswith("decoder.") for key in info["unexpected_keys"])
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias", "fc_norm.weight", "fc_norm.bias"}
    encoder = AutoModel.from_pretrained(folder).eval()
    classifier.eval()
    with torch.no_grad():
        before_norm = encoder(PIXELS, output_hidden_states=True).hidden_states[-1]
        pooled = classifier.fc_norm(classifier.adamae(PIXELS).last_hidden_state.mean(1))
        torch.testing.assert_close(classifier.adamae(PIXELS).last_hidden_state, before_norm, atol=1e-6, rtol=0)
        torch.testing.assert_close(classifier(PIXELS).logits, classifier.classifier(pooled))
    # a fine-tuned (mean-pooling) classifier's encoder has no final norm, and AutoModel builds it so
    classifier.save_pretrained(tmp_path)
    assert AutoModel.from_pretrained(tmp_path).layernorm is None
