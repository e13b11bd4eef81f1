"""Pictures of AdaMAE pre-training: per clip, its frames, the sampler's token-probability heat map, the sampled mask and
the reconstruction, as a PNG (matplotlib) and an animated GIF (PIL).

The reconstruction un-normalises the norm-pix predictions of each masked patch with that patch's own mean and std in
the input (per channel, over the tubelet), as VideoMAE's visualisation does; visible patches show the input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from .configuration_adamae import AdaMAEConfig
from .modeling_adamae import patchify


def unnormalize_video(
    pixel_values: torch.Tensor, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD
) -> torch.Tensor:
    """`(B, T, C, H, W)` normalised -> values in [0, 1] (not clamped)."""
    mean = pixel_values.new_tensor(mean).view(1, 1, -1, 1, 1)
    std = pixel_values.new_tensor(std).view(1, 1, -1, 1, 1)
    return pixel_values.float() * std + mean


def unpatchify(patches: torch.Tensor, config: AdaMAEConfig) -> torch.Tensor:
    """Inverse of [`patchify`]: `(B, N, tubelet * patch * patch, C)` -> `(B, T, C, H, W)`."""
    b, _, _, c = patches.shape
    u, p = config.tubelet_size, config.patch_size
    tt, hh, ww = config.token_grid
    x = patches.reshape(b, tt, hh, ww, u, p, p, c).permute(0, 1, 4, 7, 2, 5, 3, 6)
    return x.reshape(b, tt * u, c, hh * p, ww * p)


def reconstruct_video(
    pixel_values: torch.Tensor, logits: torch.Tensor, bool_masked_pos: torch.Tensor, config: AdaMAEConfig
) -> torch.Tensor:
    """
    The clip as the model sees it after reconstruction, in [0, 1]: visible patches from the input, masked patches
    from `logits` (`(B, N_m, patch_dim)`, masked tokens in increasing order, as `AdaMAEForPreTraining` returns them),
    un-normalised with each masked patch's own mean and unbiased std when `config.norm_pix_loss`.
    """
    video = unnormalize_video(pixel_values)
    patches = patchify(video, config)  # (B, N, P, C)
    b, n, size, c = patches.shape
    predictions = logits.detach().float().reshape(b, -1, size, c)
    masked = bool_masked_pos.to(patches.device).bool()
    result = patches.clone()
    for i in range(b):
        original = patches[i][masked[i]]  # (N_m, P, C), same order as the logits
        prediction = predictions[i]
        if config.norm_pix_loss:
            mean = original.mean(dim=1, keepdim=True)
            std = original.var(dim=1, unbiased=True, keepdim=True).sqrt() + 1e-6
            prediction = prediction * std + mean
        result[i][masked[i]] = prediction
    return unpatchify(result, config).clamp(0, 1)


def token_map_to_pixels(token_map: torch.Tensor, config: AdaMAEConfig) -> torch.Tensor:
    """`(B, T', H', W')` or `(B, N)` per-token values -> `(B, T, H, W)` per pixel (nearest)."""
    b = token_map.shape[0]
    grid = token_map.reshape(b, *config.token_grid).float()
    u, p = config.tubelet_size, config.patch_size
    return grid.repeat_interleave(u, 1).repeat_interleave(p, 2).repeat_interleave(p, 3)


@dataclass
class ClipPictures:
    """One clip's pictures, arrays of shape `(T, H, W, 3)` in [0, 1] (heat map: `(T, H, W)` probabilities)."""

    frames: np.ndarray
    probabilities: np.ndarray | None
    masked: np.ndarray
    reconstruction: np.ndarray
    mask_ratio: float
    object_mask: np.ndarray | None = None  # (T, H, W) bool ground truth, outlined on the heat map


@torch.no_grad()
def clip_pictures(
    pixel_values: torch.Tensor, output, config: AdaMAEConfig, object_masks: torch.Tensor | None = None
) -> list[ClipPictures]:
    """Turn a batch and the model's output on it (`AdaMAEForPreTrainingOutput`) into [`ClipPictures`];
    `object_masks` (bool `(B, T, H, W)`, optional) are outlined on the heat maps."""
    pixel_values = pixel_values.detach().float().cpu()
    mask = output.bool_masked_pos.detach().cpu()
    frames = unnormalize_video(pixel_values).clamp(0, 1)  # (B, T, C, H, W)
    reconstruction = reconstruct_video(pixel_values, output.logits.cpu(), mask, config)
    mask_pixels = token_map_to_pixels(mask, config).unsqueeze(2)  # (B, T, 1, H, W)
    masked = frames * (1 - mask_pixels) + 0.5 * mask_pixels  # masked patches grey
    probabilities = None
    if output.token_probabilities is not None:
        probabilities = token_map_to_pixels(output.token_probabilities.detach().float().cpu(), config)

    def hwc(x: torch.Tensor) -> np.ndarray:
        return x.permute(0, 2, 3, 1).numpy()

    return [
        ClipPictures(
            frames=hwc(frames[i]),
            probabilities=None if probabilities is None else probabilities[i].numpy(),
            masked=hwc(masked[i]),
            reconstruction=hwc(reconstruction[i]),
            mask_ratio=float(mask[i].float().mean()),
            object_mask=None if object_masks is None else object_masks[i].cpu().bool().numpy(),
        )
        for i in range(pixel_values.shape[0])
    ]


OUTLINE_RGB = (0.0, 1.0, 1.0)  # cyan: the ground-truth object's outline on the heat maps


def _heat_rgb(probabilities: np.ndarray, vmax: float) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["inferno"](np.clip(probabilities / max(vmax, 1e-12), 0, 1))[..., :3]


def outline(mask: np.ndarray) -> np.ndarray:
    """The boundary pixels of a bool `(H, W)` mask: inside pixels with a 4-neighbour outside."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def make_figure(pictures: ClipPictures, title: str | None = None, tubelet_size: int = 2):
    """A matplotlib figure: rows frames / token probabilities (the ground-truth object outlined in cyan where known)
    / sampled mask / reconstruction; one column per tubelet slice (its first frame)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    times = list(range(0, pictures.frames.shape[0], tubelet_size))
    rows = [("input", pictures.frames)]
    if pictures.probabilities is not None:
        rows.append(("token probability", pictures.probabilities))
    rows += [(f"mask ({pictures.mask_ratio:.0%} masked)", pictures.masked), ("reconstruction", pictures.reconstruction)]
    figure, axes = plt.subplots(
        len(rows), len(times), figsize=(1.3 * len(times) + 0.6, 1.35 * len(rows) + 0.4), squeeze=False
    )
    vmax = float(pictures.probabilities.max()) if pictures.probabilities is not None else 1.0
    for r, (label, images) in enumerate(rows):
        for c, t in enumerate(times):
            ax = axes[r][c]
            if label == "token probability":
                ax.imshow(images[t], cmap="inferno", vmin=0, vmax=vmax, interpolation="nearest")
                if pictures.object_mask is not None and pictures.object_mask[t].any():
                    ax.contour(pictures.object_mask[t], levels=[0.5], colors=[OUTLINE_RGB], linewidths=0.8)
            else:
                ax.imshow(images[t], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
            if r == 0:
                ax.set_title(f"t={t}", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def figure_to_array(figure) -> np.ndarray:
    """RGB uint8 `(H, W, 3)` of a rendered matplotlib figure."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


def gif_frames(pictures: ClipPictures, scale: int = 3) -> list[np.ndarray]:
    """Per frame `t`: `[input | token probability | sampled mask | reconstruction]` side by side, uint8."""
    vmax = float(pictures.probabilities.max()) if pictures.probabilities is not None else 1.0
    frames = []
    for t in range(pictures.frames.shape[0]):
        panels = [pictures.frames[t]]
        if pictures.probabilities is not None:
            heat = _heat_rgb(pictures.probabilities[t], vmax)
            if pictures.object_mask is not None:
                heat[outline(pictures.object_mask[t])] = OUTLINE_RGB
            panels.append(heat)
        panels += [pictures.masked[t], pictures.reconstruction[t]]
        h = panels[0].shape[0]
        gap = np.ones((h, 2, 3))
        row = np.concatenate([x for panel in panels for x in (panel, gap)][:-1], axis=1)
        row = (np.clip(row, 0, 1) * 255).round().astype(np.uint8)
        frames.append(row.repeat(scale, 0).repeat(scale, 1))
    return frames


def save_gif(frames: list[np.ndarray], path: str | os.PathLike, fps: int = 6) -> Path:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return Path(path)


def save_visualizations(
    pictures: list[ClipPictures], output_dir: str | os.PathLike, prefix: str, tubelet_size: int = 2
) -> tuple[list[Path], dict[str, np.ndarray]]:
    """Write `<prefix>_clip<i>.png` and `.gif` per clip into `output_dir`; returns the paths and the PNG images
    (RGB uint8) keyed by name, for a tracker."""
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths, images = [], {}
    for i, clip in enumerate(pictures):
        figure = make_figure(clip, title=f"{prefix} clip {i}", tubelet_size=tubelet_size)
        png = output_dir / f"{prefix}_clip{i}.png"
        figure.savefig(png, dpi=100)
        images[f"clip{i}"] = figure_to_array(figure)
        plt.close(figure)
        paths += [png, save_gif(gif_frames(clip), output_dir / f"{prefix}_clip{i}.gif")]
    return paths, images
