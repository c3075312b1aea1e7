"""The quality gate before the network: gaps, saturation and flat leads in `ecgshift predict` and `model.predict`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from _sample_runs import SAMPLES
from ecgshift import io
from ecgshift.batch import predict_paths
from ecgshift.errors import BadInputError
from ecgshift.predictor import EcgShiftModel, load_model, prediction_quality
from ecgshift.preprocess import HarmonizeConfig, Harmonizer
from ecgshift.quality import QualityConfig, describe_excluded, window_quality
from ecgshift.windows import window_record

TECG = SAMPLES / "tecg" / "A00002.hea"  # 30 s handheld ECG at 300 Hz: windows start every 5 s (0 … 20 s)
FS = 300.0


@pytest.fixture(scope="module")
def model() -> EcgShiftModel:
    return load_model()


def _signal() -> np.ndarray:
    return io.read(TECG).signal[0].astype(np.float64)


def _write(folder: Path, name: str, signal: np.ndarray) -> Path:
    wfdb.wrsamp(name, fs=FS, units=["mV"], sig_name=["ECG"], p_signal=signal[:, None], fmt=["16"], adc_gain=[1000.0],
                baseline=[0], write_dir=str(folder))
    return folder / f"{name}.hea"


def _quality(signal: np.ndarray, config: QualityConfig = QualityConfig(noise=False)) -> np.ndarray:
    harmonize = HarmonizeConfig(stride_s=5.0)
    raw = io.read(TECG)
    raw = type(raw)(signal=signal[None].astype(np.float32), fs=FS, leads=raw.leads, record_id="x")
    harmonized = Harmonizer(harmonize)(raw)
    return window_quality(raw, harmonized, window_record(harmonized, config=harmonize, harmonized=True), lead=0, config=config)


def test_a_clean_handheld_recording_passes_every_rule_including_noise() -> None:
    assert list(_quality(_signal(), QualityConfig(noise=True))) == ["ok"] * 5


def test_each_signal_fault_names_its_own_reason() -> None:
    gap, flat, clipped = _signal(), _signal(), _signal()
    gap[int(10 * FS) : int(20 * FS)] = np.nan  # windows 5-15, 10-20, 15-25 s are ≥ 10 % NaN
    flat[int(10 * FS) : int(20 * FS)] = 0.0  # lead off: only the 10-20 s window is entirely flat
    clipped[int(10 * FS) : int(20 * FS)] = np.clip(clipped[int(10 * FS) : int(20 * FS)], -0.05, 0.05)
    clipped[clipped > 0.05] = 0.05  # the rail is the recording's maximum
    assert list(_quality(gap)) == ["ok", "gap", "gap", "gap", "ok"]
    assert list(_quality(flat)) == ["ok", "ok", "flat", "ok", "ok"]
    assert set(_quality(clipped)[1:4]) == {"saturated"}


def test_a_recording_shorter_than_one_window_is_gated_on_its_own_length() -> None:
    assert list(_quality(_signal()[: int(9 * FS)])) == ["ok"]


def test_excluded_windows_are_counted_by_reason_most_frequent_first() -> None:
    assert describe_excluded(np.array(["ok", "gap", "saturated", "gap"])) == "2 gap, 1 saturated"
    assert describe_excluded(np.array(["ok"])) == ""


def test_the_noise_rule_is_for_holter_like_recordings_only() -> None:
    assert not prediction_quality(30.0).noise and prediction_quality(3600.0).noise


def test_predict_leaves_out_gap_windows_and_says_how_many(model: EcgShiftModel, tmp_path: Path) -> None:
    signal = _signal()
    signal[int(10 * FS) : int(20 * FS)] = np.nan
    path = _write(tmp_path, "gap", signal)
    row = predict_paths(model, [path], mc=3).iloc[0]
    assert row.status == "done" and row.n_windows == 2
    assert "3 of 5 windows not analysed: 3 gap" in row.problems
    windows = predict_paths(model, [path], mc=3, windows=True)
    assert list(windows.status) == ["done", "excluded: gap", "excluded: gap", "excluded: gap", "done"]
    assert list(windows.start_s) == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert windows.p_af[windows.status != "done"].isna().all() and windows.p_af[windows.status == "done"].between(0, 1).all()


def test_predict_rejects_a_recording_pinned_to_its_rails_with_the_reason(model: EcgShiftModel, tmp_path: Path) -> None:
    signal = _signal()
    low, high = np.percentile(signal, [10, 90])
    frame = predict_paths(model, [_write(tmp_path, "clipped", np.clip(signal, low, high))], mc=3)
    assert frame.status.tolist() == ["rejected: no analysable window (5 saturated)"]
    assert pd.isna(frame.p_af.iloc[0])


def test_api_predict_skips_a_flat_window_with_a_warning(model: EcgShiftModel) -> None:
    signal = _signal()
    signal[int(10 * FS) : int(20 * FS)] = 0.0
    with pytest.warns(UserWarning, match="1 of 5 windows not analysed: 1 flat"):
        predictions = model.predict(signal, fs=FS, mc=3)
    np.testing.assert_allclose(predictions.start_s, [0.0, 5.0, 15.0, 20.0])


def test_api_predict_of_a_saturated_array_is_a_one_line_error(model: EcgShiftModel) -> None:
    signal = _signal()
    low, high = np.percentile(signal, [10, 90])
    with pytest.raises(BadInputError, match=r"no analysable window \(5 saturated\)"):
        model.predict(np.clip(signal, low, high), fs=FS, mc=3)
