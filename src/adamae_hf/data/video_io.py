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
- packets the demuxer flags as discarded are no frames of the video: an MP4 cut without re-encoding
  (``ffmpeg -ss ... -c copy``, phone editors) keeps the packets from the keyframe before the cut, and its edit list
  hides the frames before the cut (and after the end), as every player does (torchcodec#1502); the hidden keyframes
  still serve as seek points;
- a change of resolution mid-stream is resized (bilinear) to the first frame's size;
- a rotation in the stream's display matrix (phone videos) is applied, as players do: frames come back upright
  (read from `VideoFrame.rotation`; PyAV versions without it return frames as stored).

Short videos: when the video has fewer frames than the clip spans, the frame indices past the end are
clamped to the last frame, i.e. **the last frame is repeated** (never black frames, never an error).

Every failure (missing, empty or undecodable file, no video stream, a decoder error) is a
:class:`VideoReadError` naming the file.

:class:`VideoReader` opens a video once and indexes it once (the index is cached on disk, see
:func:`default_index_cache_dir`), then reads any number of clips; :func:`read_video_clips` is a one-shot use of it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import av
import numpy as np
import torch

from .temporal_sampling import TEMPORAL_SAMPLINGS, released_clip_indices


logger = logging.getLogger(__name__)

VideoInput = str | os.PathLike | bytes | bytearray | BinaryIO

# Frames at the end of the stream that may fail to decode before a video counts as truncated (a decoder may
# drop a last frame whose references are missing).
_TRUNCATION_TOLERANCE = 2
# A wanted frame further ahead than this is reached by seeking (where seeking is exact) instead of decoding on.
_SEEK_GAP = 64
# Demuxers (``container.format.name``, first name) whose seek lands exactly on the keyframe asked for.
_EXACT_SEEK_FORMATS = frozenset({"mov", "matroska", "avi", "flv", "asf"})
# Decoders whose ``skip_frame = NONREF`` skips only frames that no other frame is predicted from (H.264: nal_ref_idc
# 0; MPEG-1/2/4: B-frames; VP8/VP9: frames that refresh no reference). HEVC's "non-reference" pictures may still be
# referenced from a higher temporal sub-layer, so it is not listed.
_SKIP_NONREF_CODECS = frozenset({"h264", "mpeg1video", "mpeg2video", "mpeg4", "vp8", "vp9"})


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
    right after it that show earlier frames: none of them can be decoded, so they are no frames of the video.
    Packets flagged as discarded (hidden by an MP4 edit list) are no frames either, but a discarded keyframe is still
    a place to seek to."""
    pts, keys, count, first_key, first_key_pts = [], [], 0, None, None
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's end-of-stream flush packet
            continue
        time_stamp = packet.pts
        if packet.is_keyframe and time_stamp is not None:
            keys.append(time_stamp)
            if first_key is None:
                first_key, first_key_pts = len(pts), time_stamp
        if packet.is_discard:
            continue
        count += 1
        if time_stamp is not None:
            pts.append(time_stamp)
    if count == 0:
        raise VideoReadError(name, "the video stream has no frames")
    if len(pts) < count or len(set(pts)) < count:  # frames cannot be told apart by time stamp: count them
        return _FrameIndex(count, None, np.zeros(0, np.int64))
    if first_key is not None:
        decodable = [p for p in pts[first_key:] if p >= first_key_pts]
        pts = decodable if decodable else pts
    return _FrameIndex(len(pts), np.sort(np.asarray(pts, dtype=np.int64)), np.sort(np.asarray(keys, dtype=np.int64)))


class _SeekUntrusted(Exception):
    """Decoding after a seek did not give the frames the index promised: decode forward from the start."""


class _FrameConverter:
    """Decoded frame -> upright (H, W, 3) uint8 RGB array of the stream's first size: the size its header gives
    (that of its first frame), else that of the first frame converted; or of ``frame_size`` (height, width) when
    given, scaled and converted in one pass of FFmpeg's scaler."""

    def __init__(self, stream, frame_size: tuple[int, int] | None = None) -> None:
        self.frame_size = frame_size
        width, height = stream.codec_context.width, stream.codec_context.height
        self.size: tuple[int, int] | None = (width, height) if width > 0 and height > 0 else None  # as stored
        self.rotation: int | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if self.size is None:
            self.size = (frame.width, frame.height)
        if self.rotation is None:
            self.rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
        # one scaler thread: FFmpeg's default (one per core) costs more in thread start-up than a frame's conversion
        if self.frame_size is not None:  # the upright frame is frame_size: the stored one may be turned by 90 degrees
            height, width = self.frame_size[:: -1 if self.rotation % 180 == 90 else 1]
            array = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR", threads=1)
        elif (frame.width, frame.height) != self.size:  # resolution change mid-stream: back to the first size
            width, height = self.size
            array = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BILINEAR", threads=1)
        else:
            array = frame.to_ndarray(format="rgb24", threads=1)
        if self.rotation % 90 == 0 and self.rotation:
            # the display matrix rotates counter-clockwise by `rotation` degrees (PyAV's VideoFrame.rotation)
            array = np.ascontiguousarray(np.rot90(array, k=self.rotation // 90))
        return array


def _decoded(container, stream, keep: set[int] | None):
    """The frames decoded from ``stream``'s packets from where the container is; with ``keep`` (the presentation time
    stamps wanted), packets of other frames are decoded only if they are keyframes or other frames may refer to them
    (``skip_frame = NONREF``, for the decoders of ``_SKIP_NONREF_CODECS``)."""
    context = stream.codec_context
    if keep is not None and context.name not in _SKIP_NONREF_CODECS:
        keep = None
    for packet in container.demux(stream):
        if keep is not None:
            wanted = packet.pts is None or packet.is_keyframe or packet.pts in keep
            context.skip_frame = "DEFAULT" if wanted else "NONREF"
        yield from packet.decode()


def _decode_forward(container, stream, wanted: Sequence[int], index: _FrameIndex, convert, counter: list, name: str,
                    keep: set[int] | None = None) -> dict[int, np.ndarray]:  # fmt: skip
    """Decode from the first frame, identifying frames by time stamp (or by count when the packets had none)."""
    frames: dict[int, np.ndarray] = {}
    position = index.index_of() if index.pts is not None else {}
    pos, count = 0, -1
    for frame in _decoded(container, stream, keep if position else None):
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


def _seek_before(container, stream, index: _FrameIndex, position: dict[int, int], target: int, counter: list,
                 keep: set[int] | None = None):  # fmt: skip
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
        frames = _decoded(container, stream, keep)
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


def _decode_seeking(container, stream, wanted: Sequence[int], index: _FrameIndex, convert, counter: list,
                    keep: set[int] | None = None) -> dict[int, np.ndarray]:  # fmt: skip
    """Seek to the keyframe before each far-ahead wanted frame (``_SEEK_GAP``) and decode forward; raises
    :class:`_SeekUntrusted` when a decoded frame is not where the index says. Frames missing at the end of the
    stream are left out of the result."""
    frames: dict[int, np.ndarray] = {}
    position = index.index_of()
    pos, current, decoded = 0, -1, None
    while pos < len(wanted):
        if decoded is None or wanted[pos] - current > _SEEK_GAP:
            decoded = _seek_before(container, stream, index, position, wanted[pos], counter, keep)
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


def _complete(frames: dict[int, np.ndarray], wanted: Sequence[int], num_frames: int, name: str) -> dict[int, np.ndarray]:
    """The bad-video policy for frames that did not decode: up to ``_TRUNCATION_TOLERANCE`` at the end of the stream
    repeat the last decoded one; any other gap is a :class:`VideoReadError`."""
    if len(frames) < len(wanted):
        if not frames:
            raise VideoReadError(name, "no frame could be decoded")
        last_ok = max(frames)
        if num_frames - 1 - last_ok > _TRUNCATION_TOLERANCE or any(w < last_ok for w in wanted if w not in frames):
            raise VideoReadError(
                name, f"truncated or corrupt: the video stream has {num_frames} frames but only "
                f"{len(frames)} of the {len(wanted)} wanted decoded (the last at index {last_ok})",
            )  # fmt: skip
        for missing in wanted:  # the last frames failed to decode: repeat the last good one
            frames.setdefault(missing, frames[last_ok])
    return frames


# ---------------------------------------------------------------------------------------------------------------
# The frame index cache
# ---------------------------------------------------------------------------------------------------------------
_INDEX_CACHE_VERSION = 1
_MEMORY_CACHE_SIZE = 4096  # frame indices kept in the process (about 8 bytes per frame each)
_memory_cache: OrderedDict[str, _FrameIndex] = OrderedDict()


def default_index_cache_dir() -> str | None:
    """Where frame indices are cached on disk: ``$ADAMAE_FRAME_INDEX_CACHE`` if set (``""``, ``0`` or ``off`` turn
    the disk cache off: ``None``), else ``$ADAMAE_HF_CACHE/frame_index`` (default ``~/.cache/adamae_hf/frame_index``,
    beside the synthetic datasets)."""
    value = os.environ.get("ADAMAE_FRAME_INDEX_CACHE")
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "false", "none") else value
    base = os.environ.get("ADAMAE_HF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "adamae_hf")
    return os.path.join(base, "frame_index")


def _cache_key(path: str) -> str | None:
    """The key of a local file's index: its real path, size and modification time (and the PyAV version, whose
    demuxer makes the index); ``None`` when the file cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    text = f"{_INDEX_CACHE_VERSION}|{av.__version__}|{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(text.encode()).hexdigest()


def _load_cached_index(key: str, cache_dir: str | None) -> _FrameIndex | None:
    if key in _memory_cache:
        _memory_cache.move_to_end(key)
        return _memory_cache[key]
    if cache_dir is None:
        return None
    try:
        data = np.load(os.path.join(cache_dir, key[:2], key + ".npy"), allow_pickle=False)
        num_frames, has_pts, num_pts, num_keys = (int(v) for v in data[:4])
        if data.shape != (4 + num_pts + num_keys,) or (has_pts and num_pts != num_frames):
            return None
    except (OSError, ValueError):
        return None
    index = _FrameIndex(num_frames, data[4 : 4 + num_pts].copy() if has_pts else None, data[4 + num_pts :].copy())
    _remember(key, index)
    return index


def _store_index(key: str, index: _FrameIndex, cache_dir: str | None) -> None:
    _remember(key, index)
    if cache_dir is None:
        return
    pts = index.pts if index.pts is not None else np.zeros(0, np.int64)
    header = [index.num_frames, index.pts is not None, len(pts), len(index.key_pts)]
    data = np.concatenate([np.asarray(header, np.int64), pts, index.key_pts]).astype(np.int64)
    directory = os.path.join(cache_dir, key[:2])
    try:  # written whole, then renamed: concurrent workers never read half a file
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as f:
            np.save(f, data, allow_pickle=False)
        os.replace(f.name, os.path.join(directory, key + ".npy"))
    except OSError as e:  # a read-only or full disk: the index is rebuilt next time
        logger.debug("cannot cache the frame index in %s: %s", directory, e)


def _remember(key: str, index: _FrameIndex) -> None:
    _memory_cache[key] = index
    _memory_cache.move_to_end(key)
    while len(_memory_cache) > _MEMORY_CACHE_SIZE:
        _memory_cache.popitem(last=False)


_DEFAULT = object()


class VideoReader:
    """A video opened once, its frames indexed once; then any number of frame-exact reads (see the module docstring).

    The index (every frame's presentation time stamp, the keyframes') comes from demuxing the whole file once; for a
    local file it is cached, keyed by the file's real path, size and modification time, in memory (this process) and
    on disk (``index_cache_dir``, default :func:`default_index_cache_dir`: one ``.npy`` file per video of about 8
    bytes per frame, e.g. 1.7 MB for two hours at 30 fps). Later readers of the same file, in this process or another
    (DataLoader workers, later epochs), then read only the file's header and the packets they decode. Bytes, file-like
    objects and remote (fsspec) files are indexed on every open.

    Args:
        video: a path (local, or any fsspec URL), the file's bytes, or a seekable binary file-like object.
        frame_size: ``(height, width)`` to resize every frame to with FFmpeg's scaler (bilinear) as it is converted to
            RGB (cheaper than converting at full size); ``None`` keeps the first frame's size.
        num_threads: decoder threads (0: FFmpeg's choice); ``None``: torch's intra-op thread count, which is 1 in a
            DataLoader worker (a worker is one core).
        index_cache_dir: where frame indices are cached on disk; ``None`` turns the disk cache off.

    Raises:
        VideoReadError: missing, empty, undecodable file or no video stream (here or in a later read). A reader that
            raised is closed.

    ``stats``: ``"decoded_frames"`` (frames decoded, added up over reads), ``"seeked"`` (whether the last read
    sought), ``"index_cached"`` (whether the index came from the cache), ``"indices"`` (the last
    :meth:`read_clips`' frame indices) and ``"source_size"`` (upright ``(height, width)`` before ``frame_size``).

    Frames that no decoded frame depends on (non-reference frames) and that are not wanted are skipped by the decoder
    (FFmpeg's ``skip_frame = NONREF``): the other frames decode exactly as without skipping.
    """

    def __init__(
        self,
        video: VideoInput,
        *,
        frame_size: tuple[int, int] | None = None,
        num_threads: int | None = None,
        index_cache_dir: str | os.PathLike | None | object = _DEFAULT,
    ) -> None:
        if frame_size is not None and (len(frame_size) != 2 or min(frame_size) < 1):
            raise ValueError(f"frame_size must be (height, width) of positive sizes, got {frame_size!r}")
        if num_threads is not None and num_threads < 0:
            raise ValueError(f"num_threads must be >= 0 (0: FFmpeg's choice), got {num_threads}")
        self.name = describe_video(video)
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        if num_threads is None:
            num_threads = torch.get_num_threads()
        self.num_threads = num_threads
        cache_dir = default_index_cache_dir() if index_cache_dir is _DEFAULT else index_cache_dir
        self.index_cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.stats = {"decoded_frames": 0, "seeked": False, "index_cached": False}
        self._container: av.container.InputContainer | None = None
        self._stream = None
        self._at_start = False
        self._guarded(self._open_and_index, video)

    # -------------------------------------------------------------------------------------------- public API
    @property
    def num_frames(self) -> int:
        """Frames in the video stream (those a player shows)."""
        return self._index.num_frames

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The frames at ``indices`` (any order, repeats allowed), ``torch.uint8`` ``(N, H, W, 3)`` RGB, upright.

        Raises:
            ValueError: no indices.
            IndexError: an index outside ``[0, num_frames)``.
            VideoReadError: the frames cannot be decoded (truncated or corrupt file); the reader is then closed.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size == 0:
            raise ValueError("no frame indices given")
        if indices.min() < 0 or indices.max() >= self.num_frames:
            raise IndexError(f"frame indices must be in [0, {self.num_frames}), got {indices.min()}..{indices.max()}")
        if self._container is None:
            raise VideoReadError(self.name, "the reader is closed")
        wanted = np.unique(indices).tolist()
        frames = self._guarded(self._decode, wanted)
        decoded = np.stack([frames[i] for i in wanted])
        return torch.from_numpy(decoded[np.searchsorted(wanted, indices)])

    def read_clips(
        self,
        num_frames: int,
        sampling_rate: int,
        num_clips: int = 1,
        mode: Literal["train", "eval"] = "train",
        generator: torch.Generator | None = None,
        *,
        temporal_sampling: str = "stride",
    ) -> torch.Tensor:
        """``num_clips`` clips, ``torch.uint8`` ``(K, T, H, W, 3)``; the indices read are in ``stats["indices"]``.
        ``temporal_sampling`` chooses the indices: ``"stride"`` (:func:`sample_clip_indices`), ``"segments"`` or
        ``"videomae"`` (:func:`~adamae_hf.data.temporal_sampling.released_clip_indices`). Raises as
        :meth:`get_frames`; ``ValueError`` for arguments below 1, an unknown ``mode`` or ``temporal_sampling``."""
        if temporal_sampling == "stride":
            indices = sample_clip_indices(self.num_frames, num_frames, sampling_rate, num_clips, mode, generator)
        else:
            indices = released_clip_indices(
                temporal_sampling, self.num_frames, num_frames, sampling_rate, num_clips, mode, generator
            )
        self.stats["indices"] = indices
        clips = self.get_frames(indices.ravel())
        return clips.reshape(*indices.shape, *clips.shape[1:])

    def close(self) -> None:
        """Close the file (idempotent)."""
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass

    # -------------------------------------------------------------------------------------------- internals
    def _guarded(self, function, *args):
        """``function(*args)``, any error turned into a :class:`VideoReadError` naming the file; on an error the
        reader is closed and every PyAV object dropped before raising: a traceback kept alive (e.g. by a caller) must
        not hold a codec context, whose finalizer would wait on decoder threads that a forked DataLoader worker
        lacks."""
        failure: tuple[str, str] | None = None
        try:
            return function(*args)
        except VideoReadError as e:
            failure = (e.path or self.name, e.reason)
        except Exception as e:  # noqa: BLE001  (any decoder, demuxer or conversion error names the file)
            failure = (self.name, f"undecodable video ({type(e).__name__}: {e})")
        self.close()
        raise VideoReadError(*failure)

    def _open_and_index(self, video: VideoInput) -> None:
        self._source = _load_source(video, self.name)
        self._reopen()
        key = _cache_key(self._source) if isinstance(self._source, str) else None
        index = _load_cached_index(key, self.index_cache_dir) if key is not None else None
        self.stats["index_cached"] = index is not None
        if index is None:
            index = _index_frames(self._container, self._stream, self.name)
            self._at_start = False
            if key is not None:
                _store_index(key, index, self.index_cache_dir)
        self._index = index
        self._seekable = index.pts is not None and self._container.format.name.split(",")[0] in _EXACT_SEEK_FORMATS

    def _reopen(self) -> None:
        """(Re)open the container at its start."""
        self.close()
        container = _open(self._source, self.name)
        self._container = container
        if not container.streams.video:
            raise VideoReadError(self.name, "the file has no video stream")
        self._stream = container.streams.video[0]
        if self.num_threads != 1:
            self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = self.num_threads
        self._at_start = True

    def _decode(self, wanted: list[int]) -> dict[int, np.ndarray]:
        counter, frames = [0], None
        convert = _FrameConverter(self._stream, self.frame_size)
        keep = set(self._index.pts[wanted].tolist()) if self._index.pts is not None else None
        seeked = self._seekable
        if seeked:
            try:
                frames = _decode_seeking(self._container, self._stream, wanted, self._index, convert, counter, keep)
            except _SeekUntrusted:
                frames = None
            self._at_start = False
        if frames is None or len(frames) < len(wanted):  # decode forward from the very start
            seeked = False
            if not self._at_start:
                self._reopen()
            self._at_start = False
            convert = _FrameConverter(self._stream, self.frame_size)
            frames = _decode_forward(self._container, self._stream, wanted, self._index, convert, counter, self.name, keep)
        self.stats["decoded_frames"] += counter[0]
        self.stats["seeked"] = seeked
        if convert.size is not None:  # (height, width) of the upright frames before any frame_size resize
            width, height = convert.size
            self.stats["source_size"] = (width, height) if (convert.rotation or 0) % 180 == 90 else (height, width)
        return _complete(frames, wanted, self._index.num_frames, self.name)


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
    frame_size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Read ``num_clips`` clips of ``num_frames`` frames at temporal stride ``sampling_rate``, frame-exactly (see
    the module docstring): a one-shot :class:`VideoReader`.

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
        frame_size: ``(height, width)`` to resize the frames to at decode time (see :class:`VideoReader`).

    Returns:
        ``torch.uint8`` tensor of shape ``(K, T, H, W, 3)`` (RGB, upright, at the first frame's size or
        ``frame_size``).

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
    with VideoReader(video, frame_size=frame_size) as reader:
        try:
            return reader.read_clips(
                num_frames, sampling_rate, num_clips, mode, generator, temporal_sampling=temporal_sampling
            )
        finally:
            if stats is not None:
                stats["decoded_frames"] = stats.get("decoded_frames", 0) + reader.stats["decoded_frames"]
                stats["video_frames"] = reader.num_frames
                stats["indices"] = reader.stats.get("indices")
                stats["seeked"] = reader.stats["seeked"]
