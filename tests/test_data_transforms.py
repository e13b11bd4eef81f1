"""Clip transforms: one draw per clip, shapes, evaluation crops, mixup / cutmix, the saved processor."""

import pytest
import torch
from transformers import AutoImageProcessor

from adamae_hf.data import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    EvalTransform,
    FinetuningTransform,
    MixupCutmix,
    PretrainingTransform,
    build_processor,
)


def static_clip(num_frames=6, height=40, width=56, seed=0):
    """uint8 (T, H, W, C) clip whose frames are all the same random image."""
    image = torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return image.expand(num_frames, -1, -1, -1).contiguous()


TRAIN_TRANSFORMS = {
    "pretraining": lambda: PretrainingTransform(32),
    "finetuning": lambda: FinetuningTransform(32, random_erasing=0.5),
}


@pytest.mark.parametrize("name", list(TRAIN_TRANSFORMS))
def test_same_draw_on_every_frame(name):
    torch.manual_seed(0)
    transform = TRAIN_TRANSFORMS[name]()
    clip = static_clip()
    outputs = [transform(clip) for _ in range(8)]
    for out in outputs:
        assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32
        # identical input frames stay identical: one crop / flip / RandAugment / erasing for all frames
        assert torch.allclose(out, out[:1].expand_as(out), atol=1e-5)
    # but the draw changes from clip to clip
    assert any(not torch.allclose(outputs[0], out) for out in outputs[1:])
    # a batch of clips (K, T, H, W, C): independent draws per clip, same within each
    batch = transform(torch.stack([clip, clip, clip]))
    assert batch.shape == (3, 6, 3, 32, 32)
    assert torch.allclose(batch, batch[:, :1].expand_as(batch), atol=1e-5)


def test_horizontal_flip_applies_to_all_frames():
    torch.manual_seed(0)
    # no crop (scale 1, ratio of the frame) so that flips are visible exactly
    transform = PretrainingTransform(32, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    clip = torch.cat([static_clip(3, 32, 32, seed=1), static_clip(3, 32, 32, seed=2)])  # two different frames
    plain = (clip.permute(0, 3, 1, 2).float() / 255 - torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)) / torch.tensor(
        IMAGENET_DEFAULT_STD
    ).view(3, 1, 1)
    seen = set()
    for _ in range(12):
        out = transform(clip)
        flipped = torch.allclose(out, plain.flip(-1), atol=1e-4)
        assert flipped or torch.allclose(out, plain, atol=1e-4)  # all frames flipped, or none
        seen.add(flipped)
    assert seen == {True, False}


def test_eval_transform_crops():
    clip = static_clip(4, 32, 64)
    single = EvalTransform(32)(clip)
    assert single.shape == (4, 3, 32, 32)
    three = EvalTransform(32, num_crops=3)(clip)
    assert three.shape == (3, 4, 3, 32, 32)
    assert torch.allclose(three[1], single)  # the middle crop is the centre crop
    resized = EvalTransform(16, num_crops=1, resize_size=24)(clip.expand(2, -1, -1, -1, -1))
    assert resized.shape == (2, 4, 3, 16, 16)
    # 2 clips x 3 crops, clip-major, deterministic
    views = EvalTransform(32, num_crops=3)(torch.stack([clip, clip.flip(2)]))
    assert views.shape == (6, 4, 3, 32, 32) and torch.allclose(views[:3], three)
    left = (clip[:, :, :32].permute(0, 3, 1, 2).float() / 255 - torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)) / torch.tensor(
        IMAGENET_DEFAULT_STD
    ).view(3, 1, 1)
    assert torch.allclose(three[0], left, atol=1e-4)


@pytest.mark.parametrize("mixup_alpha,cutmix_alpha", [(0.8, 1.0), (0.8, 0.0), (0.0, 1.0)])
def test_mixup_cutmix_soft_labels(mixup_alpha, cutmix_alpha):
    torch.manual_seed(0)
    mix = MixupCutmix(num_classes=5, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha)
    frame = torch.randn(4, 1, 3, 16, 16)
    batch = {"pixel_values": frame.expand(-1, 6, -1, -1, -1), "labels": torch.tensor([0, 1, 2, 3])}
    for _ in range(10):
        out = mix(batch)
        assert out["labels"].shape == (4, 5)
        assert torch.allclose(out["labels"].sum(-1), torch.ones(4))
        assert (out["labels"] > 0).all()  # label smoothing
        # the same mix on every frame of a clip
        pixels = out["pixel_values"]
        assert torch.allclose(pixels, pixels[:, :1].expand_as(pixels))


def test_processor_roundtrip(tmp_path):
    build_processor(48, resize_size=56).save_pretrained(tmp_path)
    processor = AutoImageProcessor.from_pretrained(tmp_path)
    assert "VideoMAEImageProcessor" in type(processor).__name__
    assert processor.size["shortest_edge"] == 56
    assert (processor.crop_size["height"], processor.crop_size["width"]) == (48, 48)
    assert tuple(processor.image_mean) == pytest.approx(IMAGENET_DEFAULT_MEAN)
    assert tuple(processor.image_std) == pytest.approx(IMAGENET_DEFAULT_STD)
    frames = list(static_clip(4, 60, 80).numpy())
    assert processor(frames, return_tensors="pt")["pixel_values"].shape == (1, 4, 3, 48, 48)
