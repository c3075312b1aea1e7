"""A sampling rate that looks wrong is named, and its recording referred, in `ecgshift predict` and `model.predict`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _sample_runs import SAMPLES
from ecgshift import io
from ecgshift.batch import predict_paths
from ecgshift.plausibility import check_sampling_rate
from ecgshift.predictor import EcgShiftModel, load_model
from ecgshift.preprocess import HarmonizeConfig, Harmonizer, choose_lead

ALL_SAMPLES = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.hea"))
#: long enough to be read at 5× their rate (≥ 3 s of R waves) and at a fifth of it (≥ 50 Hz): the handheld and Holter ones
STRETCHABLE = [name for name in ALL_SAMPLES if not name.startswith("recg/")]


@pytest.fixture(scope="module")
def model() -> EcgShiftModel:
    return load_model()


def _check(name: str, factor: float):
    record = io.read(SAMPLES / name)
    record = record.replace(fs=record.fs * factor)
    return check_sampling_rate(record, Harmonizer(HarmonizeConfig())(record), lead=choose_lead(record.leads))


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_every_bundled_real_record_at_its_own_rate_is_plausible(name: str) -> None:
    check = _check(name, 1.0)
    assert check.problem == "", check


#: What the check cannot see (module docstring: it catches most, not all, gross errors): in the noisy handheld
#: record the tallest deflections are noise, not R waves; the AF record beats at 136 bpm, 27 bpm at a fifth of its rate.
MISSED = {5.0: {"tecg/A00056.hea"}, 0.2: {"tecg/A00005.hea"}}


@pytest.mark.parametrize(("factor", "verdict"), [(5.0, "may be too high: R waves"), (0.2, "may be too low: heart rate")])
def test_a_rate_five_times_off_is_called_so_in_all_but_the_documented_misses(factor: float, verdict: str) -> None:
    problems = {name: _check(name, factor).problem for name in STRETCHABLE}
    assert {name for name, problem in problems.items() if not problem} == MISSED[factor]
    assert all(verdict in problem for problem in problems.values() if problem), problems


def _csv(folder: Path) -> Path:
    signal = io.read(SAMPLES / "tecg" / "A00002.hea").signal[0]  # 30 s at 300 Hz
    path = folder / "a00002.csv"
    pd.DataFrame({"I": np.round(signal, 4)}).to_csv(path, index=False)
    return path


def test_predict_names_a_wrong_fs_in_problems_and_refers_the_record(model: EcgShiftModel, tmp_path: Path) -> None:
    path = _csv(tmp_path)
    right = predict_paths(model, [path], mc=2, fs=300.0).iloc[0]
    wrong = predict_paths(model, [path], mc=2, fs=1500.0).iloc[0]
    assert right.status == "done" and not right.refer and (pd.isna(right.problems) or right.problems == "")
    assert wrong.status == "done" and wrong.refer
    assert wrong.problems.startswith("sampling rate 1500 Hz may be too high")
    windows = predict_paths(model, [path], mc=2, fs=60.0, windows=True)
    assert windows.refer.all() and windows.problems.str.contains("60 Hz may be too low").all()


def test_the_api_warns_of_a_wrong_fs_and_refers_every_window(model: EcgShiftModel) -> None:
    signal = io.read(SAMPLES / "tecg" / "A00002.hea").signal
    assert not model.predict(signal, fs=300.0, mc=2).refer.all()
    with pytest.warns(UserWarning, match="may be too low"):
        predictions = model.predict(signal, fs=60.0, mc=2)
    assert predictions.refer.all()


def test_a_header_rate_is_not_second_guessed_but_the_same_signal_as_csv_is(model: EcgShiftModel, shared_data: Path,
                                                                            tmp_path: Path) -> None:
    hea = next((shared_data / "tecg" / "cinc2017").rglob("A04509.hea"))  # heart rate reads 5 bpm (a false alarm as CSV)
    csv = tmp_path / "a04509.csv"
    pd.DataFrame({"I": np.round(io.read(hea).signal[0], 4)}).to_csv(csv, index=False)
    frame = predict_paths(model, [hea, csv], mc=2, fs=300.0)
    assert frame.problems.fillna("").str.contains("may be too low").tolist() == [False, True]
