"""Clip reading with PyAV: seek to the clip, decode only what it needs.

A clip is ``num_frames`` frames taken every ``sampling_rate`` frames, so it spans
``(num_frames - 1) * sampling_rate + 1`` frames of the video. Training draws the start uniformly at random;
evaluation takes ``num_clips`` clips whose starts are evenly spaced over the video (VideoMAE's test
protocol), so it is deterministic.

Short videos: when the video has fewer frames than the clip spans, the frame indices past the end are
clamped to the last frame, i.e. **the last frame is repeated** (never black frames, never an error).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import BinaryIO, Literal

import av
import numpy as np
import torch


VideoInput = str | os.PathLike | bytes | bytearray | BinaryIO

# Frames the container index says exist but decoding did not produce, tolerated before a video counts as
# truncated (some muxers round the frame count).
_TRUNCATION_TOLERANCE = 2
# A wanted frame further ahead than this is reached by seeking instead of decoding on.
_SEEK_GAP = 64


class VideoReadError(Exception):
    """A video could not be read. ``path`` names the file (or ``"<bytes>"``), ``reason`` says why.

    Built from a single message (as ``torch.utils.data`` does when it re-raises a worker's exception in
    the main process) it keeps that message as ``reason`` and ``path`` is ``None``.
    """

    def __init__(self, path: str | None, reason: str | None = None) -> None:
        if reason is None:
            path, reason = None, path or ""
        self.path = path
        self.reason = reason
        super().__init__(reason if path is None else f"cannot read video {path!r}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


def describe_video(video: VideoInput) -> str:
    """A short name for ``video`` for messages: its path, or ``"<bytes: N>"`` / ``"<file-like>"``."""
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    if isinstance(video, (bytes, bytearray)):
        return f"<bytes: {len(video)}>"
    return getattr(video, "name", None) or "<file-like>"


def _open_container(video: VideoInput, name: str) -> av.container.InputContainer:
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        if "://" in path:  # remote file (e.g. hf:// in a streaming dataset): open through fsspec
            import fsspec

            with fsspec.open(path, "rb") as f:
                video = io.BytesIO(f.read())
        elif not os.path.exists(path):
            raise VideoReadError(name, "file does not exist")
        elif os.path.getsize(path) == 0:
            raise VideoReadError(name, "empty file (0 bytes)")
    elif isinstance(video, (bytes, bytearray)):
        if len(video) == 0:
            raise VideoReadError(name, "empty file (0 bytes)")
        video = io.BytesIO(video)
    try:
        return av.open(video, mode="r", metadata_errors="ignore")
    except av.FFmpegError as e:
        reason = f"not a readable video container ({type(e).__name__}: {e})"
    raise VideoReadError(name, reason)


def sample_clip_indices(
    num_video_frames: int,
    num_frames: int,
    sampling_rate: int,
    num_clips: int = 1,
    mode: Literal["train", "eval"] = "train",
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Frame indices of ``num_clips`` clips, shape ``(num_clips, num_frames)``, clamped to the video.

    ``mode="train"``: each clip starts uniformly at random. ``mode="eval"``: the starts are evenly spaced
    from the first to the last possible start (a single clip is centred). Indices past the end of a short
    video are clamped to its last frame.
    """
    if num_frames < 1 or sampling_rate < 1 or num_clips < 1:
        raise ValueError("num_frames, sampling_rate and num_clips must be >= 1")
    span = (num_frames - 1) * sampling_rate + 1
    max_start = max(num_video_frames - span, 0)
    if mode == "train":
        starts = torch.randint(0, max_start + 1, (num_clips,), generator=generator).numpy()
    elif mode == "eval":
        if num_clips == 1:
            starts = np.array([max_start // 2])
        else:
            starts = np.round(np.linspace(0, max_start, num_clips)).astype(np.int64)
    else:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    offsets = np.arange(num_frames) * sampling_rate
    return np.minimum(starts[:, None] + offsets[None, :], max(num_video_frames - 1, 0))


def _num_frames(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> tuple[int, bool]:
    """(frame count, whether it comes from the container's index rather than an estimate)."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames), True
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration is not None and stream.time_base is not None and rate:
        return max(int(round(float(stream.duration * stream.time_base * rate))), 1), False
    if container.duration is not None and rate:
        return max(int(round(container.duration / av.time_base * float(rate))), 1), False
    return 0, False


def _decode_indices(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: Sequence[int],
    name: str,
    num_video_frames: int,
    exact_count: bool,
    stats: dict | None,
) -> dict[int, np.ndarray]:
    """Decode the frames at the sorted, unique indices ``wanted`` -> {index: (H, W, 3) uint8 array}.

    Seeks (backwards, to a keyframe) before the first wanted frame, and again before any wanted frame
    more than ``_SEEK_GAP`` frames ahead; decodes forward otherwise. A frame's index is recovered from
    its presentation time stamp.
    """
    rate = stream.average_rate or stream.guessed_rate
    start_pts = stream.start_time or 0
    pts_per_frame = float(1 / (rate * stream.time_base)) if rate and stream.time_base else None
    frames: dict[int, np.ndarray] = {}
    pos, decoded, index = 0, 0, -1
    try:
        while pos < len(wanted):
            target = wanted[pos]
            if pts_per_frame is not None and target > 0:
                container.seek(int(start_pts + target * pts_per_frame), stream=stream, backward=True)
                index = -1
            stream_ended = True
            for frame in container.decode(stream):
                decoded += 1
                if frame.pts is None or pts_per_frame is None:
                    index += 1
                else:
                    index = int(round((frame.pts - start_pts) / pts_per_frame))
                if index < target:
                    continue
                array = None
                while pos < len(wanted) and wanted[pos] <= index:
                    array = frame.to_ndarray(format="rgb24") if array is None else array
                    frames[wanted[pos]] = array
                    pos += 1
                if pos == len(wanted) or wanted[pos] - index > _SEEK_GAP:
                    stream_ended = False
                    break
            if stream_ended:
                break
    except av.FFmpegError as e:
        raise VideoReadError(name, f"undecodable video stream ({type(e).__name__}: {e})") from None
    if stats is not None:
        stats["decoded_frames"] = stats.get("decoded_frames", 0) + decoded
        stats["video_frames"] = num_video_frames
    if pos < len(wanted):
        if not frames:
            raise VideoReadError(name, "no frame could be decoded")
        last_ok = max(frames)
        if exact_count and num_video_frames - 1 - last_ok > _TRUNCATION_TOLERANCE:
            raise VideoReadError(
                name,
                f"truncated: the container lists {num_video_frames} frames but decoding stopped at frame {last_ok}",
            )
        # the container's frame count was an estimate: repeat the last decoded frame (see module docstring)
        for missing in wanted[pos:]:
            frames[missing] = frames[last_ok]
    return frames


def read_video_clips(
    video: VideoInput,
    num_frames: int,
    sampling_rate: int,
    num_clips: int = 1,
    mode: Literal["train", "eval"] = "train",
    generator: torch.Generator | None = None,
    *,
    stats: dict | None = None,
) -> torch.Tensor:
    """Read ``num_clips`` clips of ``num_frames`` frames at temporal stride ``sampling_rate``.

    Args:
        video: a path, the file's bytes, or a binary file-like object.
        num_frames: frames per clip (T).
        sampling_rate: temporal stride between the clip's frames.
        num_clips: number of clips (K).
        mode: ``"train"`` draws each clip's start at random (from ``generator``); ``"eval"`` spaces the
            clips evenly over the video, deterministically.
        generator: random source for ``mode="train"``.
        stats: if given, ``"decoded_frames"`` (frames PyAV decoded) and ``"video_frames"`` (the video's
            length) are added to it.

    Returns:
        ``torch.uint8`` tensor of shape ``(K, T, H, W, 3)`` (RGB).

    Raises:
        VideoReadError: missing, empty, truncated or undecodable file, or no video stream.
    """
    name = describe_video(video)
    container = _open_container(video, name)
    failure: tuple[str, str] | None = None
    try:
        if not container.streams.video:
            raise VideoReadError(name, "the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total, exact = _num_frames(stream, container)
        if total <= 0:
            raise VideoReadError(name, "the video stream reports no frames")
        indices = sample_clip_indices(total, num_frames, sampling_rate, num_clips, mode, generator)
        wanted = sorted(set(indices.ravel().tolist()))
        frames = _decode_indices(container, stream, wanted, name, total, exact, stats)
    except VideoReadError as e:
        failure = (e.path, e.reason)
    except av.FFmpegError as e:
        failure = (name, f"undecodable video ({type(e).__name__}: {e})")
    finally:
        container.close()
    # Drop every PyAV object before raising: a traceback kept alive (e.g. by a caller) must not hold a
    # codec context, whose finalizer would wait on decoder threads that a forked DataLoader worker lacks.
    container = stream = None
    if failure is not None:
        raise VideoReadError(*failure)
    decoded = np.stack([frames[i] for i in wanted])  # (F, H, W, 3), F = len(wanted)
    return torch.from_numpy(decoded[np.searchsorted(wanted, indices)])
