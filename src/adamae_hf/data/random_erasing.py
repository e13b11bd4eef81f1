"""The released fine-tuning's random erasing (wgcban/adamae `random_erasing.py`, `RandomErasing(reprob,
mode="pixel", max_count=1, num_splits=1, cube=True)` as `kinetics.py` / `ssv2.py` apply it to each clip, Zhong et
al. AAAI 2020): with probability `p`, one box, the same on every frame of the clip, is filled with per-pixel
standard normal noise (in normalised units), its area uniform in `[0.02, 1/3]` of the frame and its aspect ratio
log-uniform in `[0.3, 1/0.3]`; up to 100 tries find a box that fits.
"""

from __future__ import annotations

import math

import torch


class ClipRandomErasing:
    """Random erasing of normalised `(K, T, C, H, W)` clips, one draw per clip (see the module docstring).

    Random numbers come from torch's global generator, as kornia's transforms."""

    def __init__(self, p: float = 0.25, min_area: float = 0.02, max_area: float = 1 / 3, min_aspect: float = 0.3) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p}")
        if not 0.0 < min_area <= max_area <= 1.0:
            raise ValueError(f"need 0 < min_area <= max_area <= 1, got {min_area}, {max_area}")
        if not 0.0 < min_aspect <= 1.0:
            raise ValueError(f"min_aspect must lie in (0, 1], got {min_aspect}")
        self.p, self.min_area, self.max_area = p, min_area, max_area
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * torch.rand(()).item()

    def box(self, height: int, width: int) -> tuple[int, int, int, int] | None:
        """One draw: `(top, left, h, w)`, or `None` (no erasing: probability `1 - p`, or no box fitted)."""
        if torch.rand(()).item() >= self.p:
            return None
        for _ in range(100):
            area = self._uniform(self.min_area, self.max_area) * height * width
            aspect = math.exp(self._uniform(*self.log_aspect))
            h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if w < width and h < height:
                top = int(torch.randint(0, height - h + 1, ()).item())
                left = int(torch.randint(0, width - w + 1, ()).item())
                return top, left, h, w
        return None

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """`(K, T, C, H, W)` -> the same tensor, erased in place where drawn."""
        if clips.ndim != 5:
            raise ValueError(f"expected (K, T, C, H, W) clips, got shape {tuple(clips.shape)}")
        height, width = clips.shape[-2:]
        for clip in clips:
            box = self.box(height, width)
            if box is not None:
                top, left, h, w = box
                region = clip[..., top : top + h, left : left + w]
                region.copy_(torch.randn(region.shape, dtype=clip.dtype))
        return clips
