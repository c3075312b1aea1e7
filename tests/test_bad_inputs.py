"""Malformed inputs, built in tmp_path from small real records of ``shared/data``: every one is accounted for
with a one-line reason in the user's terms (never a traceback, never a Python exception name), and the
good inputs beside them are still read, prepared and predicted.

The first sections reproduce the data-integrity items of issue 19 one by one; the last one runs a corpus
of ~50 malformed inputs through ``io.read``, ``io.info``, ``cache.prepare`` and ``batch.predict_paths``.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgshift import io
from ecgshift.cache import prepare
from ecgshift.datasets import Folder
from ecgshift.errors import AnnotationError, BadInputError

pytestmark = pytest.mark.integration

#: Three real 30-s CinC 2017 records and their REFERENCE-v3 labels.
GOOD = (("A00001", "SR"), ("A00004", "AF"), ("A00008", "other"))
#: Words that mean a Python exception leaked into a user's message.
EXCEPTION_NAMES = re.compile(r"\b(\w+Error|\w+Exception|Traceback|[Ee]rrno)\b|object is not|NoneType|list index")


def assert_user_terms(message: str, *fragments: str) -> None:
    assert "\n" not in message, message
    leaked = EXCEPTION_NAMES.search(message)
    assert leaked is None, f"{leaked.group(0)!r} in {message!r}"
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture
def folder(shared_data: Path, tmp_path: Path, copy_record) -> Path:
    """``tmp_path/folder`` with the three GOOD records under ``good/`` and a manifest listing them."""
    root = tmp_path / "folder"
    for name, _ in GOOD:
        copy_record(shared_data / "tecg" / "cinc2017" / f"{name}.hea", root / "good")
    write_manifest(root, [(f"good/{name}.hea", "tecg", label) for name, label in GOOD])
    return root


def write_manifest(root: Path, rows: list[tuple], *, fs: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "modality", "label", "patient_id"] + (["fs"] if fs else []))
        for row in rows:
            writer.writerow([*row[:3], "", *row[3:]] if fs else [*row, ""])
    return root / "manifest.csv"


def add_rows(root: Path, rows: list[tuple[str, str, str]]) -> None:
    table = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    extra = pd.DataFrame([dict(zip(["path", "modality", "label"], r), patient_id="") for r in rows])
    pd.concat([table, extra], ignore_index=True).to_csv(root / "manifest.csv", index=False)


def reasons_by_row(result) -> dict[int, str]:
    out = {}
    for rejection in result.rejected:
        match = re.search(r"manifest\.csv: row (\d+)", rejection.reason)
        assert match, rejection.reason
        out[int(match.group(1))] = rejection.reason
    return out


def prepared_ids(result) -> set[str]:
    return set(result.windows.table.record_id)


# --- item 2: manifest paths outside the folder ------------------------------------------------------


def test_manifest_paths_outside_the_folder_or_absolute_are_rejected_naming_the_row(folder: Path, tmp_path: Path, shared_data: Path, copy_record) -> None:
    outside = copy_record(shared_data / "tecg" / "cinc2017" / "A00005.hea", tmp_path / "elsewhere")
    add_rows(folder, [("../elsewhere/A00005.hea", "tecg", "SR"), (str(outside), "tecg", "SR"), ("good/../../elsewhere/A00005.hea", "tecg", "SR")])

    result = prepare(Folder(folder), cache_dir=tmp_path / "cache", workers=1)

    reasons = reasons_by_row(result)
    assert sorted(reasons) == [5, 6, 7]
    assert_user_terms(reasons[5], "outside the folder")
    assert_user_terms(reasons[6], "absolute path")
    assert_user_terms(reasons[7], "outside the folder")
    assert prepared_ids(result) == {f"good/{name}" for name, _ in GOOD}
    assert result.n_records == 6


# --- item 3: one recording listed twice ------------------------------------------------------------


def test_one_recording_listed_twice_with_different_labels_rejects_both_rows(folder: Path, tmp_path: Path) -> None:
    add_rows(folder, [("good/./A00004.hea", "tecg", "SR")])  # row 3 says AF

    result = prepare(Folder(folder), cache_dir=tmp_path / "cache", workers=1)

    reasons = reasons_by_row(result)
    assert sorted(reasons) == [3, 5]
    for reason in reasons.values():
        assert_user_terms(reason, "same recording", "label", "'AF'", "'SR'")
    assert prepared_ids(result) == {"good/A00001", "good/A00008"}


def test_one_recording_listed_twice_with_the_same_label_is_prepared_once_with_a_note(folder: Path, tmp_path: Path) -> None:
    add_rows(folder, [("good/A00004", "tecg", "AF")])  # the WFDB record by name: the same as row 3's good/A00004.hea

    first = prepare(Folder(folder), cache_dir=tmp_path / "cache", workers=1)
    again = prepare(Folder(folder), cache_dir=tmp_path / "cache", workers=1)

    for result in (first, again):
        assert result.rejected == [] and result.n_records == 3
        table = result.windows.table
        assert prepared_ids(result) == {f"good/{name}" for name, _ in GOOD}
        assert not table.duplicated(["record_id", "start_s"]).any()  # no window twice
        (note,) = result.notes
        assert_user_terms(note, "row 5", "repeats row 3", "prepared once")


# --- item 4: rows naming no usable file ------------------------------------------------------------


def test_every_unusable_manifest_row_is_rejected_with_its_reason_and_the_others_are_prepared(folder: Path, tmp_path: Path) -> None:
    (folder / "a_folder.hea").mkdir()
    os.symlink(folder / "loop2.hea", folder / "loop1.hea")
    os.symlink(folder / "loop1.hea", folder / "loop2.hea")
    os.symlink(folder / "nowhere.hea", folder / "dangling.hea")
    shutil.copyfile(folder / "good" / "A00001.hea", folder / "fs_abc.csv")
    rows = [
        ("missing/A09999.hea", "tecg", "SR", "file not found"),
        ("a_folder.hea", "tecg", "SR", "a folder"),
        ("", "tecg", "SR", "empty path"),
        ("loop1.hea", "tecg", "SR", "symbolic link loop"),
        ("dangling.hea", "tecg", "SR", "broken symbolic link"),
        ("/etc/hostname", "tecg", "SR", "absolute path"),
        ("fs_abc.csv", "tecg", "SR", "'abc' is not a number"),
        ("good/A00001.hea", "ecg", "SR", "modality 'ecg'"),
        ("notes.txt", "tecg", "SR", "unknown file type '.txt'"),
    ]
    (folder / "notes.txt").write_text("not a recording\n")
    write_manifest(folder, [(f"good/{name}.hea", "tecg", label, "") for name, label in GOOD]
                   + [(path, modality, label, "abc" if path == "fs_abc.csv" else "") for path, modality, label, _ in rows], fs=True)

    result = prepare(Folder(folder), cache_dir=tmp_path / "cache", workers=1)

    assert result.n_records == len(GOOD) + len(rows)
    reasons = reasons_by_row(result)
    assert sorted(reasons) == list(range(5, 5 + len(rows)))
    for (path, _, _, fragment), row in zip(rows, range(5, 5 + len(rows))):
        assert_user_terms(reasons[row], fragment)
    assert prepared_ids(result) == {f"good/{name}" for name, _ in GOOD}


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="running as root: chmod 000 does not stop root reading")
def test_unreadable_manifest_file_is_rejected_as_unreadable(folder: Path, tmp_path: Path) -> None:
    locked = folder / "good" / "A00008.dat"
    locked.chmod(0)
    try:
        result = prepare(Folder(folder), cache_dir=tmp_path / "cache", workers=1)
    finally:
        locked.chmod(0o644)
    assert len(result.rejected) == 1 and "A00008" in result.rejected[0].reason
    assert_user_terms(result.rejected[0].reason, "permission denied")


def test_cli_data_prepare_of_a_folder_with_bad_rows_writes_every_rejection(folder: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ecgshift.cli import app

    add_rows(folder, [("../x.hea", "tecg", "SR"), ("", "tecg", "SR"), ("missing.hea", "tecg", "AF")])
    out = tmp_path / "rejected.csv"
    result = CliRunner().invoke(app, ["data", "prepare", "--folder", str(folder), "--rejected-csv", str(out), "--cache-dir", str(tmp_path / "cache")])

    assert result.exit_code == 0, result.output
    assert result.exception is None
    rejected = pd.read_csv(out, dtype=str)
    assert len(rejected) == 3
    for reason in rejected.reason:
        assert_user_terms(reason, "manifest.csv: row")


# --- builders of small real records ----------------------------------------------------------------


def mitdb_excerpt(shared_data: Path, folder: Path, *, name: str = "m100", seconds: float = 60.0, fmt: str = "212") -> Path:
    """The first ``seconds`` of MIT-BIH record 100 as a WFDB record (``fmt``) with its beat and rhythm annotations."""
    wfdb = pytest.importorskip("wfdb")
    source = str(shared_data / "hecg" / "mitdb" / "100")
    sampto = int(seconds * 360)
    rec = wfdb.rdrecord(source, sampto=sampto, physical=False)
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=rec.fs, units=rec.units, sig_name=rec.sig_name, d_signal=rec.d_signal, fmt=[fmt] * rec.n_sig,
                adc_gain=rec.adc_gain, baseline=rec.baseline, write_dir=str(folder))
    ann = wfdb.rdann(source, "atr", sampto=sampto)
    wfdb.wrann(name, "atr", ann.sample, symbol=ann.symbol, aux_note=ann.aux_note, write_dir=str(folder))
    return folder / f"{name}.hea"


def cinc_copy(shared_data: Path, folder: Path, name: str = "A00001") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ext in (".hea", ".dat"):
        shutil.copyfile(shared_data / "tecg" / "cinc2017" / f"{name}{ext}", folder / f"{name}{ext}")
    return folder / f"{name}.hea"


def with_record_line(hea: Path, edit) -> Path:
    lines = hea.read_text().splitlines()
    lines[0] = " ".join(edit(lines[0].split()))
    hea.write_text("\n".join(lines) + "\n")
    return hea


def predict_statuses(paths: list[Path], **kwargs) -> list[str]:
    from ecgshift.batch import predict_paths
    from ecgshift.predictor import load_model

    frame = predict_paths(load_model(), paths, mc=2, **kwargs)
    assert len(frame) == len(paths)
    return frame.status.tolist()


# --- item 9: sampling rates in WFDB headers ---------------------------------------------------------


@pytest.mark.parametrize("fs, fragment", [("-1", "sampling rate -1 Hz: must be a positive number"),
                                          ("nan", "sampling rate nan Hz"), ("abc", "sampling rate 'abc'"),
                                          ("0", "sampling rate 0 Hz"), ("1e3", "plain decimal number"),
                                          (None, "no sampling rate")])
def test_invalid_header_sampling_rate_is_rejected_at_read_and_info_time(shared_data: Path, tmp_path: Path, fs, fragment) -> None:
    hea = with_record_line(cinc_copy(shared_data, tmp_path), lambda f: f[:2] if fs is None else [*f[:2], fs, *f[3:]])
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(hea)
        assert_user_terms(str(exc.value), "A00001.hea", fragment)


# --- items 3 and 14: annotation files ---------------------------------------------------------------


def test_truncated_annotation_file_is_named_and_the_signal_is_still_there(shared_data: Path, tmp_path: Path) -> None:
    hea = mitdb_excerpt(shared_data, tmp_path / "rec")
    whole = io.read(hea)
    assert whole.rhythms and whole.rhythms[-1].end_s == 60.0
    atr = hea.with_suffix(".atr")
    data = atr.read_bytes()
    atr.write_bytes(data[: len(data) // 2 & ~1])  # cut at an even byte: wfdb reads it without complaint

    with pytest.raises(AnnotationError) as exc:
        io.read(hea)
    assert_user_terms(str(exc.value), "m100.atr", "truncated")
    fallback = exc.value.record
    assert fallback is not None and fallback.rhythms == () and fallback.beats is None
    np.testing.assert_array_equal(fallback.signal, whole.signal)


@pytest.mark.parametrize("content", [b"", b"\x01", bytes(range(256)) * 8, b"not an annotation file\n" * 20])
def test_corrupt_annotation_file_is_an_annotation_error_in_user_terms(shared_data: Path, tmp_path: Path, content: bytes) -> None:
    hea = mitdb_excerpt(shared_data, tmp_path / "rec", seconds=20)
    hea.with_suffix(".atr").write_bytes(content)
    with pytest.raises(AnnotationError) as exc:
        io.read(hea)
    assert_user_terms(str(exc.value), "m100.atr", "annotation file")
    assert exc.value.record is not None and exc.value.record.n_samples == 20 * 360


def test_folder_record_with_a_corrupt_annotation_file_is_prepared_from_its_manifest_label_with_a_note(
    shared_data: Path, tmp_path: Path
) -> None:
    root = tmp_path / "folder"
    for name in ("labelled", "unlabelled"):
        hea = mitdb_excerpt(shared_data, root, name=name)
        atr = hea.with_suffix(".atr")
        atr.write_bytes(atr.read_bytes()[:100])
    write_manifest(root, [("labelled.hea", "hecg", "SR"), ("unlabelled.hea", "hecg", "")])

    result = prepare(Folder(root), cache_dir=tmp_path / "cache", workers=1)

    assert set(result.windows.table.record_id) == {"labelled"}
    assert set(result.windows.table.label) == {"SR"}
    (rejection,) = result.rejected
    assert_user_terms(rejection.reason, "unlabelled.atr", "truncated")
    (note,) = result.notes
    assert_user_terms(note, "labelled.atr", "truncated", "without its annotations")


# --- item 14: misleading reader messages -----------------------------------------------------------


def test_plain_reason_keeps_what_a_user_can_act_on_and_drops_python_internals() -> None:
    from ecgshift.io.checks import plain_reason

    assert plain_reason(IndexError("list index out of range")) == ""
    assert plain_reason(KeyError("999")) == ""
    assert plain_reason(ValueError("cannot reshape array of size 3 into shape (2)")) == ""
    assert plain_reason(PermissionError(13, "Permission denied", "/a/b.dat")) == "permission denied"
    assert plain_reason(RuntimeError("Error : flac decoder lost sync.")) == "flac decoder lost sync."


def test_missing_header_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as exc:
        io.read(tmp_path / "x.hea")
    assert_user_terms(str(exc.value), "x.hea", "file not found")


def test_non_ascii_signal_file_name_is_named_as_such_not_as_a_missing_file(shared_data: Path, tmp_path: Path) -> None:
    hea = mitdb_excerpt(shared_data, tmp_path, name="record", seconds=20)
    for old in (hea, hea.with_suffix(".dat"), hea.with_suffix(".atr")):
        old.rename(old.with_name(old.name.replace("record", "récord_ü")))
    new = tmp_path / "récord_ü.hea"
    new.write_text(new.read_text().replace("record", "récord_ü"))
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(new)
        assert_user_terms(str(exc.value), "'récord_ü.dat'", "ASCII")


def _header_edits() -> dict[str, tuple]:
    """Malformed WFDB headers that made wfdb raise IndexError / KeyError / TypeError: (edit of the text, reason)."""
    return {
        "fewer signal lines": (lambda t: "\n".join(t.splitlines()[:2]) + "\n", "declares 2 signals but describes 1"),
        "999 signals": (lambda t: t.replace(" 2 ", " 999 ", 1), "declares 999 signals"),
        "format 999": (lambda t: t.replace(" 212 ", " 999 "), "format 999"),
        "record line only": (lambda t: t.splitlines()[0] + "\n", "describes 0"),
        "negative length": (lambda t: t.replace(" 7200", " -5", 1), "'-5' samples"),
        "no length": (lambda t: t.replace(" 7200", "", 1), "no number of samples"),
        "empty": (lambda t: "", "empty WFDB header"),
        "comments only": (lambda t: "# a comment\n", "empty WFDB header"),
        "binary": (lambda t: bytes(range(256)).decode("latin-1"), "binary data"),
    }


@pytest.mark.parametrize("case", list(_header_edits()))
def test_malformed_header_reason_is_in_user_terms_not_a_python_exception(shared_data: Path, tmp_path: Path, case: str) -> None:
    hea = mitdb_excerpt(shared_data, tmp_path, seconds=20)
    edit, fragment = _header_edits()[case]
    hea.write_bytes(edit(hea.read_text()).encode("latin-1"))
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(hea)
        assert_user_terms(str(exc.value), "m100.hea", fragment)


# --- item 11: empty CSV cells are NaN in every layout ------------------------------------------------


def cinc_csv(shared_data: Path, path: Path, *, columns: int, gap: slice | None = None) -> tuple[Path, np.ndarray]:
    """CinC A00001 (30 s at 300 Hz) as a CSV of ``columns`` copies of its lead, cells in ``gap`` left empty."""
    signal = io.read(shared_data / "tecg" / "cinc2017" / "A00001.hea").signal[0]
    empty = np.zeros(signal.size, dtype=bool)
    if gap is not None:
        empty[gap] = True
    names = ["I", "II", "III"][:columns]
    lines = [",".join(names)] + [",".join([""] * columns) if e else ",".join([f"{v:.4f}"] * columns) for v, e in zip(signal, empty)]
    path.write_text("\n".join(lines) + "\n")
    return path, signal


@pytest.mark.parametrize("columns", [1, 2])
def test_empty_csv_cells_are_a_nan_gap_in_every_layout(shared_data: Path, tmp_path: Path, columns: int) -> None:
    path, signal = cinc_csv(shared_data, tmp_path / "gap.csv", columns=columns, gap=slice(3000, 3600))

    record = io.read(path, fs=300, allow_nan=True)
    assert record.signal.shape == (columns, signal.size) and io.info(path, fs=300).n_samples == signal.size
    assert np.isnan(record.signal[:, 3000:3600]).all() and not np.isnan(record.signal[:, :3000]).any()
    np.testing.assert_allclose(record.signal[0, 3600:], signal[3600:], atol=1e-4)  # nothing spliced
    with pytest.raises(BadInputError) as exc:
        io.read(path, fs=300)
    assert_user_terms(str(exc.value), f"{600 * columns} of", "NaN")


def test_one_column_csv_with_a_gap_is_predicted_with_the_gap_windows_not_analysed(shared_data: Path, tmp_path: Path) -> None:
    path, _ = cinc_csv(shared_data, tmp_path / "gap.csv", columns=1, gap=slice(3000, 3600))
    from ecgshift.batch import predict_paths
    from ecgshift.predictor import load_model

    (row,) = predict_paths(load_model(), [path], mc=2, fs=300).to_dict("records")
    assert row["status"] == "done"
    assert "gap" in row["problems"]


def test_trailing_blank_lines_of_a_csv_are_not_rows(shared_data: Path, tmp_path: Path) -> None:
    path, signal = cinc_csv(shared_data, tmp_path / "ok.csv", columns=1)
    path.write_text(path.read_text() + "\n\n")
    assert io.read(path, fs=300).n_samples == io.info(path, fs=300).n_samples == signal.size


# --- item 12: EDF signal whose ranges give no scale -------------------------------------------------


def mitdb_edf(shared_data: Path, path: Path, seconds: float = 30.0) -> Path:
    """The first ``seconds`` of MIT-BIH 100 (MLII, V5, mV) as an EDF written by edfio."""
    edfio = pytest.importorskip("edfio")
    record = io.read(shared_data / "hecg" / "mitdb" / "100.hea", end_s=seconds)
    signals = [edfio.EdfSignal(lead.astype(np.float64), record.fs, label=f"ECG {name}", physical_dimension="mV")
               for name, lead in zip(record.leads, record.signal)]
    edfio.Edf(signals).write(path)
    return path


def patch_edf(path: Path, field: str, value: str, *, signal: int = 0) -> Path:
    """Overwrite one 8-byte per-signal field of an EDF header ('physical_min', 'physical_max', 'digital_min', 'digital_max')."""
    data = bytearray(path.read_bytes())
    ns = int(data[252:256].decode())
    order = ("physical_min", "physical_max", "digital_min", "digital_max")
    offset = 256 + ns * (16 + 80 + 8) + order.index(field) * 8 * ns + signal * 8
    data[offset:offset + 8] = value.ljust(8).encode("ascii")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("fields, fragment", [
    ({"physical_min": "1", "physical_max": "1"}, "physical minimum equals maximum"),
    ({"digital_min": "5", "digital_max": "5"}, "digital minimum equals maximum"),
    ({"physical_min": "abc"}, "range in the header is not a number"),
])
def test_edf_channel_whose_ranges_give_no_scale_is_rejected_naming_it(shared_data: Path, tmp_path: Path, fields, fragment) -> None:
    path = mitdb_edf(shared_data, tmp_path / "holter.edf")
    assert io.read(path).n_leads == 2
    for field, value in fields.items():
        patch_edf(path, field, value)
    for call in (io.read, io.info):
        with pytest.raises(BadInputError) as exc:
            call(path)
        assert_user_terms(str(exc.value), "holter.edf", "'ECG MLII'", fragment)


# --- the corpus: every malformed input through read, info, prepare and predict ---------------------


def _cut(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    content = bytearray(path.read_bytes())
    content[offset:offset + len(data)] = data
    path.write_bytes(bytes(content))


def _edit_text(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="latin-1")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count), encoding="latin-1")


def _csv_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def build_corpus(shared: Path, root: Path) -> dict[str, tuple[Path, str]]:
    """name → (input path, expected outcome): ``"ok"``, or the fragment the rejection reason must contain.

    Every case is in its own folder; CSV files are at 300 Hz (the fs given to every call)."""
    cases: dict[str, tuple[Path, str]] = {}

    def wfdb_case(name: str, expect: str, edit=None, *, source: str = "cinc", seconds: float = 20.0) -> Path:
        folder = root / name
        hea = cinc_copy(shared, folder) if source == "cinc" else mitdb_excerpt(shared, folder, seconds=seconds, fmt=source)
        if edit is not None:
            edited = edit(hea)
            hea = edited if isinstance(edited, Path) else hea
        cases[name] = (hea, expect)
        return hea

    def file_case(name: str, filename: str, expect: str, write) -> Path:
        path = root / name / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        cases[name] = (path, expect)
        return path

    # good inputs: they must still come out ok among the bad ones
    wfdb_case("good cinc flac", "ok")
    wfdb_case("good mitdb 212 with annotations", "ok", source="212", seconds=30)
    # WFDB header: sampling rate
    rate = lambda value: (lambda h: with_record_line(h, lambda f: [*f[:2], value, *f[3:]]))
    wfdb_case("fs -1", "sampling rate -1 Hz: must be a positive number", rate("-1"))
    wfdb_case("fs nan", "sampling rate nan Hz", rate("nan"))
    wfdb_case("fs abc", "sampling rate 'abc'", rate("abc"))
    wfdb_case("fs 0", "sampling rate 0 Hz", rate("0"))
    wfdb_case("fs 5", "sampling rate", rate("5"))
    wfdb_case("fs missing", "no sampling rate", lambda h: with_record_line(h, lambda f: f[:2]))
    # WFDB header: structure
    wfdb_case("fewer signal lines", "declares 2 signals but describes 1", lambda h: h.write_text("\n".join(h.read_text().splitlines()[:2]) + "\n"), source="212")
    wfdb_case("999 signals", "declares 999 signals", lambda h: with_record_line(h, lambda f: [f[0], "999", *f[2:]]), source="212")
    wfdb_case("format 999", "format 999", lambda h: _edit_text(h, " 212 ", " 999 ", 2), source="212")
    wfdb_case("format abc", "format 'abc'", lambda h: _edit_text(h, " 212 ", " abc ", 2), source="212")
    wfdb_case("record line only", "describes 0", lambda h: h.write_text(h.read_text().splitlines()[0] + "\n"))
    wfdb_case("negative length", "'-5' samples", lambda h: with_record_line(h, lambda f: [*f[:3], "-5", *f[4:]]))
    wfdb_case("no length", "no number of samples", lambda h: with_record_line(h, lambda f: f[:3]))
    wfdb_case("header longer than the data", "truncated", lambda h: with_record_line(h, lambda f: [*f[:3], str(int(f[3]) * 2), *f[4:]]), source="212")
    wfdb_case("header shorter than the data", "ok", lambda h: with_record_line(h, lambda f: [*f[:3], str(int(f[3]) // 2), *f[4:]]), source="212")
    wfdb_case("empty header", "empty WFDB header", lambda h: h.write_bytes(b""))
    wfdb_case("comments-only header", "empty WFDB header", lambda h: h.write_text("# nothing but a comment\n"))
    wfdb_case("binary junk header", "binary data", lambda h: h.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8))))
    wfdb_case("non-UTF8 comment in header", "ok", lambda h: h.write_bytes(h.read_bytes() + "# patient: Jos\xe9 M\xfcller\n".encode("latin-1")))
    wfdb_case("unit abc", "no ECG channel among: 'ECG' (abc)", lambda h: _edit_text(h, "/mV", "/abc"))
    wfdb_case("non-ASCII file names", "ASCII", _rename_non_ascii, source="212")
    cases["missing header"] = (root / "missing header" / "x.hea", "file not found")
    # WFDB signal files
    wfdb_case("signal file missing", "missing", lambda h: h.with_suffix(".dat").unlink())
    wfdb_case("zero-byte dat", "truncated", lambda h: h.with_suffix(".dat").write_bytes(b""), source="212")
    wfdb_case("format 212 truncated", "truncated", lambda h: _cut(h.with_suffix(".dat"), 0.37), source="212")
    wfdb_case("flac 516 truncated", "decoded", lambda h: _cut(h.with_suffix(".dat"), 0.5))
    wfdb_case("flat signal", "flat signal", lambda h: h.with_suffix(".dat").write_bytes(bytes(h.with_suffix(".dat").stat().st_size)), source="16")
    dat_only = wfdb_case("dat without header", "needs its WFDB header", source="16")
    dat_only.unlink()
    cases["dat without header"] = (dat_only.with_suffix(".dat"), "needs its WFDB header")
    # annotations
    wfdb_case("truncated atr", "truncated", lambda h: _cut(h.with_suffix(".atr"), 0.5), source="212")
    wfdb_case("junk atr", "annotation file", lambda h: h.with_suffix(".atr").write_bytes(bytes(range(256)) * 4), source="212")
    wfdb_case("empty atr", "empty annotation file", lambda h: h.with_suffix(".atr").write_bytes(b""), source="212")
    file_case("annotation-only header, no annotations", "x.hea", "signal",
              lambda p: p.write_text("x 0 250 7500\n"))
    ann_only = file_case("annotation-only header with beats", "m100.hea", "no ECG signal", lambda p: None)
    mitdb_excerpt(shared, ann_only.parent, seconds=30, fmt="212")
    ann_only.write_text("m100 0 360 10800\n")
    ann_only.with_suffix(".dat").unlink()
    # EDF
    edf = lambda name, expect, edit: file_case(name, "holter.edf", expect, lambda p: edit(mitdb_edf(shared, p)))
    edf("good edf", "ok", lambda p: None)
    edf("edf physical min = max", "physical minimum equals maximum", lambda p: (patch_edf(p, "physical_min", "1"), patch_edf(p, "physical_max", "1")))
    edf("edf digital min = max", "digital minimum equals maximum", lambda p: (patch_edf(p, "digital_min", "0"), patch_edf(p, "digital_max", "0")))
    edf("edf physical min abc", "not a number", lambda p: patch_edf(p, "physical_min", "abc"))
    edf("edf truncated", "truncated", lambda p: _cut(p, 0.6))
    edf("edf header only", "truncated", lambda p: p.write_bytes(p.read_bytes()[:768]))
    edf("edf no ECG channel", "no ECG channel", lambda p: p.write_bytes(p.read_bytes().replace(b"ECG MLII", b"Resp    ").replace(b"ECG V5  ", b"SpO2    ")))
    edf("edf record count blank", "unreadable EDF header", lambda p: _overwrite(p, 236, b" " * 8))
    edf("edf signal count junk", "unreadable EDF header", lambda p: _overwrite(p, 252, b"x   "))
    file_case("empty edf", "x.edf", "not an EDF file", lambda p: p.write_bytes(b""))
    file_case("binary junk edf", "x.edf", "not an EDF file", lambda p: p.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8))))
    file_case("text in an edf", "x.edf", "not an EDF file", lambda p: p.write_text("time,I\n0,0.1\n" * 40))
    # CSV
    file_case("good csv", "x.csv", "ok", lambda p: cinc_csv(shared, p, columns=1))
    file_case("1-column csv with a gap", "x.csv", "ok", lambda p: cinc_csv(shared, p, columns=1, gap=slice(3000, 3600)))
    file_case("empty csv", "x.csv", "empty file", lambda p: p.write_bytes(b""))
    file_case("csv header only", "x.csv", "no data rows", lambda p: p.write_text("I\n"))
    file_case("csv one row", "x.csv", "a single sample", lambda p: p.write_text("I\n0.25\n"))
    file_case("csv text cells", "x.csv", "is not a number", lambda p: _csv_lines(p, ["I"] + ["0.1", "0.2", "abc"] * 3000))
    file_case("csv ragged rows", "x.csv", "fields", lambda p: _csv_lines(p, ["I,II"] + ["0.1,0.2", "0.3"] * 3000))
    file_case("csv no header row", "x.csv", "no header row", lambda p: _csv_lines(p, ["0.1,0.2"] * 9000))
    file_case("csv all cells empty", "x.csv", "entirely NaN", lambda p: _csv_lines(p, ["I,II"] + [","] * 9000))
    file_case("csv infinite value", "x.csv", "infinite", lambda p: _csv_lines(p, ["I"] + [f"{np.sin(i / 9):.3f}" for i in range(9000)] + ["inf"]))
    file_case("csv time_s disagrees with fs", "x.csv", "disagrees", lambda p: _csv_lines(p, ["time_s,I"] + [f"{i / 250:.4f},{np.sin(i / 9):.3f}" for i in range(9000)]))
    file_case("binary junk csv", "x.csv", "not a text file", lambda p: p.write_bytes(bytes(np.random.default_rng(2).integers(0, 256, 4000, dtype=np.uint8))))
    # other
    file_case("unknown extension", "x.txt", "unknown file type", lambda p: p.write_text("0.1\n0.2\n"))
    cases["folder named like a recording"] = (root / "folder named like a recording" / "x.edf", "a folder, not a recording file")
    (root / "folder named like a recording" / "x.edf").mkdir(parents=True)
    return cases


def _rename_non_ascii(hea: Path) -> Path:
    for old in (hea, hea.with_suffix(".dat"), hea.with_suffix(".atr")):
        old.rename(old.with_name(old.name.replace(hea.stem, "récord_ü")))
    new = hea.with_name("récord_ü.hea")
    new.write_text(new.read_text().replace(hea.stem, "récord_ü"))
    return new


#: Cases whose signal is fine but whose annotation file is not: ``predict_paths`` rejects them naming the file
#: until it falls back to ``AnnotationError.record`` (then they are "ok"); a Folder with a label prepares them.
ANNOTATION_CASES = {"truncated atr", "junk atr", "empty atr"}
#: Cases that read but have a gap: predicted (the gap windows not analysed), rejected by prepare (no NaN in training data).
GAP_CASES = {"1-column csv with a gap"}
FS = 300.0


@pytest.fixture(scope="module")
def corpus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return build_corpus(shared_data, tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def predicted(corpus) -> pd.DataFrame:
    from ecgshift.batch import predict_paths
    from ecgshift.predictor import load_model

    return predict_paths(load_model(), [path for path, _ in corpus.values()], mc=2, fs=FS)


def test_the_corpus_holds_over_fifty_inputs_good_and_bad(corpus) -> None:
    assert len(corpus) >= 50
    assert sum(expect == "ok" for _, expect in corpus.values()) >= 5  # good inputs among the bad


def test_read_and_info_raise_nothing_but_one_line_bad_input_errors_in_user_terms(corpus) -> None:
    failures = []
    for name, (path, expect) in corpus.items():
        for call in (io.info, lambda p, fs: io.read(p, fs=fs, allow_nan=True)):
            try:
                call(path, fs=FS)
            except BadInputError as exc:
                message = str(exc)
                if "\n" in message or EXCEPTION_NAMES.search(message):
                    failures.append(f"{name}: {message}")
                elif expect == "ok":
                    failures.append(f"{name}: a good input was refused: {message}")
            except Exception as exc:  # noqa: BLE001 - the point of the test
                failures.append(f"{name}: {type(exc).__name__} escaped: {exc}")
    assert failures == []


def test_predict_paths_gives_every_input_one_row_with_the_expected_status(corpus, predicted: pd.DataFrame) -> None:
    assert len(predicted) == len(corpus)
    assert predicted.path.tolist() == [str(path) for path, _ in corpus.values()]
    failures = []
    for (name, (path, expect)), status in zip(corpus.items(), predicted.status):
        if EXCEPTION_NAMES.search(status) or "\n" in status:
            failures.append(f"{name}: {status}")
        elif name in ANNOTATION_CASES:
            if not (status == "done" or (status.startswith("rejected: ") and expect in status)):
                failures.append(f"{name}: {status}")
        elif expect == "ok":
            if status != "done":
                failures.append(f"{name}: expected done, got {status}")
        elif not (status.startswith("rejected: ") and expect in status):
            failures.append(f"{name}: expected 'rejected: …{expect}…', got {status}")
    assert failures == [], "\n".join(failures)
    gap = predicted.iloc[list(corpus).index("1-column csv with a gap")]
    assert "2 gap" in gap.problems


def test_prepare_of_the_corpus_as_a_folder_accounts_for_every_row(corpus, tmp_path: Path) -> None:
    root = next(iter(corpus.values()))[0].parent.parent
    rows = [(path.relative_to(root).as_posix(), "unknown", "SR", "", f"{FS:g}" if path.suffix == ".csv" else "")
            for path, _ in corpus.values()]
    write_manifest(root, [(p, m, label, fs) for p, m, label, _, fs in rows], fs=True)

    result = prepare(Folder(root), cache_dir=tmp_path / "cache", workers=1)

    assert result.n_records == len(corpus)
    prepared = set(result.windows.table.record_id)
    rejected = {Path(r.path): r.reason for r in result.rejected}
    assert len(prepared) + len(rejected) == len(corpus)  # nothing silently dropped
    failures = []
    for name, (path, expect) in corpus.items():
        record_id = path.relative_to(root).with_suffix("").as_posix()
        should_prepare = (expect == "ok" and name not in GAP_CASES) or name in ANNOTATION_CASES
        if should_prepare != (record_id in prepared):
            failures.append(f"{name}: {'not ' * should_prepare}prepared ({rejected.get(path, '')})")
    for reason in rejected.values():
        if "\n" in reason or EXCEPTION_NAMES.search(reason):
            failures.append(reason)
    assert failures == []
    assert len(result.notes) == len(ANNOTATION_CASES)
    for note in result.notes:
        assert_user_terms(note, ".atr", "without its annotations")


def test_holter_gives_every_input_one_summary_row_with_a_status_word_in_user_terms(corpus, predicted: pd.DataFrame, tmp_path: Path) -> None:
    from ecgshift.holter.analysis import HolterConfig
    from ecgshift.holter.batch import analyse_batch
    from ecgshift.status import status_kind

    paths = [path for path, _ in corpus.values()]
    frame = analyse_batch(paths, tmp_path / "holter", model_dir=None, config=HolterConfig(mc=2), reference=None, fs=FS)
    assert len(frame) == len(paths) and frame.path.tolist() == [str(p) for p in paths]  # one row per input, in order
    assert set(frame.status.map(status_kind)) <= {"done", "rejected"}  # no "error:": an unexpected failure is a bug
    worded = [f"{name}: {s}" for name, s in zip(corpus, frame.status) if EXCEPTION_NAMES.search(s) or "\n" in s]
    assert worded == [], "\n".join(worded)
    for (name, _), by_holter, by_predict in zip(corpus.items(), frame.status, predicted.status):
        if by_predict == "done" and by_holter != "done":  # what predict analyses, holter analyses — unless too short for it
            assert "shorter than one 10-s window" in by_holter, (name, by_holter)
    assert (tmp_path / "holter" / "holter_summary.csv").exists()
