"""Video classification accuracy as an `evaluate` metric: top-1, top-5 and per-class accuracy.

Shipped inside the package so that it loads offline, by path:

```python
>>> import evaluate
>>> from adamae_hf.metrics import VIDEO_ACCURACY_PATH
>>> metric = evaluate.load(VIDEO_ACCURACY_PATH)
>>> metric.compute(predictions=[[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], references=[1, 2], top_k=(1, 2))
{'top1': 50.0, 'top2': 50.0, 'per_class_accuracy': [nan, 100.0, 0.0], 'mean_class_accuracy': 50.0, ...}
```

`predictions` are per-video class scores (logits or probabilities, e.g. the multi-view averaged softmax), one row of
`num_classes` values per video; `references` the true class ids. Accuracies are percentages (as in the paper).
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np


_DESCRIPTION = """Top-k accuracy (k = 1 and 5 by default) and per-class top-1 accuracy of video classification
scores. A video counts as correct at k when its true class is among its k highest scores (ties broken by class
order, as `torch.topk`). Per-class accuracy is the top-1 accuracy over the videos of each class (NaN for a class
with no video); `mean_class_accuracy` averages it over the classes that have videos."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[float]]`): class scores, shape `(num_videos, num_classes)`.
    references (`list[int]`): true class ids, shape `(num_videos,)`.
    top_k (`tuple[int]`, defaults to `(1, 5)`): the k of the top-k accuracies (clipped to `num_classes`).
    num_classes (`int`, *optional*): defaults to the width of `predictions`.
Returns:
    `top{k}` (float, %) for each k, `per_class_accuracy` (list of float, %), `mean_class_accuracy` (float, %),
    `per_class_count` (list of int), `num_videos` (int).
"""

_CITATION = ""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VideoAccuracy(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, top_k=(1, 5), num_classes=None):
        return video_accuracy(np.asarray(predictions, dtype=np.float64), np.asarray(references), top_k, num_classes)


def video_accuracy(scores: np.ndarray, references: np.ndarray, top_k=(1, 5), num_classes: int | None = None) -> dict:
    """The metric's computation on arrays (vectorised): see the module docstring."""
    scores = np.asarray(scores, dtype=np.float64)
    references = np.asarray(references, dtype=np.int64).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != references.shape[0]:
        raise ValueError(
            f"predictions must be (num_videos, num_classes) scores matching references (num_videos,), got "
            f"{scores.shape} and {references.shape}"
        )
    num_classes = int(num_classes or scores.shape[1])
    if references.size and (references.min() < 0 or references.max() >= num_classes):
        raise ValueError(f"references must lie in [0, {num_classes}), got [{references.min()}, {references.max()}]")
    # rank of the true class: how many classes score strictly higher, plus ties with a lower class id
    true_scores = np.take_along_axis(scores, references[:, None], axis=1)
    classes = np.arange(scores.shape[1])[None, :]
    rank = (scores > true_scores).sum(1) + ((scores == true_scores) & (classes < references[:, None])).sum(1)
    results: dict = {}
    for k in top_k:
        results[f"top{k}"] = float((rank < min(k, num_classes)).mean() * 100) if references.size else float("nan")
    correct = (rank == 0).astype(np.float64)
    counts = np.bincount(references, minlength=num_classes)
    hits = np.bincount(references, weights=correct, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(counts > 0, hits / np.maximum(counts, 1) * 100, np.nan)
    results["per_class_accuracy"] = per_class.tolist()
    results["mean_class_accuracy"] = float(np.nanmean(per_class)) if counts.any() else float("nan")
    results["per_class_count"] = counts.tolist()
    results["num_videos"] = int(references.size)
    return results
