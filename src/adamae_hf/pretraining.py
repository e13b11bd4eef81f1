"""Reusable pieces of `scripts/run_pretraining.py`: recipe defaults, argument validation, config and model building,
a data pipeline that resumes exactly, crash-safe checkpoints and resume bookkeeping, graceful stop on signals.

The script stays a readable driver; everything here is testable on its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import multiprocessing.context
import os
import re
import shutil
import signal
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .configuration_adamae import MASK_TYPES, AdaMAEConfig
from .presets import MODEL_PRESETS, preset_config


logger = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = "outputs/adamae-pretrain-synthetic"
CHECKPOINTS_DIRNAME = "checkpoints"
TRAINING_STATE_NAME = "training_state.json"
_CHECKPOINT_PATTERN = re.compile(r"^(step|epoch)_(\d+)$")

# The pre-training recipe of the paper / released scripts (docs/method.md) and the one used on the embedded synthetic
# dataset (tiny model, 2 CPU cores, a few minutes). Arguments left at `None` take these values.
PAPER_RECIPE: dict[str, Any] = dict(
    base_learning_rate=1.5e-4, num_train_epochs=800, warmup_epochs=40, per_device_train_batch_size=32,
    sampling_rate=2, checkpointing_steps="epoch",
)  # fmt: skip
SYNTHETIC_RECIPE: dict[str, Any] = dict(
    # lr = 2.4e-2 * 16 / 256 = 1.5e-3: the tiny model must learn in a few hundred steps, not 800 epochs of SSv2.
    # 8 frames at stride 2 cover the 16-frame synthetic clips.
    base_learning_rate=2.4e-2, num_train_epochs=2, warmup_epochs=0.25, per_device_train_batch_size=16,
    sampling_rate=2, checkpointing_steps="epoch",
)  # fmt: skip


class ArgumentError(ValueError):
    """A command-line argument that cannot work; raised before any training."""


def uses_synthetic_data(args: argparse.Namespace) -> bool:
    return not (args.dataset_name or args.train_dir or args.train_list)


def apply_recipe_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill arguments left at `None` from the synthetic recipe (no dataset given) or the paper's (otherwise)."""
    recipe = SYNTHETIC_RECIPE if uses_synthetic_data(args) else PAPER_RECIPE
    for name, value in recipe.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if getattr(args, "output_dir", None) is None:
        args.output_dir = DEFAULT_OUTPUT_DIR
    return args


def _positive(args, names: Sequence[str], allow_zero: bool = False) -> None:
    for name in names:
        value = getattr(args, name, None)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            raise ArgumentError(f"--{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def validate_args(args: argparse.Namespace) -> None:
    """Raise [`ArgumentError`] with a message naming the argument for anything that cannot work."""
    sources = [name for name in ("dataset_name", "train_dir", "train_list") if getattr(args, name)]
    if len(sources) > 1:
        raise ArgumentError(f"give at most one data source, got {', '.join('--' + s for s in sources)}")
    for name, kind in (("train_dir", "dir"), ("train_list", "file"), ("data_root", "dir")):
        path = getattr(args, name, None)
        if path and not (os.path.isdir(path) if kind == "dir" else os.path.isfile(path)):
            raise ArgumentError(f"--{name} {path!r} does not exist or is not a {'folder' if kind == 'dir' else 'file'}")
    if args.streaming and not args.dataset_name:
        raise ArgumentError("--streaming applies to --dataset_name sources only")
    if args.streaming and args.max_train_steps is None:
        raise ArgumentError("a --streaming dataset has no length: give --max_train_steps")
    if args.mask_ratio is not None and not 0.0 < args.mask_ratio < 1.0:
        raise ArgumentError(f"--mask_ratio must lie strictly between 0 and 1, got {args.mask_ratio}")
    if args.mask_type is not None and args.mask_type not in MASK_TYPES:
        raise ArgumentError(f"--mask_type must be one of {', '.join(MASK_TYPES)}, got {args.mask_type!r}")
    _positive(
        args,
        ("per_device_train_batch_size", "gradient_accumulation_steps", "base_learning_rate", "num_train_epochs",
         "max_train_steps", "num_frames", "sampling_rate", "image_size", "visualize_every", "checkpoints_total_limit"),
    )  # fmt: skip
    _positive(args, ("weight_decay", "warmup_epochs", "num_warmup_steps", "max_grad_norm", "dataloader_num_workers"), True)
    if not 0.0 < args.min_crop_scale <= 1.0:
        raise ArgumentError(f"--min_crop_scale must lie in (0, 1], got {args.min_crop_scale}")
    for index, beta in enumerate(args.adam_betas, 1):
        if not 0.0 <= beta < 1.0:
            raise ArgumentError(f"--adam_betas: beta{index} must lie in [0, 1), got {beta}")
    parse_checkpointing_steps(args.checkpointing_steps)
    if args.model_name_or_path and args.config_name:
        raise ArgumentError("give --model_name_or_path or --config_name, not both")
    if args.model_name_or_path and _looks_local(args.model_name_or_path) and not os.path.isdir(args.model_name_or_path):
        raise ArgumentError(f"--model_name_or_path {args.model_name_or_path!r} does not exist")
    if (
        args.config_name
        and args.config_name not in MODEL_PRESETS
        and _looks_local(args.config_name)
        and not os.path.exists(args.config_name)
    ):
        raise ArgumentError(
            f"--config_name {args.config_name!r} is neither a preset ({', '.join(MODEL_PRESETS)}) nor an existing path"
        )
    if args.resume_from_checkpoint not in (None, "latest") and not os.path.isdir(args.resume_from_checkpoint):
        raise ArgumentError(f"--resume_from_checkpoint {args.resume_from_checkpoint!r} is not a folder")
    if args.push_to_hub and not args.hub_model_id:
        raise ArgumentError("--push_to_hub needs --hub_model_id <user or org>/<name>")


def _looks_local(name: str) -> bool:
    """A path rather than a Hub id (`org/name`)."""
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") != 1 or os.path.exists(name)


def parse_checkpointing_steps(value: str | int | None) -> int | str | None:
    """`None`, `"epoch"` or a positive number of optimiser steps."""
    if value is None or value == "epoch":
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    if isinstance(value, int) and value > 0:
        return value
    raise ArgumentError(f"--checkpointing_steps must be 'epoch' or a positive integer, got {value!r}")


# ---------------------------------------------------------------------------------------------------------------
# Config and model
# ---------------------------------------------------------------------------------------------------------------
def apply_config_overrides(config: AdaMAEConfig, overrides: str | None, args: argparse.Namespace | None = None) -> AdaMAEConfig:
    """
    `config` updated with `--config_overrides` (`"hidden_size=384,num_hidden_layers=6"`, the syntax of
    `PretrainedConfig.update_from_string`, see [`AdaMAEConfig.update_from_string`]) and then the dedicated flags
    (`--mask_type`, `--mask_ratio`, `--num_frames`, `--image_size`), which win; validated.

    Raises:
        ArgumentError: an unknown key, a value of the wrong type or an invalid config, naming the key.
    """
    flags = [
        f"{name}={getattr(args, name)}"
        for name in ("mask_type", "mask_ratio", "num_frames", "image_size")
        if args is not None and getattr(args, name, None) is not None
    ]
    for where, update in (("--config_overrides", overrides), ("the model configuration", ",".join(flags))):
        if update:
            try:
                config.update_from_string(update)
            except ValueError as error:
                raise ArgumentError(f"{where}: {error}") from None
    return config


def checkpoint_model_type(name_or_path: str) -> str | None:
    """The `model_type` of a model folder or Hub repository (`"adamae"`, `"videomae"`, ...)."""
    from transformers import PretrainedConfig

    config_dict, _ = PretrainedConfig.get_config_dict(name_or_path)
    return config_dict.get("model_type")


def build_config(args: argparse.Namespace) -> AdaMAEConfig:
    """The model config: `--config_name` (preset or config path), the config of `--model_name_or_path`, or
    `preset_config("tiny")`; then `--config_overrides` and the dedicated flags. Raises [`ArgumentError`]."""
    if args.model_name_or_path:
        model_type = checkpoint_model_type(args.model_name_or_path)
        if model_type == "videomae":
            from transformers import VideoMAEConfig

            from .conversion import videomae_config_to_adamae

            config = videomae_config_to_adamae(VideoMAEConfig.from_pretrained(args.model_name_or_path))
        elif model_type == "adamae":
            config = AdaMAEConfig.from_pretrained(args.model_name_or_path)
        else:
            raise ArgumentError(
                f"--model_name_or_path {args.model_name_or_path!r} is a {model_type!r} model; expected an AdaMAE or a "
                "VideoMAE checkpoint"
            )
    elif args.config_name in MODEL_PRESETS:
        config = preset_config(args.config_name)
    elif args.config_name:
        config = AdaMAEConfig.from_pretrained(args.config_name)
    else:
        config = preset_config("tiny")
    return apply_config_overrides(config, args.config_overrides, args)


def build_model(args: argparse.Namespace, config: AdaMAEConfig):
    """`AdaMAEForPreTraining`: fresh, continued from an AdaMAE checkpoint, or warm-started from a VideoMAE one
    (`AdaMAEForPreTraining.from_videomae`, the sampler freshly initialised)."""
    from .modeling_adamae import AdaMAEForPreTraining

    if not args.model_name_or_path:
        return AdaMAEForPreTraining(config)
    try:
        if checkpoint_model_type(args.model_name_or_path) == "videomae":
            overrides = {k: v for k, v in config.to_dict().items() if k not in ("transformers_version", "model_type")}
            return AdaMAEForPreTraining.from_videomae(args.model_name_or_path, **overrides)
        return AdaMAEForPreTraining.from_pretrained(args.model_name_or_path, config=config)
    except (RuntimeError, ValueError) as error:
        raise ArgumentError(
            f"cannot load {args.model_name_or_path!r} with the requested configuration "
            f"(changed sizes need matching weights): {error}"
        ) from None


# ---------------------------------------------------------------------------------------------------------------
# Data that resumes exactly
# ---------------------------------------------------------------------------------------------------------------
class SeededClipDataset(Dataset):
    """Wraps a map-style clip dataset so that item `i` of epoch `e` is drawn from a seed of `(seed, e, i)` alone: its
    temporal crop and augmentation do not depend on the worker, the process or the batches skipped on resume.

    The global torch RNG is forked around the item, so the training loop's own random stream is not disturbed.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:  # num_skipped, label_names, ...
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from .data import mix_seed

        seed = mix_seed(self.seed, worker_id=int(index), epoch=self.epoch)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if hasattr(self.dataset, "_generator"):
                self.dataset._generator = torch.Generator().manual_seed(seed)
            return self.dataset[index]


def ignore_signals_worker_init(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the data package's seeding; workers leave Ctrl-C (SIGINT) and a SIGTERM sent to
    the whole job (a cluster's pre-emption notice) to the main process, which checkpoints, then shuts them down.

    A SIGTERM from the main process itself still ends a worker at once: that is how the DataLoader and the
    interpreter's exit (`multiprocessing` terminates live daemonic children, then joins them) stop workers, e.g.
    after an exception left the training loop. Ignoring every SIGTERM made that join wait forever.
    """
    from .data import seed_worker

    seed_worker(worker_id)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_on_sigterm_from_parent()


class _SigtermBlockedAtBirthProcess(multiprocessing.context.ForkProcess):
    """A fork-started process whose SIGTERM is blocked from its first instruction: `start` blocks SIGTERM in the
    calling thread around the fork, and the child inherits the mask (POSIX `fork`). Without it a SIGTERM sent to the
    whole job between a worker's fork and its `worker_init_fn` killed the worker, and the DataLoader then raised
    "DataLoader worker exited unexpectedly" before the main process could checkpoint. A SIGTERM that reaches the
    parent during the fork stays pending there and is handled right after."""

    def start(self) -> None:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _SigtermBlockedAtBirthContext(multiprocessing.context.ForkContext):
    Process = _SigtermBlockedAtBirthProcess


def worker_multiprocessing_context() -> multiprocessing.context.BaseContext | None:
    """The DataLoader's `multiprocessing_context` for `ignore_signals_worker_init`: workers are born with SIGTERM
    blocked, so no SIGTERM is lost between fork and `worker_init_fn`. Only where workers are forked and
    `signal.sigwaitinfo` exists (Linux); elsewhere `None` (the default context; a job-wide SIGTERM in the first
    milliseconds of a worker can still end it, and the run then fails instead of checkpointing)."""
    # allow_none: asking must not fix the start method (the first of get_all_start_methods() is the default)
    start_method = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    if start_method != "fork" or not hasattr(signal, "sigwaitinfo"):
        return None
    return _SigtermBlockedAtBirthContext()


def _exit_on_sigterm_from_parent() -> None:
    """Block SIGTERM in this (single-threaded, freshly started) worker and wait for it in a daemon thread that ends
    the process when the sender is the parent, or when the parent is gone. Where `signal.sigwaitinfo` does not exist
    (not Linux) SIGTERM keeps its default action: any SIGTERM ends the worker."""
    if not hasattr(signal, "sigwaitinfo"):
        return
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads started from here on inherit the mask

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == parent or os.getppid() != parent:
                os._exit(0)  # an orderly stop the parent asked for (exit code 0: the DataLoader reports no failure)

    threading.Thread(target=wait, name="sigterm-from-parent", daemon=True).start()


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class TrainingState:
    """Where a run stands: optimiser steps done, the epoch, and batches of that epoch already consumed."""

    completed_steps: int = 0
    epoch: int = 0
    step_in_epoch: int = 0

    def save(self, folder: str | os.PathLike) -> None:
        Path(folder, TRAINING_STATE_NAME).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> TrainingState:
        path = Path(folder, TRAINING_STATE_NAME)
        if not path.is_file():
            raise ArgumentError(f"{folder} is not a complete checkpoint of this script (no {TRAINING_STATE_NAME})")
        return cls(**json.loads(path.read_text()))


def checkpoint_dir(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIRNAME


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under `output_dir/checkpoints`, oldest first (by optimiser step)."""
    root = checkpoint_dir(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.is_dir() and _CHECKPOINT_PATTERN.match(path.name) and (path / TRAINING_STATE_NAME).is_file():
            found.append((TrainingState.load(path).completed_steps, path.stat().st_mtime, path))
    return [path for *_, path in sorted(found)]


def find_latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def resolve_resume_checkpoint(resume_from_checkpoint: str | None, output_dir: str | os.PathLike) -> Path | None:
    """`None`, a checkpoint folder, or `"latest"` (the newest complete one in `output_dir`, or `None` if there is
    none yet, so that a pre-empted job can be restarted with the same command)."""
    if resume_from_checkpoint is None:
        return None
    if resume_from_checkpoint == "latest":
        return find_latest_checkpoint(output_dir)
    path = Path(resume_from_checkpoint)
    TrainingState.load(path)  # raises if incomplete
    return path


def save_checkpoint(
    accelerator, output_dir: str | os.PathLike, name: str, state: TrainingState, total_limit: int | None = None
) -> Path:
    """`accelerator.save_state` into `checkpoints/.<name>.tmp`, then the training state, then an atomic rename to
    `checkpoints/<name>`: a crash while saving leaves the previous checkpoints untouched. All processes must call
    this (each saves its RNG state). Keeps the newest `total_limit` checkpoints."""
    root = checkpoint_dir(output_dir)
    final, tmp = root / name, root / f".{name}.tmp"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state.save(tmp)
        _fsync_dir(tmp)
        if final.exists():  # e.g. a signal right after a scheduled checkpoint of the same step
            old = root / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(root)
        if total_limit is not None:
            for stale in list_checkpoints(output_dir)[:-total_limit]:
                if stale != final:
                    shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resume_position(state: TrainingState, batches_per_epoch: int | None) -> tuple[int, int]:
    """`(epoch, batches to skip)` to continue after `state`; an epoch that was finished moves to the next one."""
    if batches_per_epoch is not None and state.step_in_epoch >= batches_per_epoch:
        return state.epoch + 1, 0
    return state.epoch, state.step_in_epoch


def schedule_lengths(
    batches_per_epoch: int | None, gradient_accumulation_steps: int, num_train_epochs: int, max_train_steps: int | None
) -> tuple[int, int | None, int]:
    """`(max_train_steps, update steps per epoch, num_train_epochs)` from whichever of epochs / steps is given
    (`max_train_steps` wins); a streaming dataset (no length) needs `max_train_steps`."""
    if batches_per_epoch is None:
        if max_train_steps is None:
            raise ArgumentError("a dataset without length needs --max_train_steps")
        return max_train_steps, None, num_train_epochs
    steps_per_epoch = max(1, math.ceil(batches_per_epoch / gradient_accumulation_steps))
    if max_train_steps is None:
        max_train_steps = num_train_epochs * steps_per_epoch
    return max_train_steps, steps_per_epoch, math.ceil(max_train_steps / steps_per_epoch)


# ---------------------------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------------------------
class GracefulStop:
    """Installs SIGTERM / SIGINT handlers that only set a flag; the training loop checks `requested` after each
    optimiser step, checkpoints and exits with `exit_code` (128 + signal number: 143 for SIGTERM, 130 for Ctrl-C).
    A second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> GracefulStop:
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        logger.warning("Received %s: stopping after this step and saving a checkpoint.", signal.Signals(signum).name)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite."""


def json_safe_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments as JSON-able values (for trackers, `training_args.json` and the model card)."""
    result = {}
    for key, value in vars(args).items():
        if isinstance(value, (list, tuple)):
            value = list(value)
        elif not isinstance(value, (int, float, str, bool, type(None))):
            value = str(value)
        result[key] = value
    return result


def tracker_config(args: argparse.Namespace) -> dict[str, int | float | str | bool]:
    """The arguments as scalars (TensorBoard's hparams accept no `None` or lists)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in json_safe_args(args).items()}


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

    from .data import VideoClipDataset, load_synthetic_mask, load_video_source
    from .data.video_io import sample_clip_indices

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
    from .data import PretrainingTransform

    return PretrainingTransform(image_size, scale=(1.0, 1.0), ratio=(1.0, 1.0), horizontal_flip=False)


def format_focus(metrics: dict[str, float]) -> str:
    """One line for the progress output: the sampler-focus metrics with their reference values."""
    parts = []
    if "object_mass_ratio" in metrics:
        best = 1.0 / metrics["object_token_share"] if metrics.get("object_token_share") else float("nan")
        parts.append(f"object-mass ratio {metrics['object_mass_ratio']:.2f} (uniform 1.00, all on the object "
                     f"{best:.1f})")  # fmt: skip
        parts.append(f"error ratio {metrics['error_ratio']:.2f}")
    parts.append(f"motion correlation {metrics['motion_correlation']:.2f}")
    parts.append(f"reconstruction loss (random mask) {metrics['reconstruction_loss']:.3f}")
    return ", ".join(parts)
