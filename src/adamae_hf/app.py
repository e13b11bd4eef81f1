"""A Gradio app that shows where AdaMAE's sampler looks in any video (``pip install adamae-hf[app]``).

Upload a video (or take the example, generated at start-up by the package's synthetic generator) and pick a
checkpoint: a local folder or a Hub id, by default the quick start's pre-training output
(``outputs/adamae-pretrain-synthetic``). The app reads the centred evaluation clip with the checkpoint's
[`AdaMAEVideoProcessor`] and shows, for a pre-training checkpoint, the frames, the sampler's token probabilities as a
heat map, the sampled mask and the reconstruction (``adamae_hf.visualization``), with the rank correlation between
the probabilities and the clip's motion (``adamae_hf.sampler_metrics``); for a video-classification checkpoint,
the frames and the top-5 labels.

Start it with ``python -m adamae_hf.app`` (``--checkpoint``, ``--port``); the Space in ``scripts/space/`` imports
[`build_demo`]. [`analyze`] is the app without the interface.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data.processor import AdaMAEVideoProcessor, build_video_processor
from .data.video_io import VideoReadError, read_video_clips
from .modeling_adamae import AdaMAEForPreTraining, AdaMAEForVideoClassification


DEFAULT_CHECKPOINT = "outputs/adamae-pretrain-synthetic"  # what scripts/run_pretraining.py writes by default
CHECKPOINT_ENV = "ADAMAE_APP_CHECKPOINT"  # overrides the default checkpoint (a Space sets it to a Hub id)
SUPPORTED = ("AdaMAEForPreTraining", "AdaMAEForVideoClassification")
TOP_K = 5


class AppError(ValueError):
    """A problem with the user's input (the video or the checkpoint), in words for the user."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, CPU), its processor and a note on where the processor came from."""

    name: str
    model: AdaMAEForPreTraining | AdaMAEForVideoClassification
    processor: AdaMAEVideoProcessor
    processor_note: str

    @property
    def is_classifier(self) -> bool:
        return isinstance(self.model, AdaMAEForVideoClassification)


@dataclass
class Analysis:
    """What the app shows for one video.

    ``figure``: RGB uint8 ``(H, W, 3)``: rows frames / token probability / mask / reconstruction (pre-training) or
    the frames (classification). ``animation``: an animated GIF of the same panels side by side per frame
    (pre-training), else ``None``. ``labels``: ``{label: probability}`` of the top 5 (classification), else ``None``.
    ``summary``: Markdown.
    """

    figure: np.ndarray
    animation: Path | None
    labels: dict[str, float] | None
    summary: str


@functools.lru_cache(maxsize=4)
def load_checkpoint(name: str) -> Checkpoint:
    """Load an AdaMAE pre-training or video-classification checkpoint (local folder or Hub id) with its processor.

    The processor is the checkpoint's `video_preprocessor_config.json`; a checkpoint without one (written before
    the processor existed) gets [`build_video_processor`] for its `image_size` and `num_frames` at the default stride.

    Raises:
        AppError: nothing at `name`, not an AdaMAE checkpoint, or an AdaMAE model of another kind (the bare encoder).
    """
    from transformers import AutoConfig

    name = name.strip()
    if not name:
        raise AppError("Give a checkpoint: a local folder or a Hub id.")
    looks_local = name == DEFAULT_CHECKPOINT or os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(name)):
        hint = " Run `python scripts/run_pretraining.py` (the quick start) to make it." if name == DEFAULT_CHECKPOINT else ""
        raise AppError(f"No checkpoint could be loaded from {name!r}: there is no such folder.{hint}")
    try:
        config = AutoConfig.from_pretrained(os.path.expanduser(name))
    except (OSError, ValueError) as error:
        raise AppError(f"No checkpoint could be loaded from {name!r}: {str(error).splitlines()[0]}") from None
    if config.model_type != "adamae":
        raise AppError(
            f"{name!r} is a {config.model_type!r} checkpoint, not an AdaMAE one: this app needs an AdaMAE pre-training "
            "checkpoint (for the sampler's heat map) or an AdaMAE video-classification checkpoint (for labels)."
        )
    architecture = (config.architectures or ["AdaMAEModel"])[0]
    if architecture not in SUPPORTED:
        raise AppError(
            f"{name!r} holds an {architecture}: this app needs an AdaMAE pre-training checkpoint (AdaMAEForPreTraining, "
            "for the sampler's heat map) or a video-classification one (AdaMAEForVideoClassification, for labels)."
        )
    model_class = AdaMAEForPreTraining if architecture == "AdaMAEForPreTraining" else AdaMAEForVideoClassification
    name = os.path.expanduser(name)
    model = model_class.from_pretrained(name).eval()
    try:
        processor = AdaMAEVideoProcessor.from_pretrained(name)
        note = "the checkpoint's video processor"
    except OSError:
        processor = build_video_processor(config.image_size, config.num_frames)
        note = f"no video_preprocessor_config.json: the default processor (stride {processor.sampling_rate})"
    return Checkpoint(name, model, processor, note)


def example_video(directory: str | os.PathLike | None = None) -> Path:
    """Write the example video, `adamae_example.mp4`: a striped shape moving right over a still background, 32
    frames of 128x128 at 25 fps, from the synthetic generator (`adamae_hf.data.synthetic`, seed 0). Returns its
    path (in a new temporary folder by default)."""
    from .data.synthetic import render_clip, write_mp4

    frames, _ = render_clip(np.random.default_rng(0), "right", 32, 128, 128)
    path = Path(directory or tempfile.mkdtemp(prefix="adamae-app-")) / "adamae_example.mp4"
    write_mp4(path, frames)
    return path


def _frames_strip(frames: np.ndarray, step: int) -> np.ndarray:
    """`(T, H, W, 3)` in [0, 1] -> uint8 strip of every `step`-th frame, side by side with 2-pixel gaps."""
    picked = [frames[t] for t in range(0, frames.shape[0], step)]
    gap = np.ones((frames.shape[1], 2, 3))
    strip = np.concatenate([x for frame in picked for x in (frame, gap)][:-1], axis=1)
    return (np.clip(strip, 0, 1) * 255).round().astype(np.uint8).repeat(4, 0).repeat(4, 1)


def analyze(
    video: str | os.PathLike | None,
    checkpoint: str,
    progress: Callable[[float, str], None] | None = None,
    seed: int = 0,
) -> Analysis:
    """Run the app on one video file.

    Args:
        video: the video's path.
        checkpoint: a local folder or Hub id ([`load_checkpoint`]).
        progress: called with (fraction done, what is being done).
        seed: the seed of the sampled mask (pre-training checkpoints draw it from the sampler's distribution).

    Raises:
        AppError: no video, an unreadable video, or a checkpoint that cannot be used.
    """
    from .sampler_metrics import motion_correlation
    from .visualization import clip_pictures, figure_to_array, gif_frames, make_figure, save_gif

    report = progress or (lambda fraction, what: None)
    if not video:
        raise AppError("Upload a video or pick the example first.")
    started = time.perf_counter()
    report(0.05, "Loading the checkpoint")
    loaded = load_checkpoint(checkpoint)
    processor, config = loaded.processor, loaded.model.config
    report(0.3, "Reading the clip")
    stats: dict = {}
    try:
        clip = read_video_clips(
            video, processor.num_frames, processor.sampling_rate, 1, "eval", stats=stats
        )[0]  # (T, H, W, 3)
    except VideoReadError as error:
        raise AppError(f"This file cannot be read as a video: {error.reason}.") from None
    pixel_values = processor(clip, do_sample_frames=False)["pixel_values"]  # (1, T, C, S, S)
    if pixel_values.shape[1] != config.num_frames:
        raise AppError(
            f"The checkpoint's processor gives {pixel_values.shape[1]} frames but the model takes {config.num_frames}."
        )
    indices = stats["indices"][0].tolist()
    lines = [
        f"**{loaded.name}** ({type(loaded.model).__name__}, {loaded.processor_note}).",
        f"Read {len(indices)} frames, {indices[0]} to {indices[-1]} at stride {processor.sampling_rate}, of the video's "
        f"{stats['video_frames']} ({clip.shape[2]}x{clip.shape[1]} pixels, resized and centre-cropped to "
        f"{config.image_size}x{config.image_size}).",
    ]
    report(0.55, "Running the model")
    labels, animation = None, None
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        output = loaded.model(pixel_values)
    if loaded.is_classifier:
        probabilities = output.logits.float().softmax(-1)[0]
        top = probabilities.topk(min(TOP_K, probabilities.numel()))
        labels = {config.id2label[int(i)]: float(p) for p, i in zip(top.values, top.indices)}
        from .visualization import unnormalize_video

        frames = unnormalize_video(pixel_values)[0].permute(0, 2, 3, 1).numpy()
        figure = _frames_strip(frames, config.tubelet_size)
        lines.append("A classification checkpoint has no sampler: the heat map and the mask need a pre-training one.")
    else:
        report(0.75, "Drawing the heat map, the mask and the reconstruction")
        pictures = clip_pictures(pixel_values, output, config)[0]
        import matplotlib.pyplot as plt

        drawn = make_figure(pictures, title=Path(str(video)).name, tubelet_size=config.tubelet_size)
        figure = figure_to_array(drawn)
        plt.close(drawn)
        animation = save_gif(gif_frames(pictures), Path(tempfile.mkdtemp(prefix="adamae-app-")) / "sampler.gif")
        lines.append(f"Mask: {pictures.mask_ratio:.0%} of the tokens masked ({config.mask_type} masking, seed {seed}).")
        if output.token_probabilities is not None:
            grid = output.token_probabilities.view(1, *config.token_grid)
            rho = float(motion_correlation(grid, pixel_values, config.tubelet_size, config.patch_size)[0])
            lines.append(
                f"Sampler: the most likely token has {float(grid.max()) * config.num_tokens:.1f}x the uniform "
                f"probability; rank correlation with motion {rho:.2f} (0: unrelated, 1: the moving parts first)."
            )
    lines.append(f"Done in {time.perf_counter() - started:.1f} s.")
    report(1.0, "Done")
    return Analysis(figure, animation, labels, "\n\n".join(lines))


def build_demo(default_checkpoint: str | None = None, example: str | os.PathLike | None = None):
    """The Gradio app (a `gr.Blocks`; call `.launch()`).

    Args:
        default_checkpoint: the checkpoint box's initial value; default `$ADAMAE_APP_CHECKPOINT`, else
            [`DEFAULT_CHECKPOINT`].
        example: the example video; default [`example_video`]`()` (generated now).

    Raises:
        ImportError: gradio is not installed (`pip install adamae-hf[app]`).
    """
    try:
        import gradio as gr
    except ImportError as error:
        raise ImportError("The app needs gradio: pip install 'adamae-hf[app]'") from error

    default_checkpoint = default_checkpoint or os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT
    example = str(example or example_video())

    def run(video, checkpoint, progress=gr.Progress()):  # noqa: B008  (Gradio finds the tracker by this default)
        try:
            result = analyze(video, checkpoint, progress=lambda fraction, what: progress(fraction, desc=what))
        except AppError as error:
            raise gr.Error(str(error)) from None
        return (
            result.figure,
            str(result.animation) if result.animation else None,
            gr.update(value=result.labels, visible=result.labels is not None),
            result.summary,
        )

    with gr.Blocks(title="AdaMAE: where the sampler looks") as demo:
        gr.Markdown(
            "# AdaMAE: where the sampler looks\n"
            "AdaMAE's token sampler picks the few tokens its encoder sees: the parts of a video it expects to be "
            "hardest to reconstruct. Upload a video (or use the example), pick a checkpoint, and see the sampler's "
            "probabilities, the mask drawn from them and the reconstruction. A video-classification checkpoint "
            "gives its top-5 labels."
        )
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", sources=["upload"], format=None, elem_id="video-input")
                gr.Examples(examples=[[example]], inputs=[video], label="Example (generated)")
                checkpoint = gr.Textbox(
                    value=default_checkpoint, label="Checkpoint (local folder or Hub id)", elem_id="checkpoint"
                )
                button = gr.Button("Show where the sampler looks", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                summary = gr.Markdown(elem_id="summary")
                figure = gr.Image(label="Frames / token probability / mask / reconstruction", elem_id="figure")
                animation = gr.Image(label="Per frame (animated)", type="filepath", elem_id="animation")
                labels = gr.Label(num_top_classes=TOP_K, label="Top-5 labels", visible=False, elem_id="labels")
        button.click(run, inputs=[video, checkpoint], outputs=[figure, animation, labels, summary])
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The AdaMAE sampler app (Gradio).")
    parser.add_argument("--checkpoint", help=f"default checkpoint (default: ${CHECKPOINT_ENV} or {DEFAULT_CHECKPOINT})")
    parser.add_argument("--port", type=int, default=None, help="server port (default: Gradio's, 7860)")
    parser.add_argument("--host", default=None, help="server address (default 127.0.0.1; 0.0.0.0 to serve others)")
    args = parser.parse_args(argv)
    build_demo(args.checkpoint).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
