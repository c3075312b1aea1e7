"""The reader registry as a whole: every registered format loads, takes the same options, and is dispatched right."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from ecgshift import io
from ecgshift.errors import BadInputError

COMMON_READ_OPTIONS = {"start_s", "end_s", "modality", "allow_nan", "channel"}


@pytest.mark.parametrize("name", sorted(io.READERS))
def test_every_reader_takes_the_same_keyword_only_options(name: str) -> None:
    reader = io.READERS[name]
    read, info = reader.load(reader.read_fn), reader.load(reader.info_fn)
    read_options = {p.name for p in inspect.signature(read).parameters.values() if p.kind is p.KEYWORD_ONLY}
    info_options = {p.name for p in inspect.signature(info).parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert COMMON_READ_OPTIONS <= read_options
    assert "channel" in info_options
    assert ("fs" in read_options) == reader.needs_fs == ("fs" in info_options)
    if reader.sniff is not None:
        from ecgshift.io import sniff

        assert callable(getattr(sniff, reader.sniff))


def test_every_extension_shared_by_formats_has_sniffers_for_all_but_one_default() -> None:
    by_extension: dict[str, list] = {}
    for reader in io.READERS.values():
        for ext in reader.extensions:
            by_extension.setdefault(ext, []).append(reader)
    for ext, readers in by_extension.items():
        assert sum(r.sniff is None for r in readers) <= 1, ext


@pytest.mark.parametrize(
    ("name", "content", "reader"),
    [
        ("a.xml", '<?xml version="1.0"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3"/>', "aecg"),
        ("m.xml", '<?xml version="1.0"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n<RestingECG/>', "muse"),
        ("w.csv", "Name,x\nRecorded Date,2023-01-01 10:00:00\nSample Rate,512 hertz\n", "apple_csv"),
        ("p.csv", "time_s,II\n0,0.1\n", "csv"),
        ("h.txt", "Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]\n", "polar_txt"),
        ("h.ecg", "ISHNE1.0", "ishne"),
        ("x.ecg", "not ishne", "ishne"),  # no WFDB header beside it: the ISHNE reader names the bad magic
    ],
)
def test_formats_sharing_an_extension_are_told_apart_by_content(tmp_path: Path, name: str, content: str, reader: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert io.reader_for(path).name == reader


def test_xml_that_is_neither_aecg_nor_muse_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "report.xml"
    path.write_text('<?xml version="1.0"?><Report><Patient/></Report>')
    with pytest.raises(BadInputError) as exc:
        io.read(path)
    message = str(exc.value)
    assert "\n" not in message and "report.xml" in message and "root element <Report>" in message


def test_a_folder_search_finds_each_recording_once(tmp_path: Path) -> None:
    files = {
        "rec.hea": "rec 1 360 10\nrec.dat 16 200 16 0 0 0 0 MLII\n", "rec.dat": "", "rec.atr": "", "rec.ecg": "",
        "holter.ecg": "ISHNE1.0", "a.xml": '<AnnotatedECG xmlns="urn:hl7-org:v3"/>', "report.xml": "<Report/>",
        "polar.txt": "Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]\n", "readme.txt": "hello\n",
        "w.csv": "II\n0.1\n", "scan.dcm": "", "notes.pdf": "",
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    found = sorted(p.name for p in tmp_path.iterdir() if io.stands_for_recording(p))
    assert found == ["a.xml", "holter.ecg", "polar.txt", "rec.hea", "scan.dcm", "w.csv"]
