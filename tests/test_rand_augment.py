"""The released RandAugment (timm's rand-m7-n4-mstd0.5-inc1 as in wgcban/adamae rand_augment.py): the magnitude to
argument mapping, every operation against PIL (the library the released code calls) and hand computations, one draw
per clip for all frames, the probabilities, seeding, dtypes, and its place before the crop in FinetuningTransform."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from adamae_hf.data import FinetuningTransform, VideoRandAugment
from adamae_hf.data import rand_augment as ra


# ------------------------------------------------------------------------------------- magnitude -> argument mapping

# (level, negate) -> argument, from timm's formulas (rand_augment.py:200-277) written out by hand
HAND_ARGS = {
    "Rotate": {(7, False): 21.0, (7, True): -21.0, (10, False): 30.0, (0, True): 0.0},  # level / 10 * 30
    "ColorIncreasing": {(7, False): 1.63, (7, True): 0.37, (10, True): 0.1, (0, False): 1.0},  # 1 +- level / 10 * .9
    "ShearX": {(7, False): 0.21, (7, True): -0.21, (10, True): -0.3},  # level / 10 * 0.3
    "TranslateXRel": {(7, False): 0.315, (10, True): -0.45},  # level / 10 * 0.45
    "PosterizeIncreasing": {(0, False): 4, (2.4, False): 4, (5, False): 2, (7, False): 2, (7.5, True): 1, (10, False): 0},
    "SolarizeIncreasing": {(0, False): 256, (2.4, False): 195, (5, False): 128, (7, False): 77, (10, True): 0},
    "SolarizeAdd": {(0, False): 0, (2.4, False): 26, (7, True): 77, (7.5, False): 82, (10, False): 110},
}


@pytest.mark.parametrize("name", list(HAND_ARGS))
def test_level_to_arg_matches_timm(name):
    for (level, negate), expected in HAND_ARGS[name].items():
        got = ra.LEVEL_TO_ARG[name](level, negate)
        assert got == pytest.approx(expected, abs=1e-12), (name, level, negate)
        assert isinstance(got, int) == isinstance(expected, int)  # posterize / solarize take integers
    # the operations that share a mapping
    for other, same in [("ContrastIncreasing", "ColorIncreasing"), ("BrightnessIncreasing", "ColorIncreasing"),
                        ("SharpnessIncreasing", "ColorIncreasing"), ("ShearY", "ShearX"),
                        ("TranslateYRel", "TranslateXRel")]:  # fmt: skip
        assert ra.LEVEL_TO_ARG[other] is ra.LEVEL_TO_ARG[same]
    assert [ra.LEVEL_TO_ARG[n] for n in ("AutoContrast", "Equalize", "Invert")] == [None] * 3


def test_the_released_operation_list():
    assert ra.RAND_INCREASING_TRANSFORMS == (  # rand_augment.py:404-420
        "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing", "SolarizeAdd",
        "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
        "TranslateXRel", "TranslateYRel",
    )  # fmt: skip
    assert set(ra.LEVEL_TO_ARG) == set(ra.RAND_INCREASING_TRANSFORMS)
    assert VideoRandAugment(4, 7, 0.5).config_str == "rand-m7-n4-mstd0.5-inc1"


def draws(policy, count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [policy.sample(generator) for _ in range(count)]


def test_magnitude_draw_std_clipping_and_sign():
    # mstd 0: every magnitude is m; each op's argument is +-(its mapping at m), signs half and half
    rotations = [arg for ops in draws(VideoRandAugment(1, 7, 0.0, prob=1.0), 3000) for name, arg in ops if name == "Rotate"]
    assert set(rotations) == {21.0, -21.0} and abs(np.mean([r > 0 for r in rotations]) - 0.5) < 0.1
    # m 10, mstd 0.5: N(10, 0.5) clipped to 10, so half the draws are exactly 10 (30 degrees) and none above
    rotations = [abs(arg) for ops in draws(VideoRandAugment(1, 10, 0.5, prob=1.0), 3000) for n, arg in ops if n == "Rotate"]
    assert max(rotations) == 30.0 and abs(np.mean([r == 30.0 for r in rotations]) - 0.5) < 0.1
    # m 7, mstd 0.5: the level's spread is 0.5 (degrees: 1.5)
    rotations = [abs(arg) for ops in draws(VideoRandAugment(1, 7, 0.5, prob=1.0), 3000) for n, arg in ops if n == "Rotate"]
    assert np.mean(rotations) == pytest.approx(21.0, abs=0.3) and np.std(rotations) == pytest.approx(1.5, abs=0.3)
    # m 0, mstd 0.5: clipped at 0 from below
    shears = [arg for ops in draws(VideoRandAugment(1, 0, 0.5, prob=1.0), 3000) for n, arg in ops if n == "ShearX"]
    assert abs(np.mean([s == 0 for s in shears]) - 0.5) < 0.1 and max(map(abs, shears)) <= 0.3


def test_each_op_applied_with_probability_one_half_and_chosen_uniformly():
    samples = draws(VideoRandAugment(4, 7, 0.5), 4000)
    applied = [len(ops) for ops in samples]
    assert max(applied) == 4 and min(applied) == 0
    assert np.mean(applied) / 4 == pytest.approx(0.5, abs=0.02)  # 16000 Bernoulli(0.5): sd 0.004
    counts = Counter(name for ops in samples for name, _ in ops)
    assert set(counts) == set(ra.RAND_INCREASING_TRANSFORMS)  # with replacement, no weights: all 15, uniformly
    expected = sum(applied) / 15
    assert all(abs(c - expected) < 0.25 * expected for c in counts.values()), counts
    assert any(len(ops) != len({n for n, _ in ops}) for ops in samples)  # the same op twice in one clip happens
    assert all(ops == [] for ops in draws(VideoRandAugment(4, 7, 0.5, prob=0.0), 50))


# ----------------------------------------------------------------------------------------- each operation vs PIL


def make_frames(num_frames=3, height=23, width=31, seed=0):
    """uint8 (T, 3, H, W): smooth colour fields plus noise (equalize / autocontrast see real histograms), one frame
    with a narrow range, one flat channel."""
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.rand(num_frames, 3, 4, 5, generator=g) * 255, size=(height, width),
                                             mode="bilinear")  # fmt: skip
    frames = (smooth + torch.randn(num_frames, 3, height, width, generator=g) * 20).clamp(0, 255).to(torch.uint8)
    frames[1] = frames[1] // 4 + 60
    frames[2, 1] = 77
    return frames


def pil(frames):
    return [Image.fromarray(frame.permute(1, 2, 0).numpy()) for frame in frames]


def from_pil(images):
    return torch.stack([torch.from_numpy(np.array(image)).permute(2, 0, 1) for image in images])


GEOMETRY = dict(resample=Image.BICUBIC, fillcolor=(128, 128, 128))  # the released kwargs (rand_augment.py:349-356)
PIL_OPS = {  # name -> (argument, PIL's operation on one image), as released (rand_augment.py:64-192)
    "AutoContrast": [(None, ImageOps.autocontrast)],
    "Equalize": [(None, ImageOps.equalize)],
    "Invert": [(None, ImageOps.invert)],
    "PosterizeIncreasing": [(b, lambda im, b=b: ImageOps.posterize(im, b)) for b in (1, 2, 3, 4)],
    "SolarizeIncreasing": [(t, lambda im, t=t: ImageOps.solarize(im, t)) for t in (0, 77, 200, 256)],
    "ColorIncreasing": [(f, lambda im, f=f: ImageEnhance.Color(im).enhance(f)) for f in (0.1, 0.37, 1.0, 1.63, 1.9)],
    "ContrastIncreasing": [(f, lambda im, f=f: ImageEnhance.Contrast(im).enhance(f)) for f in (0.1, 0.37, 1.63, 1.9)],
    "BrightnessIncreasing": [(f, lambda im, f=f: ImageEnhance.Brightness(im).enhance(f)) for f in (0.1, 0.77, 1.9)],
    "SharpnessIncreasing": [(f, lambda im, f=f: ImageEnhance.Sharpness(im).enhance(f)) for f in (0.1, 0.63, 1.37, 1.9)],
    "Rotate": [(d, lambda im, d=d: im.rotate(d, **GEOMETRY)) for d in (-30.0, -7.3, 0.0, 12.9, 30.0)],
    "ShearX": [(s, lambda im, s=s: im.transform(im.size, Image.AFFINE, (1, s, 0, 0, 1, 0), **GEOMETRY))
               for s in (-0.3, 0.17, 0.3)],
    "ShearY": [(s, lambda im, s=s: im.transform(im.size, Image.AFFINE, (1, 0, 0, s, 1, 0), **GEOMETRY))
               for s in (-0.3, 0.17, 0.3)],
    "TranslateXRel": [(p, lambda im, p=p: im.transform(im.size, Image.AFFINE, (1, 0, p * im.size[0], 0, 1, 0),
                                                       **GEOMETRY)) for p in (-0.45, 0.123, 0.3)],
    "TranslateYRel": [(p, lambda im, p=p: im.transform(im.size, Image.AFFINE, (1, 0, 0, 0, 1, p * im.size[1]),
                                                       **GEOMETRY)) for p in (-0.45, 0.123, 0.3)],
}  # fmt: skip


@pytest.mark.parametrize("name", list(PIL_OPS))
def test_each_operation_is_bit_equal_to_pil(name):
    frames = make_frames()
    policy = VideoRandAugment()
    for arg, pil_op in PIL_OPS[name]:
        expected = from_pil([pil_op(image) for image in pil(frames)])
        got = policy.apply(frames, [(name, arg)])
        assert got.dtype == torch.uint8 and got.shape == frames.shape
        assert torch.equal(got, expected), (name, arg, (got.int() - expected.int()).abs().max())


def test_equalize_step_on_a_chosen_histogram():
    # 512 pixels, 2 of them in the top bin: step = 510 // 255 = 2 (a step of 510 // 256 = 1 would stretch twice as much)
    frame = torch.randint(0, 200, (1, 3, 16, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    frame[..., 0, :2] = 250
    got = VideoRandAugment().apply(frame, [("Equalize", None)])
    assert torch.equal(got, from_pil([ImageOps.equalize(image) for image in pil(frame)]))
    x = frame[0, 0].flatten().long()
    below = torch.bincount(x, minlength=256).cumsum(0) - torch.bincount(x, minlength=256)  # pixels below each level
    assert torch.equal(got[0, 0].flatten().long(), ((1 + below) // 2).clamp(max=255)[x])


def test_operations_by_hand():
    frames = make_frames()
    x = frames.int()
    apply = VideoRandAugment().apply
    assert torch.equal(apply(frames, [("Invert", None)]).int(), 255 - x)
    assert torch.equal(apply(frames, [("PosterizeIncreasing", 2)]).int(), x // 64 * 64)  # keep 2 bits
    assert torch.equal(apply(frames, [("PosterizeIncreasing", 0)]), torch.zeros_like(frames))  # level 10: black
    assert torch.equal(apply(frames, [("SolarizeIncreasing", 100)]).int(), torch.where(x < 100, x, 255 - x))
    assert torch.equal(apply(frames, [("SolarizeIncreasing", 256)]), frames)  # level 0: nothing is inverted
    assert torch.equal(apply(frames, [("SolarizeAdd", 77)]).int(), torch.where(x < 128, (x + 77).clamp(max=255), x))
    # brightness: factor * x truncated (float32), clipped
    factor = torch.tensor(1.37, dtype=torch.float32)
    assert torch.equal(apply(frames, [("BrightnessIncreasing", 1.37)]).int(), (x.float() * factor).clamp(0, 255).int())
    # a whole-pixel translation moves the frame and fills the rest with (128, 128, 128)
    moved = apply(frames, [("TranslateXRel", 3 / 31)])  # 3 pixels of 31: the output pixel x shows input x + 3
    assert torch.equal(moved[..., :-3], frames[..., 3:])
    assert torch.equal(moved[..., -3:], torch.full_like(moved[..., -3:], 128))


# ------------------------------------------------------------------------------- one draw per clip, seeds, dtypes


def test_one_draw_per_clip_for_all_frames():
    frames = make_frames(num_frames=4)
    policy = VideoRandAugment(4, 7, 0.5)
    for seed in range(12):
        ops = policy.sample(torch.Generator().manual_seed(seed))
        out = policy(frames, generator=torch.Generator().manual_seed(seed))
        # the clip's one draw, applied to each frame on its own, gives the same frames
        assert torch.equal(out, torch.cat([policy.apply(frame[None], ops) for frame in frames]))
    still = make_frames()[:1].expand(5, -1, -1, -1)  # identical frames stay identical
    for seed in range(12):
        out = policy(still, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(out, out[:1].expand_as(out))


def test_seeding_dtype_shape_and_range():
    frames = make_frames(num_frames=4)
    policy = VideoRandAugment(4, 7, 0.5)

    def run(clips, seed):
        return policy(clips, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(frames, 3), run(frames, 3))
    assert any(not torch.equal(run(frames, 3), run(frames, s)) for s in range(4, 10))
    torch.manual_seed(5)
    first = policy(frames)  # torch's global generator by default
    torch.manual_seed(5)
    assert torch.equal(first, policy(frames))
    assert first.dtype == torch.uint8 and first.shape == frames.shape
    # float clips in [0, 1]: the same result on the 1/255 grid
    floats = run(frames.float() / 255, 3)
    assert floats.dtype == torch.float32 and floats.shape == frames.shape
    assert 0 <= floats.min() and floats.max() <= 1
    assert torch.equal(floats, run(frames, 3).float() / 255)
    # (K, T, 3, H, W): one independent draw per clip
    clips = run(torch.stack([frames] * 6), 3)
    assert clips.shape == (6, *frames.shape)
    assert len({clip.numpy().tobytes() for clip in clips}) > 1


def test_invalid_arguments_raise():
    for kwargs in [dict(num_ops=-1), dict(magnitude=11), dict(magnitude_std=-0.5), dict(prob=1.5), dict(fill=(1, 2))]:
        with pytest.raises(ValueError):
            VideoRandAugment(**kwargs)
    with pytest.raises(ValueError, match="RGB clips"):
        VideoRandAugment()(torch.zeros(4, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8 or float"):
        VideoRandAugment()(torch.zeros(4, 3, 8, 8, dtype=torch.int32))


def test_finetuning_transform_augments_the_full_frames_before_the_crop():
    seen = []

    def record(clips):
        seen.append(tuple(clips.shape))
        return clips

    transform = FinetuningTransform(16, rand_augment_num_ops=4, rand_augment_magnitude=7, random_erasing=0.0)
    assert isinstance(transform.rand_augment, VideoRandAugment)
    assert transform.rand_augment.config_str == "rand-m7-n4-mstd0.5-inc1"
    transform.rand_augment = record
    video = torch.randint(0, 256, (2, 5, 40, 56, 3), dtype=torch.uint8)  # (K, T, H, W, C)
    out = transform(video)
    assert seen == [(2, 5, 3, 40, 56)] and out.shape == (2, 5, 3, 16, 16)
    assert FinetuningTransform(16, rand_augment=False).rand_augment is None
    assert math.isclose(FinetuningTransform(16).rand_augment.magnitude, 9.0)
