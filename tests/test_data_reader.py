"""VideoReader: one open and one index per video, the on-disk frame index cache, and what a clip costs in bytes read
(a later clip, in a later epoch, in a DataLoader worker, reads only the packets it decodes: not the whole file)."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from test_video_frames import read_indices, write_video
from torch.utils.data import DataLoader

from adamae_hf.data import (
    VideoClipDataset,
    VideoReader,
    VideoReadError,
    VideoSample,
    VideoSource,
    collate_pretraining,
    default_index_cache_dir,
    read_video_clips,
    seed_worker,
    video_io,
)


NOISE_FRAMES, GOP = 600, 25


def noise_video(path: Path, count: int = NOISE_FRAMES, gop: int = GOP) -> Path:
    """`count` frames of 64x128 noise (packets of a few kB, so that a file read is counted in bytes, not in FFmpeg's
    32 kB buffers) whose 2 x 4 top-left cells show the frame index (the index frames of test_video_frames)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "2", "crf": "18",
                          "preset": "ultrafast", "threads": "1"}  # fmt: skip
        for i in range(count):
            image = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
            bits = np.where((i >> np.arange(8)) & 1, 235, 20).astype(np.uint8).reshape(2, 4)
            image[:32, :64] = bits.repeat(16, 0).repeat(16, 1)[:, :, None]
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


class CountingFile(io.RawIOBase):
    """A binary file that appends the bytes read from it to `log` when it is closed."""

    def __init__(self, path: str, log: Path) -> None:
        self.file, self.log, self.count = open(path, "rb"), log, 0  # noqa: SIM115

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.file.readinto(buffer)
        self.count += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        if not self.closed:
            with open(self.log, "a") as f:
                f.write(f"{self.count}\n")
            self.file.close()
        super().close()


@pytest.fixture
def count_reads(tmp_path, monkeypatch):
    """Every file av.open opens by path for reading (here and in forked workers) is read through a CountingFile; returns a function
    giving the bytes read by each file closed since the last call."""
    log = tmp_path / "bytes_read.log"
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, str) and kwargs.get("mode", args[0] if args else "r") == "r":
            file = CountingFile(file, log)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(video_io.av, "open", counting_open)
    seen = [0]

    def reads() -> list[int]:
        lines = log.read_text().split() if log.exists() else []
        new, seen[0] = lines[seen[0] :], len(lines)
        return [int(n) for n in new]

    return reads


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh on-disk index cache (and an empty in-process one)."""
    directory = tmp_path / "index_cache"
    monkeypatch.setenv("ADAMAE_FRAME_INDEX_CACHE", str(directory))
    monkeypatch.setattr(video_io, "_memory_cache", type(video_io._memory_cache)())
    return directory


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    return noise_video(tmp_path_factory.mktemp("noise") / "long.mp4")


# FFmpeg reads a file in buffers of 32 kB: opening one reads the first buffer (probing), the header (the MP4 index),
# and the buffer where the packets start; each seek reads from a buffer's start.
BUFFER = 32 * 1024


def span_bytes(video: Path, spans: list[tuple[int, int]]) -> int:
    """Bytes of the packets a seek decodes for the frames `first..last` of each span: from the keyframe before `first`
    through `last` (and the B-frames shown before it, which come after it in decoding order), added up."""
    with av.open(str(video)) as container:
        packets = [(packet.pts, packet.is_keyframe, packet.size) for packet in container.demux(video=0) if packet.size]
    order = {pts: i for i, pts in enumerate(sorted(p for p, _, _ in packets))}
    total = 0
    for first, last in spans:
        start = max(n for n, (p, key, _) in enumerate(packets) if key and order[p] <= first)
        end = max(n for n, (p, _, _) in enumerate(packets) if order[p] <= last + 3)
        total += sum(size for _, _, size in packets[start : end + 1])
    return total


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ADAMAE_FRAME_INDEX_CACHE", raising=False)
    monkeypatch.setenv("ADAMAE_HF_CACHE", str(tmp_path))
    assert default_index_cache_dir() == os.path.join(tmp_path, "frame_index")
    monkeypatch.setenv("ADAMAE_FRAME_INDEX_CACHE", str(tmp_path / "elsewhere"))
    assert default_index_cache_dir() == str(tmp_path / "elsewhere")
    for off in ("", "0", "off"):
        monkeypatch.setenv("ADAMAE_FRAME_INDEX_CACHE", off)
        assert default_index_cache_dir() is None


def test_index_is_cached_and_follows_the_file(tmp_path, cache_dir, count_reads):
    """The first open of a video demuxes all of it (the whole file is read) and stores its index, keyed by path, size
    and modification time; a reader in a fresh process (empty memory cache) then reads the header and the packets it
    decodes only. A rewritten file (other size or time) is indexed again; the disk cache can be turned off."""
    video = noise_video(tmp_path / "video.mp4", 300)
    size = video.stat().st_size
    with VideoReader(video) as reader:
        assert reader.num_frames == 300 and reader.stats["index_cached"] is False
    assert count_reads()[0] >= size
    assert len(list(cache_dir.rglob("*.npy"))) == 1
    video_io._memory_cache.clear()  # as in a new process
    with VideoReader(video) as reader:
        assert reader.stats["index_cached"] is True
        clip = reader.get_frames([200, 201, 203])
        np.testing.assert_array_equal(read_indices(clip[None, :, :32, :64])[0], [200, 201, 203])
    (read,) = count_reads()
    assert read < span_bytes(video, [(200, 203)]) + 4 * BUFFER < size // 4
    noise_video(video, 280)  # rewritten in place
    with VideoReader(video) as reader:
        assert reader.num_frames == 280 and reader.stats["index_cached"] is False
    with VideoReader(video, index_cache_dir=None) as reader:  # in memory still
        assert reader.stats["index_cached"] is True
    video_io._memory_cache.clear()
    with VideoReader(video, index_cache_dir=None) as reader:
        assert reader.stats["index_cached"] is False
    (cache_file,) = [f for f in cache_dir.rglob("*.npy") if f.stat().st_mtime >= video.stat().st_mtime]
    cache_file.write_bytes(b"garbage")  # a damaged cache file is ignored, and replaced
    video_io._memory_cache.clear()
    with VideoReader(video) as reader:
        assert reader.num_frames == 280 and reader.stats["index_cached"] is False
    video_io._memory_cache.clear()
    with VideoReader(video) as reader:
        assert reader.stats["index_cached"] is True


def test_a_later_clip_in_a_later_epoch_reads_only_the_packets_it_decodes(long_video, cache_dir, count_reads):
    """Through a DataLoader worker (forked again every epoch): epoch 0's first read scans the file once; every later
    read, in that epoch and the next (a new worker), reads the header and the packets from the keyframe before the clip
    to its end: here under 1/8 of the file per clip."""
    size = long_video.stat().st_size
    source = VideoSource([VideoSample(str(long_video), 0, "long")] * 4, ["x"])
    dataset = VideoClipDataset(source, num_frames=4, sampling_rate=2, transform=None, seed=0)
    loader = DataLoader(dataset, batch_size=2, num_workers=1, collate_fn=collate_pretraining,
                        worker_init_fn=seed_worker, multiprocessing_context="fork")  # fmt: skip
    for epoch in range(2):
        dataset.set_epoch(epoch)
        batches = list(loader)
        reads = count_reads()
        assert len(batches) == 2 and len(reads) == 4
        if epoch == 0:
            assert reads[0] >= size
            reads = reads[1:]
        # a 7-frame clip spans at most 2 GOPs of 25 frames (1/12 of the file), and the file's header is about 10 kB
        assert max(reads) < size / 8, (reads, size)
        assert video_io._memory_cache == {}  # the main process never read: the workers used the disk cache


def test_long_video_clips_cost_what_they_decode(long_video, cache_dir, count_reads):
    """One reader, many clips across the video: each costs its own span in bytes, decoded frames and memory (the wanted
    frames, not the video), whatever the video's length."""
    VideoReader(long_video).close()  # indexed
    count_reads()
    reader = VideoReader(long_video)
    generator = torch.Generator().manual_seed(0)
    clip_bytes, spans = 16 * 64 * 128 * 3, []
    for _ in range(6):
        before = reader.stats["decoded_frames"]
        tracemalloc.start()
        clips = reader.read_clips(16, 2, 1, "train", generator)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        indices = reader.stats["indices"]
        spans.append((indices.min(), indices.max()))
        np.testing.assert_array_equal(read_indices(clips[:, :, :32, :64]), indices % 256)
        assert reader.stats["decoded_frames"] - before <= 31 + GOP + 3
        assert peak < 6 * clip_bytes  # the decoded frames, stacked, then ordered (the video: 37 clips)
    reader.close()
    reads = count_reads()
    assert len(reads) == 1 and reads[0] < span_bytes(long_video, spans) + (3 + len(spans)) * BUFFER  # one open


def test_reader_errors(tmp_path, long_video):
    video = write_video(tmp_path / "v.mp4", 20, "mp4", "libx264")
    reader = VideoReader(video, frame_size=(16, 32))
    with pytest.raises(IndexError, match=r"frame indices must be in \[0, 20\), got 3\.\.20"):
        reader.get_frames([3, 20])
    with pytest.raises(ValueError, match="no frame indices"):
        reader.get_frames([])
    assert reader.get_frames([5, 5, 1]).shape == (3, 16, 32, 3)
    reader.close()
    with pytest.raises(VideoReadError, match="the reader is closed"):
        reader.get_frames([1])
    with pytest.raises(ValueError, match="frame_size"):
        VideoReader(video, frame_size=(0, 4))
    with pytest.raises(VideoReadError, match="file does not exist"):
        VideoReader(tmp_path / "missing.mp4")


def test_frame_size_resizes_at_decode(tmp_path):
    """`frame_size` gives frames of that size from FFmpeg's scaler: what a bilinear resize of the full frames gives,
    within a few levels."""
    video = write_video(tmp_path / "v.mkv", 30, "matroska", "libx264")
    full = read_video_clips(video, 4, 2, 1, "eval")
    small = read_video_clips(video, 4, 2, 1, "eval", frame_size=(16, 32))
    assert small.shape == (1, 4, 16, 32, 3)
    expected = torch.nn.functional.interpolate(full[0].permute(0, 3, 1, 2).float(), size=(16, 32), mode="bilinear",
                                               antialias=True).permute(0, 2, 3, 1)  # fmt: skip
    assert (small[0].float() - expected).abs().mean() < 6
