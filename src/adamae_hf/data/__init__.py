"""Video data for AdaMAE: PyAV clip reading, kornia clip transforms, sources, datasets and collators."""

from .dataset import (
    StreamingVideoClipDataset,
    VideoClipDataset,
    build_dataloader,
    collate_finetuning,
    collate_pretraining,
    item_seeds,
    mix_seed,
    seed_worker,
)
from .multiscale_crop import MultiScaleCrop, MultiScaleCropTransform
from .processor import AdaMAEVideoProcessor, build_processor, build_video_processor, save_processor
from .rand_augment import VideoRandAugment
from .random_erasing import ClipRandomErasing
from .sources import (
    DataSourceError,
    VideoSample,
    VideoSource,
    check_videos_exist,
    folder_source,
    hf_dataset_source,
    list_file_entries,
    list_file_source,
    load_video_source,
)
from .synthetic import MOTIONS, generate_synthetic_dataset, load_synthetic_mask, synthetic_dataset_dir
from .temporal_sampling import TEMPORAL_SAMPLINGS, segment_indices, videomae_clip_indices
from .transforms import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    EvalTransform,
    FinetuningTransform,
    MixupCutmix,
    PretrainingAugmentation,
    PretrainingTransform,
    device_frame_size,
    sample_resized_crop_boxes,
)
from .video_io import (
    VideoReader,
    VideoReadError,
    default_index_cache_dir,
    read_video_clips,
    sample_clip_indices,
)


__all__ = [
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "MOTIONS",
    "TEMPORAL_SAMPLINGS",
    "AdaMAEVideoProcessor",
    "ClipRandomErasing",
    "DataSourceError",
    "EvalTransform",
    "FinetuningTransform",
    "MixupCutmix",
    "MultiScaleCrop",
    "MultiScaleCropTransform",
    "PretrainingAugmentation",
    "PretrainingTransform",
    "StreamingVideoClipDataset",
    "VideoClipDataset",
    "VideoReadError",
    "VideoReader",
    "VideoSample",
    "VideoSource",
    "VideoRandAugment",
    "build_dataloader",
    "build_processor",
    "build_video_processor",
    "check_videos_exist",
    "save_processor",
    "collate_finetuning",
    "collate_pretraining",
    "default_index_cache_dir",
    "device_frame_size",
    "folder_source",
    "generate_synthetic_dataset",
    "hf_dataset_source",
    "item_seeds",
    "list_file_entries",
    "list_file_source",
    "load_synthetic_mask",
    "load_video_source",
    "mix_seed",
    "read_video_clips",
    "sample_clip_indices",
    "sample_resized_crop_boxes",
    "segment_indices",
    "videomae_clip_indices",
    "seed_worker",
    "synthetic_dataset_dir",
]
