"""An embedded synthetic video dataset: textured shapes moving over a static textured background.

The classes are motions (left, right, up, down, towards, away, rotate clockwise / anticlockwise, and the
four diagonals when ``num_classes > 8``). Shape, texture, colours, size and position are drawn at random
and independently of the class, so no single frame tells the class: a model has to compare frames.

Everything is drawn from ``numpy.random.default_rng([seed, split, class, clip])``: the same seed gives the
same clips, another seed different ones. Clips are H.264 (yuv420p, CRF 16) mp4 files written with PyAV in
the ``videofolder`` layout, so any of the sources of :mod:`adamae_hf.data.sources` reads them::

    output_dir/
        train/<class>/<class>_0000.mp4 ...
        validation/<class>/<class>_0000.mp4 ...
        masks/<split>/<class>/<class>_0000.npz   # bool (T, H, W) under key "mask": where the object is
        metadata.json                            # sizes, seed, classes, one record per clip

The defaults (8 classes, 256 + 8 clips per class, 16 frames at 64x64, 34 MB) generate in about 40 s on 2 CPU
cores; a tiny ViT trained from scratch needs about this many clips to learn the motions rather than the clips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np


logger = logging.getLogger(__name__)

MOTIONS: tuple[str, ...] = (
    "left",
    "right",
    "up",
    "down",
    "towards",
    "away",
    "rotate_clockwise",
    "rotate_anticlockwise",
    "up_left",
    "up_right",
    "down_left",
    "down_right",
)
_DIRECTIONS = {  # (dx, dy), image coordinates (y down)
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up_left": (-0.7071, -0.7071),
    "up_right": (0.7071, -0.7071),
    "down_left": (-0.7071, 0.7071),
    "down_right": (0.7071, 0.7071),
}
SPLITS: tuple[str, ...] = ("train", "validation")
_SHAPES = ("square", "ellipse", "triangle", "diamond")
_FORMAT_VERSION = 4
# object radius, fractions of the short side: about 16 % of the tiny model's 256 tokens. Format version 4 (2026-11-30)
# raised it from 13-17 % (about 7 % of the tokens): a fine-tuning sweep on a GPU (benchmarks/finetune_sweep) found
# that the tiny ViT leaves the chance plateau sooner when more tokens carry the motion.
OBJECT_RADIUS = (0.22, 0.28)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test for a shape in object coordinates (about [-1, 1])."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) < 0.8
    if shape == "ellipse":
        return u**2 + (v / 0.55) ** 2 < 1.0
    if shape == "diamond":
        return np.abs(u) + np.abs(v) / 0.7 < 1.0
    # triangle pointing up, vertices (0, -0.9), (+-0.9, 0.65)
    return (v < 0.65) & (1.55 * np.abs(u) < v + 0.9)


def render_clip(
    rng: np.random.Generator,
    motion: str,
    num_frames: int,
    height: int,
    width: int,
    object_radius: tuple[float, float] = OBJECT_RADIUS,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one clip of ``motion``: frames ``(T, H, W, 3)`` uint8 and object mask ``(T, H, W)`` bool.

    The background is static and predictable from context: a linear brightness ramp in a random direction over a
    random colour, with no grain (per-pixel noise cannot be predicted, and per-patch normalised targets would turn
    it into the whole signal of a flat patch). The object is a striped shape of radius ``object_radius`` (fractions
    of the frame's short side) that moves according to ``motion``: all the clip's unpredictable content is there.
    """
    size = min(height, width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    # static background: a brightness ramp over the frame, the same in every channel (so that every channel of
    # every patch has structure), on a random colour
    ramp_angle = rng.uniform(0, 2 * np.pi)
    ramp = ((xs - width / 2) * np.cos(ramp_angle) + (ys - height / 2) * np.sin(ramp_angle)) / size  # about +-0.7
    base_colour = rng.uniform(0.3, 0.7, 3)
    background = base_colour[None, None, :] + rng.uniform(0.3, 0.45) * ramp[..., None]

    # object: shape, stripe texture, size, position in the middle frame
    shape = _SHAPES[rng.integers(len(_SHAPES))]
    colours = rng.random((2, 3))
    colours[1] = 1.0 - colours[0] * 0.8  # contrasting stripes
    stripe_angle, stripe_freq = rng.uniform(0, np.pi), rng.uniform(1.0, 1.8)
    radius = rng.uniform(*object_radius) * size
    base_angle = rng.uniform(-0.3, 0.3)
    t = np.linspace(-0.5, 0.5, num_frames)  # time, centred on the middle frame
    travel = 0.5 * size  # distance covered by a translation over the clip
    direction = np.array(_DIRECTIONS.get(motion, (0.0, 0.0)))
    scale_range = {"towards": 1.0, "away": -1.0}.get(motion, 0.0)
    margin = np.abs(direction) * travel / 2 + 0.7 * radius * (2.5 ** (0.5 * abs(scale_range)))
    centre = rng.uniform(margin, np.array([width, height]) - margin)
    centres = centre[None, :] + t[:, None] * travel * direction[None, :]  # (T, 2)
    scale = np.exp(scale_range * t * np.log(2.5))  # x2.5 over the clip
    spin = {"rotate_clockwise": 1.0, "rotate_anticlockwise": -1.0}.get(motion, 0.0)  # y is down
    angles = base_angle + spin * t * np.pi  # half a turn over the clip

    dx = (xs[None] - centres[:, 0, None, None]) / (radius * scale[:, None, None])
    dy = (ys[None] - centres[:, 1, None, None]) / (radius * scale[:, None, None])
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotate by -angle into object coordinates
    mask = _shape_mask(shape, u, v)  # (T, H, W)
    stripes = np.sin(2 * np.pi * stripe_freq * (u * np.cos(stripe_angle) + v * np.sin(stripe_angle))) > 0
    texture = np.where(stripes[..., None], colours[0], colours[1])  # (T, H, W, 3)
    frames = np.where(mask[..., None], texture, background[None])
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8), mask


def write_mp4(
    path: str | os.PathLike, frames: np.ndarray, fps: int = 25, crf: int = 16, gop_size: int = 12
) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 as an H.264 yuv420p mp4 (H and W must be even)."""
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even frame sizes, got {height}x{width}")
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # one thread and fixed options. The files are byte-identical on an idle machine, but not always under CPU
        # contention: 12 encodes of the same frames on a loaded 2-core machine gave 2-3 different files (decoded, at
        # most 13 levels apart at a pixel, 0.2 on average), with one thread set on the codec context and in x264's
        # own parameters alike. The frames and masks themselves are exact functions of the seed.
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(gop_size), "threads": "1"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _config(seed, num_classes, train_per_class, val_per_class, num_frames, image_size, fps, gop_size) -> dict:
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if not 2 <= num_classes <= len(MOTIONS):
        raise ValueError(f"num_classes must be in [2, {len(MOTIONS)}], got {num_classes}")
    if height % 2 or width % 2:
        raise ValueError(f"image_size must be even (H.264 yuv420p), got {height}x{width}")
    return {
        "format_version": _FORMAT_VERSION,
        "seed": int(seed),
        "num_classes": int(num_classes),
        "train_per_class": int(train_per_class),
        "val_per_class": int(val_per_class),
        "num_frames": int(num_frames),
        "height": int(height),
        "width": int(width),
        "fps": int(fps),
        "gop_size": int(gop_size),
    }


def synthetic_clips(
    split: str, per_class: int, seed: int = 0, num_classes: int = 8, num_frames: int = 16, height: int = 64,
    width: int = 64,
):  # fmt: skip
    """The clips of one split of the synthetic dataset, rendered in memory, without H.264 encoding: what
    :func:`generate_synthetic_dataset` writes (the same seeds ``[seed, split index, class index, clip index]``).

    Yields:
        ``(motion, label, index, frames, mask)`` class by class (in :data:`MOTIONS` order), ``per_class`` clips each:
        the motion's name, its label (its index in the sorted class names, as in the folder layout), the clip's
        index in its class, frames ``(T, H, W, 3)`` uint8 and the object mask ``(T, H, W)`` bool.
    """
    split_id = SPLITS.index(split)
    motions = MOTIONS[:num_classes]
    classes = sorted(motions)
    for motion_id, motion in enumerate(motions):
        for i in range(per_class):
            rng = np.random.default_rng([seed, split_id, motion_id, i])
            frames, mask = render_clip(rng, motion, num_frames, height, width)
            yield motion, classes.index(motion), i, frames, mask


def generate_synthetic_dataset(
    output_dir: str | os.PathLike,
    seed: int = 0,
    num_classes: int = 8,
    train_per_class: int = 256,
    val_per_class: int = 8,
    num_frames: int = 16,
    image_size: int | tuple[int, int] = 64,
    fps: int = 25,
    gop_size: int = 12,
    overwrite: bool = False,
) -> Path:
    """Generate the synthetic motion dataset in ``output_dir`` (layout in the module docstring).

    Args:
        output_dir: folder to write; must not exist or be empty, unless ``overwrite`` (an existing
            dataset generated with the same arguments is reused as is).
        seed: everything is drawn from it.
        num_classes: the first ``num_classes`` of :data:`MOTIONS`.
        train_per_class / val_per_class: clips per class in the ``train`` / ``validation`` splits.
        num_frames: frames per clip (T).
        image_size: ``S`` for S x S frames or ``(H, W)``; even.
        fps, gop_size: frame rate and keyframe interval of the mp4 files.

    Returns:
        ``Path(output_dir)``.
    """
    config = _config(seed, num_classes, train_per_class, val_per_class, num_frames, image_size, fps, gop_size)
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        metadata_file = output_dir / "metadata.json"
        if not overwrite:
            if metadata_file.exists() and json.loads(metadata_file.read_text())["config"] == config:
                return output_dir
            raise FileExistsError(f"{output_dir} is not empty; pass overwrite=True to replace it")
        shutil.rmtree(output_dir)
    records = []
    for split, per_class in zip(SPLITS, (train_per_class, val_per_class)):
        clips = synthetic_clips(split, per_class, seed, num_classes, num_frames, config["height"], config["width"])
        for motion, label, i, frames, mask in clips:
            (output_dir / split / motion).mkdir(parents=True, exist_ok=True)
            (output_dir / "masks" / split / motion).mkdir(parents=True, exist_ok=True)
            stem = f"{motion}_{i:04d}"
            video_file, mask_file = f"{split}/{motion}/{stem}.mp4", f"masks/{split}/{motion}/{stem}.npz"
            write_mp4(output_dir / video_file, frames, fps=fps, gop_size=gop_size)
            np.savez_compressed(output_dir / mask_file, mask=mask)
            records.append(
                {"file_name": video_file, "split": split, "label": label, "label_name": motion, "mask": mask_file}
            )
    metadata = {"config": config, "label_names": sorted(MOTIONS[:num_classes]), "clips": records}
    (output_dir / "metadata.json").write_text(json.dumps(metadata, indent=1))
    return output_dir


def load_synthetic_mask(dataset_dir: str | os.PathLike, video_path: str | os.PathLike) -> np.ndarray:
    """The ground-truth object mask, bool ``(T, H, W)``, of a clip of the synthetic dataset."""
    dataset_dir, video_path = Path(dataset_dir), Path(video_path)
    relative = video_path.resolve().relative_to(dataset_dir.resolve()) if video_path.is_absolute() else video_path
    with np.load(dataset_dir / "masks" / relative.with_suffix(".npz")) as archive:
        return archive["mask"]


def synthetic_dataset_dir(seed: int = 0, **sizes) -> Path:
    """The synthetic dataset for ``seed`` and ``sizes`` (arguments of :func:`generate_synthetic_dataset`),
    generated once into a cache folder and reused.

    The cache is ``$ADAMAE_HF_CACHE/synthetic/<key>`` (default ``~/.cache/adamae_hf/synthetic/<key>``),
    where ``key`` hashes the arguments. Generation writes to a temporary folder that is renamed when
    complete, so an interrupted run never leaves a partial dataset.
    """
    import inspect

    defaults = {
        name: p.default
        for name, p in inspect.signature(generate_synthetic_dataset).parameters.items()
        if name not in ("output_dir", "seed", "overwrite")
    }
    unknown = set(sizes) - set(defaults)
    if unknown:
        raise TypeError(f"unknown synthetic dataset arguments: {sorted(unknown)}")
    arguments = {**defaults, **sizes}
    config = _config(seed, **arguments)
    key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    cache_root = Path(os.environ.get("ADAMAE_HF_CACHE", Path.home() / ".cache" / "adamae_hf"))
    target = cache_root / "synthetic" / key
    if (target / "metadata.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        logger.info("Generating the synthetic video dataset in %s", target)
        generate_synthetic_dataset(tmp, seed=seed, overwrite=True, **arguments)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first
            if not (target / "metadata.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
