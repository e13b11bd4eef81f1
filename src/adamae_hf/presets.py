"""Named model sizes: `preset_config("tiny" | "small" | "base", **overrides)`.

`base` is the released ViT-B model; `small` a ViT-S/16 with a 192-wide decoder; `tiny` is sized for the embedded
synthetic dataset (8 of its 16 frames at 64x64), so that pre-training and fine-tuning finish in minutes on 2 CPU
cores: 8x8 patches (4 x 8 x 8 = 256 tokens, fine enough for the sampler to single out the moving object, which
covers about 16 % of them) and 90 % masking (25 visible tokens).
"""

from __future__ import annotations

from .configuration_adamae import AdaMAEConfig


__all__ = ["MODEL_PRESETS", "preset_config"]


MODEL_PRESETS: dict[str, dict] = {
    "tiny": dict(
        image_size=64, patch_size=8, num_frames=8, tubelet_size=2, hidden_size=128, num_hidden_layers=4,
        num_attention_heads=4, intermediate_size=512, decoder_hidden_size=64, decoder_num_hidden_layers=2,
        decoder_num_attention_heads=4, decoder_intermediate_size=256, sampler_num_attention_heads=4, mask_ratio=0.9,
    ),
    "small": dict(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, decoder_hidden_size=192,
        decoder_num_hidden_layers=4, decoder_num_attention_heads=3, decoder_intermediate_size=768,
    ),
    "base": {},
}  # fmt: skip


def preset_config(name: str, **overrides) -> AdaMAEConfig:
    """An [`AdaMAEConfig`] of the named size, with `overrides` applied."""
    if name not in MODEL_PRESETS:
        raise ValueError(f"Unknown model preset {name!r}; choose one of {', '.join(MODEL_PRESETS)}.")
    return AdaMAEConfig(**{**MODEL_PRESETS[name], **overrides})
