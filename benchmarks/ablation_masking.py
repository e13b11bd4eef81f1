# Copyright 2026 The adamae-hf authors. Licensed under the MIT License.
"""The paper's Table 1a in miniature: adaptive vs tube vs random masking (and no pre-training) on the synthetic
motion classes, several seeds, mean and spread.

Every arm follows the quick start's demo recipe (the defaults of `scripts/run_pretraining.py` and
`scripts/run_finetuning.py` on the synthetic data) with one change, the pre-training mask:

- pre-training: the `tiny` preset with `mask_type` set per arm (mask ratio 0.9 for every arm), 2 epochs of the
  2048 training clips at batch 16 (256 steps), AdamW (0.9, 0.95), weight decay 0.05, lr 1.5e-3 (2.4e-2 x 16 / 256),
  32 warm-up steps then cosine, the script's augmentation (random resized crop, scale 0.5-1, no flip);
- fine-tuning: the pre-trained encoder loaded by `build_model_for_finetuning` (as the script loads it), 12 epochs at
  batch 16 (1536 steps), AdamW (0.9, 0.999), weight decay 0.05, lr 5e-4, 10 % warm-up then cosine, gradient norm
  clipped at 1.0 (the Trainer's default), the script's augmentation (random resized crop, scale 0.8-1, no flip, no
  RandAugment, mixup or erasing); the "none" arm fine-tunes the same model from its initialisation.

The clips are rendered in memory by the dataset's own renderer with the dataset's seeds (`render_clip`; the
training clips are the embedded dataset's 2048 clips before H.264 encoding), so that a run spends its time on the
model rather than on decoding. That, the 256 validation clips (the dataset has 64; more clips, less noise) with one
centre crop (the script: 3 crops), plain cross-entropy (the script: label smoothing 0.1) and batches drawn at random
at every step (the script: epochs of a shuffled order) are the differences from the scripts; the scripts' own runs
over seeds are `benchmarks/demo_seeds.py`. Each run is a fresh process with one torch thread; `--jobs` runs several at once.
A run whose result exists in `--work_dir` is not run again, so an interrupted ablation continues where it stopped;
`--report_only` writes the tables of the runs that finished without running the others.

    PYTHONPATH=src python benchmarks/ablation_masking.py                       # 4 arms x seeds 0 1 2
    PYTHONPATH=src python benchmarks/ablation_masking.py --arms adaptive adaptive-dm50 --seeds 0 1 2
    PYTHONPATH=src python benchmarks/ablation_masking.py --device cuda --jobs 12
    PYTHONPATH=src python benchmarks/ablation_masking.py --evaluation linear_probe --seeds 0 1 2 3 4
    PYTHONPATH=src python benchmarks/ablation_masking.py --arms paper --seeds 0 1 2 3 4 --evaluation linear_probe \
        --output benchmarks/results/ablation_masking_paper_linear_probe   # the paper's ratios (95 % and 90 %)

`--evaluation linear_probe` replaces fine-tuning with a linear probe on the frozen pre-trained encoder (features:
the mean over all tokens of its last hidden state, centred window, centre crop, no mask; classifier: L-BFGS
logistic regression on standardised features, its L2 weight chosen by 4-fold cross-validation on the training
clips from `PROBE_L2_GRID`). The pre-training is the same run as the fine-tuning
evaluation's (same seed, same draws), so the two tables describe the same encoders; a probe run takes about 1.5
minutes, pre-training included, instead of ten, and measures what the encoder separates without the fine-tuning's plateau at chance.

Writes `benchmarks/results/ablation_masking{,_linear_probe}.{json,md}` (unless `--output` says otherwise), after
every finished run (marked partial until all have finished): per arm, its visible tokens, top-1 mean ± std over the
seeds, and for the adaptive arms the sampler's object-mass ratio and motion correlation on 64 validation clips
(`adamae_hf.sampler_metrics.sampler_focus`); where `adaptive-95` is among the arms, every other arm's top-1 minus
adaptive-95's, seed by seed (a paired comparison: the same seed draws the same batches of clips and windows).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from common import mean_std  # noqa: E402, I001  (benchmarks/ is the script's folder)

# arm -> (mask_type, config overrides); None: no pre-training. The arms without a ratio use the preset's 90 %.
ARMS: dict[str, tuple[str, dict] | None] = {
    "adaptive": ("adaptive", {}),
    "tube": ("tube", {}),
    "random": ("random", {}),
    "none": None,
    # decoder masking (VideoMAE V2's dual masking) on top of adaptive masking
    "adaptive-dm50": ("adaptive", {"decoder_mask_ratio": 0.5}),
    # the paper's ratio (Table 1a/1b: adaptive 95 % against tube and random masking), and the motion-guided mask
    "adaptive-95": ("adaptive", {"mask_ratio": 0.95}),
    "tube-95": ("tube", {"mask_ratio": 0.95}),
    "random-95": ("random", {"mask_ratio": 0.95}),
    "motion-95": ("motion", {"mask_ratio": 0.95}),
    "motion": ("motion", {}),
}
DEFAULT_ARMS = ["adaptive", "tube", "random", "none"]
# `--arms paper`: the paper's ratios, the 90 % references and no pre-training
ARM_GROUPS = {"paper": ["adaptive-95", "tube-95", "random-95", "motion-95", "tube", "adaptive", "none"]}
PAIRED_REFERENCE = "adaptive-95"  # the arm the others are compared with seed by seed, where it is run
# The demo's recipe (see the module docstring); the sources are the scripts' synthetic defaults.
RECIPE = dict(
    train_per_class=256, val_per_class=32, num_frames_video=16, sampling_rate=2,
    pretrain_epochs=2, pretrain_batch_size=16, pretrain_lr=2.4e-2 * 16 / 256, pretrain_warmup_steps=32,
    pretrain_betas=(0.9, 0.95), pretrain_min_crop_scale=0.5,
    finetune_epochs=12, finetune_batch_size=16, finetune_lr=5e-4, finetune_warmup_ratio=0.1,
    finetune_betas=(0.9, 0.999), finetune_min_crop_scale=0.8, max_grad_norm=1.0, weight_decay=0.05,
    focus_clips=64,
)  # fmt: skip


# The linear probe's L2 weights on standardised features (`--evaluation linear_probe`), one chosen per run by
# cross-validation; not part of RECIPE, whose values identify the cached fine-tuning runs.
PROBE_L2_GRID = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def arm_config(arm: str):
    """The `tiny` preset's [`AdaMAEConfig`] of an arm (the preset itself for "none")."""
    from adamae_hf.presets import preset_config

    setting = ARMS[arm]
    return preset_config("tiny", **({} if setting is None else {"mask_type": setting[0], **setting[1]}))


def paired_differences(results: list[dict], arm: str, reference: str) -> dict[int, float]:
    """Top-1 of `arm` minus top-1 of `reference`, per seed that both ran (percentage points). The same seed gives
    both arms the same initialisation seed, batches and crops of the same clips (the masks differ)."""
    top1 = {(r["arm"], r["seed"]): r["top1"] for r in results}
    return {seed: top1[arm, seed] - top1[reference, seed] for (name, seed) in sorted(top1)
            if name == arm and (reference, seed) in top1}  # fmt: skip


# Student's t, two-sided 5 % critical values by degrees of freedom (any statistics table)
T_CRITICAL_5_PERCENT = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23}


def paired_t_cell(differences: list[float]) -> str:
    """`t (df)` of the paired differences (t = mean / (std / sqrt(n)), df = n - 1), with `*` where |t| exceeds the
    two-sided 5 % critical value; `-` for fewer than 2 differences or no spread."""
    if len(differences) < 2 or statistics.stdev(differences) == 0:
        return "-"
    df = len(differences) - 1
    t = statistics.fmean(differences) / (statistics.stdev(differences) / math.sqrt(len(differences)))
    significant = abs(t) > T_CRITICAL_5_PERCENT.get(df, T_CRITICAL_5_PERCENT[10])  # past 10: conservative
    return f"{t:+.2f} ({df}){' *' if significant else ''}"


def render_split(split: str, per_class: int, num_frames: int):
    """Clips `(N, T, H, W, 3)` uint8, labels `(N,)` and object masks `(N, T, H, W)` of one split of the embedded
    synthetic dataset (seed 0), rendered in memory (`adamae_hf.data.synthetic.synthetic_clips`)."""
    from adamae_hf.data.synthetic import synthetic_clips

    _, labels, _, frames, masks = zip(*synthetic_clips(split, per_class, num_frames=num_frames))
    return np.stack(frames), np.array(labels), np.stack(masks)


def sample_frames(clips: np.ndarray, num_frames: int, stride: int, rng: np.random.Generator | None) -> torch.Tensor:
    """`num_frames` frames at `stride` from each clip: a random start (training) or the centred one (evaluation), as
    `VideoClipDataset` samples them. Returns `(B, T, H, W, 3)` uint8."""
    span = (num_frames - 1) * stride + 1
    last_start = clips.shape[1] - span
    starts = rng.integers(0, last_start + 1, len(clips)) if rng is not None else np.full(len(clips), last_start // 2)
    index = starts[:, None] + np.arange(num_frames)[None] * stride
    return torch.from_numpy(np.ascontiguousarray(clips[np.arange(len(clips))[:, None], index]))


@torch.no_grad()
def encoder_features(encoder, clips: np.ndarray, num_frames: int, stride: int, device) -> torch.Tensor:
    """Frozen features `(N, hidden_size)` float64: the mean over all tokens of the encoder's last hidden state (its
    final LayerNorm included where it has one), for the centred window of each clip, centre crop, no mask."""
    from adamae_hf.data import EvalTransform

    evaluation, features = EvalTransform(64), []
    encoder.eval()
    for start in range(0, len(clips), 64):
        pixel_values = evaluation(sample_frames(clips[start : start + 64], num_frames, stride, None)).to(device)
        features.append(encoder(pixel_values).last_hidden_state.mean(1).double().cpu())
    return torch.cat(features)


def fit_logistic_regression(features: torch.Tensor, labels: np.ndarray, num_classes: int, l2: float):
    """Multinomial logistic regression, `mean cross-entropy + l2 * ||W||^2`, full-batch L-BFGS in float64 until it
    converges (at most 1,000 iterations). Returns `(W, b)`."""
    targets = torch.from_numpy(labels).long()
    weight = torch.zeros(features.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=1000, history_size=20,
                                  tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(features @ weight + bias, targets) + l2 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe(train_features: torch.Tensor, train_labels: np.ndarray, val_features: torch.Tensor,
                 num_classes: int, l2_grid: Sequence[float] = PROBE_L2_GRID, folds: int = 4) -> tuple[np.ndarray, float]:  # fmt: skip
    """A linear probe: logistic regression ([`fit_logistic_regression`]) on standardised frozen features (train
    statistics), its L2 weight chosen from `l2_grid` by `folds`-fold cross-validation on the training features
    (stratified: each class's clips go to the folds in turn), then refitted on all of them. Deterministic: no seed
    involved. Returns the validation predictions `(N_val,)` and the chosen L2 weight.

    After MAE's linear probing (He et al. 2022), without its augmentation or BatchNorm: what the frozen encoder
    separates, free of the fine-tuning optimisation that can sit at chance for epochs. The L2 weight is chosen, not
    fixed, because the ranking of encoders depends on it (in seed 0, L2 1e-4 ranked the encoder at initialisation
    above the tube-masked one, no penalty the other way round)."""
    mean, std = train_features.mean(0), train_features.std(0).clamp_min(1e-8)
    train_x, val_x = (train_features - mean) / std, (val_features - mean) / std
    fold_of = np.empty(len(train_labels), dtype=np.int64)
    for label in np.unique(train_labels):
        members = np.flatnonzero(train_labels == label)
        fold_of[members] = np.arange(len(members)) % folds

    def cross_validated_accuracy(l2: float) -> float:
        correct = 0
        for fold in range(folds):
            held_out = fold_of == fold
            weight, bias = fit_logistic_regression(train_x[~held_out], train_labels[~held_out], num_classes, l2)
            predictions = (train_x[held_out] @ weight + bias).argmax(-1).numpy()
            correct += int((predictions == train_labels[held_out]).sum())
        return correct / len(train_labels)

    scores = [cross_validated_accuracy(l2) for l2 in l2_grid]
    chosen = l2_grid[int(np.argmax(scores))]  # the first (smallest) of equal scores
    weight, bias = fit_logistic_regression(train_x, train_labels, num_classes, chosen)
    return (val_x @ weight + bias).argmax(-1).numpy(), chosen


def run_one(arm: str, seed: int, data_file: str, device: str, result_file: str, recipe: dict,
            evaluation: str = "finetune") -> dict:  # fmt: skip
    """Pre-train (unless 'none') one arm with one seed in this process, then fine-tune it (`evaluation="finetune"`)
    or fit a linear probe on its frozen encoder (`"linear_probe"`); writes and returns the result."""
    torch.set_num_threads(1)
    from transformers import get_cosine_schedule_with_warmup
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()

    from adamae_hf import AdaMAEForPreTraining
    from adamae_hf.data import EvalTransform, FinetuningTransform, PretrainingTransform
    from adamae_hf.finetuning import build_model_for_finetuning
    from adamae_hf.optimization import build_adamw
    from adamae_hf.sampler_metrics import sampler_focus

    r = recipe
    data = np.load(data_file)
    train_clips, train_labels = data["train_clips"], data["train_labels"]
    val_clips, val_labels, val_masks = data["val_clips"], data["val_labels"], data["val_masks"]
    label_names = [str(name) for name in data["label_names"]]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(device)
    result: dict = {"arm": arm, "seed": seed, "recipe": recipe, "evaluation": evaluation}
    started = time.time()

    mask_setting = ARMS[arm]
    config = arm_config(arm)
    num_frames, stride = config.num_frames, r["sampling_rate"]
    with tempfile.TemporaryDirectory() as checkpoint:
        if mask_setting is not None:
            model = AdaMAEForPreTraining(config).to(device).train()
            transform = PretrainingTransform(64, scale=(r["pretrain_min_crop_scale"], 1.0), horizontal_flip=False)
            steps = r["pretrain_epochs"] * len(train_clips) // r["pretrain_batch_size"]
            optimizer = build_adamw(model, r["pretrain_lr"], r["weight_decay"], betas=r["pretrain_betas"])
            schedule = get_cosine_schedule_with_warmup(optimizer, r["pretrain_warmup_steps"], steps)
            losses = []
            for _ in range(steps):
                batch = rng.choice(len(train_clips), r["pretrain_batch_size"], replace=False)
                pixel_values = transform(sample_frames(train_clips[batch], num_frames, stride, rng)).to(device)
                outputs = model(pixel_values)
                outputs.loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(outputs.reconstruction_loss.item())
            result["train_reconstruction_loss"] = float(np.mean(losses[-16:]))
            if config.mask_type == "adaptive":
                focus = slice(0, len(val_clips), len(val_clips) // r["focus_clips"])  # spread over the classes
                pixels = EvalTransform(64)(sample_frames(val_clips[focus], num_frames, stride, None)).to(device)
                centre = (val_masks.shape[1] - ((num_frames - 1) * stride + 1)) // 2
                masks = torch.from_numpy(val_masks[focus][:, centre : centre + (num_frames - 1) * stride + 1 : stride])
                metrics = sampler_focus(model, pixels, masks.to(device))
                result.update({f"focus_{key}": float(value) for key, value in metrics.items()})
            result["pretraining_seconds"] = time.time() - started
        if evaluation == "linear_probe":
            if mask_setting is None:  # the encoder at its initialisation
                model = AdaMAEForPreTraining(config).to(device)
            features = [encoder_features(model.adamae, clips, num_frames, stride, device) for clips in (train_clips, val_clips)]
            predictions, result["probe_l2"] = linear_probe(features[0], train_labels, features[1], len(label_names))
            result["probe_l2_grid"] = list(PROBE_L2_GRID)
            return finish(result, predictions, val_labels, label_names, started, result_file)
        if mask_setting is not None:
            model.save_pretrained(checkpoint)
            del model, optimizer
        loaded = build_model_for_finetuning(
            checkpoint if mask_setting is not None else None, label_names,
            config=None if mask_setting is not None else config, drop_path_rate=0.0,
        )  # fmt: skip
    model = loaded.model.to(device).train()
    transform = FinetuningTransform(
        64, rand_augment=False, random_erasing=0.0, horizontal_flip=False, scale=(r["finetune_min_crop_scale"], 1.0)
    )
    steps = r["finetune_epochs"] * len(train_clips) // r["finetune_batch_size"]
    optimizer = build_adamw(model, r["finetune_lr"], r["weight_decay"], betas=r["finetune_betas"])
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(r["finetune_warmup_ratio"] * steps), steps)
    finetune_started, losses = time.time(), []
    for _ in range(steps):
        batch = rng.choice(len(train_clips), r["finetune_batch_size"], replace=False)
        pixel_values = transform(sample_frames(train_clips[batch], num_frames, stride, rng)).to(device)
        outputs = model(pixel_values, labels=torch.from_numpy(train_labels[batch]).to(device))
        outputs.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), r["max_grad_norm"])
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(outputs.loss.item())
    model.eval()
    evaluation = EvalTransform(64)
    with torch.no_grad():
        predictions = torch.cat([
            model(evaluation(sample_frames(val_clips[i : i + 64], num_frames, stride, None)).to(device)).logits.argmax(-1).cpu()
            for i in range(0, len(val_clips), 64)
        ]).numpy()  # fmt: skip
    result["finetune_loss_last_epoch"] = float(np.mean(losses[-len(train_clips) // r["finetune_batch_size"] :]))
    result["finetuning_seconds"] = time.time() - finetune_started
    return finish(result, predictions, val_labels, label_names, started, result_file)


def finish(result: dict, predictions: np.ndarray, labels: np.ndarray, label_names: list[str], started: float,
           result_file: str) -> dict:  # fmt: skip
    """Top-1 and per-class top-1 (%) of `predictions` into `result`, which is written to `result_file` and returned."""
    result["top1"] = 100.0 * float((predictions == labels).mean())
    result["per_class_top1"] = {
        name: 100.0 * float((predictions[labels == k] == k).mean()) for k, name in enumerate(label_names)
    }
    result["seconds"] = time.time() - started
    Path(result_file).write_text(json.dumps(result, indent=1))
    return result


def markdown(results: list[dict], arms: list[str], command: str, wall_seconds: float | None, evaluation: str) -> str:
    def cell(values, digits=1):
        mean, std = mean_std(values)
        if mean != mean:
            return "-"
        return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if sum(v is not None for v in values) > 1 else " (1 seed)")

    lines = [
        f"Command: `{command}` ({sum(r['seconds'] for r in results) / 60:.0f} min of one torch thread for the "
        f"{len(results)} runs"
        + ("" if wall_seconds is None else f"; wall clock of the last invocation that ran any: {wall_seconds / 60:.0f} min") + ")",
        "",
        f"| arm | pre-training | visible tokens | {'linear-probe ' if evaluation == 'linear_probe' else ''}top-1 % | per seed | object-mass ratio | motion correlation | reconstruction loss "
        "(random mask, validation) | minutes per run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        runs = sorted((r for r in results if r["arm"] == arm), key=lambda r: r["seed"])
        if not runs:
            lines.append(f"| {arm} | no run finished yet |" + " |" * 7)
            continue
        setting = ARMS[arm]
        untrained = "the encoder at its initialisation" if evaluation == "linear_probe" else "fine-tuned from initialisation"
        pre = f"none ({untrained})" if setting is None else f"mask_type={setting[0]}" + "".join(
            f", {k}={v}" for k, v in setting[1].items()
        )
        per_seed = ", ".join(f"{r['top1']:.1f}" for r in runs)
        lines.append(
            f"| {arm} | {pre} | {'-' if setting is None else f'{arm_config(arm).num_visible_tokens} of {arm_config(arm).num_tokens}'} | "
            f"{cell([r['top1'] for r in runs])} | {per_seed} | "
            f"{cell([r.get('focus_object_mass_ratio') for r in runs], 2)} | "
            f"{cell([r.get('focus_motion_correlation') for r in runs], 2)} | "
            f"{cell([r.get('focus_reconstruction_loss') for r in runs], 3)} | "
            f"{statistics.fmean(r['seconds'] for r in runs) / 60:.1f} |"
        )
    how = ("a linear probe on the frozen encoder's mean-pooled features (L-BFGS logistic regression, train clips "
           "centred, L2 weight chosen by 4-fold cross-validation on them)" if evaluation == "linear_probe" else "the fine-tuned model")
    lines += ["", f"Mean ± sample standard deviation over the seeds; top-1 of {how} on "
              f"{8 * results[0]['recipe']['val_per_class']} validation clips of 8 motions (chance 12.5 %). "
              "Object-mass ratio: 1.0 = uniform sampler."]  # fmt: skip
    if PAIRED_REFERENCE in arms and any(r["arm"] == PAIRED_REFERENCE for r in results):
        lines += ["", f"Paired by seed against {PAIRED_REFERENCE} (top-1 of the arm minus top-1 of {PAIRED_REFERENCE}, "
                  "percentage points, over the seeds both ran; the same seed draws the same batches of clips):", "",
                  "| arm | difference per seed | mean ± std of the differences | seeds where the arm is lower | "
                  "paired t (degrees of freedom) |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for arm in arms:
            differences = paired_differences(results, arm, PAIRED_REFERENCE)
            if arm == PAIRED_REFERENCE or not differences:
                continue
            lower = sum(value < 0 for value in differences.values())
            lines.append(f"| {arm} | " + ", ".join(f"{value:+.1f} (seed {seed})" for seed, value in differences.items())
                         + f" | {cell(list(differences.values()))} | {lower} of {len(differences)} | "
                         f"{paired_t_cell(list(differences.values()))} |")  # fmt: skip
        lines += ["", "Paired t: the mean difference over its standard error; `*`: beyond the two-sided 5 % critical "
                  "value of Student's t for its degrees of freedom (" +
                  ", ".join(f"{value} for {df}" for df, value in list(T_CRITICAL_5_PERCENT.items())[:5]) + ")."]  # fmt: skip
    classes = sorted({name for r in results for name in r["per_class_top1"]})
    lines += ["", "Per-class top-1 %, mean over the seeds:", "", "| arm | " + " | ".join(classes) + " |",
              "|---|" + "---|" * len(classes)]  # fmt: skip
    for arm in arms:
        runs = [r for r in results if r["arm"] == arm]
        if not runs:
            continue
        lines.append(f"| {arm} | " + " | ".join(f"{statistics.fmean(r['per_class_top1'][c] for r in runs):.0f}" for c in classes) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=DEFAULT_ARMS, choices=[*ARMS, *ARM_GROUPS],
                        help=f"arms to run; 'paper' = {' '.join(ARM_GROUPS['paper'])}")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one torch thread each (default 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work_dir", default="outputs/ablation_masking", help="runs' results (kept: reruns continue)")
    parser.add_argument("--evaluation", choices=["finetune", "linear_probe"], default="finetune",
                        help="fine-tune each pre-trained encoder (the paper's Table 1a), or fit a linear probe on its "
                             "frozen features (minutes instead of an hour)")  # fmt: skip
    parser.add_argument("--output", help="<output>.json and .md (default benchmarks/results/ablation_masking, "
                                         "with _linear_probe appended for that evaluation)")  # fmt: skip
    parser.add_argument("--report_only", action="store_true",
                        help="run nothing: write the tables of the runs finished in --work_dir (marked partial if some are missing)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help=f"change the recipe, e.g. finetune_epochs=4 (keys: {', '.join(RECIPE)})")  # fmt: skip
    args = parser.parse_args(argv)
    given_arms = list(args.arms)
    args.arms = list(dict.fromkeys(name for arm in args.arms for name in ARM_GROUPS.get(arm, [arm])))
    recipe = dict(RECIPE)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in RECIPE or not value:
            parser.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(RECIPE)}")
        recipe[key] = type(RECIPE[key])(json.loads(value))
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    suffix = "" if args.evaluation == "finetune" else f"_{args.evaluation}"
    args.output = args.output or f"benchmarks/results/ablation_masking{suffix}"
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    command = "PYTHONPATH=src python benchmarks/ablation_masking.py " + " ".join(
        (["--arms", *given_arms] if args.arms != DEFAULT_ARMS else [])
        + (["--seeds", *map(str, args.seeds)] if args.seeds != [0, 1, 2] else [])
        + (["--device", args.device] if args.device != "cpu" else [])
        + (["--jobs", str(args.jobs)] if args.jobs != 2 else [])
        + (["--set", *args.set] if args.set else [])
        + (["--evaluation", args.evaluation] if args.evaluation != "finetune" else [])
    )
    started = time.time()
    data_file = work_dir / f"clips-{recipe['train_per_class']}-{recipe['val_per_class']}-{recipe['num_frames_video']}.npz"
    if not data_file.exists():
        from adamae_hf.data.synthetic import MOTIONS

        print("rendering the clips ...", flush=True)
        train_clips, train_labels, _ = render_split("train", recipe["train_per_class"], recipe["num_frames_video"])
        val_clips, val_labels, val_masks = render_split("validation", recipe["val_per_class"], recipe["num_frames_video"])
        np.savez(data_file.with_suffix(".tmp.npz"), train_clips=train_clips, train_labels=train_labels,
                 val_clips=val_clips, val_labels=val_labels, val_masks=val_masks, label_names=np.array(sorted(MOTIONS[:8])))  # fmt: skip
        data_file.with_suffix(".tmp.npz").rename(data_file)
    todo, results = [], []
    for seed in args.seeds:  # seed-major: an interrupted run still has every arm for the first seeds
        for arm in args.arms:
            result_file = work_dir / f"{arm}-seed{seed}{suffix}.json"
            previous = json.loads(result_file.read_text()) if result_file.exists() else None
            same_protocol = previous is not None and previous.get("recipe") == json.loads(json.dumps(recipe)) and (
                args.evaluation == "finetune" or previous.get("probe_l2_grid") == list(PROBE_L2_GRID)
            )  # recipe tuples are lists in JSON
            if same_protocol:
                results.append(previous)
            else:  # not run yet, or with another recipe
                todo.append((arm, seed, str(data_file), args.device, str(result_file), recipe, args.evaluation))
    if args.report_only:
        todo = []
    print(f"{len(results)} runs done before, {len(todo)} to run, {args.jobs} at a time", flush=True)
    # SIGTERM ends the pool's workers too (leaving the `with` block terminates them), not only this process
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    context = multiprocessing.get_context("spawn")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    planned = len(args.arms) * len(args.seeds)

    def write_outputs() -> str:  # after every run, so an interrupted ablation leaves its (marked) partial table
        wall_seconds = time.time() - started
        if args.report_only:  # the wall clock of the runs that made the results, where an earlier report has it
            earlier = output.with_suffix(".json")
            wall_seconds = json.loads(earlier.read_text()).get("wall_seconds") if earlier.exists() else None
        done = [r for r in results if r["arm"] in args.arms and r["seed"] in args.seeds]
        output.with_suffix(".json").write_text(json.dumps(
            {"command": command.strip(), "wall_seconds": wall_seconds, "recipe": recipe, "runs_planned": planned,
             "complete": len(done) == planned, "runs": done}, indent=1
        ))  # fmt: skip
        table = markdown(done, args.arms, command.strip(), wall_seconds, args.evaluation)
        if len(done) < planned:
            table = f"**Partial: {len(done)} of {planned} runs finished.**\n\n" + table
        output.with_suffix(".md").write_text(table)
        return table

    with context.Pool(args.jobs, maxtasksperchild=1) as pool:
        for result in pool.imap_unordered(_run_one_star, todo):
            results.append(result)
            print(f"[{(time.time() - started) / 60:5.1f} min] {result['arm']:>14} seed {result['seed']}: top-1 "
                  f"{result['top1']:.1f} %" + (f", object-mass ratio {result['focus_object_mass_ratio']:.2f}"
                  if "focus_object_mass_ratio" in result else ""), flush=True)  # fmt: skip
            write_outputs()
    print(write_outputs())
    return 0


def _run_one_star(task: tuple) -> dict:
    return run_one(*task)


if __name__ == "__main__":
    sys.exit(main())
