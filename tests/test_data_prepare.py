"""scripts/prepare_videos.py: every frame kept, in order and upright, at the short side asked for, with the keyframe
interval asked for; unreadable files skipped and listed; sources never overwritten; a rerun keeps finished outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
from test_video_frames import read_indices, trimmed, write_video

from adamae_hf.data import VideoReader


ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("prepare_videos", ROOT / "scripts" / "prepare_videos.py")
prepare_videos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare_videos)


def test_prepare_videos(tmp_path):
    source = tmp_path / "in"
    (source / "a").mkdir(parents=True)
    long = write_video(tmp_path / "long.mp4", 100, "mp4", "libx264", options={"g": "50", "bf": "2"}, size=(64, 128))
    trimmed(long, source / "a" / "cut.mp4", 37)  # frames 37..99 shown (an edit list hides 0..36)
    write_video(source / "turned.mkv", 30, "matroska", "libx264", rotation=90, size=(64, 128))
    (source / "junk.mp4").write_bytes(b"not a video")
    output = tmp_path / "out"
    assert prepare_videos.main(["--input_dir", str(source), "--output_dir", str(output), "--short_side", "32",
                                "--keyframe_interval", "8", "--num_workers", "1"]) == 0  # fmt: skip
    assert sorted(p.relative_to(output).as_posix() for p in output.rglob("*.mp4")) == ["a/cut.mp4", "turned.mp4"]
    (failed,) = (output / "failed.txt").read_text().splitlines()
    assert failed.startswith(str(source / "junk.mp4") + "\tVideoReadError")

    with VideoReader(output / "a" / "cut.mp4") as reader:
        assert reader.num_frames == 63
        frames = reader.get_frames(range(63))  # 32 x 64: the short side 64 -> 32
    assert frames.shape == (63, 32, 64, 3)
    np.testing.assert_array_equal(read_indices(frames[None])[0], np.arange(37, 100))
    with av.open(str(output / "a" / "cut.mp4")) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        keys = [n for n, p in enumerate(sorted(packets, key=lambda p: p.pts)) if p.is_keyframe]
    assert keys == list(range(0, 63, 8))
    with VideoReader(output / "turned.mp4") as reader:  # stored 128 x 64 turned by 90 degrees: upright 64 x 128 -> 32
        upright = reader.get_frames(range(30))
    with VideoReader(source / "turned.mkv") as reader:
        original = reader.get_frames(range(30))
    assert upright.shape == (30, 64, 32, 3) and original.shape == (30, 128, 64, 3)
    np.testing.assert_array_equal(read_indices(upright.transpose(1, 2)[None])[0], read_indices(original.transpose(1, 2)[None])[0])

    stamp = (output / "turned.mp4").stat().st_mtime_ns
    (source / "junk.mp4").unlink()
    prepare_videos.main(["--input_dir", str(source), "--output_dir", str(output), "--num_workers", "1"])
    assert (output / "turned.mp4").stat().st_mtime_ns == stamp and not (output / "failed.txt").exists()
    with pytest.raises(SystemExit, match="never overwritten"):
        prepare_videos.main(["--input_dir", str(source), "--output_dir", str(source / "a")])


def test_prepare_videos_from_a_list_writes_the_prepared_list(tmp_path):
    """List lines are read as the training scripts read them (the label is the last field: paths with spaces and
    commas); the new list beside the outputs has the same labels and the prepared `.mp4` paths, and loads."""
    from adamae_hf.data import list_file_source

    videos = tmp_path / "videos"
    (videos / "my clips").mkdir(parents=True)
    write_video(videos / "my clips" / "a, b.webm", 12, "webm", "libvpx-vp9", size=(64, 64),
                options={"deadline": "realtime", "cpu-used": "8"})
    write_video(videos / "plain.mp4", 12, "mp4", "libx264", size=(64, 64))
    (videos / "junk.mp4").write_bytes(b"not a video")
    listing = tmp_path / "train.csv"
    listing.write_text("# comment\nmy clips/a, b.webm 3\n\nplain.mp4,1\njunk.mp4 0\n")
    output = tmp_path / "prepared"
    assert prepare_videos.main(["--input_list", str(listing), "--data_root", str(videos), "--output_dir", str(output),
                                "--short_side", "32", "--num_workers", "1"]) == 0  # fmt: skip
    assert (output / "my clips" / "a, b.mp4").is_file() and (output / "plain.mp4").is_file()
    assert (output / "train.csv").read_text() == "my clips/a, b.mp4 3\nplain.mp4 1\n"  # junk.mp4 failed: left out
    source = list_file_source(output / "train.csv")
    assert [(s.video, s.label) for s in source.samples] == [(str(output / "my clips" / "a, b.mp4"), 3),
                                                            (str(output / "plain.mp4"), 1)]  # fmt: skip
    with pytest.raises(SystemExit, match="is not under --data_root"):
        (tmp_path / "outside.txt").write_text("../elsewhere.mp4 0\n")
        prepare_videos.main(["--input_list", str(tmp_path / "outside.txt"), "--data_root", str(videos),
                             "--output_dir", str(output)])  # fmt: skip
