"""Runs as users make them, replayed from public bug reports: a checkpoint evaluated on data whose classes sort
differently, checkpoints saved in bfloat16, resumes with other settings, the last accumulation cycle of an epoch, the
evaluation loss of several processes, Hub model cards of local runs, streaming datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from adamae_hf import AdaMAEForVideoClassification
from adamae_hf.data.synthetic import write_mp4
from adamae_hf.presets import preset_config


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import run_finetuning  # noqa: E402


TINY = dict(image_size=32, num_frames=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
EVAL_ARGS = [
    "--per_device_eval_batch_size", "2", "--report_to", "none", "--dataloader_num_workers", "0", "--sampling_rate", "1",
    "--test_num_clips", "1", "--test_num_crops", "1", "--save_strategy", "no",
]  # fmt: skip
COLOURS = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ADAMAE_HF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def colour_videos(root: Path, classes, per_class: int = 2) -> Path:
    """`root/<colour>/<i>.mp4`: 16 frames of one solid colour, 32x32."""
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            write_mp4(root / name / f"{i}.mp4", np.broadcast_to(np.uint8(COLOURS[name]), (16, 32, 32, 3)).copy())
    return root


def colour_classifier(path: Path, id2label: dict[int, str]) -> Path:
    """A classifier checkpoint that is right on every solid-colour video of its classes: identity encoder blocks
    (zeroed branches), a patch embedding whose channel `i` sums the colour channel of class `i` minus the others, a
    head reading channel `i` for class `i`."""
    config = preset_config("tiny", **TINY, use_mean_pooling=True, id2label=id2label, label2id={v: k for k, v in id2label.items()},
                           architectures=["AdaMAEForVideoClassification"])  # fmt: skip
    model = AdaMAEForVideoClassification(config).eval()
    with torch.no_grad():
        for parameter in model.adamae.encoder.parameters():
            parameter.zero_()
        projection = model.adamae.embeddings.patch_embeddings.projection
        projection.weight.zero_()
        projection.bias.zero_()
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        for index, name in id2label.items():
            channel = int(np.argmax(COLOURS[name]))
            projection.weight[index] = -1.0
            projection.weight[index, channel] = 2.0
            model.classifier.weight[index, index] = 10.0
    model.save_pretrained(path)
    return path


# ----------------------------------------------------------------------------- evaluation maps classes by name
def test_evaluation_maps_the_data_classes_to_the_checkpoints_by_name(tmp_path):
    checkpoint = colour_classifier(tmp_path / "model", {0: "red", 1: "blue"})
    data = colour_videos(tmp_path / "val", ["blue", "red"])  # sorted: blue = 0, red = 1 in the data
    results = run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--validation_dir", str(data), "--do_eval",
                                   "--output_dir", str(tmp_path / "out"), *EVAL_ARGS])  # fmt: skip
    assert results["eval_top1"] == 100.0, results
    assert results["eval_accuracy_red"] == 100.0 and results["eval_accuracy_blue"] == 100.0

    # a class of the checkpoint missing from the data: evaluated on the rest, the checkpoint's outputs kept
    only_blue = colour_videos(tmp_path / "blue_only", ["blue"])
    results = run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--validation_dir", str(only_blue),
                                   "--do_eval", "--output_dir", str(tmp_path / "out2"), *EVAL_ARGS])  # fmt: skip
    assert results["eval_top1"] == 100.0 and results["eval_videos"] == 2, results


def test_evaluation_refuses_classes_the_checkpoint_does_not_know(tmp_path):
    checkpoint = colour_classifier(tmp_path / "model", {0: "red", 1: "blue"})
    data = colour_videos(tmp_path / "val", ["green", "red"], per_class=1)
    with pytest.raises(ValueError, match=r"classes \['green'\] that the checkpoint .* does not classify.*red, blue"):
        run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--validation_dir", str(data), "--do_eval",
                             "--output_dir", str(tmp_path / "out"), *EVAL_ARGS])  # fmt: skip
    # evaluating a re-initialised head is refused, not advised
    same_classes = colour_videos(tmp_path / "val2", ["blue", "red"], per_class=1)
    with pytest.raises(ValueError, match=r"--ignore_mismatched_sizes .* evaluated untrained"):
        run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--validation_dir", str(same_classes), "--do_eval",
                             "--ignore_mismatched_sizes", "--output_dir", str(tmp_path / "out"), *EVAL_ARGS])  # fmt: skip


# ----------------------------------------------------------------------------- bfloat16 checkpoints
PRETRAINING_TINY = dict(
    **TINY, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
    decoder_intermediate_size=32, sampler_num_attention_heads=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def bf16_pretrained(tmp_path_factory):
    """An AdaMAE pre-training checkpoint saved in bfloat16 (as `model.to(torch.bfloat16).save_pretrained`)."""
    from adamae_hf import AdaMAEForPreTraining

    path = tmp_path_factory.mktemp("bf16")
    torch.manual_seed(0)
    AdaMAEForPreTraining(preset_config("tiny", **PRETRAINING_TINY)).to(torch.bfloat16).save_pretrained(path)
    return path


def load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reset_accelerate():
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_pretraining_continues_a_bf16_checkpoint_in_float32(bf16_pretrained, data_synthetic_dir, tmp_path, caplog):
    from safetensors.torch import load_file

    script = load_script("run_pretraining")
    reset_accelerate()
    try:
        code = script.main(["--model_name_or_path", str(bf16_pretrained), "--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir),
                            "--sampling_rate", "1", "--per_device_train_batch_size", "2", "--max_train_steps", "2",
                            "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "0",
                            "--output_dir", str(tmp_path / "out")])  # fmt: skip
    finally:
        reset_accelerate()
    assert code == 0
    assert "stores its weights in bfloat16: they are loaded in float32" in caplog.text
    assert {tensor.dtype for tensor in load_file(str(tmp_path / "out" / "model.safetensors")).values()} == {torch.float32}


def test_bf16_finetuning_keeps_float32_master_weights(bf16_pretrained, data_synthetic_dir, tmp_path, caplog):
    """--bf16 True on a bfloat16 checkpoint: the updates reach the weights (bfloat16 weights rounded most away)."""
    from safetensors.torch import load_file

    reset_accelerate()
    run_finetuning.main([
        "--model_name_or_path", str(bf16_pretrained), "--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--do_train",
        "--bf16", "True", "--use_cpu", "True", "--max_steps", "3", "--learning_rate", "1e-4", "--warmup_steps", "0", "--layer_decay", "1.0",
        "--per_device_train_batch_size", "4", "--output_dir", str(tmp_path / "out"), "--no_rand_augment",
        "--mixup", "0", "--cutmix", "0", *EVAL_ARGS,
    ])  # fmt: skip
    reset_accelerate()
    before = load_file(str(bf16_pretrained / "model.safetensors"))
    after = load_file(str(tmp_path / "out" / "model.safetensors"))
    key = "adamae.encoder.layer.0.mlp.fc1.weight"
    assert after[key].dtype == torch.float32
    changed = (after[key] != before[key].float()).float().mean().item()
    assert changed > 0.9, f"only {changed:.1%} of {key} changed in 3 steps"
    assert "stores its weights in bfloat16: they are loaded in float32" in caplog.text


# ----------------------------------------------------------------------------- resuming with other settings
def pretrain(data: Path, out: Path, *extra: str) -> int:
    script = load_script("run_pretraining")
    reset_accelerate()
    try:
        return script.main(["--recipe", "synthetic-demo", "--train_dir", str(data), "--config_overrides", ",".join(f"{k}={v}" for k, v in PRETRAINING_TINY.items()),
                            "--sampling_rate", "1", "--dataloader_num_workers", "0", "--disable_tqdm",
                            "--num_visualizations", "0", "--output_dir", str(out), *extra])  # fmt: skip
    finally:
        reset_accelerate()


def test_resume_with_other_settings_is_refused(data_synthetic_dir, tmp_path):
    import json
    import shutil

    from adamae_hf.training import ArgumentError, TrainingState

    out = tmp_path / "run"
    common = ["--checkpointing_steps", "1", "--max_train_steps", "2"]
    assert pretrain(data_synthetic_dir, out, "--per_device_train_batch_size", "2", *common) == 0
    shutil.rmtree(out / "checkpoints" / "step_2")  # as if stopped after step 1
    saved = TrainingState.load(out / "checkpoints" / "step_1").settings
    assert saved["num_processes"] == 1 and saved["per_device_train_batch_size"] == 2 and saved["dataset_size"] == 12
    # batch 2 resumed at batch 4 (its lr, steps per epoch and position in the epoch all differ)
    with pytest.raises(ArgumentError, match=r"per_device_train_batch_size: 2 -> 4.*learning_rate.*--overwrite_output_dir"):
        pretrain(data_synthetic_dir, out, "--per_device_train_batch_size", "4", "--resume_from_checkpoint", *common)
    # a 2-process run's checkpoint resumed by one process
    state_file = out / "checkpoints" / "step_1" / "training_state.json"
    state = json.loads(state_file.read_text())
    state["settings"].update(num_processes=2, total_batch_size=4)
    state_file.write_text(json.dumps(state))
    with pytest.raises(ArgumentError, match=r"num_processes: 2 -> 1; total_batch_size: 4 -> 2"):
        pretrain(data_synthetic_dir, out, "--per_device_train_batch_size", "2", "--resume_from_checkpoint", *common)
    # another model config (a changed mask ratio trains another model)
    state["settings"].update(num_processes=1, total_batch_size=2)
    state_file.write_text(json.dumps(state))
    with pytest.raises(ArgumentError, match=r"model_config.mask_ratio: 0.9 -> 0.8"):
        pretrain(data_synthetic_dir, out, "--per_device_train_batch_size", "2", "--resume_from_checkpoint", "--mask_ratio", "0.8", *common)
    # the same settings resume
    assert pretrain(data_synthetic_dir, out, "--per_device_train_batch_size", "2", "--resume_from_checkpoint", *common) == 0
    assert TrainingState.load(out / "checkpoints" / "step_2").completed_steps == 2


# ----------------------------------------------------------------------------- accumulation at the end of an epoch
class _LinearLoss(torch.nn.Module):
    """loss = mean((x . w - 1)^2) over the batch: a model whose gradient is known in closed form."""

    def __init__(self, dim: int):
        from types import SimpleNamespace

        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1, 1, dim))
        self.config = SimpleNamespace(mask_type="adaptive")  # as the model's config, which the loop reads

    def forward(self, pixel_values):
        from types import SimpleNamespace

        loss = ((pixel_values @ self.w - 1) ** 2).mean()
        return SimpleNamespace(loss=loss, reconstruction_loss=loss, sampling_loss=None)


def test_last_accumulation_cycle_of_an_epoch_is_the_mean_gradient(tmp_path):
    """6 micro-batches, accumulation 4: the second update (2 micro-batches) is a step along their mean gradient."""
    import argparse

    from accelerate import Accelerator

    from adamae_hf.training import TrainingState

    script = load_script("run_pretraining")
    reset_accelerate()
    torch.manual_seed(0)
    x = torch.randn(6, 5)
    dataset = [{"pixel_values": row} for row in x]
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=4)
    model = _LinearLoss(5)
    w0 = model.w.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, collate_fn=lambda items: {"pixel_values": torch.stack([i["pixel_values"] for i in items])})
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    args = argparse.Namespace(checkpointing_steps=None, disable_tqdm=True, with_tracking=False, logging_steps=1,
                              visualize_every=None, on_nonfinite_loss="stop", max_grad_norm=0.0, output_dir=str(tmp_path),
                              augment_on_device=False, on_bad_video="raise")  # fmt: skip
    schedule = script.Schedule(4, 0.1, max_train_steps=2, num_train_epochs=1, num_warmup_steps=0)
    try:
        result = script.train(accelerator, args, model, optimizer, scheduler, loader, dataset, schedule, TrainingState(), None)
    finally:
        reset_accelerate()
    assert result.completed_steps == 2

    def mean_gradient(w, rows):
        return (2 * (rows @ w - 1)[:, None] * rows).mean(0)

    w1 = w0 - 0.1 * mean_gradient(w0, x[:4])
    w2 = w1 - 0.1 * mean_gradient(w1, x[4:])
    torch.testing.assert_close(accelerator.unwrap_model(model).w.detach(), w2)


# ----------------------------------------------------------------------------- evaluation loss of several processes
def test_two_process_evaluation_loss_counts_each_video_once(data_synthetic_dir, tmp_path):
    """8 videos, 2 processes x batch 3: the last batch is padded with a repeated video, which the loss must not
    count (as accuracy does not): the 2-process eval_loss equals the 1-process one."""
    import json
    import os
    import subprocess

    names = sorted(p.name for p in (data_synthetic_dir / "validation").iterdir() if p.is_dir())
    torch.manual_seed(0)
    config = preset_config("tiny", **TINY, use_mean_pooling=True, id2label=dict(enumerate(names)),
                           label2id={n: i for i, n in enumerate(names)}, architectures=["AdaMAEForVideoClassification"])  # fmt: skip
    model = AdaMAEForVideoClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 2.0)  # clearly different losses per video
    model.save_pretrained(tmp_path / "model")
    script = Path(__file__).resolve().parents[1] / "scripts" / "run_finetuning.py"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), OMP_NUM_THREADS="1")
    env.pop("ACCELERATE_CONFIG_FILE", None)
    argv = ["--model_name_or_path", str(tmp_path / "model"), "--recipe", "synthetic-demo", "--validation_dir", str(data_synthetic_dir / "validation"),
            "--do_eval", "--use_cpu", "True", *EVAL_ARGS, "--per_device_eval_batch_size", "3"]  # fmt: skip
    launchers = {
        1: [sys.executable, str(script)],
        2: [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29531", str(script)],
    }  # fmt: skip
    results = {}
    for processes, launcher in launchers.items():
        out = tmp_path / f"eval{processes}"
        run = subprocess.run([*launcher, *argv, "--output_dir", str(out)], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        results[processes] = json.loads((out / "eval_results.json").read_text())
    assert results[1]["eval_videos"] == results[2]["eval_videos"] == 8
    assert results[1]["eval_top1"] == results[2]["eval_top1"]
    assert results[2]["eval_loss"] == pytest.approx(results[1]["eval_loss"], rel=1e-5), results


# ----------------------------------------------------------------------------- streaming
def test_streaming_finetuning_trains_and_evaluates(data_synthetic_dir, tmp_path):
    """The README's `--dataset_name ... --streaming` run: it stopped before training with a TypeError."""
    results = run_finetuning.main([
        "--recipe", "synthetic-demo", "--dataset_name", str(data_synthetic_dir), "--streaming", "--do_train", "--do_eval", "--max_steps", "2",
        "--from_scratch", "--config_overrides", ",".join(f"{k}={v}" for k, v in TINY.items()),
        "--per_device_train_batch_size", "2", "--no_rand_augment", "--output_dir", str(tmp_path / "out"), *EVAL_ARGS,
    ])  # fmt: skip
    assert results["epoch"] > 0 and np.isfinite(results["train_loss"]) and results["eval_videos"] == 8, results


def test_streaming_source_is_shuffled_anew_every_epoch(data_synthetic_dir):
    from adamae_hf.data import StreamingVideoClipDataset, load_video_source

    def order(epoch, **shuffle):
        source = load_video_source(dataset_name=str(data_synthetic_dir), split="train", streaming=True, **shuffle)
        dataset = StreamingVideoClipDataset(source, num_frames=16, sampling_rate=1, transform=None)
        dataset.set_epoch(epoch)  # as the Trainer / the pre-training loop do before each epoch
        return [Path(sample.name).name for sample in dataset.source], [sample.label for sample in dataset.source]

    names, labels = order(0)
    assert labels == sorted(labels)  # unshuffled: class by class
    first, first_labels = order(0, shuffle_buffer_size=100, seed=0)
    second, _ = order(1, shuffle_buffer_size=100, seed=0)
    assert sorted(first) == sorted(second) == sorted(names) and len(first) == 12
    assert first_labels != sorted(first_labels) and first != second
    assert order(0, shuffle_buffer_size=100, seed=0)[0] == first  # seeded: reproducible


def test_finetuning_resume_with_other_settings_is_refused(data_synthetic_dir, tmp_path):
    from adamae_hf.training import ArgumentError

    out = tmp_path / "ft"

    def finetune(batch: str, *extra: str):
        return run_finetuning.main([
            "--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--do_train", "--max_steps", "2", "--from_scratch",
            "--config_overrides", ",".join(f"{k}={v}" for k, v in TINY.items()), "--per_device_train_batch_size", batch,
            "--no_rand_augment", "--output_dir", str(out), *EVAL_ARGS, "--save_strategy", "steps", "--save_steps", "1",
            *extra,
        ])  # fmt: skip

    finetune("4")
    assert (out / "checkpoint-1" / "run_settings.json").is_file()
    with pytest.raises(ArgumentError, match=r"per_device_train_batch_size: 4 -> 2.*run_settings.json"):
        finetune("2", "--resume_from_checkpoint", str(out / "checkpoint-1"))
    results = finetune("4", "--resume_from_checkpoint", str(out / "checkpoint-1"))
    assert np.isfinite(results["train_loss"])


def test_training_from_a_classifier_keeps_or_replaces_its_classes_by_name(tmp_path):
    checkpoint = colour_classifier(tmp_path / "model", {0: "red", 1: "blue"})
    train = ["--do_train", "--max_steps", "1", "--per_device_train_batch_size", "2", "--no_rand_augment", "--mixup", "0",
             "--cutmix", "0", "--learning_rate", "1e-6", *EVAL_ARGS]  # fmt: skip
    # the checkpoint's classes in another folder order: trained on as the checkpoint's ids
    data = colour_videos(tmp_path / "train", ["blue", "red"], per_class=1)
    run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--train_dir", str(data), "--output_dir", str(tmp_path / "a"), *train])
    assert AdaMAEForVideoClassification.from_pretrained(tmp_path / "a").config.id2label == {0: "red", 1: "blue"}
    # a class the checkpoint does not know: refused, or a new head with --ignore_mismatched_sizes
    other = colour_videos(tmp_path / "other", ["green", "red"], per_class=1)
    with pytest.raises(ValueError, match=r"classes \['green'\].*pass --ignore_mismatched_sizes to train a new head"):
        run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--train_dir", str(other), "--output_dir", str(tmp_path / "b"), *train])
    run_finetuning.main(["--model_name_or_path", str(checkpoint), "--recipe", "synthetic-demo", "--train_dir", str(other), "--ignore_mismatched_sizes",
                         "--output_dir", str(tmp_path / "b"), *train])  # fmt: skip
    assert AdaMAEForVideoClassification.from_pretrained(tmp_path / "b").config.id2label == {0: "green", 1: "red"}


# ----------------------------------------------------------------------------- the released recipes' drop_last
def test_released_recipe_evaluates_every_validation_video(data_synthetic_dir, tmp_path):
    """`--dataloader_drop_last true` (both adamae-* recipes) drops the last training batch only: 8 validation videos
    in batches of 3 were evaluated as 6, and in one batch of 16 as none (an IndexError)."""
    common = ["--recipe", "adamae-ssv2", "--train_dir", str(data_synthetic_dir), "--do_train", "--do_eval", "--max_steps", "1",
              "--model_preset", "tiny", "--config_overrides", ",".join(f"{k}={v}" for k, v in TINY.items()),
              "--per_device_train_batch_size", "2", "--no_rand_augment", *EVAL_ARGS]  # fmt: skip
    for batch in ("3", "16"):
        results = run_finetuning.main([*common, "--per_device_eval_batch_size", batch, "--output_dir", str(tmp_path / batch)])
        assert results["eval_videos"] == 8, (batch, results)


# ----------------------------------------------------------------------------- resuming a finished run
def test_resuming_a_finished_finetuning_run_trains_nothing_and_evaluates_its_weights(data_synthetic_dir, tmp_path, caplog):
    """A run finished at --max_steps 2, resumed from its last checkpoint with the same settings: the Trainer trained a
    third step, saved checkpoint-3 and wrote over train_results.json. Now: nothing trained or written over, and
    --do_eval evaluates the finished weights."""
    out = tmp_path / "ft"
    argv = ["--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--do_train", "--do_eval", "--max_steps", "2",
            "--from_scratch", "--config_overrides", ",".join(f"{k}={v}" for k, v in TINY.items()),
            "--per_device_train_batch_size", "4", "--no_rand_augment", "--output_dir", str(out), *EVAL_ARGS,
            "--save_strategy", "steps", "--save_steps", "1"]  # fmt: skip
    first = run_finetuning.main(argv)
    kept = {name: (out / name).read_bytes() for name in ("train_results.json", "trainer_state.json", "model.safetensors")}
    for resume in (["--resume_from_checkpoint", str(out / "checkpoint-2")], ["--resume_from_checkpoint"]):
        caplog.clear()
        again = run_finetuning.main([*argv, *resume])
        assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
        assert {name: (out / name).read_bytes() for name in kept} == kept
        assert "this run finished at step 2" in caplog.text and "nothing to train" in caplog.text
        assert "train_loss" not in again
        assert again["eval_videos"] == first["eval_videos"] == 8
        assert again["eval_loss"] == pytest.approx(first["eval_loss"], rel=1e-6)  # the finished weights, not the start's


def test_resuming_a_finished_pretraining_run_trains_nothing(data_synthetic_dir, tmp_path, caplog):
    """Resuming a finished pre-training run trained 0 steps but wrote train_results.json over (train_loss null)."""
    out = tmp_path / "run"
    common = ["--per_device_train_batch_size", "2", "--max_train_steps", "2", "--checkpointing_steps", "2"]
    assert pretrain(data_synthetic_dir, out, *common) == 0
    kept = {name: (out / name).read_bytes() for name in ("train_results.json", "model.safetensors")}
    assert json.loads(kept["train_results.json"])["train_loss"] is not None
    assert pretrain(data_synthetic_dir, out, *common, "--resume_from_checkpoint") == 0
    assert {name: (out / name).read_bytes() for name in kept} == kept
    assert "this run finished at step 2" in caplog.text and "nothing to train" in caplog.text
