"""DICOM ECG waveforms, on pydicom's own 12-lead example file (shipped in its wheel: offline)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from ecgshift import io
from ecgshift.errors import BadInputError

STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """pydicom's waveform_ecg.dcm (12 leads, 1000 Hz, a 10-s RHYTHM group and a 1.2-s MEDIAN BEAT group)."""
    path = tmp_path / "waveform_ecg.dcm"
    shutil.copyfile(get_testdata_file("waveform_ecg.dcm"), path)
    return path


def raw_samples(path: Path) -> np.ndarray:
    """The stored int16 samples of the first group, channels × samples, decoded here with numpy alone."""
    item = pydicom.dcmread(path).WaveformSequence[0]
    raw = np.frombuffer(item.WaveformData, dtype="<i2")
    return raw.reshape(item.NumberOfWaveformSamples, item.NumberOfWaveformChannels).T


def assert_one_line(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and path.name in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_dicom_example_is_12_standard_leads_of_10_seconds_at_1000_hz(example: Path) -> None:
    rec = io.read(example)
    assert io.reader_for(example).name == "dicom"
    assert rec.leads == STANDARD_12 and rec.fs == 1000.0 and rec.duration_s == 10.0
    assert rec.signal.dtype == np.float32 and rec.signal.shape == (12, 10000)
    assert rec.meta["multiplex_group"] == "RHYTHM"  # not the median beat
    assert rec.start_time == dt.datetime(2013, 1, 25, 10, 59, 19)  # AcquisitionDateTime 20130125105919


def test_dicom_samples_are_the_stored_integers_times_1_25_uv_in_millivolts(example: Path) -> None:
    rec = io.read(example)
    raw = raw_samples(example)
    np.testing.assert_allclose(rec.signal, raw * 1.25e-3, rtol=0, atol=1e-6)  # float32  # ChannelSensitivity 1.25 uV, baseline 0
    assert rec.signal[0, 0] == pytest.approx(0.1)  # lead I starts at 80 × 1.25 uV
    expected = pydicom.dcmread(example).waveform_array(0).T / 1000.0  # pydicom's own scaling, in uV
    np.testing.assert_allclose(rec.signal, expected, rtol=0, atol=1e-6)  # float32


def test_dicom_partial_read_and_info_agree_with_the_whole(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = io.read(example)
    part = io.read(example, start_s=2.0, end_s=3.5)
    assert part.start_s == 2.0 and np.array_equal(part.signal, whole.signal[:, 2000:3500])

    def no_decoding(*args, **kwargs):
        raise AssertionError("info() must not decode the waveform")

    monkeypatch.setattr(pydicom.Dataset, "waveform_array", no_decoding)
    facts = io.info(example)
    assert (facts.fs, facts.n_samples, facts.leads, facts.reader) == (1000.0, 10000, STANDARD_12, "dicom")
    assert facts.start_time == whole.start_time


def test_dicom_channel_override_reads_one_lead(example: Path) -> None:
    whole = io.read(example)
    rec = io.read(example, channel="aVF")
    assert rec.leads == ("aVF",) and np.array_equal(rec.signal[0], whole.signal[5])
    assert io.read(example, channel="Lead II").leads == ("II",)  # the file's own code meaning works too
    with pytest.raises(BadInputError) as exc:
        io.read(example, channel="V7")
    assert_one_line(exc, example, "no channel named 'V7'", "Lead I (Einthoven)")


def test_dicom_without_a_rhythm_group_reads_the_median_beat(example: Path) -> None:
    ds = pydicom.dcmread(example)
    del ds.WaveformSequence[0]
    ds.save_as(example)
    rec = io.read(example)
    assert rec.meta["multiplex_group"] == "MEDIAN BEAT" and rec.n_samples == 1200 and rec.leads == STANDARD_12


def test_dicom_non_ecg_channel_is_ignored_and_named(example: Path) -> None:
    ds = pydicom.dcmread(example)
    ds.WaveformSequence[0].ChannelDefinitionSequence[11].ChannelSourceSequence[0].CodeMeaning = "Respiration"
    ds.save_as(example)
    rec = io.read(example)
    assert rec.leads == STANDARD_12[:11] and rec.notes == ("ignored non-ECG channels: Respiration (uV)",)


def test_dicom_image_without_waveform_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    shutil.copyfile(get_testdata_file("CT_small.dcm"), path)
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(path)
        assert_one_line(exc, path, "no ECG waveform", "modality CT")


def test_dicom_waveform_data_shorter_than_declared_is_one_line_error(example: Path) -> None:
    ds = pydicom.dcmread(example)
    item = ds.WaveformSequence[0]
    item.WaveformData = item.WaveformData[: len(item.WaveformData) // 2]
    ds.save_as(example)
    with pytest.raises(BadInputError) as exc:
        io.read(example)
    assert_one_line(exc, example, "waveform data could not be decoded")


@pytest.mark.parametrize("content", [b"", b"DICM" * 10, np.random.default_rng(3).bytes(4000)], ids=["empty", "short", "random"])
def test_non_dicom_bytes_are_one_line_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.dcm"
    path.write_bytes(content)
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(path)
        assert_one_line(exc, path)


def test_truncated_dicom_file_is_one_line_error(example: Path) -> None:
    data = example.read_bytes()
    example.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError) as exc:
        io.read(example)
    assert_one_line(exc, example)
