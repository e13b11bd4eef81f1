"""Clips for pre-training: the fixed clips (with the synthetic dataset's object masks) that the figures and the
sampler-focus metrics are computed on. (Training clips do not depend on workers or resumes: each item of
`adamae_hf.data.VideoClipDataset` draws from seeds of (seed, rank, epoch, index).)"""

from __future__ import annotations

import os

import torch

from ..configuration_adamae import AdaMAEConfig


__all__ = ["synthetic_focus_clips", "visualization_transform"]


def synthetic_focus_clips(
    data_dir: str | os.PathLike, config: AdaMAEConfig, sampling_rate: int, split: str = "validation"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clips of a synthetic-dataset split with their ground-truth object masks, for the sampler-focus metrics.

    Each video gives its centred evaluation clip (``num_frames`` frames at ``sampling_rate``), resized to the
    model's ``image_size`` as the visualised clips are; the masks are taken at the same frames and resized
    (nearest) the same way.

    Returns:
        ``(pixel_values, object_masks)``: float ``(B, T, C, H, W)`` ImageNet-normalised and bool ``(B, T, H, W)``.
    """
    import torch.nn.functional as F

    from ..data import VideoClipDataset, load_synthetic_mask, load_video_source
    from ..data.video_io import sample_clip_indices

    source = load_video_source(data_dir=data_dir, split=split)
    dataset = VideoClipDataset(
        source, num_frames=config.num_frames, sampling_rate=sampling_rate, mode="eval",
        transform=visualization_transform(config.image_size), on_bad_video="raise",
    )  # fmt: skip
    pixel_values = torch.stack([dataset[i]["pixel_values"] for i in range(len(dataset))])
    masks = []
    for sample in source:
        mask = torch.from_numpy(load_synthetic_mask(data_dir, sample.video))  # (T_video, H, W)
        frames = sample_clip_indices(mask.shape[0], config.num_frames, sampling_rate, 1, "eval")[0]
        masks.append(mask[torch.from_numpy(frames)])
    size = pixel_values.shape[-2:]
    object_masks = F.interpolate(torch.stack(masks).float(), size=size, mode="nearest") > 0.5
    return pixel_values, object_masks


def visualization_transform(image_size: int):
    """The deterministic transform of the visualised and focus clips: the whole frame resized, no flip."""
    from ..data import PretrainingTransform

    return PretrainingTransform(image_size, scale=(1.0, 1.0), ratio=(1.0, 1.0), horizontal_flip=False)

