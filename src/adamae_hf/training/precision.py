"""Mixed precision on CPU: where it would make a run several times slower, the training scripts train in fp32 and
say so in one line.

bf16 autocast on CPU measured 2-4x slower per step than fp32 where the CPU lacks bf16 instructions (AVX512-BF16 or
AMX) and about as fast (0.7-1.4x, a loaded machine) where it has them (`benchmarks/bench_cpu_mixed_precision.py`,
results in `benchmarks/RESULTS.md`); Accelerate applies fp16 on GPUs only (`native_amp` is off on CPU). GPUs keep what
was asked for.
"""

from __future__ import annotations

import os


__all__ = ["cpu_has_bf16", "precision_for_device"]


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions that torch uses (AVX512-BF16 or AMX)."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def precision_for_device(requested: str | None, device_type: str) -> tuple[str | None, str | None]:
    """
    The mixed precision to train with, and the line to log where it differs from what was asked for.

    Args:
        requested: `"no"`, `"fp16"`, `"bf16"`, or `None` for Accelerate's `ACCELERATE_MIXED_PRECISION` (which
            `accelerate launch` sets from its config).
        device_type: the training device's type (`"cpu"`, `"cuda"`, ...).

    Returns:
        `(requested, None)` on an accelerator, for no mixed precision, and for bf16 on a CPU with bf16 instructions
        ([`cpu_has_bf16`]); `("no", note)` for fp16 on CPU and for bf16 on a CPU without them.
    """
    effective = requested if requested is not None else os.environ.get("ACCELERATE_MIXED_PRECISION")
    if device_type != "cpu" or effective not in ("bf16", "fp16") or (effective == "bf16" and cpu_has_bf16()):
        return requested, None
    why = (
        "this CPU has no bf16 instructions (AVX512-BF16 or AMX), where bf16 autocast measured 2-4x slower per step"
        " than fp32 (benchmarks/RESULTS.md)"
        if effective == "bf16"
        else "fp16 is a GPU format (Accelerate does not apply it on CPU)"
    )
    return "no", f"mixed precision {effective} on CPU: training in fp32 instead, as {why}. Mixed precision applies on GPUs."
