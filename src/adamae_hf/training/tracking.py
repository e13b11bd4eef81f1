"""What a run reports: its arguments as JSON / tracker values, and the one-line summary of the sampler-focus
metrics."""

from __future__ import annotations

import argparse
from typing import Any


__all__ = ["format_focus", "json_safe_args", "tracker_config"]


def json_safe_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments as JSON-able values (for trackers, `training_args.json` and the model card)."""
    result = {}
    for key, value in vars(args).items():
        if isinstance(value, (list, tuple)):
            value = list(value)
        elif not isinstance(value, (int, float, str, bool, type(None))):
            value = str(value)
        result[key] = value
    return result


def tracker_config(args: argparse.Namespace) -> dict[str, int | float | str | bool]:
    """The arguments as scalars (TensorBoard's hparams accept no `None` or lists)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in json_safe_args(args).items()}



def format_focus(metrics: dict[str, float]) -> str:
    """One line for the progress output: the sampler-focus metrics with their reference values."""
    parts = []
    if "object_mass_ratio" in metrics:
        best = 1.0 / metrics["object_token_share"] if metrics.get("object_token_share") else float("nan")
        parts.append(f"object-mass ratio {metrics['object_mass_ratio']:.2f} (uniform 1.00, all on the object "
                     f"{best:.1f})")  # fmt: skip
        parts.append(f"error ratio {metrics['error_ratio']:.2f}")
    parts.append(f"motion correlation {metrics['motion_correlation']:.2f}")
    parts.append(f"reconstruction loss (random mask) {metrics['reconstruction_loss']:.3f}")
    return ", ".join(parts)
