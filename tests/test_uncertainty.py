"""Tests of MC Dropout mode switching, uncertainty measures, temperature scaling, the shift score and metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ecgshift.evaluation import binary_metrics, expected_calibration_error
from ecgshift.shift import FeatureDensity
from ecgshift.uncertainty import Predictions, entropy, fit_temperature, mc_dropout, mutual_information, summarize_samples




def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(1, 4, 3),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * 8, 2)),
    )


def _modes(module: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in module.named_modules()}


# ---------------------------------------------------------------- mc_dropout


@pytest.mark.parametrize("start_in_train_mode", [True, False])
def test_mc_dropout_trains_only_dropout_modules_and_keeps_batchnorm_in_eval(start_in_train_mode: bool) -> None:
    net = _net().train(start_in_train_mode)
    with mc_dropout(net) as inside:
        assert inside is net
        for name, m in net.named_modules():
            assert m.training == isinstance(m, nn.Dropout), f"{name or 'root'} ({type(m).__name__}) has training={m.training}"
        bn = net[1]
        x = torch.randn(6, 1, 10)
        before = bn.running_mean.clone()
        net(x)
        torch.testing.assert_close(bn.running_mean, before)  # eval BatchNorm: running stats untouched


def test_mc_dropout_restores_every_modules_previous_mode() -> None:
    net = _net().eval()
    net[1].train()  # a mixed state: BatchNorm in train, rest in eval
    net[5][0].eval()
    before = _modes(net)
    with mc_dropout(net):
        pass
    assert _modes(net) == before


def test_mc_dropout_restores_modes_after_an_exception_inside() -> None:
    net = _net().train()
    before = _modes(net)
    with pytest.raises(RuntimeError, match="boom"):
        with mc_dropout(net):
            raise RuntimeError("boom")
    assert _modes(net) == before


def test_mc_dropout_samples_differ_between_passes() -> None:
    torch.manual_seed(0)
    net = _net().eval()
    x = torch.randn(4, 1, 10)
    with torch.no_grad(), mc_dropout(net):
        a, b = net(x), net(x)
    assert not torch.allclose(a, b)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x))  # back in eval: deterministic


# ---------------------------------------------------------------- entropy and mutual information


def test_entropy_of_a_fair_coin_is_ln_2() -> None:
    assert entropy(np.array([0.5, 0.5])) == pytest.approx(math.log(2))


def test_entropy_of_a_certain_prediction_is_zero_and_works_along_an_axis() -> None:
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]])
    h = entropy(p)
    assert h.shape == (3,)
    assert h[0] == pytest.approx(0.0, abs=1e-9)
    assert h[1] == pytest.approx(math.log(2))
    assert h[2] == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))
    np.testing.assert_allclose(entropy(p.T, axis=0), h)


def test_mutual_information_is_zero_when_all_samples_agree() -> None:
    one = np.array([[0.3, 0.7], [0.5, 0.5], [0.99, 0.01]])
    samples = np.repeat(one[None], 10, axis=0)
    np.testing.assert_allclose(mutual_information(samples), 0.0, atol=1e-9)


def test_mutual_information_is_positive_when_samples_disagree() -> None:
    samples = np.array([[[0.9, 0.1]], [[0.1, 0.9]]])  # two confident passes that disagree
    mi = mutual_information(samples)
    assert mi.shape == (1,)
    assert mi[0] > 0.3
    assert mi[0] <= entropy(samples.mean(0))[0] + 1e-12  # never more than the total uncertainty


def test_summarize_samples_gives_mean_p_af_entropy_and_spread() -> None:
    samples = np.array([[[0.8, 0.2], [0.5, 0.5]], [[0.6, 0.4], [0.5, 0.5]]])
    stats = summarize_samples(samples)
    np.testing.assert_allclose(stats.p_af, [0.3, 0.5])
    np.testing.assert_allclose(stats.entropy, entropy(np.array([[0.7, 0.3], [0.5, 0.5]])))
    np.testing.assert_allclose(stats.std, [0.1, 0.0], atol=1e-12)
    assert stats.mutual_info[1] == pytest.approx(0.0, abs=1e-12) and stats.mutual_info[0] > 0


# ---------------------------------------------------------------- temperature scaling


def test_fit_temperature_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    t_true, n = 2.5, 20_000
    logits = rng.normal(0.0, 4.0, size=(n, 2))
    shifted = logits / t_true
    p = np.exp(shifted - shifted.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    labels = (rng.random(n) < p[:, 1]).astype(np.int64)
    t_fit = fit_temperature(logits, labels)
    assert t_fit == pytest.approx(t_true, rel=0.10)


def test_fit_temperature_ignores_zero_weight_examples() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    logits = rng.normal(0.0, 3.0, size=(n, 2))
    p_af = 1 / (1 + np.exp(-(logits[:, 1] - logits[:, 0])))  # T = 1
    labels = (rng.random(n) < p_af).astype(np.int64)
    garbage = np.concatenate([logits, rng.normal(0, 3.0, size=(n, 2))])
    noise_labels = np.concatenate([labels, rng.integers(0, 2, n)])
    weights = np.concatenate([np.ones(n), np.zeros(n)])
    assert fit_temperature(garbage, noise_labels, weights=weights) == pytest.approx(fit_temperature(logits, labels), rel=1e-3)


# ---------------------------------------------------------------- shift score


@pytest.fixture(scope="module")
def density_data() -> tuple[np.ndarray, np.ndarray, FeatureDensity]:
    rng = np.random.default_rng(0)
    n, d = 2000, 8
    labels = rng.integers(0, 2, n)
    features = rng.standard_normal((n, d)) + labels[:, None] * 2.0
    return features, labels, FeatureDensity().fit(features, labels)


def test_training_features_score_mostly_at_most_one(density_data) -> None:
    features, _, density = density_data
    share = np.mean(density.score(features) <= 1.0)
    assert share == pytest.approx(0.95, abs=0.01)


def test_new_features_from_the_training_distribution_score_mostly_at_most_one(density_data) -> None:
    _, _, density = density_data
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 2000)
    fresh = rng.standard_normal((2000, 8)) + labels[:, None] * 2.0
    assert np.mean(density.score(fresh) <= 1.0) > 0.9


def test_features_shifted_by_ten_std_score_far_above_one(density_data) -> None:
    features, _, density = density_data
    shifted = features[:200] + 10.0 * features.std(axis=0)
    assert np.min(density.score(shifted)) > 3.0


def test_feature_density_round_trip_through_tensors_gives_identical_scores(density_data) -> None:
    features, _, density = density_data
    tensors = {k: torch.from_numpy(np.asarray(v, np.float64)) for k, v in density.to_tensors().items()}
    restored = FeatureDensity.from_tensors({k: v.numpy() for k, v in tensors.items()})
    np.testing.assert_array_equal(restored.score(features), density.score(features))


# ---------------------------------------------------------------- metrics


def test_perfect_predictor_scores_one_with_intervals_containing_the_point() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.where(y == 1, rng.uniform(0.8, 1.0, y.size), rng.uniform(0.0, 0.2, y.size))
    m = binary_metrics(y, p, n_boot=100)
    assert m.n == 300 and m.n_af == int(y.sum())
    for name in ("accuracy", "sensitivity", "specificity", "auroc", "f1"):
        estimate = getattr(m, name)
        assert estimate.value == 1.0, name
        assert estimate.low <= estimate.value <= estimate.high, name


def test_metric_intervals_contain_the_point_for_an_imperfect_predictor() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.3, y.size), 0, 1)
    m = binary_metrics(y, p, n_boot=100)
    for name in ("accuracy", "sensitivity", "specificity", "f1", "auroc", "brier", "ece"):
        estimate = getattr(m, name)
        assert estimate.low <= estimate.value <= estimate.high, name
        assert estimate.high > estimate.low, name
    assert 0.5 < m.accuracy.value < 1.0


def test_ece_is_small_for_calibrated_and_large_for_overconfident_probabilities() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    p = rng.uniform(0, 1, n)
    y = (rng.random(n) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.03
    overconfident = np.where(p >= 0.5, 0.99, 0.01)
    assert expected_calibration_error(y, overconfident) > 0.15


def test_cluster_bootstrap_gives_wider_intervals_than_per_window_for_correlated_groups() -> None:
    rng = np.random.default_rng(0)
    n_groups, per_group = 30, 40
    groups = np.repeat(np.arange(n_groups), per_group)
    y = rng.integers(0, 2, groups.size)
    group_correct = rng.random(n_groups) < 0.7  # a whole record is right or wrong together
    right = group_correct[groups]
    p = np.where(right, np.where(y == 1, 0.9, 0.1), np.where(y == 1, 0.1, 0.9))
    per_window = binary_metrics(y, p, n_boot=100)
    clustered = binary_metrics(y, p, groups=groups, n_boot=100)
    assert clustered.accuracy.value == per_window.accuracy.value
    width_window = per_window.accuracy.high - per_window.accuracy.low
    width_cluster = clustered.accuracy.high - clustered.accuracy.low
    assert width_cluster > 3 * width_window


def _predictions(p_af) -> Predictions:
    n = len(p_af)
    zeros = np.zeros(n)
    return Predictions(p_af=np.asarray(p_af, float), entropy=zeros, mutual_info=zeros, std=zeros, modality=np.full(n, "hecg"),
                       modality_p=np.ones(n), shift_score=zeros, refer=np.zeros(n, bool), start_s=np.arange(n) * 10.0)


def test_fused_predictions_are_labelled_by_the_fused_p_and_keep_the_networks_own() -> None:
    network = _predictions([0.9, 0.2, 0.6])
    fused = network.with_fused([0.1, 0.3, 0.7], threshold=0.65)
    assert network.decided_by == "network" and fused.decided_by == "network+rhythm"
    assert list(fused.label) == ["SR", "SR", "AF"]
    np.testing.assert_allclose(fused.p_af_network, [0.9, 0.2, 0.6])
    np.testing.assert_allclose(fused.with_fused([0.5, 0.5, 0.5]).p_af_network, [0.9, 0.2, 0.6])  # fusing again keeps the network's
    assert list(fused.to_frame().columns[-1:]) == ["p_af_network"] and "p_af_network" not in network.to_frame()
    with pytest.raises(ValueError, match="shape"):
        network.with_fused([0.5, 0.5])


def test_a_subset_of_predictions_keeps_every_per_window_array_and_the_threshold() -> None:
    fused = _predictions([0.9, 0.2, 0.6]).with_fused([0.1, 0.3, 0.7], threshold=0.65)
    part = fused.subset(np.array([False, True, True]))
    assert len(part) == 2 and part.threshold == 0.65 and part.decided_by == "network+rhythm"
    np.testing.assert_allclose(part.p_af, [0.3, 0.7])
    np.testing.assert_allclose(part.p_af_network, [0.2, 0.6])
    np.testing.assert_allclose(part.start_s, [10.0, 20.0])
    assert list(fused.subset(np.array([2, 0])).label) == ["AF", "SR"]


def test_a_nan_probability_never_becomes_a_label() -> None:
    n = 3
    pred = Predictions(p_af=np.array([np.nan, 0.9, 0.1]), entropy=np.zeros(n), mutual_info=np.zeros(n), std=np.zeros(n),
                       modality=np.array(["tecg"] * n), modality_p=np.ones(n), shift_score=np.zeros(n), refer=np.zeros(n, bool),
                       start_s=np.arange(n) * 10.0)
    assert list(pred.label) == ["", "AF", "SR"]
