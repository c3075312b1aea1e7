"""Consumer-device exports: Apple Watch ECG CSV and Polar H10 text, written here from a real CinC 2017 record.

A00004 (AF, AliveCor, 300 Hz, 30 s) is resampled to each device's rate with
``scipy.signal.resample_poly`` and written in µV as the device's app does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import scipy.signal as sps
import wfdb

from ecgshift import io
from ecgshift.errors import BadInputError


@pytest.fixture(scope="module")
def cinc(shared_data: Path) -> np.ndarray:
    rec = wfdb.rdrecord(str(shared_data / "tecg" / "cinc2017" / "A00004"))
    assert rec.fs == 300 and rec.sig_name == ["ECG"]
    return rec.p_signal[:, 0]


def assert_one_line(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and path.name in message, message
    for fragment in fragments:
        assert fragment in message, message


# --- Apple Watch ----------------------------------------------------------------------------------

APPLE_HEADER = [
    "Name,Jane Doe",
    'Date of Birth,"Jan 1, 1980"',
    "Recorded Date,2023-05-01 10:12:33 +0200",
    "Classification,Atrial Fibrillation",
    "Symptoms,",
    "Software Version,2.0",
    'Device,"Watch6,2"',
    "Sample Rate,512 hertz",
    "Lead,Lead I",
    "Unit,µV",
    "",
]


def apple_uv(cinc: np.ndarray) -> np.ndarray:
    return sps.resample_poly(cinc, 128, 75) * 1000  # 300 Hz → 512 Hz, mV → µV


def write_apple(path: Path, uv: np.ndarray, header: list[str] = APPLE_HEADER) -> Path:
    path.write_text("\n".join([*header, *(f"{v:.3f}" for v in uv)]) + "\n", encoding="utf-8")
    return path


def test_apple_watch_export_is_read_with_its_own_rate_unit_lead_and_time(tmp_path: Path, cinc: np.ndarray) -> None:
    uv = apple_uv(cinc)
    path = write_apple(tmp_path / "ecg_2023-05-01.csv", uv)
    rec = io.read(path)  # no fs: the export states it
    assert io.reader_for(path).name == "apple_csv" and io.stores_fs(path)
    assert rec.fs == 512.0 and rec.leads == ("I",) and rec.n_samples == uv.size == 15360
    np.testing.assert_allclose(rec.signal[0], uv / 1000, rtol=0, atol=1e-6)
    assert rec.start_time == dt.datetime(2023, 5, 1, 10, 12, 33, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert rec.meta["classification"] == "Atrial Fibrillation" and rec.meta["device"] == "Watch6,2"
    assert rec.label is None  # the watch's verdict is not a reference label
    assert "Jane" not in repr(rec.meta)


def test_apple_info_and_partial_read(tmp_path: Path, cinc: np.ndarray) -> None:
    path = write_apple(tmp_path / "ecg.csv", apple_uv(cinc))
    facts = io.info(path)
    assert (facts.fs, facts.n_samples, facts.leads, facts.reader) == (512.0, 15360, ("I",), "apple_csv")
    whole, part = io.read(path), io.read(path, start_s=10.0, end_s=12.0)
    assert part.start_s == 10.0 and np.array_equal(part.signal, whole.signal[:, 5120:6144])


def test_plain_csv_still_needs_fs_and_is_not_taken_for_an_apple_export(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("II\n" + "\n".join(f"{np.sin(i / 10):.4f}" for i in range(500)) + "\n")
    assert io.reader_for(path).name == "csv" and not io.stores_fs(path)
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "give fs")


@pytest.mark.parametrize(
    ("drop", "replace", "fragment"),
    [
        ("Sample Rate,512 hertz", None, "without a 'Sample Rate' line"),
        ("Unit,µV", None, "without a 'Unit' line"),
        ("Sample Rate,512 hertz", "Sample Rate,fast", "is not a number of hertz"),
        ("Sample Rate,512 hertz", "Sample Rate,5 hertz", "sampling rate"),
        ("Unit,µV", "Unit,mmHg", "no ECG channel"),
    ],
    ids=["no-rate", "no-unit", "bad-rate", "low-rate", "not-voltage"],
)
def test_malformed_apple_header_is_one_line_error(tmp_path: Path, cinc: np.ndarray, drop: str, replace: str | None, fragment: str) -> None:
    header = [line if line != drop else replace for line in APPLE_HEADER]
    path = write_apple(tmp_path / "bad.csv", apple_uv(cinc)[:2000], [line for line in header if line is not None])
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, fragment)


def test_apple_sample_that_is_not_a_number_is_named(tmp_path: Path, cinc: np.ndarray) -> None:
    path = write_apple(tmp_path / "bad.csv", apple_uv(cinc)[:2000])
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[len(APPLE_HEADER) + 99] = "n/a"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "sample 100 ('n/a') is not a number")


# --- Polar H10 ------------------------------------------------------------------------------------

POLAR_T0_NS = 599_618_499_845_993_345  # Polar's clock: ns since 2000-01-01


def write_polar(path: Path, uv: np.ndarray, *, keep: np.ndarray | None = None) -> Path:
    """Sensor Logger layout: 130 Hz samples, phone timestamps per 73-sample Bluetooth batch."""
    index = np.arange(uv.size) if keep is None else keep
    start = dt.datetime(2023, 3, 1, 10, 12, 33, 123000)
    lines = ["Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]"]
    for i in index:
        phone = start + dt.timedelta(seconds=(i // 73) * 73 / 130)
        lines.append(f"{phone.isoformat(timespec='milliseconds')};{POLAR_T0_NS + round(i * 1e9 / 130)};{i * 1000 / 130:.3f};{int(round(uv[i]))}")
    path.write_text("\n".join(lines) + "\n")
    return path


def polar_uv(cinc: np.ndarray) -> np.ndarray:
    return sps.resample_poly(cinc, 13, 30) * 1000  # 300 Hz → 130 Hz, mV → µV


def test_polar_h10_export_gives_130_hz_from_its_timestamps(tmp_path: Path, cinc: np.ndarray) -> None:
    uv = polar_uv(cinc)
    path = write_polar(tmp_path / "Polar_H10_ECG.txt", uv)
    rec = io.read(path)
    assert io.reader_for(path).name == "polar_txt" and io.stores_fs(path)
    assert rec.fs == 130.0 and rec.leads == ("ECG",) and rec.n_samples == uv.size == 3900
    assert np.abs(rec.signal[0] - uv / 1000).max() <= 0.5e-3 + 1e-6  # whole µV in the file
    assert rec.start_time == dt.datetime(2023, 3, 1, 10, 12, 33, 123000)
    assert rec.notes == ()
    facts = io.info(path)
    assert (facts.fs, facts.n_samples, facts.leads) == (130.0, 3900, ("ECG",))
    part = io.read(path, start_s=10, end_s=20)
    assert np.array_equal(part.signal, rec.signal[:, 1300:2600])


def test_polar_drop_out_is_joined_and_named_in_a_note(tmp_path: Path, cinc: np.ndarray) -> None:
    uv = polar_uv(cinc)
    keep = np.r_[0:1000, 1100:uv.size]  # 100 samples (0.77 s) lost over Bluetooth
    rec = io.read(write_polar(tmp_path / "gap.txt", uv, keep=keep))
    assert rec.fs == 130.0 and rec.n_samples == keep.size
    assert rec.notes == ("1 drop-outs in the Polar timestamps (0.77 s in all): samples either side are joined",)


def test_polar_timestamps_going_backwards_are_one_line_error(tmp_path: Path, cinc: np.ndarray) -> None:
    uv = polar_uv(cinc)[:500]
    path = write_polar(tmp_path / "back.txt", uv, keep=np.r_[0:200, 150:500])
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "does not increase at line 202")


def test_text_file_that_is_no_polar_export_is_an_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("time;value\n0;1\n")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "unknown file type '.txt'", "not a Polar H10 ECG export")


def test_polar_value_that_is_not_a_number_is_one_line_error(tmp_path: Path, cinc: np.ndarray) -> None:
    path = write_polar(tmp_path / "bad.txt", polar_uv(cinc)[:300])
    lines = path.read_text().splitlines()
    lines[50] = lines[50].rsplit(";", 1)[0] + ";abc"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "malformed Polar export rows")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [(1, "99999999999999999999", "malformed Polar export rows"), (3, "1e309", "infinite")],
    ids=["timestamp-overflow", "infinite-value"],  # found by tests/test_io_fuzz.py
)
def test_polar_out_of_range_numbers_are_one_line_errors(tmp_path: Path, cinc: np.ndarray, column: int, value: str, fragment: str) -> None:
    path = write_polar(tmp_path / "range.txt", polar_uv(cinc)[:300])
    lines = path.read_text().splitlines()
    cells = lines[20].split(";")
    cells[column] = value
    lines[20] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, fragment)


def test_apple_comma_decimal_is_read_when_quoted_and_refused_when_not(tmp_path: Path, cinc: np.ndarray) -> None:
    uv = apple_uv(cinc)[:1000]
    quoted = tmp_path / "quoted.csv"
    quoted.write_text("\n".join([*APPLE_HEADER, *(f'"{v:.3f}"'.replace(".", ",") for v in uv)]) + "\n", encoding="utf-8")
    np.testing.assert_allclose(io.read(quoted).signal[0], uv / 1000, atol=1e-6)
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join([*APPLE_HEADER, *(f"{v:.3f}".replace(".", ",") for v in uv)]) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError) as exc:
        io.read(bare)
    assert_one_line(exc, bare, "sample 1", "more than one field")
