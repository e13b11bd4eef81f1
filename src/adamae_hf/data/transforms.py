"""Clip transforms (kornia), with one random draw per clip applied to all of its frames.

All transforms take ``uint8`` clips ``(T, H, W, C)`` or ``(K, T, H, W, C)`` (as returned by
:func:`~adamae_hf.data.read_video_clips`) and return ``float32`` ``(T, C, h, w)`` or ``(K, T, C, h, w)``,
scaled to [0, 1] and normalised with ``mean`` / ``std`` (ImageNet by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import kornia.augmentation as K
import torch
from kornia.geometry.transform import resize
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .rand_augment import VideoRandAugment
from .random_erasing import ClipRandomErasing


def _to_clips(video: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """uint8 (T, H, W, C) or (K, T, H, W, C) -> float (K, T, C, H, W) in [0, 1], and whether K was added."""
    if video.ndim not in (4, 5):
        raise ValueError(f"expected a (T, H, W, C) or (K, T, H, W, C) clip, got shape {tuple(video.shape)}")
    single = video.ndim == 4
    clips = video.unsqueeze(0) if single else video
    clips = clips.permute(0, 1, 4, 2, 3)
    clips = clips.float().div_(255) if clips.dtype == torch.uint8 else clips.float()
    return clips, single


def _check_scale_ratio(scale: tuple[float, float], ratio: tuple[float, float]) -> None:
    if not 0 < scale[0] <= scale[1] or not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"scale and ratio must be increasing positive pairs, got {scale} and {ratio}")


class _ClipTransform:
    """Shared scaling / normalisation; subclasses implement ``augment`` on (K, T, C, H, W) in [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 1, -1, 1, 1)

    def augment(self, clips: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        return (clips - self.mean) / self.std

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        clips, single = _to_clips(video)
        clips = self.augment(clips)
        return clips[0] if single else clips


class PretrainingTransform(_ClipTransform):
    """Random resized crop (``scale``, ``ratio``), optional horizontal flip, normalisation; one draw per clip.

    Output ``(…, T, C, image_size, image_size)``. The boxes are kornia's ``RandomResizedCrop`` draws
    (:func:`sample_resized_crop_boxes`, from torch's global generator); each box is cut from the uint8 frames and
    resized bilinearly (``align_corners=False``, no antialiasing, as kornia's crop-then-resize) before the
    conversion to float, which costs a quarter of converting whole frames first.
    """

    def __init__(
        self,
        image_size: int,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        horizontal_flip: bool = True,
        mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        std: Sequence[float] = IMAGENET_DEFAULT_STD,
    ) -> None:
        super().__init__(mean, std)
        _check_scale_ratio(scale, ratio)
        self.image_size, self.scale, self.ratio = image_size, tuple(scale), tuple(ratio)
        self.horizontal_flip = horizontal_flip

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim not in (4, 5):
            raise ValueError(f"expected a (T, H, W, C) or (K, T, H, W, C) clip, got shape {tuple(video.shape)}")
        single = video.ndim == 4
        clips = video.unsqueeze(0) if single else video  # (K, T, H, W, C)
        k, _, height, width, _ = clips.shape
        boxes = sample_resized_crop_boxes(torch.tensor([[height, width]]).expand(k, 2), self.scale, self.ratio)
        boxes = (boxes * torch.tensor([width, height, width, height])).round().long().tolist()  # pixels
        flips = (torch.rand(k) < 0.5).tolist() if self.horizontal_flip else [False] * k
        out = []
        for (x0, y0, box_width, box_height), flip in zip(boxes, flips):  # K clips of one video (1 in pre-training)
            crop = clips[len(out), :, y0 : y0 + box_height, x0 : x0 + box_width].permute(0, 3, 1, 2)  # (T, C, h, w)
            if crop.dtype != torch.uint8:
                crop = crop.float() * 255  # float clips are in [0, 1]
            crop = torch.nn.functional.interpolate(
                crop, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            ).contiguous()  # channels-first again (the crop of (T, H, W, C) frames is channels-last)
            out.append(crop.flip(-1) if flip else crop)
        clips = torch.stack(out).float()  # (K, T, C, S, S), 0..255
        clips = clips.mul_(1 / (255 * self.std)).sub_(self.mean / self.std)  # the normalisation in place
        return clips[0] if single else clips


class FinetuningTransform(_ClipTransform):
    """Fine-tuning augmentation (VideoMAE's recipe), one draw per clip:

    RandAugment on the full frames (:class:`~adamae_hf.data.rand_augment.VideoRandAugment`, the released policy
    ``rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}-inc1``; the defaults are ``rand-m9-n2-mstd0.5-inc1``), random
    resized crop (``scale``), optional horizontal flip, normalisation, then random erasing with probability
    ``random_erasing`` (the erased box is filled with 0, i.e. the mean colour, or with ``random_erasing_fill="pixel"``
    as released: per-pixel normal noise, :class:`~adamae_hf.data.random_erasing.ClipRandomErasing`). Output
    ``(…, T, C, image_size, image_size)``.

    The crop is kornia's ``RandomResizedCrop``, or with ``released_crop`` the released one (wgcban/adamae
    ``video_transforms.py`` ``random_resized_crop``): the same 10 tries, but a frame on which none fits is cropped
    at its centre, not at a random position (:func:`sample_resized_crop_boxes` with ``centred_fallback``, from torch's
    global generator), then resized bilinearly without antialiasing (:func:`resized_crop`), batched over the clips.
    """

    def __init__(
        self,
        image_size: int,
        rand_augment: bool = True,
        rand_augment_num_ops: int = 2,
        rand_augment_magnitude: float = 9.0,
        rand_augment_magnitude_std: float = 0.5,
        random_erasing: float = 0.25,
        random_erasing_fill: str = "zero",
        horizontal_flip: bool = True,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        std: Sequence[float] = IMAGENET_DEFAULT_STD,
        released_crop: bool = False,
    ) -> None:
        super().__init__(mean, std)
        _check_scale_ratio(scale, ratio)
        self.image_size, self.scale, self.ratio = image_size, tuple(scale), tuple(ratio)
        self.horizontal_flip, self.released_crop = horizontal_flip, released_crop
        self.rand_augment = (
            VideoRandAugment(rand_augment_num_ops, rand_augment_magnitude, rand_augment_magnitude_std)
            if rand_augment
            else None
        )
        ops = [K.RandomResizedCrop((image_size, image_size), scale=scale, ratio=ratio, align_corners=False)]
        if horizontal_flip:
            ops.append(K.RandomHorizontalFlip())
        self.spatial = None if released_crop else K.VideoSequential(*ops, data_format="BTCHW", same_on_frame=True)
        if random_erasing_fill not in ("zero", "pixel"):
            raise ValueError(f"random_erasing_fill must be 'zero' or 'pixel', got {random_erasing_fill!r}")
        self.erasing = (
            K.VideoSequential(K.RandomErasing(p=random_erasing), data_format="BTCHW", same_on_frame=True)
            if random_erasing_fill == "zero"
            else ClipRandomErasing(random_erasing)  # the released erasing (per-pixel noise)
        ) if random_erasing > 0 else None

    def crop(self, clips: torch.Tensor) -> torch.Tensor:
        """The random resized crop and flip of float clips ``(K, T, C, H, W)`` -> ``(K, T, C, S, S)``."""
        if not self.released_crop:
            return self.spatial(clips)
        k, _, _, height, width = clips.shape
        boxes = sample_resized_crop_boxes(torch.tensor([[height, width]]).expand(k, 2), self.scale, self.ratio,
                                          centred_fallback=True)  # fmt: skip
        flips = torch.rand(k) < 0.5 if self.horizontal_flip else None
        return resized_crop(clips, (boxes * torch.tensor([width, height, width, height])).round(), self.image_size, flips)

    def augment(self, clips: torch.Tensor) -> torch.Tensor:
        if self.rand_augment is not None:  # on the full frames, before the crop, as released (kinetics.py:169-197)
            clips = self.rand_augment(clips)
        clips = self.crop(clips)
        clips = self.normalize(clips)
        return self.erasing(clips) if self.erasing is not None else clips


class EvalTransform(_ClipTransform):
    """Evaluation: resize the short side to ``resize_size`` (default ``image_size``), then a centre crop
    (``num_crops=1``) or 3 crops along the long side (``num_crops=3``: start, centre, end; VideoMAE's
    test protocol), normalisation.

    The resize is bilinear. With ``antialias`` (the default) it is kornia's, Gaussian-smoothed before shrinking;
    without, it is the released test resize (wgcban/adamae ``functional.py`` ``resize_clip``, OpenCV's
    ``INTER_LINEAR``): half-pixel centres, no smoothing (``F.interpolate(mode="bilinear", align_corners=False)``), the
    long side ``int(resize_size * long / short)``. The released frames are uint8 after OpenCV's resize (11-bit
    fixed-point weights, rounded); ours stay float, within about half a grey level of them.

    Output ``(T, C, S, S)`` for one clip and one crop, else ``(K * num_crops, T, C, S, S)`` ordered clip-major
    (clip 0 crop 0, clip 0 crop 1, …).
    """

    def __init__(
        self,
        image_size: int,
        num_crops: int = 1,
        resize_size: int | None = None,
        mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        std: Sequence[float] = IMAGENET_DEFAULT_STD,
        antialias: bool = True,
    ) -> None:
        super().__init__(mean, std)
        if num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
        self.image_size, self.num_crops, self.antialias = image_size, num_crops, antialias
        self.resize_size = resize_size or image_size
        if self.resize_size < image_size:
            raise ValueError(f"resize_size ({self.resize_size}) must be >= image_size ({image_size})")

    def resize(self, frames: torch.Tensor) -> torch.Tensor:
        """Float frames ``(N, C, H, W)`` -> ``(N, C, h, w)``, the short side ``resize_size``."""
        if self.antialias:
            return resize(frames, self.resize_size, side="short", antialias=True).clamp_(0, 1)
        height, width = frames.shape[-2:]
        size = self.resize_size  # the released get_resize_sizes: the long side int(size * long / short)
        shape = (size, size * width // height) if width >= height else (size * height // width, size)
        return torch.nn.functional.interpolate(frames, size=shape, mode="bilinear", align_corners=False)

    def augment(self, clips: torch.Tensor) -> torch.Tensor:
        k, t, c, h, w = clips.shape
        frames = self.resize(clips.reshape(k * t, c, h, w)).unflatten(0, (k, t))  # (K, T, C, h, w)
        h, w = frames.shape[-2:]
        size = self.image_size
        if self.num_crops == 1:
            tops, lefts = [(h - size) // 2], [(w - size) // 2]
        elif h >= w:  # crops along the long side
            tops, lefts = [0, (h - size) // 2, h - size], [(w - size) // 2] * 3
        else:
            tops, lefts = [(h - size) // 2] * 3, [0, (w - size) // 2, w - size]
        crops = torch.stack([frames[..., y : y + size, x : x + size] for y, x in zip(tops, lefts)], dim=1)  # (K, S, T, ...)
        return self.normalize(crops.reshape(k * self.num_crops, t, c, size, size))

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        clips, single = _to_clips(video)
        clips = self.augment(clips)
        return clips[0] if single and self.num_crops == 1 else clips


class MixupCutmix:
    """Batch-level mixup / cutmix for fine-tuning, with label smoothing (timm's ``Mixup``, batch mode).

    With probability ``prob`` the batch is mixed with its reverse: cutmix (a box, the same on every frame of
    a clip; lambda corrected to the box's area) with probability ``switch_prob`` when both are enabled, else
    mixup. Labels become soft: ``(B, num_classes)``, each row summing to 1.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
    ) -> None:
        self.num_classes = num_classes
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.prob, self.switch_prob, self.label_smoothing = prob, switch_prob, label_smoothing

    def smooth_one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        off = self.label_smoothing / self.num_classes
        targets = torch.full((labels.shape[0], self.num_classes), off, dtype=torch.float32, device=labels.device)
        return targets.scatter_(1, labels.long().view(-1, 1), 1.0 - self.label_smoothing + off)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``batch["pixel_values"]``: (B, T, C, H, W), ``batch["labels"]``: (B,) int -> mixed pixel values
        and soft labels (B, num_classes). Returns a new dict; other keys are kept."""
        pixel_values, labels = batch["pixel_values"], batch["labels"]
        lam = 1.0
        use_cutmix = False
        if torch.rand(()).item() < self.prob and (self.mixup_alpha > 0 or self.cutmix_alpha > 0):
            use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or torch.rand(()).item() < self.switch_prob)
            alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
            lam = torch.distributions.Beta(alpha, alpha).sample().item()
        if lam < 1.0:
            flipped = pixel_values.flip(0)
            if use_cutmix:
                h, w = pixel_values.shape[-2:]
                cut = (1.0 - lam) ** 0.5
                ch, cw = int(h * cut), int(w * cut)
                cy, cx = torch.randint(0, h, ()).item(), torch.randint(0, w, ()).item()
                y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
                x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
                pixel_values = pixel_values.clone()
                pixel_values[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
                lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
            else:
                pixel_values = pixel_values * lam + flipped * (1.0 - lam)
        targets = self.smooth_one_hot(labels)
        soft_labels = targets * lam + targets.flip(0) * (1.0 - lam)
        return {**batch, "pixel_values": pixel_values, "labels": soft_labels}


# ---------------------------------------------------------------------------------------------------------------
# Augmentation on the training device
# ---------------------------------------------------------------------------------------------------------------
def device_frame_size(image_size: int) -> tuple[int, int]:
    """The ``(height, width)`` that DataLoader workers resize frames to (with FFmpeg's scaler, at decode time) for
    :class:`PretrainingAugmentation`: about 8/7 x 10/7 of ``image_size`` (256 x 320 for 224), so that the smallest crop
    of ``PretrainingTransform``'s default scale still spans about ``image_size`` pixels of it, even sizes."""
    return (2 * round(image_size * 4 / 7), 2 * round(image_size * 5 / 7))


def sample_resized_crop_boxes(
    source_size: torch.Tensor,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator | None = None,
    centred_fallback: bool = False,
) -> torch.Tensor:
    """Random resized crop boxes, one per row of ``source_size`` ``(B, 2)`` (height, width in pixels), drawn as
    kornia's ``RandomResizedCrop`` draws them for an image of that size (torchvision's ``get_params``): 10 candidates
    of area ``U(scale)`` x H x W and aspect ratio (width / height) ``exp(U(log ratio))``, rounded to pixels; the first
    that fits, its top-left corner uniform over the positions; else (no candidate fits) the largest crop of the
    nearest allowed ratio, placed at a uniform position as kornia places it, or with ``centred_fallback`` at the
    centre (``((W - w) // 2, (H - h) // 2)``), as torchvision and the released code (wgcban/adamae
    ``video_transforms.py`` ``_get_param_spatial_crop``) place it. The fallback matters on frames wider or narrower
    than ``ratio`` allows, where every candidate of a large area fails.

    Returns ``(B, 4)`` float boxes ``(x0, y0, width, height)`` as fractions of the source's width and height, on
    ``source_size``'s device. The same 22 uniform draws per box either way. No host-device synchronisation."""
    device = source_size.device
    size = source_size.to(torch.float32)
    height, width = size[:, :1], size[:, 1:]  # (B, 1)
    batch = size.shape[0]
    draws = torch.rand((batch, 22), generator=generator, device=device)  # 10 areas, 10 ratios, 2 positions
    area = (draws[:, :10] * (scale[1] - scale[0]) + scale[0]) * height * width
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(draws[:, 10:20] * (log_high - log_low) + log_low)
    w = torch.sqrt(area * aspect).round().floor()
    h = torch.sqrt(area / aspect).round().floor()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    found, first = ((fits.int().cumsum(1) == 1) & fits).int().max(1)  # the first candidate that fits
    rows = torch.arange(batch, device=device)
    h_out, w_out = h[rows, first], w[rows, first]
    # fallback (no candidate fits): as kornia / torchvision, the whole image clipped to the nearest allowed ratio
    height, width = height[:, 0], width[:, 0]
    in_ratio = width / height
    low, high = min(ratio), max(ratio)
    w_fallback = torch.where(in_ratio > high, torch.round(height * high), width).floor()
    h_fallback = torch.where(in_ratio < low, torch.round(width / low), height).floor()
    h_out = torch.where(found.bool(), h_out, h_fallback).clamp(min=1).minimum(height)
    w_out = torch.where(found.bool(), w_out, w_fallback).clamp(min=1).minimum(width)
    x0 = (draws[:, 20] * (width - w_out + 1)).floor().minimum(width - w_out)
    y0 = (draws[:, 21] * (height - h_out + 1)).floor().minimum(height - h_out)
    if centred_fallback:
        x0 = torch.where(found.bool(), x0, ((width - w_out) / 2).floor())
        y0 = torch.where(found.bool(), y0, ((height - h_out) / 2).floor())
    return torch.stack([x0 / width, y0 / height, w_out / width, h_out / height], dim=1)


def resized_crop(
    clips: torch.Tensor, boxes: torch.Tensor, image_size: int, flips: torch.Tensor | None = None
) -> torch.Tensor:
    """Cut each clip's box from all of its frames and resize it to ``image_size`` x ``image_size`` bilinearly without
    antialiasing: ``F.interpolate(clip[..., y0:y0 + h, x0:x0 + w], image_size, mode="bilinear",
    align_corners=False)`` (half-pixel centres, the box's edge pixels repeated past its edge), as the released
    ``video_transforms.py`` ``random_resized_crop`` resizes, for all clips in one ``grid_sample``; then a horizontal
    flip of the clips where ``flips`` is true.

    ``clips``: float ``(K, T, C, H, W)``; ``boxes``: ``(K, 4)`` ``(x0, y0, width, height)`` in whole pixels, inside
    the frames; ``flips``: bool ``(K,)`` or ``None``. Returns float ``(K, T, C, image_size, image_size)``, equal to
    the per-clip ``F.interpolate`` to float rounding (about 1e-5 of a pixel in the sample positions)."""
    k, t, c, height, width = clips.shape
    boxes = boxes.to(device=clips.device, dtype=torch.float32)
    steps = torch.arange(image_size, device=clips.device, dtype=torch.float32) + 0.5  # output pixel centres

    def positions(start: torch.Tensor, length: torch.Tensor, extent: int) -> torch.Tensor:
        # F.interpolate's source position of each output pixel, clamped to the box, in grid_sample's [-1, 1]
        inside = (steps * (length[:, None] / image_size) - 0.5).clamp(min=0).minimum(length[:, None] - 1)
        return (2 * (start[:, None] + inside) + 1) / extent - 1

    xs, ys = positions(boxes[:, 0], boxes[:, 2], width), positions(boxes[:, 1], boxes[:, 3], height)  # (K, S)
    out = _sample_grid(clips.reshape(k, t * c, height, width), xs, ys, flips)
    return out.view(k, t, c, image_size, image_size)


def _sample_grid(
    frames: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, flips: torch.Tensor | None = None
) -> torch.Tensor:
    """Bilinear samples of ``frames`` float ``(N, C, H, W)`` at the grid of columns ``xs`` ``(N, S)`` by rows ``ys``
    ``(N, S)``, in ``grid_sample``'s ``[-1, 1]`` (``align_corners=False``; past the edge: the edge pixel), the
    columns reversed where ``flips`` (bool ``(N,)``) is true. Returns ``(N, C, S, S)``. The one resampling of
    :func:`resized_crop` and :class:`PretrainingAugmentation`, which differ in the sample positions they compute."""
    if flips is not None:
        xs = torch.where(flips.to(xs.device).view(-1, 1), xs.flip(1), xs)
    grid = torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)  # (N, S, S, 2)
    return torch.nn.functional.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)


class PretrainingAugmentation(torch.nn.Module):
    """:class:`PretrainingTransform` run batched on the training device: random resized crop, horizontal flip and
    normalisation of uint8 clips that DataLoader workers decoded (and resized to a fixed size, e.g.
    :func:`device_frame_size`), with one draw per clip applied to all of its frames.

    The crop boxes are drawn in each clip's source geometry (``source_size``, the frames' size before the decode-time
    resize), as :class:`PretrainingTransform` draws them on the source frames (:func:`sample_resized_crop_boxes`),
    then sampled bilinearly from the resized frames (``grid_sample``, ``align_corners=False``: the sample positions of
    kornia's crop-then-resize). So the distributions are the same; the pixels differ by the resize at decode time.
    ``num_sample`` clips are made of each input clip, each with its own draw (repeated sampling).

    All random draws come from ``generator`` (on the clips' device) or the device's default generator; nothing waits
    on the device.
    """

    def __init__(
        self,
        image_size: int,
        scale: tuple[float, float] = (0.5, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        horizontal_flip: bool = True,
        mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        std: Sequence[float] = IMAGENET_DEFAULT_STD,
        num_sample: int = 1,
    ) -> None:
        super().__init__()
        if image_size < 1 or num_sample < 1:
            raise ValueError(f"image_size and num_sample must be >= 1, got {image_size} and {num_sample}")
        _check_scale_ratio(scale, ratio)
        self.image_size, self.scale, self.ratio = image_size, tuple(scale), tuple(ratio)
        self.horizontal_flip, self.num_sample = horizontal_flip, num_sample
        std_t = torch.tensor(std, dtype=torch.float32)
        # x / 255 normalised = x * gain - offset, per channel
        self.register_buffer("gain", (1.0 / (255.0 * std_t)).view(1, 1, -1, 1, 1), persistent=False)
        self.register_buffer("offset", (torch.tensor(mean, dtype=torch.float32) / std_t).view(1, 1, -1, 1, 1), persistent=False)

    def forward(
        self,
        pixel_values: torch.Tensor,
        source_size: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``pixel_values``: uint8 ``(B, T, C, H, W)``; ``source_size``: ``(B, 2)`` (height, width) of the frames
        before the decode-time resize (``None``: ``(H, W)``). Returns float32 ``(B * num_sample, T, C, S, S)``,
        ``S = image_size``, the ``num_sample`` clips of each input clip next to each other."""
        if pixel_values.ndim != 5:
            raise ValueError(f"expected (B, T, C, H, W) clips, got shape {tuple(pixel_values.shape)}")
        b, t, c, h, w = pixel_values.shape
        device = pixel_values.device
        if source_size is None:
            source_size = torch.tensor([[h, w]], device=device).expand(b, 2)
        source_size = source_size.to(device)
        if self.num_sample > 1:
            source_size = source_size.repeat_interleave(self.num_sample, 0)
        n = b * self.num_sample
        boxes = sample_resized_crop_boxes(source_size, self.scale, self.ratio, generator)  # (N, 4) fractions
        steps = (torch.arange(self.image_size, device=device, dtype=torch.float32) + 0.5) / self.image_size  # (S,)
        xs = 2 * (boxes[:, :1] + steps * boxes[:, 2:3]) - 1  # (N, S), grid_sample's [-1, 1] (align_corners=False)
        ys = 2 * (boxes[:, 1:2] + steps * boxes[:, 3:4]) - 1
        flips = torch.rand(n, generator=generator, device=device) < 0.5 if self.horizontal_flip else None
        frames = pixel_values.reshape(b, t * c, h, w)
        if self.num_sample > 1:
            frames = frames.repeat_interleave(self.num_sample, 0)
        out = _sample_grid(frames.float(), xs, ys, flips).view(n, t, c, self.image_size, self.image_size)
        return out * self.gain - self.offset
