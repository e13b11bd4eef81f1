"""Torch datasets of transformed clips, bad-video policy, collators and DataLoader seeding."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from .sources import VideoSample, VideoSource
from .temporal_sampling import TEMPORAL_SAMPLINGS
from .video_io import VideoReadError, read_video_clips


logger = logging.getLogger(__name__)

# Attempts at substituting a bad video before giving up (a dataset of bad videos should fail loudly).
_MAX_SUBSTITUTIONS = 16


def _rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", 0))


def mix_seed(seed: int, *, rank: int = 0, worker_id: int = 0, epoch: int = 0) -> int:
    """A 63-bit seed that differs for every (seed, rank, worker id, epoch) (numpy ``SeedSequence``)."""
    return int(np.random.SeedSequence([seed, rank, worker_id, epoch]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed torch, numpy and random in a DataLoader worker from the dataset's seed,
    the process rank, the worker id and the dataset's epoch, so that workers and processes draw distinct
    augmentations, reproducibly."""
    info = get_worker_info()
    dataset = info.dataset if info is not None else None
    seed = mix_seed(getattr(dataset, "seed", 0), rank=_rank(), worker_id=worker_id + 1, epoch=getattr(dataset, "epoch", 0))
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    if dataset is not None and hasattr(dataset, "_generator"):
        dataset._generator = None  # re-seeded lazily for this worker


class VideoClipDataset(Dataset):
    """Map-style dataset of transformed clips from a :class:`VideoSource`.

    Items are ``{"pixel_values": float32 (T, C, H, W), "labels": int, "video_index": int, "readable": bool}``; with
    ``num_clips=K`` and a transform making S spatial crops (``EvalTransform(num_crops=S)``),
    ``pixel_values`` is ``(K * S, T, C, H, W)``.

    Args:
        source: the videos (a streaming source gives a :class:`StreamingVideoClipDataset`).
        num_frames / sampling_rate: frames per clip and their temporal stride.
        transform: callable on uint8 ``(K, T, H, W, C)`` -> float ``(V, T, C, H, W)`` (``transforms.py``).
        mode: ``"train"`` (random clip start) or ``"eval"`` (``num_clips`` evenly spaced clips).
        on_bad_video: ``"raise"`` a :class:`VideoReadError` naming the file, or ``"skip"``: warn once per
            file and count it in ``num_skipped``; then ``mode="train"`` returns another video (the next index)
            instead, while ``mode="eval"`` returns a placeholder item (zeros, ``"readable": False``) for that same
            video, so that evaluation leaves it out and never counts another video twice.
        seed: seeds the temporal sampling (mixed with rank, worker id and epoch; see :func:`seed_worker`).
        temporal_sampling: ``"stride"``, ``"segments"`` or ``"videomae"`` (:func:`read_video_clips`).
    """

    def __new__(cls, source: VideoSource | None = None, *args: Any, **kwargs: Any):
        if cls is VideoClipDataset and getattr(source, "streaming", False):
            cls = StreamingVideoClipDataset
        return super().__new__(cls)

    def __init__(
        self,
        source: VideoSource,
        *,
        num_frames: int,
        sampling_rate: int,
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
        mode: Literal["train", "eval"] = "train",
        num_clips: int = 1,
        on_bad_video: Literal["raise", "skip"] = "raise",
        seed: int = 0,
        temporal_sampling: str = "stride",
    ) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if temporal_sampling not in TEMPORAL_SAMPLINGS:
            raise ValueError(f"temporal_sampling must be one of {', '.join(TEMPORAL_SAMPLINGS)}, got {temporal_sampling!r}")
        if on_bad_video not in ("raise", "skip"):
            raise ValueError(f"on_bad_video must be 'raise' or 'skip', got {on_bad_video!r}")
        self.source = source
        self.label_names = source.label_names
        self.num_frames, self.sampling_rate = num_frames, sampling_rate
        self.transform, self.mode, self.num_clips = transform, mode, num_clips
        self.on_bad_video, self.seed = on_bad_video, seed
        self.temporal_sampling = temporal_sampling
        self.epoch = 0
        self.num_skipped = 0
        self._warned: set[str] = set()
        self._generator: torch.Generator | None = None
        self._item_shape: torch.Size | None = None  # of the last readable item (placeholders without a transform)

    def set_epoch(self, epoch: int) -> None:
        """Change the temporal sampling stream (call before each epoch; workers see it when they start)."""
        self.epoch = epoch
        self._generator = None

    @property
    def generator(self) -> torch.Generator:
        if self._generator is None:
            info = get_worker_info()
            worker_id = info.id + 1 if info is not None else 0
            seed = mix_seed(self.seed, rank=_rank(), worker_id=worker_id, epoch=self.epoch)
            self._generator = torch.Generator().manual_seed(seed)
        return self._generator

    def __len__(self) -> int:
        return len(self.source)

    def load(self, sample: VideoSample, index: int) -> dict[str, Any]:
        """Read, sample and transform one video (raises :class:`VideoReadError`)."""
        clips = read_video_clips(
            sample.video, self.num_frames, self.sampling_rate, self.num_clips, self.mode, generator=self.generator,
            temporal_sampling=self.temporal_sampling,
        )  # (K, T, H, W, C) uint8
        if self.transform is not None:
            pixel_values = self.transform(clips if self.num_clips > 1 else clips[0])
        else:
            pixel_values = clips.permute(0, 1, 4, 2, 3) if self.num_clips > 1 else clips[0].permute(0, 3, 1, 2)
        self._item_shape = pixel_values.shape
        return {"pixel_values": pixel_values, "labels": sample.label, "video_index": index, "readable": True}

    def placeholder(self, sample: VideoSample, index: int) -> dict[str, Any]:
        """The item of a video that could not be read, for evaluation to leave out: zeros shaped like a readable
        video's item, ``"readable": False``. The shape is the transform's output (its crop size does not depend
        on the video); without a transform, that of the last readable item (16 x 16 frames before any)."""
        if self.transform is not None:
            clips = torch.zeros((self.num_clips, self.num_frames, 16, 16, 3), dtype=torch.uint8)
            pixel_values = torch.zeros_like(self.transform(clips if self.num_clips > 1 else clips[0]))
        else:
            single = (self.num_frames, 3, 16, 16)
            shape = self._item_shape or ((self.num_clips, *single) if self.num_clips > 1 else single)
            pixel_values = torch.zeros(shape, dtype=torch.uint8)
        return {"pixel_values": pixel_values, "labels": sample.label, "video_index": index, "readable": False}

    def _skip(self, error: VideoReadError, name: str) -> None:
        self.num_skipped += 1
        if name not in self._warned:
            self._warned.add(name)
            logger.warning("Skipping bad video (%s); another sample is used instead.", error)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self.source) <= index < len(self.source):
            raise IndexError(f"index {index} out of range for a dataset of {len(self.source)} videos")
        index %= len(self.source)
        for attempt in range(_MAX_SUBSTITUTIONS + 1):
            current = (index + attempt) % len(self.source)
            sample = self.source[current]
            try:
                return self.load(sample, current)
            except VideoReadError as error:
                if self.on_bad_video == "raise":
                    raise
                self._skip(error, sample.name)
                if self.mode == "eval":
                    return self.placeholder(sample, current)
        raise RuntimeError(
            f"{_MAX_SUBSTITUTIONS + 1} bad videos in a row from index {index} "
            f"(e.g. {sample.name!r}); check the data source"
        )


class StreamingVideoClipDataset(VideoClipDataset, IterableDataset):
    """Iterable variant for streaming sources; shards samples over ranks x DataLoader workers (a
    ``datasets.IterableDataset`` shards over workers itself: then only ranks are sharded here, and
    ``video_index`` counts within the stream a worker sees).

    Bad videos under ``on_bad_video="skip"`` are simply left out (the next sample follows).
    """

    def __len__(self) -> int:
        raise TypeError("a streaming dataset has no length")

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise TypeError("a streaming dataset cannot be indexed; iterate over it")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        num_workers, worker_id = (info.num_workers, info.id) if info is not None else (1, 0)
        world_size = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        if self.source.worker_sharded:
            num_workers, worker_id = 1, 0
        shard, num_shards = _rank() * num_workers + worker_id, world_size * num_workers
        for index, sample in enumerate(self.source):
            if index % num_shards != shard:
                continue
            try:
                yield self.load(sample, index)
            except VideoReadError as error:
                if self.on_bad_video == "raise":
                    raise
                self._skip(error, sample.name)


def collate_pretraining(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """-> ``{"pixel_values": (B, T, C, H, W)}`` (or ``(B, V, T, C, H, W)`` for multi-view items)."""
    return {"pixel_values": torch.stack([item["pixel_values"] for item in batch])}


def collate_finetuning(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """-> ``{"pixel_values": (B, T, C, H, W), "labels": (B,), "video_index": (B,), "readable": (B,) bool}``;
    evaluation items with ``V = K * S`` views give ``pixel_values`` ``(B, V, T, C, H, W)``."""
    return {
        "pixel_values": torch.stack([item["pixel_values"] for item in batch]),
        "labels": torch.tensor([item["labels"] for item in batch], dtype=torch.long),
        "video_index": torch.tensor([item["video_index"] for item in batch], dtype=torch.long),
        "readable": torch.tensor([item.get("readable", True) for item in batch], dtype=torch.bool),
    }


def build_dataloader(
    dataset: Dataset,
    batch_size: int,
    *,
    collate_fn: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
    shuffle: bool = False,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
    persistent_workers: bool = False,
) -> DataLoader:
    """A DataLoader wired for video: :func:`seed_worker` as ``worker_init_fn``, ``pin_memory`` when CUDA is
    available, and ``shuffle`` dropped for iterable (streaming) datasets."""
    iterable = isinstance(dataset, IterableDataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and not iterable,
        num_workers=num_workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        worker_init_fn=seed_worker,
        persistent_workers=persistent_workers and num_workers > 0,
    )
