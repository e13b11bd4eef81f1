"""Video data for AdaMAE: PyAV clip reading, kornia clip transforms, sources, datasets and collators."""

from .dataset import (
    StreamingVideoClipDataset,
    VideoClipDataset,
    build_dataloader,
    collate_finetuning,
    collate_pretraining,
    mix_seed,
    seed_worker,
)
from .processor import AdaMAEVideoProcessor, build_processor, build_video_processor, save_processor
from .sources import (
    VideoSample,
    VideoSource,
    folder_source,
    hf_dataset_source,
    list_file_source,
    load_video_source,
)
from .synthetic import MOTIONS, generate_synthetic_dataset, load_synthetic_mask, synthetic_dataset_dir
from .transforms import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    ClipRandAugment,
    EvalTransform,
    FinetuningTransform,
    MixupCutmix,
    PretrainingTransform,
)
from .video_io import VideoReadError, read_video_clips, sample_clip_indices


__all__ = [
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "MOTIONS",
    "AdaMAEVideoProcessor",
    "ClipRandAugment",
    "EvalTransform",
    "FinetuningTransform",
    "MixupCutmix",
    "PretrainingTransform",
    "StreamingVideoClipDataset",
    "VideoClipDataset",
    "VideoReadError",
    "VideoSample",
    "VideoSource",
    "build_dataloader",
    "build_processor",
    "build_video_processor",
    "save_processor",
    "collate_finetuning",
    "collate_pretraining",
    "folder_source",
    "generate_synthetic_dataset",
    "hf_dataset_source",
    "list_file_source",
    "load_synthetic_mask",
    "load_video_source",
    "mix_seed",
    "read_video_clips",
    "sample_clip_indices",
    "seed_worker",
    "synthetic_dataset_dir",
]
