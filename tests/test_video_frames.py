"""Frame-exact reading: every frame of the generated videos shows its own index as a grid of black / white cells
(which survives lossy codecs), and the frames read back must be exactly the indices the sampler asked for, in every
container the package lists and in the cases that broke timestamp-based readers (variable frame rate, a held last
frame, audio longer than the video, MPEG-PS / TS, a resolution change, a rotation flag)."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from adamae_hf.data import VideoReadError, read_video_clips, sample_clip_indices


BITS = 8  # frame indices up to 255
H, W = 32, 64  # 2 x 4 cells of 16 x 16 pixels


def index_frame(i: int, height: int = H, width: int = W) -> np.ndarray:
    """(height, width, 3) uint8: bit b of `i` is cell b (row-major over 2 x 4 cells), white for 1."""
    bits = (i >> np.arange(BITS)) & 1
    cells = np.where(bits, 235, 20).astype(np.uint8).reshape(2, 4)
    image = cells.repeat(height // 2, 0).repeat(width // 4, 1)
    return np.repeat(image[:, :, None], 3, 2)


def read_indices(clips: torch.Tensor) -> np.ndarray:
    """(K, T, h, w, 3) uint8 clips of index frames -> (K, T) frame indices (cell centres only)."""
    k, t, h, w, _ = clips.shape
    cells = clips.float().mean(-1).reshape(k, t, 2, h // 2, 4, w // 4)
    centres = cells[:, :, :, h // 8 : 3 * h // 8, :, w // 16 : 3 * w // 16].mean(dim=(3, 5))  # (K, T, 2, 4)
    bits = (centres > 128).long().flatten(2)
    return (bits << torch.arange(BITS)).sum(-1).numpy()


def write_video(path: Path, count: int, fmt: str, codec: str, *, pts_ms=None, rate: int = 25, options=None,
                rotation=None, audio_seconds: float | None = None, last_duration_ms=None, size=(H, W), first=0) -> Path:
    """Encode index frames `first .. first + count - 1`; `pts_ms` sets each frame's time (ms) for variable rates."""
    height, width = size
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"threads": "1", **(options or {})}
        if pts_ms is not None:
            stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        audio = container.add_stream("libopus", rate=48000) if audio_seconds else None

        def mux(packets):
            for packet in packets:
                if last_duration_ms is not None and pts_ms is not None and packet.pts == pts_ms[-1]:
                    packet.duration = last_duration_ms
                container.mux(packet)

        for i in range(count):
            frame = av.VideoFrame.from_ndarray(index_frame(first + i, height, width), format="rgb24")
            frame.pts = i if pts_ms is None else pts_ms[i]
            mux(stream.encode(frame))
        mux(stream.encode())
        if audio is not None:
            samples, done = int(audio_seconds * 48000), 0
            while done < samples:
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, done
                container.mux(audio.encode(chunk))
                done += 960
            container.mux(audio.encode())
    return path


# extension -> (PyAV format, codec, options): every extension in sources.VIDEO_EXTENSIONS that this FFmpeg build
# can write (.ogv needs a Theora encoder, which PyAV's wheels lack)
CONTAINERS = {
    ".mp4": ("mp4", "libx264", {"g": "10", "bf": "2"}),
    ".m4v": ("mp4", "mpeg4", {"g": "10"}),
    ".mov": ("mov", "libx264", {"g": "10", "bf": "2"}),
    ".mkv": ("matroska", "libx264", {"g": "10", "bf": "2"}),
    ".webm": ("webm", "libvpx-vp9", {"g": "10", "deadline": "realtime", "cpu-used": "8"}),
    ".avi": ("avi", "mpeg4", {"g": "10"}),
    ".mpg": ("mpeg", "mpeg2video", {"g": "10", "bf": "2"}),
    ".mpeg": ("mpeg", "mpeg1video", {"g": "10"}),
    ".ts": ("mpegts", "libx264", {"g": "10", "bf": "2"}),
    ".wmv": ("asf", "wmv2", {"g": "10"}),
    ".flv": ("flv", "flv", {"g": "10"}),
}
NUM_FRAMES = 150


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("index_videos")
    return {ext: write_video(root / f"video{ext}", NUM_FRAMES, fmt, codec, options=options)
            for ext, (fmt, codec, options) in CONTAINERS.items()}  # fmt: skip


def check_exact(video, num_video_frames, num_frames, sampling_rate, num_clips, mode, generator=None):
    stats = {}
    clips = read_video_clips(video, num_frames, sampling_rate, num_clips, mode, generator, stats=stats)
    assert stats["video_frames"] == num_video_frames
    if mode == "eval":
        expected = sample_clip_indices(num_video_frames, num_frames, sampling_rate, num_clips, "eval")
        np.testing.assert_array_equal(stats["indices"], expected)
    np.testing.assert_array_equal(read_indices(clips), stats["indices"])
    return clips, stats


@pytest.mark.parametrize("ext", list(CONTAINERS))
def test_every_container_is_frame_exact(videos, ext):
    video = videos[ext]
    # evaluation: 3 clips over the whole video (the last ends on the last frame); 2 clips far apart (a seek)
    check_exact(video, NUM_FRAMES, 8, 3, 3, "eval")
    _, stats = check_exact(video, NUM_FRAMES, 4, 2, 2, "eval")
    if ext in (".mp4", ".mov", ".mkv", ".webm", ".avi"):
        assert stats["seeked"] and stats["decoded_frames"] < NUM_FRAMES  # exact seeking used where it is exact
    # training: random starts
    for seed in range(3):
        check_exact(video, NUM_FRAMES, 8, 4, 1, "train", torch.Generator().manual_seed(seed))


def test_variable_frame_rate(tmp_path):
    """3 fps for 20 frames, then 30 fps: no frame is doubled or skipped."""
    pts = [round(i * 1000 / 3) for i in range(20)]
    pts += [pts[-1] + round((i + 1) * 1000 / 30) for i in range(100)]
    video = write_video(tmp_path / "vfr.mp4", 120, "mp4", "libx264", pts_ms=pts, options={"g": "10"})
    clips, _ = check_exact(video, 120, 16, 2, 5, "eval")
    assert len(np.unique(read_indices(clips)[0])) == 16
    for seed in range(3):
        check_exact(video, 120, 16, 2, 1, "train", torch.Generator().manual_seed(seed))


def test_held_last_frame_is_a_valid_video(tmp_path):
    """100 frames at 30 fps, the last shown for 5 s: read to its end, no "truncated" error."""
    pts = [round(i * 1000 / 30) for i in range(100)]
    video = write_video(tmp_path / "held.mp4", 100, "mp4", "libx264", pts_ms=pts, last_duration_ms=5000, options={"g": "10"})
    with av.open(str(video)) as container:
        assert container.duration / av.time_base > 6.0  # the container says 8.3 s, i.e. about 250 frames at 30 fps
    check_exact(video, 100, 16, 6, 3, "eval")
    check_exact(video, 100, 8, 2, 1, "eval")


def test_webm_with_longer_audio(tmp_path):
    """50 video frames (2 s) and 10 s of audio: the frame count comes from the video stream."""
    video = write_video(tmp_path / "audio.webm", 50, "webm", "libvpx-vp9", audio_seconds=10.0,
                        options={"deadline": "realtime", "cpu-used": "8"})  # fmt: skip
    with av.open(str(video)) as container:
        assert container.duration / av.time_base > 9.0
    check_exact(video, 50, 16, 1, 2, "eval")
    for seed in range(5):
        check_exact(video, 50, 16, 2, 1, "train", torch.Generator().manual_seed(seed))


def test_mpeg_ps_has_all_its_frames(tmp_path):
    """MPEG-2 in MPEG-PS gives no frame count: all 120 frames are counted and reachable."""
    video = write_video(tmp_path / "long.mpg", 120, "mpeg", "mpeg2video", options={"g": "12", "bf": "2"})
    check_exact(video, 120, 8, 3, 4, "eval")
    clips, _ = check_exact(video, 120, 8, 3, 1, "train", torch.Generator().manual_seed(0))


def test_resolution_change_is_resized_to_the_first_size(tmp_path):
    """An MPEG-TS stream of 64x32 frames, then 96x48 ones (two segments, as a concatenation of .ts files is)."""
    first = write_video(tmp_path / "a.ts", 30, "mpegts", "libx264", options={"g": "10"})
    second = write_video(tmp_path / "b.ts", 30, "mpegts", "libx264", options={"g": "10"}, size=(48, 96), first=30,
                         pts_ms=[round((30 + i) * 1000 / 25) for i in range(30)])  # fmt: skip
    video = tmp_path / "changes.ts"
    video.write_bytes(first.read_bytes() + second.read_bytes())
    clips, _ = check_exact(video, 60, 8, 8, 1, "eval")
    assert clips.shape == (1, 8, H, W, 3)
    check_exact(video, 60, 20, 3, 1, "eval")
    late = 0
    for seed in range(30):  # training clips that start in the second segment: resized to the first size too
        clips, stats = check_exact(video, 60, 4, 2, 1, "train", torch.Generator().manual_seed(seed))
        assert clips.shape == (1, 4, H, W, 3)
        late += int(stats["indices"][0, 0] >= 30)
    assert late > 0


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_rotation_flag_is_applied(tmp_path, rotation):
    """A display rotation (phone video): frames come back as players show them, i.e. turned counter-clockwise by
    the display matrix's angle."""
    video = write_video(tmp_path / "phone.mp4", 20, "mp4", "libx264", rotation=rotation, options={"g": "10"})
    stats = {}
    clips = read_video_clips(video, 4, 2, 1, "eval", stats=stats)
    # stored 64 wide x 32 high; a quarter turn shows it 32 wide x 64 high
    assert clips.shape == ((1, 4, W, H, 3) if rotation % 180 else (1, 4, H, W, 3))
    stored = torch.rot90(clips, k=-rotation // 90, dims=(2, 3))  # undo the counter-clockwise turn
    np.testing.assert_array_equal(read_indices(stored), stats["indices"])
    if rotation % 180:  # the other direction would be wrong (the frames upside down)
        wrong = torch.rot90(clips, k=rotation // 90, dims=(2, 3))
        assert not np.array_equal(read_indices(wrong), stats["indices"])


def test_every_failure_is_a_video_read_error(tmp_path):
    """An audio-only file, and a file of garbage after a valid header: a VideoReadError naming the file."""
    audio_only = tmp_path / "audio_only.webm"
    with av.open(str(audio_only), "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        for k in range(10):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, k * 960
            container.mux(stream.encode(chunk))
        container.mux(stream.encode())
    with pytest.raises(VideoReadError, match="audio_only.webm.*no video stream"):
        read_video_clips(audio_only, 4, 1)


def test_stream_cut_mid_gop(tmp_path):
    """An MPEG-TS capture that starts mid-GOP: the frames before its first keyframe cannot be decoded, so the video
    starts there; frame k is the k-th decodable frame."""
    whole = write_video(tmp_path / "whole.ts", 60, "mpegts", "libx264", options={"g": "20", "bf": "2"})
    video = tmp_path / "cut.ts"
    video.write_bytes(whole.read_bytes()[188 * 40 :])  # drop the first 40 TS packets
    with av.open(str(video)) as container:
        shown = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    shown = read_indices(torch.from_numpy(np.stack(shown))[None])[0]  # what a decoder shows: original indices
    assert 0 < len(shown) < 60 and shown[0] > 0
    for clips_, mode, seed in ((2, "eval", None), (1, "train", 0), (1, "train", 1)):
        stats = {}
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        clips = read_video_clips(video, 8, 2, clips_, mode, generator, stats=stats)
        assert stats["video_frames"] == len(shown)
        np.testing.assert_array_equal(read_indices(clips), shown[stats["indices"]])
