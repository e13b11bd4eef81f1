#!/usr/bin/env python
# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""
Re-encode videos for clip sampling: a short side of at most `--short_side` pixels (as VideoMAE's data preparation
resizes Kinetics to a 320 short side; never enlarged), a keyframe every `--keyframe_interval` frames, and
`--bframes` B-frames between references that no frame refers to (x264's `b-pyramid none`), H.264 in MP4 at CRF
`--crf`. A clip then decodes from a keyframe at most that many frames before it, and of the frames it does not use
only the references (1 in 4 with 3 B-frames): adamae_hf's reader skips the others. Every frame is kept, in order
(frame k of the output is frame k of the source as adamae_hf reads it), upright; audio is dropped.

    python scripts/prepare_videos.py --input_dir videos/ --output_dir videos_prepared/ --num_workers 16
    python scripts/prepare_videos.py --input_list train.csv --data_root videos/ --output_dir videos_prepared/

The output mirrors the input's folders (`a/b.webm` -> `a/b.mp4`), so a `<split>/<class>/<video>` folder stays one.
From `--input_list` (read as the training scripts read list files: the label is the last field, so paths may hold
spaces and commas) a new list of the same name is written into `--output_dir`: the same labels, the new `.mp4`
paths relative to it, the videos that could not be prepared left out; train on it with `--train_list
<output_dir>/<name>` (its folder is the default `--data_root`). Sources are never overwritten (the output folder must be outside the input); outputs that exist are kept (a rerun continues an
interrupted one) unless `--overwrite`. Files that cannot be read are skipped and listed in `<output_dir>/failed.txt`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".ogv")


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side at most ``short_side``, the aspect kept, both even (H.264 4:2:0)."""
    scale = min(1.0, short_side / min(width, height))
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


def prepare_video(source: str, target: str, short_side: int = 320, keyframe_interval: int = 16, crf: int = 23,
                  preset: str = "veryfast", bframes: int = 3) -> int:  # fmt: skip
    """Re-encode ``source`` into ``target`` (H.264 MP4, written to a temporary file then renamed); returns the frames
    written. Raises :class:`adamae_hf.data.VideoReadError` when the source cannot be read."""
    from adamae_hf.data import VideoReader, VideoReadError

    with VideoReader(source, index_cache_dir=None, num_threads=1) as reader:  # validates the file, counts its frames
        num_frames = reader.num_frames
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(suffix=".mp4", prefix=".partial-", dir=directory)
    os.close(fd)
    written = 0
    try:
        with av.open(source, metadata_errors="ignore") as src, av.open(partial, "w", format="mp4",
                                                                     options={"movflags": "+faststart"}) as out:  # fmt: skip
            stream = src.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            encoder = None
            for frame in _frames(src, stream, num_frames):
                rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
                if encoder is None:
                    upright = (frame.height, frame.width) if rotation % 180 == 90 else (frame.width, frame.height)
                    width, height = output_size(*upright, short_side)
                    encoder = out.add_stream("libx264", rate=rate)
                    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
                    encoder.options = {"crf": str(crf), "preset": preset, "g": str(keyframe_interval),
                                       "keyint_min": str(keyframe_interval), "sc_threshold": "0", "bf": str(bframes),
                                       "b-pyramid": "none", "b_strategy": "0", "threads": "1"}  # fmt: skip
                    encoder.codec_context.thread_count = 1
                array = frame.to_ndarray(format="rgb24", threads=1)
                if rotation % 90 == 0 and rotation:  # as adamae_hf's reader: frames come out upright
                    array = np.ascontiguousarray(np.rot90(array, k=rotation // 90))
                image = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(
                    width=encoder.width, height=encoder.height, format="yuv420p", interpolation="AREA", threads=1
                )
                image.pts = written
                out.mux(encoder.encode(image))
                written += 1
            if encoder is None:
                raise VideoReadError(source, "no frame could be decoded")
            out.mux(encoder.encode())
        os.replace(partial, target)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return written


def _frames(container, stream, num_frames: int):
    """The frames adamae_hf's reader counts: from the first keyframe on (time stamps at or after it), without those an
    edit list discards (the decoder drops them), at most ``num_frames``."""
    first_key_pts, count = None, 0
    for packet in container.demux(stream):
        if first_key_pts is None and packet.is_keyframe and packet.pts is not None:
            first_key_pts = packet.pts
        for frame in packet.decode():
            if first_key_pts is not None and frame.pts is not None and frame.pts < first_key_pts:
                continue
            if count < num_frames:
                count += 1
                yield frame


def _job(arguments: tuple[str, str, dict]) -> tuple[str, str | None]:
    source, target, options = arguments
    try:
        prepare_video(source, target, **options)
    except Exception as error:  # noqa: BLE001  (any unreadable source is listed, the others go on)
        return source, f"{type(error).__name__}: {error}"
    return source, None


class _InProcess:
    """A pool of one: the jobs run in this process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def imap_unordered(self, function, jobs):
        return map(function, jobs)


def collect(args: argparse.Namespace) -> list[tuple[str, str, int | None]]:
    """(source, target, label) triples; the label of an `--input_list` line (`None`: a bare path, or a folder)."""
    from adamae_hf.data import list_file_entries

    output = Path(args.output_dir).resolve()
    if args.input_dir:
        root = Path(args.input_dir).resolve()
        if output == root or root in output.parents:
            raise SystemExit("--output_dir must not be inside --input_dir (sources are never overwritten)")
        sources = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
        relative, labels = [p.relative_to(root) for p in sources], [None] * len(sources)
    else:
        root = Path(args.data_root).resolve() if args.data_root else Path(args.input_list).resolve().parent
        try:
            entries = list_file_entries(args.input_list)
        except FileNotFoundError as error:
            raise SystemExit(f"--input_list: {error}") from None
        sources = [Path(os.path.normpath(root / path)) for _, path, _ in entries]  # links not followed
        relative, labels = [], [label for _, _, label in entries]
        for (line_number, path, _), source in zip(entries, sources):
            if root not in source.parents:  # the output mirrors the paths under the root
                raise SystemExit(f"{args.input_list}:{line_number}: {path!r} is not under --data_root {root}")
            relative.append(source.relative_to(root))
        if any(output == p.parent or output in p.parents for p in sources):
            raise SystemExit("--output_dir must not contain the sources (sources are never overwritten)")
        if output / Path(args.input_list).name == Path(args.input_list).resolve():
            raise SystemExit("--output_dir must not hold --input_list (the prepared list is written there under its name)")
    return [(str(s), str(output / r.with_suffix(".mp4")), label) for s, r, label in zip(sources, relative, labels)]


def write_prepared_list(args: argparse.Namespace, triples: list[tuple[str, str, int | None]]) -> Path:
    """`<output_dir>/<name of --input_list>`: one `<path> <label>` (or `<path>`) line per prepared video, the paths
    relative to `--output_dir`, in the input's order; the videos without an output are left out."""
    output = Path(args.output_dir).resolve()
    lines = [Path(target).relative_to(output).as_posix() + ("" if label is None else f" {label}")
             for _, target, label in triples if os.path.exists(target)]  # fmt: skip
    path = output / Path(args.input_list).name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input_dir", help="a folder of videos (searched recursively)")
    source.add_argument("--input_list", help="a list file of the training scripts' format ('<path> <label>' or "
                        "'<path>', the label last, paths relative to --data_root); the same list for the prepared "
                        ".mp4 videos is written into --output_dir under the same name")  # fmt: skip
    parser.add_argument("--data_root", help="folder the --input_list paths are relative to (default: the list's folder, "
                        "as the training scripts)")  # fmt: skip
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--short_side", type=int, default=320, help="short side at most this (pixels; never enlarged)")
    parser.add_argument("--keyframe_interval", type=int, default=16, help="frames between keyframes")
    parser.add_argument("--bframes", type=int, default=3, help="B-frames between reference frames (0: none)")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality (lower is better and larger)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset")
    parser.add_argument("--num_workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--overwrite", action="store_true", help="re-encode outputs that exist")
    args = parser.parse_args(argv)
    for name in ("short_side", "keyframe_interval", "num_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    pairs = collect(args)
    todo = [(s, t) for s, t, _ in pairs if args.overwrite or not os.path.exists(t)]
    options = {"short_side": args.short_side, "keyframe_interval": args.keyframe_interval, "crf": args.crf,
               "preset": args.preset, "bframes": args.bframes}  # fmt: skip
    if args.bframes < 0:
        parser.error("--bframes must be >= 0")
    print(f"{len(pairs)} videos, {len(pairs) - len(todo)} already prepared, {len(todo)} to encode", file=sys.stderr)
    failed = []
    from tqdm.auto import tqdm

    jobs = [(s, t, options) for s, t in todo]
    workers = min(args.num_workers, len(jobs))
    with multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else _InProcess() as pool:
        for source_path, error in tqdm(pool.imap_unordered(_job, jobs), total=len(jobs), unit="video"):
            if error is not None:
                failed.append((source_path, error))
    os.makedirs(args.output_dir, exist_ok=True)
    report = Path(args.output_dir) / "failed.txt"
    if failed:
        report.write_text("".join(f"{s}\t{e}\n" for s, e in sorted(failed)))
        print(f"{len(failed)} unreadable videos skipped, listed in {report}", file=sys.stderr)
    elif report.exists():
        report.unlink()
    if args.input_list:
        written = write_prepared_list(args, pairs)
        print(f"The list of the prepared videos: {written} (--train_list {written})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
