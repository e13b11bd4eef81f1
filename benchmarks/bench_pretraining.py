# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""
One pre-training step (forward, backward, AdamW) of AdaMAE adaptive 95 %, AdaMAE tube 90 % and transformers'
`VideoMAEForPreTraining` tube 90 %, at the same sizes and batch, side by side.

- Time: the three models live in one process and are stepped interleaved (the order rotates every round), after
  warm-up; the median of `--repeats` rounds is reported, as seconds per step and clips per second.
- Peak memory: each model runs in a fresh subprocess (so peaks don't mix). CPU: the process's peak RSS (weights,
  gradients, AdamW state, activations and the allocator's slack) and the peak above the RSS before the first step;
  CUDA: `torch.cuda.max_memory_allocated` over the steps.
- Activation memory per part (sampler, patch embedding, encoder, decoder, other): bytes saved for backward,
  counted with saved-tensor hooks, to say which part holds the memory.
- FLOPs per step (forward + backward) from `torch.utils.flop_counter` (with the CPU SDPA kernel registered), and
  the achieved FLOP/s = FLOPs / median step time.

Examples (from the repository root):
    PYTHONPATH=src python benchmarks/bench_pretraining.py --sizes base --batch-size 2 --repeats 5
    PYTHONPATH=src python benchmarks/bench_pretraining.py --sizes base --device cuda --dtype bf16 --batch-size 16
    PYTHONPATH=src python benchmarks/bench_pretraining.py --sizes vit-tiny --compile
    PYTHONPATH=src python benchmarks/bench_pretraining.py --sizes base --profile   # where the time goes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    DEFAULT_PRETRAINING_MODELS,
    OPTIMIZERS,
    PRETRAINING_MODELS,
    SIZES,
    PreTrainingStep,
    Ratio,
    activation_memory_breakdown,
    count_step_flops,
    current_rss_bytes,
    environment,
    gib,
    markdown_table,
    median,
    peak_rss_bytes,
    peak_rss_since_reset_bytes,
    profile_step,
    reset_peak_rss,
    run_json_subprocess,
    time_call,
)


# Peak bf16 dense tensor throughput (FLOP/s, without sparsity) of common cards, for the MFU column.
GPU_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "L40S": 362e12, "A10": 125e12}
REFERENCE = "videomae-tube-90"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["base"], choices=list(SIZES),
                        help="model sizes (benchmarks/common.py SIZES; 'ablation' is the package's tiny preset)")
    parser.add_argument("--models", nargs="+", default=DEFAULT_PRETRAINING_MODELS, choices=list(PRETRAINING_MODELS))
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="autocast dtype")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models")
    parser.add_argument("--compile-sampler", action="store_true", help="torch.compile AdaMAE's token sampler only")
    parser.add_argument("--optimizer", default="fused", choices=list(OPTIMIZERS), help="AdamW implementation")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up steps per model (more with --compile)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported); 0: no timing")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-flops", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the activation-memory breakdown")
    parser.add_argument("--memory-steps", type=int, default=2, help="steps per peak-memory subprocess")
    parser.add_argument("--memory-batch-sizes", nargs="+", type=int, default=None,
                        help="batch sizes of the peak-memory subprocesses (default: --batch-size)")
    parser.add_argument("--memory-models", nargs="+", default=None, choices=list(PRETRAINING_MODELS),
                        help="models of the peak-memory subprocesses (default: --models)")
    parser.add_argument("--profile", action="store_true", help="torch.profiler breakdown by part (fwd/bwd)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--measured-peak-tflops", type=float, default=None,
                        help="also report MFU against this measured bf16 peak (TFLOP/s), besides the spec sheet's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/pretraining", help="prefix of the .json / .md")
    parser.add_argument("--memory-worker", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def memory_worker(args) -> None:
    """Fresh process: build one model, run the steps, print the peak memory as JSON."""
    name, size = args.memory_worker
    device = torch.device(args.device)
    step = build_step(args, name, size)
    step()  # warm-up: AdamW state, lazy imports, thread pools (not part of a step's peak)
    step.optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    reset = reset_peak_rss()
    before_rss = current_rss_bytes()
    for _ in range(args.memory_steps):
        step()
    peak = peak_rss_since_reset_bytes() if reset else peak_rss_bytes()
    result = {"rss_before_step": before_rss, "peak_rss": peak, "peak_rss_reset_after_warmup": reset}
    if device.type == "cuda":
        torch.cuda.synchronize()
        result.update(cuda_before_step=before, cuda_peak_allocated=torch.cuda.max_memory_allocated())
    print(json.dumps(result))


def build_step(args, name: str, size: str) -> PreTrainingStep:
    return PreTrainingStep(
        name, size, args.batch_size, args.device, args.dtype, args.compile, args.optimizer, args.compile_sampler
    )


def bench_size(args, size: str) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    in_process = args.repeats or not args.no_flops or not args.no_breakdown or args.profile
    steps = {name: build_step(args, name, size) for name in args.models} if in_process else {}  # else: memory only
    results = {name: {"size": size, "batch_size": args.batch_size} for name in steps}
    print(f"[{size}] built {', '.join(steps)}", flush=True)

    for name, step in steps.items():
        results[name]["parameters"] = sum(p.numel() for p in step.model.parameters())
        warmup = args.warmup + (2 if args.compile or args.compile_sampler else 0)
        for _ in range(warmup):
            time_call(step, device)
    print(f"[{size}] warmed up", flush=True)

    times = {name: [] for name in steps}
    cpu_times = {name: [] for name in steps}
    names = list(steps)
    for round_index in range(args.repeats):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            times[name].append(time_call(steps[name], device, cpu_times[name]))
        print(f"[{size}] round {round_index + 1}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names), flush=True)
    for name in steps if args.repeats else ():
        seconds = median(times[name])
        results[name].update(step_times=times[name], seconds_per_step=seconds, min_seconds_per_step=min(times[name]),
                             clips_per_second=args.batch_size / seconds, step_cpu_times=cpu_times[name],
                             cpu_seconds_per_step=median(cpu_times[name]))  # fmt: skip

    if not args.no_flops:
        for name, step in steps.items():
            flops = count_step_flops(step)
            results[name].update(flops_per_step=flops, gflops_per_clip=flops / args.batch_size / 1e9)
            if "seconds_per_step" in results[name]:
                results[name]["achieved_flops_per_second"] = flops / results[name]["seconds_per_step"]
            peak = next((v for k, v in GPU_BF16_PEAK.items() if device.type == "cuda" and k in torch.cuda.get_device_name()), None)
            achieved = results[name].get("achieved_flops_per_second")
            if peak and args.dtype == "bf16" and achieved:
                results[name]["mfu_bf16"] = achieved / peak
            if args.measured_peak_tflops and achieved:
                results[name]["mfu_measured_peak"] = achieved / (args.measured_peak_tflops * 1e12)
        print(f"[{size}] counted FLOPs", flush=True)

    if not args.no_breakdown:
        for name, step in steps.items():
            results[name]["activation_bytes"] = activation_memory_breakdown(step)
            step.optimizer.zero_grad(set_to_none=True)
        print(f"[{size}] activation memory counted", flush=True)

    if args.profile:
        for name, step in steps.items():
            seconds, table = profile_step(step)
            results[name]["profile_seconds"] = seconds
            results[name]["profile_table"] = table
        print(f"[{size}] profiled", flush=True)

    steps = step = None  # free the models (and their AdamW state) before the peak-memory subprocesses
    if not args.no_memory:
        for batch_size in args.memory_batch_sizes or [args.batch_size]:
            for name in args.memory_models or args.models:
                memory = measure_peak_memory(args, name, size, batch_size)
                entry = results.setdefault(name, {"size": size, "batch_size": args.batch_size})
                entry.setdefault("memory_at_batch", {})[batch_size] = memory
                if batch_size == args.batch_size:
                    entry["memory"] = memory
            print(f"[{size}] peak memory measured at batch {batch_size}", flush=True)
    return results


def measure_peak_memory(args, name: str, size: str, batch_size: int) -> dict:
    """Peak memory of `name`'s training step at `batch_size`, in a fresh subprocess (see `memory_worker`)."""
    worker_args = [
        os.path.abspath(__file__), "--memory-worker", name, size, "--batch-size", str(batch_size),
        "--device", args.device, "--dtype", args.dtype, "--memory-steps", str(args.memory_steps),
        "--optimizer", args.optimizer,
    ]  # fmt: skip
    worker_args += [flag for flag, on in (("--compile", args.compile), ("--compile-sampler", args.compile_sampler)) if on]
    if args.threads:
        worker_args += ["--threads", str(args.threads)]
    memory = run_json_subprocess(worker_args)
    if torch.device(args.device).type == "cuda":
        memory["peak_bytes"] = memory["cuda_peak_allocated"]
    else:
        memory["peak_bytes"] = memory["peak_rss"]
        memory["step_peak_above_start"] = memory["peak_rss"] - memory["rss_before_step"]
    return memory


# Targets of issue 12 against transformers' VideoMAE tube 90 %: the adaptive step no slower per FLOP, the best AdaMAE
# setting's peak memory at or below VideoMAE's, and decoder masking 50 % at most 0.85x VideoMAE's step time.
DECODER_MASKING_STEP_TARGET = 0.85
MEMORY_TARGET = 1.0


def ratios(results: dict, batch_size: int) -> list[Ratio]:
    """The step-time and peak-memory ratios of every AdaMAE adaptive variant present against VideoMAE tube 90 %."""
    ref = results.get(REFERENCE)
    if not ref:
        return []
    out = []
    for name, ada in results.items():
        if PRETRAINING_MODELS[name][1] != "adaptive":
            continue
        label = f"{name} / {REFERENCE}"
        if "seconds_per_step" in ada and "seconds_per_step" in ref:
            time_ratio = ada["seconds_per_step"] / ref["seconds_per_step"]
            cpu_ratio = ada["cpu_seconds_per_step"] / ref["cpu_seconds_per_step"]
            flop_ratio = ada["flops_per_step"] / ref["flops_per_step"] if "flops_per_step" in ada and "flops_per_step" in ref else None
            if PRETRAINING_MODELS[name][3].get("decoder_mask_ratio"):
                target, what = DECODER_MASKING_STEP_TARGET, f"{DECODER_MASKING_STEP_TARGET}"
            elif flop_ratio is not None:
                target, what = flop_ratio, f"FLOP ratio {flop_ratio:.3f}"
            else:
                target, what = float("inf"), "none"
            out.append(Ratio(f"step time {label} (target: <= {what})", time_ratio, target))
            out.append(Ratio(f"CPU time per step {label} (same target; less sensitive to other jobs)", cpu_ratio, target))
            if flop_ratio is not None and target != flop_ratio:
                out.append(Ratio(f"FLOP ratio {label} (information)", flop_ratio, float("inf")))
        for batch, memory in ada.get("memory_at_batch", {}).items():
            ref_memory = ref.get("memory_at_batch", {}).get(batch)
            if ref_memory:
                out.append(Ratio(f"peak memory {label} (batch {batch})", memory["peak_bytes"] / ref_memory["peak_bytes"], MEMORY_TARGET))
    return out


def to_markdown(args, all_results: dict, env: dict, command: str) -> str:
    cuda = args.device.startswith("cuda")
    lines = [
        f"Machine: {env.get('cpu_model', env['processor'])}, {env['cpu_count']} cores, {env.get('memory_gib', '?')} GiB"
        + (f", {env['gpu']}" if "gpu" in env else "")
        + f"; torch {env['torch']}, transformers {env['transformers']}, Python {env['python']}, "
        f"{env['torch_threads']} torch threads.",
        f"Command: `{command}`",
        f"Batch {args.batch_size}, {args.dtype}{', torch.compile' if args.compile else ''}"
        f"{', sampler compiled' if args.compile_sampler else ''}, {args.optimizer} AdamW, device {args.device}; "
        f"median of {args.repeats} interleaved rounds after warm-up; load average at start "
        f"{env.get('load_average_at_start')}, at end {env.get('load_average_at_end')}.",
        "",
    ]
    headers = ["size", "model", "params (M)", "s / step (median)", "min", "CPU s / step", "clips / s", "GFLOP / clip",
               "achieved GFLOP/s"]  # fmt: skip
    headers += ["peak alloc (GiB)"] if cuda else ["peak RSS (GiB)", "step peak above start (GiB)"]
    headers += ["saved activations (MiB)"]
    rows = []
    for size, results in all_results.items():
        for name, r in results.items():
            if "parameters" not in r:  # a peak-memory-only model
                continue
            mem = r.get("memory", {})
            timed = "seconds_per_step" in r
            row = [size, name, f"{r['parameters'] / 1e6:.1f}", f"{r['seconds_per_step']:.3f}" if timed else "-",
                   f"{r['min_seconds_per_step']:.3f}" if timed else "-", f"{r['cpu_seconds_per_step']:.2f}" if timed else "-",
                   f"{r['clips_per_second']:.2f}" if timed else "-",
                   f"{r['gflops_per_clip']:.1f}" if "gflops_per_clip" in r else "-",
                   f"{r['achieved_flops_per_second'] / 1e9:.0f}" if "achieved_flops_per_second" in r else "-"]  # fmt: skip
            if cuda:
                row.append(gib(mem["peak_bytes"]) if mem else "-")
            else:
                row += [gib(mem["peak_bytes"]) if mem else "-", gib(mem["step_peak_above_start"]) if mem else "-"]
            act = r.get("activation_bytes")
            row.append(f"{act['total'] / 2**20:.0f}" if act else "-")
            if "mfu_bf16" in r:
                row[-1] += f" (MFU {r['mfu_bf16']:.1%} of the spec peak"
                if "mfu_measured_peak" in r:
                    row[-1] += f", {r['mfu_measured_peak']:.1%} of {args.measured_peak_tflops:.0f} TFLOP/s measured"
                row[-1] += ")"
            rows.append(row)
    lines.append(markdown_table(headers, rows))
    for size, results in all_results.items():
        rs = ratios(results, args.batch_size)
        if rs:
            lines += ["", f"Ratios ({size}):", "", markdown_table(["ratio", "measured", "target", "met"], [r.row() for r in rs])]
        memory_rows = [
            [n, batch, gib(m["peak_bytes"]), gib(m["step_peak_above_start"]) if "step_peak_above_start" in m else "-",
             f"{m['peak_bytes'] / results[REFERENCE]['memory_at_batch'][batch]['peak_bytes']:.3f}"
             if batch in results.get(REFERENCE, {}).get("memory_at_batch", {}) else "-"]
            for n, r in results.items() for batch, m in r.get("memory_at_batch", {}).items()
        ]  # fmt: skip
        if memory_rows:
            peak = "peak allocated (GiB)" if cuda else "peak RSS (GiB)"
            lines += ["", f"Peak memory, each model in a fresh process ({size}):", ""]
            lines.append(markdown_table(["model", "batch", peak, "step peak above start (GiB)", f"/ {REFERENCE}"], sorted(memory_rows, key=lambda row: row[1])))
        acts = {n: r["activation_bytes"] for n, r in results.items() if "activation_bytes" in r}
        if acts:
            parts = ["sampler", "patch embedding", "encoder", "decoder", "other", "total"]
            lines += ["", f"Activation memory saved for backward, MiB ({size}, batch {args.batch_size}):", ""]
            lines.append(markdown_table(["model", *parts], [[n, *(f"{a.get(p, 0) / 2**20:.0f}" for p in parts)] for n, a in acts.items()]))
        profs = {n: r["profile_seconds"] for n, r in results.items() if "profile_seconds" in r}
        if profs:
            lines += ["", f"Where the time goes, seconds per step (torch.profiler, {size}, batch {args.batch_size}):", ""]
            lines.append(profile_markdown(profs))
    return "\n".join(lines) + "\n"


def profile_markdown(profs: dict) -> str:
    parts = ["sampler", "patch embedding", "encoder", "decoder"]
    headers = ["model", "step"] + [f"{d} {p}" for p in parts for d in ("fwd", "bwd") if not (p == "patch embedding" and d == "bwd")]
    headers += ["optimizer", "rest (masking, targets, loss, heads, autograd glue)"]
    rows = []
    for name, s in profs.items():
        cells = [s.get(f"{d}/{p}", 0.0) for p in parts for d in ("fwd", "bwd") if not (p == "patch embedding" and d == "bwd")]
        rest = s.get("step", 0.0) - sum(cells) - s.get("optimizer", 0.0)
        rows.append([name, f"{s.get('step', 0):.2f}", *(f"{c:.2f}" for c in cells), f"{s.get('optimizer', 0):.2f}", f"{rest:.2f}"])
    return markdown_table(headers, rows)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        return memory_worker(args)
    command = "PYTHONPATH=src python benchmarks/bench_pretraining.py " + " ".join(sys.argv[1:] if argv is None else argv)
    env = environment(args.device)
    start = time.time()
    all_results = {size: bench_size(args, size) for size in args.sizes}
    env["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    markdown = to_markdown(args, all_results, env, command)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    payload = {"environment": env, "command": command, "args": vars(args), "results": all_results,
               "ratios": {size: [r.__dict__ | {"ok": r.ok} for r in ratios(res, args.batch_size)] for size, res in all_results.items()},
               "wall_seconds": time.time() - start}  # fmt: skip
    with open(args.output + ".json", "w") as f:
        json.dump(payload, f, indent=1, default=str)
    with open(args.output + ".md", "w") as f:
        f.write(markdown)
    print(markdown)
    for size, results in all_results.items():
        for name, r in results.items():
            if "profile_table" in r:
                print(f"--- {size} {name}: top operators ---\n{r['profile_table']}")


if __name__ == "__main__":
    main()
