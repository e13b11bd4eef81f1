"""Video sources: lists of ``(video, label)`` samples from a `datasets` dataset, a folder or a list file.

Every source yields :class:`VideoSample` objects whose ``video`` is a path or the file's bytes, decoded
later by :func:`~adamae_hf.data.read_video_clips`, so the same file gives the same tensors whatever the
source.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".wmv", ".flv")


class DataSourceError(ValueError):
    """The data a source names cannot be used: a list file's malformed line or negative label, a class or label the
    training split does not have, a missing column. Files and folders that do not exist (or an empty class folder, a
    dangling link) raise `FileNotFoundError`. The training scripts report both in one line."""


@dataclass(frozen=True)
class VideoSample:
    """One video: ``video`` is a path or the file's bytes; ``label`` its class index (-1: none, for pre-training);
    ``name`` identifies it in messages."""

    video: str | bytes
    label: int
    name: str


@dataclass
class VideoSource:
    """Labelled videos and their class names.

    ``samples`` is a list (map-style) or, for ``streaming=True``, an iterable read once per pass.
    """

    samples: Sequence[VideoSample] | Iterable[VideoSample]
    label_names: list[str]
    streaming: bool = False
    description: str = field(default="")
    # the iterable splits itself over DataLoader workers (a `datasets.IterableDataset` does)
    worker_sharded: bool = False

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def __len__(self) -> int:
        if self.streaming:
            raise TypeError("a streaming VideoSource has no length")
        return len(self.samples)

    def __getitem__(self, index: int) -> VideoSample:
        if self.streaming:
            raise TypeError("a streaming VideoSource cannot be indexed; iterate over it")
        return self.samples[index]

    def __iter__(self) -> Iterator[VideoSample]:
        return iter(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """A streaming source reshuffles with ``seed + epoch`` (``datasets.IterableDataset.set_epoch``)."""
        if hasattr(self.samples, "set_epoch"):
            self.samples.set_epoch(epoch)


def _check_label_names(found: list[str], label_names: Sequence[str] | None, where: str) -> list[str]:
    if label_names is None:
        return found
    unknown = sorted(set(found) - set(label_names))
    if unknown:
        raise DataSourceError(
            f"{where}: classes {unknown} are not among the {len(label_names)} training classes {list(label_names)}"
        )
    return list(label_names)


def _split_dir(data_dir: Path, split: str) -> Path:
    """``data_dir/<split>`` when it exists (also ``val`` / ``valid`` for ``validation``), else ``data_dir``."""
    aliases = {"validation": ("validation", "val", "valid"), "train": ("train",), "test": ("test",)}
    for name in aliases.get(split, (split,)):
        if (data_dir / name).is_dir():
            return data_dir / name
    return data_dir


# Names that archives, operating systems, NAS boxes and editors leave beside the data. As `datasets`' folder
# builders (`data_files.resolve_pattern`) do, every file or folder whose name starts with "." (hidden: .DS_Store,
# macOS AppleDouble `._clip.mp4`, .ipynb_checkpoints, .Trash-1000, vim's .clip.mp4.swp) or "__" (__MACOSX,
# __pycache__) is left out; so are these (Windows, Synology, Linux file systems), and editor backups `*~`, `#*#`.
METADATA_NAMES = frozenset(
    name.lower()
    for name in ("Thumbs.db", "ehthumbs.db", "desktop.ini", "$RECYCLE.BIN", "System Volume Information", "@eaDir",
                 "#recycle", "#snapshot", "lost+found", "Icon\r")
)  # fmt: skip


def is_metadata_name(name: str) -> bool:
    """Whether a file or folder called ``name`` is left there by an archiver, OS or editor (never data)."""
    return (
        name.startswith((".", "__"))
        or name.lower() in METADATA_NAMES
        or name.endswith("~")
        or (name.startswith("#") and name.endswith("#"))
    )


def _walk_videos(top: Path, dangling: list[str], ignored: list[str]) -> list[Path]:
    """The video files under ``top``, sorted, following symbolic links to folders and files (each real folder
    once, so a link cycle ends) and leaving out metadata names; dangling links (to a video or a folder) go to
    ``dangling``, the metadata names met to ``ignored``."""
    found, seen = [], set()
    for folder, dirnames, filenames in os.walk(top, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back to a folder already read
            dirnames[:] = []
            continue
        seen.add(real)
        ignored.extend(os.path.join(folder, n) for n in dirnames + filenames if is_metadata_name(n))
        dirnames[:] = sorted(n for n in dirnames if not is_metadata_name(n))
        for name in filenames:
            path = Path(folder, name)
            if is_metadata_name(name):
                continue
            if not path.exists():  # a symbolic link whose target is gone (a video's or a folder's)
                dangling.append(f"{path} -> {os.readlink(path)}")
            elif path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
                found.append(path)
    return sorted(found)


def _raise_dangling(dangling: list[str], root: Path) -> None:
    if dangling:
        shown = "\n  ".join(dangling[:10]) + (f"\n  ... and {len(dangling) - 10} more" if len(dangling) > 10 else "")
        raise FileNotFoundError(
            f"{len(dangling)} symbolic link(s) under {str(root)!r} point to nothing (remove or fix them):\n  {shown}"
        )


def folder_source(
    data_dir: str | os.PathLike,
    split: str = "train",
    label_names: Sequence[str] | None = None,
    labelled: bool = True,
) -> VideoSource:
    """Videos in ``data_dir[/<split>]/<class>/<video>`` (the ``videofolder`` layout); classes sorted by name.

    Each class folder is read recursively. With ``labelled=False`` (pre-training) the layout is free: a flat
    folder of videos, a folder of class folders, or any nesting; every sample gets label -1 and
    ``label_names`` is empty.

    Left out, as `datasets`' folder builders do: hidden names (``.DS_Store``, ``._clip.mp4``,
    ``.ipynb_checkpoints``), names starting with ``__`` (``__MACOSX``), and the metadata of Windows,
    Synology and editors (:func:`is_metadata_name`); files without a video extension are skipped.
    Symbolic links to folders and videos are followed, as torchvision's ``DatasetFolder`` does
    (``os.walk(followlinks=True)``); a link that points to nothing raises instead of being dropped.

    Raises:
        FileNotFoundError: ``data_dir`` is missing; no videos; a class folder with no video (as torchvision's
            ``DatasetFolder`` raises: an empty class would be a class the model can never be shown); a dangling
            symbolic link.
        DataSourceError: a class not in ``label_names`` (the training classes).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data_dir {str(data_dir)!r} does not exist or is not a folder")
    root = _split_dir(data_dir, split)
    dangling: list[str] = []
    ignored: list[str] = []
    if not labelled:
        videos = _walk_videos(root, dangling, ignored)
        _raise_dangling(dangling, root)
        if ignored:
            logger.info("%s: left out %d metadata file(s)/folder(s), e.g. %s", root, len(ignored), ignored[0])
        if not videos:
            raise FileNotFoundError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) found under {str(root)!r}")
        return VideoSource([VideoSample(str(p), -1, str(p)) for p in videos], [], description=f"folder {root}")

    entries = sorted(root.iterdir())
    class_dirs = [p for p in entries if not is_metadata_name(p.name) and p.is_dir()]
    dangling += [f"{p} -> {os.readlink(p)}" for p in entries if not is_metadata_name(p.name) and not p.exists()]
    loose = [p for p in entries if p.suffix.lower() in VIDEO_EXTENSIONS and not is_metadata_name(p.name) and p.is_file()]
    if not class_dirs:
        hint = f"found {len(loose)} video(s) directly in it but no class folder" if loose else "found no class folder"
        raise FileNotFoundError(
            f"{str(root)!r}: {hint}; labelled data is laid out as {str(root)!r}/<class>/<video> (pre-training, which "
            "needs no labels, also reads a flat folder)"
        )
    names = _check_label_names([p.name for p in class_dirs], label_names, str(root))
    samples, empty = [], []
    for class_dir in class_dirs:
        videos = _walk_videos(class_dir, dangling, ignored)
        samples += [VideoSample(str(path), names.index(class_dir.name), str(path)) for path in videos]
        if not videos:
            empty.append(class_dir.name)
    _raise_dangling(dangling, root)
    if empty:
        raise FileNotFoundError(
            f"{str(root)!r}: class folder(s) {empty} hold no video ({', '.join(VIDEO_EXTENSIONS)}); fill or remove them"
        )
    if loose:
        logger.warning(
            "%s: %d video(s) directly in the folder, not in a class folder, are not used (e.g. %s)",
            root, len(loose), loose[0].name,
        )  # fmt: skip
    if ignored:
        logger.info("%s: left out %d metadata file(s)/folder(s), e.g. %s", root, len(ignored), ignored[0])
    return VideoSource(samples, names, description=f"folder {root}")


# `<path> <label>` or `<path>,<label>`: the label is the last field, so a path may hold spaces and commas
_LIST_LINE = re.compile(r"(?P<path>.+?)\s*(?:,|\s)\s*(?P<label>[+-]?\d+)\s*")


def list_file_entries(list_file: str | os.PathLike) -> list[tuple[int, str, int | None]]:
    """The entries of a VideoMAE-style list file, as [`list_file_source`] reads them: `(line number, path, label)`,
    the label the last field after a space or a comma (so paths may hold both), `None` where the line holds a bare
    path (no integer last field). Blank lines and lines starting with `#` are skipped; paths are as written.

    Raises:
        FileNotFoundError: the list file is missing.
    """
    list_file = Path(list_file)
    if not list_file.is_file():
        raise FileNotFoundError(f"list_file {str(list_file)!r} does not exist")
    entries = []
    for line_number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LIST_LINE.fullmatch(line.strip())
        entries.append((line_number, match["path"], int(match["label"])) if match else (line_number, line.strip(), None))
    return entries


def check_videos_exist(source: VideoSource, on_bad_video: str = "raise", where: str = "") -> list[str]:
    """Before any training, look for the local video files of `source` (a list file's, whose paths nothing has checked
    yet; URLs, bytes and streaming sources are not looked at): returns the missing ones' names. With
    `on_bad_video="raise"` any missing file raises `FileNotFoundError` naming up to 10 (one `stat` per video: about a
    second for 200,000 local files); with `"skip"` a warning names them, and the dataset later skips them.

    Without it a missing validation video of a list file was found only at the evaluation after training."""
    if source.streaming:
        return []
    missing = [
        sample.name for sample in source.samples
        if isinstance(sample.video, str) and "://" not in sample.video and not os.path.exists(sample.video)
    ]  # fmt: skip
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        message = f"{where or source.description}: {len(missing)} of {len(source)} videos do not exist:\n  {shown}"
        if on_bad_video == "raise":
            raise FileNotFoundError(message + "\n(--on_bad_video skip trains without them)")
        logger.warning("%s\n(--on_bad_video skip: they are skipped)", message)
    return missing


def list_file_source(
    list_file: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    label_names: Sequence[str] | None = None,
    labelled: bool = True,
) -> VideoSource:
    """VideoMAE-style list file: one ``<path> <integer label>`` per line (SSv2, Kinetics-400).

    The label is the last field, after a space or a comma, so paths may contain spaces and commas
    (``my clips/a, b.mp4 3``). Relative paths are joined to ``data_root`` (default: the list file's folder).
    Blank lines and lines starting with ``#`` are skipped. Class names default to ``"0"``, ``"1"``, …

    With ``labelled=False`` (pre-training) a line is ``<path>`` or ``<path> <label>``: a last field that is an
    integer is taken as a label (a video path ends with its extension) and ignored; every sample gets label -1.

    Raises:
        FileNotFoundError: the list file is missing.
        DataSourceError: a line without an integer label, a negative label, or a label with no entry in
            ``label_names`` (the message names the file, line and label).
    """
    list_file = Path(list_file)
    root = Path(data_root) if data_root is not None else list_file.parent
    samples = []
    for line_number, path, label in list_file_entries(list_file):
        if not labelled:
            label = -1
        elif label is None:
            raise DataSourceError(f"{list_file}:{line_number}: expected '<path> <integer label>', got {path!r}")
        else:
            if label < 0:
                raise DataSourceError(f"{list_file}:{line_number}: label {label} of {path!r} is negative")
            if label_names is not None and label >= len(label_names):
                raise DataSourceError(
                    f"{list_file}:{line_number}: label {label} of {path!r} is unknown: the training data has "
                    f"{len(label_names)} classes (0-{len(label_names) - 1})"
                )
        full = str(root / path)
        samples.append(VideoSample(full, label, full))
    if not samples:
        raise DataSourceError(f"list_file {str(list_file)!r} has no samples")
    if not labelled:
        return VideoSource(samples, [], description=f"list file {list_file}")
    num_labels = max(s.label for s in samples) + 1
    names = list(label_names) if label_names is not None else [str(i) for i in range(num_labels)]
    return VideoSource(samples, names, description=f"list file {list_file}")


def _hf_video(value: Any, video_column: str) -> tuple[str | bytes, str]:
    """A ``Video(decode=False)`` cell (``{"path", "bytes"}``) or a plain path -> (video, name)."""
    if isinstance(value, dict):
        path, data = value.get("path"), value.get("bytes")
        if data:
            return bytes(data), path or "<bytes>"
        if path:
            return path, path
        raise DataSourceError(f"column {video_column!r} has a cell with neither path nor bytes")
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value), os.fspath(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), "<bytes>"
    raise TypeError(f"column {video_column!r}: expected a path, bytes or a Video(decode=False) dict, got {type(value)}")


def _unknown_label(label: Any, video: str, column: str, names: Sequence[str]) -> str:
    return f"{video}: label {label!r} (column {column!r}) is not one of the {len(names)} training classes {list(names)}"


def hf_dataset_source(
    dataset: Any,
    video_column_name: str = "video",
    label_column_name: str | None = "label",
    label_names: Sequence[str] | None = None,
) -> VideoSource:
    """A source from a loaded ``datasets.Dataset`` or ``datasets.IterableDataset`` (streaming).

    ``label_column_name=None`` reads an unlabelled dataset (for pre-training): every sample gets label -1.
    A label outside ``label_names`` (a validation class unknown to training) raises ``DataSourceError`` naming the
    label and its video: when the source is built (map-style), or when that example is read (streaming). -1
    (`datasets`' ClassLabel value for "no label") passes through.

    The video column may hold paths, bytes or a ``Video`` feature (cast to ``Video(decode=False)`` so that
    decoding stays ours); the label column a ``ClassLabel``, integers, or strings (mapped to
    ``label_names``, or to their sorted unique values for a map-style dataset).
    """
    import datasets

    streaming = isinstance(dataset, datasets.IterableDataset)
    features = dataset.features
    columns = list(features) if features is not None else dataset.column_names
    if columns is None:  # streaming dataset with unknown features: peek at one example
        columns = list(next(iter(dataset)))
    for kind, column in (("video", video_column_name), ("label", label_column_name)):
        if column is not None and column not in columns:
            raise DataSourceError(f"{kind} column {column!r} not found; the dataset has columns {columns}")
    if features is not None and isinstance(features[video_column_name], datasets.Video):
        dataset = dataset.cast_column(video_column_name, datasets.Video(decode=False))
    label_feature = features[label_column_name] if features is not None and label_column_name is not None else None
    if label_column_name is None:
        names, remap = [], None
    elif isinstance(label_feature, datasets.ClassLabel):
        names = _check_label_names(label_feature.names, label_names, "dataset")
        remap = None if label_names is None else {-1: -1} | {i: names.index(n) for i, n in enumerate(label_feature.names)}
    elif label_feature is not None and getattr(label_feature, "dtype", None) == "string" or (
        label_feature is None and label_names is not None
    ):
        if label_names is None:
            if streaming:
                raise DataSourceError("a streaming dataset with string labels needs label_names")
            label_names = sorted(set(dataset[label_column_name]))
        names, remap = list(label_names), {n: i for i, n in enumerate(label_names)}
    else:  # integer labels
        if label_names is None:
            if streaming:
                raise DataSourceError("a streaming dataset with integer labels needs label_names (or a ClassLabel column)")
            label_names = [str(i) for i in range(int(max(dataset[label_column_name])) + 1)]
        names, remap = list(label_names), None
    dataset = dataset.select_columns([c for c in (video_column_name, label_column_name) if c is not None])

    def known(label: Any) -> bool:  # -1: `datasets`' ClassLabel value for "no label" (an unlabelled test split)
        return label in remap if remap is not None else -1 <= int(label) < len(names)

    if label_column_name is not None and not streaming:  # every label checked now, not when its video is read
        for index, value in enumerate(dataset[label_column_name]):
            if not known(value):
                video = _hf_video(dataset[index][video_column_name], video_column_name)[1]
                raise DataSourceError(_unknown_label(value, video, label_column_name, names))

    def to_sample(example: dict) -> VideoSample:
        video, name = _hf_video(example[video_column_name], video_column_name)
        if label_column_name is None:
            return VideoSample(video, -1, name)
        label = example[label_column_name]
        if not known(label):
            raise DataSourceError(_unknown_label(label, name, label_column_name, names))  # streaming: known when read
        return VideoSample(video, int(remap[label] if remap is not None else label), name)

    if streaming:
        return VideoSource(
            _MappedIterable(dataset, to_sample), names, streaming=True, description="streaming dataset", worker_sharded=True
        )
    return VideoSource(_MappedSequence(dataset, to_sample), names, description="dataset")


class _MappedSequence(Sequence):
    """Lazy ``fn(dataset[i])``: keeps the Arrow table (not every video's bytes) in memory."""

    def __init__(self, dataset: Any, fn) -> None:
        self.dataset, self.fn = dataset, fn

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> VideoSample:
        return self.fn(self.dataset[int(index)])


class _MappedIterable(Iterable):
    def __init__(self, dataset: Any, fn) -> None:
        self.dataset, self.fn = dataset, fn

    def __iter__(self) -> Iterator[VideoSample]:
        return map(self.fn, self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


def load_video_source(
    *,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    data_dir: str | os.PathLike | None = None,
    list_file: str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    split: str = "train",
    video_column_name: str = "video",
    label_column_name: str | None = "label",
    streaming: bool = False,
    label_names: Sequence[str] | None = None,
    labelled: bool = True,
    shuffle_buffer_size: int = 0,
    seed: int = 0,
) -> VideoSource:
    """Build a :class:`VideoSource` from exactly one of:

    - ``dataset_name``: a Hub dataset or local dataset folder, loaded with ``datasets.load_dataset(
      dataset_name, dataset_config_name, split=split, streaming=streaming)`` (``"videofolder"`` with
      ``data_dir`` also works);
    - ``data_dir``: a folder ``data_dir[/<split>]/<class>/<video>``;
    - ``list_file``: ``<path> <label>`` lines, paths relative to ``data_root``.

    ``labelled=False`` (pre-training, which uses no labels) reads a flat folder of videos as well as a folder
    of class folders, a list file of bare paths, and a dataset without a label column (``label_column_name``
    is then not read); every sample gets label -1 and ``label_names`` is empty.

    A streaming dataset with ``shuffle_buffer_size > 0`` is shuffled as ``datasets`` does it,
    ``IterableDataset.shuffle(seed, buffer_size)`` (shard order and a buffer of examples), with another order each
    epoch after :meth:`VideoSource.set_epoch` (the training datasets call it from their ``set_epoch``).

    Raises:
        ValueError: not exactly one source.
        DataSourceError (a ``ValueError``): a missing column (the message lists the dataset's columns), a label
            unknown to ``label_names`` (the message names it and its video), a malformed list file.
        FileNotFoundError: ``data_dir`` / ``list_file`` does not exist, an empty class folder, a dangling
            symbolic link (see :func:`folder_source`).
    """
    given = [name for name, value in (("dataset_name", dataset_name), ("data_dir", data_dir), ("list_file", list_file)) if value]
    if dataset_name == "videofolder" and data_dir:
        given.remove("data_dir")
    if len(given) != 1:
        raise ValueError(f"give exactly one of dataset_name, data_dir, list_file (got {given or 'none'})")
    if dataset_name:
        import datasets

        if data_dir is not None and not Path(data_dir).is_dir():
            raise FileNotFoundError(f"data_dir {str(data_dir)!r} does not exist or is not a folder")
        if os.path.isdir(dataset_name) and dataset_config_name is None:
            # a local folder: load it in the videofolder layout
            dataset = datasets.load_dataset("videofolder", data_dir=dataset_name, split=split, streaming=streaming)
        else:
            dataset = datasets.load_dataset(
                dataset_name, dataset_config_name, data_dir=os.fspath(data_dir) if data_dir else None, split=split,
                streaming=streaming,
            )
        if streaming and shuffle_buffer_size > 0:
            dataset = dataset.shuffle(seed=seed, buffer_size=shuffle_buffer_size)
        return hf_dataset_source(dataset, video_column_name, label_column_name if labelled else None, label_names)
    if streaming:
        raise ValueError("streaming=True applies to dataset_name sources only")
    if data_dir:
        return folder_source(data_dir, split, label_names, labelled=labelled)
    return list_file_source(list_file, data_root, label_names, labelled=labelled)
