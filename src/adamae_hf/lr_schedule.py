"""The released learning-rate schedule (wgcban/adamae `msc/utils.py`, `cosine_scheduler`, called by
`pretrain_mae_vit.py` and `finetune_class.py` without `start_warmup_value`): a linear warm-up from 0 that reaches
the peak at its last step, then a cosine from the peak towards `min_lr`, one value per optimiser step.

With `W` warm-up steps of `T`, peak `base` and floor `final`, step `k` trains at
`np.linspace(0, base, W)[k]` = `base * k / (W - 1)` for `k < W` (0 for `W = 1`), and at
`final + (base - final) * (1 + cos(pi * (k - W) / (T - W))) / 2` for `W <= k < T` (the floor itself is never
reached: the last step is one cosine step above it). Note that the warm-up starts at 0, not at the scripts'
`--warmup_lr` (1e-6, scaled by the batch but never passed to the schedule). transformers'
`get_cosine_schedule_with_warmup` differs: its warm-up reaches the peak one step later (`base * k / W`) and its
cosine ends at 0.
"""

from __future__ import annotations

import math
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def fit_warmup(num_warmup_steps: int, num_training_steps: int, given_as: str, options: str) -> tuple[int, str | None]:
    """
    `(warm-up steps, warning)`: `num_warmup_steps` and `None` where the warm-up is shorter than the run; else
    `num_training_steps - 1` (at least 0) and a one-line warning saying so. The released schedule needs a cosine
    step ([`get_released_cosine_schedule`]), and a warm-up as long as the run never reaches the peak learning rate.

    Args:
        num_warmup_steps / num_training_steps: in optimiser updates.
        given_as: where the warm-up came from, for the warning (`"--warmup_epochs 40 from the recipe 'adamae-ssv2'"`).
        options: the options that set it, for the warning (`"--warmup_epochs or --num_warmup_steps"`).
    """
    if num_warmup_steps < num_training_steps:
        return num_warmup_steps, None
    cut = max(num_training_steps - 1, 0)
    return cut, (
        f"The warm-up ({num_warmup_steps} steps, {given_as}) is not shorter than the run ({num_training_steps} "
        f"steps): cut to {cut} steps. Set a shorter warm-up with {options}."
    )


def released_cosine_factor(step: int, num_warmup_steps: int, num_training_steps: int, min_lr_ratio: float) -> float:
    """The multiplier of the peak learning rate at optimiser step `step` (0-based); see the module docstring.
    Steps past the end keep the last step's value."""
    step = min(step, num_training_steps - 1)
    if step < num_warmup_steps:
        return step / (num_warmup_steps - 1) if num_warmup_steps > 1 else 0.0
    progress = (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return min_lr_ratio + 0.5 * (1.0 - min_lr_ratio) * (1.0 + math.cos(math.pi * progress))


def _lambda(scheduler_step: int, steps_per_update: int, **kwargs) -> float:
    return released_cosine_factor(scheduler_step // steps_per_update, **kwargs)


def get_released_cosine_schedule(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    min_lr_ratio: float = 0.0,
    steps_per_update: int = 1,
) -> LambdaLR:
    """A `LambdaLR` following the released schedule; every parameter group's initial `lr` is its peak (so the
    layer-decay and `lr_scale` factors of the groups are kept along the schedule, as the released loop multiplies
    each group's `lr_scale` into the schedule's value).

    Args:
        num_warmup_steps / num_training_steps: in optimiser updates (`W`, `T`).
        min_lr_ratio: `min_lr / lr` (released: `min_lr` and `lr` are both scaled by total batch / 256, so the ratio
            is that of the unscaled values, e.g. 1e-5 / 1.5e-4 for pre-training).
        steps_per_update: scheduler steps per optimiser update: Accelerate steps a prepared scheduler once per
            process per update (`num_processes`); 1 for the `Trainer`.

    Raises:
        ValueError: `num_training_steps < 1`, `num_warmup_steps` outside `[0, num_training_steps)` (the released
            code needs a cosine part), `min_lr_ratio` outside `[0, 1]` or `steps_per_update < 1`.
    """
    if num_training_steps < 1:
        raise ValueError(f"num_training_steps must be >= 1, got {num_training_steps}")
    if not 0 <= num_warmup_steps < num_training_steps:
        raise ValueError(f"num_warmup_steps must lie in [0, {num_training_steps}), got {num_warmup_steps}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must lie in [0, 1], got {min_lr_ratio}")
    if steps_per_update < 1:
        raise ValueError(f"steps_per_update must be >= 1, got {steps_per_update}")
    factor = partial(
        _lambda, steps_per_update=steps_per_update, num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps, min_lr_ratio=min_lr_ratio,
    )  # fmt: skip
    return LambdaLR(optimizer, factor)
