"""Fine-tuning's `Trainer`: [`VideoClassificationTrainer`] (the released recipe's optimiser with layer-wise lr decay,
its schedule, mixup / cutmix in `compute_loss`, non-finite losses stopped or skipped, the multi-view
`prediction_step`), the `TrainingArguments` it cannot honour ([`check_training_arguments`]) and a resume's checks
([`finetuning_run_settings`], [`RunSettingsCallback`], [`check_finetuning_resume`], [`finished_steps`]), and the stop
on SIGTERM / Ctrl-C ([`GracefulStopCallback`])."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from ..lr_schedule import fit_warmup, get_released_cosine_schedule
from ..optimization import parameter_groups
from ..training.arguments import NONFINITE_LOSS_POLICIES
from ..training.checkpointing import check_resume_settings
from ..training.errors import ArgumentError, NonFiniteLossError
from ..training.processes import GracefulStop, leave_signals_to_main_process, worker_multiprocessing_context
from .evaluation import VIEW_AVERAGES, multiview_average, multiview_loss


__all__ = [
    "RUN_SETTINGS_NAME", "GracefulStopCallback", "RunSettingsCallback", "VideoClassificationTrainer",
    "check_finetuning_resume",
    "check_training_arguments", "finetuning_run_settings", "finished_steps", "layer_decay_summary", "save_json",
]  # fmt: skip

logger = logging.getLogger(__name__)


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

    def _leave_signals_to_main_process(self, loader):
        """Workers of `loader` leave Ctrl-C and a job-wide SIGTERM to the main process, which saves a checkpoint
        ([`GracefulStopCallback`]); without it they die first and the `DataLoader` fails the run. Set on the
        prepared loader's `DataLoader` (Accelerate's wrapper holds it as `base_dataloader`), whose iterator reads
        `worker_init_fn` and `multiprocessing_context` when it starts."""
        if self.args.dataloader_num_workers > 0:
            torch_loader = getattr(loader, "base_dataloader", loader)
            torch_loader.worker_init_fn = functools.partial(leave_signals_to_main_process, torch_loader.worker_init_fn)
            if self.args.dataloader_multiprocessing_context is None and (context := worker_multiprocessing_context()):
                torch_loader.multiprocessing_context = context
        return loader

    def get_train_dataloader(self):
        return self._leave_signals_to_main_process(super().get_train_dataloader())

    def get_eval_dataloader(self, eval_dataset=None):
        with self._every_batch():
            return self._leave_signals_to_main_process(super().get_eval_dataloader(eval_dataset))

    def get_test_dataloader(self, test_dataset):
        with self._every_batch():
            return self._leave_signals_to_main_process(super().get_test_dataloader(test_dataset))

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """As `Trainer.log`, with `learning_rate` the head's (the largest of the parameter groups: the peak lr the
        run was given) where layer-wise lr decay gives the groups different rates; the `Trainer` logs the first
        group's, that of the patch embedding (`lr * layer_decay ** (L + 1)`)."""
        if "learning_rate" in logs and self.optimizer is not None and self.layer_decay is not None:
            logs = {**logs, "learning_rate": max(group["lr"] for group in self.optimizer.param_groups)}
        super().log(logs, *args, **kwargs)

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


class GracefulStopCallback(TrainerCallback):
    """SIGTERM (a cluster's pre-emption) or Ctrl-C during training: the `Trainer` finishes the current optimiser
    step, saves a checkpoint (`checkpoint-<step>`, as `--save_steps` does) and stops; `stop.requested` then tells the
    script to exit with `stop.exit_code` (143 / 130). In a distributed run a signal that reached any process stops all
    of them at the same step. A second Ctrl-C interrupts at once."""

    def __init__(self, stop: GracefulStop):
        self.stop = stop

    def on_step_end(self, args, state, control, **kwargs):
        requested = self.stop.requested
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([float(requested)], device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            requested = bool(flag.item())
        if requested:
            control.should_save = True
            control.should_training_stop = True
        return control


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


def layer_decay_summary(groups: Sequence[dict]) -> str:
    """`lr_scale` per layer id, for the log (from [`parameter_groups`] output)."""
    scales = sorted({round(group["lr_scale"], 6) for group in groups})
    return ", ".join(f"{scale:g}" for scale in scales)


def save_json(path: str | os.PathLike, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, default=float) + "\n")
