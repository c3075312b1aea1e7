"""Tests of the model zoo: the shared contract, over every registered model."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from ecgshift.models import (
    CRNN,
    ConvTransformer,
    ModelInfo,
    ResNet1d,
    create_model,
    list_models,
    model_info,
    register_model,
)
from ecgshift.models._layers import kernel_samples

FS = 100.0
WINDOW_S = 10.0
N_SAMPLES = 1000
N_CLASSES = 2
MODEL_NAMES = list_models()




def make(name: str, n_leads: int = 1, **kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, n_leads=n_leads, n_classes=N_CLASSES, fs=FS, window_s=WINDOW_S, **kwargs)


def trunk_modules(model: nn.Module) -> list[nn.Module]:
    """Every module outside ``model.head``."""
    return [m for key, child in model.named_children() if key != "head" for m in child.modules()]


def set_only_dropout_to_train(model: nn.Module) -> None:
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train()


def test_registry_lists_the_three_models_sorted() -> None:
    assert MODEL_NAMES == ["crnn", "resnet1d", "transformer"]


@pytest.mark.parametrize(
    ("name", "cls"), [("resnet1d", ResNet1d), ("crnn", CRNN), ("transformer", ConvTransformer)]
)
def test_create_model_builds_the_registered_class(name: str, cls: type) -> None:
    model = make(name)
    assert type(model) is cls
    assert cls.name == name


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("n_leads", [1, 12])
def test_forward_and_backward_give_finite_logits_and_gradients(name: str, n_leads: int) -> None:
    model = make(name, n_leads=n_leads).train()
    x = torch.randn(4, n_leads, N_SAMPLES)
    logits = model(x)
    assert logits.shape == (4, N_CLASSES)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    features = model.forward_features(x)
    assert features.shape == (4, model.n_features)
    assert isinstance(model.head, nn.Sequential) and isinstance(model.head[0], nn.Dropout)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_head_placement_keeps_trunk_free_of_dropout(name: str) -> None:
    head_only = make(name, dropout_placement="head")
    assert not any(isinstance(m, nn.Dropout) for m in trunk_modules(head_only))
    everywhere = make(name, dropout_placement="all")
    assert any(isinstance(m, nn.Dropout) for m in trunk_modules(everywhere))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_head_dropout_makes_train_passes_differ_and_eval_passes_identical(name: str) -> None:
    model = make(name, dropout=0.5)
    x = torch.randn(4, 1, N_SAMPLES)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_mc_dropout_with_head_placement_resamples_only_the_head(name: str) -> None:
    model = make(name, dropout=0.5, dropout_placement="head")
    set_only_dropout_to_train(model)
    x = torch.randn(4, 1, N_SAMPLES)
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), model.forward_features(x))
        features = model.forward_features(x)
        assert not torch.equal(model.forward_head(features), model.forward_head(features))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_mc_dropout_with_all_placement_makes_the_trunk_stochastic(name: str) -> None:
    # Guards against fused inference paths (e.g. nn.TransformerEncoderLayer's) that skip dropout.
    model = make(name, dropout=0.5, dropout_placement="all")
    set_only_dropout_to_train(model)
    x = torch.randn(4, 1, N_SAMPLES)
    with torch.no_grad():
        assert not torch.equal(model.forward_features(x), model.forward_features(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_gives_same_weights_and_outputs(name: str) -> None:
    a, b = make(name).eval(), make(name).eval()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    x = torch.randn(2, 1, N_SAMPLES)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("n_samples", [900, 3000])
def test_inputs_of_other_lengths_are_accepted(name: str, n_samples: int) -> None:
    model = make(name).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 1, n_samples))
    assert logits.shape == (2, N_CLASSES) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("fs", [128.0, 500.0])
def test_models_built_for_other_sampling_rates_run_on_their_windows(name: str, fs: float) -> None:
    torch.manual_seed(0)
    model = create_model(name, n_leads=1, n_classes=N_CLASSES, fs=fs, window_s=WINDOW_S).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 1, round(fs * WINDOW_S)))
    assert logits.shape == (2, N_CLASSES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reset_classifier_changes_the_number_of_outputs(name: str) -> None:
    model = make(name)
    model.reset_classifier(5)
    assert model(torch.randn(2, 1, N_SAMPLES)).shape == (2, 5)
    assert model.n_classes == 5 and isinstance(model.head[0], nn.Dropout)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_dropout_placement_raises_value_error_naming_accepted_values(name: str) -> None:
    with pytest.raises(ValueError, match=r"'head', 'all'.*'middle'"):
        make(name, dropout_placement="middle")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_wrong_number_of_leads_raises_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="12"):
        make(name, n_leads=12)(torch.randn(2, 1, N_SAMPLES))


def test_unknown_model_name_raises_key_error_listing_registered_names() -> None:
    with pytest.raises(KeyError, match="crnn, resnet1d, transformer"):
        create_model("ResNet1d", n_leads=1, n_classes=2, fs=FS, window_s=WINDOW_S)


def test_registering_another_factory_under_a_taken_name_raises() -> None:
    def resnet1d(**kwargs: object) -> nn.Module:
        return nn.Identity()

    with pytest.raises(ValueError, match="resnet1d"):
        register_model(resnet1d)
    assert type(make("resnet1d")) is ResNet1d


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_info_reports_positive_params_and_mflops(name: str) -> None:
    info = model_info(name)
    assert isinstance(info, ModelInfo) and info.name == name
    assert info.n_params == sum(p.numel() for p in make(name).parameters()) > 0
    assert 0 < info.mflops_per_window < 60
    assert model_info(name, n_leads=12).mflops_per_window > info.mflops_per_window


def test_resnet1d_stays_within_its_budget() -> None:
    info = model_info("resnet1d")
    assert 100_000 <= info.n_params <= 400_000
    assert info.mflops_per_window < 30


def test_transformer_tokenizer_gives_25_to_50_tokens_per_10_s_window() -> None:
    model = make("transformer")
    assert isinstance(model, ConvTransformer)
    assert 25 <= model.tokens(torch.randn(1, 1, N_SAMPLES)).shape[1] <= 50


@pytest.mark.parametrize(
    ("kernel_s", "fs", "expected"),
    [(0.15, 100.0, 15), (0.28, 25.0, 7), (0.07, 100.0, 7), (0.001, 100.0, 1), (0.02, 100.0, 3)],
)
def test_kernel_samples_returns_nearest_odd_length_at_least_one(
    kernel_s: float, fs: float, expected: int
) -> None:
    assert kernel_samples(kernel_s, fs) == expected
