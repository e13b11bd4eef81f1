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
from .multiscale_crop import MultiScaleCrop, MultiScaleCropTransform
from .processor import build_processor, save_processor
from .random_erasing import ClipRandomErasing
from .sources import (
    VideoSample,
    VideoSource,
    folder_source,
    hf_dataset_source,
    list_file_source,
    load_video_source,
)
from .synthetic import MOTIONS, generate_synthetic_dataset, load_synthetic_mask, synthetic_dataset_dir
from .temporal_sampling import TEMPORAL_SAMPLINGS, segment_indices, videomae_clip_indices
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
    "TEMPORAL_SAMPLINGS",
    "ClipRandAugment",
    "ClipRandomErasing",
    "EvalTransform",
    "FinetuningTransform",
    "MixupCutmix",
    "MultiScaleCrop",
    "MultiScaleCropTransform",
    "PretrainingTransform",
    "StreamingVideoClipDataset",
    "VideoClipDataset",
    "VideoReadError",
    "VideoSample",
    "VideoSource",
    "build_dataloader",
    "build_processor",
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
    "segment_indices",
    "videomae_clip_indices",
    "seed_worker",
    "synthetic_dataset_dir",
]
