"""Layer-wise lr decay and weight-decay groups of the fine-tuning optimizer (adamae_hf.optimization)."""

import pytest
import torch
from transformers import TrainingArguments

from adamae_hf import AdaMAEForPreTraining, AdaMAEForVideoClassification
from adamae_hf.finetuning import VideoClassificationTrainer
from adamae_hf.optimization import parameter_groups
from adamae_hf.presets import preset_config


DEPTH = 3
TINY = dict(
    image_size=32, hidden_size=32, num_hidden_layers=DEPTH, num_attention_heads=2, intermediate_size=64,
    decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_intermediate_size=32,
    sampler_num_attention_heads=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def classifier():
    return AdaMAEForVideoClassification(preset_config("tiny", num_labels=5, **TINY))


def _lr_and_wd(groups):
    return {name: (g["lr"], g["weight_decay"]) for g in groups for name in g["names"]}


def test_layer_decay_learning_rates(classifier):
    base = 1e-3
    lrs = _lr_and_wd(parameter_groups(classifier, base, 0.05, layer_decay=0.75))
    assert set(lrs) == {n for n, p in classifier.named_parameters() if p.requires_grad}
    for name, (lr, _) in lrs.items():
        if ".encoder.layer." in name:
            block = int(name.split(".encoder.layer.")[1].split(".")[0])
            assert lr == pytest.approx(base * 0.75 ** (DEPTH - block)), name
        elif ".embeddings." in name:
            assert lr == pytest.approx(base * 0.75 ** (DEPTH + 1)), name
        else:  # fc_norm and the classifier
            assert name.startswith(("fc_norm", "classifier")), name
            assert lr == pytest.approx(base), name
    # every block appears, with strictly increasing lr
    block_lrs = sorted({lr for name, (lr, _) in lrs.items() if ".encoder.layer." in name})
    assert len(block_lrs) == DEPTH


def test_no_weight_decay_on_biases_norms_position_embeddings(classifier):
    lrs = _lr_and_wd(parameter_groups(classifier, 1e-3, 0.05, layer_decay=0.75))
    for name, (_, wd) in lrs.items():
        parameter = dict(classifier.named_parameters())[name]
        no_decay = name.endswith("bias") or "norm" in name or "position_embeddings" in name or parameter.ndim < 2
        assert wd == (0.0 if no_decay else 0.05), name
    assert any(wd == 0.05 for _, wd in lrs.values())


def test_no_weight_decay_on_mask_token_and_sampler_positions():
    model = AdaMAEForPreTraining(preset_config("tiny", **TINY))
    wd = {name: w for name, (_, w) in _lr_and_wd(parameter_groups(model, 1e-3, 0.05)).items()}
    assert wd["mask_token"] == 0.0
    assert all(w == 0.0 for name, w in wd.items() if "position_embeddings" in name)


def released_decays(name: str, parameter: torch.Tensor, skip_list=("pos_embed", "cls_token", "mask_token")) -> bool:
    """wgcban/adamae optim_factory.get_parameter_groups: no decay for 1-D tensors, biases and the model's
    no_weight_decay() names (pre-training: pos_embed, cls_token, mask_token; fine-tuning: pos_embed, cls_token)."""
    return not (len(parameter.shape) == 1 or name.endswith(".bias") or name in skip_list)


def test_released_weight_decay_groups(classifier):
    model = AdaMAEForPreTraining(preset_config("tiny", **TINY))
    wd = {name: w for name, (_, w) in _lr_and_wd(parameter_groups(model, 1e-3, 0.05, decay_sampler_positions=True)).items()}
    assert wd == {name: 0.05 if released_decays(name, p) else 0.0 for name, p in model.named_parameters()}
    assert wd["token_sampler.position_embeddings"] == 0.05  # released pos_embed_probs: 3-D, not in the skip list
    groups = parameter_groups(classifier, 1e-3, 0.05, layer_decay=0.75, decay_sampler_positions=True)
    wd = {name: w for name, (_, w) in _lr_and_wd(groups).items()}
    assert wd == {name: 0.05 if released_decays(name, p, ("pos_embed", "cls_token")) else 0.0
                  for name, p in classifier.named_parameters()}  # fmt: skip


def test_trainer_optimizer_and_schedule_keep_layer_ratios(classifier, tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path), learning_rate=2e-3, weight_decay=0.05, lr_scheduler_type="cosine",
        warmup_steps=2, report_to="none", remove_unused_columns=False, use_cpu=True,
    )  # fmt: skip
    trainer = VideoClassificationTrainer(model=classifier, args=args, layer_decay=0.75)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    optimizer = trainer.optimizer
    assert isinstance(optimizer, torch.optim.AdamW)
    scales = [g["lr_scale"] for g in optimizer.param_groups]
    assert min(scales) == pytest.approx(0.75 ** (DEPTH + 1)) and max(scales) == pytest.approx(1.0)
    for _ in range(4):
        optimizer.step()
        trainer.lr_scheduler.step()
    lrs = [g["lr"] for g in optimizer.param_groups]
    top = max(lrs)
    assert 0 < top < 2e-3
    for lr, scale in zip(lrs, scales):
        assert lr == pytest.approx(top * scale)
