import logging

import pytest
from hypothesis import HealthCheck, settings

from adamae_hf.data import generate_synthetic_dataset


# Property-based tests (tests/test_properties.py): 30 examples each by default, which keeps the file to seconds;
# `pytest tests/test_properties.py --hypothesis-profile=thorough` runs 500 each.
settings.register_profile("fast", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fast")


@pytest.fixture(scope="session", autouse=True)
def frame_index_cache(tmp_path_factory):
    """The reader's on-disk frame-index cache in a temporary folder, not the user's ``~/.cache`` (also for the
    scripts the tests start as subprocesses, which inherit the environment)."""
    folder = tmp_path_factory.mktemp("frame_index")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAMAE_FRAME_INDEX_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def data_synthetic_dir(tmp_path_factory):
    """A tiny synthetic dataset: 4 classes, 3 train + 2 validation clips each, 16 frames at 32x32."""
    return generate_synthetic_dataset(
        tmp_path_factory.mktemp("synthetic") / "data",
        seed=0, num_classes=4, train_per_class=3, val_per_class=2, num_frames=16, image_size=32,
    )


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def load_warnings():
    """The warnings of transformers' loading code (where its load-report table is logged), as a list of messages."""
    handler = _Records()
    modeling_logger = logging.getLogger("transformers.modeling_utils")
    modeling_logger.addHandler(handler)
    yield handler.messages
    modeling_logger.removeHandler(handler)
