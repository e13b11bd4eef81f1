#!/usr/bin/env python
# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""
Fine-tune an AdaMAE (or VideoMAE) checkpoint for video classification with the `Trainer`, and evaluate it as the
paper does: K temporal clips x 3 spatial crops per video, scores averaged, top-1 / top-5 / per-class accuracy.

With no dataset argument it fine-tunes on the embedded synthetic motion dataset, starting from the default
pre-training output (`outputs/adamae-pretrain-synthetic`, written by `scripts/run_pretraining.py`) or from scratch
(`--recipe synthetic-demo`):

    python scripts/run_finetuning.py

Your own data (a `<split>/<class>/<video>` folder, VideoMAE list files, or a Hub / local `datasets` dataset) needs a
recipe, `adamae-ssv2` or `adamae-k400`: the released fine-tuning for that dataset (`adamae_hf.recipes`,
docs/recipes.md); a flag you give wins:

    python scripts/run_finetuning.py --recipe adamae-ssv2 --model_name_or_path outputs/adamae-ssv2 \
        --train_list ssv2/train.csv --validation_list ssv2/val.csv --data_root ssv2/videos \
        --output_dir outputs/adamae-ssv2-finetune --do_train --do_eval
    python scripts/run_finetuning.py --recipe adamae-ssv2 --model_name_or_path MCG-NJU/videomae-base \
        --train_list train.csv --validation_list val.csv --data_root videos/ --output_dir out --do_train --do_eval
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from transformers import HfArgumentParser, TrainingArguments, set_seed

import adamae_hf  # noqa: F401  (registers the Auto classes)
from adamae_hf import training as T
from adamae_hf.data import (
    TEMPORAL_SAMPLINGS,
    EvalTransform,
    FinetuningTransform,
    MixupCutmix,
    VideoClipDataset,
    VideoRandAugment,
    check_videos_exist,
    collate_finetuning,
    load_video_source,
    save_processor,
    synthetic_dataset_dir,
)
from adamae_hf.finetuning import (
    VIEW_AVERAGES,
    GracefulStopCallback,
    RunSettingsCallback,
    VideoClassificationTrainer,
    build_compute_metrics,
    build_model_for_finetuning,
    check_finetuning_resume,
    check_training_arguments,
    checkpoint_label_names,
    confusion_matrix,
    finetuning_run_settings,
    finished_steps,
    format_results_table,
    is_named,
    plot_confusion_matrix,
    readable_predictions,
    save_json,
    write_predictions_csv,
)
from adamae_hf.presets import preset_config
from adamae_hf.recipes import dry_run_report, recipe_log_lines, resolve_recipe


logger = logging.getLogger(__name__)

DEFAULT_PRETRAINED = "outputs/adamae-pretrain-synthetic"


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "An AdaMAE pre-training or fine-tuned checkpoint, or a VideoMAE one (Hub id or folder). Default "
            f"with the synthetic dataset: {DEFAULT_PRETRAINED} if it exists, else a `--model_preset` model from scratch."
        },
    )
    model_preset: str = field(default="tiny", metadata={"help": "Model size when training from scratch."})
    from_scratch: bool = field(
        default=False,
        metadata={"help": "Train a --model_preset model from scratch even where the default pre-trained checkpoint "
                  "exists (the no-pre-training baseline)."},
    )  # fmt: skip
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Config fields to override: of the preset when training from scratch, e.g. "
                  "'image_size=32,hidden_size=64,num_hidden_layers=2'; of the checkpoint's config otherwise, e.g. "
                  "'num_frames=16' (the fixed position table is rebuilt; a field that changes a weight's shape is "
                  "refused)."},
    )  # fmt: skip
    drop_path_rate: float = field(default=0.1, metadata={"help": "Stochastic depth of the encoder."})
    layer_decay: float = field(default=0.75, metadata={"help": "Layer-wise lr decay (1.0 disables it)."})
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Re-initialise the classification head when its class count differs from the dataset's."},
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub checkpoints are cached."})
    model_revision: str = field(default="main", metadata={"help": "Checkpoint revision (branch, tag or commit)."})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the saved one)."})


@dataclass
class DataTrainingArguments:
    dataset_name: str | None = T.shared_field("dataset_name", None)
    dataset_config_name: str | None = T.shared_field("dataset_config_name", None)
    train_dir: str | None = T.shared_field("train_dir", None)
    validation_dir: str | None = field(
        default=None, metadata={"help": "Folder `[validation/]<class>/<video>`; default `train_dir/validation` (or val)."}
    )
    test_dir: str | None = field(default=None, metadata={"help": "Folder for --do_predict (default: validation)."})
    train_list: str | None = T.shared_field("train_list", None)
    validation_list: str | None = field(default=None, metadata={"help": "Validation list file."})
    test_list: str | None = field(default=None, metadata={"help": "List file for --do_predict."})
    data_root: str | None = T.shared_field("data_root", None)
    train_split_name: str = T.shared_field("train_split_name", "train")
    validation_split_name: str = field(default="validation", metadata={"help": "Validation split of --dataset_name."})
    test_split_name: str | None = field(default=None, metadata={"help": "Split of --dataset_name for --do_predict."})
    video_column_name: str = T.shared_field("video_column_name", "video")
    label_column_name: str = field(default="label", metadata={"help": "Column of the labels (--dataset_name)."})
    streaming: bool = T.shared_field("streaming", False)
    shuffle_buffer_size: int = T.shared_field("shuffle_buffer_size", 1000)
    temporal_sampling: str = field(
        default="stride",
        metadata={"help": "stride: num_frames frames at --sampling_rate; segments: one frame from each of num_frames "
                  "equal segments (the released SSv2); videomae: the released Kinetics-400 sampling (16 frames over "
                  "a window of 16 x --sampling_rate, tested on the strided frames).", "choices": list(TEMPORAL_SAMPLINGS)},
    )  # fmt: skip
    sampling_rate: int | None = field(
        default=None, metadata={"help": "Temporal stride between the sampled frames (default 4; 2 on the synthetic data)."}
    )
    test_num_clips: int | None = field(
        default=None, metadata={"help": "K temporal clips per video at evaluation (default 2; 1 on the synthetic data)."}
    )
    test_num_crops: int = field(default=3, metadata={"help": "Spatial crops per clip at evaluation (1 or 3)."})
    test_resize_antialias: bool = field(
        default=True,
        metadata={"help": "Smooth the test resize of the short side (bilinear) before shrinking, as the quick start's "
                  "runs were measured; false (the adamae-* recipes): the released resize, OpenCV's INTER_LINEAR "
                  "without smoothing. Saved with the model's video processor."},
    )  # fmt: skip
    view_average: str = field(
        default="probabilities",
        metadata={"help": "How a video's views are combined at evaluation: the mean of their probabilities, or the "
                  "softmax of their mean logits (as released).", "choices": list(VIEW_AVERAGES)},
    )  # fmt: skip
    horizontal_flip: bool | None = T.shared_field("horizontal_flip", None, " (default: on; off on the synthetic data)")
    rand_augment: bool = field(default=True, metadata={"help": "RandAugment as released (timm's rand-mM-nN-mstdS-inc1 "
                               "with PIL's operations) on the full frames before the crop, one draw per clip."})
    rand_augment_num_ops: int = field(default=2, metadata={"help": "RandAugment: operations per clip (n)."})
    rand_augment_magnitude: float = field(default=9.0, metadata={"help": "RandAugment: magnitude, 0-10 (m)."})
    rand_augment_magnitude_std: float = field(default=0.5, metadata={"help": "RandAugment: magnitude spread (mstd)."})
    random_erasing: float = field(default=0.25, metadata={"help": "Random erasing probability."})
    random_erasing_fill: str = field(
        default="zero", metadata={"help": "Fill of the erased box: zero (the mean colour) or pixel (per-pixel noise, "
                                  "as released).", "choices": ["zero", "pixel"]},
    )  # fmt: skip
    min_crop_scale: float = T.shared_field("min_crop_scale", 0.08)
    released_crop: bool = field(
        default=False,
        metadata={"help": "The released random resized crop (the adamae-* recipes): kornia's 10 tries, but when none "
                  "fits the fallback crop is centred rather than placed at random (which differs on frames wider or "
                  "taller than the ratios 3/4-4/3 allow); resized bilinearly without smoothing, as kornia's. Off: "
                  "kornia's RandomResizedCrop, with which the quick start's runs were measured."},
    )  # fmt: skip
    num_sample: int = T.shared_field("num_sample", 1, " (default: 1, VideoMAE's recipe)")
    mixup: float = field(default=0.8, metadata={"help": "Mixup alpha (0 disables)."})
    cutmix: float = field(default=1.0, metadata={"help": "Cutmix alpha (0 disables)."})
    mixup_prob: float = field(default=1.0, metadata={"help": "Probability of mixing a batch."})
    mixup_switch_prob: float = field(default=0.5, metadata={"help": "Probability of cutmix rather than mixup."})
    on_bad_video: str = T.shared_field("on_bad_video", "raise")
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the embedded synthetic dataset."})

    @property
    def has_dataset(self) -> bool:
        return bool(self.dataset_name or self.train_dir or self.train_list or self.validation_dir or self.validation_list)


@dataclass
class FinetuningTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the fine-tuning recipe's defaults (AdamW betas (0.9, 0.999), weight decay 0.05,
    cosine schedule with 10 % warm-up) and `remove_unused_columns=False` (the batches carry video indices)."""

    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate of the head (AdamW)."})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (not on biases / norms / pos-emb)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    warmup_steps: float = field(default=0.1, metadata={"help": "Warm-up steps (< 1: fraction of the training)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False for video batches."})
    logging_steps: float = field(default=10, metadata={"help": "Log every X steps."})
    dataloader_pin_memory: bool = field(
        default=torch.cuda.is_available(), metadata={"help": "Pin batches in memory (default: where CUDA is available)."}
    )
    label_smoothing_factor: float = field(
        default=0.1, metadata={"help": "Label smoothing of the (soft) targets, applied with mixup / cutmix."}
    )
    disable_tqdm: bool = field(
        default=False, metadata={"help": "No progress bars (the Trainer's nor the libraries'); alone: true."}
    )
    on_nonfinite_loss: str = T.shared_field("on_nonfinite_loss", "stop")
    resume_from_checkpoint: str | None = T.shared_field("resume_from_checkpoint", None)
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Train afresh where --output_dir holds another run: that run is moved to "
                  "<output_dir>-replaced-<date-time>, not deleted (without it such a run is refused)."},
    )  # fmt: skip
    base_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Peak learning rate per 256 clips: --learning_rate = base x total batch / 256, as "
                  "released (the recipes set it; --learning_rate given instead is used as is)."},
    )  # fmt: skip
    base_min_learning_rate: float = T.shared_field("base_min_learning_rate", 0.0)
    warmup_epochs: float | None = field(
        default=None, metadata={"help": "Warm-up in epochs (replaces --warmup_steps; the recipes set it)."}
    )
    released_lr_schedule: bool = field(
        default=False,
        metadata={"help": "The released schedule (warm-up from 0 reaching the peak at its last step, cosine to the "
                  "min lr) instead of --lr_scheduler_type."},
    )  # fmt: skip


@dataclass
class RecipeArguments:
    recipe: str | None = T.shared_field("recipe", None)
    dry_run: bool = T.shared_field("dry_run", False)


FINETUNING_DATA_ARGUMENTS = ("dataset_name", "train_dir", "train_list", "validation_dir", "validation_list")


def parse_args(args: list[str] | None = None):
    """`(model, data, training, recipe)` arguments: the recipe's values (`adamae_hf.recipes`) under the flags given."""
    parser = HfArgumentParser(
        (ModelArguments, DataTrainingArguments, FinetuningTrainingArguments, RecipeArguments),
        formatter_class=T.HelpFormatter,
        usage="%(prog)s [--flag value ...] (--help lists every flag)",  # a bad flag's error not under 150 lines of usage
        description=__doc__.strip().split("\n\n")[0].replace("\n", " "),
    )
    argv = sys.argv[1:] if args is None else list(args)
    if len(argv) == 1 and argv[0].endswith(".json"):  # every value from the file: no recipe
        *parsed, recipe_args = parser.parse_json_file(json_file=os.path.abspath(argv[0]))
        recipe_args.sources = {"name": None, "from_recipe": {}, "from_user": {}, "overridden": {}}
        return (*parsed, recipe_args)
    resolution = resolve_recipe(parser, argv, "finetuning", FINETUNING_DATA_ARGUMENTS)
    given = {a.split("=")[0] for a in argv if a.startswith("--")}
    if not {"--do_train", "--do_eval", "--do_predict"} & given:
        argv += ["--do_train", "--do_eval"]
        logger.info("None of --do_train / --do_eval / --do_predict given: training and evaluating.")
    try:  # unknown flags and TrainingArguments' own checks (`--warmup_steps -5`) raise ValueError
        model_args, data_args, training_args, recipe_args = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:
        raise T.ArgumentError(str(error)) from None
    recipe_args.sources = resolution.as_dict()
    return model_args, data_args, training_args, recipe_args


# (arguments, flag, lowest, highest, whether the bounds are allowed): every numeric value the Trainer does not check
_VALUE_RANGES = (
    ("model", "drop_path_rate", 0.0, 1.0, "[)"), ("model", "layer_decay", 0.0, 1.0, "(]"),
    ("data", "sampling_rate", 1, None, "[)"), ("data", "test_num_clips", 1, None, "[)"),
    ("data", "num_sample", 1, None, "[)"), ("data", "shuffle_buffer_size", 0, None, "[)"),
    ("data", "mixup", 0.0, None, "[)"), ("data", "cutmix", 0.0, None, "[)"),
    ("data", "mixup_prob", 0.0, 1.0, "[]"), ("data", "mixup_switch_prob", 0.0, 1.0, "[]"),
    ("data", "random_erasing", 0.0, 1.0, "[]"), ("data", "min_crop_scale", 0.0, 1.0, "(]"),
    ("training", "per_device_train_batch_size", 1, None, "[)"), ("training", "per_device_eval_batch_size", 1, None, "[)"),
    ("training", "gradient_accumulation_steps", 1, None, "[)"), ("training", "learning_rate", 0.0, None, "()"),
    ("training", "base_learning_rate", 0.0, None, "()"), ("training", "base_min_learning_rate", 0.0, None, "[)"),
    ("training", "weight_decay", 0.0, None, "[)"), ("training", "warmup_steps", 0.0, None, "[)"),
    ("training", "warmup_epochs", 0.0, None, "[)"), ("training", "label_smoothing_factor", 0.0, 1.0, "[)"),
    ("training", "dataloader_num_workers", 0, None, "[)"),
)  # fmt: skip


def check_values(model_args, data_args, training_args) -> None:
    """Refuse out-of-range values before any data or model work: raises `ArgumentError` naming the flag, its range
    and the value given (`--test_num_clips 0` must not become the default, nor `--mixup -1` train silently)."""
    arguments = {"model": model_args, "data": data_args, "training": training_args}
    for group, name, low, high, bounds in _VALUE_RANGES:
        value = getattr(arguments[group], name)
        if value is None:
            continue
        above = value >= low if bounds[0] == "[" else value > low
        below = high is None or (value <= high if bounds[1] == "]" else value < high)
        if not (above and below):
            where = f">= {low}" if bounds[0] == "[" else f"> {low}"
            if high is not None:
                where = f"in {bounds[0]}{low}, {high}{bounds[1]}"
            raise T.ArgumentError(f"--{name} must be {where}, got {value}")
    if data_args.test_num_crops not in (1, 3):
        raise T.ArgumentError(f"--test_num_crops must be 1 or 3 (centre, or the released 3 crops), got {data_args.test_num_crops}")
    if training_args.max_steps <= 0 and training_args.num_train_epochs <= 0:
        raise T.ArgumentError(f"--num_train_epochs must be > 0 (or give --max_steps), got {training_args.num_train_epochs:g}")


def load_sources(data_args: DataTrainingArguments, training_args: TrainingArguments, label_names=None):
    """(train, validation, test) `VideoSource`s (None where not needed), with the training label names; every split
    maps its classes by name to `label_names` where given (a checkpoint's classes), else to the first split's."""
    common = dict(video_column_name=data_args.video_column_name, label_column_name=data_args.label_column_name)
    if data_args.dataset_name:
        def hub(split, label_names=None, **shuffle):
            return load_video_source(
                dataset_name=data_args.dataset_name, dataset_config_name=data_args.dataset_config_name, split=split,
                streaming=data_args.streaming, label_names=label_names, **shuffle, **common,
            )  # fmt: skip
        shuffle = dict(shuffle_buffer_size=data_args.shuffle_buffer_size, seed=training_args.data_seed or training_args.seed)
        train = hub(data_args.train_split_name, label_names, **shuffle) if training_args.do_train else None
        names = train.label_names if train is not None else label_names
        validation = hub(data_args.validation_split_name, names)
        names = names or validation.label_names
        test = hub(data_args.test_split_name, names) if training_args.do_predict and data_args.test_split_name else None
        return train, validation, test
    if data_args.train_list or data_args.validation_list:
        def listed(path, label_names=None):
            return load_video_source(list_file=path, data_root=data_args.data_root, label_names=label_names)
        train = listed(data_args.train_list, label_names) if training_args.do_train and data_args.train_list else None
        validation = listed(data_args.validation_list, train.label_names if train else label_names) if data_args.validation_list else None
        names = (train or validation).label_names
        test = listed(data_args.test_list, names) if training_args.do_predict and data_args.test_list else None
        for flag, source in (("--train_list", train), ("--validation_list", validation), ("--test_list", test)):
            if source is not None:  # before training: a missing validation video is not found hours later
                check_videos_exist(source, data_args.on_bad_video, f"{flag} {getattr(data_args, flag[2:])}")
        return train, validation, test
    train_dir = data_args.train_dir
    validation_dir = data_args.validation_dir
    if validation_dir is None and train_dir is not None:
        validation_dir = next((os.path.join(train_dir, n) for n in ("validation", "val", "valid") if os.path.isdir(os.path.join(train_dir, n))), None)
    train = load_video_source(data_dir=train_dir, split="train", label_names=label_names) if training_args.do_train and train_dir else None
    names = train.label_names if train is not None else label_names
    validation = load_video_source(data_dir=validation_dir, split="validation", label_names=names) if validation_dir else None
    names = names or (validation.label_names if validation is not None else None)
    test = load_video_source(data_dir=data_args.test_dir, split="test", label_names=names) if training_args.do_predict and data_args.test_dir else None
    return train, validation, test


def check_output_dir(training_args, model_args: ModelArguments) -> None:
    """Training refuses an `--output_dir` that holds another run (`adamae_hf.training.check_output_dir`); evaluation
    and prediction alone only add their results to it. `--resume_from_checkpoint latest` (or alone) becomes the
    newest `checkpoint-<step>` in `--output_dir`, or `None` where there is none yet (a fresh start, so that a job
    stopped before its first checkpoint restarts with the same command)."""
    if not training_args.do_train:
        return
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = training_args.output_dir
    last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
    given = training_args.resume_from_checkpoint
    if given == "latest":
        training_args.resume_from_checkpoint = last
    T.check_output_dir(
        output_dir, resume_from_checkpoint=given,
        resumable=training_args.resume_from_checkpoint is not None, overwrite_output_dir=training_args.overwrite_output_dir,
        model_name_or_path=model_args.model_name_or_path,
        resume_hint="--resume_from_checkpoint (alone: its latest checkpoint)" if last else None,
    )  # fmt: skip


def has_checkpoint(folder: str) -> bool:
    """Whether `folder` holds a complete `save_pretrained` checkpoint (config and weights)."""
    names = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    return os.path.isfile(os.path.join(folder, "config.json")) and any(os.path.isfile(os.path.join(folder, n)) for n in names)


def scratch_config(model_args: ModelArguments):
    """`preset_config(--model_preset)` updated with `--config_overrides` (the `PretrainedConfig.update_from_string`
    syntax, `"hidden_size=64,norm_pix_loss=false"`, as `run_pretraining.py`). Raises `ArgumentError` naming the key for an
    unknown key, a bad value or an invalid config."""
    config = preset_config(model_args.model_preset)
    if model_args.config_overrides:
        try:
            config.update_from_string(model_args.config_overrides)
        except ValueError as error:
            raise T.ArgumentError(f"--config_overrides: {error}") from None
    return config


def video_names(source, video_index: np.ndarray) -> list[str]:
    if source.streaming:
        return [str(i) for i in video_index]
    return [source[int(i)].name for i in video_index]


def evaluate_split(trainer, dataset, source, prefix: str, split: str):
    """Multi-view prediction on `dataset`: metrics (logged and saved) and the per-video results of the readable
    videos; unreadable ones (`--on_bad_video skip`) are reported and left out of everything."""
    output = trainer.predict(dataset, metric_key_prefix=prefix)
    result = readable_predictions(output.predictions, output.label_ids, trainer.view_average)
    if len(result.unreadable_index):
        names = video_names(source, result.unreadable_index)
        logger.warning(
            "%d of %d %s videos unreadable, left out of the metrics, the confusion matrix and the predictions: %s",
            len(names), len(names) + len(result.video_index), split, ", ".join(names),
        )  # fmt: skip
    trainer.log_metrics(prefix, output.metrics)
    trainer.save_metrics(prefix, output.metrics)
    return output, result


def setup_logging(training_args) -> None:
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )  # fmt: skip
    # INFO from this script and adamae_hf on the main process: what runs, on what, how long, where the output goes.
    # transformers' own INFO (the argument and config dumps, each file loaded and saved) only with --log_level.
    log_level = training_args.get_process_log_level()  # passive: transformers' (WARNING); replicas: WARNING
    explicit = training_args.log_level != "passive"
    ours = logging.INFO if training_args.should_log and not explicit else log_level
    for name in (__name__, "adamae_hf"):
        logging.getLogger(name).setLevel(ours)
    transformers.utils.logging.set_verbosity(log_level)
    if training_args.disable_tqdm:  # also the bars of saving ("Writing model shards") and of datasets
        transformers.utils.logging.disable_progress_bar()
        datasets.disable_progress_bars()
    logger.debug("Training/evaluation parameters %s", training_args)


def resolve_sources(data_args: DataTrainingArguments, training_args, synthetic: bool):
    """The data defaults (synthetic dataset, stride, clips, flips), then (train, validation, test) sources, the test
    falling back to the validation split, and the label names."""
    if synthetic:
        data_args.train_dir = str(synthetic_dataset_dir(seed=data_args.synthetic_seed))
        logger.info("No dataset given: using the embedded synthetic motion dataset in %s", data_args.train_dir)
    data_args.sampling_rate = data_args.sampling_rate or (2 if synthetic else 4)
    data_args.test_num_clips = data_args.test_num_clips or (1 if synthetic else 2)
    if data_args.horizontal_flip is None:
        data_args.horizontal_flip = not synthetic
    train_source, eval_source, test_source = load_sources(data_args, training_args)
    if training_args.do_train and train_source is None:
        raise T.ArgumentError("--do_train needs training data (--dataset_name, --train_dir or --train_list).")
    if training_args.do_eval and eval_source is None:
        raise T.ArgumentError("--do_eval needs a validation split (--validation_dir, --validation_list or the dataset's).")
    if training_args.do_predict and test_source is None:
        logger.info("No test split given: --do_predict predicts the validation split.")
        test_source = eval_source
        if test_source is None:
            raise T.ArgumentError("--do_predict needs a test or validation split.")
    label_names = next(s for s in (train_source, eval_source, test_source) if s is not None).label_names
    logger.info("%d classes: %s", len(label_names), ", ".join(label_names[:20]) + (" ..." if len(label_names) > 20 else ""))
    return (train_source, eval_source, test_source), label_names


def pretrained_path(model_args: ModelArguments, synthetic: bool) -> str | None:
    """`--model_name_or_path`; on the synthetic data the default pre-training output where it exists; else `None`
    (a model from scratch)."""
    if model_args.model_name_or_path is not None:
        return model_args.model_name_or_path
    if model_args.config_overrides or model_args.from_scratch:  # a model from scratch was asked for
        logger.info("Fine-tuning a %r AdaMAE from scratch.", model_args.model_preset)
    elif synthetic and has_checkpoint(DEFAULT_PRETRAINED):
        return DEFAULT_PRETRAINED
    else:
        logger.warning(
            "No pre-trained checkpoint (%s): fine-tuning a %r AdaMAE from scratch. Run scripts/run_pretraining.py "
            "first (or pass --model_name_or_path) for the pre-trained start.",
            f"{DEFAULT_PRETRAINED} not found" if synthetic else "no --model_name_or_path", model_args.model_preset,
        )  # fmt: skip
    return None


def checkpoint_classes(model_args: ModelArguments, model_path: str | None, data_args, training_args, sources, label_names):
    """The sources and class names to train or evaluate with, given the checkpoint's own classes.

    A classifier checkpoint with named classes (`id2label`) keeps them: the data's classes are mapped to the
    checkpoint's by name (the sources are re-read with the checkpoint's `label_names`), whatever order the data
    sorts them in; a checkpoint class missing from the data is fine. A data class the checkpoint does not know is an
    [`ArgumentError`]: for evaluation always; for training unless `--ignore_mismatched_sizes`, which trains a head for
    the data's classes instead. Data whose classes are bare ids (list files, integer label columns) map by position.
    """
    known = checkpoint_label_names(model_path, cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                   token=model_args.token)  # fmt: skip
    if known is None or not is_named(label_names) or label_names == known:
        return sources, label_names
    if training_args.do_train and model_args.ignore_mismatched_sizes:
        logger.warning(
            "--ignore_mismatched_sizes: training a classification head for the data's %d classes (%s) in place of the "
            "checkpoint's %d (%s).", len(label_names), ", ".join(label_names), len(known), ", ".join(known),
        )  # fmt: skip
        return sources, label_names
    names_seen = set(label_names)
    for source in sources[1:]:  # the validation and test splits may hold classes the first one does not
        if source is not None and is_named(source.label_names):
            names_seen |= set(source.label_names)
    unknown = sorted(names_seen - set(known))
    if unknown:
        advice = (
            "pass --ignore_mismatched_sizes to train a new head for the data's classes"
            if training_args.do_train
            else "a classifier can only be evaluated on the classes it was trained on; fine-tune it on this data "
            "with --do_train --ignore_mismatched_sizes first"
        )
        raise T.ArgumentError(
            f"the data has classes {unknown} that the checkpoint {model_path} does not classify (its classes: "
            f"{', '.join(known)}); {advice}."
        )
    logger.info(
        "Mapping the data's classes to the checkpoint's by name (id2label of %s): %s.", model_path,
        ", ".join(f"{name} -> {known.index(name)}" for name in label_names),
    )  # fmt: skip
    sources = load_sources(data_args, training_args, label_names=known)
    train_source, eval_source, test_source = sources
    if training_args.do_predict and test_source is None:
        test_source = eval_source
    return (train_source, eval_source, test_source), known


def build_datasets(data_args, training_args, config, sources, label_names):
    """(train, eval, test) `VideoClipDataset`s (None where not needed) and the mixup / cutmix / smoothing."""
    train_source, eval_source, test_source = sources
    common = dict(num_frames=config.num_frames, sampling_rate=data_args.sampling_rate, on_bad_video=data_args.on_bad_video, seed=training_args.seed,
                  temporal_sampling=data_args.temporal_sampling)  # fmt: skip
    train_dataset = eval_dataset = test_dataset = None
    if training_args.do_train:
        transform = FinetuningTransform(
            config.image_size, rand_augment=data_args.rand_augment, rand_augment_num_ops=data_args.rand_augment_num_ops,
            rand_augment_magnitude=data_args.rand_augment_magnitude,
            rand_augment_magnitude_std=data_args.rand_augment_magnitude_std, random_erasing=data_args.random_erasing,
            random_erasing_fill=data_args.random_erasing_fill, horizontal_flip=data_args.horizontal_flip,
            scale=(data_args.min_crop_scale, 1.0), released_crop=data_args.released_crop,
        )  # fmt: skip
        train_dataset = VideoClipDataset.from_source(
            train_source, transform=transform, mode="train", num_sample=data_args.num_sample, **common
        )
    eval_transform = EvalTransform(config.image_size, num_crops=data_args.test_num_crops,
                                   antialias=data_args.test_resize_antialias)  # fmt: skip
    eval_kwargs = dict(transform=eval_transform, mode="eval", num_clips=data_args.test_num_clips, **common)
    if eval_source is not None and (training_args.do_eval or training_args.eval_strategy != "no"):
        eval_dataset = VideoClipDataset.from_source(eval_source, **eval_kwargs)
    if training_args.do_predict:
        test_dataset = eval_dataset if test_source is eval_source and eval_dataset is not None else VideoClipDataset.from_source(test_source, **eval_kwargs)
    mixup = None
    if data_args.mixup > 0 or data_args.cutmix > 0 or training_args.label_smoothing_factor > 0:
        mixup = MixupCutmix(
            len(label_names), mixup_alpha=data_args.mixup, cutmix_alpha=data_args.cutmix, prob=data_args.mixup_prob,
            switch_prob=data_args.mixup_switch_prob, label_smoothing=training_args.label_smoothing_factor,
        )  # fmt: skip
    return (train_dataset, eval_dataset, test_dataset), mixup


def views_per_video(data_args) -> str:
    """`"1 clip x 3 crops"`: the evaluation views of each video, for the log."""
    clips, crops = data_args.test_num_clips, data_args.test_num_crops
    return f"{clips} clip{'s' if clips != 1 else ''} x {crops} crop{'s' if crops != 1 else ''}"


def evaluate_validation(trainer, data_args, eval_dataset, eval_source, label_names, output_dir: Path) -> dict:
    """The multi-view validation metrics, their confusion matrix (JSON and PNG)."""
    logger.info("*** Evaluate: %s per video ***", views_per_video(data_args))
    output, predictions = evaluate_split(trainer, eval_dataset, eval_source, "eval", "validation")
    matrix = confusion_matrix(predictions.probabilities.argmax(1), predictions.references, len(label_names))
    save_json(output_dir / "confusion_matrix.json", {"label_names": list(label_names), "matrix": matrix.tolist()})
    figure = plot_confusion_matrix(
        matrix, label_names, output_dir / "confusion_matrix.png",
        title=f"Validation, {data_args.test_num_clips}x{data_args.test_num_crops} views: top-1 "
        f"{output.metrics.get('eval_top1', float('nan')):.1f} %",
    )  # fmt: skip
    logger.info("Confusion matrix: %s", figure)
    return output.metrics


def predict_test(trainer, test_dataset, test_source, eval_source, label_names, output_dir: Path) -> None:
    """The per-video predictions of the test split (or the validation split) as CSV."""
    logger.info("*** Predict ***")
    split = "test" if test_source is not eval_source else "validation"
    output, predictions = evaluate_split(trainer, test_dataset, test_source, "test", split)
    csv_path = write_predictions_csv(
        output_dir / f"predictions_{split}.csv", predictions.probabilities, predictions.references,
        video_names(test_source, predictions.video_index), label_names,
    )  # fmt: skip
    logger.info("Per-video predictions: %s", csv_path)


def push_with_model_card(training_args, data_args, results, config, model_path, synthetic: bool, output_dir: Path):
    from adamae_hf.hub import model_card_for_run, push_checkpoint_to_hub

    repo_id = training_args.hub_model_id or output_dir.name
    card = model_card_for_run(
        training_args.to_dict(), {k: v for k, v in results.items() if k.startswith("eval_")}, model_name=repo_id.split("/")[-1],
        config=config, repo_id=repo_id, base_model=model_path, dataset_name=data_args.dataset_name or ("synthetic motions" if synthetic else None),
        dataset_id=data_args.dataset_name,
    )  # fmt: skip
    card.save(output_dir / "README.md")
    url = push_checkpoint_to_hub(output_dir, repo_id, private=bool(training_args.hub_private_repo), token=training_args.hub_token)
    logger.info("Pushed to %s", url)


def learning_rates(training_args, world_size: int) -> dict[str, float]:
    """The total batch, the peak lr (`--base_learning_rate` x total batch / 256 where given, else `--learning_rate`)
    and the floor of the released schedule (`--base_min_learning_rate` x total batch / 256)."""
    total = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * world_size
    base = training_args.base_learning_rate
    return {"total_batch_size": total,
            "learning_rate": base * total / 256 if base is not None else training_args.learning_rate,
            "min_learning_rate": training_args.base_min_learning_rate * total / 256}  # fmt: skip


def rand_augment(data_args) -> VideoRandAugment:
    """The RandAugment of `--rand_augment_*`; a bad value raises `ArgumentError` naming the flags."""
    try:
        return VideoRandAugment(data_args.rand_augment_num_ops, data_args.rand_augment_magnitude,
                                data_args.rand_augment_magnitude_std)  # fmt: skip
    except ValueError as error:
        raise T.ArgumentError(f"--rand_augment_num_ops / --rand_augment_magnitude / --rand_augment_magnitude_std: {error}") from None


def print_dry_run(model_args, data_args, training_args, recipe_args) -> int:
    """`--dry_run`: the resolved arguments, their sources, the learning rates for `WORLD_SIZE` processes (1 unless
    a launcher set it) and the model config (the checkpoint's config file, or the preset), as JSON on stdout; no
    data read, no weights built."""

    model_path = model_args.model_name_or_path
    if model_path is None and not data_args.has_dataset and not (model_args.from_scratch or model_args.config_overrides):
        model_path = DEFAULT_PRETRAINED if has_checkpoint(DEFAULT_PRETRAINED) else None  # as pretrained_path
    if model_path is not None:
        config = T.read_config_dict(model_path, cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                    token=model_args.token)  # fmt: skip
    else:
        config = scratch_config(model_args).to_dict()
    config.update(drop_path_rate=model_args.drop_path_rate, use_mean_pooling=True)  # as build_model_for_finetuning
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    derived = {**learning_rates(training_args, world_size), "world_size": world_size,
               "rand_augment": rand_augment(data_args).config_str if data_args.rand_augment else None}  # fmt: skip
    arguments = {**vars(model_args), **vars(data_args), **training_args.to_dict(), **vars(recipe_args)}
    arguments.pop("sources", None)
    arguments["learning_rate"] = derived["learning_rate"]  # what the run trains at with WORLD_SIZE processes
    print(dry_run_report("run_finetuning.py", arguments, recipe_args.sources, derived, config))
    return 0


def apply_learning_rates(training_args, train_dataset) -> float:
    """Set the peak lr from `--base_learning_rate` and the warm-up steps from `--warmup_epochs` (as released: epochs
    of `len(dataset) // total batch` steps with `--dataloader_drop_last`); return the floor's ratio to the peak."""
    rates = learning_rates(training_args, training_args.world_size)
    training_args.learning_rate = rates["learning_rate"]
    if training_args.warmup_epochs is not None and train_dataset is not None:
        if isinstance(train_dataset, torch.utils.data.IterableDataset):
            raise T.ArgumentError("a streaming dataset has no epochs: give --warmup_steps in place of the recipe's "
                                  f"--warmup_epochs {training_args.warmup_epochs}")  # fmt: skip
        total = rates["total_batch_size"]
        per_epoch = len(train_dataset) // total if training_args.dataloader_drop_last else -(-len(train_dataset) // total)
        training_args.warmup_steps = round(training_args.warmup_epochs * per_epoch)
    warmup = training_args.warmup_steps  # below 1: a fraction of the run's steps (TrainingArguments.warmup_steps)
    logger.info("Total batch %d: peak lr %.3g, min lr %.3g, warm-up %s", rates["total_batch_size"], rates["learning_rate"],
                rates["min_learning_rate"], f"{warmup:.0%} of the steps" if 0 < warmup < 1 else f"{warmup:g} steps")  # fmt: skip
    return rates["min_learning_rate"] / rates["learning_rate"]


def warmup_given_as(training_args, sources: dict) -> str:
    """Where the warm-up came from, for the trainer's warning when it is not shorter than the run."""
    if training_args.warmup_epochs is None:
        return f"--warmup_steps {training_args.warmup_steps:g}"
    recipe = f" from the recipe {sources['name']!r}" if "warmup_epochs" in sources["from_recipe"] else ""
    return f"--warmup_epochs {training_args.warmup_epochs:g}{recipe}"


def main(args: list[str] | None = None) -> dict[str, float] | int:
    model_args, data_args, training_args, recipe_args = parse_args(args)
    check_values(model_args, data_args, training_args)  # --dry_run refuses what the run would refuse
    if recipe_args.dry_run:
        return print_dry_run(model_args, data_args, training_args, recipe_args)
    check_training_arguments(training_args)
    if training_args.per_device_train_batch_size % data_args.num_sample:
        raise T.ArgumentError(f"--num_sample ({data_args.num_sample}) must be >= 1 and divide --per_device_train_batch_size "
                         f"({training_args.per_device_train_batch_size}): each video read gives num_sample clips")  # fmt: skip
    if data_args.rand_augment:
        rand_augment(data_args)  # a bad value fails before any data or model work
    # the batch size counts clips: the DataLoader reads per_device_train_batch_size / num_sample videos per batch
    training_args.per_device_train_batch_size //= data_args.num_sample
    if model_args.from_scratch and model_args.model_name_or_path:
        raise T.ArgumentError("--from_scratch trains a new model; it cannot be combined with --model_name_or_path.")
    scratch = scratch_config(model_args)  # before any data or model work: a bad override fails at once
    if model_args.model_name_or_path:  # a missing or unreadable checkpoint fails before any data work
        T.read_config_dict(model_args.model_name_or_path, cache_dir=model_args.cache_dir,
                           revision=model_args.model_revision, token=model_args.token)  # fmt: skip
    check_output_dir(training_args, model_args)
    synthetic = not data_args.has_dataset
    setup_logging(training_args)
    requested = "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "no"
    precision_note = T.precision_for_device(requested, training_args.device.type)[1]
    if precision_note:  # --use_cpu --bf16: fp32, as run_pretraining.py on CPU
        training_args.bf16 = training_args.fp16 = False
        training_args.mixed_precision = "no"  # what the Trainer's Accelerator reads
        logger.warning(precision_note)
    logger.info("Running on %s (%d process%s, mixed precision %s); output in %s", training_args.device,
                training_args.world_size, "es" if training_args.world_size > 1 else "", training_args.mixed_precision,
                training_args.output_dir)  # fmt: skip
    summary, *details = recipe_log_lines(recipe_args.sources)
    logger.info(summary)
    for line in details:
        logger.debug(line)
    set_seed(training_args.seed)
    start = time.perf_counter()

    # ---------------------------------------------------------------- data sources, model, datasets
    sources, label_names = resolve_sources(data_args, training_args, synthetic)
    model_path = pretrained_path(model_args, synthetic)
    sources, label_names = checkpoint_classes(model_args, model_path, data_args, training_args, sources, label_names)
    loaded = build_model_for_finetuning(
        model_path, label_names, config=scratch if model_path is None else None,
        drop_path_rate=model_args.drop_path_rate, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        config_overrides=model_args.config_overrides if model_path is not None else None,
        for_training=training_args.do_train,
        cache_dir=model_args.cache_dir, revision=model_args.model_revision, token=model_args.token,
    )  # fmt: skip
    model, config = loaded.model, loaded.model.config
    logger.info("Model: %s (%s), %.2fM parameters", type(model).__name__, loaded.source, model.num_parameters() / 1e6)
    (train_dataset, eval_dataset, test_dataset), mixup = build_datasets(data_args, training_args, config, sources, label_names)
    min_lr_ratio = apply_learning_rates(training_args, train_dataset)

    # ---------------------------------------------------------------- trainer
    if training_args.do_train and training_args.overwrite_output_dir:
        with training_args.main_process_first(local=False, desc="moving the earlier run aside"):
            if training_args.process_index == 0 and (moved := T.move_previous_run(training_args.output_dir)):
                logger.info("--overwrite_output_dir: the earlier run in %s was moved to %s (delete it when you no "
                            "longer need it)", training_args.output_dir, moved)  # fmt: skip
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False  # pushed below, with our model card
    settings = finetuning_run_settings(training_args, train_dataset, label_names, model_args.layer_decay)
    trainer = VideoClassificationTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collate_finetuning,
        compute_metrics=build_compute_metrics(label_names, view_average=data_args.view_average),
        layer_decay=model_args.layer_decay,
        mixup=mixup,
        on_nonfinite_loss=training_args.on_nonfinite_loss,
        callbacks=[RunSettingsCallback(settings)],
        released_lr_schedule=training_args.released_lr_schedule,
        min_lr_ratio=min_lr_ratio,
        view_average=data_args.view_average,
        warmup_given_as=warmup_given_as(training_args, recipe_args.sources),
    )
    output_dir = Path(training_args.output_dir)
    results: dict[str, float] = {}

    finished = None
    if training_args.do_train:
        check_finetuning_resume(training_args.resume_from_checkpoint, settings)
        finished = finished_steps(training_args.resume_from_checkpoint)
    if finished is not None:  # a finished run resumed: nothing trained or saved; --do_eval evaluates its weights
        evaluate = training_args.do_eval or training_args.do_predict
        logger.warning(T.finished_run_message(finished, training_args.resume_from_checkpoint, output_dir)
                       + (" Evaluating its weights." if evaluate else ""))  # fmt: skip
        if evaluate:
            trainer._load_from_checkpoint(training_args.resume_from_checkpoint)  # the Trainer's own resume loader
    elif training_args.do_train:
        length = f"{training_args.max_steps} steps" if training_args.max_steps > 0 else f"{training_args.num_train_epochs:g} epochs"
        clips = "a stream of" if data_args.streaming else f"{len(train_dataset)}"
        logger.info("Training: %s clips, %s, batch %d per device x %d process%s x %d accumulation, lr %g",
                    clips, length, training_args.per_device_train_batch_size, training_args.world_size,
                    "es" if training_args.world_size > 1 else "", training_args.gradient_accumulation_steps,
                    training_args.learning_rate)  # fmt: skip
        if training_args.resume_from_checkpoint:
            logger.info("Resuming from %s", training_args.resume_from_checkpoint)
        stop = T.GracefulStop().install()
        trainer.add_callback(GracefulStopCallback(stop))
        try:
            train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        finally:
            stop.uninstall()
        if stop.requested:
            checkpoint = output_dir / f"checkpoint-{trainer.state.global_step}"
            if training_args.should_log:
                print(f"Stopped by a signal after step {trainer.state.global_step}: checkpoint saved to {checkpoint}. "
                      f"Resume with the same command and --resume_from_checkpoint (exit code {stop.exit_code}).")  # fmt: skip
            return stop.exit_code
        trainer.save_model()
        save_processor(output_dir, config.image_size, config.num_frames, data_args.sampling_rate,
                       antialias=data_args.test_resize_antialias)  # fmt: skip
        trainer.log_metrics("train", train_result.metrics)
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()
        results.update(train_result.metrics)
        logger.info("Saved the model and its processor to %s", output_dir)
    train_source, eval_source, test_source = sources
    try:
        with T.raise_on_signal():
            if training_args.do_eval:
                results.update(evaluate_validation(trainer, data_args, eval_dataset, eval_source, label_names, output_dir))
            if training_args.do_predict:
                predict_test(trainer, test_dataset, test_source, eval_source, label_names, output_dir)
    except T.StoppedBySignal as stop:
        if training_args.should_log:
            saved = f"the trained model is saved in {output_dir}; " if training_args.do_train else ""
            again = f" without --do_train, with --model_name_or_path {output_dir}" if training_args.do_train else ""
            print(f"\nStopped by {stop} during the evaluation: {saved}evaluate by running the same command{again} "
                  f"(exit code {stop.exit_code}).")  # fmt: skip
        return stop.exit_code
    if push_to_hub and training_args.should_save:
        push_with_model_card(training_args, data_args, results, config, model_path, synthetic, output_dir)

    if training_args.do_eval and training_args.should_log:
        print(f"\nEvaluation ({views_per_video(data_args)} per video, "
              f"{int(results.get('eval_videos', 0))} videos"
              + (f", {int(results['eval_unreadable_videos'])} unreadable left out" if results.get("eval_unreadable_videos") else "")
              + "):")  # fmt: skip
        print(format_results_table(results, label_names))
    if training_args.should_log:
        print(f"\nOutputs in {output_dir.resolve()} ({time.perf_counter() - start:.0f} s)")
    return results


if __name__ == "__main__":
    T.run_script(main, __file__)
