"""`build_adamw` uses torch's fused AdamW on CPU as on CUDA (3-5x faster per step on 2 shared cores than the
single-tensor default) and updates the weights as the single-tensor AdamW does, up to rounding."""

from __future__ import annotations

import torch

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
from adamae_hf.optimization import build_adamw


TINY = dict(
    image_size=32, patch_size=8, num_frames=4, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
    intermediate_size=64, decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
    decoder_intermediate_size=64, sampler_num_attention_heads=2, mask_ratio=0.75,
)  # fmt: skip


# Parameters whose true gradient is 0: the token sampler ends in `log_softmax(head(h))` over the tokens, which ignores a
# shift shared by every token, and `head.bias` (and the last sampler block's `mlp.fc2.bias`, added to every token's
# residual right before `head`) shift every logit equally. Their computed gradients are float rounding (~1e-12), which
# Adam divides by its own running RMS, so the two optimisers' updates of them are different noise. The released code
# (wgcban/adamae, `get_token_probs`) trains them all the same; so does AdaMAE here, to keep its parameters, optimizer
# groups and checkpoints those of the released code. They change no output (checked below), so they are left out of
# the per-parameter comparison.
SHIFT_INVARIANT = ("token_sampler.head.bias", "token_sampler.layers.0.mlp.fc2.bias")


def _train(fused: bool) -> tuple[AdaMAEForPreTraining, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = AdaMAEForPreTraining(AdaMAEConfig(**TINY)).eval()  # eval: no dropout, the same forward in both runs
    optimizer = build_adamw(model, 1e-3, 0.05, fused=None if fused else False)
    assert optimizer.defaults["fused"] is (True if fused else None)
    clips = torch.randn((2, 4, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[:, 8:] = True
    for _ in range(3):
        model(clips, bool_masked_pos=mask).loss.backward()
        for name in SHIFT_INVARIANT:  # rounding noise, not a gradient
            assert model.get_parameter(name).grad.abs().max() < 1e-9, name
        optimizer.step()
        optimizer.zero_grad()
    return model, {name: p.detach().clone() for name, p in model.named_parameters()}


def test_build_adamw_is_fused_on_cpu_and_matches_single_tensor_adamw():
    (fused_model, fused), (single_model, single) = _train(True), _train(False)
    torch.manual_seed(0)
    initial = dict(AdaMAEForPreTraining(AdaMAEConfig(**TINY)).named_parameters())
    for name, value in fused.items():
        if name not in SHIFT_INVARIANT:
            torch.testing.assert_close(value, single[name], rtol=1e-5, atol=1e-6, msg=name)
    assert any(not torch.equal(fused[name], initial[name]) for name in fused)
    # what the shift-invariant parameters hold changes nothing the model computes
    clips = torch.randn((2, 4, 3, 32, 32), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(
            fused_model.get_token_probabilities(clips), single_model.get_token_probabilities(clips), rtol=1e-5, atol=1e-7
        )
        for name in SHIFT_INVARIANT:
            fused_model.get_parameter(name).add_(0.5)
        torch.testing.assert_close(
            fused_model.get_token_probabilities(clips), single_model.get_token_probabilities(clips), rtol=1e-5, atol=1e-7
        )
