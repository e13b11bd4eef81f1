"""AdaMAEVideoProcessor: the `video-classification` pipeline on a checkpoint gives the scores of
`run_finetuning.py --do_eval` (1 clip x 1 crop) on videos that break naive readers (rotation, variable frame rate, a
resolution change), through `video_preprocessor_config.json` and without the image-processor deprecation path; its
config reloads; bad options and bad videos fail clearly."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from test_finetuning import TINY, pretrained_dir, run_finetuning  # noqa: F401  (a fixture)
from test_pretraining import cache_dir, run_main, script  # noqa: F401  (fixtures)
from test_video_frames import write_video

from adamae_hf import AdaMAEConfig, AdaMAEForVideoClassification, AdaMAEVideoProcessor
from adamae_hf.data import (
    EvalTransform,
    VideoReadError,
    build_video_processor,
    read_video_clips,
    sample_clip_indices,
    save_processor,
)
from adamae_hf.presets import preset_config


SAMPLING_RATE = 2
LABELS = ["0", "1", "2"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ADAMAE_HF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny classification checkpoint with both processor configs, its head re-drawn (std 1) so that scores depend
    strongly on the frames (an untrained head gives near-uniform scores that would hide a wrong frame)."""
    path = tmp_path_factory.mktemp("classifier")
    torch.manual_seed(0)
    config = preset_config("tiny", **TINY, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    model = AdaMAEForVideoClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    model.save_pretrained(path)
    save_processor(path, TINY["image_size"], TINY["num_frames"], SAMPLING_RATE)
    return path


@pytest.fixture(scope="module")
def hard_videos(tmp_path_factory):
    """{name: path}: a quarter-turn rotation flag (phone video), a variable frame rate (3 fps, then 30 fps) and an
    MPEG-TS stream whose resolution changes from 64x32 to 96x48 after 30 frames."""
    root = tmp_path_factory.mktemp("hard_videos")
    vfr_pts = [round(i * 1000 / 3) for i in range(20)]
    vfr_pts += [vfr_pts[-1] + round((i + 1) * 1000 / 30) for i in range(60)]
    first = write_video(root / "a.ts", 30, "mpegts", "libx264", options={"g": "10"})
    second = write_video(root / "b.ts", 40, "mpegts", "libx264", options={"g": "10"}, size=(48, 96), first=30,
                         pts_ms=[round((30 + i) * 1000 / 25) for i in range(40)])  # fmt: skip
    changes = root / "changes.ts"
    changes.write_bytes(first.read_bytes() + second.read_bytes())
    return {
        "rotation": write_video(root / "phone.mp4", 50, "mp4", "libx264", rotation=90, options={"g": "10"}),
        "vfr": write_video(root / "vfr.mp4", 80, "mp4", "libx264", pts_ms=vfr_pts, options={"g": "10"}),
        "resolution": changes,
    }


def evaluation_scores(checkpoint: Path, videos: dict[str, Path], tmp_path: Path) -> dict[str, dict[str, float]]:
    """{video path: {label: probability}} from `run_finetuning.py --do_eval --do_predict`, 1 clip x 1 crop."""
    listing = tmp_path / "videos.txt"
    listing.write_text("".join(f"{path} {i % len(LABELS)}\n" for i, path in enumerate(videos.values())))
    output_dir = tmp_path / "eval"
    run_finetuning.main([
        "--recipe", "synthetic-demo",
        "--model_name_or_path", str(checkpoint), "--validation_list", str(listing), "--output_dir", str(output_dir),
        "--do_eval", "--do_predict", "--test_num_clips", "1", "--test_num_crops", "1",
        "--sampling_rate", str(SAMPLING_RATE), "--per_device_eval_batch_size", "2", "--report_to", "none",
        "--dataloader_num_workers", "0",
    ])  # fmt: skip
    with open(output_dir / "predictions_validation.csv") as file:
        rows = list(csv.DictReader(file))
    return {
        row["video"]: dict(zip(row["top3_labels"].split(), map(float, row["top3_scores"].split()))) for row in rows
    }


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_pipeline_scores_equal_the_evaluation_on_hard_videos(checkpoint, hard_videos, tmp_path):
    from transformers import pipeline

    expected = evaluation_scores(checkpoint, hard_videos, tmp_path)
    assert set(expected) == {str(path) for path in hard_videos.values()}
    records = _Warnings()
    pipeline_logger = logging.getLogger("transformers.pipelines.video_classification")
    pipeline_logger.addHandler(records)
    try:
        classifier = pipeline("video-classification", model=str(checkpoint))
    finally:
        pipeline_logger.removeHandler(records)
    # found through video_preprocessor_config.json (torchvision or not): not the deprecated image-processor path
    assert isinstance(classifier.video_processor, AdaMAEVideoProcessor)
    assert classifier.video_processor.sampling_rate == SAMPLING_RATE
    assert not any("deprecated" in message for message in records.messages)
    spread = []
    for name, path in hard_videos.items():
        scores = {p["label"]: p["score"] for p in classifier(str(path), top_k=len(LABELS))}
        assert scores.keys() == expected[str(path)].keys()
        for label, score in expected[str(path)].items():
            assert scores[label] == pytest.approx(score, abs=1e-5), (name, label)
        spread.append(max(scores.values()) - min(scores.values()))
    assert min(spread) > 0.05  # the scores depend on the frames: a wrong frame would show

    # the same checkpoint with the one-line form (what works where transformers would not find the processor)
    explicit = pipeline("video-classification", model=str(checkpoint), video_processor=AdaMAEVideoProcessor.from_pretrained(checkpoint))
    path = hard_videos["resolution"]
    scores = {p["label"]: p["score"] for p in explicit(str(path), top_k=len(LABELS))}
    assert all(scores[label] == pytest.approx(score, abs=1e-5) for label, score in expected[str(path)].items())
    # a control: another frame selection (stride 1) changes the scores, so the comparison above can fail
    other = pipeline("video-classification", model=str(checkpoint), video_processor=build_video_processor(32, 16, 1))
    path = hard_videos["vfr"]
    scores = {p["label"]: p["score"] for p in other(str(path), top_k=len(LABELS))}
    assert max(abs(scores[label] - score) for label, score in expected[str(path)].items()) > 1e-2


def test_processor_is_the_evaluation_preprocessing(hard_videos):
    processor = build_video_processor(32, num_frames=8, sampling_rate=3, resize_size=40)
    video = hard_videos["rotation"]
    pixel_values = processor(str(video))["pixel_values"]
    clip = read_video_clips(str(video), 8, 3, 1, "eval")[0]  # (T, H, W, 3): rotated to 32 wide x 64 high
    assert clip.shape[1:3] == (64, 32)
    torch.testing.assert_close(pixel_values, EvalTransform(32, resize_size=40)(clip)[None], rtol=0, atol=0)
    # bytes, a binary file and the decoded frames give the same; decoded frames are sampled the same way
    assert torch.equal(processor(video.read_bytes())["pixel_values"], pixel_values)
    with open(video, "rb") as file:
        assert torch.equal(processor(file)["pixel_values"], pixel_values)
    all_frames = read_video_clips(str(video), 50, 1, 1, "eval")[0]
    assert torch.equal(processor(all_frames.numpy())["pixel_values"], pixel_values)
    # a batch, multi-view (2 clips x 3 crops, clip-major) and a per-call override
    views = processor([str(video), str(video)], num_clips=2, num_crops=3)["pixel_values"]
    assert views.shape == (2, 6, 8, 3, 32, 32)
    clips = read_video_clips(str(video), 8, 3, 2, "eval")
    torch.testing.assert_close(views[1], EvalTransform(32, num_crops=3, resize_size=40)(clips), rtol=0, atol=0)
    # the released test resize (no smoothing), per call: EvalTransform's, not the smoothed one (a 3x shrink)
    frames = torch.randint(0, 256, (24, 120, 150, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    unsmoothed = processor(frames, antialias=False)["pixel_values"]
    clip = frames[torch.from_numpy(sample_clip_indices(24, 8, 3, 1, "eval"))][0]
    torch.testing.assert_close(unsmoothed, EvalTransform(32, resize_size=40, antialias=False)(clip)[None], rtol=0, atol=0)
    assert (unsmoothed - processor(frames)["pixel_values"]).abs().max() > 0.5
    assert processor(all_frames, do_sample_frames=False)["pixel_values"].shape == (1, 50, 3, 32, 32)


def test_config_round_trip_and_auto_class(tmp_path):
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    save_processor(tmp_path, 32, num_frames=8, sampling_rate=3)
    assert {"video_preprocessor_config.json", "preprocessor_config.json"} <= {p.name for p in tmp_path.iterdir()}
    processor = AdaMAEVideoProcessor.from_pretrained(tmp_path)
    assert processor.to_dict() == build_video_processor(32, 8, 3).to_dict()
    assert (processor.num_frames, processor.sampling_rate, processor.crop_size) == (8, 3, {"height": 32, "width": 32})
    assert AdaMAEVideoProcessor.from_pretrained(tmp_path, sampling_rate=5).sampling_rate == 5  # an override
    AdaMAEConfig(**TINY).save_pretrained(tmp_path)
    assert isinstance(AutoVideoProcessor.from_pretrained(tmp_path), AdaMAEVideoProcessor)
    # the released test resize is saved and reloaded; a config written without the option reads as antialiased
    save_processor(tmp_path, 32, num_frames=8, sampling_rate=3, antialias=False)
    assert AdaMAEVideoProcessor.from_pretrained(tmp_path).antialias is False
    config = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    del config["antialias"]
    (tmp_path / "video_preprocessor_config.json").write_text(json.dumps(config))
    assert AdaMAEVideoProcessor.from_pretrained(tmp_path).antialias is True


def test_auto_video_processor_with_torchvision(tmp_path):
    pytest.importorskip("torchvision")
    from transformers import AutoVideoProcessor

    save_processor(tmp_path, 32, sampling_rate=3)
    assert AutoVideoProcessor.from_pretrained(tmp_path).sampling_rate == 3


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(sampling_rate=0), "sampling_rate must be an integer >= 1"),
        (dict(num_crops=2), "num_crops must be 1 or 3"),
        (dict(crop_size={"height": 32, "width": 16}), "crop_size must be a square"),
        (dict(size={"shortest_edge": 16}, crop_size={"height": 32, "width": 32}), "at least the crop size 32"),
        (dict(image_std=[0.2, 0.2]), "image_std must have 3 values"),
        (dict(antialias="no"), "antialias must be True or False"),
        (dict(frames_per_clip=8), r"unknown options \['frames_per_clip'\]"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        AdaMAEVideoProcessor(**options)


def test_bad_videos_and_calls_fail_clearly(tmp_path, hard_videos):
    processor = build_video_processor(32, 8, 2)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        processor(str(broken))
    with pytest.raises(ValueError, match="uint8 \\(frames, height, width, 3\\)"):
        processor(np.zeros((8, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="a video must be a path"):
        processor(3.5)
    with pytest.raises(ValueError, match="always read with frame sampling"):
        processor(str(hard_videos["vfr"]), do_sample_frames=False)
    with pytest.raises(ValueError, match="num_clips must be an integer"):
        processor(str(hard_videos["vfr"]), num_clips=0)


def test_training_scripts_save_the_video_processor(script, cache_dir, data_synthetic_dir, pretrained_dir, tmp_path):  # noqa: F811
    """Both scripts write video_preprocessor_config.json with the model's frames and the run's stride (the converter
    through the same `save_processor`)."""
    assert run_main(script, tmp_path / "pretrain", "--max_train_steps", "1", "--sampling_rate", "3") == 0
    processor = AdaMAEVideoProcessor.from_pretrained(tmp_path / "pretrain")
    assert (processor.num_frames, processor.sampling_rate, processor.crop_size["height"]) == (8, 3, 32)
    run_finetuning.main([
        "--recipe", "synthetic-demo",
        "--model_name_or_path", str(pretrained_dir), "--train_dir", str(data_synthetic_dir), "--output_dir",
        str(tmp_path / "finetune"), "--do_train", "--max_steps", "1", "--sampling_rate", "2", "--report_to", "none",
        "--per_device_train_batch_size", "4", "--dataloader_num_workers", "0", "--save_strategy", "no",
        "--no_rand_augment", "--test_resize_antialias", "false",
    ])  # fmt: skip
    processor = AdaMAEVideoProcessor.from_pretrained(tmp_path / "finetune")
    assert (processor.num_frames, processor.sampling_rate, processor.crop_size["height"]) == (16, 2, 32)
    assert processor.antialias is False  # the run's test resize
