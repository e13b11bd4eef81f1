"""Checkpoints that survive a crash, and the bookkeeping to resume a run exactly where it stopped: the
[`TrainingState`] beside each `accelerator.save_state`, finding the newest complete checkpoint, the epoch and batch
to continue from, and the schedule's length."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArgumentError


__all__ = [
    "CHECKPOINTS_DIRNAME",
    "TRAINING_STATE_NAME",
    "TrainingState",
    "check_resume_settings",
    "checkpoint_dir",
    "find_latest_checkpoint",
    "finished_run_message",
    "list_checkpoints",
    "resolve_resume_checkpoint",
    "resume_position",
    "save_checkpoint",
    "schedule_lengths",
]

CHECKPOINTS_DIRNAME = "checkpoints"
TRAINING_STATE_NAME = "training_state.json"
_CHECKPOINT_PATTERN = re.compile(r"^(step|epoch)_(\d+)$")


@dataclass
class TrainingState:
    """Where a run stands: optimiser steps done, the epoch, and batches of that epoch already consumed; and the
    `settings` that define its schedule and data position (processes, batch, accumulation, steps, lr, seed, dataset
    size, model config), which a resume must share ([`check_resume_settings`]); and the names of the bad videos
    skipped so far (`--on_bad_video skip`), which the resumed run reports with its own and warns about no more."""

    completed_steps: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    skipped_videos: list[str] = field(default_factory=list, compare=False)

    def save(self, folder: str | os.PathLike) -> None:
        Path(folder, TRAINING_STATE_NAME).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> TrainingState:
        path = Path(folder, TRAINING_STATE_NAME)
        if not path.is_file():
            raise ArgumentError(f"{folder} is not a complete checkpoint of this script (no {TRAINING_STATE_NAME})")
        return cls(**json.loads(path.read_text()))


def check_resume_settings(
    saved: dict[str, Any], current: dict[str, Any], checkpoint: str | os.PathLike, settings_file: str = TRAINING_STATE_NAME
) -> None:
    """Refuse to resume from `checkpoint` where a setting of the run that saved it differs now.

    A resume continues the same run: the optimiser, the lr scheduler and the position in the epoch are restored as
    saved, so another number of processes, batch size, accumulation, length, lr or dataset would silently mix two
    schedules (an lr that reaches 0 early and rises again, skipped data, a logged lr that is not the one in effect).
    transformers' `Trainer` and Accelerate restore the same states and leave the settings to the user; this checks
    them. A checkpoint saved before settings were recorded (none saved) is not checked.

    Raises:
        ArgumentError: listing every setting that differs (`name: saved -> now`) and how to start afresh.
    """
    current = json.loads(json.dumps(current))  # tuples -> lists, as saved
    differ = []
    for name, value in saved.items():
        if name not in current or current[name] == value:
            continue
        if isinstance(value, dict) and isinstance(current[name], dict):
            keys = sorted(set(value) | set(current[name]), key=str)
            differ += [f"{name}.{key}: {value.get(key)!r} -> {current[name].get(key)!r}"
                       for key in keys if value.get(key) != current[name].get(key)]  # fmt: skip
        else:
            differ.append(f"{name}: {value!r} -> {current[name]!r}")
    if differ:
        raise ArgumentError(
            f"cannot resume from {checkpoint}: the run that saved it had other settings ({'; '.join(differ)}). A "
            f"resume continues that run's schedule and data order: resume with its settings (in "
            f"{Path(checkpoint) / settings_file}), or start a new run (another --output_dir, or "
            "--overwrite_output_dir)."
        )


def finished_run_message(completed_steps: int, checkpoint: str | os.PathLike, output_dir: str | os.PathLike) -> str:
    """What a resume from the checkpoint of a finished run says: nothing is trained and nothing written over."""
    return (
        f"this run finished at step {completed_steps} ({checkpoint}); nothing to train. Its model and results in "
        f"{output_dir} are kept. A longer run is a new run: another --output_dir, or --overwrite_output_dir."
    )


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
