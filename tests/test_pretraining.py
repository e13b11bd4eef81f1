"""scripts/run_pretraining.py and adamae_hf.training / visualization: end to end on a tiny synthetic dataset."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from adamae_hf import training as P
from adamae_hf.configuration_adamae import AdaMAEConfig
from adamae_hf.modeling_adamae import AdaMAEForPreTraining


ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "run_pretraining.py"
TINY = (
    "image_size=32,patch_size=8,num_frames=8,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
    "intermediate_size=64,decoder_hidden_size=32,decoder_num_hidden_layers=1,decoder_num_attention_heads=2,"
    "decoder_intermediate_size=64,sampler_num_attention_heads=2"
)
DATA = ["--synthetic_num_classes", "2", "--synthetic_train_per_class", "4", "--synthetic_image_size", "32"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One tiny synthetic dataset (2 classes x 4 clips at 32x32) for the whole module, via ADAMAE_HF_CACHE."""
    path = tmp_path_factory.mktemp("adamae_cache")
    old = os.environ.get("ADAMAE_HF_CACHE")
    os.environ["ADAMAE_HF_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ADAMAE_HF_CACHE", None)
    else:
        os.environ["ADAMAE_HF_CACHE"] = old


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("run_pretraining", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reset_accelerate():
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def run_main(script, output_dir, *extra, overrides=TINY):
    _reset_accelerate()
    argv = [
        *DATA, "--config_overrides", overrides, "--per_device_train_batch_size", "2", "--output_dir", str(output_dir),
        "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "1", *extra,
    ]  # fmt: skip
    try:
        return script.main(argv)
    finally:
        _reset_accelerate()


def subprocess_env(cache_dir):
    env = dict(os.environ, ADAMAE_HF_CACHE=str(cache_dir), PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    env.pop("ACCELERATE_CONFIG_FILE", None)
    return env


def script_argv(output_dir, *extra):
    return [
        *DATA, "--config_overrides", TINY, "--per_device_train_batch_size", "2", "--output_dir", str(output_dir),
        "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "0", *extra,
    ]  # fmt: skip


def weights(folder):
    return load_file(str(Path(folder) / "model.safetensors"))


# ---------------------------------------------------------------------------------------------------------------
def test_default_run_end_to_end(script, cache_dir, tmp_path):
    """The default pipeline (adaptive masking, epoch checkpoints, tracking, pictures) ends with a loadable model."""
    out = tmp_path / "run"
    assert run_main(script, out, "--num_train_epochs", "2", "--with_tracking", "--visualize_every", "2") == 0
    model = AdaMAEForPreTraining.from_pretrained(out)
    assert model.config.image_size == 32 and model.config.mask_type == "adaptive"
    assert (out / "preprocessor_config.json").is_file() and (out / "training_args.json").is_file()
    from transformers import AutoImageProcessor

    assert AutoImageProcessor.from_pretrained(out).crop_size["height"] == 32
    # 8 clips, batch 2, drop_last -> 4 steps per epoch; a checkpoint per epoch
    assert [p.name for p in P.list_checkpoints(out)] == ["epoch_0", "epoch_1"]
    assert P.TrainingState.load(out / "checkpoints" / "epoch_1") == P.TrainingState(8, 1, 4)
    pictures = sorted(p.name for p in (out / "visualizations").iterdir())
    assert {"step_000002_clip0.png", "step_000002_clip0.gif", "final_clip0.png", "final_clip0.gif"} <= set(pictures)
    from PIL import Image

    with Image.open(out / "visualizations" / "final_clip0.gif") as gif:
        assert gif.n_frames == 8
    assert any((out / "runs").rglob("events.out.tfevents*"))
    results = json.loads((out / "train_results.json").read_text())
    assert results["completed_steps"] == 8 and results["train_loss"] > 0
    # the sampler-focus metrics on the synthetic validation clips (with ground-truth masks): in the results, in
    # TensorBoard at each --visualize_every step and at the end
    focus = {k: v for k, v in results.items() if k.startswith("focus_")}
    assert set(focus) == {"focus_object_mass_ratio", "focus_error_ratio", "focus_motion_correlation",
                          "focus_reconstruction_loss", "focus_object_token_share"}, results  # fmt: skip
    assert 0 < focus["focus_object_mass_ratio"] <= 1 / focus["focus_object_token_share"] + 1e-6
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted((out / "runs").rglob("events.out.tfevents*"), key=lambda p: p.stat().st_size)
    accumulator = EventAccumulator(str(files[-1].parent))
    accumulator.Reload()
    assert [e.step for e in accumulator.Scalars("focus/object_mass_ratio")] == [2, 4, 6, 8]


@pytest.mark.parametrize(
    "resume_step, total_steps, state",
    [(3, 6, P.TrainingState(3, 0, 3)), (5, 7, P.TrainingState(5, 1, 1))],
    ids=["3+3-in-first-epoch", "5+2-in-second-epoch"],
)
def test_resume_is_exact(script, cache_dir, tmp_path, resume_step, total_steps, state):
    """3 + 3 steps (resumed mid-epoch from the step-3 checkpoint) give the weights of 6 straight steps; and 5 + 2
    (resumed in the second epoch, whose shuffled order Accelerate's seedable sampler draws from seed + epoch)."""
    common = ["--checkpointing_steps", str(resume_step), "--max_grad_norm", "1.0", "--num_visualizations", "0"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_main(script, straight, "--max_train_steps", str(total_steps), *common) == 0
    # the first part: a run of the same length (same schedule) stopped at `resume_step`, then resumed from "latest"
    assert run_main(script, resumed, "--max_train_steps", str(total_steps), *common) == 0
    import shutil

    for name in (f"step_{total_steps}", "epoch_0", "epoch_1"):
        shutil.rmtree(resumed / "checkpoints" / name, ignore_errors=True)
    assert P.find_latest_checkpoint(resumed).name == f"step_{resume_step}"
    assert P.TrainingState.load(resumed / "checkpoints" / f"step_{resume_step}") == state
    (resumed / "model.safetensors").unlink()
    assert run_main(script, resumed, "--max_train_steps", str(total_steps), "--resume_from_checkpoint", *common) == 0
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    first = weights(straight / "checkpoints" / f"step_{resume_step}")
    assert any(not torch.equal(first[k], a[k]) for k in a)  # training did move the weights


def test_loss_falls_on_synthetic_data(script, cache_dir, tmp_path):
    out = tmp_path / "learn"
    overrides = TINY.replace("hidden_size=32", "hidden_size=64").replace("intermediate_size=64", "intermediate_size=128")
    assert run_main(
        script, out, "--num_train_epochs", "6", "--base_learning_rate", "0.5", "--warmup_epochs", "0.5",
        "--with_tracking", "--num_visualizations", "0", "--checkpointing_steps", "1000", overrides=overrides,
    ) == 0  # fmt: skip
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted((out / "runs").rglob("events.out.tfevents*"), key=lambda p: p.stat().st_size)
    accumulator = EventAccumulator(str(files[-1].parent))
    accumulator.Reload()
    losses = [e.value for e in accumulator.Scalars("train/reconstruction_loss")]
    assert len(losses) == 24
    early, late = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert late < 0.85 * early, (early, late)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--recipe", "synthetic-demo", "--train_dir", "/does/not/exist"], "--train_dir '/does/not/exist' does not exist"),
        (["--recipe", "synthetic-demo", "--train_list", "/no/list.txt"], "--train_list '/no/list.txt' does not exist"),
        (["--mask_ratio", "1.5"], "--mask_ratio must lie strictly between 0 and 1"),
        (["--mask_ratio", "0"], "--mask_ratio must lie strictly between 0 and 1"),
        (["--config_overrides", "hidden_sise=64"], "AdaMAEConfig has no field 'hidden_sise'"),
        (["--config_overrides", "hidden_size=many"], "AdaMAEConfig.hidden_size: cannot set 'many'"),
        (["--config_overrides", "norm_pix_loss=maybe"], "AdaMAEConfig.norm_pix_loss: cannot set 'maybe'"),
        (["--config_overrides", "num_hidden_layers"], "config override 'num_hidden_layers' is not of the form key=value"),
        (["--image_size", "30"], "model configuration: AdaMAEConfig.image_size=30 is invalid"),
        (["--config_overrides", "image_size=30"], "AdaMAEConfig.image_size=30 is invalid"),
        (["--resume_from_checkpoint", "/no/checkpoint"], "--resume_from_checkpoint '/no/checkpoint' is not a folder"),
        (["--model_name_or_path", "./missing-model"], "--model_name_or_path './missing-model' does not exist"),
        (["--checkpointing_steps", "often"], "--checkpointing_steps must be 'epoch' or a positive integer"),
        (["--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be > 0"),
        (["--push_to_hub"], "--push_to_hub needs --hub_model_id"),
        (["--in_memory_videos", "0"], "--in_memory_videos must be > 0"),
        (["--recipe", "synthetic-demo", "--dataset_name", "user/videos", "--streaming", "--max_train_steps", "2",
          "--in_memory_videos", "4"], "--in_memory_videos needs a dataset with a length, not a --streaming one"),
    ],
)
def test_bad_arguments_fail_before_training(script, tmp_path, extra, message):
    out = tmp_path / "bad"
    with pytest.raises(P.ArgumentError, match=message.replace("(", r"\(").replace(".", r"\.")):
        args = script.parse_args(["--output_dir", str(out), *extra])
        P.build_config(args)
    assert not (out / "checkpoints").exists()


def test_bad_argument_exits_with_clear_message(cache_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--output_dir", str(tmp_path), "--config_overrides", "no_such_field=1"],
        env=subprocess_env(cache_dir), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "error: --config_overrides: AdaMAEConfig has no field 'no_such_field'" in result.stderr
    assert "Running training" not in result.stderr + result.stdout


def test_log_lines_do_not_run_into_the_progress_bar(cache_dir, tmp_path):
    """Checkpoint, sampler-focus and epoch lines printed during training start on a line of their own, above the
    progress bar, not after the bar's text on the bar's line (as a terminal shows the combined output)."""
    argv = [arg for arg in script_argv(tmp_path / "run", "--max_train_steps", "4", "--checkpointing_steps", "2",
                                       "--visualize_every", "2", "--num_visualizations", "1") if arg != "--disable_tqdm"]  # fmt: skip
    result = subprocess.run([sys.executable, str(SCRIPT), *argv], env=dict(subprocess_env(cache_dir), PYTHONUNBUFFERED="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    pieces = re.split(r"[\r\n]", result.stdout)  # what a terminal shows: \r returns to the line's start
    assert any(piece.startswith("pre-training:") for piece in pieces), "no progress bar drawn"
    logged = [p for p in pieces if any(k in p for k in ("Checkpoint after step", "sampler focus at step", "epoch 0:"))]
    assert len(logged) >= 3, result.stdout[-3000:]
    assert not [p for p in logged if "pre-training:" in p], logged


def test_sigterm_saves_a_checkpoint_and_exits(cache_dir, tmp_path):
    out = tmp_path / "sig"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *script_argv(out, "--max_train_steps", "100000", "--checkpointing_steps", "100000")],
        env=subprocess_env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Running training" in line:
                break
        time.sleep(3.0)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines) + rest
    assert process.returncode == 143, output
    assert "Stopped by a signal" in output
    latest = P.find_latest_checkpoint(out)
    assert latest is not None and (latest / "model.safetensors").is_file()
    state = P.TrainingState.load(latest)
    assert state.completed_steps >= 1 and latest.name == f"step_{state.completed_steps}"
    assert not any(p.name.endswith(".tmp") for p in (out / "checkpoints").iterdir())


def test_two_process_cpu_run(cache_dir, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on a machine without GPUs runs two CPU processes over gloo
    (accelerate's MULTI_CPU): different masks per rank, identical weights after every step."""
    out = tmp_path / "ddp"
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import runpy, sys, torch\n"
        "from adamae_hf.modeling_adamae import AdaMAEForPreTraining\n"
        "masks = []\n"
        "original = AdaMAEForPreTraining.forward\n"
        "def forward(self, *a, **k):\n"
        "    output = original(self, *a, **k)\n"
        "    if self.training: masks.append(output.bool_masked_pos.clone())\n"
        "    return output\n"
        "AdaMAEForPreTraining.forward = forward\n"
        "checksums = []\n"
        "original_step = torch.optim.AdamW.step\n"
        "def step(self, *a, **k):\n"
        "    result = original_step(self, *a, **k)\n"
        "    checksums.append(torch.stack([p.detach().double().sum() for g in self.param_groups for p in g['params']]))\n"
        "    return result\n"
        "torch.optim.AdamW.step = step\n"
        f"sys.argv = [{str(SCRIPT)!r}] + sys.argv[1:]\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "import os\n"
        f"torch.save(torch.stack(masks), {str(tmp_path)!r} + f'/masks_{{os.environ[\"RANK\"]}}.pt')\n"
        f"torch.save(torch.stack(checksums), {str(tmp_path)!r} + f'/weights_{{os.environ[\"RANK\"]}}.pt')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", str(probe),
         *script_argv(out, "--max_train_steps", "3", "--checkpointing_steps", "2")],
        env=subprocess_env(cache_dir), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    masks0, masks1 = torch.load(tmp_path / "masks_0.pt"), torch.load(tmp_path / "masks_1.pt")
    assert masks0.shape == masks1.shape and masks0.shape[0] == 3
    assert not torch.equal(masks0, masks1)
    weights0, weights1 = torch.load(tmp_path / "weights_0.pt"), torch.load(tmp_path / "weights_1.pt")
    assert weights0.shape[0] == 3 and torch.equal(weights0, weights1)  # every step leaves the ranks identical
    assert not torch.equal(weights0[0], weights0[-1])
    checkpoint = out / "checkpoints" / "step_2"
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {p.name for p in checkpoint.iterdir()}
    AdaMAEForPreTraining.from_pretrained(out)  # the final model was written once, by the main process


@pytest.mark.parametrize("mask_type", ["tube", "adaptive"])
def test_sampling_loss_logged_only_for_the_adaptive_mask(script, cache_dir, tmp_path, capsys, mask_type):
    """A mask without a sampler has no sampling loss: neither the epoch line nor train_results.json shows one."""
    out = tmp_path / mask_type
    assert run_main(script, out, "--mask_type", mask_type, "--max_train_steps", "4", "--num_visualizations", "0") == 0
    epoch_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch 0:")]
    assert len(epoch_lines) == 1
    results = json.loads((out / "train_results.json").read_text())
    assert ("sampling" in epoch_lines[0]) == ("train_sampling_loss" in results) == (mask_type == "adaptive")


def test_small_batch_under_a_released_recipe_warns_of_the_tiny_lr(script, tmp_path, capsys):
    """The released lr scaling (base lr x total batch / 256) at a total batch of 4 gives 2.3e-6: a warning says so
    and names the flag; none where the base lr is given, nor for the synthetic demo's defaults."""
    recipe = ["--recipe", "adamae-k400", "--config_name", "tiny", "--train_dir", str(tmp_path), "--dry_run"]
    assert script.main([*recipe, "--per_device_train_batch_size", "4"]) == 0
    err = capsys.readouterr().err
    assert "gives a peak lr of 2.34e-06" in err and "--base_learning_rate sets the base lr" in err, err
    assert script.main([*recipe, "--per_device_train_batch_size", "4", "--base_learning_rate", "0.02"]) == 0
    assert script.main(["--dry_run"]) == 0
    assert "peak lr" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------------------------
def test_config_overrides_and_derived_fields():
    config = P.apply_config_overrides(AdaMAEConfig(), "hidden_size=384, num_attention_heads=6")
    assert config.hidden_size == 384 and config.sampler_hidden_size == 384  # the sampler width follows
    config = P.apply_config_overrides(config, "sampling_loss_to_tokenizer=false,mask_ratio=0.9,use_final_layernorm=false")
    assert config.sampling_loss_to_tokenizer is False and config.mask_ratio == 0.9 and config.use_final_layernorm is False
    with pytest.raises(P.ArgumentError, match="num_attention_heads=5 is invalid"):
        P.apply_config_overrides(config, "mask_ratio=0.5,num_attention_heads=5")
    assert config.mask_ratio == 0.9 and config.num_attention_heads == 6  # all or nothing


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    """A crash inside `save_state` leaves the last good checkpoint as it was and no half-written one visible."""
    from accelerate import Accelerator

    _reset_accelerate()
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    good = P.save_checkpoint(accelerator, tmp_path, "step_1", P.TrainingState(1, 0, 1))
    before = (good / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        Path(args[0], "model.safetensors").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(accelerator, "save_state", crash)
    with pytest.raises(OSError):
        P.save_checkpoint(accelerator, tmp_path, "step_2", P.TrainingState(2, 0, 2))
    assert P.find_latest_checkpoint(tmp_path) == good
    assert (good / "model.safetensors").read_bytes() == before
    assert P.resolve_resume_checkpoint("latest", tmp_path) == good
    del model
    _reset_accelerate()


def test_resume_position_and_schedule_lengths():
    assert P.resume_position(P.TrainingState(4, 0, 4), 4) == (1, 0)
    assert P.resume_position(P.TrainingState(3, 0, 3), 4) == (0, 3)
    assert P.schedule_lengths(10, 2, 3, None) == (15, 5, 3)
    assert P.schedule_lengths(10, 1, 3, 25) == (25, 10, 3)


def test_reconstruction_inverts_norm_pix_targets():
    """Feeding the exact norm-pix targets as predictions reconstructs the input."""
    from adamae_hf.modeling_adamae import patchify_targets
    from adamae_hf.visualization import reconstruct_video, unnormalize_video

    config = AdaMAEConfig(image_size=16, patch_size=8, num_frames=4, hidden_size=32, num_attention_heads=2,
                          decoder_hidden_size=32, decoder_num_attention_heads=2, sampler_num_attention_heads=2,
                          mask_ratio=0.5)  # fmt: skip
    pixels = torch.randn(2, 4, 3, 16, 16) * 0.3
    mask = torch.zeros(2, config.num_tokens, dtype=torch.bool)
    mask[:, ::2] = True
    targets = patchify_targets(pixels, config)
    logits = torch.stack([targets[i][mask[i]] for i in range(2)])
    expected = unnormalize_video(pixels).clamp(0, 1)
    torch.testing.assert_close(reconstruct_video(pixels, logits, mask, config), expected, atol=1e-4, rtol=1e-4)
