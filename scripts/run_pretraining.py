#!/usr/bin/env python
# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""
Pre-train AdaMAE (adaptive token sampler + video MAE) with 🤗 Accelerate, from one CPU to many GPUs and nodes.

With no dataset argument, the embedded synthetic motion dataset is generated into a cache folder and a tiny model
is pre-trained in a few minutes on 2 CPU cores (`--recipe synthetic-demo`):

    PYTHONPATH=src python scripts/run_pretraining.py

On SSv2 / Kinetics, the released recipe (`adamae_hf.recipes`, docs/recipes.md; a run on a dataset must name one):

    accelerate launch --config_file configs/accelerate/ddp_bf16.yaml scripts/run_pretraining.py --recipe adamae-ssv2 \
        --train_list ssv2/train.csv --data_root ssv2/videos --output_dir outputs/adamae-ssv2

A run resumes with `--resume_from_checkpoint` (a checkpoint folder, or `latest` in `--output_dir`). SIGTERM or Ctrl-C
saves a checkpoint and exits with 128 + the signal number (143 / 130), so a pre-empted job restarts with the same
command plus `--resume_from_checkpoint latest`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import datasets
import torch
import transformers
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.state import PartialState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, gather_object, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm
from transformers import get_cosine_schedule_with_warmup
from transformers.hf_argparser import string_to_bool
from transformers.training_args import trainer_log_levels

from adamae_hf import training as T
from adamae_hf.configuration_adamae import MASK_TYPES
from adamae_hf.data import (
    MultiScaleCropTransform,
    PretrainingAugmentation,
    PretrainingTransform,
    VideoClipDataset,
    check_videos_exist,
    collate_pretraining,
    device_frame_size,
    load_video_source,
    mix_seed,
    save_processor,
    synthetic_dataset_dir,
)
from adamae_hf.lr_schedule import fit_warmup, get_released_cosine_schedule
from adamae_hf.optimization import build_adamw
from adamae_hf.recipes import (
    MULTISCALE_CROP_SCALES,
    dry_run_report,
    recipe_log_lines,
    recipe_total_batch_size,
    resolve_recipe,
)
from adamae_hf.sampler_metrics import sampler_focus
from adamae_hf.visualization import clip_pictures, save_visualizations


logger = get_logger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Pre-train AdaMAE with Accelerate. Without a dataset argument: a tiny model on the embedded "
        "synthetic dataset, in a few minutes on CPU (--recipe synthetic-demo). On a dataset, --recipe adamae-ssv2 or "
        "adamae-k400 sets every value of the released scripts; a flag you give wins.",
        formatter_class=T.HelpFormatter,
    )
    T.add_shared_option(parser, "recipe")
    T.add_shared_option(parser, "dry_run", False)
    data = parser.add_argument_group("data (at most one source; none = the embedded synthetic dataset)")
    for name in ("dataset_name", "dataset_config_name", "train_dir", "train_list", "data_root"):
        T.add_shared_option(data, name)
    T.add_shared_option(data, "train_split_name", "train")
    T.add_shared_option(data, "video_column_name", "video")
    data.add_argument("--label_column_name", default=None,
                      help="pre-training ignores labels; name the column only to keep it (default: none read)")  # fmt: skip
    T.add_shared_option(data, "streaming", False)
    T.add_shared_option(data, "shuffle_buffer_size", 1000)
    T.add_shared_option(data, "on_bad_video", "raise")
    data.add_argument("--num_frames", type=int, help="frames per clip (default: the model config's)")
    data.add_argument("--sampling_rate", type=int, help=T.recipe_help("sampling_rate", "temporal stride; use 4 for K400"))
    data.add_argument("--image_size", type=int, help="crop size (default: the model config's)")
    data.add_argument("--crop", choices=("random_resized", "multiscale"), help=T.recipe_help(
        "crop", "random_resized: kornia's RandomResizedCrop (--min_crop_scale); multiscale: the released multi-scale "
        "crop, scales 1, .875, .75, .66 of the short side at 13 fixed positions"))  # fmt: skip
    T.add_shared_option(data, "min_crop_scale", 0.5)
    T.add_shared_option(data, "horizontal_flip", None, " (" + T.recipe_help("horizontal_flip") + ")")
    T.add_shared_option(data, "num_sample", 1, " (default: 1, as the released pre-training, which has no repeated sampling)")
    data.add_argument("--augment_on_device", action="store_true",
                      help="DataLoader workers deliver uint8 clips resized at decode time; the random resized crop, "
                      "flip and normalisation run batched on the training device in the step (the same distributions; "
                      "--crop random_resized only)")  # fmt: skip
    data.add_argument("--in_memory_videos", type=int, metavar="N",
                      help="a diagnostic: read the first N training videos once, before training, and train on their "
                      "items (after the workers' part of the pipeline) repeated to the dataset's length, reading no "
                      "video in the loop: the step's speed without decoding, to compare with the same run on the "
                      "videos (benchmarks/bench_end_to_end.py). Not for training a model")  # fmt: skip
    data.add_argument("--synthetic_num_classes", type=int, help="synthetic dataset size (default: 8)")
    data.add_argument("--synthetic_train_per_class", type=int, help="synthetic dataset size (default: 256)")
    data.add_argument("--synthetic_image_size", type=int, help="synthetic frame size (default: 64)")

    model = parser.add_argument_group("model")
    model.add_argument("--model_name_or_path",
                       help="continue from an AdaMAE checkpoint or warm-start from a VideoMAE one (sampler new)")  # fmt: skip
    model.add_argument("--config_name", help="a preset (tiny, small, base) or an AdaMAE config path (" +
                       T.recipe_help("config_name") + ")")  # fmt: skip
    model.add_argument("--config_overrides", help='e.g. "hidden_size=384,num_hidden_layers=6,sampler_depth=2"')
    model.add_argument("--mask_type", choices=MASK_TYPES,
                       help="default: the config's (adaptive). tube/random/frame give the VideoMAE baselines")  # fmt: skip
    model.add_argument("--mask_ratio", type=float,
                       help="default: the config's: 0.95 as in the paper for small and base, 0.9 for tiny (25 of "
                       "its 256 tokens stay visible)")  # fmt: skip
    model.add_argument("--gradient_checkpointing", action="store_true")
    model.add_argument("--torch_compile", action="store_true", help="torch.compile the model")

    train = parser.add_argument_group("training")
    train.add_argument("--per_device_train_batch_size", type=int, help=T.recipe_help("per_device_train_batch_size"))
    train.add_argument("--gradient_accumulation_steps", type=int, default=1)
    train.add_argument("--base_learning_rate", type=float,
                       help=T.recipe_help("base_learning_rate", "lr = base * total batch / 256"))  # fmt: skip
    T.add_shared_option(train, "base_min_learning_rate", None, " (" + T.recipe_help("base_min_learning_rate") + ")")
    train.add_argument("--released_lr_schedule", type=string_to_bool, nargs="?", const=True, metavar="BOOL",
                       help=T.recipe_help("released_lr_schedule", "the released schedule: warm-up from 0 reaching the "
                                          "peak at its last step, then cosine to the min lr; false: transformers' "
                                          "linear warm-up, then cosine to 0"))  # fmt: skip
    train.add_argument("--weight_decay", type=float, help=T.recipe_help("weight_decay"))
    train.add_argument("--decay_sampler_positions", type=string_to_bool, nargs="?", const=True, metavar="BOOL",
                       help=T.recipe_help("decay_sampler_positions", "weight decay on the sampler's position "
                                          "embedding, as released"))  # fmt: skip
    train.add_argument("--adam_betas", type=float, nargs=2, help=T.recipe_help("adam_betas"))
    train.add_argument("--num_train_epochs", type=int, help=T.recipe_help("num_train_epochs"))
    train.add_argument("--max_train_steps", type=int, help="optimiser steps; overrides --num_train_epochs")
    train.add_argument("--warmup_epochs", type=float, help=T.recipe_help("warmup_epochs", "linear warm-up, then cosine"))
    train.add_argument("--num_warmup_steps", type=int, help="warm-up in steps; overrides --warmup_epochs")
    train.add_argument("--max_grad_norm", type=float, help=T.recipe_help("max_grad_norm", "clip gradients to this "
                       "norm (0: off)"))  # fmt: skip
    train.add_argument(
        "--cpu", action="store_true",
        help="run on CPU even where an accelerator is present. Several processes on a machine without one "
        "(`accelerate launch --multi_gpu --num_processes 2 ...` or torchrun) always run on CPU over gloo",
    )
    train.add_argument("--mixed_precision", choices=("no", "fp16", "bf16"), default=None,
                       help="default: Accelerate's config / 'no'. On CPU, fp16 (not applied there) and bf16 without the CPU's bf16 "
                       "instructions (2-4x slower) train in fp32, with a line saying so")  # fmt: skip
    T.add_shared_option(train, "on_nonfinite_loss", "stop")
    train.add_argument("--seed", type=int, help=T.recipe_help("seed"))
    train.add_argument("--dataloader_num_workers", type=int, default=min(4, max(0, (os.cpu_count() or 1) // 2)))

    out = parser.add_argument_group("output, checkpoints, logging")
    out.add_argument("--output_dir", help=f"default: {T.DEFAULT_OUTPUT_DIR}")
    out.add_argument("--overwrite_output_dir", action="store_true",
                     help="start afresh where --output_dir holds another run: that run is moved to "
                     "<output_dir>-replaced-<date-time>, not deleted (without it such a run is refused)")  # fmt: skip
    out.add_argument("--checkpointing_steps", help=T.recipe_help("checkpointing_steps", "'epoch' or every N optimiser steps"))
    out.add_argument("--checkpoints_total_limit", type=int, default=3, help="keep the newest N checkpoints")
    T.add_shared_option(out, "resume_from_checkpoint")
    out.add_argument("--with_tracking", action="store_true", help="log to --report_to")
    out.add_argument("--report_to", default="tensorboard", help="tensorboard, wandb, ... or all")
    out.add_argument("--logging_steps", type=int, default=1)
    out.add_argument("--log_level", choices=list(trainer_log_levels), default="passive",
                     help="the main process's logging level, as the fine-tuning script's: debug adds each recipe value; "
                     "passive: this script's INFO, transformers' and datasets' WARNING")  # fmt: skip
    out.add_argument("--visualize_every", type=int, default=None, help="figures every N steps (and at the end)")
    out.add_argument("--num_visualizations", type=int, default=2, help="clips per figure set (0: none)")
    out.add_argument("--disable_tqdm", action="store_true")
    out.add_argument("--push_to_hub", action="store_true")
    out.add_argument("--hub_model_id")
    out.add_argument("--hub_token")
    out.add_argument("--hub_private_repo", action="store_true")
    argv = sys.argv[1:] if argv is None else list(argv)
    resolution = resolve_recipe(parser, argv, "pretraining", T.PRETRAINING_DATA_ARGUMENTS)
    args = parser.parse_args(argv)
    args.output_dir = args.output_dir or T.DEFAULT_OUTPUT_DIR
    args.recipe_sources = resolution.as_dict()
    T.validate_args(args)
    if args.crop == "multiscale":
        if "min_crop_scale" in resolution.from_user:
            raise T.ArgumentError(
                "--min_crop_scale sets the random resized crop's smallest area; --crop multiscale (the recipes' crop) "
                f"draws scales {', '.join(map(str, MULTISCALE_CROP_SCALES))} of the short side instead: give "
                "--crop random_resized with it, or leave it out"
            )
        args.min_crop_scale = None  # unused: the dry run and the saved arguments say so
    return args


def build_train_dataset(args, config):
    if T.uses_synthetic_data(args):
        # the generator's defaults unless a size is given: the same cached dataset as run_finetuning.py's
        sizes = {
            "num_classes": args.synthetic_num_classes, "train_per_class": args.synthetic_train_per_class,
            "image_size": args.synthetic_image_size,
            "num_frames": span if (span := config.num_frames * args.sampling_rate) > 16 else None,  # clips of 16
        }  # fmt: skip
        data_dir = synthetic_dataset_dir(**{name: value for name, value in sizes.items() if value is not None})
        args.synthetic_data_dir = str(data_dir)
        source = load_video_source(data_dir=data_dir, split="train")
    else:
        source = load_video_source(
            dataset_name=args.dataset_name, dataset_config_name=args.dataset_config_name, data_dir=args.train_dir,
            list_file=args.train_list, data_root=args.data_root, split=args.train_split_name,
            video_column_name=args.video_column_name, label_column_name=args.label_column_name,
            streaming=args.streaming, labelled=args.label_column_name is not None,  # by default no labels: flat folders too
            shuffle_buffer_size=args.shuffle_buffer_size if args.streaming else 0, seed=args.seed,
        )  # fmt: skip
        if args.train_list:  # a missing video is found now, not when an epoch reaches it
            check_videos_exist(source, args.on_bad_video, f"--train_list {args.train_list}")
    if args.crop == "multiscale":
        transform = MultiScaleCropTransform(config.image_size, MULTISCALE_CROP_SCALES, args.horizontal_flip)
    else:
        transform = PretrainingTransform(
            config.image_size, scale=(args.min_crop_scale, 1.0), horizontal_flip=args.horizontal_flip
        )
    # --augment_on_device: uint8 clips resized at decode time, augmented in the step (`training_step`)
    on_device = dict(transform=None, frame_size=device_frame_size(config.image_size))
    dataset = VideoClipDataset.from_source(
        source, num_frames=config.num_frames, sampling_rate=args.sampling_rate, on_bad_video=args.on_bad_video,
        seed=args.seed, num_sample=args.num_sample, **(on_device if args.augment_on_device else {"transform": transform}),
    )  # fmt: skip
    if args.in_memory_videos:
        dataset = in_memory_items(dataset, args.in_memory_videos)
    visual = VideoClipDataset.from_source(
        source, num_frames=config.num_frames, sampling_rate=args.sampling_rate, mode="eval",
        transform=T.visualization_transform(config.image_size), on_bad_video="skip", seed=args.seed,
    )  # fmt: skip
    return dataset, visual, str(source.description)


def in_memory_items(dataset, count: int) -> torch.utils.data.Subset:
    """`--in_memory_videos`: items `0 .. count - 1` of `dataset` read once (their clips decoded and, without
    `--augment_on_device`, transformed), served as item `i % count` for `i` in `range(len(dataset))`: the same
    length, batches and schedule, and no video read after this. Raises `ArgumentError` for more items than the
    dataset has (`validate_args` refuses --streaming)."""
    if count > len(dataset):
        raise T.ArgumentError(f"--in_memory_videos {count} is more than the dataset's {len(dataset)} videos")
    items = [dataset[i] for i in range(count)]
    return torch.utils.data.Subset(items, [i % count for i in range(len(dataset))])


def visualization_batch(dataset, count: int) -> torch.Tensor | None:
    if count <= 0:
        return None
    items = []
    iterator = iter(dataset) if isinstance(dataset, torch.utils.data.IterableDataset) else None
    for i in range(count):
        if iterator is not None:
            item = next(iterator, None)
            if item is None:
                break
        else:
            item = dataset[i * max(1, len(dataset) // count) % len(dataset)]
        if item.get("readable", True):  # an unreadable video's placeholder is no picture
            items.append(item)
    return collate_pretraining(items)["pixel_values"] if items else None


def focus_clips(args, config, visual_dataset) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(clips to visualise, their object masks or None, clips and masks to measure the sampler on).

    On the synthetic dataset: the validation clips with their ground-truth masks (all of them are measured, a few
    spread over the classes are drawn); on other data, the visualised training clips (motion correlation only)."""
    if not getattr(args, "synthetic_data_dir", None):
        pixels = visualization_batch(visual_dataset, args.num_visualizations)
        return pixels, None, (pixels, None)
    pixels, masks = T.synthetic_focus_clips(args.synthetic_data_dir, config, args.sampling_rate)
    count = min(args.num_visualizations, len(pixels))
    if count == 0:
        return None, None, (pixels, masks)
    picked = torch.arange(count) * (len(pixels) // count)
    return pixels[picked], masks[picked], (pixels, masks)


def measure_focus(accelerator, model, clips, config, args) -> dict[str, float]:
    """The sampler-focus metrics (`adamae_hf.sampler_metrics.sampler_focus`) on the fixed clips; every process runs
    the forward (sharded models need it). Empty where there is no sampler or no clip."""
    pixel_values, object_masks = clips
    if pixel_values is None or config.mask_type != "adaptive":
        return {}
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), accelerator.autocast():
        return sampler_focus(model, pixel_values.to(accelerator.device), object_masks, config=config, seed=args.seed)


def visualize(accelerator, model, pixel_values, config, args, tag: str, step: int, object_masks=None) -> list[Path]:
    """Run the model on the fixed clips (eval mode, own RNG) and write figures, the ground-truth object outlined
    where `object_masks` is given; every process runs the forward (sharded models need it), the main one writes and
    logs."""
    if pixel_values is None:
        return []
    was_training = model.training
    model.eval()
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad(), accelerator.autocast():
        torch.manual_seed(args.seed)
        output = model(pixel_values.to(accelerator.device))
    model.train(was_training)
    if not accelerator.is_main_process:
        return []
    paths, images = save_visualizations(
        clip_pictures(pixel_values, output, config, object_masks), Path(args.output_dir) / "visualizations", tag,
        config.tubelet_size,
    )
    for tracker in accelerator.trackers if args.with_tracking else []:
        if hasattr(tracker, "log_images"):
            try:
                tracker.log_images({f"reconstruction/{k}": v[None] for k, v in images.items()}, step=step,
                                   dataformats="NHWC")  # fmt: skip
            except TypeError:
                tracker.log_images({f"reconstruction/{k}": v for k, v in images.items()}, step=step)
    return paths


def build_accelerator(args) -> Accelerator:
    """The `Accelerator` (trackers, mixed precision, gradient accumulation, a seedable sampler) and the logging."""
    accelerator_kwargs = {}
    if args.with_tracking:
        accelerator_kwargs["log_with"] = args.report_to
    # Accelerate runs several processes on CPU (gloo) only when told `cpu=True`; do so on a machine without CUDA.
    several_processes = int(os.environ.get("WORLD_SIZE", "1")) > 1
    cpu = args.cpu or (several_processes and not torch.cuda.is_available())
    mixed_precision, precision_note = T.precision_for_device(args.mixed_precision, PartialState(cpu=cpu).device.type)
    accelerator = Accelerator(
        cpu=cpu,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=mixed_precision,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "runs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        **accelerator_kwargs,
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO)  # fmt: skip
    level = None  # --log_level passive: this script's and adamae_hf's INFO, as the fine-tuning script's
    if accelerator.is_local_main_process and args.log_level != "passive":
        level = trainer_log_levels[args.log_level]
        for name in (logger.logger.name, "adamae_hf"):
            logging.getLogger(name).setLevel(level)
    logger.debug(accelerator.state, main_process_only=False)
    engine = "" if accelerator.distributed_type.value == "NO" else f", {accelerator.distributed_type.value}"
    logger.info(f"Running on {accelerator.device} ({accelerator.num_processes} process"
                f"{'es' if accelerator.num_processes > 1 else ''}{engine}, mixed precision {accelerator.mixed_precision}); "
                f"output in {args.output_dir}")  # fmt: skip
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # its line per file of each checkpoint
    if args.disable_tqdm:  # also the libraries' bars (the final save's "Writing model shards", datasets' loading)
        transformers.utils.logging.disable_progress_bar()  # with huggingface_hub's
        datasets.disable_progress_bars()
    if precision_note:
        logger.warning(precision_note)
    if level:
        datasets.utils.logging.set_verbosity(level)
        transformers.utils.logging.set_verbosity(level)
    elif accelerator.is_local_main_process:
        datasets.utils.logging.set_verbosity_warning()
        transformers.utils.logging.set_verbosity_warning()
    else:
        datasets.utils.logging.set_verbosity_error()
        transformers.utils.logging.set_verbosity_error()
    return accelerator


def build_dataloader(args, train_dataset, num_processes: int) -> DataLoader:
    """Shuffled, seeded batches; workers that leave signals to the main process (`adamae_hf.training.processes`)."""
    streaming = isinstance(train_dataset, torch.utils.data.IterableDataset)
    videos_per_batch = args.per_device_train_batch_size // args.num_sample  # each video read gives num_sample clips
    if not streaming and len(train_dataset) < videos_per_batch * num_processes:
        raise T.ArgumentError(
            f"the dataset has {len(train_dataset)} videos, fewer than one batch of "
            f"{videos_per_batch} x {num_processes} processes"
        )
    return DataLoader(
        train_dataset,
        batch_size=videos_per_batch,
        # Accelerate's seedable sampler (`use_seedable_sampler=True` in the Accelerator) draws each epoch's order
        # from data_seed + epoch: every process draws the same order and shards it, and a resumed run sees the order
        # of the run it continues (`skip_first_batches` keeps the epoch).
        shuffle=not streaming,
        collate_fn=collate_pretraining,
        num_workers=args.dataloader_num_workers,
        drop_last=not streaming,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=T.ignore_signals_worker_init,
        multiprocessing_context=T.worker_multiprocessing_context() if args.dataloader_num_workers > 0 else None,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(args.seed),  # worker seeds drawn apart from the model's RNG
    )


class Schedule(NamedTuple):
    total_batch_size: int
    learning_rate: float
    max_train_steps: int
    num_train_epochs: int
    num_warmup_steps: int


def learning_rates(args, num_processes: int) -> dict[str, float]:
    """The total batch and the peak and floor learning rates: the base values x total batch / 256, as released."""
    total_batch_size = args.per_device_train_batch_size * num_processes * args.gradient_accumulation_steps
    return {"total_batch_size": total_batch_size, "learning_rate": args.base_learning_rate * total_batch_size / 256,
            "min_learning_rate": args.base_min_learning_rate * total_batch_size / 256}  # fmt: skip


def learning_rate_derivation(args, total_batch_size: int) -> str:
    """How the peak lr was derived, for the log: `base lr 0.00015 (recipe 'adamae-k400') x total batch 4 / 256`."""
    recipe = args.recipe_sources
    given = "--base_learning_rate" if "base_learning_rate" in recipe["from_user"] else f"recipe {recipe['name']!r}"
    return f"base lr {args.base_learning_rate:g} ({given}) x total batch {total_batch_size} / 256"


def small_batch_warning(args, total_batch_size: int, learning_rate: float) -> str | None:
    """A warning where the recipe's base lr, scaled by the released rule to a total batch far below the recipe's
    (under 64 and under the recipe's), gives a peak lr that may leave the model barely training; else None."""
    recipe = args.recipe_sources
    recipe_batch = recipe_total_batch_size(recipe["name"], "pretraining")
    if "base_learning_rate" in recipe["from_user"] or total_batch_size >= min(64, recipe_batch):
        return None
    return (
        f"the total batch of {total_batch_size} clips is far below the {recipe_batch} of the recipe {recipe['name']!r}: "
        f"its base lr {args.base_learning_rate:g} x total batch {total_batch_size} / 256 (the released linear scaling) "
        f"gives a peak lr of {learning_rate:.3g}, at which the model may barely train. --base_learning_rate sets the "
        f"base lr, not the peak: for a peak lr L give --base_learning_rate L x 256 / {total_batch_size} (or raise the "
        "total batch: --per_device_train_batch_size, --gradient_accumulation_steps)"
    )


def build_optimizer_and_scheduler(args, accelerator, model, train_dataloader):
    """AdamW at `base_learning_rate * total batch / 256`, warm-up then cosine (`--released_lr_schedule`)."""
    rates = learning_rates(args, accelerator.num_processes)
    total_batch_size, learning_rate = rates["total_batch_size"], rates["learning_rate"]
    optimizer = build_adamw(model, learning_rate, args.weight_decay, betas=tuple(args.adam_betas),
                            decay_sampler_positions=args.decay_sampler_positions)  # fmt: skip

    batches_per_epoch = None
    if not isinstance(train_dataloader.dataset, torch.utils.data.IterableDataset):
        batches_per_epoch = len(train_dataloader) // accelerator.num_processes  # drop_last
    max_train_steps, steps_per_epoch, num_train_epochs = T.schedule_lengths(
        batches_per_epoch, args.gradient_accumulation_steps, args.num_train_epochs, args.max_train_steps
    )
    if args.num_warmup_steps is not None:
        num_warmup_steps, given_as = args.num_warmup_steps, f"--num_warmup_steps {args.num_warmup_steps}"
    else:
        num_warmup_steps = round(args.warmup_epochs * (steps_per_epoch or 0))
        recipe = args.recipe_sources
        given_as = f"--warmup_epochs {args.warmup_epochs:g} x {steps_per_epoch} steps per epoch" + (
            f" from the recipe {recipe['name']!r}" if "warmup_epochs" in recipe["from_recipe"] else "")
    num_warmup_steps, cut = fit_warmup(num_warmup_steps, max_train_steps, given_as,
                                       "--warmup_epochs or --num_warmup_steps")  # fmt: skip
    if cut:
        logger.warning(cut)
    # Accelerate steps a prepared scheduler once per process per optimiser step, hence the factor.
    if args.released_lr_schedule:
        lr_scheduler = get_released_cosine_schedule(
            optimizer, num_warmup_steps, max_train_steps, rates["min_learning_rate"] / learning_rate,
            steps_per_update=accelerator.num_processes,
        )  # fmt: skip
    else:
        lr_scheduler = get_cosine_schedule_with_warmup(
            optimizer,
            num_warmup_steps=num_warmup_steps * accelerator.num_processes,
            num_training_steps=max_train_steps * accelerator.num_processes,
        )
    schedule = Schedule(total_batch_size, learning_rate, max_train_steps, num_train_epochs, num_warmup_steps)
    return optimizer, lr_scheduler, schedule


def run_settings(args, accelerator, config, train_dataset, schedule: Schedule) -> dict:
    """What defines the run's schedule, data order and position, and model: a resume must share all of it."""
    sized = not isinstance(train_dataset, torch.utils.data.IterableDataset)
    ignored = ("transformers_version", "dtype", "architectures", "attn_implementation")  # no effect on the weights
    model_config = {k: v for k, v in config.to_dict().items() if k not in ignored and not k.startswith("_")}
    return {
        "num_processes": accelerator.num_processes, "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps, "total_batch_size": schedule.total_batch_size,
        "learning_rate": schedule.learning_rate, "max_train_steps": schedule.max_train_steps,
        "num_train_epochs": schedule.num_train_epochs, "num_warmup_steps": schedule.num_warmup_steps,
        "weight_decay": args.weight_decay, "adam_betas": list(args.adam_betas), "seed": args.seed,
        "dataset_size": len(train_dataset) if sized else None, "sampling_rate": args.sampling_rate,
        "model_config": model_config,
    }  # fmt: skip


def load_training_state(accelerator, args, resume_path: Path | None, settings: dict) -> T.TrainingState:
    """The state of the checkpoint resumed from (model, optimiser, scheduler, RNGs loaded) after checking that it
    was saved with these `settings` ([`check_resume_settings`]), or a fresh one; it carries `settings` on."""
    if resume_path is not None:
        state = T.TrainingState.load(resume_path)
        T.check_resume_settings(state.settings, settings, resume_path)
        accelerator.print(f"Resuming from checkpoint {resume_path}")
        accelerator.load_state(str(resume_path))
        state.settings = settings
        return state
    if args.resume_from_checkpoint == "latest" and not args.overwrite_output_dir:
        logger.info("No checkpoint in %s yet: starting from scratch.", T.checkpoint_dir(args.output_dir))
    return T.TrainingState(settings=settings)


class Figures:
    """The fixed clips the figures are drawn on (with their object masks on the synthetic data) and those the
    sampler-focus metrics are measured on; the latest metrics."""

    def __init__(self, pixel_values: torch.Tensor | None, object_masks: torch.Tensor | None, focus_set: tuple):
        self.pixel_values, self.object_masks, self.focus_set = pixel_values, object_masks, focus_set
        self.focus: dict[str, float] = {}

    def draw(self, accelerator, model, args, tag: str, step: int) -> list[Path]:
        config = accelerator.unwrap_model(model).config
        return visualize(accelerator, model, self.pixel_values, config, args, tag, step, self.object_masks)

    def measure(self, accelerator, model, args, step: int) -> None:
        self.focus = measure_focus(accelerator, model, self.focus_set, accelerator.unwrap_model(model).config, args)
        if self.focus:
            print_above_progress_bar(accelerator, f"sampler focus at step {step}: {T.format_focus(self.focus)}")
            if args.with_tracking:
                accelerator.log({f"focus/{k}": v for k, v in self.focus.items()}, step=step)


def log_run_start(args, config, model, train_dataset, data_description: str, schedule: Schedule) -> None:
    sized = not isinstance(train_dataset, torch.utils.data.IterableDataset)
    logger.info("***** Running training *****")
    logger.info(f"  Data = {data_description}" + (f" ({len(train_dataset)} clips)" if sized else ""))
    logger.info(f"  Model = {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, mask "
                f"{config.mask_type} {config.mask_ratio:.0%} ({config.num_visible_tokens} of {config.num_tokens} "
                f"tokens visible)")  # fmt: skip
    logger.info(f"  Num epochs = {schedule.num_train_epochs}, total optimisation steps = {schedule.max_train_steps}")
    logger.info(f"  Batch per device = {args.per_device_train_batch_size}, total (processes x accumulation) = "
                f"{schedule.total_batch_size}, peak lr = {schedule.learning_rate:.3g} "
                f"({learning_rate_derivation(args, schedule.total_batch_size)}), warm-up steps = "
                f"{schedule.num_warmup_steps}")  # fmt: skip
    if warning := small_batch_warning(args, schedule.total_batch_size, schedule.learning_rate):
        logger.warning(warning[0].upper() + warning[1:])


class LoopResult(NamedTuple):
    completed_steps: int
    last_logs: dict[str, float]
    exit_code: int = 0  # 128 + the signal number where a signal stopped the run
    skipped_videos: list[str] | None = None  # the bad videos skipped (`SkippedVideos`); None where not tracked


class SkippedVideos:
    """`--on_bad_video skip` on a dataset with a length: the names of the bad videos the run skipped. DataLoader
    workers hold their own copies of the dataset, so they are learnt from the batches (`"videos_skipped"`), shared
    between the processes at each epoch's end and each checkpoint (every process calls `share`), and recorded in the
    dataset, whose next epoch's workers then warn about none of them again. Resumed runs start from the
    checkpoint's list."""

    def __init__(self, dataset: VideoClipDataset, names: list[str]):
        self.dataset, self.names, self._new = dataset, set(names), set()
        dataset.record_skipped(self.names)

    def add(self, batch: dict) -> None:
        counts = batch.get("videos_skipped")
        if counts is None or not counts.any():
            return
        size, bad = len(self.dataset), counts > 0
        for index, count in zip(batch["video_index"][bad].tolist(), counts[bad].tolist()):
            self._new.update((index - k) % size for k in range(1, count + 1))  # the indices passed over

    def share(self) -> list[str]:
        """All processes' skipped videos so far, sorted (a collective: every process calls it)."""
        indices = set().union(*gather_object([sorted(self._new)]))
        self._new.clear()
        names = {self.dataset.source[index].name for index in indices}
        self.dataset.record_skipped(names)
        self.names |= names
        return sorted(self.names)


def train(accelerator, args, model, optimizer, lr_scheduler, train_dataloader, train_dataset, schedule: Schedule,
          state: T.TrainingState, figures: Figures) -> LoopResult:  # fmt: skip
    """The training loop from `state`: optimiser steps, logging, scheduled checkpoints and figures; on SIGTERM /
    Ctrl-C a checkpoint and an early return with the signal's exit code."""
    streaming = isinstance(train_dataset, torch.utils.data.IterableDataset)
    starting_epoch, skip_batches = T.resume_position(state, None if streaming else len(train_dataloader))
    checkpointing_steps = T.parse_checkpointing_steps(args.checkpointing_steps)
    stopper = T.GracefulStop().install()
    progress_bar = tqdm(
        total=schedule.max_train_steps, initial=state.completed_steps,
        disable=args.disable_tqdm or not accelerator.is_local_main_process, desc="pre-training", dynamic_ncols=True,
    )  # fmt: skip
    completed_steps = state.completed_steps
    epoch = starting_epoch
    last_logs: dict[str, float] = {}
    nonfinite_skipped = 0
    has_sampler = accelerator.unwrap_model(model).config.mask_type == "adaptive"  # else no sampling loss to log
    tracked = args.on_bad_video == "skip" and isinstance(train_dataset, VideoClipDataset) and not streaming
    skipped = SkippedVideos(train_dataset, state.skipped_videos) if tracked else None

    def checkpoint(name: str, epoch: int, step_in_epoch: int) -> Path:
        training_state = T.TrainingState(completed_steps, epoch, step_in_epoch, state.settings,
                                         skipped.share() if skipped else [])  # fmt: skip
        path = T.save_checkpoint(accelerator, args.output_dir, name, training_state, args.checkpoints_total_limit)
        logger.info(f"Checkpoint after step {completed_steps}: {path}")
        return path

    try:
        model.train()
        while completed_steps < schedule.max_train_steps and epoch < schedule.num_train_epochs:
            train_dataloader.set_epoch(epoch)
            train_dataset.set_epoch(epoch) if hasattr(train_dataset, "set_epoch") else None
            epoch_start, step_in_epoch = time.time(), 0
            loader = train_dataloader
            if epoch == starting_epoch and skip_batches:
                loader = accelerator.skip_first_batches(train_dataloader, skip_batches)
                step_in_epoch = skip_batches
            sums = torch.zeros(3, dtype=torch.float64)
            accumulated = torch.zeros(3, device=accelerator.device)
            micro_batches, epoch_updates, finite_updates = 0, 0, 0
            in_gradients = 0  # micro-batches whose gradients the parameters hold (since the last step or skip)
            for batch in loader:
                if skipped:
                    skipped.add(batch)
                with accelerator.accumulate(model):
                    in_gradients += 1
                    losses = training_step(accelerator, args, model, optimizer, lr_scheduler, batch,
                                           where=(completed_steps + 1, epoch, step_in_epoch), in_gradients=in_gradients)  # fmt: skip
                    if losses is None:
                        nonfinite_skipped += 1
                        in_gradients = 0
                    else:
                        accumulated += losses
                        micro_batches += 1
                step_in_epoch += 1
                if not accelerator.sync_gradients:
                    continue

                # ---- one optimiser step done
                completed_steps += 1
                epoch_updates += 1
                progress_bar.update(1)
                if micro_batches:
                    step_losses = (accumulated / micro_batches).cpu().double()
                    sums += step_losses
                    finite_updates += 1
                    last_logs = {"loss": step_losses[0].item(), "reconstruction_loss": step_losses[1].item(),
                                 **({"sampling_loss": step_losses[2].item()} if has_sampler else {}),
                                 "lr": lr_scheduler.get_last_lr()[0]}  # fmt: skip
                    progress_bar.set_postfix(loss=f"{last_logs['loss']:.4f}", rec=f"{last_logs['reconstruction_loss']:.4f}",
                                             **({"samp": f"{last_logs['sampling_loss']:.3f}"} if has_sampler else {}),
                                             lr=f"{last_logs['lr']:.2e}")  # fmt: skip
                    if args.with_tracking and completed_steps % args.logging_steps == 0:
                        accelerator.log({f"train/{k}": v for k, v in last_logs.items()} | {"train/epoch": epoch},
                                        step=completed_steps)  # fmt: skip
                accumulated.zero_()
                micro_batches = in_gradients = 0

                stop = torch.tensor([float(stopper.requested)], device=accelerator.device)
                stop_requested = accelerator.reduce(stop, reduction="sum").item() > 0
                if isinstance(checkpointing_steps, int) and completed_steps % checkpointing_steps == 0 and not stop_requested:
                    checkpoint(f"step_{completed_steps}", epoch, step_in_epoch)
                if args.visualize_every and completed_steps % args.visualize_every == 0:
                    figures.draw(accelerator, model, args, f"step_{completed_steps:06d}", completed_steps)
                    figures.measure(accelerator, model, args, completed_steps)
                if stop_requested:
                    path = checkpoint(f"step_{completed_steps}", epoch, step_in_epoch)
                    progress_bar.close()
                    code = stopper.exit_code if stopper.requested else 143
                    accelerator.print(
                        f"Stopped by a signal after step {completed_steps}: checkpoint saved to {path}. Resume with "
                        f"--resume_from_checkpoint latest --output_dir {args.output_dir} (exit code {code})."
                    )
                    return LoopResult(completed_steps, last_logs, code)
                if completed_steps >= schedule.max_train_steps:
                    break

            if skipped:
                skipped.share()  # before the next epoch's workers start
            if epoch_updates:
                log_epoch(accelerator, args, epoch, sums, epoch_updates, finite_updates, nonfinite_skipped,
                          time.time() - epoch_start, lr_scheduler.get_last_lr()[0], completed_steps, has_sampler)  # fmt: skip
            if checkpointing_steps == "epoch":
                checkpoint(f"epoch_{epoch}", epoch, step_in_epoch)
            epoch += 1
    finally:
        stopper.uninstall()
        progress_bar.close()
    return LoopResult(completed_steps, last_logs, skipped_videos=sorted(skipped.names) if skipped else None)


def training_step(accelerator, args, model, optimizer, lr_scheduler, batch, where: tuple[int, int, int],
                  in_gradients: int = 1):  # fmt: skip
    """Forward, backward and (when gradients sync) the optimiser step of one batch, inside `accelerator.accumulate`.
    Returns the process-mean `(total, reconstruction, sampling)` losses, or `None` where they were not finite and
    `--on_nonfinite_loss skip` dropped the batch's gradients; raises `NonFiniteLossError` for `stop`.

    `in_gradients` counts the micro-batches whose gradients the parameters hold with this one. `accelerator.backward`
    divides every loss by `gradient_accumulation_steps`; where an update has fewer micro-batches (an epoch that ends
    inside an accumulation cycle, or a cycle after a skipped batch), its gradients are rescaled to the mean over the
    micro-batches it has, as transformers' Trainer does (its `current_gradient_accumulation_steps`, PR #39659)."""
    pixel_values = batch["pixel_values"]
    if args.augment_on_device:  # crops, flips and normalises on the device; draws seeded by (seed, process, epoch, batch)
        step, epoch, batch_index = where
        seed = mix_seed(args.seed, rank=accelerator.process_index, worker_id=batch_index, epoch=epoch)
        generator = torch.Generator(device=pixel_values.device).manual_seed(seed)
        pixel_values = device_augmentation(args, accelerator, model)(pixel_values, batch["source_size"], generator)
    outputs = model(pixel_values)
    sampling = outputs.sampling_loss if outputs.sampling_loss is not None else torch.zeros_like(outputs.loss)
    losses = torch.stack([outputs.loss.detach(), outputs.reconstruction_loss.detach(), sampling.detach()]).float()
    losses = accelerator.reduce(losses, reduction="mean")
    if not torch.isfinite(losses).all():
        step, epoch, batch_index = where
        message = (f"non-finite loss (total {losses[0].item()}, reconstruction {losses[1].item()}, "
                   f"sampling {losses[2].item()}) at optimisation step {step} (epoch {epoch}, batch {batch_index})")  # fmt: skip
        if args.on_nonfinite_loss == "stop":
            raise T.NonFiniteLossError(message + "; lower the learning rate, enable --max_grad_norm, "
                                       "or pass --on_nonfinite_loss skip")  # fmt: skip
        logger.warning(message + ": batch skipped")
        optimizer.zero_grad(set_to_none=True)
        return None
    accelerator.backward(outputs.loss)
    if accelerator.sync_gradients and 0 < in_gradients < accelerator.gradient_accumulation_steps:
        scale = accelerator.gradient_accumulation_steps / in_gradients
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.grad.mul_(scale)
    if accelerator.sync_gradients and args.max_grad_norm > 0:
        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
    optimizer.step()
    lr_scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return losses


@functools.cache
def _device_augmentation(image_size: int, min_crop_scale: float, horizontal_flip: bool, num_sample: int):
    return PretrainingAugmentation(image_size, scale=(min_crop_scale, 1.0), horizontal_flip=horizontal_flip,
                                   num_sample=num_sample)  # fmt: skip


def device_augmentation(args, accelerator, model) -> PretrainingAugmentation:
    """`--augment_on_device`'s `PretrainingAugmentation` (the CPU transform's options), on the training device."""
    config = accelerator.unwrap_model(model).config
    augmentation = _device_augmentation(config.image_size, args.min_crop_scale, args.horizontal_flip, args.num_sample)
    return augmentation.to(accelerator.device)


def print_above_progress_bar(accelerator, message: str) -> None:
    """`accelerator.print` for the training loop: on the main process, written above the progress bar (`tqdm.write`)
    rather than into it."""
    if accelerator.is_main_process:
        tqdm.write(message)


def log_epoch(accelerator, args, epoch, sums, epoch_updates, finite_updates, nonfinite_skipped, seconds, lr, step,
              has_sampler=True):  # fmt: skip
    """The epoch's mean losses over its finite steps (a step whose every batch was skipped is no 0 in the mean); the
    sampling loss only for a mask with a sampler (`adaptive`)."""
    means = sums / finite_updates if finite_updates else torch.full_like(sums, float("nan"))
    print_above_progress_bar(
        accelerator,
        f"epoch {epoch}: loss {means[0]:.4f} (reconstruction {means[1]:.4f}"
        + (f", sampling {means[2]:.4f}" if has_sampler else "") + "), "
        f"{epoch_updates} steps in {seconds:.1f}s, lr {lr:.2e}"
        + (f", {nonfinite_skipped} non-finite batches skipped so far (the means are over the "
           f"{finite_updates} finite steps)" if nonfinite_skipped else ""),
    )
    if args.with_tracking:
        accelerator.log({"epoch/loss": means[0].item(), "epoch/reconstruction_loss": means[1].item()}
                        | ({"epoch/sampling_loss": means[2].item()} if has_sampler else {}), step=step)  # fmt: skip


def save_outputs(accelerator, args, model, completed_steps: int, results: dict) -> None:
    """The model (`save_pretrained`), its processor, the arguments and the results; pushed if asked."""
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(
        args.output_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save,
        state_dict=accelerator.get_state_dict(model),
    )  # fmt: skip
    if accelerator.is_main_process:
        save_processor(args.output_dir, unwrapped.config.image_size, unwrapped.config.num_frames, args.sampling_rate)
        Path(args.output_dir, "training_args.json").write_text(json.dumps(T.json_safe_args(args), indent=1))
        Path(args.output_dir, "train_results.json").write_text(json.dumps(results, indent=1))
    accelerator.end_training()
    if args.push_to_hub and accelerator.is_main_process:
        from adamae_hf.hub import push_checkpoint_to_hub

        url = push_checkpoint_to_hub(args.output_dir, args.hub_model_id, private=args.hub_private_repo,
                                     token=args.hub_token, commit_message=f"AdaMAE pre-training, step {completed_steps}")  # fmt: skip
        accelerator.print(f"Pushed to {url}")


def print_dry_run(args) -> int:
    """`--dry_run`: the resolved arguments, their sources, the learning rates for `WORLD_SIZE` processes (1 unless
    a launcher set it) and the model config, as JSON on stdout; no data read, no weights built."""
    config = T.build_config(args)  # a preset, or the config file of --model_name_or_path: no weights
    derived = {**learning_rates(args, int(os.environ.get("WORLD_SIZE", "1"))), "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    if warning := small_batch_warning(args, derived["total_batch_size"], derived["learning_rate"]):
        print(f"warning: {warning}", file=sys.stderr)
    if args.crop == "multiscale":
        derived["multiscale_crop_scales"] = list(MULTISCALE_CROP_SCALES)
    arguments = {k: v for k, v in vars(args).items() if k != "recipe_sources"}
    print(dry_run_report("run_pretraining.py", arguments, args.recipe_sources, derived, config.to_dict()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        return print_dry_run(args)
    started = time.time()
    resume_path = T.resolve_resume_checkpoint(args.resume_from_checkpoint, args.output_dir)
    T.check_output_dir(
        args.output_dir, resume_from_checkpoint=args.resume_from_checkpoint, resumable=resume_path is not None,
        overwrite_output_dir=args.overwrite_output_dir, model_name_or_path=args.model_name_or_path,
        resume_hint="--resume_from_checkpoint (alone: its latest checkpoint)" if T.find_latest_checkpoint(args.output_dir) else None,
    )  # fmt: skip
    accelerator = build_accelerator(args)
    summary, *details = recipe_log_lines(args.recipe_sources)
    logger.info(summary)
    for line in details:
        logger.debug(line)

    # ------------------------------------------------------------------ model and data (identical on all ranks)
    set_seed(args.seed)
    config = T.build_config(args)
    if accelerator.is_main_process:
        if args.overwrite_output_dir and (moved := T.move_previous_run(args.output_dir)):
            logger.info(f"--overwrite_output_dir: the earlier run in {args.output_dir} was moved to {moved} (delete "
                        "it when you no longer need it)")  # fmt: skip
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    model = T.build_model(args, config)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    with accelerator.main_process_first():  # the synthetic dataset is generated once
        train_dataset, visual_dataset, data_description = build_train_dataset(args, config)
    train_dataloader = build_dataloader(args, train_dataset, accelerator.num_processes)

    # ------------------------------------------------------------------ optimiser and schedule (paper recipe)
    optimizer, lr_scheduler, schedule = build_optimizer_and_scheduler(args, accelerator, model, train_dataloader)
    if args.torch_compile:
        model = torch.compile(model)
    model, optimizer, train_dataloader, lr_scheduler = accelerator.prepare(
        model, optimizer, train_dataloader, lr_scheduler
    )
    # Masks are drawn from the global RNG: different on every process from here on.
    set_seed(args.seed, device_specific=True)
    if args.with_tracking:
        accelerator.init_trackers("adamae_pretraining", config=T.tracker_config(args))

    # ------------------------------------------------------------------ resume, train
    state = load_training_state(accelerator, args, resume_path,
                                run_settings(args, accelerator, config, train_dataset, schedule))  # fmt: skip
    if state.completed_steps >= schedule.max_train_steps:  # a finished run resumed: its outputs stay as they are
        if accelerator.is_main_process:
            logger.warning(T.finished_run_message(state.completed_steps, resume_path, args.output_dir))
        accelerator.end_training()
        return 0
    with torch.random.fork_rng():  # the clips' transforms draw from the global RNG: keep the training stream exact
        figures = Figures(*focus_clips(args, config, visual_dataset))
    log_run_start(args, config, model, train_dataset, data_description, schedule)
    with logging_redirect_tqdm():  # log lines (checkpoints, warnings) go above the progress bar, not through it
        result = train(accelerator, args, model, optimizer, lr_scheduler, train_dataloader, train_dataset, schedule,
                       state, figures)  # fmt: skip
    if result.exit_code:
        accelerator.end_training()
        return result.exit_code
    completed_steps, last_logs = result.completed_steps, result.last_logs

    # ------------------------------------------------------------------ final model, processor, pictures
    accelerator.wait_for_everyone()
    pictures = figures.draw(accelerator, model, args, "final", completed_steps)
    if not (args.visualize_every and completed_steps % args.visualize_every == 0):
        figures.measure(accelerator, model, args, completed_steps)
    results = {"train_loss": last_logs.get("loss"), "train_reconstruction_loss": last_logs.get("reconstruction_loss")}
    if config.mask_type == "adaptive":  # the other masks have no sampler, hence no sampling loss
        results["train_sampling_loss"] = last_logs.get("sampling_loss")
    results |= {"completed_steps": completed_steps, "train_runtime": time.time() - started}
    results |= {f"focus_{k}": v for k, v in figures.focus.items()}
    if result.skipped_videos is not None:
        results["skipped_videos"] = result.skipped_videos
    save_outputs(accelerator, args, model, completed_steps, results)
    accelerator.print(
        f"Done in {time.time() - started:.0f}s: model and preprocessor config in {args.output_dir}, checkpoints in "
        f"{T.checkpoint_dir(args.output_dir)}, pictures in {Path(args.output_dir) / 'visualizations'}"
        + (f" (e.g. {pictures[0]})" if pictures else "")
    )
    if last_logs:
        accelerator.print(f"Summary after {completed_steps} steps: reconstruction loss {last_logs['reconstruction_loss']:.3f} "
                          f"(last step; 1.0 = predicting each patch's mean)"
                          + (f"; sampler focus on {len(figures.focus_set[0])} clips: {T.format_focus(figures.focus)}"
                             if figures.focus else ""))  # fmt: skip
    if result.skipped_videos is not None:
        names = result.skipped_videos
        accelerator.print(f"--on_bad_video skip: {len(names)} unreadable training video{'s' * (len(names) != 1)} "
                          "skipped" + (f": {', '.join(names[:10])}" + (f" and {len(names) - 10} more (all in "
                          "train_results.json)" if len(names) > 10 else "") if names else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    T.run_script(main, __file__)
