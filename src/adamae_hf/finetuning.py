"""Fine-tuning and the paper's multi-view evaluation, as reusable pieces of `scripts/run_finetuning.py`.

- [`build_model_for_finetuning`]: an [`AdaMAEForVideoClassification`] from an AdaMAE pre-training checkpoint (decoder
  and sampler dropped), a fine-tuned AdaMAE, a transformers VideoMAE checkpoint, or a config (from scratch).
- [`multiview_average`]: softmax scores averaged over the `V = K x S` views (K temporal clips x S spatial crops) of
  each video, fully vectorised.
- [`compute_video_metrics`], [`confusion_matrix`], [`plot_confusion_matrix`]: top-1 / top-5 / per-class accuracy
  through the `evaluate` metric shipped in [`adamae_hf.metrics`], and a confusion-matrix PNG.
- [`VideoClassificationTrainer`]: a `transformers.Trainer` with the released recipe's optimizer (AdamW with layer-wise
  lr decay, no weight decay on biases / norms / position embeddings), mixup / cutmix with label-smoothed soft targets
  applied batch-wise in `compute_loss`, and a multi-view `prediction_step`.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import EvalPrediction, Trainer, TrainerCallback

from .configuration_adamae import AdaMAEConfig
from .conversion import quiet_load_report
from .lr_schedule import fit_warmup, get_released_cosine_schedule
from .modeling_adamae import AdaMAEForVideoClassification
from .optimization import parameter_groups
from .training.arguments import NONFINITE_LOSS_POLICIES
from .training.checkpointing import check_resume_settings
from .training.errors import ArgumentError, NonFiniteLossError
from .training.models import TRAINING_DTYPE, log_training_dtype, read_config_dict


logger = logging.getLogger(__name__)

# What an AdaMAE pre-training checkpoint holds that the classifier does not use, by key prefix.
_DROPPED_PARTS = {
    "decoder.": "decoder",
    "encoder_to_decoder.": "decoder",
    "mask_token": "decoder",
    "decoder_position_embeddings": "decoder",
    "token_sampler.": "adaptive token sampler",
    "adamae.layernorm.": "encoder final norm",
}


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """What [`build_model_for_finetuning`] built, and from what."""

    model: AdaMAEForVideoClassification
    source: str  # "adamae-pretraining", "adamae-classification", "videomae" or "scratch"
    dropped_keys: list[str]
    new_keys: list[str]


def _label_maps(label_names: Sequence[str]) -> dict[str, Any]:
    return {
        "num_labels": len(label_names),
        "id2label": {i: str(name) for i, name in enumerate(label_names)},
        "label2id": {str(name): i for i, name in enumerate(label_names)},
    }


def _check_num_labels(found: int | None, wanted: int, where: str, ignore_mismatched_sizes: bool, for_training: bool) -> None:
    if found is not None and found != wanted and not ignore_mismatched_sizes:
        if not for_training:
            raise ValueError(
                f"{where} classifies {found} classes but the dataset has {wanted}: a classifier can only be evaluated "
                f"on the classes it was trained on. Fine-tune it on this data first (--do_train)."
            )
        raise ValueError(
            f"{where} classifies {found} classes but the dataset has {wanted}. Pass --ignore_mismatched_sizes "
            f"(ignore_mismatched_sizes=True) to re-initialise the classification head for {wanted} classes."
        )


def checkpoint_label_names(model_name_or_path: str | os.PathLike | None, **hub_kwargs: Any) -> list[str] | None:
    """The class names of a video-classification checkpoint in the order of its outputs (`config.id2label`), or `None`
    where it is no classifier or its classes have no names (transformers' default `LABEL_<i>`). Evaluation and
    further fine-tuning map the data's classes to these by name, as transformers' `run_glue.py` example does with
    `model.config.label2id`, so that a dataset whose folders sort differently keeps the checkpoint's meaning. A
    checkpoint that cannot be read raises `adamae_hf.training.read_config_dict`'s [`ArgumentError`]."""
    if model_name_or_path is None:
        return None
    config_dict = read_config_dict(model_name_or_path, **hub_kwargs)
    architectures = config_dict.get("architectures") or []
    id2label = config_dict.get("id2label") or {}
    if not any(name.endswith("ForVideoClassification") for name in architectures) or not id2label:
        return None
    names = [str(id2label.get(str(i), id2label.get(i))) for i in range(len(id2label))]
    if names == [f"LABEL_{i}" for i in range(len(names))]:
        return None
    return names


def is_named(label_names: Sequence[str]) -> bool:
    """Whether `label_names` are real class names, not the ids `"0"`, `"1"`, ... that list files and integer label
    columns get (those map to a checkpoint's classes by position)."""
    return list(label_names) != [str(i) for i in range(len(label_names))]


def _summarise_dropped(keys: Sequence[str]) -> str:
    parts: dict[str, int] = {}
    for key in keys:
        part = next((name for prefix, name in _DROPPED_PARTS.items() if key.startswith(prefix)), "other")
        parts[part] = parts.get(part, 0) + 1
    return ", ".join(f"{name} ({count} tensors)" for name, count in sorted(parts.items()))


def _config_changes(config_dict: dict[str, Any], model_type: str | None, config_overrides: str | None) -> dict[str, Any]:
    """The fields `config_overrides` changes in the checkpoint's config (typed by `update_from_string`), logged."""
    if not config_overrides:
        return {}
    if model_type == "videomae":
        from transformers import VideoMAEConfig as config_class
    elif model_type == "adamae":
        config_class = AdaMAEConfig
    else:
        return {}  # the caller reports the unknown checkpoint type
    config = config_class.from_dict({k: v for k, v in config_dict.items() if k not in ("model_type", "transformers_version")})
    before = config.to_dict()
    try:
        config.update_from_string(config_overrides)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"--config_overrides {config_overrides!r}: {error}") from None
    changes = {key: value for key, value in config.to_dict().items() if before.get(key) != value}
    if changes:
        logger.warning(
            "--config_overrides changes the checkpoint's config: %s%s.",
            ", ".join(f"{key} {before.get(key)!r} -> {value!r}" for key, value in changes.items()),
            " (the fixed sinusoidal position table is rebuilt for the new token count)"
            if {"num_frames", "image_size", "patch_size", "tubelet_size"} & set(changes) else "",
        )  # fmt: skip
    return changes


@contextlib.contextmanager
def _overrides_must_fit(changes: dict[str, Any], path) -> Iterator[None]:
    """Turns a weight-shape error of `from_pretrained` under config overrides into an [`ArgumentError`] naming them."""
    try:
        yield
    except (RuntimeError, ValueError) as error:
        if not changes:
            raise
        raise ArgumentError(
            f"--config_overrides {changes} do not fit the weights of {str(path)!r} (a changed size needs matching "
            f"weights; --ignore_mismatched_sizes re-initialises them): {error}"
        ) from error


def build_model_for_finetuning(
    model_name_or_path: str | os.PathLike | None,
    label_names: Sequence[str],
    *,
    config: AdaMAEConfig | None = None,
    drop_path_rate: float = 0.1,
    ignore_mismatched_sizes: bool = False,
    config_overrides: str | None = None,
    for_training: bool = True,
    **hub_kwargs: Any,
) -> LoadedModel:
    """
    An [`AdaMAEForVideoClassification`] for `label_names`, from:

    - an AdaMAE **pre-training** checkpoint (`architectures=["AdaMAEForPreTraining"]`): the encoder is kept; the
      decoder, the adaptive token sampler and the encoder's final norm are dropped (logged); the head is built for
      mean pooling (`use_mean_pooling=True`: `fc_norm` + linear, freshly initialised), as the released fine-tuning;
    - a **fine-tuned** AdaMAE classifier: loaded as is; its head must have `len(label_names)` outputs unless
      `ignore_mismatched_sizes` (then the head is re-initialised);
    - a transformers **VideoMAE** checkpoint (pre-training or classification): converted with
      [`AdaMAEForVideoClassification.from_videomae`], mean pooling, same head rule as above;
    - `model_name_or_path=None`: a fresh model of `config` (training from scratch).

    `drop_path_rate` sets stochastic depth (0.1 in the released recipe). `config_overrides` (`"num_frames=16"`,
    the format of `PretrainedConfig.update_from_string`) changes the checkpoint's config before its weights are
    loaded, as `from_pretrained(..., num_frames=16)` does: the fixed sinusoidal position table is rebuilt for the
    new token count; a field that changes a weight's shape fails (unless `ignore_mismatched_sizes`). The weights are
    loaded in float32 whatever dtype the checkpoint stores (logged; mixed precision is autocast). `hub_kwargs`
    (`cache_dir`, `revision`, `token`) go to `from_pretrained`. `for_training=False` (evaluation only) refuses
    `ignore_mismatched_sizes`, which would evaluate a freshly initialised head.

    Raises:
        ValueError: a checkpoint that is neither AdaMAE nor VideoMAE (the message names its `model_type` and
            architectures), a class-count mismatch without `ignore_mismatched_sizes`, or (as [`ArgumentError`], a
            `ValueError`) `config_overrides` that name no config field, have the wrong type, or do not fit the
            checkpoint's weights, or a `model_name_or_path` that is no readable local model and no model id the Hub
            gives (`adamae_hf.training.read_config_dict`).
    """
    labels = _label_maps(label_names)
    if ignore_mismatched_sizes and not for_training:
        raise ArgumentError(
            "--ignore_mismatched_sizes re-initialises the classification head; without --do_train that head would be "
            "evaluated untrained. Evaluate on the checkpoint's classes, or fine-tune with --do_train."
        )
    if model_name_or_path is None:
        if config is None:
            raise ValueError("give model_name_or_path or a config to train from scratch")
        config = AdaMAEConfig.from_dict({**config.to_dict(), **labels, "use_mean_pooling": True, "drop_path_rate": drop_path_rate})
        return LoadedModel(AdaMAEForVideoClassification(config), "scratch", [], [])

    hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
    config_dict = read_config_dict(model_name_or_path, **hub_kwargs)
    model_type = config_dict.get("model_type")
    architectures = config_dict.get("architectures") or []
    old_num_labels = len(config_dict["id2label"]) if config_dict.get("id2label") else None
    is_classifier = any(name.endswith("ForVideoClassification") for name in architectures)

    changes = _config_changes(config_dict, model_type, config_overrides)
    if model_type in ("adamae", "videomae"):
        log_training_dtype(config_dict, str(model_name_or_path))
        hub_kwargs["dtype"] = TRAINING_DTYPE
    if model_type == "adamae":
        pretraining = not is_classifier
        if not pretraining:
            _check_num_labels(old_num_labels, labels["num_labels"], f"{model_name_or_path}", ignore_mismatched_sizes, for_training)
        overrides = {**changes, **labels, "drop_path_rate": drop_path_rate}
        if pretraining:
            overrides["use_mean_pooling"] = True
        with quiet_load_report(), _overrides_must_fit(changes, model_name_or_path):  # logged below, in one line
            model, info = AdaMAEForVideoClassification.from_pretrained(
                model_name_or_path, ignore_mismatched_sizes=ignore_mismatched_sizes, output_loading_info=True,
                **overrides, **hub_kwargs,
            )  # fmt: skip
        dropped, new = sorted(info["unexpected_keys"]), sorted(info["missing_keys"])
        new += [str(item[0]) if isinstance(item, tuple) else str(item) for item in info.get("mismatched_keys", [])]
        if pretraining:
            logger.info(
                "Loaded the encoder of the AdaMAE pre-training checkpoint %s; dropped %d tensors the classifier does "
                "not use: %s. Newly initialised: %s.",
                model_name_or_path, len(dropped), _summarise_dropped(dropped) or "none", ", ".join(new) or "none",
            )  # fmt: skip
        elif new:
            logger.warning("Re-initialised in %s: %s", model_name_or_path, ", ".join(new))
        return LoadedModel(model, "adamae-pretraining" if pretraining else "adamae-classification", dropped, new)

    if model_type == "videomae":
        from transformers import VideoMAEForVideoClassification

        if is_classifier:
            _check_num_labels(old_num_labels, labels["num_labels"], f"{model_name_or_path}", ignore_mismatched_sizes, for_training)
        with quiet_load_report(), _overrides_must_fit(changes, model_name_or_path):  # logged below, in one line
            videomae, info = VideoMAEForVideoClassification.from_pretrained(
                model_name_or_path, use_mean_pooling=True, ignore_mismatched_sizes=ignore_mismatched_sizes,
                output_loading_info=True, **{**changes, **labels}, **hub_kwargs,
            )  # fmt: skip
        model = AdaMAEForVideoClassification.from_videomae(videomae, drop_path_rate=drop_path_rate)
        dropped, new = sorted(info["unexpected_keys"]), sorted(info["missing_keys"])
        logger.info(
            "Converted the VideoMAE checkpoint %s (%s) to AdaMAE; dropped: %s; newly initialised: %s.",
            model_name_or_path, ", ".join(architectures) or "no architectures", ", ".join(dropped) or "none",
            ", ".join(new) or "none",
        )  # fmt: skip
        return LoadedModel(model, "videomae", dropped, new)

    raise ValueError(
        f"{str(model_name_or_path)!r} is a {model_type!r} checkpoint (architectures: {architectures or 'none'}); "
        "expected an AdaMAE checkpoint (pre-training or video classification, model_type 'adamae') or a "
        "VideoMAE one (model_type 'videomae')."
    )


# ---------------------------------------------------------------------------------------------------------------
# Multi-view evaluation and metrics
# ---------------------------------------------------------------------------------------------------------------
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

    from .metrics import VIDEO_ACCURACY_PATH

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


# ---------------------------------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------------------------------
# `TrainingArguments` values the multi-view evaluation cannot work with: (the value it needs, why).
_REQUIRED_TRAINING_ARGUMENTS = {
    "remove_unused_columns": (False, "the batches carry `video_index`, which is no model input: the Trainer would "
                              "drop it and evaluation could not group the views of each video"),
    "prediction_loss_only": (False, "evaluation needs the per-view logits to average them per video"),
    "eval_do_concat_batches": (True, "the per-view logits of all batches are averaged per video at once"),
    "batch_eval_metrics": (False, "the per-video metrics need every view of every video at once"),
    "group_by_length": (False, "videos have no token length to group by"),
}  # fmt: skip


def check_training_arguments(args) -> None:
    """Refuse, before any training, `TrainingArguments` that [`VideoClassificationTrainer`] cannot honour: raises
    [`ArgumentError`] (a `ValueError`) naming the option and why."""
    for name, (needed, why) in _REQUIRED_TRAINING_ARGUMENTS.items():
        if hasattr(args, name) and getattr(args, name) != needed:
            raise ArgumentError(f"--{name} {getattr(args, name)} is not supported: {why}. Leave it at {needed}.")


class VideoClassificationTrainer(Trainer):
    """
    `Trainer` for [`AdaMAEForVideoClassification`] with the released fine-tuning recipe.

    Args (besides `Trainer`'s):
        layer_decay: layer-wise lr decay (0.75 in the recipe): block `i` of `L` trains at `lr * layer_decay ** (L - i)`
            (built by [`adamae_hf.optimization.parameter_groups`], once, with no weight decay on biases, norms,
            position embeddings). `None` or 1.0 disables it.
        decay_sampler_positions: passed to `parameter_groups` (no effect on a classifier, which has no sampler).
        released_lr_schedule / min_lr_ratio: the released schedule in place of `args.lr_scheduler_type` (see
            [`create_scheduler`]); `min_lr_ratio` is the floor as a fraction of the peak.
        view_average: how the views of a video are combined at evaluation, `"probabilities"` or `"logits"` (the
            released test), see [`multiview_average`].
        warmup_given_as: where `args.warmup_steps` came from, for the warning when the warm-up is not shorter than
            the run (it is then cut to the run's steps - 1, see [`adamae_hf.lr_schedule.fit_warmup`]); default
            `"--warmup_steps <value>"`.
        mixup: a [`adamae_hf.data.MixupCutmix`] applied to every training batch in `compute_loss` (it also smooths the
            labels, in place of the `Trainer`'s `label_smoothing_factor` smoother); its soft `(B, num_labels)` targets
            go to the model's `labels`. `None`: plain class ids.
        on_nonfinite_loss: `"stop"` (default) raises [`NonFiniteLossError`] naming the step at the first NaN / inf
            training loss, before it reaches the weights; `"skip"` drops the gradients of that batch (and of the
            accumulation window it is in: nothing of it reaches the weights, as in `scripts/run_pretraining.py`) and
            trains on; `logging_nan_inf_filter` keeps the logged loss finite.

    `args.dataloader_drop_last` (the released recipes' `--dataloader_drop_last true`) applies to the training loader
    only: the evaluation and prediction loaders keep their last, smaller batch, so that every video is counted (the
    `Trainer` would drop it there too).

    Batches hold `pixel_values`, `labels`, `video_index` and `readable` (the data package's `collate_finetuning`);
    evaluation batches may hold `V` views per video, `(B, V, T, C, H, W)`: `prediction_step` runs all views and
    returns the per-view logits `(B, V, C)`, the video indices and the readable flags, which `compute_metrics`
    reduces with [`readable_predictions`]: unreadable videos (placeholders of a dataset with `on_bad_video="skip"`)
    are left out of the loss and the metrics. `remove_unused_columns` must be `False` (these are no model inputs).
    """

    loss_is_scaled_for_ga = False  # the model returns a per-batch mean

    def __init__(
        self, *args, layer_decay: float | None = 0.75, mixup=None, on_nonfinite_loss: str = "stop",
        decay_sampler_positions: bool = False, released_lr_schedule: bool = False, min_lr_ratio: float = 0.0,
        view_average: str = "probabilities", warmup_given_as: str | None = None, **kwargs,
    ):  # fmt: skip
        if view_average not in VIEW_AVERAGES:
            raise ValueError(f"view_average must be one of {', '.join(VIEW_AVERAGES)}, got {view_average!r}")
        if on_nonfinite_loss not in NONFINITE_LOSS_POLICIES:
            raise ValueError(f"on_nonfinite_loss must be one of {NONFINITE_LOSS_POLICIES}, got {on_nonfinite_loss!r}")
        super().__init__(*args, **kwargs)
        self.layer_decay = None if layer_decay in (None, 1.0) else layer_decay
        self.mixup = mixup
        self.on_nonfinite_loss = on_nonfinite_loss
        if mixup is not None:  # it smooths the labels itself (`args.label_smoothing_factor`): no second smoothing
            self.label_smoother = None
        self.decay_sampler_positions = decay_sampler_positions
        self.released_lr_schedule, self.min_lr_ratio = released_lr_schedule, min_lr_ratio
        self.view_average = view_average
        self.warmup_given_as = warmup_given_as

    @contextlib.contextmanager
    def _every_batch(self) -> Iterator[None]:
        """`args.dataloader_drop_last` off while an evaluation or prediction loader is built."""
        drop_last, self.args.dataloader_drop_last = self.args.dataloader_drop_last, False
        try:
            yield
        finally:
            self.args.dataloader_drop_last = drop_last

    def get_eval_dataloader(self, eval_dataset=None):
        with self._every_batch():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._every_batch():
            return super().get_test_dataloader(test_dataset)

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            opt_model = self.model if model is None else model
            groups = parameter_groups(
                opt_model, self.args.learning_rate, self.args.weight_decay, self.layer_decay, self.decay_sampler_positions
            )
            for group in groups:
                group.pop("names", None)  # keep the optimizer's state dict small
            self.optimizer = torch.optim.AdamW(
                groups, lr=self.args.learning_rate, betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon, weight_decay=self.args.weight_decay,
            )  # fmt: skip
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The `Trainer`'s scheduler, or with `released_lr_schedule` the released one
        ([`adamae_hf.lr_schedule.get_released_cosine_schedule`]: warm-up from 0 reaching the peak at its last step,
        cosine to `min_lr_ratio` x the peak). A warm-up not shorter than the run is cut to its steps - 1, with a
        warning ([`adamae_hf.lr_schedule.fit_warmup`])."""
        if self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        given_as = self.warmup_given_as or f"--warmup_steps {self.args.warmup_steps:g}"
        warmup, cut = fit_warmup(self.args.get_warmup_steps(num_training_steps), num_training_steps, given_as,
                                 "--warmup_epochs or --warmup_steps (< 1: a fraction of the run)")  # fmt: skip
        if cut and self.is_world_process_zero():
            logger.warning(cut)
        if not self.released_lr_schedule:
            if cut:
                self.args.warmup_steps = warmup  # what the Trainer's scheduler reads
            return super().create_scheduler(num_training_steps, optimizer)
        self.lr_scheduler = get_released_cosine_schedule(
            self.optimizer if optimizer is None else optimizer, warmup, num_training_steps, self.min_lr_ratio
        )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {k: v for k, v in inputs.items() if k not in ("video_index", "readable")}
        if model.training and self.mixup is not None and "labels" in inputs:
            inputs = self.mixup(inputs)
        result = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        loss = result[0] if return_outputs else result
        if model.training and self.on_nonfinite_loss == "stop" and not torch.isfinite(loss.detach()).all():
            raise NonFiniteLossError(
                f"non-finite loss ({loss.detach().float().mean().item()}) at optimisation step "
                f"{self.state.global_step + 1} (epoch {self.state.epoch or 0:.2f}); lower the learning rate, set "
                "--max_grad_norm, or pass --on_nonfinite_loss skip"
            )
        return result

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.on_nonfinite_loss == "skip" and not torch.isfinite(loss).all():
            logger.warning("non-finite loss at optimisation step %d: batch skipped", self.state.global_step + 1)
            # AdamW leaves a parameter without a gradient untouched
            (self.optimizer or model).zero_grad(set_to_none=True)
        return loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        pixel_values, labels = inputs["pixel_values"], inputs.get("labels")
        video_index, readable = inputs.get("video_index"), inputs.get("readable")
        if pixel_values.ndim == 5:  # one view per video
            pixel_values = pixel_values.unsqueeze(1)
        batch, views = pixel_values.shape[:2]
        with torch.no_grad(), self.compute_loss_context_manager():
            logits = model(pixel_values=pixel_values.flatten(0, 1)).logits.float()
        logits = logits.view(batch, views, -1)
        if readable is None:
            readable = torch.ones(batch, dtype=torch.bool, device=logits.device)
        if prediction_loss_only:
            loss = None
            if labels is not None and readable.any():
                loss = multiview_loss(multiview_average(logits[readable], average=self.view_average), labels[readable])
            return loss, None, None
        if video_index is None:
            video_index = torch.full((batch,), -1, dtype=torch.long, device=logits.device)
        # No batch loss: the Trainer would average it over the batches of every process, with the videos that
        # `gather_for_metrics` drops (the duplicates that pad the last batches of several processes) and the
        # unreadable ones. `compute_metrics` computes it per video from what it receives (`multiview_loss`).
        return None, (logits, video_index, readable.long()), labels  # integers gather on every backend


RUN_SETTINGS_NAME = "run_settings.json"


def finetuning_run_settings(args, train_dataset, label_names: Sequence[str], layer_decay: float | None) -> dict[str, Any]:
    """What defines a fine-tuning run's schedule, data order and position and classes: a resume must share it."""
    names = ("per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "num_train_epochs",
             "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "seed", "data_seed")  # fmt: skip
    settings = {"world_size": args.world_size, **{name: getattr(args, name) for name in names}}
    settings["lr_scheduler_type"] = str(getattr(settings["lr_scheduler_type"], "value", settings["lr_scheduler_type"]))
    try:
        settings["dataset_size"] = len(train_dataset)
    except TypeError:  # a stream
        settings["dataset_size"] = None
    return {**settings, "layer_decay": layer_decay, "label_names": list(label_names)}


class RunSettingsCallback(TrainerCallback):
    """Writes the run's settings ([`finetuning_run_settings`]) into every checkpoint the `Trainer` saves
    (`checkpoint-<step>/run_settings.json`), for [`check_finetuning_resume`]."""

    def __init__(self, settings: dict[str, Any]):
        self.settings = settings

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            save_json(folder / RUN_SETTINGS_NAME, self.settings)


def check_finetuning_resume(checkpoint: str | os.PathLike | None, settings: dict[str, Any]) -> None:
    """Refuse (an [`ArgumentError`] listing what differs) to resume a `Trainer` checkpoint saved with other
    settings; a checkpoint without `run_settings.json` (another trainer's) is not checked."""
    if checkpoint is None or not Path(checkpoint, RUN_SETTINGS_NAME).is_file():
        return
    saved = json.loads(Path(checkpoint, RUN_SETTINGS_NAME).read_text())
    check_resume_settings(saved, settings, checkpoint, RUN_SETTINGS_NAME)


def finished_steps(checkpoint: str | os.PathLike | None) -> int | None:
    """The optimiser steps of a `Trainer` checkpoint that ends its run (`global_step >= max_steps` in its
    `trainer_state.json`), else `None`: a resume from it has nothing left to train (the `Trainer` would still run a
    step past the end). Call it after [`check_finetuning_resume`], so that the run's length is the checkpoint's."""
    from transformers import TrainerState
    from transformers.trainer import TRAINER_STATE_NAME

    if checkpoint is None or not Path(checkpoint, TRAINER_STATE_NAME).is_file():
        return None
    state = TrainerState.load_from_json(str(Path(checkpoint, TRAINER_STATE_NAME)))
    return state.global_step if 0 < state.max_steps <= state.global_step else None


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


def layer_decay_summary(groups: Sequence[dict]) -> str:
    """`lr_scale` per layer id, for the log (from [`parameter_groups`] output)."""
    scales = sorted({round(group["lr_scale"], 6) for group in groups})
    return ", ".join(f"{scale:g}" for scale in scales)


def save_json(path: str | os.PathLike, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, default=float) + "\n")


__all__ = [
    "LoadedModel",
    "VideoPredictions",
    "RUN_SETTINGS_NAME",
    "RunSettingsCallback",
    "VideoClassificationTrainer",
    "build_compute_metrics",
    "check_finetuning_resume",
    "build_model_for_finetuning",
    "check_training_arguments",
    "checkpoint_label_names",
    "compute_video_metrics",
    "confusion_matrix",
    "finetuning_run_settings",
    "finished_steps",
    "format_results_table",
    "is_named",
    "layer_decay_summary",
    "load_video_accuracy",
    "multiview_average",
    "multiview_loss",
    "plot_confusion_matrix",
    "readable_predictions",
    "save_json",
    "write_predictions_csv",
]
