"""Temporal sampling of the released fine-tuning and testing, beside the fixed-stride sampling of
`video_io.sample_clip_indices` (`temporal_sampling="stride"`, the pre-training sampling):

- `"segments"` ([`segment_indices`]): TSN segment sampling (Wang et al. ECCV 2016) of the released SSv2 fine-tuning
  and testing (wgcban/adamae `ssv2.py`, `SSVideoClsDataset.loadvideo_decord`, `num_segment = num_frames`,
  `clip_len = 1`): the video is cut into `num_frames` equal segments and one frame is taken from each, so a clip
  spans the whole video whatever its length (SSv2 clips last 2-6 s); `sampling_rate` plays no part.
- `"videomae"` ([`videomae_clip_indices`]): the released Kinetics-400 fine-tuning and testing (`kinetics.py`,
  `VideoClsDataset.loadvideo_decord`, `num_segment = 1`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch


def segment_indices(
    num_video_frames: int,
    num_segments: int,
    num_clips: int = 1,
    mode: Literal["train", "eval"] = "train",
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Frame indices `(num_clips, num_segments)`, one frame per segment, ascending within a clip.

    `mode="train"` (released training and validation): with `d = N // S` frames per segment (`N` video frames,
    `S` segments), segment `k` gives frame `k * d + u`, `u` uniform in `[0, d)`, drawn per segment and per clip.
    A video of fewer than `S` frames (`d = 0`) gives frame `int(k * N / S)` of segment `k`, every frame in turn
    (deliberately not the released code's `S` copies of frame 0; SSv2 has no video that short).

    `mode="eval"` (released testing): with `tick = N / S`, clip `c` of `K` takes frame `int(tick * c / K + tick * k)`
    of segment `k`. For the released `K = 2` (`--test_num_segment 2`) these are the segment starts `int(tick * k)`
    and centres `int(tick / 2 + tick * k)`, the two halves of the released sorted index list; for `K = 1` the
    starts. (The released code defines no other `K`: it slices that list with a step of 2.)

    Raises:
        ValueError: `num_video_frames < 1`, `num_segments < 1`, `num_clips < 1` or an unknown `mode`.
    """
    if num_video_frames < 1 or num_segments < 1 or num_clips < 1:
        raise ValueError(
            f"num_video_frames, num_segments and num_clips must be >= 1, got {num_video_frames}, {num_segments}, "
            f"{num_clips}"
        )
    n, s = num_video_frames, num_segments
    if mode == "train":
        per_segment = n // s
        if per_segment == 0:
            return np.tile((np.arange(s) * n) // s, (num_clips, 1)).astype(np.int64)
        jitter = torch.randint(0, per_segment, (num_clips, s), generator=generator).numpy()
        return (np.arange(s) * per_segment + jitter).astype(np.int64)
    if mode == "eval":
        tick = n / float(s)
        return np.array(
            [[int(tick * c / num_clips + tick * k) for k in range(s)] for c in range(num_clips)], dtype=np.int64
        )
    raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")


def videomae_clip_indices(
    num_video_frames: int,
    num_frames: int,
    sampling_rate: int,
    num_clips: int = 1,
    mode: Literal["train", "eval"] = "train",
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Frame indices `(num_clips, num_frames)` of the released Kinetics-400 fine-tuning and testing (wgcban/adamae
    `kinetics.py`, `VideoClsDataset.loadvideo_decord` with `num_segment = 1`), `T = num_frames`, `r = sampling_rate`,
    `N = num_video_frames`.

    `mode="train"` (released training and validation): a window of `L = T * r` frames ending at `e`, uniform in
    `[L, N)`, and `np.linspace(e - L, e, T)` truncated to integers and clipped to `[e - L, e - 1]`: `T` frames
    spread evenly over the window, `L / (T - 1)` apart (64 / 15 for 16 frames at 4, not exactly 4). A video of
    `N <= L` frames gives `np.linspace(0, N, N // r)` followed by copies of `N`, clipped to `[0, N - 1]`.

    `mode="eval"` (released testing): every `r`-th frame (`range(0, N, r)`, the last one repeated up to `T`
    entries), of which clip `c` of `K` takes the `T` consecutive entries from `int(c * (B - T) / (K - 1))`, `B`
    entries in all (0 when `B <= T`). The released code divides by `K - 1`; for `K = 1` the clip is the middle one,
    `int((B - T) / 2)`.

    Raises:
        ValueError: an argument below 1 or an unknown `mode`.
    """
    if min(num_video_frames, num_frames, sampling_rate, num_clips) < 1:
        raise ValueError(
            "num_video_frames, num_frames, sampling_rate and num_clips must be >= 1, got "
            f"{num_video_frames}, {num_frames}, {sampling_rate}, {num_clips}"
        )
    n, t, r = num_video_frames, num_frames, sampling_rate
    if mode == "train":
        length = t * r
        if n <= length:
            index = np.linspace(0, n, num=n // r)
            index = np.concatenate((index, np.ones(t - n // r) * n))
            return np.tile(np.clip(index, 0, n - 1).astype(np.int64), (num_clips, 1))
        clips = []
        for end in torch.randint(length, n, (num_clips,), generator=generator).tolist():
            index = np.linspace(end - length, end, num=t)
            clips.append(np.clip(index, end - length, end - 1).astype(np.int64))
        return np.stack(clips)
    if mode == "eval":
        strided = list(range(0, n, r))
        while len(strided) < t:
            strided.append(strided[-1])
        step = max((len(strided) - t) / (num_clips - 1), 0) if num_clips > 1 else max((len(strided) - t) / 2, 0)
        starts = [int(c * step) for c in range(num_clips)] if num_clips > 1 else [int(step)]
        return np.array([strided[s : s + t] for s in starts], dtype=np.int64)
    raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")


TEMPORAL_SAMPLINGS = ("stride", "segments", "videomae")


def released_clip_indices(
    temporal_sampling: str,
    num_video_frames: int,
    num_frames: int,
    sampling_rate: int,
    num_clips: int = 1,
    mode: Literal["train", "eval"] = "train",
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """`(num_clips, num_frames)` frame indices by `temporal_sampling` `"segments"` or `"videomae"` (see the module
    docstring); `"stride"` is `video_io.sample_clip_indices`. Raises `ValueError` for another name."""
    if temporal_sampling == "segments":
        return segment_indices(num_video_frames, num_frames, num_clips, mode, generator)
    if temporal_sampling == "videomae":
        return videomae_clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, mode, generator)
    raise ValueError(f"temporal_sampling must be one of {', '.join(TEMPORAL_SAMPLINGS)}, got {temporal_sampling!r}")
