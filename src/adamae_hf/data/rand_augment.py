"""The released fine-tuning RandAugment for video clips: timm's increasing-severity policy
(``rand-mM-nN-mstdS-inc1``), one draw per clip applied to every frame, with PIL's definition of each operation.

The released AdaMAE code (wgcban/adamae ``rand_augment.py``, VideoMAE's copy of timm's ``auto_augment.py``, called
from ``kinetics.py`` / ``ssv2.py`` ``_aug_frame`` through ``video_transforms.py:621-654`` ``create_random_augment``)
augments the decoded full-size frames before the random resized crop:

- ``RandAugment.__call__`` (``rand_augment.py:468-478``): ``num_ops`` operations drawn uniformly **with
  replacement** from the 15 of ``_RAND_INCREASING_TRANSFORMS`` (``rand_augment.py:404-420``; the config string has
  no ``w``, so no choice weights);
- ``AugmentOp.__call__`` (``rand_augment.py:364-382``): each operation is applied with probability 0.5; its
  magnitude is drawn from ``N(magnitude, magnitude_std)`` and clipped to ``[0, 10]``; the magnitude is mapped to
  the operation's argument (``rand_augment.py:195-277``, signs drawn with probability 0.5) and that one argument is
  applied to every frame of the list;
- the operations are PIL's (``rand_augment.py:64-192``), with bicubic resampling (``finetune_class.py:94``
  ``--train_interpolation bicubic``) and fill colour ``(128, 128, 128)`` for the geometric ones (``_FILL``:
  ``create_random_augment`` passes no ``img_mean``).

Here the operations run in torch on uint8 ``(T, C, H, W)`` frames (all frames of a clip at once) and follow PIL's
C code (Pillow 12: ``ImageOps``, ``ImageEnhance``, ``libImaging/Geometry.c``, ``Filter.c``, ``Blend.c``,
``Convert.c``) including its integer rounding: every operation is bit-equal to PIL's on RGB frames
(``tests/test_rand_augment.py`` compares each with Pillow). kornia's ``kornia.enhance`` ops work on floats in
[0, 1]; several are other operations than PIL's (``adjust_brightness`` adds instead of scaling, ``adjust_contrast``
scales without the mean, ``adjust_saturation`` works in HSV) and the closest ones round differently
(``sharpness``, ``adjust_contrast_with_mean_subtraction``, ``adjust_saturation_with_gray_subtraction``: off by one
on a third to a half of the pixels); ``equalize`` gave PIL's values on the frames tried, but through floats,
where the uint8 histogram below needs no conversion. ``grid_sample``'s bicubic kernel (a = -0.75) and soft borders
are not PIL's (a = -1, clamped taps, a hard edge to the fill colour). So none is used. The random draws come from
torch (not Python's ``random`` / numpy as released): the same distributions, not the same streams.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


MAX_LEVEL = 10.0  # rand_augment.py:40 (_MAX_LEVEL)
FILL = (128, 128, 128)  # rand_augment.py:36 (_FILL): the geometric operations' fill colour
AFFINE_CHUNK = 2048  # output pixels per step of affine()
TRANSLATE_PCT = 0.45  # rand_augment.py:236: the default translate_pct (create_random_augment sets none)

# rand_augment.py:404-420
RAND_INCREASING_TRANSFORMS = (
    "AutoContrast",
    "Equalize",
    "Invert",
    "Rotate",
    "PosterizeIncreasing",
    "SolarizeIncreasing",
    "SolarizeAdd",
    "ColorIncreasing",
    "ContrastIncreasing",
    "BrightnessIncreasing",
    "SharpnessIncreasing",
    "ShearX",
    "ShearY",
    "TranslateXRel",
    "TranslateYRel",
)


# ---------------------------------------------------------------------------------------------------------------
# Magnitude (0-10) -> operation argument: rand_augment.py:195-277. `negate` is the released _randomly_negate draw.
# ---------------------------------------------------------------------------------------------------------------
def rotate_level_to_arg(level: float, negate: bool) -> float:
    """Degrees in [-30, 30]: ``level / 10 * 30``, negated (``_rotate_level_to_arg``, ``rand_augment.py:200-204``)."""
    degrees = level / MAX_LEVEL * 30.0
    return -degrees if negate else degrees


def enhance_increasing_level_to_arg(level: float, negate: bool) -> float:
    """Blend factor in [0.1, 1.9]: ``1 +- level / 10 * 0.9`` (``_enhance_increasing_level_to_arg``,
    ``rand_augment.py:212-217``)."""
    delta = level / MAX_LEVEL * 0.9
    return 1.0 + (-delta if negate else delta)


def shear_level_to_arg(level: float, negate: bool) -> float:
    """Shear factor in [-0.3, 0.3] (``_shear_level_to_arg``, ``rand_augment.py:220-224``)."""
    factor = level / MAX_LEVEL * 0.3
    return -factor if negate else factor


def translate_rel_level_to_arg(level: float, negate: bool) -> float:
    """Fraction of the frame's width / height in [-0.45, 0.45] (``_translate_rel_level_to_arg``,
    ``rand_augment.py:234-239``)."""
    pct = level / MAX_LEVEL * TRANSLATE_PCT
    return -pct if negate else pct


def posterize_increasing_level_to_arg(level: float, negate: bool = False) -> int:
    """Bits kept, 4 down to 0: ``4 - int(level / 10 * 4)`` (``rand_augment.py:242-253``)."""
    return 4 - int(level / MAX_LEVEL * 4)


def solarize_increasing_level_to_arg(level: float, negate: bool = False) -> int:
    """Threshold, 256 down to 0: ``256 - int(level / 10 * 256)`` (``rand_augment.py:263-272``)."""
    return 256 - int(level / MAX_LEVEL * 256)


def solarize_add_level_to_arg(level: float, negate: bool = False) -> int:
    """Amount added below 128, 0 to 110: ``int(level / 10 * 110)`` (``rand_augment.py:275-277``)."""
    return int(level / MAX_LEVEL * 110)


LEVEL_TO_ARG: dict[str, Callable[[float, bool], float] | None] = {  # rand_augment.py:280-306
    "AutoContrast": None,
    "Equalize": None,
    "Invert": None,
    "Rotate": rotate_level_to_arg,
    "PosterizeIncreasing": posterize_increasing_level_to_arg,
    "SolarizeIncreasing": solarize_increasing_level_to_arg,
    "SolarizeAdd": solarize_add_level_to_arg,
    "ColorIncreasing": enhance_increasing_level_to_arg,
    "ContrastIncreasing": enhance_increasing_level_to_arg,
    "BrightnessIncreasing": enhance_increasing_level_to_arg,
    "SharpnessIncreasing": enhance_increasing_level_to_arg,
    "ShearX": shear_level_to_arg,
    "ShearY": shear_level_to_arg,
    "TranslateXRel": translate_rel_level_to_arg,
    "TranslateYRel": translate_rel_level_to_arg,
}


# ---------------------------------------------------------------------------------------------------------------
# The operations, PIL's definitions on uint8 frames (N, C, H, W) with C = 3 (RGB)
# ---------------------------------------------------------------------------------------------------------------
def _grayscale(frames: torch.Tensor) -> torch.Tensor:
    """PIL's ``convert("L")``: ``(19595 R + 38470 G + 7471 B + 2**15) >> 16`` (ITU-R 601-2 in 16-bit fixed point).
    uint8 (N, 3, H, W) -> int32 (N, 1, H, W)."""
    rgb = frames.to(torch.int32)
    return (rgb[:, :1] * 19595 + rgb[:, 1:2] * 38470 + rgb[:, 2:3] * 7471 + 0x8000) >> 16


def _blend(degenerate: torch.Tensor, frames: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, frames, factor)`` (``ImageEnhance._Enhance.enhance``): in float32,
    ``degenerate + factor * (frames - degenerate)``, clipped to [0, 255] and truncated."""
    alpha = torch.tensor(factor, dtype=torch.float32, device=frames.device)
    difference = (frames.to(torch.int32) - degenerate.to(torch.int32)).to(torch.float32)
    out = degenerate.to(torch.float32) + alpha * difference
    return out.clamp_(0, 255).to(torch.uint8)  # the cast truncates, as PIL's (UINT8)


def auto_contrast(frames: torch.Tensor) -> torch.Tensor:
    """``ImageOps.autocontrast``: per frame and channel, ``int(x * 255 / (hi - lo) - lo * 255 / (hi - lo))`` (float64),
    clipped; a channel with one value is kept."""
    lo = frames.amin((2, 3), keepdim=True).to(torch.float64)
    hi = frames.amax((2, 3), keepdim=True).to(torch.float64)
    scale = 255.0 / (hi - lo).clamp(min=1)
    offset = -lo * scale
    out = (frames.to(torch.float64) * scale + offset).trunc_().clamp_(0, 255).to(torch.uint8)
    return torch.where(hi > lo, out, frames)


def equalize(frames: torch.Tensor) -> torch.Tensor:
    """``ImageOps.equalize``: per frame and channel, with the histogram ``h`` and ``step = (sum(h) - h[last non-empty
    bin]) // 255``, ``x -> (step // 2 + sum(h[:x])) // step`` clipped to 255; identity where ``step`` is 0 or one bin
    is used."""
    n, c, h, w = frames.shape
    flat = frames.reshape(n * c, h * w).to(torch.int64)
    rows = torch.arange(n * c, device=frames.device)[:, None]
    hist = torch.bincount((flat + rows * 256).flatten(), minlength=n * c * 256).view(n * c, 256)
    levels = torch.arange(256, device=frames.device)
    last = torch.where(hist > 0, levels, -1).amax(1, keepdim=True)
    step = (hist.sum(1, keepdim=True) - hist.gather(1, last)) // 255
    lut = (step // 2 + hist.cumsum(1) - hist) // step.clamp(min=1)
    identity = ((hist > 0).sum(1, keepdim=True) <= 1) | (step == 0)
    lut = torch.where(identity, levels, lut.clamp(max=255))
    return lut.gather(1, flat).to(torch.uint8).view(n, c, h, w)


def invert(frames: torch.Tensor) -> torch.Tensor:
    """``ImageOps.invert``: ``255 - x``."""
    return 255 - frames


def posterize(frames: torch.Tensor, bits: int) -> torch.Tensor:
    """``ImageOps.posterize``: keep the ``bits`` (0-8) most significant bits."""
    return frames & ((0xFF << (8 - bits)) & 0xFF)


def solarize(frames: torch.Tensor, threshold: int) -> torch.Tensor:
    """``ImageOps.solarize``: ``x`` below ``threshold``, else ``255 - x``."""
    return torch.where(
        frames.to(torch.int16) < threshold, frames, 255 - frames
    )  # int16: threshold may be 256


def solarize_add(frames: torch.Tensor, add: int, threshold: int = 128) -> torch.Tensor:
    """``solarize_add`` (``rand_augment.py:158-170``): ``min(255, x + add)`` below ``threshold``, else ``x``."""
    return torch.where(
        frames < threshold, (frames.to(torch.int32) + add).clamp_(max=255).to(torch.uint8), frames
    )


def color(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """``ImageEnhance.Color``: blend with the frame's grayscale (``convert("L").convert("RGB")``)."""
    return _blend(_grayscale(frames).expand_as(frames), frames, factor)


def contrast(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """``ImageEnhance.Contrast``: blend with the frame's mean grayscale level, ``int(mean + 0.5)``."""
    gray = _grayscale(frames)
    mean = gray.sum((1, 2, 3), keepdim=True).to(torch.float64) / gray[0].numel()
    return _blend((mean + 0.5).floor_().expand_as(frames), frames, factor)


def brightness(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """``ImageEnhance.Brightness``: blend with black."""
    return _blend(torch.zeros_like(frames), frames, factor)


def _smooth(frames: torch.Tensor) -> torch.Tensor:
    """``ImageFilter.SMOOTH`` (3 x 3 kernel ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``, ``Filter.c``
    ``ImagingFilter3x3``): float32 sums in PIL's order plus 0.5, truncated; the border pixels are kept."""
    if frames.shape[-1] < 3 or frames.shape[-2] < 3:
        return frames.clone()
    x = frames.to(torch.float32)
    side = torch.tensor(1 / 13, dtype=torch.float32, device=frames.device)
    centre = torch.tensor(5 / 13, dtype=torch.float32, device=frames.device)

    def row(
        r: torch.Tensor, middle: torch.Tensor
    ) -> torch.Tensor:  # in[x-1] * k0 + in[x] * k1 + in[x+1] * k2
        return r[..., :-2] * side + r[..., 1:-1] * middle + r[..., 2:] * side

    ss = row(x[..., 2:, :], side) + 0.5  # the row below first, then the row itself, then the row above
    ss = ss + row(x[..., 1:-1, :], centre)
    ss = ss + row(x[..., :-2, :], side)
    out = frames.clone()
    out[..., 1:-1, 1:-1] = ss.clamp_(0, 255).to(torch.uint8)
    return out


def sharpness(frames: torch.Tensor, factor: float) -> torch.Tensor:
    """``ImageEnhance.Sharpness``: blend with ``ImageFilter.SMOOTH`` of the frame."""
    return _blend(_smooth(frames), frames, factor)


def _cubic(
    v1: torch.Tensor, v2: torch.Tensor, v3: torch.Tensor, v4: torch.Tensor, d: torch.Tensor
) -> torch.Tensor:
    """PIL's ``BICUBIC`` macro (``Geometry.c``: the cubic convolution with a = -1, Horner's form), the value at
    ``d`` in [0, 1) past ``v2``; the same float64 operations as PIL's, in place (``v1`` is overwritten)."""
    p2 = v3 - v1  # -v1 + v3
    p4 = v2 - v1
    p4 -= v3
    p4 += v4  # -v1 + v2 - v3 + v4
    p3 = v1.sub_(v2).mul_(2)
    p3 += v3
    p3 -= v4  # 2 (v1 - v2) + v3 - v4
    p4 *= d
    p4 += p3
    p4 *= d
    p4 += p2
    p4 *= d
    p4 += v2  # v2 + d (p2 + d (p3 + d p4))
    return p4


def affine(frames: torch.Tensor, matrix: Sequence[float], fill: Sequence[int] = FILL) -> torch.Tensor:
    """PIL's ``Image.transform(size, Image.AFFINE, matrix, resample=BICUBIC, fillcolor=fill)``.

    Output pixel ``(x, y)`` samples the input at ``(a X + b Y + c, d X + e Y + f)``, ``X = x + 0.5``,
    ``Y = y + 0.5`` (``affine_transform``); outside ``[0, W) x [0, H)`` it is ``fill``; inside, PIL's bicubic filter
    (``bicubic_filter32RGB``: the 4 x 4 taps around ``(x - 0.5, y - 0.5)``, clamped to the frame, rows first, in
    float64), clipped to [0, 255] and truncated. uint8 ``(N, C, H, W)`` -> same; the same matrix for every frame.
    The output pixels are computed in chunks of :data:`AFFINE_CHUNK` (all frames at once), which keeps the float64
    temporaries in cache.
    """
    n, c, h, w = frames.shape
    device = frames.device
    a, b, cc, d, e, f = (float(v) for v in matrix)
    ys = torch.arange(h, device=device, dtype=torch.float64)[:, None] + 0.5
    xs = torch.arange(w, device=device, dtype=torch.float64)[None, :] + 0.5
    xin = (a * xs + b * ys + cc).flatten()  # (H * W,)
    yin = (d * xs + e * ys + f).flatten()
    inside = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    xin, yin = xin - 0.5, yin - 0.5
    x0, y0 = xin.floor(), yin.floor()
    dx, dy = (xin - x0)[:, None], (yin - y0)[:, None]
    # a direction sampled on the pixel grid (shears, translations) needs its centre tap only: PIL's cubic at d = 0
    # is exactly that tap
    cols = [(x0.long() + k).clamp_(0, w - 1) for k in ((-1, 0, 1, 2) if bool(dx.any()) else (0,))]
    rows = [(y0.long() + k).clamp_(0, h - 1) * w for k in ((-1, 0, 1, 2) if bool(dy.any()) else (0,))]
    src = frames.reshape(n * c, h * w).t()  # (H * W, N * C): one gathered row holds a pixel of every frame
    out = torch.empty(h * w, n * c, dtype=torch.uint8, device=device)
    for start in range(0, h * w, AFFINE_CHUNK):
        part = slice(start, start + AFFINE_CHUNK)
        row_values = []
        for row in rows:
            taps = [src.index_select(0, row[part] + col[part]).to(torch.float64) for col in cols]
            row_values.append(_cubic(*taps, dx[part]) if len(taps) == 4 else taps[0])
        value = _cubic(*row_values, dy[part]) if len(row_values) == 4 else row_values[0]
        out[part] = value.clamp_(0, 255)  # the uint8 copy truncates, as PIL's (UINT8)
    fill_value = torch.tensor(fill, dtype=torch.uint8, device=device).repeat(n)
    out = torch.where(inside[:, None], out, fill_value)
    return out.t().reshape(n, c, h, w)


def rotate(frames: torch.Tensor, degrees: float, fill: Sequence[int] = FILL) -> torch.Tensor:
    """PIL's ``Image.rotate(degrees, resample=BICUBIC, fillcolor=fill)``: counter-clockwise about the frame's centre,
    same size; the inverse matrix with ``round(cos, 15)`` / ``round(sin, 15)``, as PIL's; angle 0 is a copy."""
    angle = degrees % 360.0
    if angle == 0:
        return frames.clone()
    h, w = frames.shape[-2:]
    cx, cy = w / 2, h / 2
    radians = -math.radians(angle)
    cos, sin = round(math.cos(radians), 15), round(math.sin(radians), 15)
    matrix = [cos, sin, 0.0, round(-math.sin(radians), 15), cos, 0.0]
    matrix[2] = matrix[0] * -cx + matrix[1] * -cy + matrix[2] + cx
    matrix[5] = matrix[3] * -cx + matrix[4] * -cy + matrix[5] + cy
    return affine(frames, matrix, fill)


def _apply(name: str, frames: torch.Tensor, arg: float | None, fill: Sequence[int]) -> torch.Tensor:
    """Operation ``name`` of :data:`RAND_INCREASING_TRANSFORMS` with its argument (``rand_augment.py:309-334``)."""
    h, w = frames.shape[-2:]
    if name == "AutoContrast":
        return auto_contrast(frames)
    if name == "Equalize":
        return equalize(frames)
    if name == "Invert":
        return invert(frames)
    if name == "Rotate":
        return rotate(frames, arg, fill)
    if name == "PosterizeIncreasing":
        return frames if arg >= 8 else posterize(frames, int(arg))
    if name == "SolarizeIncreasing":
        return solarize(frames, int(arg))
    if name == "SolarizeAdd":
        return solarize_add(frames, int(arg))
    if name == "ColorIncreasing":
        return color(frames, arg)
    if name == "ContrastIncreasing":
        return contrast(frames, arg)
    if name == "BrightnessIncreasing":
        return brightness(frames, arg)
    if name == "SharpnessIncreasing":
        return sharpness(frames, arg)
    if name == "ShearX":
        return affine(frames, (1, arg, 0, 0, 1, 0), fill)
    if name == "ShearY":
        return affine(frames, (1, 0, 0, arg, 1, 0), fill)
    if name == "TranslateXRel":
        return affine(frames, (1, 0, arg * w, 0, 1, 0), fill)
    if name == "TranslateYRel":
        return affine(frames, (1, 0, 0, 0, 1, arg * h), fill)
    raise ValueError(f"unknown RandAugment operation {name!r}; expected one of {RAND_INCREASING_TRANSFORMS}")


class VideoRandAugment:
    """The released fine-tuning RandAugment (timm's ``rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}-inc1``,
    wgcban/adamae ``rand_augment.py:337-531`` through ``video_transforms.py:621-654``; the released recipe is
    ``rand-m7-n4-mstd0.5-inc1``, ``finetune_class.py:90``), one draw per clip applied to all of its frames.

    For each clip: ``num_ops`` operations drawn uniformly with replacement from :data:`RAND_INCREASING_TRANSFORMS`;
    each applied with probability ``prob``, with its own magnitude ``N(magnitude, magnitude_std)`` clipped to
    [0, 10] and its own sign, mapped to its argument as :data:`LEVEL_TO_ARG`. The operations are PIL's (see the
    module docstring): apply it to the full frames before the crop, as released.

    Args:
        num_ops: operations per clip (``n``), >= 0.
        magnitude: mean magnitude (``m``), in [0, 10].
        magnitude_std: its standard deviation (``mstd``), >= 0; 0 keeps every magnitude at ``magnitude``.
        prob: probability that each drawn operation is applied (0.5 released).
        fill: the fill colour of rotations, shears and translations (``(128, 128, 128)`` released).

    Raises:
        ValueError: for an argument out of range, or (on call) a clip not ``(T, 3, H, W)`` / ``(K, T, 3, H, W)``.
    """

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9.0,
        magnitude_std: float = 0.5,
        prob: float = 0.5,
        fill: Sequence[int] = FILL,
    ) -> None:
        if num_ops < 0:
            raise ValueError(f"num_ops must be >= 0, got {num_ops}")
        if not 0 <= magnitude <= MAX_LEVEL:
            raise ValueError(f"magnitude must be in [0, {MAX_LEVEL:g}], got {magnitude}")
        if magnitude_std < 0:
            raise ValueError(f"magnitude_std must be >= 0, got {magnitude_std}")
        if not 0 <= prob <= 1:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if len(fill) != 3 or not all(0 <= v <= 255 for v in fill):
            raise ValueError(f"fill must be 3 values in [0, 255], got {fill}")
        self.num_ops, self.magnitude, self.magnitude_std = int(num_ops), float(magnitude), float(magnitude_std)
        self.prob, self.fill = float(prob), tuple(int(v) for v in fill)

    @property
    def config_str(self) -> str:
        """timm's name of the policy, e.g. ``rand-m7-n4-mstd0.5-inc1`` (the released ``--aa``)."""
        return f"rand-m{self.magnitude:g}-n{self.num_ops}-mstd{self.magnitude_std:g}-inc1"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config_str}, prob={self.prob:g}, fill={self.fill})"

    def sample(self, generator: torch.Generator | None = None) -> list[tuple[str, float | None]]:
        """One clip's draw: the applied operations in order, each as ``(name, argument)`` (``None`` for
        AutoContrast / Equalize / Invert). All draws from ``generator`` (default: torch's global generator)."""
        n = self.num_ops
        choices = torch.randint(len(RAND_INCREASING_TRANSFORMS), (n,), generator=generator).tolist()
        applied = (torch.rand(n, generator=generator) <= self.prob).tolist()  # released: skipped if > prob
        noise = torch.randn(n, generator=generator, dtype=torch.float64).tolist()
        negate = (torch.rand(n, generator=generator) > 0.5).tolist()  # _randomly_negate: -v if random() > 0.5
        ops = []
        for choice, apply, z, neg in zip(choices, applied, noise, negate):
            if not apply:
                continue
            name = RAND_INCREASING_TRANSFORMS[choice]
            level = self.magnitude + self.magnitude_std * z if self.magnitude_std > 0 else self.magnitude
            level = min(MAX_LEVEL, max(0.0, level))
            level_fn = LEVEL_TO_ARG[name]
            ops.append((name, level_fn(level, neg) if level_fn is not None else None))
        return ops

    def apply(self, frames: torch.Tensor, ops: Sequence[tuple[str, float | None]]) -> torch.Tensor:
        """Apply ``ops`` (as from :meth:`sample`) to uint8 frames ``(T, 3, H, W)``, the same to every frame."""
        for name, arg in ops:
            frames = _apply(name, frames, arg, self.fill)
        return frames

    def __call__(self, clips: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``clips``: ``(T, 3, H, W)`` or ``(K, T, 3, H, W)``, uint8 or float in [0, 1] (float clips are rounded to
        the 256 levels of uint8, the frames PIL works on). Returns the same shape and dtype (floats in [0, 1], on the
        1/255 grid), with one independent draw per clip."""
        if clips.ndim not in (4, 5) or clips.shape[-3] != 3:
            raise ValueError(
                f"expected (T, 3, H, W) or (K, T, 3, H, W) RGB clips, got shape {tuple(clips.shape)}"
            )
        batch = clips if clips.ndim == 5 else clips.unsqueeze(0)
        is_float = batch.dtype.is_floating_point
        if is_float:
            frames = batch.mul(255).round_().clamp_(0, 255).to(torch.uint8)
        elif batch.dtype == torch.uint8:
            frames = batch
        else:
            raise ValueError(f"expected uint8 or float clips, got {batch.dtype}")
        out = torch.stack(
            [self.apply(clip, self.sample(generator)) for clip in frames]
        )  # K clips of one item
        if is_float:
            out = out.to(batch.dtype).div_(255)
        return out if clips.ndim == 5 else out[0]
