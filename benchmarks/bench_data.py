"""Input pipeline throughput: clips per core-second that one DataLoader worker delivers, on two generated video sets,
for the default pipeline and each option, and the ratio to what one H200 consumes in pre-training.

The sets (generated once into ``--work_dir``: about a minute on 2 cores):

- ``ssv2``: SSv2-like, 427x240 VP9 WebM (libvpx, good quality, CRF 32), 12 fps, 4 s; clips of 16 frames at stride 2;
- ``k400``: K400-like, 340x256 H.264 MP4 (x264 veryfast, CRF 23, keyframe interval 250 with scene cuts, 3 B-frames),
  30 fps, 10 s; clips of 16 frames at stride 4;
- ``ssv2-prepared`` / ``k400-prepared``: the same videos after ``scripts/prepare_videos.py`` with its defaults
  (short side at most 320, a keyframe every 16 frames, 3 non-reference B-frames between references, H.264).

Frames are a textured background panned slowly, a textured disc moving over it and per-frame grain, which gives
about the bit rates (VP9 ~0.3 Mbit/s, H.264 ~1 Mbit/s) and decoding costs of such videos.

Settings (each on every set):

- ``default``: ``VideoClipDataset(..., transform=PretrainingTransform(224))``, batches of 8 collated;
- ``num_sample=N``: the same with repeated sampling (N clips per read, each augmented on the CPU);
- ``device``: ``--augment_on_device``: the worker decodes (resizing at decode time to ``device_frame_size(224)``)
  and delivers uint8 clips; the crop, flip and normalisation run on the training device and are not counted
  (their cost on this CPU is printed apart);
- ``device,num_sample=N``: both.

Measured in one process with one torch thread and one decoder thread (a DataLoader worker): clips delivered divided by
the CPU time of the process (``time.process_time``: every thread of it), after a first pass over every video (epoch
0, which builds the frame index cache; its cost is printed apart). One H200 consumes 615 clips/s (0.052 s per step of
32, ``benchmarks/RESULTS.md``), i.e. 38.5 clips per core-second with 16 cores.

    PYTHONPATH=src python benchmarks/bench_data.py --work_dir /tmp/bench_data [--clips 96] [--json out.json]

``--baseline_src DIR`` also measures ``default`` with another checkout's ``src`` (e.g. the pipeline before the
VideoReader: ``git archive 29bd620 src | tar -x -C /tmp/baseline``), on the same videos, in a subprocess run just
before each set's settings (on a shared machine, measurements taken together drift together), and prints each
setting's ratio to it. For a prepared set the baseline is measured on the set before preparation.

``--repeats N`` measures everything N times, round after round, and ends with the mean and sample standard deviation
over the rounds of each rate and of each ratio to the same round's baseline (a single round of 96 clips takes a few
seconds per setting, so one round is an anecdote on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np
import torch

from adamae_hf.data import (
    PretrainingTransform,
    VideoClipDataset,
    VideoSample,
    VideoSource,
    collate_pretraining,
)


H200_CLIPS_PER_SECOND = 32 / 0.052  # benchmarks/RESULTS.md: ViT-B, bf16, batch 32
CORES_PER_GPU = 16
TARGET = H200_CLIPS_PER_SECOND / CORES_PER_GPU  # clips per core-second

SETS = {  # name: (format, codec, fps, seconds, (height, width), options, number of videos, sampling rate)
    "ssv2": ("webm", "libvpx-vp9", 12, 4, (240, 427),
             {"deadline": "good", "cpu-used": "6", "crf": "32", "b": "0", "threads": "1"}, 12, 2),
    "k400": ("mp4", "libx264", 30, 10, (256, 340),
             {"preset": "veryfast", "crf": "23", "g": "250", "bf": "3", "threads": "1"}, 6, 4),
}  # fmt: skip
GRAIN = {"ssv2": 8.0, "k400": 11.0}
SETTINGS = ["default", "num_sample=2", "num_sample=4", "device", "device,num_sample=2", "device,num_sample=4"]


def _texture(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    small = torch.from_numpy(rng.random((1, 3, height // cell + 2, width // cell + 2), dtype=np.float32))
    return torch.nn.functional.interpolate(small, size=(height, width), mode="bicubic", align_corners=False)[0].numpy()


def render(seed: int, count: int, height: int, width: int, grain: float):
    """``count`` (height, width, 3) uint8 frames: a panned texture, a moving textured disc, per-frame grain."""
    rng = np.random.default_rng(seed)
    background = 0.6 * _texture(rng, height + 64, width + 64, 24) + 0.4 * _texture(rng, height + 64, width + 64, 4)
    disc = 0.5 * _texture(rng, 96, 96, 8) + 0.5 * _texture(rng, 96, 96, 2)
    yy, xx = np.mgrid[:96, :96]
    inside = (yy - 48) ** 2 + (xx - 48) ** 2 < 44**2
    pan = rng.uniform(-0.4, 0.4, 2)
    start = rng.uniform(0, 1, 2) * (width - 96, height - 96)
    speed = rng.uniform(-3, 3, 2)
    noise = [rng.normal(0, grain, (height, width, 3)).astype(np.float32) for _ in range(7)]
    for t in range(count):
        x0, y0 = int(32 + pan[0] * t) % 64, int(32 + pan[1] * t) % 64
        frame = background[:, y0 : y0 + height, x0 : x0 + width].copy()
        px, py = int(start[0] + speed[0] * t) % (width - 96), int(start[1] + speed[1] * t) % (height - 96)
        frame[:, py : py + 96, px : px + 96][:, inside] = disc[:, inside]
        yield np.clip(frame.transpose(1, 2, 0) * 255 + noise[t % 7], 0, 255).astype(np.uint8)


def write_video(path: Path, name: str, index: int) -> None:
    """Video ``index`` of set ``name`` (frames of ``render(index, ...)``), written to a temporary name then renamed."""
    fmt, codec, fps, seconds, (height, width), options, _, _ = SETS[name]
    partial = path.with_name(".partial-" + path.name)
    with av.open(str(partial), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        for frame in render(index, fps * seconds, height, width, GRAIN[name]):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    partial.rename(path)


def generate(work_dir: Path, name: str, count: int | None = None, num_workers: int = 1) -> list[Path]:
    """The set's first ``count`` videos (default: its number), each written once into ``work_dir/name``, in
    ``num_workers`` processes of one torch thread each."""
    count = count or SETS[name][6]
    folder = work_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"video_{i:02d}.{SETS[name][0]}" for i in range(count)]
    missing = [(path, name, i) for i, path in enumerate(paths) if not path.exists()]
    if num_workers > 1 and len(missing) > 1:
        context = multiprocessing.get_context("spawn")  # no fork of a process with torch's threads started
        with ProcessPoolExecutor(min(num_workers, len(missing)), mp_context=context, initializer=torch.set_num_threads,
                                 initargs=(1,)) as pool:  # fmt: skip
            list(pool.map(write_video, *zip(*missing)))
    else:
        for path, _, i in missing:
            write_video(path, name, i)
    return paths


def prepare(work_dir: Path, name: str, count: int | None = None) -> list[Path]:
    """``scripts/prepare_videos.py`` on the set (once; it keeps videos prepared before); returns the prepared videos
    (``count`` of them, default the set's number: those that ``generate`` wrote)."""
    count = count or SETS[name][6]
    target = work_dir / f"{name}-prepared"
    script = Path(__file__).resolve().parent.parent / "scripts" / "prepare_videos.py"
    paths = [target / f"video_{i:02d}.mp4" for i in range(count)]  # generate's names, as MP4
    if not all(path.exists() for path in paths):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script), "--input_dir", str(work_dir / name), "--output_dir", str(target),
                        "--num_workers", str(os.cpu_count() or 1)], check=True)  # fmt: skip
        print(f"prepared {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return paths


def measure(paths: list[Path], sampling_rate: int, setting: str, clips: int, batch_size: int = 8) -> dict:
    options = dict(part.split("=") if "=" in part else (part, "1") for part in setting.split(","))
    num_sample = int(options.get("num_sample", 1))
    on_device = "device" in options
    source = VideoSource([VideoSample(str(p), 0, p.name) for p in paths], ["video"])
    kwargs = {"num_frames": 16, "sampling_rate": sampling_rate, "seed": 0}
    if num_sample > 1:
        kwargs["num_sample"] = num_sample
    if on_device:
        from adamae_hf.data import device_frame_size

        dataset = VideoClipDataset(source, transform=None, frame_size=device_frame_size(224), **kwargs)
    else:
        dataset = VideoClipDataset(source, transform=PretrainingTransform(224), **kwargs)
    start = time.process_time()
    for i in range(len(dataset)):  # epoch 0's first read of each video (indexes it)
        dataset[i]
    first_pass = (time.process_time() - start) / len(dataset)
    order = np.random.default_rng(0).integers(0, len(dataset), max(1, clips // num_sample))
    delivered, cpu, wall = 0, time.process_time(), time.perf_counter()
    for b in range(0, len(order), batch_size):
        batch = collate_pretraining([dataset[int(i)] for i in order[b : b + batch_size]])
        delivered += len(order[b : b + batch_size]) * num_sample
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result = {"setting": setting, "clips": delivered, "cpu_s": cpu, "wall_s": wall, "first_read_cpu_ms": 1e3 * first_pass,
              "clips_per_core_s": delivered / cpu, "of_h200": delivered / cpu / TARGET,
              "batch_shape": list(batch["pixel_values"].shape)}  # fmt: skip
    if on_device:  # the device part, timed on this CPU for information (a GPU runs it in the step)
        from adamae_hf.data import PretrainingAugmentation

        augment = PretrainingAugmentation(224, num_sample=num_sample)
        generator = torch.Generator().manual_seed(0)
        augment(batch["pixel_values"], batch["source_size"], generator)
        start = time.process_time()
        for _ in range(3):
            augment(batch["pixel_values"], batch["source_size"], generator)
        result["device_part_cpu_ms_per_clip"] = 1e3 * (time.process_time() - start) / (3 * batch["pixel_values"].shape[0] * num_sample)
    return result


def measure_with(src: str, work_dir: Path, name: str, clips: int) -> dict:
    """``default`` on set ``name`` with the package in ``src`` (this file run in a subprocess)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        subprocess.run([sys.executable, __file__, "--work_dir", str(work_dir), "--sets", name, "--settings", "[default]",
                        "--clips", str(clips), "--json", out.name], check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
        return json.loads(Path(out.name).read_text())[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="/tmp/adamae_bench_data", help="videos are generated here once")
    parser.add_argument("--sets", default="ssv2,k400,ssv2-prepared,k400-prepared")
    parser.add_argument("--settings", default=",".join(f"[{s}]" for s in SETTINGS),
                        help="bracketed settings, e.g. '[default],[device,num_sample=4]'")  # fmt: skip
    parser.add_argument("--clips", type=int, default=96, help="clips timed per set and setting")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--baseline_src", help="a checkout's src folder to measure 'default' with, for the ratios")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every measurement (mean and std over them)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker
    work_dir = Path(args.work_dir)
    os.environ.setdefault("ADAMAE_FRAME_INDEX_CACHE", str(work_dir / "frame_index"))
    settings = [s.strip("[]") for s in args.settings.split("],[")]
    results = []
    print(f"target: {TARGET:.1f} clips per core-second (one H200: {H200_CLIPS_PER_SECOND:.0f} clips/s, "
          f"{CORES_PER_GPU} cores)")  # fmt: skip
    print(f"{'set':14s} {'setting':22s} {'clips/core-s':>12s} {'of H200':>8s} {'x base':>7s} {'wall clips/s':>12s} "
          f"{'1st read ms':>11s} {'device ms/clip':>14s}")  # fmt: skip
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    for round_index, name in [(r, name) for r in range(args.repeats) for name in args.sets.split(",")]:
        base = name.removesuffix("-prepared")
        start = time.perf_counter()
        paths = generate(work_dir, base)
        if name.endswith("-prepared"):
            paths = prepare(work_dir, base)
        elif time.perf_counter() - start > 1:
            print(f"generated {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        runs = [(setting, None) for setting in settings]
        if args.baseline_src:
            runs.insert(0, ("default", args.baseline_src))
        baseline = None
        for setting, src in runs:
            if src is None:
                r = measure(paths, SETS[base][7], setting, args.clips)
            else:
                r = measure_with(src, work_dir, base, args.clips)  # today's rate: the set as it was, not prepared
                baseline = r["clips_per_core_s"]
            r["set"], r["code"], r["round"] = name, src or "this checkout", round_index
            if baseline:
                r["x_baseline"] = r["clips_per_core_s"] / baseline
            results.append(r)
            device = f"{r['device_part_cpu_ms_per_clip']:14.1f}" if "device_part_cpu_ms_per_clip" in r else " " * 14
            label = f"baseline ({base})" if src else setting
            ratio = f"{r['x_baseline']:7.2f}" if baseline else " " * 7
            print(f"{name:14s} {label:22s} {r['clips_per_core_s']:12.1f} {r['of_h200']:8.2f} {ratio} "
                  f"{r['clips'] / r['wall_s']:12.1f} {r['first_read_cpu_ms']:11.1f} {device}", flush=True)  # fmt: skip
    if args.repeats > 1:
        print_summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def print_summary(results: list[dict]) -> None:
    """Mean ± sample std over the rounds of each (set, setting): clips per core-second and the ratio to the baseline."""

    def spread(values: list[float], digits: int = 1) -> str:
        mean = f"{np.mean(values):6.{digits}f}"
        return f"{mean} ± {np.std(values, ddof=1):4.{digits}f}" if len(values) > 1 else mean

    print(f"\nover {1 + max(r['round'] for r in results)} rounds: mean ± std")
    print(f"{'set':14s} {'setting':22s} {'clips/core-s':>15s} {'x base':>15s} {'of H200':>8s}")
    keys = dict.fromkeys((r["set"], r["setting"] if r["code"] == "this checkout" else "baseline") for r in results)
    for name, setting in keys:
        rows = [r for r in results if r["set"] == name and (r["setting"] if r["code"] == "this checkout" else "baseline") == setting]
        rates = [r["clips_per_core_s"] for r in rows]
        ratios = [r["x_baseline"] for r in rows if "x_baseline" in r]
        ratio = spread(ratios, digits=2) if ratios else ""
        print(f"{name:14s} {setting:22s} {spread(rates):>15s} {ratio:>15s} {np.mean(rates) / TARGET:8.2f}")


if __name__ == "__main__":
    main()
