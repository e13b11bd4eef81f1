"""Fine-tuning: model building from checkpoints, multi-view evaluation, mixup loss, the Trainer script end to end
(pre-train -> fine-tune -> multi-view evaluation -> pipeline on an mp4), bad inputs, and accuracy above chance."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adamae_hf import AdaMAEForPreTraining, AdaMAEForVideoClassification
from adamae_hf.data import MixupCutmix, build_processor
from adamae_hf.finetuning import (
    VideoClassificationTrainer,
    build_model_for_finetuning,
    compute_video_metrics,
    confusion_matrix,
    multiview_average,
)
from adamae_hf.presets import preset_config


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import run_finetuning  # noqa: E402


TINY = dict(
    image_size=32, num_frames=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32,
    sampler_num_attention_heads=2,
)  # fmt: skip
COMMON_ARGS = [
    "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4", "--report_to", "none",
    "--dataloader_num_workers", "0", "--sampling_rate", "1", "--save_strategy", "no", "--no_rand_augment",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ADAMAE_HF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    """An AdaMAE pre-training checkpoint with its processor, as scripts/run_pretraining.py saves it."""
    path = tmp_path_factory.mktemp("pretrain")
    torch.manual_seed(0)
    AdaMAEForPreTraining(preset_config("tiny", **TINY)).save_pretrained(path)
    build_processor(TINY["image_size"]).save_pretrained(path)
    return path


# ----------------------------------------------------------------------------------------------- building models
def test_pretraining_checkpoint_drops_decoder_and_sampler(pretrained_dir, caplog, load_warnings):
    with caplog.at_level(logging.INFO, logger="adamae_hf.finetuning"):
        loaded = build_model_for_finetuning(pretrained_dir, ["a", "b", "c"], drop_path_rate=0.1)
    model = loaded.model
    assert loaded.source == "adamae-pretraining"
    assert model.config.use_mean_pooling and model.config.drop_path_rate == 0.1
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"} and model.classifier.out_features == 3
    assert any(k.startswith("decoder.") for k in loaded.dropped_keys)
    assert any(k.startswith("token_sampler.") for k in loaded.dropped_keys)
    assert "adamae.layernorm.weight" in loaded.dropped_keys
    assert {"classifier.weight", "fc_norm.weight"} <= set(loaded.new_keys)
    assert "dropped" in caplog.text and "decoder" in caplog.text and "adaptive token sampler" in caplog.text
    assert not load_warnings  # our one-line summary instead of transformers' load-report table
    source = AdaMAEForPreTraining.from_pretrained(pretrained_dir)
    torch.testing.assert_close(
        model.adamae.encoder.layer[0].mlp.fc1.weight, source.adamae.encoder.layer[0].mlp.fc1.weight
    )


def test_not_adamae_checkpoint_names_what_it_found(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"'bert' checkpoint.*AdaMAE.*VideoMAE"):
        build_model_for_finetuning(tmp_path, ["a", "b"])


def test_class_count_mismatch(tmp_path):
    config = preset_config("tiny", num_labels=3, **TINY)
    AdaMAEForVideoClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"3 classes but the dataset has 4.*--ignore_mismatched_sizes"):
        build_model_for_finetuning(tmp_path, list("abcd"))
    loaded = build_model_for_finetuning(tmp_path, list("abcd"), ignore_mismatched_sizes=True)
    assert loaded.model.classifier.weight.shape == (4, TINY["hidden_size"])
    assert loaded.model.config.id2label[3] == "d"
    same = build_model_for_finetuning(tmp_path, list("xyz"))  # same count: loads, takes the new names
    assert same.source == "adamae-classification" and same.model.config.label2id == {"x": 0, "y": 1, "z": 2}


def test_videomae_checkpoint(tmp_path, load_warnings):
    from transformers import VideoMAEConfig, VideoMAEForPreTraining

    config = VideoMAEConfig(
        image_size=32, patch_size=8, num_frames=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
        decoder_intermediate_size=32, use_mean_pooling=False,
    )  # fmt: skip
    VideoMAEForPreTraining(config).save_pretrained(tmp_path)
    loaded = build_model_for_finetuning(tmp_path, ["a", "b"])
    assert loaded.source == "videomae" and loaded.model.config.use_mean_pooling
    logits = loaded.model(torch.randn(1, 4, 3, 32, 32)).logits
    assert logits.shape == (1, 2)
    assert not load_warnings  # no load-report table for the VideoMAE checkpoint either


# ----------------------------------------------------------------------------------------------- evaluation
def test_multiview_average_hand_made():
    # video 0: views disagree; averaging softmax (not logits) decides. video 1: one view.
    logits = torch.tensor([[[10.0, 0.0, 0.0], [0.0, 1.0, 0.9]], [[0.0, 0.0, 2.0], [0.0, 0.0, 2.0]]])
    expected = torch.stack([logits[0].softmax(-1).mean(0), logits[1].softmax(-1).mean(0)])
    probabilities = multiview_average(logits)
    torch.testing.assert_close(probabilities, expected)
    assert probabilities[0].argmax() == 0  # mean of logits would also say 0; check the values by hand:
    p00 = np.exp(10) / (np.exp(10) + 2)
    p10 = 1 / (1 + np.e + np.exp(0.9))
    assert probabilities[0, 0].item() == pytest.approx((p00 + p10) / 2, rel=1e-5)
    # a case where averaging probabilities and averaging logits disagree
    logits = torch.tensor([[[8.0, 0.0], [-1.0, 0.5], [-1.0, 0.5]]])
    assert multiview_average(logits).argmax(-1).item() == 1 and logits.mean(1).argmax(-1).item() == 0
    # flat form, views shuffled, with a video index
    flat = torch.tensor([[0.0, 0.0, 2.0], [10.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 1.0, 0.9]])
    index = torch.tensor([1, 0, 1, 0])
    torch.testing.assert_close(multiview_average(flat, index), expected)


def test_metrics_and_confusion_matrix():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.5, 0.4, 0.1]])
    references = torch.tensor([0, 1, 1, 2])
    metrics = compute_video_metrics(scores, references, ["a", "b", "c"], top_k=(1, 2))
    assert metrics["top1"] == pytest.approx(50.0)
    assert metrics["top2"] == pytest.approx(75.0)  # video 1: b is second; video 3: c is last
    assert metrics["accuracy_a"] == 100.0 and metrics["accuracy_b"] == 50.0 and metrics["accuracy_c"] == 0.0
    matrix = confusion_matrix(scores.argmax(1).numpy(), references.numpy(), 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [1, 0, 0]])


def test_mixup_loss_with_soft_targets(tmp_path):
    from transformers import TrainingArguments

    model = AdaMAEForVideoClassification(preset_config("tiny", num_labels=4, **TINY)).train()
    mixup = MixupCutmix(4, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", remove_unused_columns=False, use_cpu=True)
    trainer = VideoClassificationTrainer(model=model, args=args, mixup=mixup)
    batch = {
        "pixel_values": torch.randn(4, 16, 3, 32, 32), "labels": torch.tensor([0, 1, 2, 3]),
        "video_index": torch.arange(4),
    }  # fmt: skip
    torch.manual_seed(3)
    mixed = mixup({k: v for k, v in batch.items() if k != "video_index"})
    soft = mixed["labels"]
    assert soft.shape == (4, 4) and torch.allclose(soft.sum(1), torch.ones(4))
    assert (soft > 0).all()  # label smoothing
    logits = model(pixel_values=mixed["pixel_values"]).logits
    expected = -(soft * F.log_softmax(logits.float(), -1)).sum(1).mean()
    torch.manual_seed(3)
    loss = trainer.compute_loss(model, dict(batch))
    torch.testing.assert_close(loss, expected)
    assert torch.isfinite(loss) and loss.requires_grad


# ----------------------------------------------------------------------------------------------- the script
def test_end_to_end_pretrain_finetune_evaluate_pipeline(pretrained_dir, data_synthetic_dir, tmp_path):
    from transformers import AutoModelForVideoClassification, pipeline

    from adamae_hf.data import EvalTransform, read_video_clips

    output_dir = tmp_path / "finetuned"
    results = run_finetuning.main([
        "--recipe", "synthetic-demo", "--model_name_or_path", str(pretrained_dir), "--train_dir", str(data_synthetic_dir),
        "--output_dir", str(output_dir), "--do_train", "--do_eval", "--do_predict", "--max_steps", "2",
        "--test_num_clips", "2", "--test_num_crops", "3", *COMMON_ARGS,
    ])  # fmt: skip
    labels = sorted(["left", "right", "up", "down"])
    assert {"eval_top1", "eval_top5", "eval_loss", "train_loss"} <= set(results)
    assert all(f"eval_accuracy_{name}" in results for name in labels)
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "confusion_matrix.png", "eval_results.json"):
        assert (output_dir / name).is_file(), name
    with open(output_dir / "predictions_validation.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8 and {row["label"] for row in rows} == set(labels)
    assert all(row["prediction"] in labels and row["video"].endswith(".mp4") for row in rows)

    model = AutoModelForVideoClassification.from_pretrained(output_dir).eval()
    assert isinstance(model, AdaMAEForVideoClassification)
    assert [model.config.id2label[i] for i in range(4)] == labels

    # the pipeline reads an mp4 and labels it as the model does on the evaluation preprocessing
    video = Path(rows[0]["video"])
    classifier = pipeline("video-classification", model=str(output_dir))
    predictions = classifier(str(video), top_k=4)
    assert {p["label"] for p in predictions} == set(labels)
    clip = read_video_clips(str(video), 16, 1, 1, "eval")[0]
    with torch.no_grad():
        expected = model(EvalTransform(32)(clip)[None]).logits.softmax(-1)[0]
    assert predictions[0]["label"] == model.config.id2label[int(expected.argmax())]
    assert predictions[0]["score"] == pytest.approx(float(expected.max()), abs=2e-3)


def test_missing_label_column_names_columns(data_synthetic_dir, tmp_path):
    with pytest.raises(ValueError, match=r"label column 'target' not found.*\['video', 'label'\]"):
        run_finetuning.main([
            "--recipe", "synthetic-demo", "--dataset_name", str(data_synthetic_dir / "train"), "--label_column_name",
            "target",
            "--validation_split_name", "train", "--output_dir", str(tmp_path), "--do_eval", *COMMON_ARGS,
        ])  # fmt: skip


@pytest.fixture(scope="module")
def demo_pretraining(tmp_path_factory):
    """The quick start's default pre-training (`python scripts/run_pretraining.py`), run once in a fresh folder."""
    import importlib.util
    import os

    folder = tmp_path_factory.mktemp("demo")
    previous = os.getcwd()
    os.chdir(folder)  # the scripts' default output folders land here
    try:
        spec = importlib.util.spec_from_file_location(
            "run_pretraining", Path(__file__).resolve().parents[1] / "scripts" / "run_pretraining.py"
        )
        run_pretraining = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(run_pretraining)
        assert run_pretraining.main([]) == 0
    finally:
        os.chdir(previous)
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    return folder


@pytest.mark.slow  # about 1.5 minutes on 2 idle CPU cores: `pytest -m slow`
def test_default_demo_pretraining_learns(demo_pretraining):
    """The demo's pre-training visibly learns (issue targets: reconstruction loss <= 0.8 on normalised targets,
    object-mass ratio >= 2.0 on the synthetic validation clips). Measured with seed 0 (dataset format 4): reconstruction
    loss 0.432 (last step) / 0.412 (validation, random mask), object-mass ratio 2.97, motion correlation 0.57."""
    import json

    results = json.loads((demo_pretraining / "outputs/adamae-pretrain-synthetic/train_results.json").read_text())
    assert results["train_reconstruction_loss"] <= 0.8, results
    assert results["focus_reconstruction_loss"] <= 0.8, results
    assert results["focus_object_mass_ratio"] >= 2.0, results
    assert results["focus_motion_correlation"] > 0.2, results


@pytest.mark.slow  # about 10 minutes on 2 idle CPU cores
def test_default_demo_finetuning_beats_chance(demo_pretraining, monkeypatch):
    """The demo's fine-tuning from its pre-training (8 motion classes, chance 12.5 %) must clear ACCURACY_BAR."""
    monkeypatch.chdir(demo_pretraining)
    results = run_finetuning.main([])
    assert results["eval_top1"] >= ACCURACY_BAR, results["eval_top1"]


# From benchmarks/results/ablation_masking.md, the demo's recipe over 3 seeds (its adaptive arm): 74.7 ± 14.5 % top-1;
# the bar is the mean minus 3 standard deviations (31), rounded down. Through the scripts (benchmarks/demo_seeds.py)
# seeds 0, 1, 2 gave 40.6, 78.1, 89.1 %; this test runs the scripts' defaults (fine-tuning seed 42: 89.1 % in a fresh clone).
ACCURACY_BAR = 30.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ("hidden_sise=64", "AdaMAEConfig has no field 'hidden_sise'"),
        ("hidden_size=wide", "AdaMAEConfig.hidden_size: cannot set 'wide'"),
        ("num_attention_heads=3", "AdaMAEConfig.num_attention_heads=3 is invalid"),
    ],
)
def test_bad_config_override_fails_before_reading_data(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=f"--config_overrides: {message}"):
        run_finetuning.main([
            "--recipe", "synthetic-demo", "--train_dir", str(tmp_path / "no-such-data"), "--config_overrides", overrides,
            "--output_dir", str(tmp_path / "out"), *COMMON_ARGS,
        ])  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_config_overrides_use_the_pretraining_syntax():
    args = run_finetuning.ModelArguments(config_overrides="hidden_size=64, num_attention_heads=2,norm_pix_loss=false")
    config = run_finetuning.scratch_config(args)
    assert (config.hidden_size, config.num_attention_heads, config.norm_pix_loss) == (64, 2, False)
    assert config.sampler_hidden_size == 64  # follows hidden_size, as in run_pretraining.py


def test_pin_memory_only_where_cuda_is(tmp_path):
    training_args = run_finetuning.parse_args(["--output_dir", str(tmp_path), *COMMON_ARGS])[2]
    assert training_args.dataloader_pin_memory is torch.cuda.is_available()  # no pin-memory warning on CPU
