"""The run model card with the processor: the pipeline example for a classifier, the processor and token
probabilities for a pre-training checkpoint, and the run's sampler picture, uploaded with the checkpoint and shown
on the generated card."""

from __future__ import annotations

import json

from huggingface_hub import ModelCard
from test_hub import REPO_ID, TINY, checkpoint, hub  # noqa: F401  (fixtures)

from adamae_hf import AdaMAEConfig
from adamae_hf.hub import HEATMAP_IMAGE, model_card_for_run, push_checkpoint_to_hub


def test_classifier_card_shows_the_pipeline_with_the_processor():
    config = AdaMAEConfig(**TINY, num_labels=3, architectures=["AdaMAEForVideoClassification"])
    card = model_card_for_run({"epochs": 1}, {"eval_top1": 50.0}, model_name="c", config=config, repo_id="user/c")
    assert 'classifier = pipeline("video-classification", model="user/c")' in card.text
    assert 'AdaMAEVideoProcessor.from_pretrained("user/c")' in card.text
    assert "get_token_probabilities" not in card.text and "Where the sampler looks" not in card.text


def test_pretraining_card_shows_the_processor_and_the_heat_map():
    config = AdaMAEConfig(**TINY)
    card = model_card_for_run({"epochs": 1}, None, model_name="p", config=config, repo_id="user/p", heatmap_image=HEATMAP_IMAGE)
    assert 'processor = AdaMAEVideoProcessor.from_pretrained("user/p")' in card.text
    assert f"pixel_values = processor(\"video.mp4\")[\"pixel_values\"]  # (1, {TINY['num_frames']}, 3, 32, 32)" in card.text
    assert f"]({HEATMAP_IMAGE})" in card.text and "## Where the sampler looks" in card.text
    assert ModelCard(str(card)).data.pipeline_tag is None


def test_push_uploads_the_heat_map_and_shows_it_on_the_generated_card(hub, checkpoint, tmp_path):  # noqa: F811
    folder, _, _ = checkpoint
    bare = tmp_path / "run"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "configuration_adamae.py", "modeling_adamae.py"):
        (bare / name).write_bytes((folder / name).read_bytes())
    (bare / HEATMAP_IMAGE).parent.mkdir()
    (bare / HEATMAP_IMAGE).write_bytes(b"\x89PNG picture")
    (bare / "visualizations" / "step_000010_clip0.png").write_bytes(b"\x89PNG older picture")
    push_checkpoint_to_hub(bare, REPO_ID, token="hf_test")
    assert hub.files[HEATMAP_IMAGE] == b"\x89PNG picture"
    assert not any("step_000010" in name for name in hub.files)
    assert f"]({HEATMAP_IMAGE})" in hub.files["README.md"].decode()
    processor = json.loads(hub.files["video_preprocessor_config.json"])
    assert processor["video_processor_type"] == "AdaMAEVideoProcessor" and processor["num_frames"] == TINY["num_frames"]
