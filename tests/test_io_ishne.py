"""ISHNE Holter reader, on files written here from five minutes of MIT-BIH 201 (MLII, V1; 360 Hz; 200 adu/mV).

The writer packs the header field by field from the ISHNE standard's table
(not from the reader's format string) and computes the CRC bit by bit.
"""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgshift import io
from ecgshift.errors import BadInputError

FS = 360
SECONDS = 300


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, bit by bit: polynomial 0x1021, initial 0xFFFF, no reflection."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_crc_implementation_gives_the_standard_check_value() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1


@pytest.fixture(scope="module")
def mitdb(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(digital samples minus baseline, int16, samples × 2; the same in mV as wfdb reads them)."""
    rec = wfdb.rdrecord(str(shared_data / "formats" / "mitdb" / "201"), sampto=FS * SECONDS, physical=False)
    assert rec.sig_name == ["MLII", "V1"] and list(rec.adc_gain) == [200.0, 200.0]
    digital = (rec.d_signal - np.asarray(rec.baseline)).astype(np.int16)
    physical = wfdb.rdrecord(str(shared_data / "formats" / "mitdb" / "201"), sampto=FS * SECONDS).p_signal
    return digital, physical


def write_ishne(path: Path, samples: np.ndarray, *, specs=(6, 11), resolution_nv=5000, fs=FS, var_block=b"MIT-BIH 201",
                samples_field: int | None = None, magic: bytes = b"ISHNE1.0") -> Path:
    n, leads = samples.shape
    var_size = len(var_block)
    fixed = b"".join([
        struct.pack("<i", var_size),                              # size of the variable-length block
        struct.pack("<i", n if samples_field is None else samples_field),  # samples per lead
        struct.pack("<i", 522),                                   # offset of the variable-length block
        struct.pack("<i", 522 + var_size),                        # offset of the ECG block
        struct.pack("<h", 1),                                     # file version
        b"Test".ljust(40, b"\0"), b"Patient".ljust(40, b"\0"), b"201".ljust(20, b"\0"),
        struct.pack("<hh", 1, 0),                                 # sex, race
        struct.pack("<3h", 1, 1, 1960),                           # birth date (day, month, year)
        struct.pack("<3h", 14, 2, 1980),                          # record date
        struct.pack("<3h", 1, 12, 2026),                          # file date
        struct.pack("<3h", 9, 30, 5),                             # start time (hour, minute, second)
        struct.pack("<h", leads),
        struct.pack("<12h", *specs, *[-9] * (12 - leads)),        # lead codes
        struct.pack("<12h", *[0] * 12),                           # lead quality
        struct.pack("<12h", *[resolution_nv] * leads, *[-9] * (12 - leads)),
        struct.pack("<h", 0),                                     # pacemaker
        b"digital".ljust(40, b"\0"),
        struct.pack("<h", fs),
        b"".ljust(80, b"\0"), b"".ljust(80, b"\0"), b"".ljust(88, b"\0"),
    ])
    assert len(fixed) == 512
    header = fixed + var_block
    path.write_bytes(magic + struct.pack("<H", crc16_ccitt(header)) + header + samples.astype("<i2").tobytes())
    return path


def assert_one_line(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and path.name in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_ishne_round_trip_gives_the_mitdb_samples_in_mv(tmp_path: Path, mitdb) -> None:
    digital, physical = mitdb
    path = write_ishne(tmp_path / "holter.ecg", digital)
    rec = io.read(path)
    assert io.reader_for(path).name == "ishne"
    assert rec.leads == ("II", "V1") and rec.fs == FS and rec.n_samples == FS * SECONDS
    np.testing.assert_allclose(rec.signal, physical.T, rtol=0, atol=1e-6)  # 5000 nV per unit = 1/200 mV
    assert rec.start_time == dt.datetime(1980, 2, 14, 9, 30, 5)
    assert rec.notes == ()


def test_ishne_partial_read_and_info_match_the_whole(tmp_path: Path, mitdb) -> None:
    path = write_ishne(tmp_path / "holter.ecg", mitdb[0])
    whole = io.read(path)
    part = io.read(path, start_s=100.0, end_s=130.0)
    assert part.start_s == 100.0 and np.array_equal(part.signal, whole.signal[:, 36000:46800])
    facts = io.info(path)
    assert (facts.fs, facts.n_samples, facts.leads, facts.reader) == (FS, FS * SECONDS, ("II", "V1"), "ishne")
    assert facts.start_time == whole.start_time
    assert io.read(path, channel="V1", end_s=1).leads == ("V1",)


def test_ishne_generic_lead_codes_are_named_by_position(tmp_path: Path, mitdb) -> None:
    rec = io.read(write_ishne(tmp_path / "generic.ecg", mitdb[0][:3600], specs=(0, 1)))
    assert rec.leads == ("ECG1", "ECG2")


def test_ishne_sample_count_written_as_total_over_leads_is_read_with_a_note(tmp_path: Path, mitdb) -> None:
    digital = mitdb[0][:3600]
    rec = io.read(write_ishne(tmp_path / "total.ecg", digital, samples_field=2 * 3600))
    assert rec.n_samples == 3600
    assert rec.notes == ("the ISHNE header's sample count is the total over all leads, not per lead (read as such)",)


def test_ishne_bad_magic_is_one_line_error(tmp_path: Path, mitdb) -> None:
    path = write_ishne(tmp_path / "magic.ecg", mitdb[0][:3600], magic=b"ISHNE2.0")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "not an ISHNE Holter file", "ISHNE2.0")


def test_ishne_annotation_file_is_refused_as_not_an_ecg(tmp_path: Path, mitdb) -> None:
    path = write_ishne(tmp_path / "beats.ecg", mitdb[0][:3600], magic=b"ANN  1.0")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "annotation file")


@pytest.mark.parametrize("keep", [10, 300, 522 + 11 + 4000])
def test_truncated_ishne_is_one_line_error(tmp_path: Path, mitdb, keep: int) -> None:
    path = write_ishne(tmp_path / "cut.ecg", mitdb[0][:3600])
    path.write_bytes(path.read_bytes()[:keep])
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(path)
        assert_one_line(exc, path, "truncated" if keep > 300 else "")


def test_ishne_bad_crc_is_refused_not_read(tmp_path: Path, mitdb) -> None:
    path = write_ishne(tmp_path / "crc.ecg", mitdb[0][:3600])
    raw = bytearray(path.read_bytes())
    raw[10 + 272 - 10] ^= 0x01  # one bit of the sampling-rate field (file offset 272): 360 → 361 Hz
    path.write_bytes(bytes(raw))
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "checksum mismatch", "corrupt header")


def test_ishne_implausible_resolution_is_one_line_error(tmp_path: Path, mitdb) -> None:
    path = write_ishne(tmp_path / "res.ecg", mitdb[0][:3600], resolution_nv=0)
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, "resolutions")


def test_wfdb_beat_annotation_file_named_ecg_still_goes_to_the_wfdb_reader(shared_data: Path) -> None:
    ann = shared_data / "hecg-rr" / "nsr2db" / "nsr001.ecg"
    assert io.reader_for(ann).name == "wfdb"
    assert len(io.read(ann, end_s=60).beats) > 1000
