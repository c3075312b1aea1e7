"""Every WFDB reader path on the real files of ``shared/data``, and one-line errors for broken copies of them.

Expected values come from the files themselves (the header's sample count,
gain, initial values and 16-bit checksums; an independent decode of the
original .mat) or from the data README (what each folder holds).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.io.annotations import BEAT_SYMBOLS

pytestmark = pytest.mark.integration

STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture(scope="module")
def formats(shared_data: Path) -> Path:
    return shared_data / "formats"


def digital(record, header: wfdb.Record) -> np.ndarray:
    """The record's samples back in ADC units (int64), from its mV signal and the header's gain and baseline."""
    gain = np.asarray(header.adc_gain, float)[:, None]
    baseline = np.asarray(header.baseline, float)[:, None]
    return np.round(record.signal.astype(np.float64) * gain + baseline).astype(np.int64)


def signed16(values) -> list[int]:
    return [int((v + 32768) % 65536) - 32768 for v in values]


def assert_one_line_naming(exc: pytest.ExceptionInfo, name: str, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message, message
    assert name in message, message
    for fragment in fragments:
        assert fragment in message, message


# --- golden values from the headers and the original encodings ------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "formats/ptbxl/records100/00001_lr",  # format 16
        "formats/ptbxl/records500/00001_hr",  # format 16, 500 Hz
        "formats/mitdb/201",  # format 212
        "hecg/mitdb/201",  # FLAC 516
        "tecg/cinc2017/A00001",  # FLAC 516
        "recg/ptbxl/records100/00000/00001_lr",  # FLAC 516 over two signal files (8 + 4 channels)
        "formats/cinc2021/E07500",  # 12-lead .mat
        "formats/cinc2021/HR06000",
        "formats/cinc2021/JS20000",
    ],
)
def test_every_lead_matches_the_header_checksum_and_initial_value(shared_data: Path, record: str) -> None:
    header = wfdb.rdheader(str(shared_data / record))
    rec = io.read(shared_data / f"{record}.hea")

    assert rec.signal.dtype == np.float32
    assert rec.signal.shape == (header.n_sig, header.sig_len)
    assert rec.fs == header.fs
    samples = digital(rec, header)
    assert samples[:, 0].tolist() == list(header.init_value)
    assert signed16(samples.sum(axis=1)) == signed16(header.checksum)


def test_ptbxl_format16_lead_names_are_normalized_and_match_the_flac_copy(formats: Path, shared_data: Path) -> None:
    original = io.read(formats / "ptbxl" / "records100" / "00001_lr.hea")
    flac = io.read(shared_data / "recg" / "ptbxl" / "records100" / "00000" / "00001_lr.hea")

    assert wfdb.rdheader(str(formats / "ptbxl" / "records100" / "00001_lr")).sig_name[3:6] == ["AVR", "AVL", "AVF"]
    assert original.leads == STANDARD_12 and flac.leads == STANDARD_12
    assert (original.fs, original.n_samples) == (100.0, 1000)
    assert np.array_equal(original.signal, flac.signal)


def test_ptbxl_500hz_record_has_12_leads_and_10_seconds(formats: Path) -> None:
    rec = io.read(formats / "ptbxl" / "records500" / "00001_hr.hea")
    assert rec.leads == STANDARD_12 and rec.fs == 500.0 and rec.duration_s == 10.0


def test_cinc2017_mat_v4_is_one_300hz_ecg_lead_in_millivolts(formats: Path) -> None:
    rec = io.read(formats / "cinc2017" / "A00001.hea")
    raw = scipy.io.loadmat(formats / "cinc2017" / "A00001.mat")["val"]  # int16 ADC units, gain 1000/mV

    assert rec.fs == 300.0 and rec.leads == ("ECG",) and rec.signal.shape == (1, 9000)
    np.testing.assert_allclose(rec.signal, raw / 1000.0, rtol=0, atol=1e-6)
    assert 0.3 < np.ptp(rec.signal) < 10  # QRS complexes of a fraction of a mV to a few mV, so the unit is mV


def test_flac_516_copy_of_cinc2017_gives_exactly_the_samples_of_the_original_mat(formats: Path, shared_data: Path) -> None:
    original = io.read(formats / "cinc2017" / "A00001.hea")
    flac = io.read(shared_data / "tecg" / "cinc2017" / "A00001.hea")
    assert flac.leads == original.leads and flac.fs == original.fs
    assert np.array_equal(flac.signal, original.signal)


def test_flac_516_copy_of_mitdb_201_gives_exactly_the_samples_of_the_format_212_original(formats: Path, shared_data: Path) -> None:
    original = io.read(formats / "mitdb" / "201.hea")
    flac = io.read(shared_data / "hecg" / "mitdb" / "201.hea")
    assert flac.leads == original.leads == ("MLII", "V1")
    assert np.array_equal(flac.signal, original.signal)


def test_mitdb_201_format_212_has_af_rhythm_intervals_and_every_beat(formats: Path) -> None:
    rec = io.read(formats / "mitdb" / "201.hea")
    ann = wfdb.rdann(str(formats / "mitdb" / "201"), "atr")

    assert rec.fs == 360.0 and rec.n_samples == 650000
    assert "AFIB" in {r.rhythm for r in rec.rhythms}
    assert any(r.label == "AF" and r.duration_s > 60 for r in rec.rhythms)
    expected_beats = [s for s in ann.symbol if s in BEAT_SYMBOLS]
    assert len(rec.beats) == len(expected_beats) > 1000  # ~30 min of heart beats
    assert rec.beats.fs == 360.0
    starts = [r.start_s for r in rec.rhythms]
    assert starts == sorted(starts)
    assert all(a.end_s == b.start_s for a, b in zip(rec.rhythms, rec.rhythms[1:]))  # contiguous
    assert rec.rhythms[-1].end_s == pytest.approx(650000 / 360)  # the last rhythm runs to the end


@pytest.mark.parametrize(
    ("record", "label"),
    [("E07500", "other"), ("HR06000", "SR"), ("JS20000", "other")],  # Dx codes: see the headers
)
def test_cinc2021_dx_snomed_codes_give_the_harmonized_label(formats: Path, record: str, label: str) -> None:
    rec = io.read(formats / "cinc2021" / f"{record}.hea")
    dx_line = next(c for c in wfdb.rdheader(str(formats / "cinc2021" / record)).comments if c.strip().startswith("Dx"))
    codes = tuple(dx_line.split(":", 1)[1].strip().split(","))

    assert rec.labels == codes
    assert rec.label == label
    assert ("164889003" in codes) == (label == "AF") and ("426783006" in codes) == (label == "SR")
    assert rec.leads == STANDARD_12 and rec.fs == 500.0 and rec.n_samples == 5000


def test_ltafdb_annotation_only_record_has_no_leads_but_its_true_length_beats_and_af(shared_data: Path) -> None:
    hea = shared_data / "hecg-rr" / "ltafdb" / "00.hea"
    header = wfdb.rdheader(str(hea.with_suffix("")))
    rec = io.read(hea)

    assert not hea.with_suffix(".dat").exists()
    assert rec.signal.shape == (0, header.sig_len) and not rec.has_signal and rec.leads == ()
    assert rec.fs == 128.0
    assert len(rec.beats) > 10_000 and rec.beats.sample.max() < header.sig_len
    assert any(r.label == "AF" for r in rec.rhythms)
    assert rec.signal.nbytes == 0


def test_nsr2db_record_takes_its_duration_from_the_beat_annotations(shared_data: Path) -> None:
    hea = shared_data / "hecg-rr" / "nsr2db" / "nsr001.hea"
    ann = wfdb.rdann(str(hea.with_suffix("")), "ecg")
    rec = io.read(hea)

    assert wfdb.rdheader(str(hea.with_suffix(""))).sig_len == 0
    assert rec.n_samples == int(max(ann.sample)) + 1
    assert 20 * 3600 < rec.duration_s < 26 * 3600  # a ~24-h recording (README)
    assert len(rec.beats) > 50_000 and set(rec.beats.symbol) <= BEAT_SYMBOLS
    assert rec.rhythms == ()


# --- partial reads and header-only facts ------------------------------------------------------------


def test_partial_read_returns_the_requested_samples_and_start(formats: Path) -> None:
    whole = io.read(formats / "mitdb" / "201.hea")
    part = io.read(formats / "mitdb" / "201.hea", start_s=10.0, end_s=12.5)

    assert part.start_s == 10.0
    assert part.n_samples == int(2.5 * 360)
    assert np.array_equal(part.signal, whole.signal[:, 3600:4500])
    assert part.meta["n_samples_total"] == 650000


def test_partial_read_of_flac_matches_the_same_range_of_the_whole_record(shared_data: Path) -> None:
    hea = shared_data / "hecg" / "mitdb" / "201.hea"
    whole = io.read(hea)
    part = io.read(hea, start_s=1000.0, end_s=1001.0)
    assert part.start_s == 1000.0 and np.array_equal(part.signal, whole.signal[:, 360_000:360_360])


def test_partial_read_of_annotation_only_record_spans_the_requested_samples(shared_data: Path) -> None:
    rec = io.read(shared_data / "hecg-rr" / "ltafdb" / "00.hea", start_s=3600.0, end_s=7200.0)
    assert rec.start_s == 3600.0 and rec.signal.shape == (0, 3600 * 128)


def test_partial_read_outside_the_record_is_one_line_error(formats: Path) -> None:
    with pytest.raises(BadInputError) as exc:
        io.read(formats / "mitdb" / "201.hea", start_s=4000.0, end_s=4010.0)
    assert_one_line_naming(exc, "201.hea", "outside the record")


def test_info_reads_only_the_header(formats: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reading(*args, **kwargs):
        raise AssertionError("info() must not read samples")

    monkeypatch.setattr(wfdb, "rdrecord", no_reading)
    monkeypatch.setattr(wfdb, "rdann", no_reading)
    lone_header = tmp_path / "00001_lr.hea"  # the signal file is not even there
    shutil.copyfile(formats / "ptbxl" / "records100" / "00001_lr.hea", lone_header)

    facts = io.info(lone_header)
    assert (facts.fs, facts.n_samples, facts.leads, facts.reader) == (100.0, 1000, STANDARD_12, "wfdb")
    assert facts.duration_s == 10.0 and facts.record_id == "00001_lr"


def test_info_of_a_26_hour_annotation_only_record_gives_its_header_length(shared_data: Path) -> None:
    header = wfdb.rdheader(str(shared_data / "hecg-rr" / "ltafdb" / "00"))
    facts = io.info(shared_data / "hecg-rr" / "ltafdb" / "00.hea")
    assert facts.n_samples == header.sig_len and facts.fs == 128.0
    assert facts.duration_s == header.sig_len / 128.0


# --- broken copies of real files: one line, naming the file ------------------------------------------


def test_truncated_format_212_dat_gives_one_line_error_naming_file(copy_record, formats: Path, tmp_path: Path) -> None:
    hea = copy_record(formats / "mitdb" / "201.hea", tmp_path)
    dat = tmp_path / "201.dat"
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    with pytest.raises(BadInputError) as exc:
        io.read(hea)
    assert_one_line_naming(exc, "201.dat", "truncated")


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.99])
def test_truncated_flac_516_dat_gives_one_line_error_naming_file(copy_record, shared_data: Path, tmp_path: Path, keep: float) -> None:
    hea = copy_record(shared_data / "tecg" / "cinc2017" / "A00001.hea", tmp_path)
    dat = tmp_path / "A00001.dat"
    dat.write_bytes(dat.read_bytes()[: int(dat.stat().st_size * keep)])
    with pytest.raises(BadInputError) as exc:
        io.read(hea)
    assert_one_line_naming(exc, "A00001", "could not be decoded")


def test_header_naming_a_missing_signal_file_gives_one_line_error_naming_it(formats: Path, tmp_path: Path) -> None:
    hea = tmp_path / "00001_lr.hea"
    shutil.copyfile(formats / "ptbxl" / "records100" / "00001_lr.hea", hea)
    with pytest.raises(BadInputError) as exc:
        io.read(hea)
    assert_one_line_naming(exc, "00001_lr.dat", "missing")


def test_header_longer_than_its_signal_file_gives_one_line_error_naming_file(copy_record, formats: Path, tmp_path: Path) -> None:
    hea = copy_record(formats / "ptbxl" / "records100" / "00001_lr.hea", tmp_path)
    hea.write_text(hea.read_text().replace("00001_lr 12 100 1000", "00001_lr 12 100 2000", 1))
    with pytest.raises(BadInputError) as exc:
        io.read(hea)
    assert_one_line_naming(exc, "00001_lr.dat", "truncated", "24000 bytes")  # 1000 samples × 12 leads × 2 bytes


def _sine_record(tmp_path: Path, name: str, signal: np.ndarray, fs: float = 360.0) -> Path:
    wfdb.wrsamp(name, fs=fs, units=["mV"] * signal.shape[1], sig_name=["I", "II"][: signal.shape[1]],
                p_signal=signal, fmt=["16"] * signal.shape[1], write_dir=str(tmp_path))
    return tmp_path / f"{name}.hea"


def test_nan_in_a_wfdb_signal_gives_one_line_error_unless_allowed(tmp_path: Path) -> None:
    t = np.arange(3600) / 360.0
    signal = np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t)], axis=1)
    signal[100:200, 0] = np.nan
    hea = _sine_record(tmp_path, "gap", signal)

    with pytest.raises(BadInputError) as exc:
        io.read(hea)
    assert_one_line_naming(exc, "gap.hea", "NaN", "100 of 7200")

    rec = io.read(hea, allow_nan=True)  # the gap survives as NaN, exactly where it was
    assert np.flatnonzero(np.isnan(rec.signal[0])).tolist() == list(range(100, 200))
    assert np.isfinite(rec.signal[1]).all()


def test_infinite_value_gives_one_line_error_naming_file(tmp_path: Path) -> None:
    path = tmp_path / "spike.csv"
    values = np.sin(np.linspace(0, 20, 500))
    path.write_text("II\n" + "\n".join(["inf" if i == 250 else f"{v:.4f}" for i, v in enumerate(values)]) + "\n")
    with pytest.raises(BadInputError) as exc:
        io.read(path, fs=100.0, allow_nan=True)  # allowing gaps never allows infinities
    assert_one_line_naming(exc, "spike.csv", "infinite")


def test_flat_wfdb_signal_gives_one_line_error_naming_file(tmp_path: Path) -> None:
    wfdb.wrsamp("flat", fs=360, units=["mV", "mV"], sig_name=["I", "II"], p_signal=np.full((3600, 2), 0.25),
                fmt=["16", "16"], adc_gain=[200.0, 200.0], baseline=[0, 0], write_dir=str(tmp_path))
    with pytest.raises(BadInputError) as exc:
        io.read(tmp_path / "flat.hea")
    assert_one_line_naming(exc, "flat.hea", "flat signal")


def test_zero_length_record_gives_one_line_error_naming_file(tmp_path: Path) -> None:
    (tmp_path / "empty.hea").write_text("empty 1 360 0\nempty.dat 16 200 16 0 0 0 0 I\n")
    (tmp_path / "empty.dat").write_bytes(b"")
    with pytest.raises(BadInputError) as exc:
        io.read(tmp_path / "empty.hea")
    assert_one_line_naming(exc, "empty.hea", "zero-length")


def test_header_without_signal_or_annotations_gives_one_line_error_naming_file(tmp_path: Path) -> None:
    (tmp_path / "nothing.hea").write_text("nothing 0 128 0\n")
    with pytest.raises(BadInputError) as exc:
        io.read(tmp_path / "nothing.hea")
    assert_one_line_naming(exc, "nothing.hea", "no signal file and no annotation file")


@pytest.mark.parametrize(("name", "fragment"), [("notes.txt", "unknown file type '.txt'"), ("recording", "no file extension")])
def test_unknown_extension_gives_one_line_error_naming_file(tmp_path: Path, name: str, fragment: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"0.1\n0.2\n")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line_naming(exc, name, fragment)


@pytest.mark.parametrize("fs", ["0", "5"])
def test_implausible_header_sampling_rate_gives_one_line_error_naming_file(copy_record, formats: Path, tmp_path: Path, fs: str) -> None:
    hea = copy_record(formats / "ptbxl" / "records100" / "00001_lr.hea", tmp_path)
    hea.write_text(hea.read_text().replace("00001_lr 12 100 1000", f"00001_lr 12 {fs} 1000", 1))
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(hea)
        assert_one_line_naming(exc, "00001_lr.hea", "sampling rate")


def test_garbage_header_gives_one_line_error_naming_file(copy_record, formats: Path, tmp_path: Path) -> None:
    copy_record(formats / "mitdb" / "201.hea", tmp_path)
    (tmp_path / "201.hea").write_text("this is not\na WFDB header: 3 x y z\n")
    with pytest.raises(BadInputError) as exc:
        io.read(tmp_path / "201.hea")
    assert_one_line_naming(exc, "201.hea", "unreadable WFDB header")
