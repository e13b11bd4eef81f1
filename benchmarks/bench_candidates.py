# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""
Candidates for a faster AdaMAE training step on CPU (issue 12), each measured in isolation, interleaved rounds:

- `sampler`: forward + backward of the token sampler (one 768-wide block over all 1568 tokens of ViT-B) with
  SDPA (what the model uses; CPU flash-attention kernel), SDPA restricted to the math backend, the eager
  (materialised softmax) attention, and `torch.compile` of the sampler.
- `attention`: SDPA forward + backward on the sampler's shapes with q/k/v as the strided views of the fused qkv
  projection (the model's layout) against contiguous copies (does the kernel copy?).
- `adamw`: one AdamW step over each model's parameters (gradients from one real backward): torch's CPU default
  single-tensor implementation, foreach, and fused.

Example (from the repository root):
    PYTHONPATH=src python benchmarks/bench_candidates.py --parts sampler attention adamw --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys

import torch


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    OPTIMIZERS,
    SIZES,
    PreTrainingStep,
    adamae_config,
    environment,
    markdown_table,
    median,
    time_call,
)


SAMPLER_VARIANTS = ("sdpa", "sdpa-math", "eager", "compiled")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["sampler", "attention", "adamw"], choices=["sampler", "attention", "adamw"])
    parser.add_argument("--size", default="base", choices=list(SIZES))
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sampler-variants", nargs="+", default=list(SAMPLER_VARIANTS), choices=SAMPLER_VARIANTS)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default="benchmarks/results/candidates")
    return parser.parse_args(argv)


def interleaved(functions: dict, repeats: int, warmup: int = 2) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds per call of each function: `warmup` calls each, then `repeats` rounds in rotating
    order."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    names = list(functions)
    times = {name: {"wall": [], "cpu": []} for name in functions}
    for round_index in range(repeats):
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            times[name]["wall"].append(time_call(functions[name], "cpu", times[name]["cpu"]))
    return times


def sampler_candidates(args) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from adamae_hf.modeling_adamae import AdaMAETokenSampler

    config = adamae_config(args.size)
    tokens = torch.randn(args.batch_size, config.num_tokens, config.hidden_size, requires_grad=True)
    weights = torch.randn(args.batch_size, config.num_tokens)
    functions = {}
    for variant in args.sampler_variants:
        torch.manual_seed(0)
        sampler = AdaMAETokenSampler(config).train()
        context = contextlib.nullcontext
        if variant == "eager":
            eager = copy.deepcopy(config)
            eager._attn_implementation = "eager"
            for layer in sampler.layers:
                layer.attention.config = eager
        elif variant == "sdpa-math":
            context = lambda: sdpa_kernel(SDPBackend.MATH)  # noqa: E731
        elif variant == "compiled":
            sampler.compile()

        def run(sampler=sampler, context=context):
            with context():
                (sampler(tokens) * weights).sum().backward()

        functions[f"sampler fwd+bwd, {variant}"] = run
    return interleaved(functions, args.repeats, warmup=3)


def attention_candidates(args) -> dict:
    import torch.nn.functional as F

    config = adamae_config(args.size)
    batch, tokens, width, heads = args.batch_size, config.num_tokens, config.hidden_size, config.sampler_num_attention_heads
    qkv = torch.randn(batch, tokens, 3 * width, requires_grad=True)
    grad = torch.randn(batch, heads, tokens, width // heads)

    def strided():
        query, key, value = qkv.view(batch, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        F.scaled_dot_product_attention(query, key, value).backward(grad)

    def contiguous():
        query, key, value = qkv.view(batch, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4).contiguous()
        F.scaled_dot_product_attention(query, key, value).backward(grad)

    return interleaved({"SDPA fwd+bwd, strided q/k/v (the model's)": strided, "SDPA fwd+bwd, contiguous q/k/v": contiguous}, args.repeats)


def adamw_candidates(args) -> dict:
    functions = {}
    for name in ("adamae-adaptive-95", "videomae-tube-90"):
        step = PreTrainingStep(name, args.size, args.batch_size)
        step.forward().loss.backward()  # real gradients, kept for all the optimizer steps below
        for kind in OPTIMIZERS:
            optimizer = torch.optim.AdamW(
                step.model.parameters(), lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05,
                fused=kind == "fused" or None, foreach=kind == "foreach",
            )  # fmt: skip
            functions[f"AdamW step {name}, {kind}"] = optimizer.step
    return interleaved(functions, args.repeats, warmup=1)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    env = environment("cpu")
    times = {}
    for part in args.parts:
        times.update({"sampler": sampler_candidates, "attention": attention_candidates, "adamw": adamw_candidates}[part](args))
        print(f"[{part}] done", flush=True)
    env["load_average_at_end"] = os.getloadavg()
    rows = [
        [name, f"{median(t['wall']):.3f}", f"{min(t['wall']):.3f}", f"{median(t['cpu']):.3f}", " ".join(f"{x:.2f}" for x in t["wall"])]
        for name, t in times.items()
    ]  # fmt: skip
    command = "PYTHONPATH=src python benchmarks/bench_candidates.py " + " ".join(sys.argv[1:] if argv is None else argv)
    markdown = (
        f"Command: `{command}`\n{args.size}, batch {args.batch_size}, fp32, {env['torch_threads']} torch threads, "
        f"{args.repeats} interleaved rounds; load average at start {env['load_average_at_start']}, at end "
        f"{env['load_average_at_end']}.\n\n" + markdown_table(["candidate", "s (median)", "min", "CPU s (median)", "rounds (s)"], rows) + "\n"
    )
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output + ".json", "w") as f:
        json.dump({"environment": env, "command": command, "times": times}, f, indent=1, default=str)
    with open(args.output + ".md", "w") as f:
        f.write(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
