# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""AdaMAE model configuration."""

from __future__ import annotations

import copy
import difflib
import json
import math

from transformers import PretrainedConfig


MASK_TYPES = ("adaptive", "tube", "random", "frame", "motion")
SAMPLER_TYPES = ("mha", "mlp")
HIDDEN_ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "quick_gelu")


class AdaMAEConfig(PretrainedConfig):
    r"""
    Configuration of an AdaMAE model ([`AdaMAEModel`], [`AdaMAEForPreTraining`], [`AdaMAEForVideoClassification`]).

    AdaMAE ("Adaptive Masking for Efficient Spatiotemporal Learning with Masked Autoencoders", Bandara et al.,
    CVPR 2023) is a VideoMAE whose visible tokens are drawn from a categorical distribution predicted by a small
    *adaptive token sampler* network, trained with a REINFORCE-style sampling loss. The defaults build the released
    ViT-B model (16x224x224 clips, tubelet 2, patch 16, 1568 tokens, 95 % masking).

    The first block of arguments are [`~transformers.VideoMAEConfig`]'s fields (same names and meanings; the default
    `layer_norm_eps` is 1e-6, as in the released code). The others are AdaMAE's:

    Args:
        mask_type (`str`, defaults to `"adaptive"`):
            How [`AdaMAEForPreTraining`] draws a mask when none is given: `"adaptive"` (AdaMAE: visible tokens
            sampled without replacement from the sampler's distribution), `"tube"` (VideoMAE: one random spatial mask
            repeated over time), `"random"` (uniform over all tokens), `"frame"` (whole temporal slices) or
            `"motion"` (visible tokens sampled without replacement in proportion to their motion energy, with a
            uniform floor of `motion_mask_floor`; no learned parameters, see `modeling_adamae.motion_masking`).
        mask_ratio (`float`, defaults to 0.95):
            Fraction of masked tokens, in (0, 1). The adaptive mask keeps `int(N * (1 - mask_ratio))` visible
            tokens (78 of 1568 at 95 %), and so does the motion mask; tube and random masks mask `int(mask_ratio * n)` tokens as VideoMAE's mask
            generators do (n = tokens per slice for tube, N for random); the frame mask keeps
            `int(slices * (1 - mask_ratio))` whole temporal slices visible.
        sampler_type (`str`, defaults to `"mha"`):
            `"mha"`: pre-norm transformer block(s) then `Linear(d, 1)`; `"mlp"`: `Linear(d, d)`, `Linear(d, 1)`
            (Table 1f of the paper).
        sampler_depth (`int`, defaults to 1): Number of transformer blocks in the `"mha"` sampler.
        sampler_hidden_size (`int`, *optional*): Width of the sampler; defaults to `hidden_size`. When it differs
            from `hidden_size`, a linear projection maps the tokens to it first.
        sampler_num_attention_heads (`int`, defaults to 8): Attention heads of the sampler blocks.
        sampler_dropout (`float`, defaults to 0.1): Dropout after the sampler's attention projection and MLP.
        sampler_layer_norm_eps (`float`, defaults to 1e-5): LayerNorm epsilon of the sampler blocks.
        sampling_loss_weight (`float`, defaults to 1e-4): Weight of the sampling loss in the total loss.
        sampling_loss_to_tokenizer (`bool`, defaults to `True`):
            Whether the sampling loss back-propagates into the tokenizer (patch embedding) through the sampler's
            input. `True` is what the released code does; the paper's text detaches the MAE (`False`).
        sampler_gradient_checkpointing (`bool`, defaults to `False`):
            Recompute the sampler's transformer block(s) during the backward pass instead of keeping their
            activations over all N tokens (1568 for ViT-B). The step's math is unchanged (dropout draws are replayed);
            it costs one more sampler forward (about 3 % of a ViT-B step's FLOPs) and saves the sampler's
            activation memory, the part by which AdaMAE's step holds more memory than VideoMAE's.
        use_final_layernorm (`bool`, *optional*):
            Whether the encoder of [`AdaMAEForPreTraining`] and of the bare [`AdaMAEModel`] ends with a LayerNorm
            (`adamae.layernorm`). `None` (the default) means: `True` for [`AdaMAEForPreTraining`] (the released
            encoder), and for [`AdaMAEModel`] `True` when the config was saved by [`AdaMAEForPreTraining`] (its
            `architectures`, for checkpoints saved before this field existed), else `not use_mean_pooling` (as
            VideoMAE); the rule is `modeling_adamae.encoder_has_final_layernorm`. `False` makes the final norm the identity: the layout of a transformers `VideoMAEForPreTraining`
            with `use_mean_pooling=True`, whose encoder output goes straight to the decoder. `save_pretrained` writes
            the value the saved model has, so `AutoModel` builds the encoder that the checkpoint holds.
            [`AdaMAEForVideoClassification`] does not read it: its encoder has the norm exactly when
            `use_mean_pooling=False` (with mean pooling, `fc_norm` normalises the pooled features instead).
        decoder_mask_ratio (`float`, defaults to 0.0):
            Decoder masking (the "dual masking" of VideoMAE V2, Wang et al., CVPR 2023), in [0, 1): in training mode
            the decoder sees the visible tokens plus only `n - int(decoder_mask_ratio * n)` of the `n` masked tokens,
            a uniformly random subset drawn per clip on the device, and the reconstruction and sampling losses are
            computed over that subset (an unbiased estimate of the losses over all masked tokens). 0.0 (default)
            decodes every masked token: the released AdaMAE, bit for bit. In eval mode every masked token is decoded.
            See `modeling_adamae.decoder_masking` for how the subset differs from VideoMAE V2's running-cell mask.
        motion_mask_floor (`float`, defaults to 0.1):
            For `mask_type="motion"`, the weight of the uniform distribution mixed into the motion distribution, in
            (0, 1]: each token is drawn with probability `(1 - floor) * e_i / sum(e) + floor / N` (`e_i` its motion
            energy), so that every token can be drawn and a clip without motion gets a uniform random mask; 1.0 is
            the random mask. Not read by the other mask types.
        drop_path_rate (`float`, defaults to 0.0): Stochastic depth of the encoder, increasing linearly per block.
        head_layer_norm_eps (`float`, *optional*): Epsilon of the decoder's final norm and of the classifier's
            `fc_norm`; defaults to `layer_norm_eps`. transformers' VideoMAE uses torch's default 1e-5 there.
        classifier_init_scale (`float`, defaults to 0.001): The classification head is initialised with a truncated
            normal of std `initializer_range * classifier_init_scale` (VideoMAE's and AdaMAE's `init_scale`).

    Example:

    ```python
    >>> from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
    >>> config = AdaMAEConfig()  # the released ViT-B model
    >>> model = AdaMAEForPreTraining(config)
    ```
    """

    model_type = "adamae"

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        num_channels: int = 3,
        num_frames: int = 16,
        tubelet_size: int = 2,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.0,
        attention_probs_dropout_prob: float = 0.0,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-6,
        qkv_bias: bool = True,
        use_mean_pooling: bool = True,
        use_final_layernorm: bool | None = None,
        decoder_num_attention_heads: int = 6,
        decoder_hidden_size: int = 384,
        decoder_num_hidden_layers: int = 4,
        decoder_intermediate_size: int = 1536,
        norm_pix_loss: bool = True,
        mask_type: str = "adaptive",
        mask_ratio: float = 0.95,
        sampler_type: str = "mha",
        sampler_depth: int = 1,
        sampler_hidden_size: int | None = None,
        sampler_num_attention_heads: int = 8,
        sampler_dropout: float = 0.1,
        sampler_layer_norm_eps: float = 1e-5,
        sampling_loss_weight: float = 1e-4,
        sampling_loss_to_tokenizer: bool = True,
        sampler_gradient_checkpointing: bool = False,
        decoder_mask_ratio: float = 0.0,
        motion_mask_floor: float = 0.1,
        drop_path_rate: float = 0.0,
        head_layer_norm_eps: float | None = None,
        classifier_init_scale: float = 0.001,
        **kwargs,
    ):
        # transformers >= 5 renamed VideoMAE's `qkv_bias` to `qv_bias`; accept both spellings.
        qkv_bias = kwargs.pop("qv_bias", qkv_bias)
        super().__init__(**kwargs)
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.qkv_bias = qkv_bias
        self.use_mean_pooling = use_mean_pooling
        self.use_final_layernorm = use_final_layernorm
        self.decoder_num_attention_heads = decoder_num_attention_heads
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_num_hidden_layers = decoder_num_hidden_layers
        self.decoder_intermediate_size = decoder_intermediate_size
        self.norm_pix_loss = norm_pix_loss
        self.mask_type = mask_type
        self.mask_ratio = mask_ratio
        self.sampler_type = sampler_type
        self.sampler_depth = sampler_depth
        self.sampler_hidden_size = hidden_size if sampler_hidden_size is None else sampler_hidden_size
        self.sampler_num_attention_heads = sampler_num_attention_heads
        self.sampler_dropout = sampler_dropout
        self.sampler_layer_norm_eps = sampler_layer_norm_eps
        self.sampling_loss_weight = sampling_loss_weight
        self.sampling_loss_to_tokenizer = sampling_loss_to_tokenizer
        self.sampler_gradient_checkpointing = bool(sampler_gradient_checkpointing)
        self.decoder_mask_ratio = decoder_mask_ratio
        self.motion_mask_floor = motion_mask_floor
        self.drop_path_rate = drop_path_rate
        self.head_layer_norm_eps = layer_norm_eps if head_layer_norm_eps is None else head_layer_norm_eps
        self.classifier_init_scale = classifier_init_scale
        self.validate_adamae()

    # ------------------------------------------------------------------ derived sizes
    @property
    def token_grid(self) -> tuple[int, int, int]:
        """`(T / tubelet, H / patch, W / patch)`: the token grid of one clip, `(8, 14, 14)` for ViT-B."""
        return (
            self.num_frames // self.tubelet_size,
            self.image_size // self.patch_size,
            self.image_size // self.patch_size,
        )

    @property
    def num_tokens(self) -> int:
        """Number of tokens of one clip, `N` (1568 for ViT-B)."""
        grid = self.token_grid
        return grid[0] * grid[1] * grid[2]

    @property
    def num_visible_tokens(self) -> int:
        """Visible tokens per clip under `mask_type` and `mask_ratio`, `N_v` (78 for adaptive 95 %)."""
        slices, height, width = self.token_grid
        per_slice = height * width
        if self.mask_type == "tube":
            return slices * (per_slice - int(self.mask_ratio * per_slice))
        if self.mask_type == "random":
            return self.num_tokens - int(self.mask_ratio * self.num_tokens)
        if self.mask_type == "frame":
            return int(slices * (1 - self.mask_ratio)) * per_slice
        return int(self.num_tokens * (1 - self.mask_ratio))

    @property
    def patch_dim(self) -> int:
        """Values of one reconstruction target, `tubelet * patch * patch * channels` (1536 for ViT-B)."""
        return self.tubelet_size * self.patch_size * self.patch_size * self.num_channels

    # ------------------------------------------------------------------ overrides
    # Fields that follow another one (when they equal it and are not overridden themselves).
    _derived_fields = {"sampler_hidden_size": "hidden_size", "head_layer_norm_eps": "layer_norm_eps"}

    def update_from_string(self, update_str: str) -> None:
        """
        [`~transformers.PretrainedConfig.update_from_string`] (`"hidden_size=384,mask_type=tube,norm_pix_loss=false"`:
        each value typed like the field's current value; a field that is `None` takes a JSON value such as `false`),
        applied item by item so that an error names its key, then
        validated with [`validate_adamae`]. `sampler_hidden_size` and `head_layer_norm_eps` follow `hidden_size` and
        `layer_norm_eps` when they equalled them and are not set themselves. All or nothing: on error the config is
        unchanged.

        Raises:
            ValueError: an item that is not `key=value`, a key that is no field of the config (with close names), a
                value that does not parse as the field's type, or an invalid resulting config; the message names the
                key.
        """
        pairs = []
        for item in filter(None, (part.strip() for part in update_str.split(","))):
            key, separator, value = (part.strip() for part in item.partition("="))
            if not separator or not key:
                raise ValueError(f"config override {item!r} is not of the form key=value")
            pairs.append((key, value))
        fields = self.to_dict()
        updated = copy.deepcopy(self)
        for key, value in pairs:
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ValueError(f"AdaMAEConfig has no field {key!r}{hint}")
            try:
                if getattr(updated, key) is None:  # no type to follow: a JSON value (true, 0.5, "text", null)
                    setattr(updated, key, json.loads(value))
                else:
                    PretrainedConfig.update_from_string(updated, f"{key}={value}")
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"AdaMAEConfig.{key}: cannot set {value!r} (current value {getattr(self, key)!r}): {error}"
                ) from None
        keys = {key for key, _ in pairs}
        for derived, base in self._derived_fields.items():
            if base in keys and derived not in keys and getattr(self, derived) == getattr(self, base):
                setattr(updated, derived, getattr(updated, base))
        updated.validate_adamae()
        self.__dict__.update(updated.__dict__)

    # ------------------------------------------------------------------ validation
    def validate_adamae(self) -> None:
        """Raise `ValueError` naming the field, its value and what is allowed, for any inconsistent value."""

        def fail(field: str, allowed: str) -> None:
            raise ValueError(f"AdaMAEConfig.{field}={getattr(self, field)!r} is invalid: {allowed}.")

        for field in (
            "image_size", "patch_size", "num_channels", "num_frames", "tubelet_size", "hidden_size",
            "num_hidden_layers", "num_attention_heads", "intermediate_size", "decoder_num_attention_heads",
            "decoder_hidden_size", "decoder_num_hidden_layers", "decoder_intermediate_size", "sampler_depth",
            "sampler_hidden_size", "sampler_num_attention_heads",
        ):  # fmt: skip
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                fail(field, "it must be a positive integer")
        if self.image_size % self.patch_size:
            fail("image_size", f"it must be divisible by patch_size={self.patch_size}")
        if self.num_frames % self.tubelet_size:
            fail("num_frames", f"it must be divisible by tubelet_size={self.tubelet_size}")
        for width, heads in (
            ("hidden_size", "num_attention_heads"),
            ("decoder_hidden_size", "decoder_num_attention_heads"),
            ("sampler_hidden_size", "sampler_num_attention_heads"),
        ):
            if getattr(self, width) % getattr(self, heads):
                fail(heads, f"it must divide {width}={getattr(self, width)}")
        if self.hidden_act not in HIDDEN_ACTS:
            fail("hidden_act", f"allowed: {', '.join(HIDDEN_ACTS)}")
        if self.mask_type not in MASK_TYPES:
            fail("mask_type", f"allowed: {', '.join(MASK_TYPES)}")
        if self.sampler_type not in SAMPLER_TYPES:
            fail("sampler_type", f"allowed: {', '.join(SAMPLER_TYPES)}")
        if not (isinstance(self.mask_ratio, (int, float)) and 0.0 < self.mask_ratio < 1.0):
            fail("mask_ratio", "it must lie strictly between 0 and 1")
        if self.num_visible_tokens <= 0:
            fail(
                "mask_ratio",
                f"it leaves no visible token with mask_type={self.mask_type!r} and {self.num_tokens} tokens "
                f"(token grid {self.token_grid}); lower it",
            )
        if self.num_visible_tokens >= self.num_tokens:
            fail("mask_ratio", f"it masks no token with mask_type={self.mask_type!r}; raise it")
        for field in ("hidden_dropout_prob", "attention_probs_dropout_prob", "sampler_dropout", "drop_path_rate"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                fail(field, "it must lie in [0, 1)")
        if isinstance(self.decoder_mask_ratio, bool) or not (
            isinstance(self.decoder_mask_ratio, (int, float)) and 0.0 <= self.decoder_mask_ratio < 1.0
        ):
            fail("decoder_mask_ratio", "it must lie in [0, 1) (0 = the decoder reconstructs every masked token)")
        if isinstance(self.motion_mask_floor, bool) or not (
            isinstance(self.motion_mask_floor, (int, float)) and 0.0 < self.motion_mask_floor <= 1.0
        ):
            fail("motion_mask_floor", "it must lie in (0, 1] (the uniform share of the motion mask's distribution)")
        for field in ("layer_norm_eps", "sampler_layer_norm_eps", "head_layer_norm_eps", "initializer_range"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and 0 < value < math.inf):
                fail(field, "it must be a positive, finite number")
        for field in ("qkv_bias", "use_mean_pooling", "norm_pix_loss", "sampling_loss_to_tokenizer"):
            if not isinstance(getattr(self, field), bool):
                fail(field, "it must be true or false")
        if self.use_final_layernorm is not None and not isinstance(self.use_final_layernorm, bool):
            fail("use_final_layernorm", "it must be true, false or None (the model's default)")
        for field in ("sampling_loss_weight", "classifier_init_scale"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                fail(field, "it must be a finite number >= 0")


__all__ = ["AdaMAEConfig"]
