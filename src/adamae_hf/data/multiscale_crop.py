"""The released pre-training crop: TSN's multi-scale crop with fixed offsets (wgcban/adamae `transforms.py`,
`GroupMultiScaleCrop`, used by `datasets.py` `DataAugmentationForVideoMAE` as `GroupMultiScaleCrop(input_size,
[1, .875, .75, .66])`), one draw per clip applied to all of its frames, beside kornia's `RandomResizedCrop`
(`PretrainingTransform`).

A draw: the crop sides are `int(min(H, W) * s)` for each scale `s` (snapped to the output size when within 3 pixels
of it); a (width, height) pair is drawn uniformly among the pairs whose scale indices differ by at most
`max_distort` (1), so the aspect ratio changes by at most one scale step; the crop's corner is drawn uniformly among
13 fixed positions (the 4 corners, the centre, the 4 edge centres and the 4 quarter points of a grid of
`(W - w) // 4` by `(H - h) // 4` steps); the crop is resized to `image_size` (bilinear; PIL's downscaling, which
the released code uses, is antialiased, so is ours).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .transforms import _ClipTransform


DEFAULT_SCALES = (1.0, 0.875, 0.75, 0.66)


class MultiScaleCrop:
    """Multi-scale crop of `(K, T, C, H, W)` float clips to `(K, T, C, image_size, image_size)`, one draw per clip.

    Args:
        image_size: output side (the released `input_size`, 224).
        scales: crop sides as fractions of the short side (released: `(1, .875, .75, .66)`).
        max_distort: largest difference between the scale indices of the crop's width and height (released: 1).
        more_fix_crop: 13 fixed corner positions (released) instead of 5 (corners and centre).

    Random numbers come from torch's global generator (as kornia's transforms), so a seeded dataset item is
    reproducible.
    """

    def __init__(
        self, image_size: int, scales: Sequence[float] = DEFAULT_SCALES, max_distort: int = 1, more_fix_crop: bool = True
    ) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        if not scales or any(not 0.0 < s <= 1.0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of fractions in (0, 1], got {list(scales)}")
        if max_distort < 0:
            raise ValueError(f"max_distort must be >= 0, got {max_distort}")
        self.image_size, self.scales = image_size, tuple(float(s) for s in scales)
        self.max_distort, self.more_fix_crop = max_distort, more_fix_crop

    def crop_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The candidate `(crop_width, crop_height)` pairs for a `height x width` frame, in the released order
        (duplicates kept: a pair drawn from this list is drawn as the released code draws it)."""
        base = min(height, width)
        sides = [int(base * s) for s in self.scales]
        size = self.image_size
        crop_h = [size if abs(side - size) < 3 else side for side in sides]
        crop_w = [size if abs(side - size) < 3 else side for side in sides]
        return [(w, h) for i, h in enumerate(crop_h) for j, w in enumerate(crop_w) if abs(i - j) <= self.max_distort]

    def offsets(self, height: int, width: int, crop_height: int, crop_width: int) -> list[tuple[int, int]]:
        """The fixed `(left, top)` corners of a `crop_height x crop_width` crop, in the released order."""
        w_step, h_step = (width - crop_width) // 4, (height - crop_height) // 4
        corners = [(0, 0), (4 * w_step, 0), (0, 4 * h_step), (4 * w_step, 4 * h_step), (2 * w_step, 2 * h_step)]
        if self.more_fix_crop:
            corners += [
                (0, 2 * h_step), (4 * w_step, 2 * h_step), (2 * w_step, 4 * h_step), (2 * w_step, 0),
                (w_step, h_step), (3 * w_step, h_step), (w_step, 3 * h_step), (3 * w_step, 3 * h_step),
            ]  # fmt: skip
        return corners

    def sample(self, height: int, width: int) -> tuple[int, int, int, int]:
        """One draw: `(top, left, crop_height, crop_width)`."""
        pairs = self.crop_sizes(height, width)
        crop_w, crop_h = pairs[int(torch.randint(len(pairs), ()).item())]
        corners = self.offsets(height, width, crop_h, crop_w)
        left, top = corners[int(torch.randint(len(corners), ()).item())]
        return top, left, crop_h, crop_w

    def crop(self, clip: torch.Tensor, top: int, left: int, crop_height: int, crop_width: int) -> torch.Tensor:
        """`clip[..., top:top + h, left:left + w]` resized to `image_size` (bilinear, antialiased); `(T, C, H, W)`.

        A window reaching past the frame (a crop side snapped up to `image_size` on a frame less than 3 pixels
        larger) is filled with black there, as PIL's `Image.crop` does."""
        height, width = clip.shape[-2:]
        pad = (max(-left, 0), max(left + crop_width - width, 0), max(-top, 0), max(top + crop_height - height, 0))
        if any(pad):
            clip = F.pad(clip, pad)
            top, left = top + pad[2], left + pad[0]
        window = clip[..., top : top + crop_height, left : left + crop_width]
        size = (self.image_size, self.image_size)
        return F.interpolate(window, size=size, mode="bilinear", align_corners=False, antialias=True)

    def __call__(self, clips: torch.Tensor) -> torch.Tensor:
        """`(K, T, C, H, W)` -> `(K, T, C, image_size, image_size)`, one draw per clip."""
        if clips.ndim != 5:
            raise ValueError(f"expected (K, T, C, H, W) clips, got shape {tuple(clips.shape)}")
        height, width = clips.shape[-2:]
        out = [self.crop(clip, *self.sample(height, width)) for clip in clips]
        return torch.stack(out).clamp_(0, 1)


class MultiScaleCropTransform(_ClipTransform):
    """The released pre-training transform (`DataAugmentationForVideoMAE`): [`MultiScaleCrop`] then ImageNet
    normalisation; no flip (released), or with `horizontal_flip` a flip of the whole clip with probability 0.5. Takes `uint8` `(T, H, W, C)` or `(K, T, H, W, C)`, returns `float32` `(T, C, S, S)` or
    `(K, T, C, S, S)`, `S = image_size`, like `PretrainingTransform`, which it replaces under `--crop multiscale`."""

    def __init__(
        self,
        image_size: int,
        scales: Sequence[float] = DEFAULT_SCALES,
        horizontal_flip: bool = False,
        mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        std: Sequence[float] = IMAGENET_DEFAULT_STD,
    ) -> None:
        super().__init__(mean, std)
        self.image_size = image_size
        self.crop = MultiScaleCrop(image_size, scales)
        self.horizontal_flip = horizontal_flip

    def augment(self, clips: torch.Tensor) -> torch.Tensor:
        clips = self.crop(clips)
        if self.horizontal_flip:
            flip = torch.rand(clips.shape[0]) < 0.5
            clips = torch.where(flip.view(-1, 1, 1, 1, 1), clips.flip(-1), clips)
        return self.normalize(clips)
