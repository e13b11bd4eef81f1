"""Clip reading: frame indexing, seeking, sampling, short and bad videos, and the bad-video policy."""

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from adamae_hf.data import (
    VideoClipDataset,
    VideoReadError,
    VideoSample,
    VideoSource,
    build_dataloader,
    collate_finetuning,
    load_synthetic_mask,
    read_video_clips,
)
from adamae_hf.data.synthetic import write_mp4


def counter_video(path: Path, num_frames: int, gop_size: int = 10) -> Path:
    """Frame i shows i in binary: 8 vertical bands of 8 pixels, white for a 1 bit, so that a decoded frame
    tells its own index."""
    bits = (np.arange(num_frames)[:, None] >> np.arange(8)[None, :]) & 1  # (F, 8)
    bands = np.where(bits, 235, 20).astype(np.uint8).repeat(8, axis=1)  # (F, 64)
    frames = np.broadcast_to(bands[:, None, :, None], (num_frames, 48, 64, 3)).copy()
    write_mp4(path, frames, gop_size=gop_size)
    return path


def frame_indices(clips: torch.Tensor) -> np.ndarray:
    """(K, T, H, W, C) clips of a counter video -> (K, T) frame indices."""
    bands = clips.float().mean(dim=(2, 4)).unflatten(-1, (8, 8)).mean(-1)  # (K, T, 8)
    return ((bands > 128).long() << torch.arange(8)).sum(-1).numpy()


@pytest.fixture(scope="module")
def data_counter_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("counter")
    return {"long": counter_video(root / "long.mp4", 100), "short": counter_video(root / "short.mp4", 12)}


def test_decode_generated_clip(data_synthetic_dir):
    video = data_synthetic_dir / "train" / "left" / "left_0000.mp4"
    stats = {}
    clips = read_video_clips(video, num_frames=16, sampling_rate=1, mode="eval", stats=stats)
    assert clips.shape == (1, 16, 32, 32, 3) and clips.dtype == torch.uint8
    assert stats["video_frames"] == 16
    # frames change over time, and where they change is where the object moves (the ground-truth mask)
    mask = torch.from_numpy(load_synthetic_mask(data_synthetic_dir, "train/left/left_0000.mp4"))
    assert mask.shape == (16, 32, 32) and mask.dtype == torch.bool
    change = (clips[0, -1].float() - clips[0, 0].float()).abs().mean(-1)  # (H, W)
    moved = mask[0] ^ mask[-1]
    assert change[moved].mean() > 20 > change[~(mask[0] | mask[-1])].mean()


def test_path_bytes_and_file_object_agree(data_synthetic_dir):
    video = data_synthetic_dir / "validation" / "up" / "up_0000.mp4"
    from_path = read_video_clips(str(video), 8, 2, mode="eval")
    data = video.read_bytes()
    assert torch.equal(from_path, read_video_clips(data, 8, 2, mode="eval"))
    assert torch.equal(from_path, read_video_clips(io.BytesIO(data), 8, 2, mode="eval"))


def test_frame_indices_and_seeking(data_counter_videos):
    stats = {}
    clips = read_video_clips(data_counter_videos["long"], 8, 2, num_clips=3, mode="eval", stats=stats)
    assert clips.shape == (3, 8, 48, 64, 3)
    # evaluation: 3 clips of span 15, starts evenly spaced over [0, 85]
    assert frame_indices(clips).tolist() == [list(range(s, s + 15, 2)) for s in (0, 42, 85)]
    # a single late clip seeks: far fewer than the 100 frames are decoded
    stats = {}
    clip = read_video_clips(data_counter_videos["long"], 4, 2, mode="eval", stats=stats)
    assert frame_indices(clip).tolist() == [[46, 48, 50, 52]]
    assert stats["video_frames"] == 100 and stats["decoded_frames"] < 25


def test_train_sampling_random_eval_deterministic(data_counter_videos):
    video = data_counter_videos["long"]
    starts = {int(frame_indices(read_video_clips(video, 4, 3, generator=torch.Generator().manual_seed(s)))[0, 0]) for s in range(6)}
    assert len(starts) > 1
    for clip_starts in [frame_indices(read_video_clips(video, 4, 3, num_clips=2))[:, 0]]:
        assert all(0 <= s <= 100 - 10 for s in clip_starts)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(read_video_clips(video, 4, 3, generator=g1), read_video_clips(video, 4, 3, generator=g2))
    assert torch.equal(read_video_clips(video, 4, 3, 2, mode="eval"), read_video_clips(video, 4, 3, 2, mode="eval"))


def test_short_video_repeats_last_frame(data_counter_videos):
    # 12 frames, clip span (8 - 1) * 2 + 1 = 15: indices past the end are the last frame
    for mode in ("train", "eval"):
        clips = read_video_clips(data_counter_videos["short"], 8, 2, mode=mode)
        assert frame_indices(clips).tolist() == [[0, 2, 4, 6, 8, 10, 11, 11]]


@pytest.fixture(scope="module")
def data_bad_videos(tmp_path_factory, data_synthetic_dir):
    root = tmp_path_factory.mktemp("bad")
    good = (data_synthetic_dir / "train" / "left" / "left_0000.mp4").read_bytes()
    moov = good.find(b"moov")
    zeroed = bytearray(good)
    zeroed[good.find(b"mdat") + 8 : moov - 4] = bytes(moov - 4 - good.find(b"mdat") - 8)
    files = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "text": b"this is not a video\n" * 20,
        "undecodable": bytes(zeroed),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = root / f"{name}.mp4"
        paths[name].write_bytes(data)
    paths["missing"] = root / "missing.mp4"
    return paths


BAD_CASES = ["empty", "truncated", "text", "undecodable", "missing"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_video_raises_typed_error(data_bad_videos, case):
    path = data_bad_videos[case]
    with pytest.raises(VideoReadError) as info:
        read_video_clips(path, 8, 1)
    assert info.value.path == str(path) and info.value.reason
    assert str(path) in str(info.value)


def bad_source(data_synthetic_dir, bad_path):
    good = [str(p) for p in sorted((data_synthetic_dir / "train" / "up").glob("*.mp4"))[:2]]
    samples = [VideoSample(good[0], 0, good[0]), VideoSample(str(bad_path), 1, str(bad_path)), VideoSample(good[1], 0, good[1])]
    return VideoSource(samples, ["up", "down"])


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_video_policy(data_synthetic_dir, data_bad_videos, case, caplog):
    source = bad_source(data_synthetic_dir, data_bad_videos[case])
    kwargs = dict(num_frames=4, sampling_rate=2, transform=None, mode="eval")
    with pytest.raises(VideoReadError, match=str(data_bad_videos[case])):
        VideoClipDataset(source, on_bad_video="raise", **kwargs)[1]

    # training: another video is substituted (never zeros)
    dataset = VideoClipDataset(source, on_bad_video="skip", **{**kwargs, "mode": "train"})
    with caplog.at_level(logging.WARNING, logger="adamae_hf.data.dataset"):
        items = [dataset[1], dataset[1]]
    assert all(item["video_index"] == 2 and item["labels"] == 0 and item["readable"] for item in items)
    assert items[0]["pixel_values"].shape == (4, 3, 32, 32) and items[0]["pixel_values"].float().std() > 0
    assert dataset.num_skipped == 2
    warnings = [r for r in caplog.records if str(data_bad_videos[case]) in r.getMessage()]
    assert len(warnings) == 1  # once per file
    # evaluation: the same video, flagged unreadable, so that it is left out rather than another counted twice
    dataset = VideoClipDataset(source, on_bad_video="skip", **kwargs)
    good = dataset[2]  # without a transform, a placeholder takes the shape of the last readable item
    item = dataset[1]
    assert item["video_index"] == 1 and item["labels"] == 1 and not item["readable"] and good["readable"]
    assert item["pixel_values"].shape == good["pixel_values"].shape and not item["pixel_values"].any()
    assert dataset.num_skipped == 1


def test_bad_video_in_worker_names_file(data_synthetic_dir, data_bad_videos):
    source = bad_source(data_synthetic_dir, data_bad_videos["text"])
    dataset = VideoClipDataset(source, num_frames=4, sampling_rate=1, transform=None, on_bad_video="raise")
    loader = build_dataloader(dataset, batch_size=3, collate_fn=collate_finetuning, num_workers=1)
    with pytest.raises(VideoReadError, match="text.mp4"):
        next(iter(loader))
