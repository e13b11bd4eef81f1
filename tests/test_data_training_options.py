"""The input-pipeline options of the training scripts: `--num_sample` (both) and `--augment_on_device`
(run_pretraining.py): an epoch reads every video once and trains on num_sample clips of each, a resumed run is exact
with both options, and bad combinations fail before training."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch
from test_pretraining import cache_dir, run_main, script, weights  # noqa: F401  (fixtures)

from adamae_hf import training as T


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import run_finetuning  # noqa: E402


def test_pretraining_num_sample_and_augment_on_device_resume_exactly(script, cache_dir, tmp_path):  # noqa: F811
    """8 videos, batches of 2 clips, --num_sample 2: an epoch is 8 steps of one video each (4 without); 3 + 3 steps
    resumed from the step-3 checkpoint give the weights of 6 straight steps, the device draws included."""
    options = ["--num_sample", "2", "--augment_on_device", "--num_visualizations", "0", "--max_grad_norm", "1.0"]
    one_epoch = tmp_path / "epoch"
    assert run_main(script, one_epoch, "--num_train_epochs", "1", "--checkpointing_steps", "epoch", *options) == 0
    assert T.TrainingState.load(one_epoch / "checkpoints" / "epoch_0").completed_steps == 8

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["--max_train_steps", "6", "--checkpointing_steps", "3", *options]
    assert run_main(script, straight, *common) == 0
    assert run_main(script, resumed, *common) == 0
    shutil.rmtree(resumed / "checkpoints" / "step_6")
    (resumed / "model.safetensors").unlink()
    assert run_main(script, resumed, *common, "--resume_from_checkpoint") == 0
    a, b = weights(straight), weights(resumed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    plain = tmp_path / "plain"  # the device augmentation is what trained: without it the weights differ
    assert run_main(script, plain, "--max_train_steps", "6", "--num_sample", "2", "--num_visualizations", "0",
                    "--max_grad_norm", "1.0") == 0  # fmt: skip
    assert any(not torch.equal(a[k], weights(plain)[k]) for k in a)


def test_pretraining_in_memory_videos_reads_no_video_after_the_first_ones(script, data_synthetic_dir, tmp_path):  # noqa: F811
    """--in_memory_videos 2 on 4 videos: the dataset keeps its length, item i is item i % 2 (the same decoded,
    transformed clips), and every batch of an epoch is served after the videos are deleted."""
    from adamae_hf.data import PretrainingTransform, VideoClipDataset, collate_pretraining, load_video_source

    folder = tmp_path / "videos"
    folder.mkdir()
    for video in sorted((data_synthetic_dir / "train").rglob("*.mp4"))[:4]:
        shutil.copy(video, folder / f"{video.parent.name}_{video.name}")
    dataset = VideoClipDataset(load_video_source(data_dir=folder, labelled=False), num_frames=8, sampling_rate=2,
                               transform=PretrainingTransform(32), num_sample=2, seed=0)  # fmt: skip
    with pytest.raises(T.ArgumentError, match="--in_memory_videos 5 is more than the dataset's 4 videos"):
        script.in_memory_items(dataset, 5)
    in_memory = script.in_memory_items(dataset, 2)
    shutil.rmtree(folder)
    assert len(in_memory) == 4
    for i in range(4):
        assert torch.equal(in_memory[i]["pixel_values"], in_memory[i % 2]["pixel_values"])
    batches = list(torch.utils.data.DataLoader(in_memory, batch_size=2, shuffle=True, collate_fn=collate_pretraining))
    assert [b["pixel_values"].shape for b in batches] == [torch.Size([4, 8, 3, 32, 32])] * 2


def test_pretraining_num_sample_must_divide_the_batch(script, cache_dir, tmp_path):  # noqa: F811
    with pytest.raises(T.ArgumentError, match=r"--per_device_train_batch_size \(2\) must be a multiple of --num_sample \(3\)"):
        script.parse_args(["--per_device_train_batch_size", "2", "--num_sample", "3", "--output_dir", str(tmp_path)])


def test_finetuning_num_sample(data_synthetic_dir, tmp_path, monkeypatch):
    """--num_sample 2 with batches of 4 clips: the Trainer reads 2 videos per batch, each giving 2 clips."""
    monkeypatch.setenv("ADAMAE_HF_CACHE", str(tmp_path / "cache"))
    seen = []
    collate = run_finetuning.collate_finetuning
    monkeypatch.setattr(run_finetuning, "collate_finetuning", lambda items: seen.append(len(items)) or collate(items))
    args = ["--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--output_dir", str(tmp_path / "out"), "--do_train", "--max_steps",
            "2", "--per_device_train_batch_size", "4", "--report_to", "none", "--dataloader_num_workers", "0",
            "--sampling_rate", "1", "--save_strategy", "no", "--no_rand_augment", "--from_scratch",
            "--config_overrides", "image_size=32,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
            "intermediate_size=64"]  # fmt: skip
    results = run_finetuning.main([*args, "--num_sample", "2"])
    assert "train_loss" in results and seen[:2] == [2, 2]
    with pytest.raises(ValueError, match=r"--num_sample \(3\) must be >= 1 and divide --per_device_train_batch_size \(4\)"):
        run_finetuning.main([*args, "--num_sample", "3"])
