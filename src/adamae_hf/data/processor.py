"""The inference preprocessing saved with a checkpoint: [`AdaMAEVideoProcessor`] (``video_preprocessor_config.json``),
the evaluation's frame-exact reading, frame selection, resize / crop and normalisation for transformers' video
processor API and the ``video-classification`` pipeline, and, for older readers, a VideoMAE image processor
(``preprocessor_config.json``) with the same resize / crop / normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import torch
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, validate_kwargs
from transformers.utils import is_torchvision_available
from transformers.video_processing_utils import VideoProcessorMixin

from .transforms import EvalTransform
from .video_io import read_video_clips, sample_clip_indices


DEFAULT_SAMPLING_RATE = 4  # run_finetuning.py's default stride (VideoMAE's Kinetics-400 evaluation: 16 x 4)


class AdaMAEVideoProcessorKwargs(TypedDict, total=False):
    """The options of [`AdaMAEVideoProcessor`] (its attributes; each may be overridden per call)."""

    num_frames: int
    sampling_rate: int
    num_clips: int
    num_crops: int
    size: dict[str, int]
    crop_size: dict[str, int]
    image_mean: list[float]
    image_std: list[float]
    antialias: bool
    do_sample_frames: bool
    return_tensors: str | None


class AdaMAEVideoProcessor(VideoProcessorMixin):
    r"""
    The preprocessing of `run_finetuning.py --do_eval`, as a transformers video processor (no torchvision needed).

    For each video:

    1. frames are read frame-exactly with [`~adamae_hf.data.read_video_clips`] (frame `k` is the `k`-th frame shown,
       whatever the time stamps; rotation applied, a resolution change resized to the first frame's size);
    2. the evaluation's frame selection: `num_clips` clips of `num_frames` frames at stride `sampling_rate`, their
       starts evenly spaced over the video (one clip: centred), indices past the end clamped to the last frame
       ([`~adamae_hf.data.sample_clip_indices`], `mode="eval"`; VideoMAE's test protocol);
    3. [`~adamae_hf.data.EvalTransform`]: the short side resized to `size["shortest_edge"]` (bilinear; antialiased
       with kornia's smoothing, or with `antialias=False` the released test resize, OpenCV's `INTER_LINEAR`),
       `num_crops` square crops of `crop_size` (1: centred; 3: start, centre and end of the long side), scaled to
       [0, 1] and normalised with `image_mean` / `image_std` (ImageNet by default).

    Saved as `video_preprocessor_config.json` by `save_pretrained`; reloaded with `from_pretrained` (keyword
    arguments override the saved options, e.g. `sampling_rate=2`), or with `AutoVideoProcessor.from_pretrained` once
    `adamae_hf` is imported. With torchvision installed that is `from transformers import AutoVideoProcessor`;
    without it, that top-level name is a placeholder that raises an ImportError, while the class itself
    (`transformers.models.auto.video_processing_auto.AutoVideoProcessor`), which the `video-classification` pipeline
    uses, works: `pipeline("video-classification", model=checkpoint)` picks this processor either way (see
    [`register_video_processor`]). The pipeline's `frame_sampling_rate` argument does not reach a video processor:
    the stride is `sampling_rate`.

    Args:
        num_frames: frames per clip (`T`, the model's `config.num_frames`).
        sampling_rate: temporal stride between the clip's frames (the value the model was evaluated with).
        num_clips: temporal clips per video (`K`).
        num_crops: spatial crops per clip (1 or 3).
        size: `{"shortest_edge": int}`, the short side after resizing (at least the crop size).
        crop_size: `{"height": S, "width": S}`, square (`config.image_size`).
        image_mean / image_std: per-channel statistics of the normalisation (3 values each).
        antialias: smooth before shrinking (`True`), or not, as the released evaluation (`False`; what
            `run_finetuning.py --test_resize_antialias false` evaluated with, which the `adamae-*` recipes set, and
            what a converted released checkpoint gets). A config saved without it reads as `True`.
        do_sample_frames: `True`: select frames as above. `False`: decoded clips are used as given (all their
            frames); video files cannot be read without sampling.

    Input (`videos`): one video or a list of videos, each a path (local, or any fsspec / `http(s)` URL), the file's
    `bytes`, a seekable binary file, or decoded frames (`uint8` array / tensor `(F, H, W, 3)`, RGB), whose `F`
    frames are selected from as from a file's.

    Returns:
        `BatchFeature` with `pixel_values`: float32 `(B, T, C, S, S)` for one view per video, else
        `(B, K * num_crops, T, C, S, S)` (clip-major; average the views' softmax with
        [`~adamae_hf.finetuning.multiview_average`]).

    Raises:
        ValueError: an option out of range, an unknown keyword, or a video of the wrong type or shape.
        VideoReadError: a video that cannot be read (missing, empty, corrupt), naming it.
    """

    valid_kwargs = AdaMAEVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    def __init__(
        self,
        num_frames: int = 16,
        sampling_rate: int = DEFAULT_SAMPLING_RATE,
        num_clips: int = 1,
        num_crops: int = 1,
        size: dict[str, int] | None = None,
        crop_size: dict[str, int] | None = None,
        image_mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
        image_std: Sequence[float] = IMAGENET_DEFAULT_STD,
        antialias: bool = True,
        do_sample_frames: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("video_processor_type", None)  # written by `to_dict`, the class itself
        kwargs.pop("image_processor_type", None)
        unknown = sorted(set(kwargs) - {"auto_map", "processor_class"})
        if unknown:
            raise ValueError(f"AdaMAEVideoProcessor got unknown options {unknown}; valid: {sorted(self._option_names())}")
        super().__init__(**kwargs)
        crop_size = dict(crop_size or {"height": 224, "width": 224})
        size = dict(size or {"shortest_edge": crop_size.get("height", 224)})
        options = dict(
            num_frames=num_frames, sampling_rate=sampling_rate, num_clips=num_clips, num_crops=num_crops, size=size,
            crop_size=crop_size, image_mean=[float(m) for m in image_mean], image_std=[float(s) for s in image_std],
            antialias=antialias, do_sample_frames=bool(do_sample_frames),
        )  # fmt: skip
        self._check(options)
        for key, value in options.items():
            setattr(self, key, value)

    @classmethod
    def _option_names(cls) -> list[str]:
        return [name for name in cls.valid_kwargs.__annotations__ if name != "return_tensors"]

    @staticmethod
    def _check(options: dict[str, Any]) -> None:
        """Raise a ValueError naming the first option out of range."""
        for name in ("num_frames", "sampling_rate", "num_clips"):
            value = options[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if options["num_crops"] not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {options['num_crops']!r}")
        crop = options["crop_size"]
        if set(crop) != {"height", "width"} or crop["height"] != crop["width"] or crop["height"] < 1:
            raise ValueError(f"crop_size must be a square {{'height': S, 'width': S}} with S >= 1, got {crop!r}")
        size = options["size"]
        if set(size) != {"shortest_edge"} or size["shortest_edge"] < crop["height"]:
            raise ValueError(f"size must be {{'shortest_edge': int}} at least the crop size {crop['height']}, got {size!r}")
        for name in ("image_mean", "image_std"):
            if len(options[name]) != 3:
                raise ValueError(f"{name} must have 3 values (R, G, B), got {options[name]!r}")
        if min(options["image_std"]) <= 0:
            raise ValueError(f"image_std must be positive, got {options['image_std']!r}")
        if not isinstance(options["antialias"], bool):
            raise ValueError(f"antialias must be True or False, got {options['antialias']!r}")

    def preprocess(self, videos, **kwargs: Any) -> BatchFeature:  # noqa: D417  (documented on the class)
        """See the class docstring; keyword arguments override the processor's options for this call."""
        validate_kwargs(captured_kwargs=kwargs.keys(), valid_processor_keys=list(self.valid_kwargs.__annotations__))
        return_tensors = kwargs.pop("return_tensors", None)
        options = {name: kwargs.get(name, getattr(self, name)) for name in self._option_names()}
        self._check(options)
        transform = EvalTransform(
            options["crop_size"]["height"], num_crops=options["num_crops"], resize_size=options["size"]["shortest_edge"],
            mean=options["image_mean"], std=options["image_std"], antialias=options["antialias"],
        )  # fmt: skip
        batch = [self._views(video, transform, options) for video in self._as_list(videos)]
        pixel_values = torch.stack(batch)  # (B, V, T, C, S, S)
        if pixel_values.shape[1] == 1:
            pixel_values = pixel_values[:, 0]
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors or "pt")

    @staticmethod
    def _as_list(videos) -> list:
        if isinstance(videos, (list, tuple)):
            if not videos:
                raise ValueError("no video given (an empty list)")
            return list(videos)
        return [videos]

    @staticmethod
    def _views(video, transform: EvalTransform, options: dict[str, Any]) -> torch.Tensor:
        """One video -> float32 `(K * num_crops, T, C, S, S)`."""
        num_frames, sampling_rate, num_clips = options["num_frames"], options["sampling_rate"], options["num_clips"]
        if isinstance(video, (np.ndarray, torch.Tensor)):
            frames = torch.as_tensor(video)
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
                raise ValueError(
                    f"decoded frames must be a uint8 (frames, height, width, 3) RGB array, got {frames.dtype} "
                    f"of shape {tuple(frames.shape)}"
                )
            if options["do_sample_frames"]:
                indices = sample_clip_indices(frames.shape[0], num_frames, sampling_rate, num_clips, "eval")
                clips = frames[torch.from_numpy(indices)]  # (K, T, H, W, 3)
            else:
                clips = frames[None]
        elif isinstance(video, (str, os.PathLike, bytes, bytearray)) or hasattr(video, "read"):
            if not options["do_sample_frames"]:
                raise ValueError("a video file is always read with frame sampling: pass do_sample_frames=True, or decoded frames")
            clips = read_video_clips(video, num_frames, sampling_rate, num_clips, "eval")  # (K, T, H, W, 3)
        else:
            raise ValueError(
                f"a video must be a path or URL, bytes, a binary file or a uint8 (frames, height, width, 3) array; "
                f"got {type(video).__name__}"
            )
        return transform(clips)  # (K, T, H, W, 3) -> (K * num_crops, T, C, S, S)

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("_processor_class", None)
        return output


def register_video_processor() -> None:
    """Map `model_type="adamae"` to [`AdaMAEVideoProcessor`] in `AutoVideoProcessor` (called on `import adamae_hf`).

    transformers exports `AutoVideoProcessor` as a placeholder that raises without torchvision, but the class itself,
    which the `video-classification` pipeline uses, loads a registered processor without it: then
    `pipeline("video-classification", model=checkpoint)` finds `video_preprocessor_config.json` and uses this
    processor, torchvision or not.
    """
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    from ..configuration_adamae import AdaMAEConfig

    AutoVideoProcessor.register(AdaMAEConfig, AdaMAEVideoProcessor, exist_ok=True)


def build_video_processor(
    image_size: int,
    num_frames: int = 16,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    resize_size: int | None = None,
    antialias: bool = True,
) -> AdaMAEVideoProcessor:
    """An [`AdaMAEVideoProcessor`] for a model of `image_size` and `num_frames`, one centred clip x one centre crop."""
    return AdaMAEVideoProcessor(
        num_frames=num_frames, sampling_rate=sampling_rate, size={"shortest_edge": resize_size or image_size},
        crop_size={"height": image_size, "width": image_size}, antialias=antialias,
    )  # fmt: skip


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
    config. It decodes nothing: [`AdaMAEVideoProcessor`] is the processor that reads and samples videos.
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


def save_processor(
    save_directory: str | os.PathLike,
    image_size: int,
    num_frames: int = 16,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    antialias: bool = True,
) -> None:
    """Write a checkpoint's processors into `save_directory`: `video_preprocessor_config.json`
    ([`build_video_processor`]: the evaluation's reading, frame selection at `sampling_rate`, resize (`antialias`),
    centre crop and ImageNet normalisation, for `AdaMAEVideoProcessor` / `AutoVideoProcessor` and the
    `video-classification` pipeline) and `preprocessor_config.json` ([`build_processor`]`(image_size)`, for
    `AutoImageProcessor` and older readers, whose resize always smooths: transformers' image processors have no
    such option)."""
    build_video_processor(image_size, num_frames, sampling_rate, antialias=antialias).save_pretrained(save_directory)
    build_processor(image_size=image_size).save_pretrained(save_directory)
