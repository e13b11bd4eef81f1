# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""
Classification inference: `AdaMAEForVideoClassification` against transformers' `VideoMAEForVideoClassification`
of the same size (mean pooling + fc_norm, all 1568 tokens for small/base), clips per second, in one process,
interleaved rounds (order rotating), median after warm-up, under `torch.inference_mode()`.

Examples (from the repository root):
    PYTHONPATH=src python benchmarks/bench_inference.py --sizes base --batch-size 2 --repeats 5
    PYTHONPATH=src python benchmarks/bench_inference.py --sizes base --device cuda --dtype bf16 --batch-size 32
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time

import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    DTYPES,
    SIZES,
    Ratio,
    adamae_config,
    environment,
    make_pixel_values,
    markdown_table,
    median,
    time_call,
    videomae_config,
)


def build(name: str, size: str, num_labels: int):
    if name == "adamae":
        from adamae_hf import AdaMAEForVideoClassification

        return AdaMAEForVideoClassification(adamae_config(size, num_labels=num_labels, use_mean_pooling=True))
    from transformers import VideoMAEForVideoClassification

    return VideoMAEForVideoClassification(videomae_config(size, num_labels=num_labels, use_mean_pooling=True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["base"], choices=list(SIZES))
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-labels", type=int, default=174)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default="benchmarks/results/inference")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    command = "PYTHONPATH=src python benchmarks/bench_inference.py " + " ".join(sys.argv[1:] if argv is None else argv)
    autocast = (
        torch.autocast(device.type, dtype=DTYPES[args.dtype]) if args.dtype != "fp32" else contextlib.nullcontext()
    )
    results = {}
    for size in args.sizes:
        torch.manual_seed(0)
        models = {name: build(name, size, args.num_labels).to(device).eval() for name in ("adamae", "videomae")}
        runners = {name: (torch.compile(m) if args.compile else m) for name, m in models.items()}
        pixel_values = make_pixel_values(size, args.batch_size, device)

        def run(model, pixel_values=pixel_values):
            with torch.inference_mode(), autocast:
                return model(pixel_values).logits

        for name in runners:
            for _ in range(args.warmup + (2 if args.compile else 0)):
                time_call(functools.partial(run, runners[name]), device)
        times = {name: [] for name in runners}
        names = list(runners)
        for index in range(args.repeats):
            for name in names[index % 2 :] + names[: index % 2]:
                times[name].append(time_call(functools.partial(run, runners[name]), device))
            print(f"[{size}] round {index + 1}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names), flush=True)
        results[size] = {
            name: {"seconds_per_batch": median(t), "min_seconds_per_batch": min(t), "clips_per_second": args.batch_size / median(t),
                   "times": t, "parameters": sum(p.numel() for p in models[name].parameters())}  # fmt: skip
            for name, t in times.items()
        }
        del models, runners
    env = environment(device)
    rows, ratio_rows = [], []
    for size, r in results.items():
        for name, v in r.items():
            rows.append([size, name, f"{v['parameters'] / 1e6:.1f}", f"{v['seconds_per_batch']:.3f}", f"{v['min_seconds_per_batch']:.3f}", f"{v['clips_per_second']:.2f}"])
        ratio = Ratio(f"clips/s AdaMAE / VideoMAE ({size})", r["adamae"]["clips_per_second"] / r["videomae"]["clips_per_second"], 0.95, le=False)
        ratio_rows.append(ratio.row())
        r["ratio"] = ratio.value
    markdown = "\n".join([
        f"Machine: {env.get('cpu_model', env['processor'])}, {env['cpu_count']} cores" + (f", {env['gpu']}" if "gpu" in env else "")
        + f"; torch {env['torch']}, transformers {env['transformers']}, {env['torch_threads']} torch threads.",
        f"Command: `{command}`",
        f"Batch {args.batch_size}, {args.dtype}{', torch.compile' if args.compile else ''}, device {args.device}, "
        f"median of {args.repeats} interleaved rounds after warm-up.", "",
        markdown_table(["size", "model", "params (M)", "s / batch (median)", "min", "clips / s"], rows), "",
        markdown_table(["ratio", "measured", "target", "met"], ratio_rows),
    ]) + "\n"  # fmt: skip
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output + ".json", "w") as f:
        json.dump({"environment": env, "command": command, "args": vars(args), "results": results}, f, indent=1)
    with open(args.output + ".md", "w") as f:
        f.write(markdown)
    print(markdown)


if __name__ == "__main__":
    start = time.time()
    main()
