"""Segment-based frame sampling (TSN, Wang et al. ECCV 2016), as the released SSv2 fine-tuning and testing do
(wgcban/adamae `ssv2.py`, `SSVideoClsDataset.loadvideo_decord`, with `num_segment = num_frames`, `clip_len = 1`):
the video is cut into `num_segments` equal segments and one frame is taken from each, so a clip always spans the
whole video whatever its length (SSv2 clips are 2-6 s long), instead of `num_frames` frames at a fixed stride.
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
