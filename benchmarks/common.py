# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""Shared helpers of the AdaMAE benchmarks: sizes, model builders, one training step, FLOP counting, memory
measures and a per-module breakdown of time and activation memory.

Run the benchmarks from the repository root with `PYTHONPATH=src python benchmarks/<script>.py --help`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from adamae_hf.presets import MODEL_PRESETS


# --------------------------------------------------------------------------------------------------------------
# Sizes. Every size but "ablation" uses tubelet 2 and patch 16, 16 frames; each builds the same widths for AdaMAE and transformers'
# VideoMAE. "small" and "base" are `adamae_hf.presets`' sizes at 224x224 (1568 tokens); "vit-tiny" is a ViT-Ti,
# which the presets do not have (their "tiny" is sized for the embedded synthetic dataset: 8 frames at 64x64).
# --------------------------------------------------------------------------------------------------------------
SIZES: dict[str, dict] = {
    # ViT-Ti encoder (192 wide, 12 blocks, 3 heads), 96-wide 4-block decoder, 16 frames at 112x112 = 392 tokens.
    "vit-tiny": dict(
        image_size=112, num_frames=16, hidden_size=192, num_hidden_layers=12, num_attention_heads=3,
        intermediate_size=768, decoder_hidden_size=96, decoder_num_hidden_layers=4, decoder_num_attention_heads=3,
        decoder_intermediate_size=384,
    ),
    # ViT-S encoder (384/12/6), 192-wide 4-block decoder (3 heads).
    "small": dict(MODEL_PRESETS["small"], image_size=224, num_frames=16),
    # ViT-B (the released model): 768/12/12, decoder 384/4/6 (the configs' defaults).
    "base": dict(MODEL_PRESETS["base"], image_size=224, num_frames=16),
}

# The package's `tiny` preset (8 frames of 64x64, 8x8 patches, 256 tokens): the model of the masking ablation
# (`ablation_masking.py`); the mask ratio is the benchmark model's.
SIZES["ablation"] = {key: value for key, value in MODEL_PRESETS["tiny"].items() if key != "mask_ratio"}

# name -> (family, mask_type, mask_ratio, AdaMAEConfig overrides)
PRETRAINING_MODELS: dict[str, tuple[str, str, float, dict]] = {
    "adamae-adaptive-95": ("adamae", "adaptive", 0.95, {}),
    "adamae-tube-90": ("adamae", "tube", 0.90, {}),
    # AdaMAE without its sampler at the adaptive arm's ratio: with adamae-adaptive-95 it isolates the sampler's cost
    # (same encoder and decoder tokens), with adamae-tube-90 the encoder's saving from 78 instead of 156 tokens.
    "adamae-random-95": ("adamae", "random", 0.95, {}),
    # the other arms of the masking ablation at the paper's ratios (`ablation_masking.py --arms paper`)
    "adamae-tube-95": ("adamae", "tube", 0.95, {}),
    "adamae-motion-95": ("adamae", "motion", 0.95, {}),
    "adamae-adaptive-90": ("adamae", "adaptive", 0.90, {}),
    "videomae-tube-90": ("videomae", "tube", 0.90, {}),
    # AdaMAE adaptive 95 % with activation checkpointing of the sampler block only (recomputes the sampler's
    # forward in the backward; the same math, dropout RNG restored).
    "adamae-adaptive-95-sampler-ckpt": ("adamae", "adaptive", 0.95, {"sampler_gradient_checkpointing": True}),
    # AdaMAE adaptive 95 % with decoder masking 50 % (the decoder reconstructs half of the masked tokens).
    "adamae-adaptive-95-dec-50": ("adamae", "adaptive", 0.95, {"decoder_mask_ratio": 0.5}),
    "adamae-adaptive-95-dec-75": ("adamae", "adaptive", 0.95, {"decoder_mask_ratio": 0.75}),
    "adamae-adaptive-95-dec-50-sampler-ckpt": (
        "adamae", "adaptive", 0.95, {"decoder_mask_ratio": 0.5, "sampler_gradient_checkpointing": True},
    ),  # fmt: skip
}
DEFAULT_PRETRAINING_MODELS = ["adamae-adaptive-95", "adamae-tube-90", "videomae-tube-90", "adamae-adaptive-95-dec-50"]
OPTIMIZERS = ("fused", "foreach", "single")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def adamae_config(size: str, mask_type: str = "adaptive", mask_ratio: float = 0.95, **overrides):
    from adamae_hf import AdaMAEConfig

    return AdaMAEConfig(**SIZES[size], mask_type=mask_type, mask_ratio=mask_ratio, **overrides)


def videomae_config(size: str, **overrides):
    from transformers import VideoMAEConfig

    kwargs = dict(SIZES[size], norm_pix_loss=True, use_mean_pooling=False)
    kwargs.update(overrides)
    config = VideoMAEConfig(**kwargs)
    config._attn_implementation = "sdpa"
    return config


def build_pretraining_model(name: str, size: str) -> torch.nn.Module:
    """One of `PRETRAINING_MODELS`, freshly initialised, in training mode."""
    family, mask_type, mask_ratio, overrides = PRETRAINING_MODELS[name]
    if family == "adamae":
        from adamae_hf import AdaMAEForPreTraining

        model = AdaMAEForPreTraining(adamae_config(size, mask_type, mask_ratio, **overrides))
    else:
        from transformers import VideoMAEForPreTraining

        model = VideoMAEForPreTraining(videomae_config(size))
        model.mask_ratio = mask_ratio
    return model.train()


def token_grid(size: str) -> tuple[int, int, int]:
    s = SIZES[size]
    patch = s.get("patch_size", 16)
    return (s["num_frames"] // s.get("tubelet_size", 2), s["image_size"] // patch, s["image_size"] // patch)


def make_pixel_values(size: str, batch_size: int, device, seed: int = 0) -> torch.Tensor:
    s = SIZES[size]
    generator = torch.Generator().manual_seed(seed)
    clip = torch.randn(batch_size, s["num_frames"], 3, s["image_size"], s["image_size"], generator=generator)
    return clip.to(device)


def make_optimizer(model: torch.nn.Module, kind: str = "fused") -> torch.optim.Optimizer:
    """The pre-training recipe's AdamW: `"fused"` (one kernel over all parameters, on CPU and CUDA; what
    `adamae_hf.optimization.build_adamw` uses), `"foreach"` or `"single"` (single-tensor, torch's CPU default)."""
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {kind!r}")
    return torch.optim.AdamW(
        model.parameters(), lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05,
        fused=kind == "fused" or None, foreach=kind == "foreach",
    )  # fmt: skip


class PreTrainingStep:
    """
    One pre-training step (forward, backward, AdamW) of a model of `PRETRAINING_MODELS`.

    AdaMAE draws its own mask inside the forward (on the device). VideoMAE needs `bool_masked_pos`; a fresh tube mask
    is drawn on the device at every step with `adamae_hf`'s `tube_masking` (what VideoMAE's `TubeMaskingGenerator`
    does, without the host round trip). The step returns the loss tensor without reading it (no sync).
    """

    def __init__(
        self, name: str, size: str, batch_size: int, device="cpu", dtype: str = "fp32", compile: bool = False,
        optimizer: str = "fused", compile_sampler: bool = False,
    ):  # fmt: skip
        from adamae_hf.modeling_adamae import tube_masking

        self.name, self.size, self.batch_size, self.device = name, size, batch_size, torch.device(device)
        self.family, self.mask_type, self.mask_ratio, _ = PRETRAINING_MODELS[name]
        self.model = build_pretraining_model(name, size).to(self.device)
        self.optimizer = make_optimizer(self.model, optimizer)
        self.autocast_dtype = None if dtype == "fp32" else DTYPES[dtype]
        if compile_sampler and getattr(self.model, "token_sampler", None) is not None:
            self.model.token_sampler.compile()  # nn.Module.compile: in place, the model's own forward stays eager
        self.forward_model = torch.compile(self.model) if compile else self.model
        self.pixel_values = make_pixel_values(size, batch_size, self.device)
        grid = token_grid(size)
        per_slice = grid[1] * grid[2]
        self._tube = lambda: tube_masking(batch_size, grid, int(self.mask_ratio * per_slice), device=self.device)

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def forward(self):
        with self.autocast():
            if self.family == "videomae":
                return self.forward_model(self.pixel_values, bool_masked_pos=self._tube())
            return self.forward_model(self.pixel_values)

    def __call__(self) -> torch.Tensor:
        loss = self.forward().loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, device, cpu_seconds: list | None = None) -> float:
    """Wall-clock seconds of `fn()`; with `cpu_seconds`, also append the process's CPU seconds (all threads) spent
    in it, which a machine shared with other jobs inflates less than the wall clock."""
    synchronize(device)
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    synchronize(device)
    if cpu_seconds is not None:
        cpu_seconds.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def median(values):
    return statistics.median(values) if values else float("nan")


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation of the values that are not None (0.0 for one value; NaN for none): the
    spread over seeds that the scientific benchmarks report."""
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


# --------------------------------------------------------------------------------------------------------------
# FLOPs. torch's FlopCounterMode has no formula for the CPU flash-attention kernel that SDPA dispatches to on CPU,
# so it would count attention as 0 there; register the standard SDPA formulas for it.
# --------------------------------------------------------------------------------------------------------------
def _cpu_sdpa_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward_flop(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def flop_counter() -> FlopCounterMode:
    mapping = {}
    aten = torch.ops.aten
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_sdpa_flop
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _cpu_sdpa_backward_flop
    return FlopCounterMode(display=False, custom_mapping=mapping)


def count_step_flops(step: PreTrainingStep) -> int:
    """FLOPs of one forward + backward (the optimizer's elementwise work is not counted, as is usual)."""
    with flop_counter() as counter:
        loss = step.forward().loss
        loss.backward()
    step.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


# --------------------------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------------------------
def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0: `echo 5 > /proc/self/clear_refs`), so that
    `peak_rss_since_reset_bytes` measures the peak of what runs afterwards (not of imports and warm-up)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset_bytes() -> int:
    """VmHWM of /proc/self/status (the peak RSS since the last `reset_peak_rss`), else the process's peak RSS."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def groups_of(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The parts a step's time and memory are attributed to: sampler, patch embedding, encoder, decoder."""
    if hasattr(model, "adamae"):
        groups = {
            "patch embedding": model.adamae.embeddings,
            "encoder": model.adamae.encoder,
            "decoder": model.decoder,
        }
        if model.token_sampler is not None:
            groups["sampler"] = model.token_sampler
        return groups
    return {"patch embedding": model.videomae.embeddings, "encoder": model.videomae.encoder, "decoder": model.decoder}


def _storage_key(tensor: torch.Tensor):
    try:
        storage = tensor.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):
        return id(tensor), tensor.numel() * tensor.element_size()


def activation_memory_breakdown(step: PreTrainingStep) -> dict[str, int]:
    """
    Bytes of the tensors autograd saves for the backward pass in one forward (the activation memory that holds the
    peak), per part of the model, via `torch.autograd.graph.saved_tensors_hooks`. Storages are counted once
    (the first part that saves them) and parameters are excluded. "other" is everything outside the parts:
    masking, gathers, targets, loss, the encoder's final norm, `encoder_to_decoder`.
    """
    model = step.model
    parameter_storages = {_storage_key(p)[0] for p in model.parameters()}
    stack: list[str] = []
    seen: set[int] = set()
    totals: dict[str, int] = {}
    handles = []
    for name, module in groups_of(model).items():
        handles.append(module.register_forward_pre_hook(lambda m, a, name=name: stack.append(name)))
        handles.append(module.register_forward_hook(lambda m, a, o: stack.pop() and None))  # a hook must return None

    def pack(tensor):
        ptr, nbytes = _storage_key(tensor)
        if ptr not in parameter_storages and ptr not in seen:
            seen.add(ptr)
            part = stack[-1] if stack else "other"
            totals[part] = totals.get(part, 0) + nbytes
        return tensor

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = step.forward().loss
        del loss
    finally:
        for handle in handles:
            handle.remove()
    totals["total"] = sum(totals.values())
    return totals


# --------------------------------------------------------------------------------------------------------------
# Where the time goes: torch.profiler with one record_function range per part, forward and backward. The ranges
# are opened and closed by hooks on the transformer layers of each part (full backward hooks for the backward).
# --------------------------------------------------------------------------------------------------------------
def _layers_of(module: torch.nn.Module) -> list[torch.nn.Module]:
    for attribute in ("layers", "layer", "decoder_layers"):
        if isinstance(getattr(module, attribute, None), torch.nn.ModuleList):
            return list(getattr(module, attribute))
    return []


def profile_step(step: PreTrainingStep, steps: int = 1) -> tuple[dict[str, float], str]:
    """
    Profile `steps` training steps; return seconds per step per range (`fwd/<part>`, `bwd/<part>`, `optimizer`,
    `step`) and the profiler's top-operator table. Forward of a part covers all of it (hooks on the part);
    backward covers its transformer layers (the sampler's head / the decoder's pixel head and norm are in "rest").
    """
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity, profile

    handles, open_ranges = [], {}

    def enter(key):
        rf = record_function(key)
        rf.__enter__()
        open_ranges.setdefault(key, []).append(rf)

    def leave(key):
        open_ranges[key].pop().__exit__(None, None, None)

    for part, module in groups_of(step.model).items():
        handles.append(module.register_forward_pre_hook(lambda m, a, k=f"fwd/{part}": enter(k)))
        handles.append(module.register_forward_hook(lambda m, a, o, k=f"fwd/{part}": leave(k)))
        layers = _layers_of(module)
        if layers:
            handles.append(layers[-1].register_full_backward_pre_hook(lambda m, g, k=f"bwd/{part}": enter(k)))
            handles.append(layers[0].register_full_backward_hook(lambda m, gi, go, k=f"bwd/{part}": leave(k)))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if step.device.type == "cuda" else [])
    try:
        with profile(activities=activities) as prof:
            for _ in range(steps):
                with record_function("step"):
                    loss = step.forward().loss
                    loss.backward()
                    with record_function("optimizer"):
                        step.optimizer.step()
                        step.optimizer.zero_grad(set_to_none=True)
            synchronize(step.device)
    finally:
        for handle in handles:
            handle.remove()
    averages = prof.key_averages()
    use_cuda = step.device.type == "cuda"
    seconds = {}
    for event in averages:
        if event.key == "step" or event.key == "optimizer" or event.key.startswith(("fwd/", "bwd/")):
            total_us = event.device_time_total if use_cuda and event.key != "step" else event.cpu_time_total
            seconds[event.key] = total_us / 1e6 / steps
    sort_by = "self_cuda_time_total" if use_cuda else "self_cpu_time_total"
    return seconds, averages.table(sort_by=sort_by, row_limit=12)


# --------------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------------
def environment(device) -> dict:
    import transformers

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_json_subprocess(args: list[str], timeout: float = 900) -> dict:
    """Run `python <args>` in a fresh process (same interpreter and environment); parse its last stdout line."""
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"subprocess {args} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f}"


@dataclass
class Ratio:
    name: str
    value: float
    target: float
    le: bool = True  # value <= target passes

    @property
    def ok(self) -> bool:
        return self.value <= self.target if self.le else self.value >= self.target

    def row(self) -> list:
        op = "<=" if self.le else ">="
        return [self.name, f"{self.value:.3f}", f"{op} {self.target:.3f}", "yes" if self.ok else "**no**"]


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("F",)]
