"""Checkpoints saved by an earlier version of this package still load and give the outputs they gave then.

The fixtures in `tests/fixtures/legacy/` were written by `tests/fixtures/make_legacy_checkpoints.py` with the code of
commit 49e66da (before the attention interface and the final-norm config of issue 13), together with fixed inputs
and that code's outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForPreTraining, AutoModelForVideoClassification

from adamae_hf import AdaMAEForPreTraining, AdaMAEForVideoClassification


LEGACY = Path(__file__).parent / "fixtures" / "legacy"


@pytest.fixture(scope="module")
def reference():
    return load_file(LEGACY / "reference_outputs.safetensors")


def close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("loader", [AdaMAEForPreTraining, AutoModelForPreTraining])
def test_legacy_pretraining_checkpoint_gives_the_same_outputs(reference, loader, attn_implementation):
    model = loader.from_pretrained(LEGACY / "pretraining", attn_implementation=attn_implementation).eval()
    assert isinstance(model, AdaMAEForPreTraining)
    with torch.no_grad():
        outputs = model(reference["pixel_values"], bool_masked_pos=reference["bool_masked_pos"], output_attentions=True)
        plain = model(reference["pixel_values"], bool_masked_pos=reference["bool_masked_pos"])
    for name in ("loss", "reconstruction_loss", "sampling_loss", "logits", "token_probabilities"):
        close(getattr(outputs, name), reference[f"pretraining.{name}"])
        close(getattr(plain, name), reference[f"pretraining.{name}"])
    close(outputs.attentions[0], reference["pretraining.attentions.0"])


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("loader", [AdaMAEForVideoClassification, AutoModelForVideoClassification])
def test_legacy_classification_checkpoint_gives_the_same_outputs(reference, loader, attn_implementation):
    model = loader.from_pretrained(LEGACY / "classification", attn_implementation=attn_implementation).eval()
    assert isinstance(model, AdaMAEForVideoClassification)
    with torch.no_grad():
        outputs = model(
            reference["pixel_values"], labels=reference["labels"], output_attentions=True, output_hidden_states=True
        )
        plain = model(reference["pixel_values"], labels=reference["labels"])
    for name in ("loss", "logits"):
        close(getattr(outputs, name), reference[f"classification.{name}"])
        close(getattr(plain, name), reference[f"classification.{name}"])
    close(outputs.hidden_states[-1], reference["classification.last_hidden_state"])
    close(outputs.attentions[0], reference["classification.attentions.0"])
