# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""Performance properties of the pre-training step that can be checked without timing it: no host-device
synchronisation on CUDA, bf16 autocast close to fp32, and `torch.compile` matching eager."""

from __future__ import annotations

import pytest
import torch

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining


TINY = dict(
    image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=64, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=128, decoder_hidden_size=32, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=4, decoder_intermediate_size=64, sampler_num_attention_heads=4,
)  # fmt: skip  (2 x 2 x 2 = 8 tokens)


def tiny_model(mask_type: str = "adaptive", mask_ratio: float = 0.75, **overrides) -> AdaMAEForPreTraining:
    torch.manual_seed(0)
    return AdaMAEForPreTraining(AdaMAEConfig(**TINY, mask_type=mask_type, mask_ratio=mask_ratio, **overrides))


def tiny_clip(batch_size: int = 2, device="cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch_size, 4, 3, 32, 32, generator=generator).to(device)


def fixed_mask(batch_size: int = 2, num_tokens: int = 8, num_masked: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    ranks = torch.rand(batch_size, num_tokens, generator=generator).argsort(dim=1)
    return torch.zeros(batch_size, num_tokens, dtype=torch.bool).scatter_(1, ranks[:, :num_masked], True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: host-device syncs only exist on a GPU")
@pytest.mark.parametrize("mask_type", ["adaptive", "tube"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_training_step_has_no_host_device_sync(mask_type, dtype):
    """Forward (mask drawn on the device), backward and fused AdamW raise under sync debug mode "error" if any op
    synchronises with the host (`.item()`, boolean indexing, `nonzero`, host-side RNG, ...)."""
    device = torch.device("cuda")
    model = tiny_model(mask_type, mask_ratio=0.75 if mask_type == "adaptive" else 0.5).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, fused=True)
    pixel_values = tiny_clip(device=device)

    def step():
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            loss = model(pixel_values).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    step()  # warm-up: lazy CUDA/cuBLAS initialisation and the optimizer state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            loss = step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(loss).item()


def test_bf16_autocast_step_matches_fp32():
    """The same weights, clip and mask: losses under bf16 autocast are within bf16 tolerance of fp32, and a full
    step (backward, AdamW) under autocast gives finite gradients for every parameter."""
    model = tiny_model().eval()  # eval: no dropout in the sampler, so both passes are deterministic
    pixel_values, mask = tiny_clip(), fixed_mask()
    with torch.no_grad():
        reference = model(pixel_values, bool_masked_pos=mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(pixel_values, bool_masked_pos=mask)
    assert low.loss.dtype == torch.float32  # losses are computed in float32
    for name in ("loss", "reconstruction_loss", "sampling_loss"):
        torch.testing.assert_close(getattr(low, name), getattr(reference, name), rtol=3e-2, atol=1e-2, msg=name)
    torch.testing.assert_close(low.token_probabilities, reference.token_probabilities, rtol=5e-2, atol=1e-2)

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(pixel_values).loss
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    optimizer.step()


def _compiled_matches_eager(backend: str) -> None:
    """Compile a tiny AdaMAEForPreTraining with `fullgraph=True` (the whole forward, mask drawing included, is one
    graph: no graph breaks), run forward + backward, and compare losses, mask and gradients with eager mode. With
    `fallback_random` the compiled graph draws the same random numbers as eager, so the adaptive mask is identical."""
    import torch._inductor.config as inductor_config

    model = tiny_model().eval()  # no dropout; the backward still runs
    pixel_values = tiny_clip()
    with inductor_config.patch(fallback_random=True):
        torch.manual_seed(5)
        eager = model(pixel_values)
        eager.loss.backward()
        eager_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)

        torch._dynamo.reset()
        compiled_model = torch.compile(model, backend=backend, fullgraph=True)
        torch.manual_seed(5)
        compiled = compiled_model(pixel_values)
        compiled.loss.backward()
    assert torch.equal(compiled.bool_masked_pos, eager.bool_masked_pos)
    for name in ("loss", "reconstruction_loss", "sampling_loss"):
        torch.testing.assert_close(getattr(compiled, name), getattr(eager, name), rtol=1e-4, atol=1e-5, msg=name)
    parameters = dict(model.named_parameters())
    for name, grad in eager_grads.items():
        torch.testing.assert_close(parameters[name].grad, grad, rtol=1e-3, atol=1e-5, msg=name)


def test_torch_compile_traces_full_graph():
    """Fast: dynamo captures the whole pre-training forward (and AOTAutograd its backward) in one graph; the
    `aot_eager` backend runs it without generating kernels."""
    _compiled_matches_eager("aot_eager")


@pytest.mark.slow
def test_torch_compile_inductor_matches_eager():
    """`torch.compile` with inductor (C++ kernels on CPU) matches eager. About 40-90 s on 2 cores, almost all of it
    kernel compilation, hence `slow`."""
    import shutil

    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        pytest.skip("torch.compile's inductor backend on CPU needs a C++ compiler; none on PATH")
    _compiled_matches_eager("inductor")
