"""Mixed precision asked for on CPU (the flag, or Accelerate's config through ACCELERATE_MIXED_PRECISION): both
scripts train in fp32 where it would be several times slower (fp16; bf16 on a CPU without bf16 instructions) and say
so in one line; bf16 stays on a CPU that has them (benchmarks/bench_cpu_mixed_precision.py)."""

from __future__ import annotations

import logging

import pytest
import test_pretraining

from adamae_hf import training as P
from adamae_hf.training import precision


@pytest.fixture
def no_bf16_cpu(monkeypatch):
    """A CPU without bf16 instructions (an AVX2 one), on any machine."""
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)


script, cache_dir = test_pretraining.script, test_pretraining.cache_dir


@pytest.mark.parametrize("flag, environment", [("bf16", None), (None, "bf16"), ("fp16", None)])
def test_pretraining_on_cpu_runs_fp32_with_a_line(no_bf16_cpu, script, tmp_path, monkeypatch, caplog, flag, environment):
    if environment:
        monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", environment)
    args = script.parse_args(["--output_dir", str(tmp_path / "out"), *(["--mixed_precision", flag] if flag else [])])
    test_pretraining._reset_accelerate()
    try:
        with caplog.at_level(logging.WARNING):
            accelerator = script.build_accelerator(args)
        assert accelerator.device.type == "cpu" and accelerator.mixed_precision == "no"
    finally:
        test_pretraining._reset_accelerate()
    asked = flag or environment
    assert f"mixed precision {asked} on CPU: training in fp32 instead" in caplog.text


def test_accelerators_keep_the_requested_precision(monkeypatch):
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    assert P.precision_for_device("bf16", "cuda") == ("bf16", None)
    assert P.precision_for_device(None, "cpu") == (None, None)
    assert P.precision_for_device("no", "cpu") == ("no", None)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert P.precision_for_device("bf16", "cpu") == ("bf16", None)  # a CPU with bf16 instructions keeps it
    assert P.precision_for_device("fp16", "cpu")[0] == "no"


def test_finetuning_use_cpu_bf16_runs_fp32_with_a_line(no_bf16_cpu, data_synthetic_dir, tmp_path, caplog, monkeypatch):
    import test_output_dirs

    captured = {}
    original = test_output_dirs.run_finetuning.VideoClassificationTrainer.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        captured["mixed_precision"] = self.accelerator.mixed_precision

    monkeypatch.setattr(test_output_dirs.run_finetuning.VideoClassificationTrainer, "__init__", record)
    argv = ["--recipe", "synthetic-demo", "--train_dir", str(data_synthetic_dir), "--output_dir", str(tmp_path / "out"), "--use_cpu", "--bf16",
            *test_output_dirs.FINETUNE_ARGS]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        test_output_dirs.run_finetuning.main(argv)
    assert captured["mixed_precision"] == "no"
    assert "mixed precision bf16 on CPU: training in fp32 instead" in caplog.text
