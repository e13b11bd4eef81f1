"""Property-based tests (hypothesis): invariants that must hold for any valid input, checked through the public API.

- masks of every `mask_type`, drawn by `AdaMAEForPreTraining`: exact visible count per clip, tube structure repeated
  over time, frame masks as whole slices, every visible token encoded once, in increasing token order;
- adaptive draws: only tokens of non-zero probability are ever visible;
- clip sampling (`sample_clip_indices`): exact stride, inside the video, monotone, and the documented padding of
  short videos (the last frame repeated);
- config validation: every invalid value of every validated field raises `ValueError` naming the field.

Each test runs 30 examples (tests/conftest.py's "fast" hypothesis profile; `--hypothesis-profile=thorough` runs 500)
of tiny models, a few milliseconds each: the whole file takes seconds.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from adamae_hf import AdaMAEConfig, AdaMAEForPreTraining
from adamae_hf.data import sample_clip_indices
from adamae_hf.modeling_adamae import adaptive_masking


MICRO = dict(
    patch_size=2, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
    decoder_hidden_size=8, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=16,
    sampler_num_attention_heads=2,
)  # fmt: skip


def expected_num_visible(mask_type: str, slices: int, per_slice: int, mask_ratio: float) -> int:
    """The documented visible count (AdaMAEConfig's docstring), computed independently of the package."""
    num_tokens = slices * per_slice
    if mask_type == "tube":  # VideoMAE's TubeMaskingGenerator: int(ratio * H'W') masked per slice
        return slices * (per_slice - int(mask_ratio * per_slice))
    if mask_type == "random":  # int(ratio * N) masked
        return num_tokens - int(mask_ratio * num_tokens)
    if mask_type == "frame":  # int(slices * (1 - ratio)) whole slices visible
        return int(slices * (1 - mask_ratio)) * per_slice
    return int(num_tokens * (1 - mask_ratio))  # adaptive: N_v = int(N * (1 - ratio))


@st.composite
def grids(draw):
    """(slices, side, tubelet_size): a token grid of `slices x side x side`."""
    return draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.sampled_from([1, 2]))


def micro_config(mask_type, slices, side, tubelet, mask_ratio, **overrides) -> AdaMAEConfig:
    return AdaMAEConfig(
        **MICRO, image_size=2 * side, num_frames=slices * tubelet, tubelet_size=tubelet, mask_type=mask_type,
        mask_ratio=mask_ratio, **overrides,
    )  # fmt: skip


def valid_micro_config(mask_type, grid, mask_ratio) -> AdaMAEConfig:
    slices, side, tubelet = grid
    num_visible = expected_num_visible(mask_type, slices, side * side, mask_ratio)
    assume(0 < num_visible < slices * side * side)
    return micro_config(mask_type, slices, side, tubelet, mask_ratio)


def random_clips(config: AdaMAEConfig, batch_size: int, seed: int) -> torch.Tensor:
    shape = (batch_size, config.num_frames, config.num_channels, config.image_size, config.image_size)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------ masks
@given(
    mask_type=st.sampled_from(["adaptive", "tube", "random", "frame"]),
    grid=grids(),
    mask_ratio=st.floats(0.05, 0.95),
    batch_size=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_model_draws_masks_of_its_type_with_the_exact_visible_count(mask_type, grid, mask_ratio, batch_size, seed):
    config = valid_micro_config(mask_type, grid, mask_ratio)
    slices, side, _ = grid
    per_slice = side * side
    num_visible = expected_num_visible(mask_type, slices, per_slice, mask_ratio)
    assert config.num_visible_tokens == num_visible
    torch.manual_seed(seed)
    model = AdaMAEForPreTraining(config).eval()
    pixel_values = random_clips(config, batch_size, seed)
    with torch.no_grad():
        outputs = model(pixel_values, output_hidden_states=True)
    mask = outputs.bool_masked_pos
    assert mask.shape == (batch_size, slices * per_slice) and mask.dtype == torch.bool
    assert ((~mask).sum(1) == num_visible).all()
    assert outputs.logits.shape == (batch_size, slices * per_slice - num_visible, config.patch_dim)
    by_slice = mask.view(batch_size, slices, per_slice)
    if mask_type == "tube":
        assert (by_slice == by_slice[:, :1]).all()  # one spatial mask repeated over time
        assert (by_slice[:, 0].sum(-1) == int(mask_ratio * per_slice)).all()
    if mask_type == "frame":
        assert (by_slice.all(-1) | (~by_slice).all(-1)).all()  # whole slices
        assert ((~by_slice).all(-1).sum(-1) == int(slices * (1 - mask_ratio))).all()
    # the encoder sees each visible token exactly once, in increasing token order (no duplicate, none lost)
    embeddings = model.adamae.embeddings(pixel_values)  # (B, N, D): every token with its position
    expected = embeddings[~mask].view(batch_size, num_visible, -1)
    torch.testing.assert_close(outputs.hidden_states[0], expected, rtol=0, atol=0)
    if mask_type == "adaptive":
        torch.testing.assert_close(outputs.token_probabilities.sum(1), torch.ones(batch_size))
    else:
        assert outputs.token_probabilities is None and outputs.sampling_loss is None


@st.composite
def allowed_tokens(draw, batch_size: int, num_tokens: int, num_visible: int):
    """A `(B, N)` bool tensor with at least `num_visible` True (non-zero probability) per row."""
    rows = []
    for _ in range(batch_size):
        count = draw(st.integers(num_visible, num_tokens))
        chosen = draw(st.permutations(range(num_tokens)))[:count]
        rows.append([i in set(chosen) for i in range(num_tokens)])
    return torch.tensor(rows, dtype=torch.bool)


@given(data=st.data(), grid=grids(), mask_ratio=st.floats(0.3, 0.95), batch_size=st.integers(1, 3))
def test_adaptive_mask_draws_only_tokens_of_nonzero_probability(data, grid, mask_ratio, batch_size):
    config = valid_micro_config("adaptive", grid, mask_ratio)
    num_tokens, num_visible = config.num_tokens, config.num_visible_tokens
    allowed = data.draw(allowed_tokens(batch_size, num_tokens, num_visible), label="allowed")
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    model = AdaMAEForPreTraining(config).eval()

    def zero_probability_outside_allowed(module, args, log_probs):
        return torch.log_softmax(log_probs.masked_fill(~allowed, float("-inf")), dim=-1)

    model.token_sampler.register_forward_hook(zero_probability_outside_allowed)
    with torch.no_grad():
        outputs = model(random_clips(config, batch_size, 0))
    visible = ~outputs.bool_masked_pos
    assert (visible.sum(1) == num_visible).all()
    assert not (visible & ~allowed).any()
    exactly = allowed.sum(1) == num_visible  # as many allowed tokens as visible ones: the draw is forced
    assert torch.equal(visible[exactly], allowed[exactly])


@given(
    log_probs=st.lists(st.one_of(st.floats(-30, 5), st.just(float("-inf"))), min_size=2, max_size=40),
    data=st.data(),
)
def test_adaptive_masking_draws_num_visible_distinct_tokens_of_nonzero_probability(log_probs, data):
    logits = torch.tensor(log_probs)
    finite = torch.isfinite(logits)
    assume(finite.sum() >= 1)
    num_visible = data.draw(st.integers(1, int(finite.sum())), label="num_visible")
    torch.manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    mask = adaptive_masking(torch.log_softmax(logits, -1)[None].repeat(3, 1), num_visible)
    visible = ~mask
    assert ((visible).sum(1) == num_visible).all() and not (visible & ~finite).any()


# ------------------------------------------------------------------------------------------------ clip sampling
def clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, mode, seed) -> np.ndarray:
    """`sample_clip_indices` called by keyword, with a seeded generator."""
    indices = sample_clip_indices(
        num_video_frames, num_frames=num_frames, sampling_rate=sampling_rate, num_clips=num_clips, mode=mode,
        generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    return np.asarray(indices)


@given(
    num_video_frames=st.integers(1, 400),
    num_frames=st.integers(1, 32),
    sampling_rate=st.integers(1, 8),
    num_clips=st.integers(1, 6),
    mode=st.sampled_from(["train", "eval"]),
    seed=st.integers(0, 2**16),
)
@example(num_video_frames=1, num_frames=4, sampling_rate=2, num_clips=2, mode="train", seed=0)  # a one-frame video
@example(num_video_frames=1, num_frames=4, sampling_rate=2, num_clips=2, mode="eval", seed=0)
def test_clip_indices_have_exact_stride_inside_the_video(num_video_frames, num_frames, sampling_rate, num_clips, mode, seed):
    indices = clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, mode, seed)
    assert indices.shape == (num_clips, num_frames) and np.issubdtype(indices.dtype, np.integer)
    assert indices.min() >= 0 and indices.max() <= num_video_frames - 1
    steps = np.diff(indices, axis=1)
    assert (steps >= 0).all()  # monotone
    span = (num_frames - 1) * sampling_rate + 1
    if span <= num_video_frames:
        assert (steps == sampling_rate).all()  # exactly the stride: no frame clamped, none skipped
    else:
        # short video: frames 0, s, 2s, ... then the last frame repeated (module docstring of video_io)
        expected = np.minimum(np.arange(num_frames) * sampling_rate, num_video_frames - 1)
        assert (indices == expected[None]).all()


@given(
    num_video_frames=st.integers(1, 400),
    num_frames=st.integers(1, 32),
    sampling_rate=st.integers(1, 8),
    num_clips=st.integers(1, 6),
)
@example(num_video_frames=100, num_frames=4, sampling_rate=2, num_clips=1)  # centred: starts at 46
@example(num_video_frames=15, num_frames=8, sampling_rate=2, num_clips=3)  # the clip spans the video exactly
@example(num_video_frames=12, num_frames=8, sampling_rate=2, num_clips=2)  # short video
def test_eval_clips_are_deterministic_and_evenly_spread(num_video_frames, num_frames, sampling_rate, num_clips):
    """Evaluation (VideoMAE's test protocol): starts evenly spaced from the first to the last possible start, a
    single clip centred; no randomness."""
    indices = clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, "eval", seed=0)
    assert np.array_equal(indices, clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, "eval", seed=1))
    span = (num_frames - 1) * sampling_rate + 1
    last_start = max(num_video_frames - span, 0)
    starts = indices[:, 0]
    if num_clips == 1:
        assert starts[0] == last_start // 2
    else:
        assert starts[0] == 0 and starts[-1] == last_start and (np.diff(starts) >= 0).all()
        assert np.abs(starts - np.linspace(0, last_start, num_clips)).max() <= 0.5


@given(
    num_frames=st.integers(-3, 3),
    sampling_rate=st.integers(-3, 3),
    num_clips=st.integers(-3, 3),
    mode=st.sampled_from(["train", "eval"]),
)
def test_clip_sampling_arguments_below_one_raise_value_error(num_frames, sampling_rate, num_clips, mode):
    assume(min(num_frames, sampling_rate, num_clips) < 1)
    with pytest.raises(ValueError) as error:
        clip_indices(50, num_frames, sampling_rate, num_clips, mode, seed=0)
    assert str(error.value) == "num_frames, sampling_rate and num_clips must be >= 1"


def test_clip_sampling_defaults_to_one_random_training_clip_and_rejects_unknown_modes():
    draws = {tuple(sample_clip_indices(100, 4, 2, generator=torch.Generator().manual_seed(s))[0]) for s in range(8)}
    assert {len(d) for d in draws} == {4} and len(draws) > 1  # one clip, random start
    assert np.asarray(sample_clip_indices(100, 4, 2)).shape == (1, 4)
    with pytest.raises(ValueError) as error:
        sample_clip_indices(100, 4, 2, mode="test")
    assert str(error.value) == "mode must be 'train' or 'eval', got 'test'"


@given(num_video_frames=st.integers(1, 60), num_frames=st.integers(1, 8), sampling_rate=st.integers(1, 4))
def test_train_clip_starts_cover_every_possible_start(num_video_frames, num_frames, sampling_rate):
    """Training starts are uniform over [0, V - span]: 400 draws reach both ends and never leave the range."""
    span = (num_frames - 1) * sampling_rate + 1
    last_start = max(num_video_frames - span, 0)
    assume(last_start <= 20)
    indices = clip_indices(num_video_frames, num_frames, sampling_rate, 400, "train", seed=0)
    starts = indices[:, 0]
    assert starts.min() == 0 and starts.max() == last_start  # P(missing an end) <= 400 * (20/21)^400 < 1e-5


# ------------------------------------------------------------------------------------------------ config validation
def _not_a_positive_int(none_is_valid: bool = False):
    invalid = st.one_of(
        st.integers(max_value=0), st.booleans(), st.floats(0.5, 64).map(lambda x: float(math.ceil(x))),
        st.text(max_size=3),
    )  # fmt: skip
    return invalid if none_is_valid else invalid | st.none()


def _outside_0_1():
    return st.one_of(
        st.floats(max_value=0, exclude_max=False, allow_nan=False), st.floats(min_value=1), st.just(float("nan")),
        st.text(max_size=3), st.none(),
    )  # fmt: skip


def _negative():
    return st.floats(max_value=-1e-300)


def _outside_unit_interval_right_open():
    return st.one_of(_negative(), st.floats(min_value=1), st.just(float("nan")), st.text(max_size=3))


def _not_positive():
    return st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf")), st.text(max_size=3))


def _negative_or_not_a_number():
    return st.one_of(_negative(), st.just(float("nan")), st.just(float("inf")), st.text(max_size=3))


def _not_a_bool(none_is_valid: bool = False):
    invalid = st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
    return invalid if none_is_valid else invalid | st.none()


def _not_one_of(allowed):
    return st.text(max_size=8).filter(lambda s: s not in allowed) | st.none() | st.integers()


POSITIVE_INT_FIELDS = (
    "image_size", "patch_size", "num_channels", "num_frames", "tubelet_size", "hidden_size", "num_hidden_layers",
    "num_attention_heads", "intermediate_size", "decoder_num_attention_heads", "decoder_hidden_size",
    "decoder_num_hidden_layers", "decoder_intermediate_size", "sampler_depth", "sampler_hidden_size",
    "sampler_num_attention_heads",
)  # fmt: skip
INVALID_VALUES = {
    **{field: _not_a_positive_int(none_is_valid=field == "sampler_hidden_size") for field in POSITIVE_INT_FIELDS},
    "hidden_act": _not_one_of(("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "quick_gelu")),
    "mask_type": _not_one_of(("adaptive", "tube", "random", "frame")),
    "sampler_type": _not_one_of(("mha", "mlp")),
    "mask_ratio": _outside_0_1(),
    "motion_mask_floor": st.one_of(
        st.floats(max_value=0, allow_nan=False), st.floats(min_value=1, exclude_min=True), st.just(float("nan")),
        st.text(max_size=3), st.none(), st.just(True),
    ),  # fmt: skip
    **{
        field: _outside_unit_interval_right_open()
        for field in (
            "hidden_dropout_prob", "attention_probs_dropout_prob", "sampler_dropout", "drop_path_rate",
            "decoder_mask_ratio",
        )  # fmt: skip
    },
    **{
        field: _not_positive()
        for field in ("layer_norm_eps", "sampler_layer_norm_eps", "head_layer_norm_eps", "initializer_range")
    },
    "sampling_loss_weight": _negative_or_not_a_number(),
    "classifier_init_scale": _negative_or_not_a_number(),
    **{field: _not_a_bool() for field in ("qkv_bias", "use_mean_pooling", "norm_pix_loss", "sampling_loss_to_tokenizer")},
    "use_final_layernorm": _not_a_bool(none_is_valid=True),
}
# Read as its truth value, any value being valid.
FLAGS = ("sampler_gradient_checkpointing",)


def test_every_config_field_has_its_invalid_values_listed():
    """A new field of `AdaMAEConfig.__init__` must be added here (with the values its validation rejects)."""
    fields = set(inspect.signature(AdaMAEConfig.__init__).parameters) - {"self", "kwargs"}
    assert fields == set(INVALID_VALUES) | set(FLAGS)


@given(data=st.data(), field=st.sampled_from(sorted(INVALID_VALUES)))
def test_invalid_config_value_raises_value_error_naming_the_field(data, field):
    value = data.draw(INVALID_VALUES[field], label=field)
    with pytest.raises(ValueError, match=rf"AdaMAEConfig\.{field}=") as error:
        AdaMAEConfig(**{field: value})
    assert repr(value) in str(error.value)


@given(
    field_and_multiple=st.sampled_from(
        [("image_size", "patch_size"), ("num_frames", "tubelet_size"), ("num_attention_heads", "hidden_size"),
         ("decoder_num_attention_heads", "decoder_hidden_size"), ("sampler_num_attention_heads", "sampler_hidden_size")]
    ),  # fmt: skip
    divisor=st.integers(2, 16),
    quotient=st.integers(1, 16),
    remainder=st.integers(1, 15),
)
def test_sizes_that_do_not_divide_raise_value_error_naming_the_field(field_and_multiple, divisor, quotient, remainder):
    """image_size % patch_size, num_frames % tubelet_size and every width % its heads must be 0."""
    assume(remainder < divisor)
    field, other = field_and_multiple
    if field.endswith("heads"):  # the width is not a multiple of the heads
        values = {field: divisor, other: divisor * quotient + remainder}
    else:  # the size is not a multiple of the patch / tubelet
        values = {other: divisor, field: divisor * quotient + remainder}
    with pytest.raises(ValueError, match=rf"AdaMAEConfig\.{field}="):
        AdaMAEConfig(**values)


@given(mask_type=st.sampled_from(["adaptive", "tube", "random", "frame"]), grid=grids(), mask_ratio=st.floats(0.001, 0.999))
def test_mask_ratio_is_valid_exactly_when_some_but_not_all_tokens_are_visible(mask_type, grid, mask_ratio):
    slices, side, tubelet = grid
    num_visible = expected_num_visible(mask_type, slices, side * side, mask_ratio)
    if 0 < num_visible < slices * side * side:
        assert micro_config(mask_type, slices, side, tubelet, mask_ratio).num_visible_tokens == num_visible
    else:
        with pytest.raises(ValueError, match=r"AdaMAEConfig\.mask_ratio="):
            micro_config(mask_type, slices, side, tubelet, mask_ratio)


# Mutant of data/video_io.py that survives and is equivalent (mutmut 3.8.1's name at the commit of tests/README.md's
# score): x_sample_clip_indices__mutmut_36, `torch.randint(0, max_start + 1, ...)` -> `torch.randint(max_start + 1,
# ...)`: torch.randint's low defaults to 0, and both draw the same numbers from the same generator.
