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
                rotation=None, audio_seconds: float | None = None, last_duration_ms=None, size=(H, W), first=0,
                edit=None) -> Path:
    """Encode index frames `first .. first + count - 1`; `pts_ms` sets each frame's time (ms) for variable rates;
    `edit(n, packet)` returns the n-th video packet (in decoding order) to write, changed or not, or None to drop it."""
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

        written = 0

        def mux(packets):
            nonlocal written
            for packet in packets:
                if last_duration_ms is not None and pts_ms is not None and packet.pts == pts_ms[-1]:
                    packet.duration = last_duration_ms
                written += 1
                if edit is not None and (packet := edit(written - 1, packet)) is None:
                    continue
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


# libx264 with every frame an IDR frame and no B-frames: packet n is frame n, and every frame decodes on its own
INTRA = {"g": "1", "bf": "0"}
# H.264 payloads (Annex B, as libx264 gives them) of `size` bytes without a picture: filler data, then
# - END_OF_SEQUENCE: an end-of-sequence unit, which FFmpeg's decoder takes without error and without a frame;
# - NO_PICTURE: nothing else, which it rejects (AVERROR_INVALIDDATA).
END_OF_SEQUENCE = lambda size: b"\x00\x00\x00\x01\x0c" + b"\xff" * (size - 11) + b"\x80\x00\x00\x00\x01\x0a"  # noqa: E731
NO_PICTURE = lambda size: b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x0c" + b"\xff" * (size - 12) + b"\x80"  # noqa: E731
# An MPEG-4 Part 2 payload: a P-VOP header with vop_coded = 0 (for 25 fps: a 5-bit time increment), zero-padded.
# FFmpeg's decoder gives no frame for it; the MP4 muxer keeps the packet's keyframe flag.
NOT_CODED = lambda size: b"\x00\x00\x01\xb6\x50\x4f" + b"\x00" * (size - 6)  # noqa: E731


def replace_payload(packet: av.Packet, payload) -> av.Packet:
    """The packet, with its timing and flags, its data replaced by `payload(packet.size)` (same size)."""
    packet.update(payload(packet.size))
    return packet


def dropping(path: Path, count: int, frames) -> Path:
    """An INTRA video of `count` index frames in Matroska whose `frames` the decoder drops (END_OF_SEQUENCE)."""
    return write_video(path, count, "matroska", "libx264", options=INTRA,
                       edit=lambda n, packet: replace_payload(packet, END_OF_SEQUENCE) if n in frames else packet)  # fmt: skip


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
    _, stats = check_exact(video, 50, 16, 1, 2, "eval")
    assert stats["seeked"]  # the audio frames are not mistaken for video frames after a seek
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


def write_audio(path: Path, fmt: str, empty_video_codec: str | None = None) -> Path:
    """0.2 s of Opus audio; with `empty_video_codec`, also a video stream of that codec without a single packet."""
    with av.open(str(path), "w", format=fmt) as container:
        if empty_video_codec is not None:
            video = container.add_stream(empty_video_codec, rate=25)
            video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        stream = container.add_stream("libopus", rate=48000)
        for k in range(10):
            chunk = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, k * 960
            container.mux(stream.encode(chunk))
        container.mux(stream.encode())
        if empty_video_codec is not None:
            container.mux(video.encode())
    return path


def test_every_failure_is_a_video_read_error(tmp_path):
    """An audio-only file, a video stream without frames (a recording stopped before its first frame), a packet
    the decoder rejects: a VideoReadError naming the file and saying why."""
    audio_only = write_audio(tmp_path / "audio_only.webm", "webm")
    with pytest.raises(VideoReadError, match=r"audio_only\.webm': the file has no video stream$"):
        read_video_clips(audio_only, 4, 1)
    no_frames = write_audio(tmp_path / "no_frames.mkv", "matroska", empty_video_codec="mpeg4")
    with pytest.raises(VideoReadError, match=r"no_frames\.mkv': the video stream has no frames$"):
        read_video_clips(no_frames, 4, 1)
    # a packet FFmpeg's H.264 decoder rejects (no picture in it): the decoder's error, with its type's name
    video = write_video(tmp_path / "rejected.mkv", 20, "matroska", "libx264", options=INTRA,
                        edit=lambda n, packet: replace_payload(packet, NO_PICTURE) if n == 5 else packet)  # fmt: skip
    with pytest.raises(VideoReadError, match=r"rejected\.mkv': undecodable video \(InvalidDataError: .*avcodec_send_packet"):
        read_video_clips(video, 20, 1, 1, "eval")


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


def trimmed(source: Path, path: Path, first: int) -> Path:
    """`source` cut at frame `first` without re-encoding, as `ffmpeg -ss -c copy` does: the packets from the keyframe
    before the cut on, their time stamps shifted so that frame `first` is at 0 (the MP4 muxer then writes an edit list
    that hides the frames before it)."""
    with av.open(str(source)) as src, av.open(str(path), "w", format="mp4") as out:
        stream = src.streams.video[0]
        copy = out.add_stream_from_template(stream)
        packets = [packet for packet in src.demux(stream) if packet.size]
        cut = sorted(packet.pts for packet in packets)[first]
        key = max(packet.pts for packet in packets if packet.is_keyframe and packet.pts <= cut)
        for packet in packets[[packet.pts for packet in packets].index(key) :]:
            packet.pts, packet.dts, packet.stream = packet.pts - cut, packet.dts - cut, copy
            out.mux(packet)
    return path


def test_trimmed_mp4_starts_at_the_cut(tmp_path):
    """An MP4 cut at frame 37 without re-encoding (B-frames, a keyframe every 50 frames): its edit list hides frames
    0..36, which are in the file because frames 37..49 are predicted from them. The video has 113 frames, and frame k
    shows frame 37 + k (the hidden frames were counted: 150 frames, and the last clips failed to decode); a wanted
    frame far from the cut is still sought (from a hidden keyframe for the first frames)."""
    source = write_video(tmp_path / "source.mp4", NUM_FRAMES, "mp4", "libx264",
                         options={"g": "50", "bf": "3", "sc_threshold": "0", "keyint_min": "50"})  # fmt: skip
    video = trimmed(source, tmp_path / "trimmed.mp4", 37)
    with av.open(str(video)) as container:
        packets = [packet for packet in container.demux(video=0) if packet.size]
        assert len(packets) == NUM_FRAMES and sum(packet.is_discard for packet in packets) == 37
    with av.open(str(video)) as container:
        shown = read_indices(torch.from_numpy(np.stack(
            [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]))[None])[0]  # fmt: skip
    np.testing.assert_array_equal(shown, np.arange(37, NUM_FRAMES))  # what a player shows
    for num_clips, mode, seed in ((3, "eval", None), (2, "eval", None), (1, "train", 0), (1, "train", 1)):
        stats = {}
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        clips = read_video_clips(video, 16, 4, num_clips, mode, generator, stats=stats)
        assert stats["video_frames"] == NUM_FRAMES - 37 and stats["seeked"] is True
        np.testing.assert_array_equal(read_indices(clips), stats["indices"] + 37)
    stats = {}
    clips = read_video_clips(video, 2, 100, 1, "eval", stats=stats)  # frames 6 and 106: a seek before the cut
    np.testing.assert_array_equal(read_indices(clips), [[43, 143]])
    assert stats["seeked"] is True


def test_arguments_are_checked_before_the_video_is_read(videos, tmp_path):
    """Bad arguments are ValueErrors (the caller's error, never a VideoReadError), whatever the video; the smallest
    valid values (one frame, one clip, stride 1, a video of one frame) read."""
    for bad in ({"num_frames": 0}, {"sampling_rate": 0}, {"num_clips": 0}):
        with pytest.raises(ValueError, match=r"^num_frames, sampling_rate and num_clips must be >= 1$"):
            read_video_clips(videos[".mp4"], **{"num_frames": 4, "sampling_rate": 2, "num_clips": 2, **bad})
    with pytest.raises(ValueError, match=r"^mode must be 'train' or 'eval', got 'test'$"):
        read_video_clips(videos[".mp4"], 4, 2, mode="test")
    check_exact(videos[".mp4"], NUM_FRAMES, 1, 1, 1, "eval")
    one = write_video(tmp_path / "one.mp4", 1, "mp4", "libx264")
    clips, _ = check_exact(one, 1, 4, 2, 2, "eval")
    assert clips.shape == (2, 4, H, W, 3) and not read_indices(clips).any()


def reference_frames(video: Path) -> set[int]:
    """The frames other frames may refer to: those a decoder that skips the others (`skip_frame = NONREF`) shows."""
    with av.open(str(video)) as container:
        container.streams.video[0].codec_context.skip_frame = "NONREF"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return set(read_indices(torch.from_numpy(np.stack(frames))[None])[0].tolist())


def test_decoded_frame_count(tmp_path):
    """`stats["decoded_frames"]` is the cost of a read: forward decoding decodes each frame up to the last wanted one
    (the video stream's only: not the audio), a seek decodes from the keyframe before the wanted frame, frames up to
    64 apart are decoded on (no seek), further ones are sought; the counts of several reads add up. Of the frames in
    between, those no other frame refers to (B-frames that are not references) and that are not wanted are skipped."""
    fixed = {"g": "10", "sc_threshold": "0", "keyint_min": "10"}  # a keyframe every 10 frames, no other
    for ext, fmt, bframes in ((".mkv", "matroska", "0"), (".mp4", "mp4", "2"), (".flv", "flv", "2")):
        video = write_video(tmp_path / f"gop10{ext}", NUM_FRAMES, fmt, "libx264", options={**fixed, "bf": bframes})
        with av.open(str(video)) as container:
            keys = [n for n, packet in enumerate(container.demux(video=0)) if packet.is_keyframe]
        assert keys == list(range(0, NUM_FRAMES, 10))
        references = reference_frames(video)
        assert (len(references) == NUM_FRAMES) == (bframes == "0")
        # (num_frames, sampling_rate) -> the wanted frames, and the frames decoded from for them
        for clip, wanted, spans in (
            ((2, 100), [24, 124], [range(20, 25), range(120, 125)]),  # two seeks: 20..24, 120..124
            ((2, 64), [42, 106], [range(40, 107)]),  # 64 apart: one seek (40..42), then decoded on to 106
            ((4, 2), [71, 73, 75, 77], [range(70, 78)]),  # one seek, 70..77
        ):
            _, stats = check_exact(video, NUM_FRAMES, *clip, 1, "eval")
            assert stats["indices"].tolist() == [wanted] and stats["seeked"] is True
            decoded = sum(frame in wanted or frame in references for span in spans for frame in span)
            assert stats["decoded_frames"] == decoded, (ext, clip)
    # MPEG-TS (no exact seeking) with an audio stream: frames 0..29 decoded (but the skipped ones), the audio not
    video = write_video(tmp_path / "audio.ts", 50, "mpegts", "libx264", options={"g": "10", "bf": "2"}, audio_seconds=3.0)
    references = reference_frames(video)
    decoded = sum(frame in (20, 23, 26, 29) or frame in references for frame in range(30))
    assert decoded < 30
    stats = {}
    for calls in (1, 2):
        clips = read_video_clips(video, 4, 3, 1, "eval", stats=stats)
        np.testing.assert_array_equal(read_indices(clips), [[20, 23, 26, 29]])
        assert stats["seeked"] is False and stats["decoded_frames"] == decoded * calls


def test_last_frames_that_do_not_decode_repeat_the_last_decoded_one(tmp_path):
    """Up to 2 frames at the end of the stream that the decoder drops (packets it takes without giving a frame) are
    the last decoded frame, repeated: a decoder may drop a last frame whose references are missing."""
    for missing in (1, 2):
        video = dropping(tmp_path / f"end{missing}.mkv", 30, range(30 - missing, 30))
        stats = {}
        clips = read_video_clips(video, 30, 1, 1, "eval", stats=stats)
        assert stats["video_frames"] == 30 and stats["indices"].tolist() == [list(range(30))]
        assert read_indices(clips).tolist() == [list(range(30 - missing)) + [29 - missing] * missing]


def test_frames_that_do_not_decode_are_an_error(tmp_path):
    """3 dropped frames at the end, one in the middle, or all of them: a VideoReadError that says how many of the
    wanted frames decoded (never frames shifted into the gap)."""
    video = dropping(tmp_path / "end3.mkv", 30, range(27, 30))
    with pytest.raises(VideoReadError, match=r"end3\.mkv': truncated or corrupt: the video stream has 30 frames but "
                       r"only 27 of the 30 wanted decoded \(the last at index 26\)$"):  # fmt: skip
        read_video_clips(video, 30, 1, 1, "eval")
    check_exact(video, 30, 8, 2, 1, "eval")  # a clip that ends before them reads: frames 7..21
    video = dropping(tmp_path / "middle.mkv", 30, {12})
    with pytest.raises(VideoReadError, match=r"middle\.mkv': truncated or corrupt: the video stream has 30 frames but "
                       r"only 1 of the 2 wanted decoded \(the last at index 17\)$"):  # fmt: skip
        read_video_clips(video, 2, 5, 1, "eval")  # frames 12 and 17
    video = dropping(tmp_path / "none.mkv", 30, range(30))
    with pytest.raises(VideoReadError, match=r"none\.mkv': no frame could be decoded$"):
        read_video_clips(video, 4, 2, 1, "eval")
    # every frame after the first not coded, in MP4 (keyframes kept): the seek to frame 14 gives no frame at all
    video = write_video(tmp_path / "not_coded.mp4", 30, "mp4", "mpeg4", options={"g": "1"},
                        edit=lambda n, packet: replace_payload(packet, NOT_CODED) if n else packet)  # fmt: skip
    with pytest.raises(VideoReadError, match=r"not_coded\.mp4': no frame could be decoded$"):
        read_video_clips(video, 1, 1, 1, "eval")


def test_a_seek_that_lands_late_is_retried_from_the_keyframe_before(tmp_path):
    """x264's periodic intra refresh (low-latency streams): the keyframe flags mark recovery points, and after a seek
    to one the decoder shows frames only from two frames later. A wanted frame in between is sought again from the
    keyframe before: still exact, still seeking (not decoding from the start)."""
    video = write_video(tmp_path / "refresh.mkv", NUM_FRAMES, "matroska", "libx264",
                        options={"g": "10", "bf": "0", "intra-refresh": "1"})  # fmt: skip
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        keys = [packet.pts for packet in container.demux(stream) if packet.is_keyframe]
        assert len(keys) == NUM_FRAMES // 10
        container.seek(keys[7], stream=stream)
        assert next(container.decode(stream)).pts > keys[7]  # frame 70 is a keyframe, 72 comes out first
    _, stats = check_exact(video, NUM_FRAMES, 4, 2, 1, "eval")  # frames 71, 73, 75, 77
    assert stats["seeked"] is True
    assert stats["decoded_frames"] == 1 + 16  # frame 72 after the seek to 70, then 62..77 after the one to 60


def test_matroska_without_a_seek_index_is_decoded_forward(tmp_path):
    """Matroska blocks written without a keyframe flag leave the file without cues: FFmpeg refuses to seek in it
    (EPERM) although it decodes; the frames are read by decoding forward (this was an "undecodable video" error)."""

    def unflagged(n, packet):
        packet.is_keyframe = False
        return packet

    video = write_video(tmp_path / "no_cues.mkv", 100, "matroska", "libx264", options={"g": "10"}, edit=unflagged)
    with av.open(str(video)) as container:
        with pytest.raises(av.FFmpegError):
            container.seek(0, stream=container.streams.video[0])
    _, stats = check_exact(video, 100, 2, 80, 1, "eval")  # frames 9 and 89: a seek is tried
    assert stats["seeked"] is False


def test_frames_before_the_first_keyframe_are_left_out(tmp_path):
    """MPEG-4 Part 2 in MPEG-TS whose first 5 packets are lost: the decoder still shows the 5 frames before the first
    keyframe (predicted from nothing); they are no frames of the video, which starts at the keyframe."""
    video = write_video(tmp_path / "lost.ts", 40, "mpegts", "mpeg4", options={"g": "10"},
                        edit=lambda n, packet: None if n < 5 else packet)  # fmt: skip
    with av.open(str(video)) as container:
        assert len(list(container.decode(video=0))) == 35
    stats = {}
    clips = read_video_clips(video, 4, 2, 2, "eval", stats=stats)
    assert stats["video_frames"] == 30
    np.testing.assert_array_equal(read_indices(clips), stats["indices"] + 10)  # frame k shows k + 10


# Mutants of the frame-exact reader in data/video_io.py that survive the tests above (mutmut 3.8.1's names at the
# commit of tests/README.md's score). Equivalent (the same behaviour for every input the public API can pass):
# - the file's name dropped from an internal VideoReadError (`VideoReadError(None, ...)`, the one-argument form, or
#   `name` -> None passed down): x__index_frames__mutmut_20/22, x__decode_forward__mutmut_21/23, x__read__mutmut_3/9/
#   11/28/85/118/120/134/136, x_read_video_clips__mutmut_27/32. read_video_clips re-raises every VideoReadError
#   with `e.path or name`, so the message names the file all the same.
# - x_read_video_clips__mutmut_50: `e.path or name` -> `e.path and name`: every VideoReadError raised inside has
#   `path=name`, so both give `name`.
# - xǁ_FrameIndexǁkeyframe_before__mutmut_1: the default `back=0` -> 1: the only caller passes `back`.
# - x__index_frames__mutmut_30/35/37/38: the key_pts of the index built without time stamps (None, float or one
#   element): that index is never sought in (seeking needs the time stamps), so key_pts is never read.
# - x__index_frames__mutmut_53/55/58/60: `np.asarray(..., dtype=np.int64)` without the dtype: a list of Python
#   ints is int64 already; an empty keyframe list becomes an empty float array, which searchsorted treats alike.
# - x__index_frames__mutmut_44: `decodable if decodable else pts` -> always decodable: it holds the first
#   keyframe's own time stamp, so it is never empty.
# - x__decode_forward__mutmut_39: `convert(frame) if array is None else array` -> always convert: the wanted
#   frames are distinct, so each decoded frame is converted at most once either way.
# - x__decode_seeking__mutmut_5/6: the initial `current = -1` -> +1 / -2: only read after `decoded is None`, which
#   short-circuits the test.
# - x__decode_seeking__mutmut_10/11 (the seek test `wanted[pos] - current > _SEEK_GAP` at the top of the loop ->
#   `+` / `>=`) and 39/40 (the same change to the test that leaves the inner loop): the top test is reached again
#   only after the inner one broke off, and each mutant only widens its test, so the frames sought and decoded are
#   the same (an extra break resumes the same decoding iterator).
# - x__decode_seeking__mutmut_42: `break` -> `return` (None) when the stream ends: the result is then incomplete
#   either way, and None or an incomplete dict both make _read decode forward from the start.
# - x__read__mutmut_71: `frames = None` -> "" after a failed seek: both are shorter than `wanted`, so both decode
#   forward.
# - x__read__mutmut_132: `w < last_ok` -> `w <= last_ok` for the missing wanted frames: last_ok is not missing.
# - x__seek_before__mutmut_15: `seek(..., backward=True)` -> the default, which is True in PyAV.
# Not equivalent, surviving (counted as survivors in tests/README.md's score):
# - x__decode_forward__mutmut_22/24/25/26: the message of "a decoded frame has no time stamp although its packet
#   had one" (None, empty, "XX...XX", upper case). FFmpeg's decoders give each frame its packet's time stamp; no
#   video we could make reaches this defensive check.
# - x__seek_before__mutmut_24: `first.pts is None or int(first.pts) not in position` -> `and`: differs only when
#   the first frame after a seek to a demuxed keyframe has a time stamp that no packet had; no video we could make
#   does that (the frames the index leaves out come before the first keyframe, and a seek lands on or after it).
# - x__seek_before__mutmut_2: `range(3)` -> `range(4)` seek attempts: differs only after three late landings in a
#   row with a fourth keyframe back that lands in time; in the intra-refresh video the one before always does. The
#   number of retries is a cost trade-off, not a behaviour a test should pin.
# - x__index_frames__mutmut_6: `continue` -> `break` at a packet of size 0: PyAV yields one only as the final flush
#   packet of the demuxer, and muxing an empty packet in the middle of an AVI, Matroska, MP4 or FLV file writes
#   none, so no test video has one; a demuxer that returned one mid-stream would lose the frames after it.
