"""Torch datasets of transformed clips, bad-video policy, collators and DataLoader seeding."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from .sources import VideoSample, VideoSource
from .temporal_sampling import TEMPORAL_SAMPLINGS
from .video_io import VideoReader, VideoReadError


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


def item_seeds(seed: int, *, rank: int, epoch: int, index: int) -> tuple[int, int]:
    """Two 63-bit seeds of an item, for its temporal sampling and for its transform: a function of (seed, rank, epoch,
    index) alone (numpy ``SeedSequence``), not of the worker or of the items read before it."""
    state = np.random.SeedSequence([seed, rank, epoch, index, 1]).generate_state(2, np.uint64) >> np.uint64(1)
    return int(state[0]), int(state[1])


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed torch, numpy and random in a DataLoader worker from the dataset's seed,
    the process rank, the worker id and the dataset's epoch, so that anything random outside the items (which seed
    themselves, see :meth:`VideoClipDataset.load`) differs between workers and processes, reproducibly."""
    info = get_worker_info()
    dataset = info.dataset if info is not None else None
    seed = mix_seed(getattr(dataset, "seed", 0), rank=_rank(), worker_id=worker_id + 1, epoch=getattr(dataset, "epoch", 0))
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class VideoClipDataset(Dataset):
    """Map-style dataset of transformed clips from a :class:`VideoSource`.

    Items are ``{"pixel_values": float32 (T, C, H, W), "labels": int, "video_index": int, "readable": bool,
    "videos_skipped": int}`` (``"videos_skipped"``: the bad videos passed over to reach this one under
    ``on_bad_video="skip"``, indices ``video_index - videos_skipped .. video_index - 1`` modulo the length; 0 almost
    always; not in the items of a streaming dataset or in placeholders); with
    ``num_clips=K`` and a transform making S spatial crops (``EvalTransform(num_crops=S)``),
    ``pixel_values`` is ``(K * S, T, C, H, W)``. Without a transform, ``pixel_values`` is the uint8 clip
    ``(T, C, H, W)`` (``(K, T, C, H, W)``) and ``"source_size"`` gives its frames' ``(height, width)`` before
    ``frame_size``'s resize, for :class:`~adamae_hf.data.transforms.PretrainingAugmentation` on the training device.

    Repeated sampling (``num_sample=N > 1``, training only; VideoMAE V2's ``--num_sample``, the "repeated sampling"
    of Feichtenhofer et al. 2022, "Masked Autoencoders As Spatiotemporal Learners", section 4): one read of a video
    gives N clips of the same frames, each with its own draw of the transform: ``pixel_values`` ``(N, T, C, H, W)``
    and ``"num_sample": N``, which the collators flatten into N batch rows. Without a transform the clip is
    returned once and the N draws are made on the device (``PretrainingAugmentation(num_sample=N)``).

    Args:
        source: the videos (a streaming one needs :class:`StreamingVideoClipDataset`; :meth:`from_source` picks).
        num_frames / sampling_rate: frames per clip and their temporal stride.
        transform: callable on uint8 ``(K, T, H, W, C)`` -> float ``(V, T, C, H, W)`` (``transforms.py``).
        mode: ``"train"`` (random clip start) or ``"eval"`` (``num_clips`` evenly spaced clips).
        on_bad_video: ``"raise"`` a :class:`VideoReadError` naming the file, or ``"skip"``: warn once per
            file (per copy of the dataset: see :meth:`record_skipped` for DataLoader workers) and count it in
            ``num_skipped``; then ``mode="train"`` returns another video (the next index)
            instead, while ``mode="eval"`` returns a placeholder item (zeros, ``"readable": False``) for that same
            video, so that evaluation leaves it out and never counts another video twice.
        seed: seeds each item's temporal sampling and transform, with the process rank, the epoch
            (:meth:`set_epoch`) and the item's index (:func:`item_seeds`): item ``i`` of epoch ``e`` is the same
            whether it is read in the main process or in any DataLoader worker, first or after other items.
        num_sample: clips made from each read (repeated sampling, ``mode="train"`` only).
        frame_size: ``(height, width)`` to resize frames to at decode time (FFmpeg's scaler), e.g.
            :func:`~adamae_hf.data.transforms.device_frame_size` for augmentation on the device; ``None`` keeps
            each video's size.
        temporal_sampling: how each read picks its frame indices: ``"stride"`` (``num_frames`` frames every
            ``sampling_rate``, :func:`~adamae_hf.data.video_io.sample_clip_indices`), ``"segments"`` (TSN, one frame
            per segment) or ``"videomae"`` (the released Kinetics-400 window), see
            :mod:`~adamae_hf.data.temporal_sampling`. With ``num_sample > 1`` the one read of a video draws its
            indices this way and its ``num_sample`` clips share them.
    """

    @classmethod
    def from_source(cls, source: VideoSource, **kwargs: Any) -> VideoClipDataset:
        """The dataset of ``source``: a :class:`VideoClipDataset`, or a :class:`StreamingVideoClipDataset` for a
        streaming source (``kwargs``: those of ``__init__``)."""
        return (StreamingVideoClipDataset if source.streaming else VideoClipDataset)(source, **kwargs)

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
        num_sample: int = 1,
        frame_size: tuple[int, int] | None = None,
        temporal_sampling: str = "stride",
    ) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if temporal_sampling not in TEMPORAL_SAMPLINGS:
            raise ValueError(f"temporal_sampling must be one of {', '.join(TEMPORAL_SAMPLINGS)}, got {temporal_sampling!r}")
        if getattr(source, "streaming", False) and not isinstance(self, StreamingVideoClipDataset):
            raise TypeError("a streaming source needs a StreamingVideoClipDataset (see VideoClipDataset.from_source)")
        if not isinstance(num_sample, int) or num_sample < 1:
            raise ValueError(f"num_sample must be an integer >= 1, got {num_sample!r}")
        if num_sample > 1 and (mode != "train" or num_clips != 1):
            raise ValueError("num_sample > 1 (repeated sampling) needs mode='train' and num_clips=1")
        if frame_size is not None and (len(frame_size) != 2 or min(frame_size) < 1):
            raise ValueError(f"frame_size must be (height, width) of positive sizes, got {frame_size!r}")
        if on_bad_video not in ("raise", "skip"):
            raise ValueError(f"on_bad_video must be 'raise' or 'skip', got {on_bad_video!r}")
        self.source = source
        self.label_names = source.label_names
        self.num_frames, self.sampling_rate = num_frames, sampling_rate
        self.transform, self.mode, self.num_clips = transform, mode, num_clips
        self.on_bad_video, self.seed = on_bad_video, seed
        self.num_sample = num_sample
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self.temporal_sampling = temporal_sampling
        self.epoch = 0
        self.num_skipped = 0
        self._warned: set[str] = set()
        self._item_shape: torch.Size | None = None  # of the last readable item (placeholders without a transform)

    def set_epoch(self, epoch: int) -> None:
        """Change the items' random draws (call before each epoch; workers see it when they start)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def load(self, sample: VideoSample, index: int) -> dict[str, Any]:
        """Read, sample and transform one video (raises :class:`VideoReadError`). The temporal sampling draws from a
        generator of the item's seed, the transform from torch's global generator seeded with the item's other seed
        (forked: the caller's random stream is left as it was); see :func:`item_seeds`."""
        temporal_seed, transform_seed = item_seeds(self.seed, rank=_rank(), epoch=self.epoch, index=index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(transform_seed)
            return self._load(sample, index, torch.Generator().manual_seed(temporal_seed))

    def _load(self, sample: VideoSample, index: int, generator: torch.Generator) -> dict[str, Any]:
        with VideoReader(sample.video, frame_size=self.frame_size) as reader:
            clips = reader.read_clips(
                self.num_frames, self.sampling_rate, self.num_clips, self.mode, generator=generator,
                temporal_sampling=self.temporal_sampling,
            )  # (K, T, H, W, C) uint8
            source_size = reader.stats["source_size"]
        item: dict[str, Any] = {"labels": sample.label, "video_index": index, "readable": True}
        if self.transform is None:
            pixel_values = clips.permute(0, 1, 4, 2, 3) if self.num_clips > 1 else clips[0].permute(0, 3, 1, 2)
            item["source_size"] = torch.tensor(source_size)
        elif self.num_sample > 1:  # repeated sampling: one draw of the transform per clip
            pixel_values = torch.stack([self.transform(clips[0]) for _ in range(self.num_sample)])
            item["num_sample"] = self.num_sample
        else:
            pixel_values = self.transform(clips if self.num_clips > 1 else clips[0])
        self._item_shape = pixel_values.shape
        return {"pixel_values": pixel_values, **item}

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
        item = {"pixel_values": pixel_values, "labels": sample.label, "video_index": index, "readable": False}
        if self.transform is None:
            item["source_size"] = torch.tensor(pixel_values.shape[-2:])
        return item

    def _skip(self, error: VideoReadError, name: str) -> None:
        self.num_skipped += 1
        if name not in self._warned:
            self._warned.add(name)
            logger.warning("Skipping bad video (%s); another sample is used instead.", error)

    def record_skipped(self, names: Iterable[str]) -> None:
        """Record bad videos (by ``VideoSample.name``) that copies of this dataset skipped (each DataLoader worker
        holds its own copy, as each process does; items report them in ``"videos_skipped"``): the copies made after
        this (the DataLoader's workers of the next epoch, unless persistent) do not warn about them again."""
        self._warned.update(names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self.source) <= index < len(self.source):
            raise IndexError(f"index {index} out of range for a dataset of {len(self.source)} videos")
        index %= len(self.source)
        for attempt in range(_MAX_SUBSTITUTIONS + 1):
            current = (index + attempt) % len(self.source)
            sample = self.source[current]
            try:
                return {**self.load(sample, current), "videos_skipped": attempt}
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

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.source.set_epoch(epoch)  # a shuffled stream takes another order

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


def _pixel_values(batch: list[dict[str, Any]]) -> tuple[torch.Tensor, int]:
    """The items' pixel values stacked, those of repeated sampling (``"num_sample": N``) flattened into N rows each;
    and N."""
    num_sample = batch[0].get("num_sample", 1)
    if any(item.get("num_sample", 1) != num_sample for item in batch):
        raise ValueError("the items of a batch have different num_sample")
    pixel_values = torch.stack([item["pixel_values"] for item in batch])
    return (pixel_values.flatten(0, 1) if num_sample > 1 else pixel_values), num_sample


def _column(batch: list[dict[str, Any]], key: str, dtype: torch.dtype, num_sample: int, default: Any = None) -> torch.Tensor:
    """The items' ``key`` as a ``(B * num_sample,)`` tensor, each item's value repeated for its rows."""
    values = torch.tensor([item.get(key, default) for item in batch], dtype=dtype)
    return values.repeat_interleave(num_sample) if num_sample > 1 else values


def collate_pretraining(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """-> ``{"pixel_values": (B, T, C, H, W)}`` (or ``(B, V, T, C, H, W)`` for multi-view items; ``(B * N, ...)`` for
    items of repeated sampling), plus ``"source_size"`` ``(B, 2)`` for untransformed (uint8) items, and
    ``"video_index"`` and ``"videos_skipped"`` (long, one per row) where the items have them (the bad videos passed
    over, for the training script's report)."""
    pixel_values, num_sample = _pixel_values(batch)
    out = {"pixel_values": pixel_values}
    if "source_size" in batch[0]:
        out["source_size"] = torch.stack([item["source_size"] for item in batch])
    if "videos_skipped" in batch[0]:
        out["video_index"] = _column(batch, "video_index", torch.long, num_sample)
        out["videos_skipped"] = _column(batch, "videos_skipped", torch.long, num_sample)
    return out


def collate_finetuning(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """-> ``{"pixel_values": (B, T, C, H, W), "labels": (B,), "video_index": (B,), "readable": (B,) bool}``;
    evaluation items with ``V = K * S`` views give ``pixel_values`` ``(B, V, T, C, H, W)``; items of repeated sampling
    (``N`` clips each) give ``B * N`` rows, each item's labels repeated."""
    pixel_values, num_sample = _pixel_values(batch)
    return {
        "pixel_values": pixel_values,
        "labels": _column(batch, "labels", torch.long, num_sample),
        "video_index": _column(batch, "video_index", torch.long, num_sample),
        "readable": _column(batch, "readable", torch.bool, num_sample, True),
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
