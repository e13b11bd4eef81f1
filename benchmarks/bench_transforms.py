"""CPU cost of the fine-tuning transform per clip, with and without the released RandAugment, on one core.

One DataLoader worker runs `FinetuningTransform` on each decoded clip. This times it on random uint8 clips of
`--frames` frames of `--height` x `--width` (SSv2's 240 x 427 by default) with the adamae-ssv2 recipe's settings
(RandAugment `rand-m7-n4-mstd0.5-inc1`, the released crop to 224, random erasing 0.25 with per-pixel noise), against
the same transform without RandAugment. It uses one torch thread (as a worker does) and counts process CPU time. It
runs `--rounds` rounds of `--clips` clips per setting, alternating the settings, and prints the mean and sample
standard deviation over the rounds.

    PYTHONPATH=src python benchmarks/bench_transforms.py [--clips 32] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from adamae_hf.data import FinetuningTransform


SETTINGS = {
    "released (RandAugment rand-m7-n4-mstd0.5-inc1)": dict(rand_augment=True, rand_augment_num_ops=4,
                                                           rand_augment_magnitude=7.0),  # fmt: skip
    "without RandAugment": dict(rand_augment=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=32, help="clips per round and setting")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=427)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if min(args.clips, args.rounds, args.frames, args.height, args.width) < 1:
        parser.error("--clips, --rounds, --frames, --height and --width must be at least 1")
    torch.set_num_threads(1)  # as in a DataLoader worker
    torch.manual_seed(0)
    clips = torch.randint(0, 256, (args.clips, args.frames, args.height, args.width, 3), dtype=torch.uint8)
    transforms = {
        name: FinetuningTransform(224, released_crop=True, random_erasing=0.25, random_erasing_fill="pixel", **options)
        for name, options in SETTINGS.items()
    }
    milliseconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for transform in transforms.values():  # warm-up
        transform(clips[0])
    for _ in range(args.rounds):
        for name, transform in transforms.items():
            start = time.process_time()
            for clip in clips:
                transform(clip)
            milliseconds[name].append(1e3 * (time.process_time() - start) / args.clips)
    print(f"FinetuningTransform, {args.frames} x {args.height} x {args.width} uint8 clips, one thread, "
          f"{args.rounds} rounds of {args.clips} clips: CPU ms per clip, mean ± std over the rounds")  # fmt: skip
    results = []
    for name, values in milliseconds.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"  {name:48s} {statistics.mean(values):7.1f} ± {spread:5.1f}")
        results.append({"setting": name, "cpu_ms_per_clip": values, "frames": args.frames,
                        "height": args.height, "width": args.width, "clips": args.clips})  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
