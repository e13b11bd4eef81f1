"""Data-loading throughput: decode (PyAV, seeking) + augmentation, 16 frames at 224, per DataLoader worker.

Generates 320x240, 25 fps H.264 clips of a few seconds (keyframe every second), then times
``VideoClipDataset.__getitem__`` in one process with one torch thread, i.e. what one DataLoader worker
delivers, and counts the frames PyAV decodes per clip (to show that a clip does not decode the video).

    PYTHONPATH=src python benchmarks/bench_data.py [--num-videos 8] [--seconds 4] [--clips 48]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from adamae_hf.data import (
    FinetuningTransform,
    PretrainingTransform,
    VideoClipDataset,
    VideoSample,
    VideoSource,
)
from adamae_hf.data.synthetic import render_clip, write_mp4
from adamae_hf.data.video_io import read_video_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clips", type=int, default=48, help="clips timed per transform")
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--sampling-rate", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker

    with tempfile.TemporaryDirectory() as tmp:
        num_video_frames = int(args.seconds * 25)
        paths = []
        for i in range(args.num_videos):
            frames, _ = render_clip(np.random.default_rng(i), "right", num_video_frames, 240, 320)
            paths.append(Path(tmp) / f"clip_{i}.mp4")
            write_mp4(paths[-1], frames, fps=25, gop_size=25)
        source = VideoSource([VideoSample(str(p), 0, str(p)) for p in paths], ["right"])

        stats: dict = {}
        for i in range(args.clips):
            read_video_clips(paths[i % len(paths)], args.num_frames, args.sampling_rate, stats=stats)
        print(
            f"{args.num_videos} videos of {num_video_frames} frames (320x240, 25 fps, GOP 25); "
            f"{args.num_frames} frames at stride {args.sampling_rate}: "
            f"{stats['decoded_frames'] / args.clips:.1f} frames decoded per clip on average"
        )
        for name, transform in [
            ("decode only", None),
            ("pre-training (crop+flip)", PretrainingTransform(args.image_size)),
            ("fine-tuning (RandAugment+crop+flip+erasing)", FinetuningTransform(args.image_size)),
        ]:
            dataset = VideoClipDataset(
                source, num_frames=args.num_frames, sampling_rate=args.sampling_rate, transform=transform
            )
            dataset[0]  # warm-up
            start = time.perf_counter()
            for i in range(args.clips):
                dataset[i % len(dataset)]
            rate = args.clips / (time.perf_counter() - start)
            print(f"{name:45s} {rate:6.1f} clips/s per worker ({args.num_frames} frames at {args.image_size})")


if __name__ == "__main__":
    main()
