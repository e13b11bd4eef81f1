"""The app without a browser (`adamae_hf.app.analyze`): what it shows for a pre-training and a classification
checkpoint, and the messages for a missing video, an unreadable file and checkpoints it cannot use. The browser test
is tests/test_app_browser.py (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_finetuning import TINY

from adamae_hf import AdaMAEForPreTraining, AdaMAEForVideoClassification, AdaMAEModel
from adamae_hf.app import AppError, analyze, example_video, load_checkpoint
from adamae_hf.data import read_video_clips, save_processor
from adamae_hf.presets import preset_config


LABELS = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny checkpoints: pre-training (adaptive masking) and classification (6 classes), each with its processors."""
    root = tmp_path_factory.mktemp("app")
    torch.manual_seed(0)
    AdaMAEForPreTraining(preset_config("tiny", **TINY)).save_pretrained(root / "pretraining")
    config = preset_config("tiny", **TINY, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    classifier = AdaMAEForVideoClassification(config)
    with torch.no_grad():
        classifier.classifier.weight.normal_(0.0, 1.0)  # scores that differ between labels
    classifier.save_pretrained(root / "classification")
    AdaMAEModel(preset_config("tiny", **TINY)).save_pretrained(root / "encoder")
    for name in ("pretraining", "classification"):
        save_processor(root / name, TINY["image_size"], TINY["num_frames"], sampling_rate=1)
    return root


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return example_video(tmp_path_factory.mktemp("example"))


def test_example_video_is_generated(video):
    clips = read_video_clips(str(video), 32, 1, 1, "eval")
    assert clips.shape == (1, 32, 128, 128, 3)
    assert clips[0, 0].float().std() > 10 and not torch.equal(clips[0, 0], clips[0, -1])  # content that moves


def test_pretraining_checkpoint_shows_heat_map_mask_and_reconstruction(folders, video):
    steps = []
    result = analyze(str(video), str(folders / "pretraining"), progress=lambda fraction, what: steps.append(fraction))
    assert steps[-1] == 1.0 and steps == sorted(steps)
    assert result.labels is None
    assert result.figure.dtype == np.uint8 and result.figure.ndim == 3 and result.figure.shape[2] == 3
    assert result.figure.std() > 20  # a drawn figure, not a blank canvas
    gif = Image.open(result.animation)
    assert gif.n_frames == TINY["num_frames"]
    assert "Read 16 frames, 8 to 23 at stride 1, of the video's 32" in result.summary
    config = preset_config("tiny", **TINY)
    mask_ratio = round(100 * (1 - config.num_visible_tokens / config.num_tokens))
    assert f"Mask: {mask_ratio}% of the tokens masked (adaptive masking" in result.summary
    assert "rank correlation with motion" in result.summary


def test_classification_checkpoint_gives_the_pipelines_top5(folders, video):
    from transformers import pipeline

    result = analyze(str(video), str(folders / "classification"))
    assert result.animation is None and len(result.labels) == 5
    expected = pipeline("video-classification", model=str(folders / "classification"))(str(video), top_k=5)
    assert list(result.labels) == [p["label"] for p in expected]
    assert list(result.labels.values()) == pytest.approx([p["score"] for p in expected], abs=1e-6)
    assert "has no sampler" in result.summary


def test_clear_messages(folders, video, tmp_path):
    with pytest.raises(AppError, match="Upload a video or pick the example"):
        analyze(None, str(folders / "pretraining"))
    broken = tmp_path / "holiday.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    with pytest.raises(AppError, match="This file cannot be read as a video: "):
        analyze(str(broken), str(folders / "pretraining"))
    with pytest.raises(AppError, match=r"No checkpoint could be loaded from '.*nowhere': there is no such folder"):
        analyze(str(video), str(tmp_path / "nowhere"))
    with pytest.raises(AppError, match="holds an AdaMAEModel: this app needs an AdaMAE pre-training checkpoint"):
        analyze(str(video), str(folders / "encoder"))
    from transformers import VideoMAEConfig

    VideoMAEConfig(image_size=32, num_frames=16).save_pretrained(tmp_path / "videomae")
    with pytest.raises(AppError, match="is a 'videomae' checkpoint, not an AdaMAE one"):
        load_checkpoint(str(tmp_path / "videomae"))


def test_checkpoint_without_video_processor_gets_the_default(folders, tmp_path):
    AdaMAEForPreTraining(preset_config("tiny", **TINY)).save_pretrained(tmp_path)
    loaded = load_checkpoint(str(tmp_path))
    assert "no video_preprocessor_config.json" in loaded.processor_note
    assert (loaded.processor.num_frames, loaded.processor.crop_size["height"]) == (16, 32)


def test_build_demo(video):
    pytest.importorskip("gradio")
    from adamae_hf.app import build_demo

    demo = build_demo("some/checkpoint", example=video)
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"video-input", "checkpoint", "run", "summary", "figure", "animation", "labels"} <= ids
