"""Training on tiny real WindowSets (the bundled samples), run folders, loading, and prediction."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from _sample_runs import SAMPLES, TINY_KWARGS, sample_window_sets, train_tiny
from ecgshift import io
from ecgshift.cache import WindowSet
from ecgshift.checkpoint import CONFIG_FILE, FORMAT, WEIGHTS_FILE, load_run
from ecgshift.errors import BadInputError, ModelFileError
from ecgshift.inference import mc_passes
from ecgshift.network import MODALITY_CLASSES
from ecgshift.predictor import OVERLAP_BELOW_S, EcgShiftModel, load_model, prediction_windowing
from ecgshift.uncertainty import Predictions

PREDICTION_FIELDS = ("p_af", "entropy", "mutual_info", "std", "modality", "modality_p", "shift_score", "refer", "start_s")




@pytest.fixture(scope="module")
def sets() -> dict[str, WindowSet]:
    return sample_window_sets()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, sets) -> Path:
    """Head-only dropout, seed 0."""
    return train_tiny(tmp_path_factory.mktemp("run-head"), sets)


@pytest.fixture(scope="module")
def run_all(tmp_path_factory: pytest.TempPathFactory, sets) -> Path:
    """Dropout after every trunk stage too."""
    return train_tiny(tmp_path_factory.mktemp("run-all"), sets, model_kwargs={**TINY_KWARGS, "dropout_placement": "all"})


@pytest.fixture(scope="module")
def model(run: Path) -> EcgShiftModel:
    return load_model(run)


@pytest.fixture(scope="module")
def holter_record():
    return io.read(SAMPLES / "hecg" / "mitdb202_1000s.hea", modality="hecg")  # 5 min: 30 windows


def _tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / WEIGHTS_FILE))


def _broken_copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run-copy"
    shutil.copytree(run, copy)
    return copy


# ---------------------------------------------------------------- the sample WindowSets themselves


def test_every_modality_has_af_and_sr_windows_in_train_and_val(sets) -> None:
    assert set(sets) == {"tecg", "recg", "hecg"}
    for modality, ws in sets.items():
        assert ws.x.shape[1:] == (1, ws.config.window_samples)
        assert len(ws.table) == len(ws)
        for split in ("train", "val"):
            labels = set(ws.table.label[ws.table.split == split])
            assert labels == {"AF", "SR"}, f"{modality}/{split}: {labels}"


# ---------------------------------------------------------------- fit and run folders


def test_fit_writes_weights_config_history_and_counts(run: Path) -> None:
    for name in (WEIGHTS_FILE, CONFIG_FILE, "history.csv", "counts.csv"):
        assert (run / name).is_file(), name
    config = json.loads((run / CONFIG_FILE).read_text())
    assert config["format"] == FORMAT
    assert config["model"] == "resnet1d" and config["model_kwargs"] == TINY_KWARGS
    assert config["classes"] == ["SR", "AF"] and config["modality_classes"] == list(MODALITY_CLASSES)
    assert 0.05 <= config["temperature"] <= 20
    assert set(config["referral"]) == {"entropy", "shift_score", "rate"}
    history = pd.read_csv(run / "history.csv")
    assert history.epoch.tolist() == [1, 2]
    assert {"train_loss", "val_score", "val_bacc_tecg", "val_bacc_recg", "val_bacc_hecg"} <= set(history.columns)
    assert np.isfinite(history.train_loss).all()
    counts = pd.read_csv(run / "counts.csv")
    assert counts.requested.sum() == 64
    assert set(zip(counts.modality, counts.label)) == {(m, c) for m in ("tecg", "recg", "hecg") for c in ("AF", "SR")}
    # rECG has one AF and one SR training window: drawn with replacement, and the run says so
    recg = counts[counts.modality == "recg"]
    assert recg.with_replacement.all() and (recg.drawn_unique == 1).all()


def test_fit_stores_the_shift_density_with_the_weights(run: Path) -> None:
    tensors = _tensors(run)
    assert {"extra.density_means", "extra.density_precision", "extra.density_scale"} <= set(tensors)
    assert tensors["extra.density_means"].shape == (2, 4 * TINY_KWARGS["width"])


def test_shift_score_is_the_modality_feature_density_fitted_on_the_training_modalities(run: Path, model: EcgShiftModel) -> None:
    tensors = _tensors(run)
    assert tensors["extra.modality_density_means"].shape[0] == 3  # one class per training modality
    x = np.asarray(sample_window_sets()["hecg"].x[:4])
    passes = mc_passes(model.net, x, mc=1)
    expected = model.modality_density.score(passes.modality_features)
    assert np.allclose(model.predict_windows(x, mc=1).shift_score, expected)
    assert not np.allclose(expected, model.density.score(passes.features))


def test_a_run_has_three_modality_networks_whose_features_sit_side_by_side(run: Path, model: EcgShiftModel) -> None:
    from ecgshift.network import ModalityEnsemble, modality_members

    assert json.loads((run / CONFIG_FILE).read_text())["modality_members"] == 3
    assert isinstance(model.net.modality_net, ModalityEnsemble)
    members = modality_members(model.net)
    x = torch.from_numpy(np.asarray(sample_window_sets()["tecg"].x[:4]))
    with torch.no_grad():
        features = model.net.modality_net.forward_features(x)
        own = [m.forward_features(x) for m in members]
        assert torch.equal(features, torch.cat(own, dim=1))
        assert torch.allclose(model.net.modality_net(x), torch.stack([m.forward_head(f) for m, f in zip(members, own)]).mean(0))
    assert not torch.equal(own[0], own[1])  # members trained from different seeds
    assert _tensors(run)["extra.modality_density_means"].shape == (3, features.shape[1])


def test_the_ensemble_leaves_the_af_network_as_a_single_modality_network_would(run: Path, sets, tmp_path: Path) -> None:
    single = train_tiny(tmp_path / "single", sets, modality_members=1)
    a, b = _tensors(run), _tensors(single)
    assert json.loads((single / CONFIG_FILE).read_text())["modality_members"] == 1
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("net.backbone."))
    assert load_model(single).predict_windows(np.asarray(sets["hecg"].x[:3]), mc=2).shift_score.shape == (3,)


def test_a_run_from_before_the_ensemble_loads_as_one_modality_network(run: Path, sets, tmp_path: Path) -> None:
    single = train_tiny(tmp_path / "single", sets, modality_members=1)
    config = json.loads((single / CONFIG_FILE).read_text())
    del config["modality_members"]  # configs written before 2026-11-23 do not have the key
    (single / CONFIG_FILE).write_text(json.dumps(config))
    net, _, _ = load_run(single)
    assert not hasattr(net.modality_net, "members")


def test_redraw_sees_more_unique_windows_than_one_fixed_draw(sets, tmp_path: Path) -> None:
    fixed = pd.read_csv(train_tiny(tmp_path / "fixed", sets, budget=16, epochs=3) / "counts.csv")
    redrawn = pd.read_csv(train_tiny(tmp_path / "redraw", sets, budget=16, epochs=3, redraw=True) / "counts.csv")
    assert (redrawn.drawn_unique >= fixed.drawn_unique).all() and redrawn.drawn_unique.sum() > fixed.drawn_unique.sum()
    assert (redrawn.requested == fixed.requested).all()


def test_ema_run_saves_averaged_weights_that_differ_from_the_plain_run(run: Path, sets, tmp_path: Path) -> None:
    averaged = train_tiny(tmp_path / "ema", sets, ema_decay=0.9)
    plain, ema = _tensors(run), _tensors(averaged)
    assert any(not torch.equal(plain[k], ema[k]) for k in plain if k.startswith("net.backbone."))
    again = _tensors(train_tiny(tmp_path / "ema-again", sets, ema_decay=0.9))
    assert all(torch.equal(ema[k], again[k]) for k in ema)


def test_two_fits_with_the_same_seed_give_identical_weights(run: Path, sets, tmp_path: Path) -> None:
    again = train_tiny(tmp_path / "again", sets)
    first, second = _tensors(run), _tensors(again)
    assert first.keys() == second.keys()
    different = [k for k in first if not torch.equal(first[k], second[k])]
    assert not different, f"tensors differ between identical runs: {different[:5]}"


def test_a_different_seed_gives_different_weights(run: Path, sets, tmp_path: Path) -> None:
    other = train_tiny(tmp_path / "seed1", sets, seed=1)
    first, second = _tensors(run), _tensors(other)
    assert any(not torch.equal(first[k], second[k]) for k in first if k.startswith("net."))


def test_fit_rejects_a_mix_naming_a_modality_without_windows(sets, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hecg"):
        train_tiny(tmp_path / "x", {m: s for m, s in sets.items() if m != "hecg"})


# ---------------------------------------------------------------- transfer (--init)


@pytest.fixture(scope="module")
def transfer(tmp_path_factory: pytest.TempPathFactory, run: Path, sets) -> Path:
    """Fine-tune ``run`` with a frozen trunk on the tECG windows alone; the config asks for default model kwargs."""
    from ecgshift.training import TrainConfig

    out = tmp_path_factory.mktemp("transfer")
    return train_tiny(out, sets, init=str(run), freeze_trunk=True, mix={"tecg": 1.0}, seed=3, model_kwargs=TrainConfig(mix={}).model_kwargs)


def test_transfer_with_frozen_trunk_leaves_trunk_weights_and_statistics_unchanged(run: Path, transfer: Path) -> None:
    before, after = _tensors(run), _tensors(transfer)
    trunk = [k for k in before if k.startswith("net.backbone.") and not k.startswith("net.backbone.head.")]
    assert any("running_mean" in k for k in trunk) and any(k.endswith("conv1.weight") for k in trunk)
    changed = [k for k in trunk if not torch.equal(before[k], after[k])]
    assert not changed, f"frozen trunk changed: {changed[:5]}"
    heads = [k for k in before if k.startswith(("net.backbone.head.", "net.modality_net."))]
    assert any(not torch.equal(before[k], after[k]) for k in heads), "the heads did not train"


def test_transfer_run_loads_with_the_init_runs_architecture(transfer: Path) -> None:
    config = json.loads((transfer / CONFIG_FILE).read_text())
    assert config["model_kwargs"] == TINY_KWARGS  # the network that was trained, not the kwargs the config asked for
    net, _, _ = load_run(transfer)
    assert net.backbone.n_features == 4 * TINY_KWARGS["width"]


def test_transfer_rejects_windows_harmonized_differently_from_the_init_run(run: Path, sets, tmp_path: Path) -> None:
    from ecgshift.preprocess import HarmonizeConfig

    other = HarmonizeConfig(fs=250.0)
    resampled = {m: WindowSet(x=np.repeat(s.x, 5, axis=-1)[..., ::2], table=s.table, config=other) for m, s in sets.items()}
    with pytest.raises(ValueError, match="harmonized"):
        train_tiny(tmp_path / "x", resampled, init=str(run))


def test_transfer_rejects_an_init_run_of_another_model(run: Path, sets, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resnet1d"):
        train_tiny(tmp_path / "x", sets, init=str(run), model="crnn")


# ---------------------------------------------------------------- load_model and predict


def test_predict_on_a_bundled_record_gives_aligned_per_window_fields(model: EcgShiftModel, holter_record) -> None:
    predictions = model.predict(holter_record, mc=5)
    assert isinstance(predictions, Predictions)
    assert len(predictions) == 30
    for name in PREDICTION_FIELDS:
        assert len(getattr(predictions, name)) == 30, name
    assert np.all((predictions.p_af >= 0) & (predictions.p_af <= 1))
    assert np.all(predictions.mutual_info >= 0)
    assert np.all(predictions.entropy >= 0) and np.all(predictions.entropy <= np.log(2) + 1e-6)
    assert set(predictions.modality) <= {"recg", "tecg", "hecg"}
    assert np.all((predictions.modality_p >= 1 / 3 - 1e-6) & (predictions.modality_p <= 1))
    assert np.all(np.isfinite(predictions.shift_score)) and np.all(predictions.shift_score >= 0)
    np.testing.assert_allclose(predictions.start_s, np.arange(30) * 10.0)
    assert set(predictions.label) <= {"AF", "SR"}
    frame = predictions.to_frame()
    assert len(frame) == 30 and "p_af" in frame and "shift_score" in frame


def test_recordings_under_five_minutes_are_predicted_from_half_overlapping_windows(model: EcgShiftModel) -> None:
    predictions = model.predict(io.read(SAMPLES / "tecg" / "A00005.hea"), mc=3)  # 60 s
    np.testing.assert_allclose(predictions.start_s, np.arange(0.0, 51.0, 5.0))
    assert prediction_windowing(model.harmonize, 299.9).stride_s == model.harmonize.window_s / 2
    assert prediction_windowing(model.harmonize, OVERLAP_BELOW_S) == model.harmonize  # Holter-like: durations add up


def test_summarize_aggregates_windows_into_one_record_call(model: EcgShiftModel, holter_record) -> None:
    predictions = model.predict(holter_record, mc=3)
    summary = model.summarize(predictions)
    assert summary.n_windows == 30
    assert summary.p_af == pytest.approx(float(predictions.p_af.mean()))
    assert summary.label == ("AF" if summary.p_af >= 0.5 else "SR")
    assert summary.modality in MODALITY_CLASSES


def test_predict_on_an_array_with_fs_matches_the_record(model: EcgShiftModel) -> None:
    record = io.read(SAMPLES / "tecg" / "A00002.hea", modality="tecg")
    from_record = model.predict(record, mc=1)
    from_array = model.predict(record.signal[0], fs=record.fs, mc=1)
    np.testing.assert_allclose(from_array.p_af, from_record.p_af, rtol=1e-5)


def test_predict_on_an_array_without_fs_is_a_bad_input(model: EcgShiftModel) -> None:
    with pytest.raises(BadInputError, match="fs"):
        model.predict(np.random.default_rng(0).standard_normal(3000))


def test_predict_on_a_three_second_array_is_shorter_than_the_minimum(model: EcgShiftModel) -> None:
    with pytest.raises(BadInputError, match="shorter than"):
        model.predict(np.random.default_rng(0).standard_normal(300), fs=100.0)


def test_head_dropout_fast_and_full_mc_give_the_same_samples(model: EcgShiftModel, holter_record) -> None:
    from ecgshift.windows import window_record

    x = window_record(holter_record, config=model.harmonize).x
    torch.manual_seed(123)
    fast = mc_passes(model.net, x, mc=8, mc_scope="head", temperature=model.temperature)
    torch.manual_seed(123)
    full = mc_passes(model.net, x, mc=8, mc_scope="full", temperature=model.temperature)
    assert fast.samples.shape == (8, len(x), 2)
    assert not np.allclose(fast.samples[0], fast.samples[1]), "no dropout sampling happened"
    np.testing.assert_allclose(fast.samples, full.samples, atol=1e-6)


def test_fast_mc_runs_the_trunk_once_and_full_mc_once_per_pass(model: EcgShiftModel, holter_record, monkeypatch) -> None:
    from ecgshift.windows import window_record

    x = window_record(holter_record, config=model.harmonize).x
    backbone = model.net.backbone
    calls = []
    original = backbone.forward_features

    def counting(batch):
        calls.append(len(batch))
        return original(batch)

    monkeypatch.setattr(backbone, "forward_features", counting)
    mc_passes(model.net, x, mc=6, mc_scope="head")
    assert calls == [len(x)]  # the deterministic pass only
    calls.clear()
    mc_passes(model.net, x, mc=6, mc_scope="full")
    assert calls == [len(x)] * 7  # deterministic pass + one per MC pass


def test_all_dropout_fast_and_full_mc_differ_but_mostly_agree_on_the_decision(run_all: Path, holter_record) -> None:
    model = load_model(run_all)
    torch.manual_seed(0)
    fast = model.predict(holter_record, mc=20, mc_scope="head")
    torch.manual_seed(0)
    full = model.predict(holter_record, mc=20, mc_scope="full")
    assert not np.allclose(fast.p_af, full.p_af, atol=1e-6), "trunk dropout had no effect on the full path"
    assert np.mean(fast.label == full.label) >= 0.8
    assert np.abs(fast.p_af - full.p_af).mean() < 0.1


def test_mc_dropout_leaves_the_loaded_network_in_eval_mode(model: EcgShiftModel, holter_record) -> None:
    model.predict(holter_record, mc=4, mc_scope="full")
    assert not any(m.training for m in model.net.modules())


# ---------------------------------------------------------------- model files


def test_load_run_never_unpickles(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("pickle-based loading was used")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    net, config, extra = load_run(run)
    assert not net.training and config.model == "resnet1d" and "density_means" in extra
    assert load_model(run).density is not None


def _one_line_error(path: Path, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert match in message, message
    return info.value


def test_garbage_weights_file_is_one_model_file_error_naming_it(run: Path, tmp_path: Path) -> None:
    copy = _broken_copy(run, tmp_path)
    (copy / WEIGHTS_FILE).write_bytes(np.random.default_rng(0).bytes(4096))
    error = _one_line_error(copy, WEIGHTS_FILE)
    assert error.path == str(copy / WEIGHTS_FILE)


def test_truncated_weights_file_is_one_model_file_error_naming_it(run: Path, tmp_path: Path) -> None:
    copy = _broken_copy(run, tmp_path)
    data = (copy / WEIGHTS_FILE).read_bytes()
    (copy / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    _one_line_error(copy, WEIGHTS_FILE)


def test_config_of_another_format_is_one_model_file_error_naming_it(run: Path, tmp_path: Path) -> None:
    copy = _broken_copy(run, tmp_path)
    config = json.loads((copy / CONFIG_FILE).read_text())
    (copy / CONFIG_FILE).write_text(json.dumps({**config, "format": "someone-elses-format-3"}))
    error = _one_line_error(copy, CONFIG_FILE)
    assert "not an ecgshift model config" in str(error)


def test_config_that_is_not_json_is_one_model_file_error_naming_it(run: Path, tmp_path: Path) -> None:
    copy = _broken_copy(run, tmp_path)
    (copy / CONFIG_FILE).write_text("{ this is not json")
    _one_line_error(copy, CONFIG_FILE)


@pytest.mark.parametrize("key, value, says", [
    (("referral", "entropy"), "abc", "referral entropy 'abc' is not a number"),
    (("referral", "shift_score"), None, "referral shift_score None is not a number"),
    (("temperature",), "abc", "temperature 'abc' is not a number"),
    (("temperature",), 0, "temperature 0 must be positive"),
    (("temperature",), -1.5, "temperature -1.5 must be positive"),
    (("harmonize", "band_hz"), [40, 0.5], "band_hz"),
    (("harmonize", "fs"), "abc", "invalid model config"),
    (("harmonize",), "abc", "harmonize is not a table"),
])
def test_an_invalid_number_in_a_model_config_is_one_error_naming_config_json_never_a_default(run: Path, tmp_path: Path, key, value, says) -> None:
    copy = _broken_copy(run, tmp_path)
    config = json.loads((copy / CONFIG_FILE).read_text())
    target = config
    for k in key[:-1]:
        target = target[k]
    target[key[-1]] = value
    (copy / CONFIG_FILE).write_text(json.dumps(config))
    error = _one_line_error(copy, CONFIG_FILE)
    assert says in str(error)


def test_a_run_config_round_trips_through_json_unchanged(run: Path) -> None:
    from ecgshift.checkpoint import RunConfig, read_config

    config = read_config(run)
    assert isinstance(config, RunConfig) and RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_config_for_another_architecture_is_one_model_file_error_naming_the_weights(run: Path, tmp_path: Path) -> None:
    copy = _broken_copy(run, tmp_path)
    config = json.loads((copy / CONFIG_FILE).read_text())
    config["model_kwargs"] = {**config["model_kwargs"], "width": 16}
    (copy / CONFIG_FILE).write_text(json.dumps(config))
    error = _one_line_error(copy, WEIGHTS_FILE)
    assert "do not match" in str(error)


def test_missing_folder_is_one_model_file_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    error = _one_line_error(missing, str(missing))
    assert error.path == str(missing)


def test_folder_without_config_is_one_model_file_error_naming_the_config(run: Path, tmp_path: Path) -> None:
    copy = _broken_copy(run, tmp_path)
    (copy / CONFIG_FILE).unlink()
    _one_line_error(copy, CONFIG_FILE)
