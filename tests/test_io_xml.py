"""HL7 aECG and GE MUSE XML readers, on files written here from a real PTB-XL record (00001_hr: 12 leads, 500 Hz, 10 s).

The writers below follow the published layouts (HL7 v3 AnnotatedECG
sequenceSet; MUSE RestingECG Waveform/LeadData) and are deliberately small; the
expected values are wfdb's own read of the record.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.io.aecg import parse_hl7_time

STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
FS = 500.0


@pytest.fixture(scope="module")
def ptbxl(shared_data: Path) -> dict[str, np.ndarray]:
    """Lead name (canonical) → mV samples of PTB-XL 00001_hr, read by wfdb."""
    rec = wfdb.rdrecord(str(shared_data / "recg" / "ptbxl" / "records500" / "00000" / "00001_hr"))
    assert rec.fs == FS and rec.sig_len == 5000
    names = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}
    return {names.get(n, n): rec.p_signal[:, i] for i, n in enumerate(rec.sig_name)}


def assert_one_line(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and path.name in message, message
    for fragment in fragments:
        assert fragment in message, message


# --- HL7 aECG -------------------------------------------------------------------------------------

AECG_CODE = {"aVR": "AVR", "aVL": "AVL", "aVF": "AVF"}


def write_aecg(path: Path, leads: dict[str, np.ndarray], *, scale_uv: float = 2.5, origin_uv: float = 10.0,
               increment: str = '<increment value="0.002" unit="s"/>', extra_sequence: str = "") -> Path:
    """An AnnotatedECG with one RHYTHM series; digits = round((mV·1000 − origin) / scale)."""
    sequences = [
        ('<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
        f'<value xsi:type="GLIST_TS"><head value="20210304101500.000"/>{increment}</value></sequence></component>')
    ]
    for name, mv in leads.items():
        digits = " ".join(str(int(d)) for d in np.round((mv * 1000 - origin_uv) / scale_uv))
        sequences.append(
            f'<component><sequence><code code="MDC_ECG_LEAD_{AECG_CODE.get(name, name)}" codeSystem="2.16.840.1.113883.6.24"/>'
            f'<value xsi:type="SLIST_PQ"><origin value="{origin_uv}" unit="uV"/><scale value="{scale_uv}" unit="uV"/>'
            f"<digits>{digits}</digits></value></sequence></component>"
        )
    sequences.append(extra_sequence)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<id root="2.16.840.1.113883.3.1"/><code code="93000" codeSystem="2.16.840.1.113883.6.12"/>'
        '<effectiveTime><low value="20210304101500+0100"/><high value="20210304101510+0100"/></effectiveTime>'
        '<component><series><code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>'
        '<effectiveTime><low value="20210304101500.250"/></effectiveTime>'
        f'<component><sequenceSet>{"".join(sequences)}</sequenceSet></component>'
        "</series></component></AnnotatedECG>\n"
    )
    return path


def test_aecg_round_trip_of_ptbxl_matches_wfdb_within_quantization(tmp_path: Path, ptbxl: dict) -> None:
    path = write_aecg(tmp_path / "00001.xml", ptbxl)
    rec = io.read(path)
    assert io.reader_for(path).name == "aecg"
    assert rec.leads == STANDARD_12 and rec.fs == FS and rec.n_samples == 5000
    expected = np.stack([ptbxl[n] for n in STANDARD_12])
    assert np.abs(rec.signal - expected).max() <= 2.5e-3 / 2 + 1e-6  # half a 2.5-uV step
    assert rec.start_time.isoformat() == "2021-03-04T10:15:00.250000"  # the series' effectiveTime, not the document's


def test_aecg_info_and_partial_read_match_the_whole(tmp_path: Path, ptbxl: dict) -> None:
    path = write_aecg(tmp_path / "00001.xml", ptbxl)
    whole = io.read(path)
    part = io.read(path, start_s=1.0, end_s=2.5)
    assert part.start_s == 1.0 and np.array_equal(part.signal, whole.signal[:, 500:1250])
    facts = io.info(path)
    assert (facts.fs, facts.n_samples, facts.leads, facts.reader) == (FS, 5000, STANDARD_12, "aecg")


def test_aecg_increment_in_ms_and_channel_override(tmp_path: Path, ptbxl: dict) -> None:
    path = write_aecg(tmp_path / "ms.xml", {"II": ptbxl["II"], "V5": ptbxl["V5"]}, increment='<increment value="2" unit="ms"/>')
    rec = io.read(path, channel="V5")
    assert rec.fs == FS and rec.leads == ("V5",)
    assert np.abs(rec.signal[0] - ptbxl["V5"]).max() <= 1.25e-3 + 1e-6


def test_hl7_time_values_parse_with_and_without_zone() -> None:
    assert parse_hl7_time("20210304101500+0100").utcoffset().total_seconds() == 3600
    assert parse_hl7_time("2021030410").isoformat() == "2021-03-04T10:00:00"
    assert parse_hl7_time("20211304") is None and parse_hl7_time("soon") is None


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda t: t.replace('<increment value="0.002" unit="s"/>', '<increment value="0" unit="s"/>'), "not a positive time"),
        (lambda t: t.replace("<digits>", "<digits>1 2 3 ", 1), "different numbers of samples"),
        (lambda t: re.sub(r"<digits>-?\d+ ", "<digits>1.5 ", t, count=1), "not all integers"),
        (lambda t: t.replace('<scale value="2.5" unit="uV"/>', "", 1), "scale of MDC_ECG_LEAD_I is missing"),
        (lambda t: t.replace("TIME_ABSOLUTE", "SOMETHING"), "without a TIME_ABSOLUTE"),
        (lambda t: t[: len(t) // 2], "not well-formed"),
        (lambda t: t.replace("AnnotatedECG", "AnnotatedEKG"), "neither HL7 aECG"),
        (lambda t: '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>' + t.split("\n", 1)[1].replace("93000", "&a;"), "unsafe XML"),
    ],
    ids=["zero-increment", "ragged-leads", "float-digits", "no-scale", "no-time", "cut", "wrong-root", "entity"],
)
def test_malformed_aecg_is_one_line_error(tmp_path: Path, ptbxl: dict, mutate, fragment: str) -> None:
    good = write_aecg(tmp_path / "good.xml", {"I": ptbxl["I"][:500], "II": ptbxl["II"][:500]}).read_text()
    path = tmp_path / "bad.xml"
    path.write_text(mutate(good))
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, fragment)


# --- GE MUSE --------------------------------------------------------------------------------------

MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
UV_PER_BIT = 4.88


def muse_lead(name: str, mv: np.ndarray) -> str:
    data = np.round(mv * 1000 / UV_PER_BIT).astype("<i2").tobytes()
    return (
        f"<LeadData><LeadByteCountTotal>{len(data)}</LeadByteCountTotal><LeadTimeOffset>0</LeadTimeOffset>"
        f"<LeadSampleCountTotal>{len(data) // 2}</LeadSampleCountTotal>"
        f"<LeadAmplitudeUnitsPerBit>{UV_PER_BIT}</LeadAmplitudeUnitsPerBit><LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits>"
        f"<LeadHighLimit>32767</LeadHighLimit><LeadLowLimit>-32768</LeadLowLimit><LeadID>{name}</LeadID>"
        f"<WaveFormData>{base64.encodebytes(data).decode('ascii')}</WaveFormData></LeadData>"
    )


def write_muse(path: Path, leads: dict[str, np.ndarray], *, rhythm: bool = True) -> Path:
    """A MUSE RestingECG with a 600-sample Median waveform first and (optionally) the 10-s Rhythm waveform."""
    median = "".join(muse_lead(n, leads[n][:600]) for n in MUSE_LEADS)
    waveforms = [
        ("<Waveform><WaveformType>Median</WaveformType><WaveformStartTime>0</WaveformStartTime>"
        "<NumberofLeads>8</NumberofLeads><SampleType>CONTINUOUS_SAMPLES</SampleType><SampleBase>500</SampleBase>"
        f"<SampleExponent>0</SampleExponent>{median}</Waveform>")
    ]
    if rhythm:
        full = "".join(muse_lead(n, leads[n]) for n in MUSE_LEADS)
        waveforms.append(
            "<Waveform><WaveformType>Rhythm</WaveformType><SampleBase>500</SampleBase>"
            f"<SampleExponent>0</SampleExponent>{full}</Waveform>"
        )
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n'
        "<RestingECG><MuseInfo><MuseVersion>9.0.9.18167</MuseVersion></MuseInfo>"
        "<TestDemographics><DataType>RESTING</DataType><AcquisitionTime>09:41:07</AcquisitionTime>"
        "<AcquisitionDate>11-19-2019</AcquisitionDate></TestDemographics>"
        f"{''.join(waveforms)}</RestingECG>\n",
        encoding="latin-1",
    )
    return path


def test_muse_round_trip_gives_12_leads_with_derived_limb_leads(tmp_path: Path, ptbxl: dict) -> None:
    path = write_muse(tmp_path / "muse.xml", ptbxl)
    rec = io.read(path)
    assert io.reader_for(path).name == "muse"
    assert rec.leads == STANDARD_12 and rec.fs == FS and rec.n_samples == 5000
    assert rec.meta["waveform_type"] == "Rhythm"
    stored = [STANDARD_12.index(n) for n in MUSE_LEADS]
    expected = np.stack([ptbxl[n] for n in STANDARD_12])
    step = UV_PER_BIT / 1000
    assert np.abs(rec.signal[stored] - expected[stored]).max() <= step / 2 + 1e-6
    # III, aVR, aVL, aVF were never in the file: they must match the electrocardiograph's own leads
    # (PTB-XL's own derived leads agree with II − I … within 1.5 uV of rounding)
    derived = [STANDARD_12.index(n) for n in ("III", "aVR", "aVL", "aVF")]
    assert np.abs(rec.signal[derived] - expected[derived]).max() <= step + 1.5e-3 + 1e-6  # III = II − I: two half steps
    assert rec.notes == ("leads III, aVR, aVL, aVF derived from I and II (MUSE stores I, II, V1–V6)",)
    assert rec.start_time.isoformat() == "2019-11-19T09:41:07"


def test_muse_info_lists_the_leads_read_returns(tmp_path: Path, ptbxl: dict) -> None:
    path = write_muse(tmp_path / "muse.xml", ptbxl)
    facts = io.info(path)
    assert (facts.fs, facts.n_samples, facts.leads, facts.reader) == (FS, 5000, STANDARD_12, "muse")
    part = io.read(path, start_s=4.0, end_s=5.0)
    assert part.leads == facts.leads and part.n_samples == 500


def test_muse_without_rhythm_reads_the_median_and_says_so(tmp_path: Path, ptbxl: dict) -> None:
    rec = io.read(write_muse(tmp_path / "median.xml", ptbxl, rhythm=False))
    assert rec.n_samples == 600 and rec.meta["waveform_type"] == "Median"
    assert "no Rhythm waveform: read the Median waveform" in rec.notes


def test_muse_channel_override_reads_one_stored_lead_and_derives_nothing(tmp_path: Path, ptbxl: dict) -> None:
    rec = io.read(write_muse(tmp_path / "muse.xml", ptbxl), channel="V2")
    assert rec.leads == ("V2",) and np.abs(rec.signal[0] - ptbxl["V2"]).max() <= UV_PER_BIT / 2000 + 1e-6


def last(text: str, old: str, new: str) -> str:
    """Replace the last occurrence (the Rhythm waveform comes after the Median one)."""
    head, _, tail = text.rpartition(old)
    return head + new + tail


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda t: t.replace("<LeadSampleCountTotal>5000<", "<LeadSampleCountTotal>4000<", 1), "different numbers of samples"),
        (lambda t: last(t, "<WaveFormData>", "<WaveFormData>!!"), "not valid base64"),
        (lambda t: t.replace("<SampleBase>500</SampleBase>", "<SampleBase>5</SampleBase>"), "sampling rate"),
        (lambda t: last(t, "<LeadAmplitudeUnitsPerBit>4.88<", "<LeadAmplitudeUnitsPerBit>x<"), "not a number"),
        (lambda t: t.replace("RestingECG", "RestingEKG"), "neither HL7 aECG"),
        (lambda t: t[: len(t) // 3], "not well-formed"),
    ],
    ids=["count", "base64", "fs", "per-bit", "root", "cut"],
)
def test_malformed_muse_is_one_line_error(tmp_path: Path, ptbxl: dict, mutate, fragment: str) -> None:
    good = write_muse(tmp_path / "good.xml", ptbxl).read_text(encoding="latin-1")
    path = tmp_path / "bad.xml"
    path.write_text(mutate(good), encoding="latin-1")
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    assert_one_line(exc, path, fragment)
