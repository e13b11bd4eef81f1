# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""One pre-training step (forward, backward, AdamW) on CPU in fp32 and under bf16 autocast, interleaved.

    PYTHONPATH=src OMP_NUM_THREADS=2 python benchmarks/bench_cpu_mixed_precision.py --size small --batch-size 1
    # a CPU without bf16 instructions, emulated by limiting torch's and oneDNN's kernels to AVX2:
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 PYTHONPATH=src OMP_NUM_THREADS=2 \
        python benchmarks/bench_cpu_mixed_precision.py --size small --batch-size 1

Prints seconds per step for each repeat, and the median ratio bf16 / fp32. This is why the training scripts train
in fp32 on CPU (`adamae_hf.training.precision`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from adamae_hf.modeling_adamae import AdaMAEForPreTraining
from adamae_hf.presets import preset_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="small", help="a preset: tiny, small, base")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = preset_config(args.size)
    model = AdaMAEForPreTraining(config)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
    pixel_values = torch.randn(args.batch_size, config.num_frames, 3, config.image_size, config.image_size)
    print(f"{args.size}, batch {args.batch_size}, torch {torch.__version__}, kernels {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.repeats):
        for dtype in times:
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                loss = model(pixel_values).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            times[dtype].append(time.perf_counter() - start)
            print(f"  {dtype}: {times[dtype][-1]:.2f} s/step", flush=True)
    print(f"median bf16 / fp32: {statistics.median(times['bf16']) / statistics.median(times['fp32']):.2f}")


if __name__ == "__main__":
    main()
