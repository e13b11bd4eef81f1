"""AdaMAE's attention goes through transformers' attention interface (`ALL_ATTENTION_FUNCTIONS`), as VideoMAE's does:
every implementation gives the same outputs, the class flags say what works, and a registered function is used."""

from __future__ import annotations

import pytest
import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining, AdaMAEForVideoClassification, AdaMAEModel


SMALL = dict(
    image_size=16, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2, decoder_intermediate_size=32, mask_ratio=0.75, num_labels=3,
)  # fmt: skip  # 8 tokens, 2 visible; the sampler keeps its default 8 heads (head_dim 4), qkv without bias


def _models(tmp_path, attn_implementation: str):
    """The three models (seeded, float32, eval) saved once and loaded with `attn_implementation`."""
    for cls in (AdaMAEForPreTraining, AdaMAEForVideoClassification):
        folder = tmp_path / cls.__name__
        if not folder.exists():
            torch.manual_seed(0)
            model = cls(AdaMAEConfig(**SMALL))
            with torch.no_grad():  # non-trivial biases and norms
                for parameter in model.parameters():
                    parameter.add_(0.05 * torch.randn_like(parameter))
            model.save_pretrained(folder)
    return {
        cls.__name__: cls.from_pretrained(tmp_path / source, attn_implementation=attn_implementation).eval()
        for cls, source in (
            (AdaMAEForPreTraining, "AdaMAEForPreTraining"),
            (AdaMAEModel, "AdaMAEForPreTraining"),
            (AdaMAEForVideoClassification, "AdaMAEForVideoClassification"),
        )
    }


def _outputs(models) -> dict[str, torch.Tensor]:
    pixel_values = torch.randn((2, 4, 3, 16, 16), generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1, 0, 1, 1, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    with torch.no_grad():
        pretraining = models["AdaMAEForPreTraining"](pixel_values, bool_masked_pos=mask)
        return {
            "pretraining.loss": pretraining.loss,
            "pretraining.logits": pretraining.logits,
            "sampler.probabilities": models["AdaMAEForPreTraining"].get_token_probabilities(pixel_values),
            "model.last_hidden_state": models["AdaMAEModel"](pixel_values).last_hidden_state,
            "model.masked_last_hidden_state": models["AdaMAEModel"](pixel_values, bool_masked_pos=mask).last_hidden_state,
            "classification.logits": models["AdaMAEForVideoClassification"](pixel_values).logits,
        }


def _assert_all_close(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], atol=1e-5, rtol=0, msg=name)


def test_flags_say_every_implementation_of_the_interface_works():
    for cls in (AdaMAEModel, AdaMAEForPreTraining, AdaMAEForVideoClassification):
        assert cls._supports_sdpa and cls._supports_flash_attn and cls._supports_flex_attn
        assert cls._supports_attention_backend
        assert cls._can_set_attn_implementation()  # transformers found the interface in the modeling file
    assert AdaMAEForPreTraining(AdaMAEConfig(**SMALL)).config._attn_implementation == "sdpa"


def test_sdpa_and_eager_agree_in_float32(tmp_path):
    sdpa, eager = _models(tmp_path, "sdpa"), _models(tmp_path, "eager")
    assert {m.config._attn_implementation for m in sdpa.values()} == {"sdpa"}
    assert {m.config._attn_implementation for m in eager.values()} == {"eager"}
    _assert_all_close(_outputs(sdpa), _outputs(eager))


def test_a_registered_attention_function_is_used_by_every_block(tmp_path):
    calls = []

    def recording_sdpa(module, query, key, value, attention_mask, **kwargs):
        calls.append(tuple(query.shape))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("recording_sdpa", recording_sdpa)
    models = _models(tmp_path, "recording_sdpa")
    pretraining = models["AdaMAEForPreTraining"]
    pixel_values = torch.randn((2, 4, 3, 16, 16))
    with torch.no_grad():
        pretraining(pixel_values)
    # sampler (8 heads over 8 tokens), encoder (4 heads over 2 visible tokens) x 2, decoder (2 heads over 8 tokens)
    assert calls == [(2, 8, 8, 4), (2, 4, 2, 8), (2, 4, 2, 8), (2, 2, 8, 8)]
    _assert_all_close(_outputs(models), _outputs(_models(tmp_path, "eager")))
    # the implementation is read at every call: switching it at run time takes effect
    calls.clear()
    pretraining.set_attn_implementation("eager")
    with torch.no_grad():
        pretraining(pixel_values)
    assert calls == []


def test_output_attentions_returns_the_eager_weights_under_any_implementation(tmp_path):
    pixel_values = torch.randn((2, 4, 3, 16, 16))
    weights = {}
    for implementation in ("sdpa", "eager"):
        model = _models(tmp_path, implementation)["AdaMAEForVideoClassification"]
        with torch.no_grad():
            outputs = model(pixel_values, output_attentions=True)
        assert len(outputs.attentions) == 2 and outputs.attentions[0].shape == (2, 4, 8, 8)
        torch.testing.assert_close(outputs.attentions[0].sum(-1), torch.ones(2, 4, 8))
        weights[implementation] = outputs.attentions
    for a, b in zip(weights["sdpa"], weights["eager"]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_flash_attention_request_reaches_transformers_checks(tmp_path):
    """Without the flash-attn package (CPU CI), the error is transformers' "not installed", not "not supported"."""
    AdaMAEForVideoClassification(AdaMAEConfig(**SMALL)).save_pretrained(tmp_path)
    with pytest.raises(ImportError, match="FlashAttention2"):
        AdaMAEForVideoClassification.from_pretrained(tmp_path, attn_implementation="flash_attention_2")


AVX512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")


@pytest.mark.skipif(not AVX512, reason="flex_attention is refused on CPUs without AVX-512 (next test)")
def test_flex_attention_agrees_with_eager_on_cpu(tmp_path):
    """torch's flex_attention compiles its kernel (inductor) on CPU too: on AVX-512, the same outputs as eager."""
    _assert_all_close(_outputs(_models(tmp_path, "flex_attention")), _outputs(_models(tmp_path, "eager")))


@pytest.mark.parametrize("capability", ["AVX2", "DEFAULT"])
def test_flex_attention_is_refused_on_cpus_without_avx512(tmp_path, monkeypatch, capability):
    """Where torch's CPU flex kernel gives NaN (AVX2), the forward raises and names the way out instead."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    models = _models(tmp_path, "flex_attention")
    with pytest.raises(ValueError, match=rf"flex_attention' on CPU is refused on this {capability} CPU.*'sdpa'"):
        _outputs(models)
    for model in models.values():
        model.set_attn_implementation("sdpa")
    _assert_all_close(_outputs(models), _outputs(_models(tmp_path, "eager")))
