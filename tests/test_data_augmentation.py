"""Repeated sampling (num_sample) and the batched augmentation on the training device: the same distributions as the
CPU transform (crop boxes and outputs compared statistically), reproducible from a generator."""

from __future__ import annotations

import kornia.augmentation as K
import numpy as np
import pytest
import torch
from kornia.geometry.transform import crop_by_indices

from adamae_hf.data import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    PretrainingAugmentation,
    PretrainingTransform,
    VideoClipDataset,
    collate_finetuning,
    collate_pretraining,
    device_frame_size,
    load_video_source,
    sample_resized_crop_boxes,
)


def ks_statistic(a: np.ndarray, b: np.ndarray, tolerance: float = 0.0) -> float:
    """Two-sample Kolmogorov-Smirnov statistic, the largest gap between the empirical distribution functions, with
    values `tolerance` apart counted as equal (a Levy-type distance: max over t of F_a(t) - F_b(t + tolerance) and
    F_b(t) - F_a(t + tolerance))."""
    points = np.concatenate([a, b])
    a, b = np.sort(a), np.sort(b)

    def cdf(sample, t):
        return np.searchsorted(sample, t, side="right") / len(sample)

    gap = np.maximum(cdf(a, points) - cdf(b, points + tolerance), cdf(b, points) - cdf(a, points + tolerance))
    return float(gap.max())


# the KS statistic that two samples of 20000 from one distribution exceed with probability 1e-4 (about 1.95 sqrt(2/n))
N, KS_LIMIT = 20000, 0.025


@pytest.mark.parametrize("size", [(240, 427), (256, 340), (64, 64), (20, 400)])
@pytest.mark.parametrize("scale", [(0.5, 1.0), (0.08, 1.0)])
def test_crop_boxes_are_kornias(size, scale):
    """The boxes (x0, y0, width, height, as fractions) have the distribution of kornia's RandomResizedCrop on a frame of
    that size: a wide one (SSv2), a K400 one, a square one, and one too wide for the ratios (kornia's fallback)."""
    torch.manual_seed(0)
    kornia_boxes = K.RandomResizedCrop((32, 32), scale=scale).forward_parameters((N, 3, *size))["src"]
    h, w = size
    x0, y0 = kornia_boxes[:, 0, 0], kornia_boxes[:, 0, 1]
    reference = torch.stack([x0 / w, y0 / h, (kornia_boxes[:, 1, 0] - x0 + 1) / w, (kornia_boxes[:, 2, 1] - y0 + 1) / h], 1)
    generator = torch.Generator().manual_seed(1)
    boxes = sample_resized_crop_boxes(torch.tensor([size]).expand(N, 2), scale, (3 / 4, 4 / 3), generator)
    assert boxes.shape == (N, 4)
    assert (boxes >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 1 + 1e-6).all() and (boxes[:, 1] + boxes[:, 3] <= 1 + 1e-6).all()
    for column in range(4):
        assert ks_statistic(boxes[:, column].numpy(), reference[:, column].numpy()) < KS_LIMIT, column


def test_crop_boxes_take_each_clips_own_size():
    sizes = torch.tensor([[240, 427], [20, 400]]).repeat(N // 2, 1)
    boxes = sample_resized_crop_boxes(sizes, (0.5, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0))
    wide = boxes[1::2]  # 20 x 400: no candidate fits the ratios, the fallback is the full height, 27 px wide
    assert torch.allclose(wide[:, 3], torch.ones(N // 2)) and torch.allclose(wide[:, 2], torch.full((N // 2,), 27 / 400))
    assert boxes[0::2, 3].min() < 0.9


def test_device_augmentation_matches_the_cpu_transform():
    """On clips resized at decode time to device_frame_size: a whole-frame crop without flip gives the CPU transform's
    output up to the resize's difference; random crops give the same mean image (where crops land) and the same
    distribution of clip means and contrasts as the CPU transform's, up to a grey level (0.02 in normalised units: the
    decode-time resize moves values a little, e.g. the many full-height crops' mean green)."""
    size, image_size = (240, 427), 32
    y, x = torch.meshgrid(torch.linspace(0, 1, size[0]), torch.linspace(0, 1, size[1]), indexing="ij")
    frame = torch.stack([x, y, (torch.sin(12 * x) * torch.cos(7 * y) + 1) / 2], -1)  # (H, W, 3) in [0, 1]
    clip = (frame[None].repeat(4, 1, 1, 1) * 255).round().to(torch.uint8)  # (T, H, W, C)
    frame_size = device_frame_size(image_size)
    assert device_frame_size(224) == (256, 320)
    resized = torch.nn.functional.interpolate(clip.permute(0, 3, 1, 2).float(), size=frame_size, mode="bilinear",
                                              antialias=True).round().clamp(0, 255).to(torch.uint8)  # fmt: skip
    batch = resized[None].expand(500, -1, -1, -1, -1)  # (B, T, C, h, w)
    source_size = torch.tensor([size]).expand(500, 2)

    whole = (size[1] / size[0],) * 2
    cpu = PretrainingTransform(image_size, scale=(1.0, 1.0), ratio=whole, horizontal_flip=False)(clip)
    device = PretrainingAugmentation(image_size, scale=(1.0, 1.0), ratio=whole, horizontal_flip=False)
    out = device(batch[:1], source_size[:1])
    assert out.shape == (1, 4, 3, image_size, image_size) and out.dtype == torch.float32
    assert (out[0] - cpu).abs().mean() < 0.05  # normalised units (1 level = 0.017)

    torch.manual_seed(0)
    transform = PretrainingTransform(image_size)
    cpu = torch.stack([transform(clip) for _ in range(500)])  # (500, T, C, S, S)
    out = PretrainingAugmentation(image_size)(batch, source_size, torch.Generator().manual_seed(0))
    assert out.shape == cpu.shape
    assert (out.mean(0) - cpu.mean(0)).abs().mean() < 0.05
    for statistic in (lambda v: v.mean(dim=(1, 3, 4)), lambda v: v.std(dim=(1, 3, 4))):  # (500, C) per clip
        for channel in range(3):
            a, b = statistic(out)[:, channel].numpy(), statistic(cpu)[:, channel].numpy()
            assert ks_statistic(a, b, 0.02) < 0.12, channel  # 500 vs 500: p = 1e-3 at 0.12 (tolerance 0)
    # the flip: half the clips have a rising red gradient, half a falling one
    rising = out[:, 0, 0, image_size // 2, -1] > out[:, 0, 0, image_size // 2, 0]
    assert 0.4 < rising.float().mean() < 0.6


def test_device_augmentation_is_reproducible_and_repeats():
    clips = torch.randint(0, 256, (3, 2, 3, 20, 24), dtype=torch.uint8)
    augment = PretrainingAugmentation(8, num_sample=2)
    first = augment(clips, None, torch.Generator().manual_seed(5))
    assert first.shape == (6, 2, 3, 8, 8)
    assert torch.equal(first, augment(clips, None, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augment(clips, None, torch.Generator().manual_seed(6)))
    assert not torch.equal(first[0], first[1])  # two draws on one clip
    with pytest.raises(ValueError, match="num_sample"):
        PretrainingAugmentation(8, num_sample=0)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        augment(clips[0])


def test_repeated_sampling(data_synthetic_dir):
    """num_sample=3: one read, three clips of the same frames with their own crops; the collators give 3 rows per
    item (labels repeated). Without a transform: the uint8 clip once, resized at decode, with its source size."""
    source = load_video_source(data_dir=data_synthetic_dir, split="train")
    dataset = VideoClipDataset(source, num_frames=4, sampling_rate=2, transform=PretrainingTransform(16), num_sample=3)
    item = dataset[0]
    assert item["pixel_values"].shape == (3, 4, 3, 16, 16) and item["num_sample"] == 3
    assert not torch.equal(item["pixel_values"][0], item["pixel_values"][1])
    assert collate_pretraining([dataset[0], dataset[1]])["pixel_values"].shape == (6, 4, 3, 16, 16)
    batch = collate_finetuning([dataset[0], dataset[4]])
    assert batch["pixel_values"].shape == (6, 4, 3, 16, 16)
    assert batch["labels"].tolist() == [source[0].label] * 3 + [source[4].label] * 3
    assert batch["video_index"].tolist() == [0, 0, 0, 4, 4, 4]

    raw = VideoClipDataset(source, num_frames=4, sampling_rate=2, transform=None, num_sample=3, frame_size=(24, 20))
    item = raw[0]
    assert item["pixel_values"].shape == (4, 3, 24, 20) and item["pixel_values"].dtype == torch.uint8
    assert item["source_size"].tolist() == [32, 32] and "num_sample" not in item
    batch = collate_pretraining([raw[0], raw[1]])
    assert batch["pixel_values"].shape == (2, 4, 3, 24, 20) and batch["source_size"].shape == (2, 2)

    for bad, match in (({"num_sample": 0}, "num_sample must be"), ({"num_sample": 2, "mode": "eval"}, "mode='train'"),
                       ({"frame_size": (0, 3)}, "frame_size")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            VideoClipDataset(source, num_frames=4, sampling_rate=2, transform=None, **bad)


def test_cpu_transform_is_kornias_crop_then_resize():
    """PretrainingTransform draws its box and flip from torch's global generator (sample_resized_crop_boxes, then one
    uniform per clip), cuts the box from the uint8 frames and resizes it bilinearly: kornia's crop_by_indices on the
    float frames gives the same output, to a grey level (torch resizes uint8 with fixed-point weights)."""
    clip = torch.randint(0, 256, (3, 2, 40, 70, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(7)
    out = PretrainingTransform(24)(clip)
    torch.manual_seed(7)
    boxes = sample_resized_crop_boxes(torch.tensor([[40, 70]]).expand(3, 2), (0.5, 1.0), (3 / 4, 4 / 3))
    flips = torch.rand(3) < 0.5
    for i, ((x0, y0, w, h), flip) in enumerate(zip((boxes * torch.tensor([70, 40, 70, 40])).round().long().tolist(), flips)):
        frames = clip[i].permute(0, 3, 1, 2).float() / 255
        src = torch.tensor([[[x0, y0], [x0 + w - 1, y0], [x0 + w - 1, y0 + h - 1], [x0, y0 + h - 1]]]).float()
        reference = crop_by_indices(frames, src.expand(2, 4, 2), (24, 24), interpolation="bilinear", align_corners=False)
        reference = reference.flip(-1) if flip else reference
        reference = (reference - torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
        assert (out[i] - reference).abs().max() < 1 / 255 / min(IMAGENET_DEFAULT_STD)  # a level: fixed-point weights
