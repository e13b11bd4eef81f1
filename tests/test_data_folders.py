"""Real-world folders and list files: archive/OS/editor metadata is left out, symbolic links are followed (dangling
ones raise), list-file paths may hold commas and spaces, unknown or missing labels fail when the source is built,
and pre-training reads unlabelled data (a flat folder, a list of paths, a dataset without labels)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from adamae_hf.data import hf_dataset_source, load_video_source


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips(data_synthetic_dir) -> list[Path]:
    """Four readable mp4 files."""
    return sorted((data_synthetic_dir / "train").rglob("*.mp4"))[:4]


def _put(path: Path, source: Path | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, bytes):
        path.write_bytes(source)
    else:
        shutil.copy(source, path)
    return path


def _names(source, root: Path) -> list[str]:
    return [str(Path(s.video).relative_to(root)) for s in source.samples]


def test_folder_unzipped_on_a_mac_or_copied_from_a_nas_gives_only_the_videos(clips, tmp_path):
    root = tmp_path / "data"
    _put(root / "cat" / "a.mp4", clips[0])
    _put(root / "dog" / "b.mp4", clips[1])
    junk = b"\x00\x05\x16\x07 AppleDouble resource fork"
    for name in (
        "__MACOSX/cat/._a.mp4", "__MACOSX/dog/._b.mp4",  # macOS Archive Utility / zip
        "cat/._a.mp4", ".DS_Store", "cat/.DS_Store",  # macOS on a non-HFS disk
        "cat/.ipynb_checkpoints/a-checkpoint.mp4",  # Jupyter
        "@eaDir/a.mp4/SYNOVIDEO_VIDEO_SCREENSHOT.jpg", "dog/@eaDir/b.mp4/SYNOINDEX_MEDIA_INFO",  # Synology
        "#recycle/old.mp4", "$RECYCLE.BIN/S-1-5-21/$RABC.mp4", "System Volume Information/x.mp4",  # Synology, Windows
        "Thumbs.db", "dog/desktop.ini", "lost+found/#1234.mp4", ".Trash-1000/files/c.mp4",
        "cat/.a.mp4.swp", "cat/a.mp4~", "cat/#a.mp4#", "cat/.hidden.mp4", "dog/.cache/b.mp4",  # editors, tools
        "__pycache__/x.mp4",
    ):  # fmt: skip
        _put(root / name, junk)
    source = load_video_source(data_dir=root)
    assert source.label_names == ["cat", "dog"]
    assert _names(source, root) == ["cat/a.mp4", "dog/b.mp4"]
    assert [s.label for s in source.samples] == [0, 1]
    # pre-training reads the same folder without labels: the same two videos
    assert _names(load_video_source(data_dir=root, labelled=False), root) == ["cat/a.mp4", "dog/b.mp4"]


def test_symbolic_links_are_followed_and_dangling_ones_raise(clips, tmp_path):
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    _put(root / "cat" / "a.mp4", clips[0])
    _put(elsewhere / "more_cats" / "c.mp4", clips[2])
    _put(elsewhere / "dogs" / "d.mp4", clips[3])
    _put(elsewhere / "e.mp4", clips[1])
    (root / "cat" / "more").symlink_to(elsewhere / "more_cats", target_is_directory=True)  # linked sub-folder
    (root / "cat" / "linked.mp4").symlink_to(elsewhere / "e.mp4")  # linked video
    (root / "dog").symlink_to(elsewhere / "dogs", target_is_directory=True)  # linked class folder
    (root / "cat" / "loop").symlink_to(root / "cat", target_is_directory=True)  # a cycle ends
    source = load_video_source(data_dir=root)
    assert source.label_names == ["cat", "dog"]
    assert _names(source, root) == ["cat/a.mp4", "cat/linked.mp4", "cat/more/c.mp4", "dog/d.mp4"]
    assert [s.label for s in source.samples] == [0, 0, 0, 1]
    assert len(load_video_source(data_dir=root, labelled=False)) == 4

    (root / "cat" / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    for labelled in (True, False):
        with pytest.raises(FileNotFoundError, match=r"(?s)1 symbolic link.*point to nothing.*gone\.mp4 -> .*deleted\.mp4"):
            load_video_source(data_dir=root, labelled=labelled)
    (root / "cat" / "gone.mp4").unlink()
    (root / "cat" / "moved").symlink_to(tmp_path / "moved_cats", target_is_directory=True)  # a dangling sub-folder
    with pytest.raises(FileNotFoundError, match=r"cat/moved -> .*moved_cats"):
        load_video_source(data_dir=root)
    (root / "cat" / "moved").unlink()
    (root / "bird").symlink_to(tmp_path / "no_birds", target_is_directory=True)  # a dangling class folder
    with pytest.raises(FileNotFoundError, match=r"bird -> .*no_birds"):
        load_video_source(data_dir=root)


def test_an_empty_class_folder_raises(clips, tmp_path):
    root = tmp_path / "data"
    _put(root / "cat" / "a.mp4", clips[0])
    (root / "dog").mkdir()
    _put(root / "bird" / "notes.txt", b"to do: film birds")
    with pytest.raises(FileNotFoundError, match=r"class folder\(s\) \['bird', 'dog'\] hold no video"):
        load_video_source(data_dir=root)


def test_a_validation_class_unknown_to_training_fails_when_built(clips, tmp_path):
    root = tmp_path / "data"
    _put(root / "validation" / "cat" / "a.mp4", clips[0])
    _put(root / "validation" / "cow" / "b.mp4", clips[1])
    with pytest.raises(ValueError, match=r"classes \['cow'\] are not among the 2 training classes \['cat', 'dog'\]"):
        load_video_source(data_dir=root, split="validation", label_names=["cat", "dog"])

    videos = [str(clips[0]), str(clips[1])]
    strings = datasets.Dataset.from_dict({"video": videos, "label": ["cat", "cow"]})
    with pytest.raises(ValueError, match=rf"{clips[1].name}: label 'cow' \(column 'label'\) is not one of the 2"):
        hf_dataset_source(strings, label_names=["cat", "dog"])
    integers = datasets.Dataset.from_dict({"video": videos, "label": [1, 2]})
    with pytest.raises(ValueError, match=rf"{clips[1].name}: label 2 .* not one of the 2 training classes"):
        hf_dataset_source(integers, label_names=["cat", "dog"])
    streamed = hf_dataset_source(strings.to_iterable_dataset(), label_names=["cat", "dog"])
    with pytest.raises(ValueError, match=r"label 'cow' .* not one of the 2 training classes"):
        list(streamed)  # a stream's labels are known only when read: a clear error then, not a KeyError

    listed = tmp_path / "val.txt"
    listed.write_text(f"{clips[0]} 1\n{clips[1]} 2\n")
    with pytest.raises(ValueError, match=r"val\.txt:2: label 2 of .* is unknown: the training data has 2 classes"):
        load_video_source(list_file=listed, label_names=["cat", "dog"])


def test_list_file_paths_may_hold_commas_and_spaces(clips, tmp_path):
    _put(tmp_path / "my clips" / "a, the first.mp4", clips[0])
    _put(tmp_path / "b,c.mp4", clips[1])
    _put(tmp_path / "d.mp4", clips[2])
    listed = tmp_path / "train.txt"
    listed.write_text("my clips/a, the first.mp4 1\nb,c.mp4 0\nd.mp4,2\n# a comment\n\n")
    source = load_video_source(list_file=listed)
    assert _names(source, tmp_path) == ["my clips/a, the first.mp4", "b,c.mp4", "d.mp4"]
    assert [s.label for s in source.samples] == [1, 0, 2] and source.label_names == ["0", "1", "2"]
    assert all(Path(s.video).is_file() for s in source.samples)
    (tmp_path / "bad.txt").write_text("d.mp4 cat\n")
    with pytest.raises(ValueError, match=r"bad\.txt:1: expected '<path> <integer label>'"):
        load_video_source(list_file=tmp_path / "bad.txt")

    # pre-training: bare paths, or labelled lines whose labels it ignores
    (tmp_path / "paths.txt").write_text("my clips/a, the first.mp4\nb,c.mp4 0\nd.mp4\n")
    unlabelled = load_video_source(list_file=tmp_path / "paths.txt", labelled=False)
    assert _names(unlabelled, tmp_path) == ["my clips/a, the first.mp4", "b,c.mp4", "d.mp4"]
    assert {s.label for s in unlabelled.samples} == {-1} and unlabelled.label_names == []


def test_pretraining_data_needs_no_labels(clips, tmp_path):
    flat = tmp_path / "flat"
    for i, clip in enumerate(clips[:3]):
        _put(flat / f"video_{i}.mp4", clip)
    source = load_video_source(data_dir=flat, labelled=False)
    assert _names(source, flat) == ["video_0.mp4", "video_1.mp4", "video_2.mp4"] and source.label_names == []
    # labelled data (fine-tuning) still needs class folders, and says so
    with pytest.raises(FileNotFoundError, match=r"found 3 video\(s\) directly in it but no class folder.*flat folder"):
        load_video_source(data_dir=flat)
    unlabelled = datasets.Dataset.from_dict({"video": [str(c) for c in clips[:3]]})
    assert [s.label for s in hf_dataset_source(unlabelled, label_column_name=None)] == [-1, -1, -1]


def test_run_pretraining_trains_on_a_flat_folder(clips, tmp_path):
    """`run_pretraining.py --train_dir <flat folder>` trains (it stopped with FileNotFoundError '<dir>'/<class>/)."""
    flat = tmp_path / "flat"
    for i, clip in enumerate(clips):
        _put(flat / f"video_{i}.mp4", clip)
    tiny = (
        "image_size=32,patch_size=8,num_frames=4,hidden_size=32,num_hidden_layers=1,num_attention_heads=2,"
        "intermediate_size=64,decoder_hidden_size=32,decoder_num_hidden_layers=1,decoder_num_attention_heads=2,"
        "decoder_intermediate_size=64,sampler_num_attention_heads=2"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", ADAMAE_HF_CACHE=str(tmp_path / "cache"))
    env.pop("ACCELERATE_CONFIG_FILE", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_pretraining.py"), "--recipe", "synthetic-demo", "--train_dir", str(flat), "--config_overrides",
         tiny, "--per_device_train_batch_size", "2", "--max_train_steps", "1", "--output_dir", str(tmp_path / "out"),
         "--dataloader_num_workers", "0", "--disable_tqdm", "--num_visualizations", "0"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (tmp_path / "out" / "config.json").is_file()
