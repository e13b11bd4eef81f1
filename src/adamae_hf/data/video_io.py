"""Frame-exact clip reading with PyAV: frame ``k`` is the ``k``-th frame the video stream shows, whatever its
time stamps say.

A clip is ``num_frames`` frames taken every ``sampling_rate`` frames, so it spans
``(num_frames - 1) * sampling_rate + 1`` frames of the video. Training draws the start uniformly at random;
evaluation takes ``num_clips`` clips whose starts are evenly spaced over the video (VideoMAE's test
protocol), so it is deterministic.

How frames are found (the approach of torchcodec's "exact" mode):

- the video stream's packets are demuxed (read, not decoded) once: their presentation time stamps, sorted,
  give every frame's index and the frame count. Nothing comes from the container's duration, the stream's
  average frame rate or a frame count in the header, so variable frame rates, held frames, containers without a
  frame count and audio longer than the video change nothing. A stream cut mid-GOP starts at its first keyframe
  (the frames before it cannot be decoded);
- in containers whose seeking is exact (MP4/MOV, Matroska/WebM, AVI, FLV, ASF), a wanted frame far ahead is
  reached by seeking to the keyframe before it, then decoding forward; elsewhere (MPEG-PS ``.mpg``, MPEG-TS, ...)
  and whenever a decoded frame's time stamp is not one of the demuxed ones or the demuxer cannot seek, the stream
  is decoded forward from its first frame;
- a change of resolution mid-stream is resized (bilinear) to the first frame's size;
- a rotation in the stream's display matrix (phone videos) is applied, as players do: frames come back upright
  (read from `VideoFrame.rotation`; PyAV versions without it return frames as stored).

Short videos: when the video has fewer frames than the clip spans, the frame indices past the end are
clamped to the last frame, i.e. **the last frame is repeated** (never black frames, never an error).

Every failure (missing, empty or undecodable file, no video stream, a decoder error) is a
:class:`VideoReadError` naming the file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import av
import numpy as np
import torch

from .temporal_sampling import TEMPORAL_SAMPLINGS, released_clip_indices


VideoInput = str | os.PathLike | bytes | bytearray | BinaryIO

# Frames at the end of the stream that may fail to decode before a video counts as truncated (a decoder may
# drop a last frame whose references are missing).
_TRUNCATION_TOLERANCE = 2
# A wanted frame further ahead than this is reached by seeking (where seeking is exact) instead of decoding on.
_SEEK_GAP = 64
# Demuxers (``container.format.name``, first name) whose seek lands exactly on the keyframe asked for.
_EXACT_SEEK_FORMATS = frozenset({"mov", "matroska", "avi", "flv", "asf"})


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


def _load_source(video: VideoInput, name: str) -> str | BinaryIO:
    """A path or a seekable binary file to open (possibly twice): checks existence and emptiness, fetches
    remote (``hf://``, ``s3://``, ...) files through fsspec."""
    if isinstance(video, (str, os.PathLike)):
        path = os.fspath(video)
        if "://" in path:  # remote file (e.g. hf:// in a streaming dataset): open through fsspec
            import fsspec

            try:
                with fsspec.open(path, "rb") as f:
                    data = f.read()
            except Exception as e:  # noqa: BLE001  (any fsspec backend error)
                raise VideoReadError(name, f"cannot fetch the file ({type(e).__name__}: {e})") from None
            return _load_source(data, name)
        if not os.path.exists(path):
            raise VideoReadError(name, "file does not exist")
        if os.path.getsize(path) == 0:
            raise VideoReadError(name, "empty file (0 bytes)")
        return path
    if isinstance(video, (bytes, bytearray)):
        if len(video) == 0:
            raise VideoReadError(name, "empty file (0 bytes)")
        return io.BytesIO(video)
    return video


def _open(source: str | BinaryIO, name: str) -> av.container.InputContainer:
    if not isinstance(source, str):
        source.seek(0)
    try:
        return av.open(source, mode="r", metadata_errors="ignore")
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


@dataclass
class _FrameIndex:
    """The video stream's frames from its demuxed packets, in presentation order.

    ``pts``: (F,) sorted, distinct presentation time stamps, or ``None`` when some packet has none or two share
    one (frames are then counted as they are decoded). ``key_pts``: the keyframes' presentation time stamps, sorted.
    """

    num_frames: int
    pts: np.ndarray | None
    key_pts: np.ndarray

    def index_of(self) -> dict[int, int]:
        """{presentation time stamp: frame index}."""
        return {int(p): i for i, p in enumerate(self.pts)}

    def keyframe_before(self, frame: int, back: int = 0) -> int | None:
        """Presentation time stamp of the last keyframe at or before ``frame`` (``back`` keyframes further back);
        ``None`` when there is none."""
        position = int(np.searchsorted(self.key_pts, self.pts[frame], side="right")) - 1 - back
        return int(self.key_pts[position]) if position >= 0 else None


def _index_frames(container: av.container.InputContainer, stream, name: str) -> _FrameIndex:
    """Demux (without decoding) every packet of ``stream``; raises :class:`VideoReadError` when it has none.

    A stream that starts mid-GOP (a cut MPEG-TS capture, say) has packets before its first keyframe, and B-frames
    right after it that show earlier frames: none of them can be decoded, so they are no frames of the video."""
    pts, keys, count, first_key = [], [], 0, None
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's end-of-stream flush packet
            continue
        count += 1
        time_stamp = packet.pts
        if time_stamp is not None:
            pts.append(time_stamp)
            if packet.is_keyframe:
                keys.append(time_stamp)
                if first_key is None:
                    first_key = len(pts) - 1
    if count == 0:
        raise VideoReadError(name, "the video stream has no frames")
    if len(pts) < count or len(set(pts)) < count:  # frames cannot be told apart by time stamp: count them
        return _FrameIndex(count, None, np.zeros(0, np.int64))
    if first_key is not None:
        decodable = [p for p in pts[first_key:] if p >= pts[first_key]]
        pts = decodable if decodable else pts
    return _FrameIndex(len(pts), np.sort(np.asarray(pts, dtype=np.int64)), np.sort(np.asarray(keys, dtype=np.int64)))


class _SeekUntrusted(Exception):
    """Decoding after a seek did not give the frames the index promised: decode forward from the start."""


class _FrameConverter:
    """Decoded frame -> upright (H, W, 3) uint8 RGB array of the stream's first size: the size its header gives
    (that of its first frame), else that of the first frame converted."""

    def __init__(self, stream) -> None:
        width, height = stream.codec_context.width, stream.codec_context.height
        self.size: tuple[int, int] | None = (width, height) if width > 0 and height > 0 else None  # as stored
        self.rotation: int | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if self.size is None:
            self.size = (frame.width, frame.height)
        if self.rotation is None:
            self.rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
        if (frame.width, frame.height) != self.size:  # resolution change mid-stream: back to the first size
            frame = frame.reformat(width=self.size[0], height=self.size[1], format="rgb24", interpolation="BILINEAR")
        array = frame.to_ndarray(format="rgb24")
        if self.rotation % 90 == 0 and self.rotation:
            # the display matrix rotates counter-clockwise by `rotation` degrees (PyAV's VideoFrame.rotation)
            array = np.ascontiguousarray(np.rot90(array, k=self.rotation // 90))
        return array


def _decode_forward(container, stream, wanted: Sequence[int], index: _FrameIndex, convert, counter: list, name: str) -> dict[int, np.ndarray]:
    """Decode from the first frame, identifying frames by time stamp (or by count when the packets had none)."""
    frames: dict[int, np.ndarray] = {}
    position = index.index_of() if index.pts is not None else {}
    pos, count = 0, -1
    for frame in container.decode(stream):
        counter[0] += 1
        count += 1
        if not position:  # packets without usable time stamps: frames come out in presentation order
            current = count
        elif frame.pts is None:
            raise VideoReadError(name, "a decoded frame has no time stamp although its packet had one")
        elif int(frame.pts) not in position:
            continue  # a frame the index leaves out (shown before the stream's first keyframe)
        else:
            current = position[int(frame.pts)]
        array = None
        while pos < len(wanted) and wanted[pos] <= current:
            if wanted[pos] == current:  # a wanted frame passed over (failed to decode) stays missing
                array = convert(frame) if array is None else array
                frames[wanted[pos]] = array
            pos += 1
        if pos == len(wanted):
            break
    return frames


def _seek_before(container, stream, index: _FrameIndex, position: dict[int, int], target: int, counter: list):
    """Seek to the keyframe at or before frame ``target`` and return an iterator of ``(frame index, frame)`` from
    there. Demuxers seek by their own index's time stamps (decoding time in some); a seek that lands after the
    target is retried from an earlier keyframe. Raises :class:`_SeekUntrusted` when that does not help, or when the
    demuxer refuses to seek (a Matroska file without a seek index: FFmpeg's EPERM)."""
    for back in range(3):
        key = index.keyframe_before(target, back)
        if key is None:
            break
        try:
            container.seek(key, stream=stream, backward=True)
        except av.FFmpegError:
            break
        frames = container.decode(stream)
        first = next(frames, None)
        if first is None or first.pts is None or int(first.pts) not in position:
            break
        counter[0] += 1
        if position[int(first.pts)] <= target:
            return _numbered(first, frames, position, counter)
    raise _SeekUntrusted


def _numbered(first, frames, position: dict[int, int], counter: list):
    yield position[int(first.pts)], first
    for frame in frames:
        counter[0] += 1
        if frame.pts is None:
            raise _SeekUntrusted
        if int(frame.pts) in position:  # else a frame the index leaves out (before the first keyframe)
            yield position[int(frame.pts)], frame


def _decode_seeking(container, stream, wanted: Sequence[int], index: _FrameIndex, convert, counter: list) -> dict[int, np.ndarray]:
    """Seek to the keyframe before each far-ahead wanted frame (``_SEEK_GAP``) and decode forward; raises
    :class:`_SeekUntrusted` when a decoded frame is not where the index says. Frames missing at the end of the
    stream are left out of the result."""
    frames: dict[int, np.ndarray] = {}
    position = index.index_of()
    pos, current, decoded = 0, -1, None
    while pos < len(wanted):
        if decoded is None or wanted[pos] - current > _SEEK_GAP:
            decoded = _seek_before(container, stream, index, position, wanted[pos], counter)
        for current, frame in decoded:
            if current < wanted[pos]:
                continue
            if current > wanted[pos]:  # a wanted frame did not come out of the decoder
                raise _SeekUntrusted
            array = convert(frame)
            while pos < len(wanted) and wanted[pos] == current:
                frames[wanted[pos]] = array
                pos += 1
            if pos == len(wanted) or wanted[pos] - current > _SEEK_GAP:
                break
        else:
            break  # the stream ended
    return frames


def read_video_clips(
    video: VideoInput,
    num_frames: int,
    sampling_rate: int,
    num_clips: int = 1,
    mode: Literal["train", "eval"] = "train",
    generator: torch.Generator | None = None,
    *,
    temporal_sampling: str = "stride",
    stats: dict | None = None,
) -> torch.Tensor:
    """Read ``num_clips`` clips of ``num_frames`` frames at temporal stride ``sampling_rate``, frame-exactly (see
    the module docstring).

    Args:
        video: a path (local, or any fsspec URL), the file's bytes, or a seekable binary file-like object.
        num_frames: frames per clip (T).
        sampling_rate: temporal stride between the clip's frames.
        num_clips: number of clips (K).
        mode: ``"train"`` draws each clip's start at random (from ``generator``); ``"eval"`` spaces the
            clips evenly over the video, deterministically.
        generator: random source for ``mode="train"``.
        temporal_sampling: ``"stride"`` (:func:`sample_clip_indices`), or the released fine-tuning samplings
            ``"segments"`` (one frame per segment, SSv2) and ``"videomae"`` (Kinetics-400), see
            :mod:`~adamae_hf.data.temporal_sampling`.
        stats: if given, ``"decoded_frames"`` (frames PyAV decoded, added up), ``"video_frames"`` (the video's
            frame count), ``"indices"`` (the ``(K, T)`` frame indices read) and ``"seeked"`` (whether seeking
            was used) are written to it.

    Returns:
        ``torch.uint8`` tensor of shape ``(K, T, H, W, 3)`` (RGB, upright, at the first frame's size).

    Raises:
        VideoReadError: missing, empty, truncated or undecodable file, no video stream, or any decoder error.
        ValueError: ``num_frames``, ``sampling_rate`` or ``num_clips`` below 1, or an unknown ``mode``.
    """
    if num_frames < 1 or sampling_rate < 1 or num_clips < 1:  # caller errors stay ValueErrors
        raise ValueError("num_frames, sampling_rate and num_clips must be >= 1")
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    if temporal_sampling not in TEMPORAL_SAMPLINGS:
        raise ValueError(f"temporal_sampling must be one of {', '.join(TEMPORAL_SAMPLINGS)}, got {temporal_sampling!r}")
    name = describe_video(video)
    opened: list[av.container.InputContainer] = []
    failure: tuple[str, str] | None = None
    try:
        source = _load_source(video, name)
        sampling = (num_frames, sampling_rate, num_clips, mode, generator, temporal_sampling)
        indices, frames, wanted = _read(source, name, opened, *sampling, stats)
    except VideoReadError as e:
        failure = (e.path or name, e.reason)
    except Exception as e:  # noqa: BLE001  (any decoder, demuxer or conversion error names the file)
        failure = (name, f"undecodable video ({type(e).__name__}: {e})")
    finally:
        for container in opened:
            container.close()
    # Drop every PyAV object before raising: a traceback kept alive (e.g. by a caller) must not hold a
    # codec context, whose finalizer would wait on decoder threads that a forked DataLoader worker lacks.
    opened.clear()
    if failure is not None:
        raise VideoReadError(*failure)
    decoded = np.stack([frames[i] for i in wanted])  # (F, H, W, 3), F = len(wanted)
    return torch.from_numpy(decoded[np.searchsorted(wanted, indices)])


def _read(source, name, opened, num_frames, sampling_rate, num_clips, mode, generator, temporal_sampling, stats):
    """The body of :func:`read_video_clips`; every container it opens is appended to ``opened`` (closed by the
    caller)."""

    def video_stream():
        opened.append(_open(source, name))
        if not opened[-1].streams.video:
            raise VideoReadError(name, "the file has no video stream")
        stream = opened[-1].streams.video[0]
        stream.thread_type = "AUTO"
        return opened[-1], stream

    container, stream = video_stream()
    index = _index_frames(container, stream, name)
    seekable = index.pts is not None and container.format.name.split(",")[0] in _EXACT_SEEK_FORMATS
    if temporal_sampling == "stride":
        indices = sample_clip_indices(index.num_frames, num_frames, sampling_rate, num_clips, mode, generator)
    else:
        indices = released_clip_indices(temporal_sampling, index.num_frames, num_frames, sampling_rate, num_clips, mode, generator)
    wanted = sorted(set(indices.ravel().tolist()))
    counter, frames = [0], None
    if seekable:
        try:
            frames = _decode_seeking(container, stream, wanted, index, _FrameConverter(stream), counter)
        except _SeekUntrusted:
            frames = None
    if frames is None or len(frames) < len(wanted):  # decode forward from the very start
        seekable = False
        container, stream = video_stream()
        frames = _decode_forward(container, stream, wanted, index, _FrameConverter(stream), counter, name)
    if stats is not None:
        stats["decoded_frames"] = stats.get("decoded_frames", 0) + counter[0]
        stats["video_frames"] = index.num_frames
        stats["indices"] = indices
        stats["seeked"] = seekable
    if len(frames) < len(wanted):
        if not frames:
            raise VideoReadError(name, "no frame could be decoded")
        last_ok = max(frames)
        if index.num_frames - 1 - last_ok > _TRUNCATION_TOLERANCE or any(w < last_ok for w in wanted if w not in frames):
            raise VideoReadError(
                name, f"truncated or corrupt: the video stream has {index.num_frames} frames but only "
                f"{len(frames)} of the {len(wanted)} wanted decoded (the last at index {last_ok})",
            )  # fmt: skip
        for missing in wanted:  # the last frames failed to decode: repeat the last good one
            frames.setdefault(missing, frames[last_ok])
    return indices, frames, wanted
