"""The paper's multi-view evaluation and its metrics: [`multiview_average`] (the softmax scores, or logits, of the
`V = K x S` views of each video averaged, vectorised), [`readable_predictions`] and [`build_compute_metrics`] for the
`Trainer`, [`compute_video_metrics`] (top-1 / top-5 / per-class accuracy through the `evaluate` metric shipped in
`adamae_hf.metrics`), [`confusion_matrix`] and its picture, the predictions CSV and the results table."""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import EvalPrediction


__all__ = [
    "VIEW_AVERAGES", "VideoPredictions", "build_compute_metrics", "compute_video_metrics", "confusion_matrix",
    "format_results_table", "load_video_accuracy", "multiview_average", "multiview_loss", "plot_confusion_matrix",
    "readable_predictions", "write_predictions_csv",
]  # fmt: skip


VIEW_AVERAGES = ("probabilities", "logits")


def multiview_average(
    logits: torch.Tensor | np.ndarray,
    video_index: torch.Tensor | np.ndarray | None = None,
    num_videos: int | None = None,
    average: str = "probabilities",
) -> torch.Tensor:
    """
    Per-video class probabilities over the views of each video (the paper's K temporal clips x S spatial crops
    protocol): `average="probabilities"` averages the softmax of every view's logits; `"logits"` takes the softmax of
    the views' mean logits, whose ranking is the released test's (wgcban/adamae `msc/engine_for_finetuning.py`
    `compute_video` averages the raw outputs).

    Args:
        logits: `(num_videos, V, C)` (views grouped per video), or flat `(num_views, C)` with `video_index`.
        video_index: `(num_views,)` video id of each row of flat `logits` (any order; videos may have different
            numbers of views).
        num_videos: rows of the result for flat logits; defaults to `video_index.max() + 1`.
        average: `"probabilities"` or `"logits"`.

    Returns:
        float32 `(num_videos, C)` probabilities (rows sum to 1; a video with no view gets a row of NaN).
    """
    if average not in VIEW_AVERAGES:
        raise ValueError(f"average must be one of {', '.join(VIEW_AVERAGES)}, got {average!r}")
    logits = torch.as_tensor(logits).float()
    scores = logits.softmax(-1) if average == "probabilities" else logits
    finish = (lambda mean: mean) if average == "probabilities" else (lambda mean: mean.softmax(-1))
    if video_index is None:
        if logits.ndim != 3:
            raise ValueError(f"expected logits (num_videos, V, C), or flat (num_views, C) with video_index; got {tuple(logits.shape)}")
        return finish(scores.mean(1))
    video_index = torch.as_tensor(video_index, device=logits.device).long().reshape(-1)
    if logits.ndim != 2 or logits.shape[0] != video_index.shape[0]:
        raise ValueError(f"flat logits (num_views, C) must match video_index (num_views,); got {tuple(logits.shape)} and {tuple(video_index.shape)}")
    num_videos = int(video_index.max()) + 1 if num_videos is None else num_videos
    sums = logits.new_zeros(num_videos, logits.shape[1]).index_add_(0, video_index, scores)
    counts = torch.bincount(video_index, minlength=num_videos).to(sums.dtype)
    return finish(sums / counts[:, None])


@functools.lru_cache(maxsize=1)
def load_video_accuracy():
    """The `evaluate` metric shipped in `adamae_hf.metrics` (loaded by path: nothing is fetched)."""
    import evaluate

    from ..metrics import VIDEO_ACCURACY_PATH

    return evaluate.load(VIDEO_ACCURACY_PATH)


def compute_video_metrics(
    probabilities: torch.Tensor | np.ndarray,
    references: torch.Tensor | np.ndarray,
    label_names: Sequence[str] | None = None,
    top_k: Sequence[int] = (1, 5),
) -> dict[str, float]:
    """Top-k and per-class accuracy (%) of per-video scores through the shipped `evaluate` metric, flattened to
    scalars for the Trainer's logs: `top1`, `top5`, `mean_class_accuracy`, `accuracy_<class name>`."""
    probabilities = np.asarray(torch.as_tensor(probabilities).float().cpu())
    references = np.asarray(torch.as_tensor(references).cpu()).astype(np.int64)
    num_classes = probabilities.shape[1]
    result = load_video_accuracy().compute(
        predictions=probabilities, references=references, top_k=tuple(top_k), num_classes=num_classes
    )
    names = list(label_names) if label_names is not None else [str(i) for i in range(num_classes)]
    metrics = {f"top{k}": result[f"top{k}"] for k in top_k}
    metrics["mean_class_accuracy"] = result["mean_class_accuracy"]
    metrics.update({f"accuracy_{name}": value for name, value in zip(names, result["per_class_accuracy"])})
    return metrics


def confusion_matrix(predictions: np.ndarray, references: np.ndarray, num_classes: int) -> np.ndarray:
    """`(num_classes, num_classes)` counts; row = true class, column = predicted class."""
    predictions, references = np.asarray(predictions, dtype=np.int64), np.asarray(references, dtype=np.int64)
    return np.bincount(references * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion_matrix(matrix: np.ndarray, label_names: Sequence[str], path: str | os.PathLike, title: str = "") -> Path:
    """Save `matrix` (counts; rows = true classes) as a PNG, rows normalised to the fraction of each class."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix, dtype=np.float64)
    fractions = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    n = len(label_names)
    size = max(4.0, 0.45 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if n <= 40:
        ax.set_xticks(range(n), [str(x) for x in label_names], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), [str(x) for x in label_names], fontsize=8)
        if n <= 20:
            for i, j in zip(*np.nonzero(matrix)):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if fractions[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_predictions_csv(
    path: str | os.PathLike,
    probabilities: np.ndarray,
    references: np.ndarray | None,
    video_names: Sequence[str],
    label_names: Sequence[str],
    top_k: int = 5,
) -> Path:
    """One row per video: `video, label, prediction, score, top{k}_labels, top{k}_scores`."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    k = min(top_k, probabilities.shape[1])
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["video", "label", "prediction", "score", f"top{k}_labels", f"top{k}_scores"])
        for row, name in enumerate(video_names):
            best = order[row]
            writer.writerow([
                name,
                label_names[int(references[row])] if references is not None and references[row] >= 0 else "",
                label_names[best[0]],
                f"{probabilities[row, best[0]]:.6f}",
                " ".join(str(label_names[c]) for c in best),
                " ".join(f"{probabilities[row, c]:.6f}" for c in best),
            ])  # fmt: skip
    return path


def format_results_table(metrics: dict[str, float], label_names: Sequence[str], prefix: str = "eval_") -> str:
    """A plain-text table: top-1, top-5, mean class accuracy, then the accuracy of every class."""
    rows = [(name, metrics.get(f"{prefix}{name}")) for name in ("top1", "top5", "mean_class_accuracy")]
    rows += [(f"  {label}", metrics.get(f"{prefix}accuracy_{label}")) for label in label_names]
    width = max(len(name) for name, _ in rows) + 2
    lines = [f"{'metric'.ljust(width)}  accuracy (%)", "-" * (width + 14)]
    lines += [f"{name.ljust(width)}  {'n/a' if value is None else f'{value:6.2f}'}" for name, value in rows]
    return "\n".join(lines)


@dataclass
class VideoPredictions:
    """Per-video results of a multi-view prediction, readable videos only (see [`readable_predictions`])."""

    probabilities: np.ndarray  # (N, C) multi-view averaged
    references: np.ndarray | None  # (N,) class ids
    video_index: np.ndarray  # (N,) dataset indices
    unreadable_index: np.ndarray  # (M - N,) dataset indices of the videos left out


def readable_predictions(predictions, label_ids=None, view_average: str = "probabilities") -> VideoPredictions:
    """Split the `Trainer`'s concatenated `(view logits, video_index, readable)` predictions of
    [`VideoClassificationTrainer`] into per-video probabilities of the readable videos and the indices of the
    unreadable ones (views averaged by [`multiview_average`] with `view_average`). Each dataset item is one video, so
    no video is counted twice."""
    if not isinstance(predictions, (tuple, list)):
        predictions = (predictions,)
    view_logits = np.asarray(predictions[0])
    count = view_logits.shape[0]
    video_index = np.asarray(predictions[1]) if len(predictions) > 1 else np.arange(count)
    readable = np.asarray(predictions[2], dtype=bool) if len(predictions) > 2 else np.ones(count, dtype=bool)
    references = np.asarray(label_ids)[readable] if label_ids is not None else None
    probabilities = multiview_average(torch.as_tensor(view_logits[readable]), average=view_average).numpy()
    return VideoPredictions(probabilities, references, video_index[readable], video_index[~readable])


def multiview_loss(probabilities: torch.Tensor | np.ndarray, references: torch.Tensor | np.ndarray) -> torch.Tensor:
    """The evaluation loss: the mean over videos of the negative log of the multi-view averaged probability of the
    true class (`probabilities` `(N, C)` from [`multiview_average`], `references` `(N,)` class ids)."""
    probabilities = torch.as_tensor(probabilities).float()
    references = torch.as_tensor(references, device=probabilities.device).long()
    return F.nll_loss(probabilities.clamp_min(1e-12).log(), references).detach()


def build_compute_metrics(label_names: Sequence[str], top_k: Sequence[int] = (1, 5), view_average: str = "probabilities"):
    """`compute_metrics` for [`VideoClassificationTrainer`]: multi-view averaging (`view_average`, see
    [`multiview_average`]) then [`compute_video_metrics`] and
    the loss ([`multiview_loss`]) over the readable videos, each counted once (`gather_for_metrics` has dropped the
    duplicates that pad the last batches of several processes): the Trainer logs it as `eval_loss`."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        result = readable_predictions(prediction.predictions, prediction.label_ids, view_average)
        counts = {"videos": len(result.video_index), "unreadable_videos": len(result.unreadable_index)}
        if not len(result.video_index):
            return counts
        metrics = compute_video_metrics(result.probabilities, result.references, label_names, top_k)
        if result.references is not None:
            metrics["loss"] = multiview_loss(result.probabilities, result.references).item()
        return {**metrics, **counts}

    return compute_metrics
