"""The one channel rule (io/channels.py), on its own and through the WFDB, EDF and CSV readers.

Mixed recordings are built in tmp_path from the first minute of MIT-BIH 201
(MLII, V1 at 360 Hz) plus synthetic non-ECG channels (respiration in 'pm',
PPG in 'NU', EEG in uV, …).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import edfio
import numpy as np
import pytest
import wfdb

from ecgshift import io
from ecgshift.errors import BadInputError
from ecgshift.io.channels import ecg_channels, lead_name

FS = 360.0
SECONDS = 60


@pytest.fixture(scope="module")
def mitdb(shared_data: Path) -> np.ndarray:
    """The first minute of mitdb/201 in mV, samples × leads (MLII, V1)."""
    rec = wfdb.rdrecord(str(shared_data / "formats" / "mitdb" / "201"), sampto=int(FS) * SECONDS)
    assert rec.sig_name == ["MLII", "V1"]
    return rec.p_signal


def synthetic(n: int, fs: float, hz: float, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(n) / fs)


def mixed_wfdb(tmp_path: Path, mitdb: np.ndarray, name: str = "mixed") -> Path:
    """MLII, RESP (pm), V1, PLETH (NU): an ICU-monitor-like record, with a base date and time."""
    n = mitdb.shape[0]
    signal = np.column_stack([mitdb[:, 0], synthetic(n, FS, 0.25, 8.0) + 16, mitdb[:, 1], synthetic(n, FS, 1.2, 40) + 50])
    wfdb.wrsamp(
        name, fs=FS, units=["mV", "pm", "mV", "NU"], sig_name=["MLII", "RESP", "V1", "PLETH"], p_signal=signal,
        fmt=["16"] * 4, adc_gain=[200.0, 100.0, 200.0, 100.0], baseline=[0] * 4, write_dir=str(tmp_path),
        base_date=dt.date(2024, 3, 5), base_time=dt.time(22, 15, 30),
    )
    return tmp_path / f"{name}.hea"


def assert_one_line(exc: pytest.ExceptionInfo, name: str, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message and name in message, message
    for fragment in fragments:
        assert fragment in message, message


# --- the rule -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "lead"),
    [("ECG", "ECG"), ("EKG", "ECG"), ("ECG1", "ECG1"), ("ECG lead II", "II"), ("Lead I (Einthoven)", "I"),
     ("MDC_ECG_LEAD_AVR", "aVR"), ("AVL", "aVL"), ("MLII", "MLII"), ("ml5", "ML5"), ("MV1", "V1"), ("DII", "II"),
     ("V6", "V6"), ("ECG V1", "V1"), ("CM5", "CM5")],
)
def test_ecg_channel_names_are_taken_as_ecg_with_their_canonical_lead_name(label: str, lead: str) -> None:
    assert lead_name(label) == lead
    assert ecg_channels([label], ["mV"]).leads == (lead,)


@pytest.mark.parametrize(
    "label",
    ["PLETH", "PPG", "RESP", "Resp", "Thorax", "ABP", "ART", "BP", "SpO2", "EEG Fp1-Ref", "C3-A2", "Fp1", "EOG(L)",
     "EMG chin", "Event", "Marker", "EDF Annotations", "Temp", "Position", "Activity", "HR", "Snore", "ECG HR",
     "Resp (ECG-derived)", "Pulse"],
)
def test_non_ecg_channel_names_are_ignored_and_named_in_the_note(label: str) -> None:
    selection = ecg_channels(["II", label], ["mV", "uV"])
    assert selection.leads == ("II",) and selection.indices == (0,)
    assert selection.notes == (f"ignored non-ECG channels: {label} (uV)",)


def test_an_ecg_name_with_a_unit_that_is_no_voltage_is_ignored() -> None:
    selection = ecg_channels(["ECG1", "ECG2"], ["mV", "bpm"])
    assert selection.leads == ("ECG1",) and selection.ignored == ("ECG2 (bpm)",)


def test_unknown_names_are_ecg_only_when_no_channel_is_named_as_ecg() -> None:
    alone = ecg_channels(["ch1", "ch2"], ["mV", "mV"])
    assert alone.leads == ("ch1", "ch2")
    assert alone.notes == ("no channel is named as an ECG lead: taken as ECG by their voltage unit: ch1 (mV), ch2 (mV)",)
    beside = ecg_channels(["ch1", "V1"], ["mV", "mV"])
    assert beside.leads == ("V1",) and beside.ignored == ("ch1 (mV)",)


def test_no_usable_channel_is_one_line_error_listing_them() -> None:
    with pytest.raises(BadInputError) as exc:
        ecg_channels(["PLETH", "RESP", "ABP"], ["NU", "pm", "mmHg"], path="icu.hea")
    assert_one_line(exc, "icu.hea", "no ECG channel among: 'PLETH' (NU), 'RESP' (pm), 'ABP' (mmHg)")


def test_channel_override_picks_one_channel_by_exact_or_canonical_name() -> None:
    assert ecg_channels(["ECG I", "ECG II"], ["mV", "mV"], channel="ECG II").indices == (1,)
    assert ecg_channels(["ECG I", "ECG II"], ["mV", "mV"], channel="II").indices == (1,)
    with pytest.raises(BadInputError) as exc:
        ecg_channels(["ECG I", "ECG II"], ["mV", "mV"], channel="V1", path="x.edf")
    assert_one_line(exc, "x.edf", "no channel named 'V1' (channels: ECG I, ECG II)")
    with pytest.raises(BadInputError) as exc:
        ecg_channels(["ECG I", "RESP"], ["mV", "pm"], channel="RESP", path="x.edf")
    assert_one_line(exc, "x.edf", "unit 'pm', not a voltage")


# --- WFDB -----------------------------------------------------------------------------------------


def test_wfdb_record_with_resp_in_pm_and_ppg_is_read_from_its_ecg_channels(tmp_path: Path, mitdb: np.ndarray) -> None:
    hea = mixed_wfdb(tmp_path, mitdb)
    rec = io.read(hea)
    assert rec.leads == ("MLII", "V1") and rec.fs == FS
    np.testing.assert_allclose(rec.signal, mitdb.T, atol=1 / 200 / 2 + 1e-6)  # 200 adu/mV
    assert rec.notes == ("ignored non-ECG channels: RESP (pm), PLETH (NU)",)
    assert rec.start_time == dt.datetime(2024, 3, 5, 22, 15, 30)


def test_wfdb_info_reports_only_the_ecg_leads_so_chunked_reads_match(tmp_path: Path, mitdb: np.ndarray) -> None:
    hea = mixed_wfdb(tmp_path, mitdb)
    facts = io.info(hea)
    chunk = io.read(hea, start_s=10.0, end_s=20.0)
    assert facts.leads == chunk.leads == ("MLII", "V1")
    assert facts.notes == chunk.notes and facts.start_time == chunk.start_time
    assert chunk.n_samples == int(10 * FS)


def test_wfdb_channel_override_reads_one_named_channel(tmp_path: Path, mitdb: np.ndarray) -> None:
    hea = mixed_wfdb(tmp_path, mitdb)
    rec = io.read(hea, channel="V1")
    assert rec.leads == ("V1",) and io.info(hea, channel="V1").leads == ("V1",)
    np.testing.assert_allclose(rec.signal[0], mitdb[:, 1], atol=1 / 400 + 1e-6)
    with pytest.raises(BadInputError) as exc:
        io.read(hea, channel="V5")
    assert_one_line(exc, "mixed.hea", "no channel named 'V5' (channels: MLII, RESP, V1, PLETH)")


def test_wfdb_record_without_any_ecg_channel_is_refused_naming_its_channels(tmp_path: Path) -> None:
    n = int(FS) * 10
    wfdb.wrsamp("monitor", fs=FS, units=["pm", "NU"], sig_name=["RESP", "PLETH"],
                p_signal=np.column_stack([synthetic(n, FS, 0.25, 5), synthetic(n, FS, 1.2, 30)]),
                fmt=["16", "16"], write_dir=str(tmp_path))
    with pytest.raises(BadInputError) as exc:
        io.read(tmp_path / "monitor.hea")
    assert_one_line(exc, "monitor.hea", "no ECG channel among: 'RESP' (pm), 'PLETH' (NU)")


# --- EDF ------------------------------------------------------------------------------------------


def mixed_edf(path: Path, mitdb: np.ndarray) -> Path:
    n = mitdb.shape[0]
    signals = [
        edfio.EdfSignal(mitdb[:, 0], FS, label="ECG MLII", physical_dimension="mV"),
        edfio.EdfSignal(synthetic(n // 3, FS / 3, 10, 50), FS / 3, label="EEG C3-A2", physical_dimension="uV"),
        edfio.EdfSignal(synthetic(25 * SECONDS, 25, 0.25, 1), 25, label="Resp chest", physical_dimension=""),
        edfio.EdfSignal(mitdb[:, 1], FS, label="ECG V1", physical_dimension="mV"),
    ]
    annotations = [edfio.EdfAnnotation(0.0, None, "(N"), edfio.EdfAnnotation(30.0, None, "(AFIB")]
    edfio.Edf(signals, annotations=annotations, starttime=dt.time(8, 30, 0),
              recording=edfio.Recording(startdate=dt.date(2025, 6, 1))).write(path)
    return path


def test_edf_with_eeg_resp_and_annotations_is_read_from_its_ecg_channels(tmp_path: Path, mitdb: np.ndarray) -> None:
    path = mixed_edf(tmp_path / "psg.edf", mitdb)
    rec = io.read(path)
    assert rec.leads == ("MLII", "V1") and rec.fs == FS and rec.n_samples == mitdb.shape[0]
    span = mitdb.max(axis=0) - mitdb.min(axis=0)
    assert (np.abs(rec.signal - mitdb.T).max(axis=1) <= span / 65535 * 1.01).all()
    assert rec.notes == ("ignored non-ECG channels: EEG C3-A2 (uV), Resp chest",)
    assert [(r.start_s, r.rhythm) for r in rec.rhythms] == [(0.0, "N"), (30.0, "AFIB")]  # the EDF+ annotation signal
    assert rec.start_time == dt.datetime(2025, 6, 1, 8, 30, 0)
    facts = io.info(path)
    assert facts.leads == rec.leads and facts.notes == rec.notes and facts.start_time == rec.start_time


def test_edf_channel_override_reads_the_named_label(tmp_path: Path, mitdb: np.ndarray) -> None:
    path = mixed_edf(tmp_path / "psg.edf", mitdb)
    rec = io.read(path, channel="ECG V1", start_s=5, end_s=6)
    assert rec.leads == ("V1",) and rec.n_samples == int(FS)
    with pytest.raises(BadInputError) as exc:
        io.info(path, channel="ECG II")
    assert_one_line(exc, "psg.edf", "no channel named 'ECG II' (channels: ECG MLII, EEG C3-A2, Resp chest, ECG V1)")


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_columns_that_are_not_ecg_are_ignored_and_not_parsed(tmp_path: Path, mitdb: np.ndarray) -> None:
    rows = mitdb[: int(FS) * 5]
    lines = ["time_s,MLII,Resp [pm],event,V1"] + [
        f"{i / FS:.6f},{a:.4f},{15 + np.sin(i / 100):.3f},{'button' if i == 10 else ''},{b:.4f}" for i, (a, b) in enumerate(rows)
    ]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n")
    rec = io.read(path, fs=FS)
    assert rec.leads == ("MLII", "V1")
    np.testing.assert_allclose(rec.signal, rows.T, atol=1e-4)
    assert rec.notes == ("ignored non-ECG channels: Resp (pm), event (mV)",)
    assert io.info(path, fs=FS).leads == ("MLII", "V1")
