"""Sources (datasets / folder / list file), the clip datasets and loaders, and the synthetic dataset."""

import json

import datasets
import numpy as np
import pytest
import torch

from adamae_hf.data import (
    EvalTransform,
    PretrainingTransform,
    StreamingVideoClipDataset,
    VideoClipDataset,
    build_dataloader,
    collate_finetuning,
    collate_pretraining,
    generate_synthetic_dataset,
    hf_dataset_source,
    load_synthetic_mask,
    load_video_source,
    mix_seed,
    read_video_clips,
    synthetic_dataset_dir,
)
from adamae_hf.data.synthetic import render_clip, synthetic_clips


def eval_dataset(source, **kwargs):
    return VideoClipDataset.from_source(source, num_frames=8, sampling_rate=2, transform=EvalTransform(32), mode="eval", **kwargs)


@pytest.fixture(scope="module")
def data_list_file(data_synthetic_dir, tmp_path_factory):
    folder = load_video_source(data_dir=data_synthetic_dir, split="validation")
    path = tmp_path_factory.mktemp("lists") / "val.txt"
    root = str(data_synthetic_dir) + "/"
    path.write_text("".join(f"{s.video[len(root):]} {s.label}\n" for s in folder.samples))
    return path


def test_three_sources_give_identical_tensors(data_synthetic_dir, data_list_file):
    folder = load_video_source(data_dir=data_synthetic_dir, split="validation")
    listed = load_video_source(list_file=data_list_file, data_root=data_synthetic_dir, label_names=folder.label_names)
    hub = load_video_source(dataset_name=str(data_synthetic_dir), split="validation")
    streamed = load_video_source(dataset_name=str(data_synthetic_dir), split="validation", streaming=True)
    assert folder.label_names == hub.label_names == streamed.label_names == sorted(folder.label_names)
    assert len(folder) == len(listed) == len(hub) == 8
    in_bytes = hf_dataset_source(
        datasets.Dataset.from_dict({"clip": [open(s.video, "rb").read() for s in folder.samples], "y": [s.label for s in folder.samples]}),
        video_column_name="clip", label_column_name="y", label_names=folder.label_names,
    )
    items = [eval_dataset(source)[3] for source in (folder, listed, hub, in_bytes)]
    items.append(list(eval_dataset(streamed))[3])
    for item in items[1:]:
        assert item["labels"] == items[0]["labels"] and item["video_index"] == 3
        assert torch.equal(item["pixel_values"], items[0]["pixel_values"])


def test_source_errors(data_synthetic_dir, tmp_path):
    with pytest.raises(ValueError, match=r"'clip' not found.*\['video', 'label'\]"):
        load_video_source(dataset_name=str(data_synthetic_dir), split="validation", video_column_name="clip")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_video_source(data_dir=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nolist.txt"):
        load_video_source(list_file=tmp_path / "nolist.txt")
    with pytest.raises(ValueError, match="exactly one"):
        load_video_source(data_dir=data_synthetic_dir, list_file=tmp_path / "x.txt")


def test_datasets_collators_and_workers(data_synthetic_dir):
    source = load_video_source(data_dir=data_synthetic_dir, split="train")
    train = VideoClipDataset(source, num_frames=8, sampling_rate=1, transform=PretrainingTransform(32), seed=1)
    item = train[0]
    assert item["pixel_values"].shape == (8, 3, 32, 32) and item["pixel_values"].dtype == torch.float32
    assert isinstance(item["labels"], int) and item["video_index"] == 0
    assert collate_pretraining([train[0], train[1]])["pixel_values"].shape == (2, 8, 3, 32, 32)

    # two workers reading the same video draw different clips / crops
    same = load_video_source(data_dir=data_synthetic_dir, split="train")
    same.samples = [same.samples[0]] * 4
    loader = build_dataloader(
        VideoClipDataset(same, num_frames=8, sampling_rate=1, transform=PretrainingTransform(32)),
        batch_size=2, collate_fn=collate_finetuning, num_workers=2,
    )
    first, second = list(loader)
    assert first["pixel_values"].shape == (2, 8, 3, 32, 32) and first["labels"].dtype == torch.long
    assert not torch.equal(first["pixel_values"][0], second["pixel_values"][0])
    assert len({mix_seed(0, rank=r, worker_id=w, epoch=e) for r in range(2) for w in range(3) for e in range(2)}) == 12

    # evaluation: K clips x 3 crops -> (B, V, T, C, H, W), deterministic
    val = VideoClipDataset(source, num_frames=4, sampling_rate=2, transform=EvalTransform(32, num_crops=3), mode="eval", num_clips=2)
    batch = collate_finetuning([val[0], val[1]])
    assert batch["pixel_values"].shape == (2, 6, 4, 3, 32, 32)
    assert batch["video_index"].tolist() == [0, 1]
    assert torch.equal(val[0]["pixel_values"], batch["pixel_values"][0])


def test_streaming_dataset(data_synthetic_dir):
    streamed = load_video_source(dataset_name=str(data_synthetic_dir), split="validation", streaming=True)
    dataset = VideoClipDataset.from_source(streamed, num_frames=4, sampling_rate=1, transform=EvalTransform(32), mode="eval")
    assert isinstance(dataset, StreamingVideoClipDataset)
    with pytest.raises(TypeError, match="StreamingVideoClipDataset"):
        VideoClipDataset(streamed, num_frames=4, sampling_rate=1, transform=EvalTransform(32), mode="eval")
    batches = list(build_dataloader(dataset, batch_size=4, collate_fn=collate_finetuning, num_workers=2))
    assert sorted(i for b in batches for i in b["video_index"].tolist()) == list(range(8))


def test_synthetic_dataset(data_synthetic_dir, tmp_path):
    metadata = json.loads((data_synthetic_dir / "metadata.json").read_text())
    assert metadata["label_names"] == sorted(metadata["label_names"]) and len(metadata["clips"]) == 4 * 5
    record = metadata["clips"][0]
    mask = load_synthetic_mask(data_synthetic_dir, record["file_name"])
    assert mask.shape == (16, 32, 32) and mask.dtype == bool and mask.any(axis=(1, 2)).all()

    kwargs = dict(num_classes=2, train_per_class=1, val_per_class=1, num_frames=8, image_size=32)
    # the frames and masks are exact functions of the seed
    rendered = [render_clip(np.random.default_rng([0, 0, 1, 0]), "right", 8, 32, 32) for _ in range(2)]
    assert np.array_equal(rendered[0][0], rendered[1][0]) and np.array_equal(rendered[0][1], rendered[1][1])
    first = generate_synthetic_dataset(tmp_path / "first", seed=0, **kwargs)
    again = generate_synthetic_dataset(tmp_path / "again", seed=0, **kwargs)
    other = generate_synthetic_dataset(tmp_path / "other", seed=1, **kwargs)
    for clip in ("train/right/right_0000.mp4", "validation/left/left_0000.mp4"):
        reference = read_video_clips(first / clip, 8, 1, mode="eval").float()
        # the same frames; the H.264 files are byte-identical on an idle machine but not always under CPU contention
        # (see write_mp4): decoded, they agree to 0-2.3 levels on average (measured under load, format 4), while
        # another seed's clips differ by 42-63 levels
        assert (read_video_clips(again / clip, 8, 1, mode="eval").float() - reference).abs().mean() < 5.0
        assert (read_video_clips(other / clip, 8, 1, mode="eval").float() - reference).abs().mean() > 20.0
    with pytest.raises(FileExistsError):
        generate_synthetic_dataset(tmp_path / "again", seed=5, **kwargs)
    # the in-memory clips (benchmarks/ablation_masking.py) are the dataset's: same labels, order and masks
    in_memory = list(synthetic_clips("validation", 2, seed=0, num_classes=4, num_frames=16, height=32, width=32))
    written = [c for c in metadata["clips"] if c["split"] == "validation"]
    assert [(m, label, i) for m, label, i, _, _ in in_memory] == [
        (c["label_name"], c["label"], int(c["file_name"][-8:-4])) for c in written
    ]
    for (_, _, _, _, mask), record in zip(in_memory, written):
        assert np.array_equal(mask, load_synthetic_mask(data_synthetic_dir, record["file_name"]))


def test_synthetic_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAMAE_HF_CACHE", str(tmp_path))
    kwargs = dict(num_classes=2, train_per_class=1, val_per_class=1, num_frames=4, image_size=16)
    first = synthetic_dataset_dir(seed=3, **kwargs)
    assert first.parent == tmp_path / "synthetic" and (first / "metadata.json").exists()
    stamp = (first / "metadata.json").stat().st_mtime_ns
    assert synthetic_dataset_dir(seed=3, **kwargs) == first
    assert (first / "metadata.json").stat().st_mtime_ns == stamp  # reused, not regenerated
    assert synthetic_dataset_dir(seed=4, **kwargs) != first
    assert [p.name for p in (tmp_path / "synthetic").iterdir() if p.name.startswith(".")] == []


def test_items_are_a_function_of_seed_epoch_and_index(data_synthetic_dir):
    """Item i of epoch e (its temporal crop and its augmentation) is the same read in the main process, in any order,
    or by either of two DataLoader workers; another epoch or seed changes it; the caller's random stream is untouched."""
    source = load_video_source(data_dir=data_synthetic_dir, split="train")
    dataset = VideoClipDataset(source, num_frames=4, sampling_rate=2, transform=PretrainingTransform(16), seed=3)
    dataset.set_epoch(2)
    state = torch.random.get_rng_state()
    direct = torch.stack([dataset[i]["pixel_values"] for i in range(6)])
    assert torch.equal(torch.random.get_rng_state(), state)
    backwards = torch.stack([dataset[i]["pixel_values"] for i in reversed(range(6))]).flip(0)
    assert torch.equal(direct, backwards)
    loader = build_dataloader(torch.utils.data.Subset(dataset, range(6)), batch_size=2, collate_fn=collate_pretraining,
                              num_workers=2)  # fmt: skip
    assert torch.equal(torch.cat([batch["pixel_values"] for batch in loader]), direct)
    dataset.set_epoch(3)
    assert not torch.equal(dataset[0]["pixel_values"], direct[0])
    dataset.set_epoch(2)
    dataset.seed = 4
    assert not torch.equal(dataset[0]["pixel_values"], direct[0])
