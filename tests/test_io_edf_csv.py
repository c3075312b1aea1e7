"""EDF and CSV readers, on files built from a real MIT-BIH record (201: MLII, V1, 360 Hz)."""

from __future__ import annotations

import os
from pathlib import Path

import edfio
import numpy as np
import pytest

import ecgshift.io
from ecgshift.errors import BadInputError
from ecgshift.io.csv import csv_info, read_csv
from ecgshift.io.edf import edf_info, read_edf, rhythm_code

SHARED = Path(os.environ.get("ECGSHIFT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
FS = 360.0
SECONDS = 60

pytestmark = pytest.mark.integration  # most tests use ../shared/data (skipped when it is absent)


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    """The first minute of mitdb/201 in mV, leads × samples (MLII, V1)."""
    base = SHARED / "formats" / "mitdb" / "201"
    if not base.with_suffix(".hea").exists():
        pytest.skip(f"shared data not found at {SHARED}")
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(base), sampto=int(FS) * SECONDS)
    assert rec.sig_name == ["MLII", "V1"] and rec.fs == FS
    return np.ascontiguousarray(rec.p_signal.T)


def write_edf(path: Path, channels: list[tuple[str, np.ndarray, float, str]], annotations=None) -> Path:
    """channels: (label, physical data, fs, physical dimension)."""
    signals = [edfio.EdfSignal(data, fs, label=label, physical_dimension=unit) for label, data, fs, unit in channels]
    edfio.Edf(signals, annotations=annotations).write(path)
    return path


def ecg_channels(source: np.ndarray, *, unit: str = "mV") -> list[tuple[str, np.ndarray, float, str]]:
    scale = {"mV": 1.0, "uV": 1000.0}[unit]
    return [("ECG MLII", source[0] * scale, FS, unit), ("ECG V1", source[1] * scale, FS, unit)]


def quantum(data: np.ndarray) -> float:
    """One step of EDF's 16-bit digital range over the data's physical range (with edfio's rounding slack)."""
    return float(data.max() - data.min()) / 65535 * 1.01


def assert_one_line(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(exc.value)
    assert path.name in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


# --- EDF -------------------------------------------------------------------------------------------


def test_edf_round_trip_matches_source_within_16bit_quantization(source, tmp_path):
    path = write_edf(tmp_path / "holter.edf", ecg_channels(source))
    rec = read_edf(path)
    assert rec.leads == ("MLII", "V1") and rec.fs == FS and rec.record_id == "holter"
    assert rec.signal.dtype == np.float32 and rec.signal.shape == source.shape
    for lead in range(2):
        assert np.abs(rec.signal[lead] - source[lead]).max() <= quantum(source[lead])


def test_edf_in_microvolts_is_converted_to_millivolts(source, tmp_path):
    path = write_edf(tmp_path / "uv.edf", ecg_channels(source, unit="uV"))
    rec = read_edf(path)
    for lead in range(2):
        assert np.abs(rec.signal[lead] - source[lead]).max() <= quantum(source[lead]) + 1e-6


def test_edf_non_ecg_channel_is_dropped(source, tmp_path):
    resp = np.sin(np.linspace(0, 30, 25 * SECONDS))
    path = write_edf(tmp_path / "resp.edf", [*ecg_channels(source), ("Resp", resp, 25.0, "")])
    rec = read_edf(path)
    assert rec.leads == ("MLII", "V1")
    assert rec.meta["non_ecg_channels"] == ["Resp"] and rec.meta["dropped_channels"] == []


def test_edf_ecg_channels_at_a_minority_rate_are_dropped_and_reported(source, tmp_path):
    ecg3 = source[0, ::2]  # 180 Hz
    path = write_edf(tmp_path / "rates.edf", [*ecg_channels(source), ("ECG3", ecg3, FS / 2, "mV")])
    rec = read_edf(path)
    assert rec.leads == ("MLII", "V1") and rec.fs == FS
    assert rec.meta["dropped_channels"] == ["ECG3 (180 Hz)"]


def test_edf_plus_rhythm_annotations_become_rhythm_intervals(source, tmp_path):
    annotations = [
        edfio.EdfAnnotation(0.0, None, "(N"),
        edfio.EdfAnnotation(20.0, None, "(AFIB"),
        edfio.EdfAnnotation(30.0, None, "Event button"),  # not a rhythm: ignored
        edfio.EdfAnnotation(45.0, 10.0, "(N"),  # has a duration: ends at 55 s
    ]
    path = write_edf(tmp_path / "annotated.edf", ecg_channels(source), annotations)
    rec = read_edf(path)
    spans = [(r.start_s, r.end_s, r.rhythm, r.label) for r in rec.rhythms]
    assert spans == [(0.0, 20.0, "N", "SR"), (20.0, 45.0, "AFIB", "AF"), (45.0, 55.0, "N", "SR")]


def test_rhythm_code_accepts_documented_texts_only():
    assert [rhythm_code(t) for t in ["(AFIB", "afib", " AF ", "(N", "N", "NSR", "(SBR", "(VT)"]] == [
        "AFIB", "AFIB", "AFIB", "N", "N", "N", "SBR", "VT"]
    assert [rhythm_code(t) for t in ["Event button", "SBR", "", "Recording starts"]] == [None] * 4


def test_edf_partial_read_returns_requested_samples_and_start(source, tmp_path):
    path = write_edf(tmp_path / "part.edf", ecg_channels(source), [edfio.EdfAnnotation(20.0, None, "(AFIB")])
    rec = read_edf(path, start_s=10.5, end_s=25.0)
    lo, hi = int(10.5 * FS), int(25 * FS)
    assert rec.start_s == pytest.approx(10.5) and rec.n_samples == hi - lo
    assert np.abs(rec.signal[0] - source[0, lo:hi]).max() <= quantum(source[0])
    assert rec.meta["n_samples_total"] == source.shape[1]
    assert [(r.start_s, r.end_s) for r in rec.rhythms] == [(20.0, 60.0)]  # whole-record times


def test_edf_range_outside_record_is_one_line_error(source, tmp_path):
    path = write_edf(tmp_path / "short.edf", ecg_channels(source))
    with pytest.raises(BadInputError) as exc:
        read_edf(path, start_s=120.0)
    assert_one_line(exc, path, "outside the record")


def test_edf_info_gives_header_facts_without_reading_samples(source, tmp_path, monkeypatch):
    path = write_edf(tmp_path / "info.edf", ecg_channels(source))

    def no_reading(*args, **kwargs):
        raise AssertionError("edf_info read signal data")

    monkeypatch.setattr(edfio.EdfSignal, "get_digital_slice", no_reading)
    monkeypatch.setattr(edfio.EdfSignal, "digital", property(no_reading))
    info = edf_info(path)
    assert (info.fs, info.n_samples, info.leads, info.reader) == (FS, source.shape[1], ("MLII", "V1"), "edf")
    assert info.duration_s == SECONDS


def test_edf_without_ecg_channel_error_lists_the_labels(source, tmp_path):
    path = write_edf(tmp_path / "noecg.edf", [("Resp", source[0], FS, ""), ("SpO2", source[1], FS, "%")])
    with pytest.raises(BadInputError) as exc:
        read_edf(path)
    assert_one_line(exc, path, "no ECG channel", "'Resp'", "'SpO2'")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(np.random.default_rng(0).bytes(5000), id="random-bytes"),
        pytest.param(b"0       " + np.random.default_rng(1).bytes(5000), id="garbage-after-version"),
        pytest.param(b"0       short", id="shorter-than-a-header"),
        pytest.param(b"", id="empty"),
    ],
)
def test_corrupt_edf_is_one_line_bad_input(tmp_path, content):
    path = tmp_path / "corrupt.edf"
    path.write_bytes(content)
    for read in (read_edf, edf_info):
        with pytest.raises(BadInputError) as exc:
            read(path)
        assert_one_line(exc, path)


def test_truncated_edf_is_one_line_bad_input(source, tmp_path):
    path = write_edf(tmp_path / "cut.edf", ecg_channels(source))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadInputError) as exc:
        read_edf(path)
    assert_one_line(exc, path, "truncated")


def test_discontinuous_edf_plus_is_refused(source, tmp_path):
    path = write_edf(tmp_path / "gaps.edf", ecg_channels(source), [edfio.EdfAnnotation(1.0, None, "(N")])
    raw = bytearray(path.read_bytes())
    assert raw[192:197] == b"EDF+C"
    raw[192:197] = b"EDF+D"
    path.write_bytes(bytes(raw))
    with pytest.raises(BadInputError) as exc:
        read_edf(path)
    assert_one_line(exc, path, "discontinuous", "not supported")


# --- CSV -------------------------------------------------------------------------------------------


def write_csv(path: Path, header: list[str], rows: np.ndarray) -> Path:
    lines = [",".join(header)] + [",".join(f"{v:.6f}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def with_time(source: np.ndarray, fs: float = FS) -> np.ndarray:
    return np.column_stack([np.arange(source.shape[1]) / fs, source.T])


def test_csv_round_trip_matches_source(source, tmp_path):
    path = write_csv(tmp_path / "ecg.csv", ["time_s", "MLII", "ECG V1"], with_time(source))
    rec = read_csv(path, fs=FS)
    assert rec.leads == ("MLII", "V1") and rec.fs == FS and rec.record_id == "ecg"
    np.testing.assert_allclose(rec.signal, source, atol=1e-5)


def test_csv_without_time_column_and_with_unit_suffixes_is_scaled_to_mv(source, tmp_path):
    path = write_csv(tmp_path / "uv.csv", ["II [uV]", "V1_uV"], source.T * 1000)
    rec = read_csv(path, fs=FS)
    assert rec.leads == ("II", "V1")
    np.testing.assert_allclose(rec.signal, source, atol=1e-5)


def test_csv_partial_read_returns_requested_rows_and_start(source, tmp_path):
    path = write_csv(tmp_path / "part.csv", ["time_s", "MLII", "V1"], with_time(source))
    rec = read_csv(path, fs=FS, start_s=10.0, end_s=12.5)
    assert rec.start_s == pytest.approx(10.0) and rec.n_samples == int(2.5 * FS)
    np.testing.assert_allclose(rec.signal, source[:, 3600:4500], atol=1e-5)


def test_csv_info_gives_fs_rows_and_leads(source, tmp_path):
    path = write_csv(tmp_path / "info.csv", ["time_s", "MLII", "V1"], with_time(source))
    info = csv_info(path, fs=FS)
    assert (info.fs, info.n_samples, info.leads, info.reader) == (FS, source.shape[1], ("MLII", "V1"), "csv")


def test_csv_time_column_disagreeing_with_fs_is_refused(source, tmp_path):
    path = write_csv(tmp_path / "wrongfs.csv", ["time_s", "MLII", "V1"], with_time(source))
    with pytest.raises(BadInputError) as exc:
        read_csv(path, fs=250.0)
    assert_one_line(exc, path, "fs=250 Hz disagrees with the time_s column (360 Hz)")


def bad_csv_cases(source: np.ndarray) -> dict[str, tuple[str, str]]:
    good = [",".join(f"{v:.4f}" for v in row) for row in source[:, :100].T]
    non_numeric = list(good)
    non_numeric[16] = non_numeric[16].split(",")[0] + ",abc"
    ragged = list(good)
    ragged[40] += ",1.0"
    short = list(good)
    short[40] = short[40].split(",")[0]
    nan = list(good)
    nan[5] = "NaN,0.1"
    return {
        "non-numeric": ("MLII,V1\n" + "\n".join(non_numeric), "column 'V1' row 17 is not a number ('abc')"),
        "no-lead-column": ("time_s\n0\n0.0027\n", "no lead column"),
        "empty": ("", "empty file"),
        "header-only": ("MLII,V1\n", "no data rows"),
        "no-header": ("\n".join(good), "no header row"),
        "too-many-fields": ("MLII,V1\n" + "\n".join(ragged), "ragged"),
        "too-few-fields": ("MLII,V1\n" + "\n".join(short), "line 42 has 1 fields, the header has 2"),
        "nan": ("MLII,V1\n" + "\n".join(nan), "NaN"),
        "flat": ("MLII,V1\n" + "\n".join(["0.5,0.5"] * 100), "flat signal"),
        "duplicate-columns": ("II,II\n" + "\n".join(good), "duplicate column"),
        "time-not-time_s": ("time,II\n" + "\n".join(good), "name the time column 'time_s'"),
    }


@pytest.mark.parametrize(
    "case",
    ["non-numeric", "no-lead-column", "empty", "header-only", "no-header", "too-many-fields", "too-few-fields",
     "nan", "flat", "duplicate-columns", "time-not-time_s"],
)
def test_bad_csv_is_one_line_error_naming_file_and_problem(source, tmp_path, case):
    text, expected = bad_csv_cases(source)[case]
    path = tmp_path / f"bad-{case}.csv"
    path.write_text(text)
    with pytest.raises(BadInputError) as exc:
        read_csv(path, fs=FS)
    assert_one_line(exc, path, expected)


def test_csv_with_nan_is_read_when_nan_is_allowed(source, tmp_path):
    rows = source[:, :100].T.copy()
    rows[5, 0] = np.nan
    path = write_csv(tmp_path / "gap.csv", ["MLII", "V1"], rows)
    rec = read_csv(path, fs=FS, allow_nan=True)
    assert np.isnan(rec.signal[0, 5]) and np.isfinite(rec.signal[1]).all()


# --- the shared read() path ------------------------------------------------------------------------


def test_read_dispatches_edf_and_csv_by_extension(source, tmp_path):
    edf = write_edf(tmp_path / "a.edf", ecg_channels(source))
    csv = write_csv(tmp_path / "b.csv", ["time_s", "MLII", "V1"], with_time(source))
    assert ecgshift.io.read(edf).leads == ("MLII", "V1")
    assert ecgshift.io.read(csv, fs=FS, end_s=1.0).n_samples == int(FS)
    assert ecgshift.io.info(edf).reader == "edf" and ecgshift.io.info(csv, fs=FS).reader == "csv"


def test_read_csv_without_fs_is_one_line_error(tmp_path):
    path = tmp_path / "nofs.csv"
    path.write_text("II\n0.1\n0.2\n")
    with pytest.raises(BadInputError) as exc:
        ecgshift.io.read(path)
    assert_one_line(exc, path, "give fs")


def test_read_unknown_extension_is_one_line_error(tmp_path):
    path = tmp_path / "record.xyz"
    path.write_bytes(b"\x00\x01")
    with pytest.raises(BadInputError) as exc:
        ecgshift.io.read(path)
    assert_one_line(exc, path, "unknown file type '.xyz'")


def test_read_mat_without_header_is_one_line_error(tmp_path):
    path = tmp_path / "A00001.mat"
    path.write_bytes(b"\x00\x01")
    with pytest.raises(BadInputError) as exc:
        ecgshift.io.read(path)
    assert_one_line(exc, path, "A00001.hea")
