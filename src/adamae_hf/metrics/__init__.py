"""`evaluate` metric modules shipped with the package (loadable offline by path)."""

from pathlib import Path


# `evaluate.load(VIDEO_ACCURACY_PATH)`: top-1 / top-5 / per-class accuracy of video classification scores.
VIDEO_ACCURACY_PATH = str(Path(__file__).with_name("video_accuracy.py"))

__all__ = ["VIDEO_ACCURACY_PATH"]
