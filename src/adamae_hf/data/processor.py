"""The inference preprocessing saved with a checkpoint, as a transformers VideoMAE image processor."""

from __future__ import annotations

import os
from collections.abc import Sequence

from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from transformers.utils import is_torchvision_available


def build_processor(
    image_size: int,
    resize_size: int | None = None,
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
):
    """A ``VideoMAEImageProcessor`` matching :class:`~adamae_hf.data.EvalTransform` (one crop): resize the
    short side to ``resize_size`` (default ``image_size``), centre-crop ``image_size``, rescale by 1/255,
    normalise with ``mean`` / ``std``.

    ``processor.save_pretrained(output_dir)`` writes ``preprocessor_config.json``
    (``"image_processor_type": "VideoMAEImageProcessor"``), which ``AutoImageProcessor.from_pretrained``
    reloads; the processor maps a list of ``T`` frames to ``pixel_values`` ``(1, T, C, S, S)``. Without
    torchvision, transformers' PIL backend class (``VideoMAEImageProcessorPil``) is used; both save the same
    config.
    """
    if is_torchvision_available():
        from transformers import VideoMAEImageProcessor as processor_class
    else:
        from transformers import VideoMAEImageProcessorPil as processor_class
    return processor_class(
        do_resize=True,
        size={"shortest_edge": resize_size or image_size},
        do_center_crop=True,
        crop_size={"height": image_size, "width": image_size},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(mean),
        image_std=list(std),
    )


def save_processor(save_directory: str | os.PathLike, image_size: int) -> None:
    """Write `preprocessor_config.json` of [`build_processor`]`(image_size)` (resize the short side to `image_size`,
    centre crop, ImageNet statistics) into `save_directory`: the processor a checkpoint needs for
    `AutoImageProcessor` and the `video-classification` pipeline."""
    build_processor(image_size=image_size).save_pretrained(save_directory)
