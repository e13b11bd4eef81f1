"""benchmarks/ablation_masking.py's linear probe: the classifier and the frozen features it reads (the ablation's
runs themselves are benchmarks, not tests)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import ablation_masking  # noqa: E402


def blobs(num_per_class: int, num_classes: int, dim: int, separation: float, seed: int, noise_seed: int):
    """Gaussian classes around centres drawn from `seed`; the noise around them from `noise_seed`."""
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    labels = np.repeat(np.arange(num_classes), num_per_class)
    noise = torch.randn(len(labels), dim, generator=torch.Generator().manual_seed(noise_seed), dtype=torch.float64)
    return centres[labels] * separation + noise, labels


def test_linear_probe_separates_separable_features():
    train_x, train_y = blobs(64, 8, 16, separation=6.0, seed=0, noise_seed=1)
    val_x, val_y = blobs(16, 8, 16, separation=6.0, seed=0, noise_seed=2)  # the same classes, new samples
    predictions, _ = ablation_masking.linear_probe(train_x, train_y, val_x, 8)
    assert predictions.shape == val_y.shape
    assert (predictions == val_y).mean() == 1.0


def test_linear_probe_is_at_chance_on_features_unrelated_to_the_labels():
    generator = torch.Generator().manual_seed(0)
    train_x = torch.randn(512, 16, generator=generator, dtype=torch.float64)
    val_x = torch.randn(2048, 16, generator=generator, dtype=torch.float64)
    train_y, val_y = np.arange(512) % 8, np.arange(2048) % 8
    accuracy = (ablation_masking.linear_probe(train_x, train_y, val_x, 8)[0] == val_y).mean()
    assert 0.08 < accuracy < 0.18  # chance 0.125; 2048 draws: the standard error is 0.007


def test_linear_probe_is_deterministic_and_scale_free():
    train_x, train_y = blobs(32, 4, 8, separation=1.0, seed=2, noise_seed=3)
    val_x, _ = blobs(8, 4, 8, separation=1.0, seed=2, noise_seed=4)
    first = ablation_masking.linear_probe(train_x, train_y, val_x, 4)
    again = ablation_masking.linear_probe(train_x.clone(), train_y, val_x.clone(), 4)
    rescaled = ablation_masking.linear_probe(train_x * 1e3 + 5, train_y, val_x * 1e3 + 5, 4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[0], rescaled[0])  # standardised with the train statistics
    assert first[1] == again[1] == rescaled[1]


def test_cross_validation_chooses_a_penalty_where_no_penalty_overfits():
    """40 training clips, 61 features that each carry a little of the label: unpenalised, the probe fits the noise;
    the cross-validated penalty generalises better (measured: 84.3 % unpenalised, 88.9 % with the chosen weight)."""
    generator = torch.Generator().manual_seed(0)

    def sample(n):
        labels = np.arange(n) % 2
        features = torch.randn(n, 61, generator=generator, dtype=torch.float64)
        features += torch.from_numpy(labels * 2.0 - 1.0)[:, None] * 0.2
        return features, labels

    (train_x, train_y), (val_x, val_y) = sample(40), sample(2000)
    unpenalised, _ = ablation_masking.linear_probe(train_x, train_y, val_x, 2, l2_grid=(0.0,))
    chosen_predictions, chosen = ablation_masking.linear_probe(train_x, train_y, val_x, 2)
    assert chosen > 0
    assert (chosen_predictions == val_y).mean() > (unpenalised == val_y).mean() + 0.02


def test_encoder_features_are_the_mean_of_the_final_hidden_state():
    from adamae_hf import AdaMAEForPreTraining
    from adamae_hf.data import EvalTransform
    from adamae_hf.presets import preset_config

    torch.manual_seed(0)
    model = AdaMAEForPreTraining(preset_config("tiny", num_hidden_layers=1, decoder_num_hidden_layers=1))
    clips = np.random.default_rng(0).integers(0, 256, (3, 16, 64, 64, 3), dtype=np.uint8)
    features = ablation_masking.encoder_features(model.adamae, clips, num_frames=8, stride=2, device="cpu")
    assert features.shape == (3, 128) and features.dtype == torch.float64
    window = torch.from_numpy(clips[:, 0:15:2].copy())  # 16 frames, 8 at stride 2: span 15, centred start 0
    with torch.no_grad():
        expected = model.adamae(EvalTransform(64)(window)).last_hidden_state.mean(1).double()
    torch.testing.assert_close(features, expected)


@pytest.mark.parametrize("evaluation", ["finetune", "linear_probe"])
def test_table_names_the_evaluation(evaluation):
    run = {"arm": "none", "seed": 0, "top1": 50.0, "per_class_top1": {"left": 50.0}, "seconds": 60.0,
           "recipe": {"val_per_class": 32}}  # fmt: skip
    table = ablation_masking.markdown([run], ["none"], "cmd", 60.0, evaluation)
    assert ("linear-probe top-1 %" in table) == (evaluation == "linear_probe")
    assert ("linear probe on the frozen encoder" in table) == (evaluation == "linear_probe")


def run_result(arm: str, seed: int, top1: float) -> dict:
    return {"arm": arm, "seed": seed, "top1": top1, "per_class_top1": {"left": top1}, "seconds": 60.0,
            "recipe": {"val_per_class": 32}}  # fmt: skip


def test_paired_differences_are_per_seed_over_the_seeds_both_arms_ran():
    results = [run_result("adaptive-95", 0, 40.0), run_result("adaptive-95", 1, 50.0), run_result("tube-95", 0, 45.0),
               run_result("tube-95", 1, 44.0), run_result("tube-95", 2, 30.0)]  # fmt: skip
    assert ablation_masking.paired_differences(results, "tube-95", "adaptive-95") == {0: 5.0, 1: -6.0}


def test_table_has_the_paired_comparison_and_the_visible_tokens():
    results = [run_result("adaptive-95", 0, 40.0), run_result("adaptive-95", 1, 50.0), run_result("tube-95", 0, 45.0),
               run_result("tube-95", 1, 44.0)]  # fmt: skip
    table = ablation_masking.markdown(results, ["adaptive-95", "tube-95", "motion-95"], "cmd", 60.0, "linear_probe")
    assert "| tube-95 | +5.0 (seed 0), -6.0 (seed 1) | -0.5 ± 7.8 | 1 of 2 | -0.09 (1) |" in table
    assert "| adaptive-95 | mask_type=adaptive, mask_ratio=0.95 | 12 of 256 |" in table
    assert "| tube-95 | mask_type=tube, mask_ratio=0.95 | 16 of 256 |" in table  # VideoMAE's count: 4 per slice
    assert "| motion-95 | no run finished yet |" in table


def test_paired_t_is_the_mean_difference_over_its_standard_error():
    """t = mean / (std / sqrt(n)) with n - 1 degrees of freedom, starred beyond the two-sided 5 % critical value
    (2.78 at 4 degrees of freedom): the linear probe's untrained arm against adaptive 95 %, and tube 95 %."""
    assert ablation_masking.paired_t_cell([12.5, 10.2, 4.3, 18.8, 16.0]) == "+4.96 (4) *"
    assert ablation_masking.paired_t_cell([-8.2, -7.4, -18.8, -3.5, 19.1]) == "-0.60 (4)"
    assert ablation_masking.paired_t_cell([3.0]) == "-" and ablation_masking.paired_t_cell([2.0, 2.0]) == "-"


def test_the_paper_group_names_the_issue_arms():
    assert ablation_masking.ARM_GROUPS["paper"] == [
        "adaptive-95", "tube-95", "random-95", "motion-95", "tube", "adaptive", "none"
    ]  # fmt: skip
    for arm in ablation_masking.ARM_GROUPS["paper"]:
        assert arm in ablation_masking.ARMS
