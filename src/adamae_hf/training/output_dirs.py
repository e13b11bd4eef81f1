"""One run per output folder: a new run refuses a folder that already holds another run's files (model,
checkpoints, results), as transformers' example scripts do, and says the three ways out; `--overwrite_output_dir`
moves the earlier run aside (never deletes it) so that the new run starts in an empty folder and its checkpoints are
the only ones there ("latest" is then the latest of this run)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .errors import ArgumentError


__all__ = ["check_output_dir", "move_previous_run", "previous_run_files"]

# What a finished or resumable run leaves that a new run would replace or mix with. A folder holding only these
# does not count as a run: `runs/` (TensorBoard) and `visualizations/` are written before the first checkpoint, so a
# job stopped before it can restart with `--resume_from_checkpoint latest` in the same folder.
_LOGS_ONLY = {"runs", "visualizations"}


def previous_run_files(output_dir: str | os.PathLike) -> list[str]:
    """The entries of `output_dir` (sorted names; `[]` where it does not exist) other than logs and figures."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    names = []
    for path in sorted(folder.iterdir()):
        if path.name in _LOGS_ONLY:
            continue
        if path.is_dir() and not any(path.iterdir()):  # an empty folder, e.g. checkpoints/ of a run stopped early
            continue
        names.append(path.name + ("/" if path.is_dir() else ""))
    return names


def _describe(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_output_dir(
    output_dir: str | os.PathLike,
    *,
    resume_from_checkpoint: str | None,
    resumable: bool,
    overwrite_output_dir: bool,
    model_name_or_path: str | None = None,
    resume_hint: str | None = None,
) -> None:
    """
    Refuse a run that would replace or mix with another run's files in `output_dir`.

    Args:
        output_dir: the run's output folder.
        resume_from_checkpoint: the argument as given (`None`: a fresh run).
        resumable: whether `resume_from_checkpoint` found a checkpoint to continue from (a run continued in its own
            folder replaces nothing).
        overwrite_output_dir: start afresh; [`move_previous_run`] then moves the earlier run aside.
        model_name_or_path: the model a run starts from; it must not be inside a folder that will be moved away.
        resume_hint: how to continue the run in the folder (e.g. `--resume_from_checkpoint <its checkpoint>`), for
            the message; `None` where it has no checkpoint to continue from.

    Raises:
        ArgumentError: the folder holds another run and neither resuming nor `--overwrite_output_dir` was asked for;
            `--overwrite_output_dir` together with `--resume_from_checkpoint`; or a folder that cannot be moved
            aside (the current folder or one above it, the folder of the starting model).
    """
    folder = Path(output_dir)
    if overwrite_output_dir:
        if resume_from_checkpoint is not None:
            raise ArgumentError("--overwrite_output_dir starts afresh and --resume_from_checkpoint continues a run: "
                                "give one of them")  # fmt: skip
        if not folder.is_dir() or not any(folder.iterdir()):
            return
        here, target = Path.cwd().resolve(), folder.resolve()
        if here == target or target in here.parents:
            raise ArgumentError(f"--overwrite_output_dir would move {str(folder)!r}, the current folder or one above "
                                "it: choose a sub-folder as --output_dir")  # fmt: skip
        if model_name_or_path and os.path.exists(model_name_or_path):
            start = Path(model_name_or_path).resolve()
            if start == target or target in start.parents:
                raise ArgumentError(f"--model_name_or_path {model_name_or_path!r} lies in --output_dir, which "
                                    "--overwrite_output_dir moves aside: choose another --output_dir")  # fmt: skip
        return
    if resumable:
        return
    files = previous_run_files(folder)
    if not files:
        return
    what = "has no checkpoint to resume from and holds" if resume_from_checkpoint is not None else "already holds"
    ways = [f"continue that run with {resume_hint}"] if resume_hint else []
    ways += ["start afresh with --overwrite_output_dir (the earlier run is moved aside, not deleted)",
             "choose another --output_dir"]  # fmt: skip
    raise ArgumentError(
        f"--output_dir {str(folder)!r} {what} another run ({_describe(files)}); this run would replace or mix with "
        f"it. To go on, {', '.join(ways[:-1])}, or {ways[-1]}"
    )


def move_previous_run(output_dir: str | os.PathLike) -> Path | None:
    """Rename a non-empty `output_dir` to `<output_dir>-replaced-<YYYYmmdd-HHMMSS>` (a number added if taken) and
    return the new path; `None` where there was nothing to move. Nothing is deleted; call it on one process."""
    folder = Path(output_dir)
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    stem = f"{str(folder).rstrip('/' + os.sep)}-replaced-{time.strftime('%Y%m%d-%H%M%S')}"
    target, number = Path(stem), 1
    while target.exists():
        number += 1
        target = Path(f"{stem}-{number}")
    os.replace(folder, target)
    return target
