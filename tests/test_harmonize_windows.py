"""Harmonization steps and the window label rule, on synthetic signals (exact) and a real MIT-BIH record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.preprocess import HarmonizeConfig, Harmonizer, bandpass, choose_lead, normalize, resample, select_lead
from ecgshift.record import Record, RhythmInterval
from ecgshift.windows import concat_windows, stream_chunks, window_record

CONFIG = HarmonizeConfig()  # 100 Hz, 10-s windows, 5-s minimum, 90 % rule


def synthetic(seconds: float, *, fs: float = 360.0, rhythms=(), label=None, leads=("MLII",), seed: int = 0) -> Record:
    """An ECG-like test signal: a 1.2-Hz 'heartbeat' plus a little noise, in mV."""
    t = np.arange(int(round(seconds * fs))) / fs
    rng = np.random.default_rng(seed)
    beat = np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.sin(2 * np.pi * 7.0 * t)
    signal = np.stack([beat + 0.05 * rng.standard_normal(t.size) for _ in leads]).astype(np.float32)
    return Record(signal=signal, fs=fs, leads=tuple(leads), record_id="synthetic", rhythms=tuple(rhythms), label=label)


# --- lead choice -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leads", "expected"),
    [
        (("MLII", "V1"), "MLII"),  # Holter: first ECG channel
        (("Resp", "ECG"), "ECG"),  # a non-ECG channel first is skipped
        (("V1", "II", "I"), "I"),  # lead I wins wherever it is
        (("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"), "I"),
        (("ECG",), "ECG"),  # CinC 2017 handheld
        (("Resp", "Pleth"), "Resp"),  # no ECG channel at all: the first channel
    ],
)
def test_choose_lead_prefers_lead_i_then_the_first_ecg_channel(leads: tuple[str, ...], expected: str) -> None:
    assert leads[choose_lead(leads)] == expected


def test_explicit_lead_is_taken_and_a_missing_one_is_a_one_line_error() -> None:
    record = synthetic(10, leads=("MLII", "V1"))
    assert select_lead(record, lead="V1").leads == ("V1",)
    assert np.array_equal(select_lead(record, lead="V1").signal, record.signal[1:2])
    with pytest.raises(BadInputError) as exc:
        select_lead(record, lead="V5")
    assert "V5" in str(exc.value) and "\n" not in str(exc.value)


# --- resampling, filtering, normalization ------------------------------------------------------------


@pytest.mark.parametrize("fs", [300.0, 360.0, 500.0, 128.0, 100.0])
@pytest.mark.parametrize("seconds", [10.0, 30.0, 61.0])
def test_resample_to_100_hz_gives_100_samples_per_second(fs: float, seconds: float) -> None:
    x = np.zeros((1, int(seconds * fs)), np.float32)
    assert resample(x, fs, 100.0).shape == (1, int(seconds * 100))


@pytest.mark.parametrize("fs", [300.0, 360.0, 500.0, 128.0])
def test_resample_keeps_a_5_hz_sine_on_the_new_time_grid(fs: float) -> None:
    t = np.arange(int(20 * fs)) / fs
    out = resample(np.sin(2 * np.pi * 5 * t)[None, :], fs, 100.0)[0]
    t_new = np.arange(out.size) / 100.0
    interior = slice(100, -100)  # away from the edges, where the anti-alias filter has no past or future
    np.testing.assert_allclose(out[interior], np.sin(2 * np.pi * 5 * t_new)[interior], atol=0.01)


def _amplitude_at(x: np.ndarray, fs: float, hz: float) -> float:
    spectrum = np.fft.rfft(x) / x.size * 2
    return float(np.abs(spectrum[int(round(hz * x.size / fs))]))


def test_bandpass_removes_0_1_hz_baseline_wander_and_keeps_10_hz() -> None:
    fs, seconds = 100.0, 100.0  # whole periods of both components: no leakage between FFT bins
    t = np.arange(int(seconds * fs)) / fs
    wander, ecg = 2.0 * np.sin(2 * np.pi * 0.1 * t), 0.5 * np.sin(2 * np.pi * 10 * t)
    out = bandpass((wander + ecg)[None, :], fs, band_hz=(0.5, 40.0), order=3)[0]

    assert _amplitude_at(wander + ecg, fs, 0.1) == pytest.approx(2.0, rel=1e-6)
    assert _amplitude_at(out, fs, 0.1) < 0.02  # ≥ 40 dB down
    assert _amplitude_at(out, fs, 10.0) == pytest.approx(0.5, rel=0.01)
    interior = slice(1000, -1000)
    assert np.sqrt(np.mean((out - ecg)[interior] ** 2)) < 0.01


def test_normalize_gives_each_window_mean_0_and_std_1() -> None:
    rng = np.random.default_rng(1)
    windows = rng.normal(loc=[[3.0], [-1.0], [0.2]], scale=[[0.1], [2.0], [0.5]], size=(3, 1000))[:, None, :]
    out = normalize(windows.astype(np.float32))
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=-1), 1.0, atol=1e-4)


def test_normalize_of_a_flat_window_stays_finite() -> None:
    out = normalize(np.full((1, 1, 1000), 0.7, np.float32))
    assert np.isfinite(out).all() and np.abs(out).max() < 1e-3  # (x - mean) / eps: only float32 rounding is left


# --- window labels -----------------------------------------------------------------------------------


def test_window_inside_an_af_interval_is_af_with_af_fraction_1() -> None:
    rec = synthetic(60, rhythms=[RhythmInterval(0.0, 60.0, "AFIB")])
    w = window_record(rec, config=CONFIG)
    assert w.start_s.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert set(w.label) == {"AF"} and np.all(w.af_fraction == 1.0)


@pytest.mark.parametrize(
    ("change_s", "af_fraction", "label"),
    [
        (29.0, 0.9, "AF"),  # exactly 90 % AF: AF
        (28.5, 0.85, "other"),  # 85 % AF and 15 % sinus: neither reaches 90 %
        (21.0, 0.1, "SR"),  # 90 % sinus
        (25.0, 0.5, "other"),
    ],
)
def test_window_straddling_a_rhythm_change_keeps_its_af_fraction_and_follows_the_90_percent_rule(
    change_s: float, af_fraction: float, label: str
) -> None:
    rhythms = [RhythmInterval(0.0, change_s, "AFIB"), RhythmInterval(change_s, 60.0, "N")]
    w = window_record(synthetic(60, rhythms=rhythms), config=CONFIG)
    straddling = int(np.flatnonzero(w.start_s == 20.0)[0])
    assert w.af_fraction[straddling] == pytest.approx(af_fraction, abs=1e-6)
    assert w.label[straddling] == label
    assert w.label[0] == "AF" and w.label[-1] == "SR"


def test_unannotated_time_counts_for_no_label() -> None:
    w = window_record(synthetic(30, rhythms=[RhythmInterval(12.0, 30.0, "AFIB")]), config=CONFIG)
    assert w.af_fraction.tolist() == pytest.approx([0.0, 0.8, 1.0])
    assert w.label.tolist() == ["other", "other", "AF"]


def test_record_level_label_is_given_to_every_window() -> None:
    w = window_record(synthetic(30, fs=300.0, leads=("ECG",), label="AF"), config=CONFIG)
    assert w.label.tolist() == ["AF"] * 3 and np.all(w.af_fraction == 1.0)
    unlabelled = window_record(synthetic(30, fs=300.0, leads=("ECG",)), config=CONFIG)
    assert unlabelled.label.tolist() == [""] * 3 and np.isnan(unlabelled.af_fraction).all()


def test_trailing_remainder_shorter_than_a_window_is_not_used() -> None:
    w = window_record(synthetic(39.9), config=CONFIG)
    assert w.start_s.tolist() == [0.0, 10.0, 20.0] and w.x.shape == (3, 1, 1000)


def test_7_second_record_gives_one_zero_padded_window() -> None:
    w = window_record(synthetic(7, fs=300.0, leads=("ECG",), label="SR"), config=CONFIG)
    assert w.x.shape == (1, 1, 1000) and w.label.tolist() == ["SR"]
    assert np.all(w.x[0, 0, 700:] == 0.0)
    assert w.x[0, 0, :700].std() == pytest.approx(1.0, abs=1e-3)


def test_3_second_record_is_rejected_as_shorter_than_the_minimum() -> None:
    with pytest.raises(BadInputError, match="shorter than 5 s") as exc:
        window_record(synthetic(3, fs=300.0, leads=("ECG",)), config=CONFIG)
    assert "\n" not in str(exc.value)


def test_nan_gap_lowers_valid_fraction_of_the_affected_window_only() -> None:
    rec = synthetic(40)
    signal = rec.signal.copy()
    signal[0, int(12 * 360) : int(13 * 360)] = np.nan  # one second of dropout inside the second window
    w = window_record(rec.replace(signal=signal), config=CONFIG)

    assert w.valid_fraction.tolist() == pytest.approx([1.0, 0.9, 1.0, 1.0], abs=0.005)
    assert np.isfinite(w.x).all()


def test_harmonizer_gives_one_lead_at_the_target_rate() -> None:
    out = Harmonizer(CONFIG)(synthetic(20, fs=500.0, leads=("Resp", "V2", "I")))
    assert out.leads == ("I",) and out.fs == 100.0 and out.signal.shape == (1, 2000)


# --- real MIT-BIH record 201 (AF, README) --------------------------------------------------------------


@pytest.fixture(scope="module")
def mitdb_201(shared_data: Path) -> Path:
    return shared_data / "formats" / "mitdb" / "201.hea"


@pytest.fixture(scope="module")
def whole_201(mitdb_201: Path):
    return window_record(io.read(mitdb_201), config=CONFIG)


@pytest.mark.integration
def test_mitdb_201_windows_inside_and_across_an_af_episode_follow_the_label_rule(mitdb_201: Path, whole_201) -> None:
    first_af = next(r for r in io.read(mitdb_201, end_s=20).rhythms if r.label == "AF" and r.duration_s > 60)
    inside = np.flatnonzero((whole_201.start_s >= first_af.start_s) & (whole_201.end_s <= first_af.end_s))
    assert inside.size >= 5
    assert set(whole_201.label[inside]) == {"AF"} and np.all(whole_201.af_fraction[inside] == 1.0)

    across = int(np.flatnonzero((whole_201.start_s < first_af.end_s) & (whole_201.end_s > first_af.end_s))[0])
    expected = (first_af.end_s - whole_201.start_s[across]) / CONFIG.window_s
    assert 0.1 < expected < 0.9  # neither AF nor sinus covers 90 % of it
    assert whole_201.af_fraction[across] == pytest.approx(expected, abs=1e-6)
    assert whole_201.label[across] == "other"


@pytest.mark.integration
@pytest.mark.parametrize("chunk_s", [60.0, 45.0])
def test_streaming_mitdb_201_in_chunks_gives_the_same_windows_as_reading_it_whole(mitdb_201: Path, whole_201, chunk_s: float) -> None:
    chunks = list(stream_chunks(mitdb_201, config=CONFIG, chunk_s=chunk_s))
    streamed = concat_windows([c.windows for c in chunks], config=CONFIG)

    chunk_on_grid = np.floor(chunk_s / CONFIG.window_s) * CONFIG.window_s  # chunk edges fall on the window grid
    assert len(chunks) == int(np.ceil(650000 / 360 / chunk_on_grid))
    assert max(c.raw.n_samples for c in chunks) < 650000 / 10  # never the whole record at once
    assert len(streamed) == len(whole_201) == 180  # 30 min 5.6 s → 180 whole 10-s windows
    assert np.array_equal(streamed.start_s, whole_201.start_s)
    assert np.array_equal(streamed.label, whole_201.label)
    np.testing.assert_allclose(streamed.af_fraction, whole_201.af_fraction, atol=1e-6)
    np.testing.assert_allclose(streamed.x, whole_201.x, atol=1e-3)
