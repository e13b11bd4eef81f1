"""The data side and schedule of the released recipes, against values computed here from the released code's
formulas (wgcban/adamae `transforms.py` GroupMultiScaleCrop, `video_transforms.py` random_resized_crop and
`functional.py` resize_clip (OpenCV's bilinear), `ssv2.py` SSVideoClsDataset.loadvideo_decord, `msc/utils.py`
cosine_scheduler); the released code itself is not imported."""

from __future__ import annotations

import logging
import math
import random
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adamae_hf.data.multiscale_crop import MultiScaleCrop, MultiScaleCropTransform
from adamae_hf.data.temporal_sampling import released_clip_indices, segment_indices, videomae_clip_indices
from adamae_hf.data.transforms import EvalTransform, FinetuningTransform, sample_resized_crop_boxes
from adamae_hf.lr_schedule import get_released_cosine_schedule


# ------------------------------------------------------------------------------------------ multi-scale crop
def released_pairs(height, width, input_size, scales=(1, 0.875, 0.75, 0.66), max_distort=1):
    """GroupMultiScaleCrop._sample_crop_size's candidate list, written out from the released formula."""
    base = min(width, height)
    sizes = [int(base * x) for x in scales]
    crop_h = [input_size if abs(x - input_size) < 3 else x for x in sizes]
    crop_w = [input_size if abs(x - input_size) < 3 else x for x in sizes]
    return [(w, h) for i, h in enumerate(crop_h) for j, w in enumerate(crop_w) if abs(i - j) <= max_distort]


def released_offsets(width, height, crop_w, crop_h):
    """GroupMultiScaleCrop.fill_fix_offset(more_fix_crop=True)."""
    ws, hs = (width - crop_w) // 4, (height - crop_h) // 4
    return [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs), (0, 2 * hs), (4 * ws, 2 * hs),
            (2 * ws, 4 * hs), (2 * ws, 0), (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs)]  # fmt: skip


def test_multiscale_crop_candidates_of_a_320x240_frame():
    crop = MultiScaleCrop(224)
    # short side 240: sides int(240 * s) = 240, 210, 180, 158; pairs whose scale indices differ by <= 1
    assert crop.crop_sizes(240, 320) == [
        (240, 240), (210, 240), (240, 210), (210, 210), (180, 210), (210, 180), (180, 180), (158, 180), (180, 158),
        (158, 158),
    ]  # fmt: skip
    # (W - w) // 4 = 27, (H - h) // 4 = 15 for a 210 x 180 crop
    assert crop.offsets(240, 320, 180, 210) == [
        (0, 0), (108, 0), (0, 60), (108, 60), (54, 30), (0, 30), (108, 30), (54, 60), (54, 0), (27, 15), (81, 15),
        (27, 45), (81, 45),
    ]  # fmt: skip


@pytest.mark.parametrize("height,width", [(240, 320), (226, 400), (256, 340), (100, 100), (320, 240)])
def test_multiscale_crop_candidates_follow_the_released_formula(height, width):
    crop = MultiScaleCrop(224)
    assert crop.crop_sizes(height, width) == released_pairs(height, width, 224)
    for w, h in crop.crop_sizes(height, width):
        assert crop.offsets(height, width, h, w) == released_offsets(width, height, w, h)


def test_multiscale_crop_draws_every_candidate_uniformly():
    crop, (height, width) = MultiScaleCrop(224), (240, 320)
    torch.manual_seed(0)
    draws = Counter(crop.sample(height, width) for _ in range(20000))
    pairs = released_pairs(height, width, 224)
    expected = Counter()
    for w, h in pairs:  # pair uniform over the list, then corner uniform over the 13 fixed offsets
        for left, top in released_offsets(width, height, w, h):
            expected[(top, left, h, w)] += 1 / (len(pairs) * 13)
    assert set(draws) == set(expected)
    for key, probability in expected.items():
        assert abs(draws[key] / 20000 - probability) < 5 * math.sqrt(probability / 20000) + 1e-3, key


def test_multiscale_crop_takes_the_drawn_window_and_resizes_it():
    crop = MultiScaleCrop(8, scales=(1.0, 0.5))
    frame = torch.arange(16 * 20, dtype=torch.float32).view(1, 1, 16, 20) / 320
    window = crop.crop(frame, 2, 3, 8, 8)  # an 8 x 8 crop at size 8 is the window itself
    assert torch.equal(window, frame[..., 2:10, 3:11])
    clips = frame.expand(2, 3, 3, 16, 20).contiguous()  # (K, T, C, H, W)
    torch.manual_seed(1)
    out = crop(clips)
    torch.manual_seed(1)
    expected = []
    for clip in clips:
        top, left, h, w = crop.sample(16, 20)
        expected.append(F.interpolate(clip[..., top:top + h, left:left + w], size=(8, 8), mode="bilinear",
                                      align_corners=False, antialias=True))  # fmt: skip
    assert out.shape == (2, 3, 3, 8, 8)
    torch.testing.assert_close(out, torch.stack(expected).clamp(0, 1))
    assert torch.equal(out[:, 0], out[:, 1])  # one draw per clip, every frame alike


def test_multiscale_crop_pads_a_snapped_crop_with_black_as_pil_does():
    crop = MultiScaleCrop(224)
    # short side 222: int(222 * 1) = 222 is within 3 pixels of 224 and snaps to it, taller than the frame
    assert (224, 224) in crop.crop_sizes(222, 300)
    frame = torch.ones(1, 1, 222, 300)
    window = crop.crop(frame, -1, 19, 224, 224)  # (222 - 224) // 4 = -1: the released corner row
    assert window.shape == (1, 1, 224, 224)
    assert window[..., 0, :].abs().max() == 0 and window[..., -1, :].abs().max() == 0
    assert torch.all(window[..., 1:223, :] == 1)


@pytest.mark.parametrize("box", [(10, 30, 210, 180), (0, 0, 240, 240), (40, 5, 158, 180), (7, 11, 120, 100)])
def test_multiscale_crop_resize_is_pils_bilinear(box):
    """The released code resizes the PIL crop with `Image.BILINEAR` (antialiased when shrinking, plain bilinear when
    enlarging); ours is torch's antialiased bilinear on float frames: equal to PIL's uint8 result within its
    rounding (PIL rounds after each of its two passes: at most one grey level), on a shrink, a crop of the whole frame,
    a non-square shrink and an enlargement."""
    from PIL import Image

    top, left, crop_h, crop_w = box
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    frame[::7] = 255  # sharp lines: a resize without antialiasing would differ by far more than rounding
    ours = MultiScaleCrop(224).crop(torch.from_numpy(frame).permute(2, 0, 1)[None].float(), top, left, crop_h, crop_w)
    pil = Image.fromarray(frame).crop((left, top, left + crop_w, top + crop_h)).resize((224, 224), Image.BILINEAR)
    expected = torch.from_numpy(np.asarray(pil).astype(np.float32)).permute(2, 0, 1)[None]
    assert (ours - expected).abs().max() <= 1 + 1e-3
    assert (ours - expected).abs().mean() < 0.35  # PIL's rounding only, no bias
    plain = F.interpolate(ours.new_tensor(frame[top : top + crop_h, left : left + crop_w]).permute(2, 0, 1)[None],
                          size=(224, 224), mode="bilinear", align_corners=False)  # fmt: skip
    if crop_h > 224:  # the control: without antialiasing a shrink is far from PIL's
        assert (plain - expected).abs().max() > 20


def test_multiscale_crop_transform_normalises_uint8_clips():
    transform = MultiScaleCropTransform(32)
    video = torch.full((4, 48, 64, 3), 255, dtype=torch.uint8)
    out = transform(video)
    assert out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(out[0, :, 0, 0], expected)


# ------------------------------------------------------------------------------------------ fine-tuning crop
def released_crop_box(height, width, rng, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """video_transforms.py _get_param_spatial_crop (10 tries, log-uniform ratio), as (x0, y0, w, h) in pixels."""
    for _ in range(10):
        target_area = rng.uniform(*scale) * height * width
        aspect_ratio = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    in_ratio = width / height  # fallback: a centre crop of the nearest allowed ratio
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def crop_boxes(height, width, n, centred_fallback=True, seed=0):
    """sample_resized_crop_boxes in pixels, (n, 4) (x0, y0, w, h)."""
    boxes = sample_resized_crop_boxes(torch.tensor([[height, width]]).expand(n, 2), (0.08, 1.0), (3 / 4, 4 / 3),
                                      torch.Generator().manual_seed(seed), centred_fallback=centred_fallback)  # fmt: skip
    return (boxes * torch.tensor([width, height, width, height])).round().double().numpy()  # whole pixels


@pytest.mark.parametrize("size", [(240, 320), (60, 400), (400, 60)])
def test_released_crop_boxes_follow_the_released_formula(size):
    """The boxes' scale, log ratio and corner have the released distribution: on a 320 x 240 frame, and on frames too
    wide (too tall) for the ratios, where all 10 tries fail in about 40 % of draws and the box is the centre crop."""
    from test_data_augmentation import KS_LIMIT, N, ks_statistic

    height, width = size
    rng = random.Random(0)
    released = np.array([released_crop_box(height, width, rng) for _ in range(N)], dtype=np.float64)
    ours, kornias = crop_boxes(height, width, N), crop_boxes(height, width, N, centred_fallback=False)

    def features(boxes):  # scale, log ratio, and the corner as a fraction of its range
        x0, y0, w, h = boxes.T
        return [w * h / (height * width), np.log(w / h), x0 / np.maximum(width - w, 1), y0 / np.maximum(height - h, 1)]

    for name, a, b in zip(("scale", "log ratio", "x0", "y0"), features(ours), features(released)):
        assert ks_statistic(a, b) < KS_LIMIT, name
    fallback = {(240, 320): None, (60, 400): (160, 0, 80, 60), (400, 60): (0, 160, 60, 80)}[size]
    if fallback is not None:
        share = (released == fallback).all(1).mean()
        assert 0.3 < share < 0.5 and abs((ours == fallback).all(1).mean() - share) < 0.02
        # kornia places the fallback box anywhere: the corner's distribution differs, so the test above can fail
        assert max(ks_statistic(a, b) for a, b in zip(features(kornias)[2:], features(released)[2:])) > 0.1


def test_released_crop_fallback_is_the_centre_crop():
    """A frame on which no try can fit (4 px high: every drawn area is taller): every box is the centred crop of
    the largest allowed ratio, round(4 x 4/3) = 5 px wide, at (400 - 5) // 2 = 197; likewise for a tall frame."""
    assert (crop_boxes(4, 400, 1000) == [197, 0, 5, 4]).all()
    assert (crop_boxes(400, 4, 1000) == [0, 197, 4, 5]).all()
    rng = random.Random(0)
    assert released_crop_box(4, 400, rng) == (197, 0, 5, 4) and released_crop_box(400, 4, rng) == (0, 197, 4, 5)


def test_released_crop_resizes_each_clips_box_without_antialiasing():
    """FinetuningTransform(released_crop=True): the box and flip drawn from torch's global generator, each clip's box
    resized as the released random_resized_crop does (F.interpolate, bilinear, align_corners=False, no antialias),
    boxes smaller (upscaled) and larger (downscaled) than the output alike, then flipped."""
    clips = torch.rand(6, 2, 3, 40, 70, generator=torch.Generator().manual_seed(0))  # (K, T, C, H, W) in [0, 1]
    transform = FinetuningTransform(24, rand_augment=False, random_erasing=0.0, released_crop=True,
                                    mean=(0, 0, 0), std=(1, 1, 1))  # fmt: skip
    torch.manual_seed(5)
    out = transform.augment(clips.clone())
    torch.manual_seed(5)
    boxes = sample_resized_crop_boxes(torch.tensor([[40, 70]]).expand(6, 2), (0.08, 1.0), (3 / 4, 4 / 3),
                                      centred_fallback=True)  # fmt: skip
    flips = torch.rand(6) < 0.5
    boxes = (boxes * torch.tensor([70, 40, 70, 40])).round().long().tolist()
    assert {w < 24 for _, _, w, _ in boxes} == {True, False} and set(flips.tolist()) == {True, False}
    for clip, result, (x0, y0, w, h), flip in zip(clips, out, boxes, flips):
        expected = F.interpolate(clip[..., y0:y0 + h, x0:x0 + w], size=(24, 24), mode="bilinear", align_corners=False)
        torch.testing.assert_close(result, expected.flip(-1) if flip else expected, atol=1e-4, rtol=0)
    assert out.shape == (6, 2, 3, 24, 24)


# ------------------------------------------------------------------------------------------ test resize
def opencv_linear(frame: np.ndarray, out_height: int, out_width: int) -> np.ndarray:
    """cv2.resize(INTER_LINEAR) of a (H, W) float frame, from OpenCV's resize.cpp: source position
    (d + 0.5) * in / out - 0.5, its floor and fraction, clamped to the first / last pixel; weights 1 - f and f."""

    def axis(n_in, n_out):
        f = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        s = np.floor(f).astype(int)
        f = f - s
        f, s = np.where(s < 0, 0.0, f), np.maximum(s, 0)
        f, s = np.where(s >= n_in - 1, 0.0, f), np.minimum(s, n_in - 1)
        return s, np.minimum(s + 1, n_in - 1), f

    y0, y1, fy = axis(frame.shape[0], out_height)
    x0, x1, fx = axis(frame.shape[1], out_width)
    rows = frame[y0] * (1 - fy)[:, None] + frame[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


@pytest.mark.parametrize("size,resized", [((45, 80), (16, 28)), ((81, 50), (25, 16)), ((64, 64), (16, 16))])
def test_released_test_resize_is_opencv_bilinear(size, resized):
    """EvalTransform(antialias=False) resizes the short side as the released resize_clip (cv2.INTER_LINEAR; the long
    side int(16 x long / short)); kornia's antialiased resize (the default) is far from it on fine detail."""
    height, width = size
    frames = torch.rand(2, height, width, 3, generator=torch.Generator().manual_seed(0))  # (T, H, W, C)
    frames[:, ::2, ::2] = 1.0  # fine detail, which a 3-5x shrink aliases without smoothing
    released = EvalTransform(16, num_crops=3, mean=(0, 0, 0), std=(1, 1, 1), antialias=False)
    resized_frames = released.resize(frames.permute(0, 3, 1, 2))
    assert tuple(resized_frames.shape[-2:]) == resized
    for t in range(2):
        for c in range(3):
            expected = torch.from_numpy(opencv_linear(frames[t, :, :, c].double().numpy(), *resized)).float()
            torch.testing.assert_close(resized_frames[t, c], expected, atol=1e-5, rtol=0)
    views = released(frames)  # the three crops along the long side: start, centre, end
    long = max(resized)
    for view, start in zip(views, (0, (long - 16) // 2, long - 16)):
        window = resized_frames[..., start:start + 16, :] if height > width else resized_frames[..., start:start + 16]
        torch.testing.assert_close(view, window, atol=1e-6, rtol=0)
    smoothed = EvalTransform(16, num_crops=3, mean=(0, 0, 0), std=(1, 1, 1))(frames)
    assert (smoothed - views).abs().max() > 0.1


# ------------------------------------------------------------------------------------------ segment sampling
def released_test_indices(n, num_segment=16, test_num_segment=2):
    """SSVideoClsDataset.loadvideo_decord (mode 'test') then `buffer[chunk_nb::2]` for chunk_nb 0 and 1."""
    tick = n / float(num_segment)
    all_index = [int(tick / 2.0 + tick * x) for x in range(num_segment)] + [int(tick * x) for x in range(num_segment)]
    while len(all_index) < num_segment * test_num_segment:
        all_index.append(all_index[-1])
    all_index = sorted(all_index)
    return [all_index[chunk::2] for chunk in range(test_num_segment)]


@pytest.mark.parametrize("n", [16, 17, 24, 31, 33, 47, 64, 100, 151, 257, 1000])
def test_segment_test_views_are_the_released_ones(n):
    assert segment_indices(n, 16, num_clips=2, mode="eval").tolist() == released_test_indices(n)
    assert segment_indices(n, 16, num_clips=1, mode="eval").tolist() == released_test_indices(n)[:1]


@pytest.mark.parametrize("n", [16, 20, 48, 50, 97])
def test_segment_training_draws_one_frame_per_segment(n):
    d = n // 16  # released: average_duration = len(vr) // num_segment, index k * d + randint(d)
    generator = torch.Generator().manual_seed(0)
    draws = np.concatenate([segment_indices(n, 16, num_clips=4, generator=generator) for _ in range(200)])
    assert draws.shape == (800, 16)
    low = np.arange(16) * d
    assert (draws >= low).all() and (draws < low + d).all()
    for k in range(16):  # every frame of every segment is drawn
        assert set(draws[:, k].tolist()) == set(range(k * d, k * d + d))


def test_segment_training_of_a_video_shorter_than_the_segments():
    assert segment_indices(8, 16).tolist() == [[k * 8 // 16 for k in range(16)]]


def test_segment_sampling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="must be >= 1"):
        segment_indices(0, 16)
    with pytest.raises(ValueError, match="mode must be"):
        segment_indices(32, 16, mode="test")


def released_kinetics_train(n, end, clip_len=16, rate=4):
    """VideoClsDataset.loadvideo_decord (mode 'train', num_segment 1) for a drawn end_idx."""
    converted_len = clip_len * rate
    if n <= converted_len:
        index = np.linspace(0, n, num=n // rate)
        index = np.concatenate((index, np.ones(clip_len - n // rate) * n))
        return np.clip(index, 0, n - 1).astype(np.int64).tolist()
    str_idx = end - converted_len
    return np.clip(np.linspace(str_idx, end, num=clip_len), str_idx, end - 1).astype(np.int64).tolist()


def released_kinetics_test(n, test_num_segment, clip_len=16, rate=4):
    """VideoClsDataset.loadvideo_decord (mode 'test') and the temporal slicing of __getitem__ (mode 'test')."""
    all_index = list(range(0, n, rate))
    while len(all_index) < clip_len:
        all_index.append(all_index[-1])
    temporal_step = max(1.0 * (len(all_index) - clip_len) / (test_num_segment - 1), 0)
    return [all_index[int(c * temporal_step):int(c * temporal_step) + clip_len] for c in range(test_num_segment)]


@pytest.mark.parametrize("n", [66, 67, 100, 300])
def test_videomae_training_clips_are_the_released_ones(n):
    generator = torch.Generator().manual_seed(0)
    draws = videomae_clip_indices(n, 16, 4, num_clips=3000, generator=generator)
    ends = draws[:, -1] + 1  # the window's end e: its last frame is e - 1
    assert set(ends.tolist()) == set(range(64, n))  # released: np.random.randint(converted_len, seg_len)
    for draw, end in zip(draws.tolist(), ends.tolist()):
        assert draw == released_kinetics_train(n, end)


@pytest.mark.parametrize("n", [3, 10, 40, 64])
def test_videomae_training_clips_of_short_videos(n):
    assert videomae_clip_indices(n, 16, 4).tolist() == [released_kinetics_train(n, None)]


@pytest.mark.parametrize("n", [10, 64, 65, 100, 250, 301])
@pytest.mark.parametrize("clips", [2, 3, 5])
def test_videomae_test_clips_are_the_released_ones(n, clips):
    assert videomae_clip_indices(n, 16, 4, num_clips=clips, mode="eval").tolist() == released_kinetics_test(n, clips)


def test_released_clip_indices_dispatch():
    assert released_clip_indices("segments", 32, 16, 4, mode="eval").tolist() == [list(range(0, 32, 2))]
    assert released_clip_indices("videomae", 64, 16, 4, mode="eval").tolist() == [list(range(0, 64, 4))]
    with pytest.raises(ValueError, match="temporal_sampling must be one of"):
        released_clip_indices("stride", 64, 16, 4)


# ------------------------------------------------------------------------------------------ schedule
def released_cosine_scheduler(base_value, final_value, epochs, niter_per_ep, warmup_epochs=0):
    """msc/utils.py cosine_scheduler with start_warmup_value=0, warmup_steps=-1."""
    warmup_iters = warmup_epochs * niter_per_ep
    warmup_schedule = np.linspace(0, base_value, warmup_iters) if warmup_epochs > 0 else np.array([])
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    schedule = [final_value + 0.5 * (base_value - final_value) * (1 + math.cos(math.pi * i / len(iters))) for i in iters]
    return np.concatenate((warmup_schedule, np.array(schedule)))


@pytest.mark.parametrize(
    "base,final,epochs,per_epoch,warmup,steps_per_update",
    [(1.2e-3, 8e-5, 10, 7, 2, 1), (1e-3, 2e-6, 6, 5, 1, 2), (2e-3, 0.0, 4, 3, 0, 1), (5e-4, 5e-4 / 15, 3, 1, 1, 4)],
)
def test_released_schedule_matches_the_released_values(base, final, epochs, per_epoch, warmup, steps_per_update):
    expected = released_cosine_scheduler(base, final, epochs, per_epoch, warmup)
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [parameter], "lr": base}, {"params": [], "lr": base * 0.5}], lr=base)
    scheduler = get_released_cosine_schedule(
        optimizer, warmup * per_epoch, epochs * per_epoch, min_lr_ratio=final / base, steps_per_update=steps_per_update
    )
    got, half = [], []
    for _ in range(epochs * per_epoch):
        got.append(optimizer.param_groups[0]["lr"])
        half.append(optimizer.param_groups[1]["lr"])
        optimizer.step()
        for _ in range(steps_per_update):  # Accelerate steps a prepared scheduler once per process
            scheduler.step()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(half, expected * 0.5, rtol=1e-12, atol=1e-18)  # a group's lr_scale is kept


def test_released_schedule_rejects_a_warmup_without_cosine():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="num_warmup_steps"):
        get_released_cosine_schedule(optimizer, 10, 10)


# ------------------------------------------------------------------------------------------ reading the frames
@pytest.mark.parametrize("sampling,mode,clips", [("segments", "train", 1), ("segments", "eval", 2), ("videomae", "train", 1),
                                                 ("videomae", "eval", 5)])  # fmt: skip
def test_the_reader_and_the_dataset_read_exactly_the_sampled_frames(tmp_path, sampling, mode, clips):
    from test_video_frames import read_indices, write_video  # index frames: each frame shows its own number

    from adamae_hf.data import VideoClipDataset, VideoReader, item_seeds, load_video_source, read_video_clips

    (tmp_path / "a").mkdir()
    video = write_video(tmp_path / "a" / "v.mp4", 90, "mp4", "libx264", options={"g": "10"})
    stats = {}
    generator = torch.Generator().manual_seed(0)
    read = read_video_clips(video, 16, 4, clips, mode, generator, temporal_sampling=sampling, stats=stats)
    np.testing.assert_array_equal(read_indices(read), stats["indices"])
    expected = released_clip_indices(sampling, 90, 16, 4, clips, mode, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(stats["indices"], expected)
    with VideoReader(video) as reader:  # one open, two reads: each draws its own indices
        generator = torch.Generator().manual_seed(0)
        for _ in range(2):
            expected = released_clip_indices(sampling, 90, 16, 4, clips, mode, generator.clone_state())
            read = reader.read_clips(16, 4, clips, mode, generator, temporal_sampling=sampling)
            np.testing.assert_array_equal(read_indices(read), expected)
            np.testing.assert_array_equal(reader.stats["indices"], expected)

    source = load_video_source(data_dir=tmp_path, split="train")
    dataset = VideoClipDataset(source, num_frames=16, sampling_rate=4, transform=None, mode=mode, num_clips=clips,
                               temporal_sampling=sampling, seed=5)  # fmt: skip
    item = dataset[0]["pixel_values"]  # (K, T, C, H, W) or (T, C, H, W) uint8
    item = item if clips > 1 else item[None]
    temporal_seed, _ = item_seeds(5, rank=0, epoch=0, index=0)  # the dataset's seed of item 0's frames
    expected = released_clip_indices(sampling, 90, 16, 4, clips, mode, torch.Generator().manual_seed(temporal_seed))
    np.testing.assert_array_equal(read_indices(item.permute(0, 1, 3, 4, 2)), expected)


@pytest.mark.parametrize("sampling", ["segments", "videomae"])
def test_repeated_sampling_under_a_released_temporal_sampling(tmp_path, sampling):
    """num_sample=3 with segment / VideoMAE sampling: one read of the frames the sampling chose (as VideoMAE V2's
    --num_sample: the video is loaded once), three clips of those frames, each with its own crop."""
    from test_video_frames import read_indices, write_video

    from adamae_hf.data import PretrainingTransform, VideoClipDataset, item_seeds, load_video_source

    (tmp_path / "a").mkdir()
    write_video(tmp_path / "a" / "v.mp4", 90, "mp4", "libx264", options={"g": "10"})
    source = load_video_source(data_dir=tmp_path, split="train")
    temporal_seed, _ = item_seeds(0, rank=0, epoch=0, index=0)
    expected = released_clip_indices(sampling, 90, 16, 4, 1, "train", torch.Generator().manual_seed(temporal_seed))
    raw = VideoClipDataset(source, num_frames=16, sampling_rate=4, transform=None, num_sample=3,
                           temporal_sampling=sampling)[0]  # fmt: skip
    np.testing.assert_array_equal(read_indices(raw["pixel_values"].permute(0, 2, 3, 1)[None]), expected)
    dataset = VideoClipDataset(source, num_frames=16, sampling_rate=4, transform=PretrainingTransform(16), num_sample=3,
                               temporal_sampling=sampling)  # fmt: skip
    item = dataset[0]
    assert item["pixel_values"].shape == (3, 16, 3, 16, 16) and item["num_sample"] == 3
    assert not torch.equal(item["pixel_values"][0], item["pixel_values"][1])
    with pytest.raises(ValueError, match="temporal_sampling must be one of"):
        VideoClipDataset(source, num_frames=16, sampling_rate=4, transform=None, temporal_sampling="tsn")


def test_an_unknown_temporal_sampling_fails_before_reading():
    from adamae_hf.data import read_video_clips

    with pytest.raises(ValueError, match="temporal_sampling must be one of"):
        read_video_clips("/no/such/video.mp4", 16, 4, temporal_sampling="tsn")


# ------------------------------------------------------------------------------------------ random erasing
def test_released_random_erasing_boxes():
    from adamae_hf.data.random_erasing import ClipRandomErasing

    erasing = ClipRandomErasing(0.25)
    torch.manual_seed(0)
    boxes = [erasing.box(224, 224) for _ in range(4000)]
    drawn = [b for b in boxes if b is not None]
    assert abs(len(drawn) / 4000 - 0.25) < 0.03  # released: erase when random() <= probability
    for top, left, h, w in drawn:  # area uniform in [0.02, 1/3] x 224^2, aspect in [0.3, 1/0.3], inside the frame
        assert 0 <= top <= 224 - h and 0 <= left <= 224 - w and h < 224 and w < 224
        assert 0.02 * 224**2 * 0.9 <= h * w <= 224**2 / 3 * 1.1
        assert 0.3 * 0.8 <= h / w <= 1 / 0.3 * 1.25
    areas = np.array([h * w for _, _, h, w in drawn]) / 224**2
    assert abs(areas.mean() - (0.02 + 1 / 3) / 2) < 0.02  # uniform area: mean in the middle


def test_released_random_erasing_fills_one_box_with_noise_on_every_frame():
    from adamae_hf.data.random_erasing import ClipRandomErasing
    from adamae_hf.data.transforms import FinetuningTransform

    clips = torch.zeros(1, 4, 3, 64, 64)
    torch.manual_seed(3)
    out = ClipRandomErasing(1.0)(clips.clone())
    changed = out != 0
    assert changed.any()
    assert torch.equal(changed[:, 0].any(1), changed[:, 3].any(1))  # the same box on every frame
    assert not torch.equal(out[:, 0], out[:, 1])  # fresh noise per frame, as the released per-frame fill
    box = out[changed]
    assert abs(box.mean().item()) < 0.2 and abs(box.std().item() - 1) < 0.2
    transform = FinetuningTransform(32, rand_augment=False, random_erasing=1.0, random_erasing_fill="pixel")
    assert isinstance(transform.erasing, ClipRandomErasing)
    with pytest.raises(ValueError, match="random_erasing_fill"):
        FinetuningTransform(32, random_erasing_fill="noise")


# ------------------------------------------------------------------------------------------ fine-tuning Trainer
def test_trainer_released_schedule_and_logit_averaging(tmp_path):
    from transformers import TrainingArguments

    from adamae_hf import AdaMAEForVideoClassification
    from adamae_hf.finetuning import VideoClassificationTrainer, multiview_average
    from adamae_hf.presets import preset_config

    model = AdaMAEForVideoClassification(preset_config("tiny", num_labels=3, num_hidden_layers=2))
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=2e-3, warmup_steps=4, report_to=[],
                             remove_unused_columns=False)  # fmt: skip
    trainer = VideoClassificationTrainer(model=model, args=args, layer_decay=0.75, released_lr_schedule=True,
                                         min_lr_ratio=1e-6 / 1e-3)  # fmt: skip
    trainer.create_optimizer_and_scheduler(num_training_steps=20)
    expected = released_cosine_scheduler(2e-3, 2e-6, 20, 1, 4)  # 4 warm-up "epochs" of 1 step
    head = [g for g in trainer.optimizer.param_groups if g["lr_scale"] == 1.0][0]
    got = []
    for _ in range(20):
        got.append(head["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    np.testing.assert_allclose(got, expected, rtol=1e-12)

    logits = torch.tensor([[[-5.0, 4.0, 4.0], [4.0, 1.0, -5.0]]])  # two views of one video
    # released compute_video: argmax of the mean logits (class 1); the mean of the probabilities picks class 0
    assert multiview_average(logits, average="logits").argmax().item() == 1
    assert multiview_average(logits, average="probabilities").argmax().item() == 0
    mean_logits = multiview_average(logits, average="logits")
    torch.testing.assert_close(mean_logits, logits.mean(1).softmax(-1))
    flat = multiview_average(logits[0], torch.tensor([0, 0]), average="logits")
    torch.testing.assert_close(flat, mean_logits)
    with pytest.raises(ValueError, match="average must be one of"):
        multiview_average(logits, average="votes")


@pytest.mark.parametrize("released", [True, False])
def test_trainer_cuts_a_warmup_as_long_as_the_run_and_says_so(tmp_path, caplog, released):
    """A 20-step warm-up in a 3-step run: cut to 2 steps (the peak is reached), one warning naming where it came from."""
    from transformers import TrainingArguments

    from adamae_hf import AdaMAEForVideoClassification
    from adamae_hf.finetuning import VideoClassificationTrainer
    from adamae_hf.presets import preset_config

    model = AdaMAEForVideoClassification(preset_config("tiny", num_labels=3, num_hidden_layers=1))
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, warmup_steps=20, report_to=[],
                             remove_unused_columns=False)  # fmt: skip
    trainer = VideoClassificationTrainer(model=model, args=args, layer_decay=None, released_lr_schedule=released,
                                         warmup_given_as="--warmup_epochs 5 from the recipe 'adamae-ssv2'")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="adamae_hf"):
        trainer.create_optimizer_and_scheduler(num_training_steps=3)
    assert [r.getMessage() for r in caplog.records if "warm-up" in r.getMessage()] == [
        "The warm-up (20 steps, --warmup_epochs 5 from the recipe 'adamae-ssv2') is not shorter than the run (3 steps): "
        "cut to 2 steps. Set a shorter warm-up with --warmup_epochs or --warmup_steps (< 1: a fraction of the run)."]
    lrs = []
    for _ in range(3):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert max(lrs) == pytest.approx(1e-3)  # the peak is reached within the run
