"""Fuzzing the parsers written here (aECG, MUSE, ISHNE, Apple, Polar) and the DICOM wrapper with hypothesis.

Inputs: random bytes after the format's own opening (so the parser gets past
its first check), and valid small files mutated byte by byte, truncated, with
spans deleted or repeated, and with numbers swapped for awkward values ('',
'-1', '1e309', 'nan', '99999999999999999999' …). Whatever the input, ``read``
and ``info`` either return a Record / RecordInfo or raise a one-line
:class:`BadInputError`; any other exception fails the test. Each test counts
the inputs it tried and prints the count (``pytest -s`` shows it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_exports import APPLE_HEADER, write_apple, write_polar
from test_io_ishne import write_ishne
from test_io_xml import write_aecg, write_muse

from ecgshift.errors import BadInputError
from ecgshift.io.aecg import aecg_info, read_aecg
from ecgshift.io.apple import apple_info, read_apple
from ecgshift.io.dicom import dicom_info, read_dicom
from ecgshift.io.ishne import ishne_info, read_ishne
from ecgshift.io.muse import muse_info, read_muse
from ecgshift.io.polar import polar_info, read_polar

#: Inputs per test; ``ECGSHIFT_FUZZ_EXAMPLES=2000`` for a longer run.
EXAMPLES = int(os.environ.get("ECGSHIFT_FUZZ_EXAMPLES", "150"))
AWKWARD = ["", "-1", "0", "1e309", "-1e309", "nan", "inf", "99999999999999999999", "x", "1.5", "-32768", "65536", " "]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ecg(n: int, fs: float) -> np.ndarray:
    """A synthetic ECG-like signal in mV (spikes at 72 bpm on a slow wave)."""
    t = np.arange(n) / fs
    return 1.2 * np.exp(-(((t % (60 / 72)) - 0.3) ** 2) / 0.0004) + 0.1 * np.sin(2 * np.pi * 0.3 * t)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One small valid file per format."""
    root = tmp_path_factory.mktemp("seeds")
    leads = {name: ecg(250, 500.0) * (1 + i / 10) for i, name in enumerate(("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"))}
    out = {
        "aecg": write_aecg(root / "a.xml", {"I": leads["I"], "II": leads["II"]}).read_bytes(),
        "muse": write_muse(root / "m.xml", leads).read_bytes(),
        "ishne": write_ishne(root / "h.ecg", np.round(np.stack([ecg(720, 360), ecg(720, 360)], axis=1) * 200)
                             .astype(np.int16), var_block=b"").read_bytes(),
        "apple": write_apple(root / "w.csv", ecg(600, 512) * 1000, APPLE_HEADER).read_bytes(),
        "polar": write_polar(root / "p.txt", ecg(300, 130) * 1000).read_bytes(),
    }
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))  # cut to 0.5 s of its RHYTHM group, to fuzz fast
    item = ds.WaveformSequence[0]
    item.WaveformData = item.WaveformData[: 500 * item.NumberOfWaveformChannels * 2]
    item.NumberOfWaveformSamples = 500
    del ds.WaveformSequence[1]
    ds.save_as(root / "d.dcm")
    out["dicom"] = (root / "d.dcm").read_bytes()
    return out


READERS = {
    "aecg": (".xml", read_aecg, aecg_info),
    "muse": (".xml", read_muse, muse_info),
    "ishne": (".ecg", read_ishne, ishne_info),
    "apple": (".csv", read_apple, apple_info),
    "polar": (".txt", read_polar, polar_info),
    "dicom": (".dcm", read_dicom, dicom_info),
}
TRIED: dict[str, int] = {}
READ: dict[str, int] = {}  # inputs that read without error (mutations the format tolerates)
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")


def only_bad_input(kind: str, data: bytes, folder: Path) -> None:
    """Read and info on these bytes: a result or BadInputError, nothing else."""
    ext, read, info = READERS[kind]
    path = folder / f"fuzz{ext}"
    path.write_bytes(data)
    TRIED[kind] = TRIED.get(kind, 0) + 1
    for call in (read, info):
        try:
            call(path)
        except BadInputError as exc:
            assert "\n" not in str(exc) and path.name in str(exc)
        else:
            READ[kind] = READ.get(kind, 0) + (call is read)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 3))):  # swap numbers for awkward values (reaches past the syntax checks)
        numbers = list(_NUMBER.finditer(bytes(data)))
        if not numbers:
            break
        match = numbers[draw(st.integers(0, len(numbers) - 1))]
        data[match.start():match.end()] = draw(st.sampled_from(AWKWARD)).encode()
    for _ in range(draw(st.integers(0, 6))):  # flip bytes
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if data and draw(st.booleans()):  # delete or repeat a span
        a = draw(st.integers(0, len(data) - 1))
        b = draw(st.integers(a, min(len(data), a + 400)))
        data[a:b] = data[a:b] * 2 if draw(st.booleans()) else b""
    if data and draw(st.booleans()):  # truncate
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


OPENINGS = {
    "aecg": b'<?xml version="1.0"?><AnnotatedECG xmlns="urn:hl7-org:v3">',
    "muse": b"<RestingECG><Waveform>",
    "ishne": b"ISHNE1.0",
    "apple": "Name,x\nSample Rate,512 hertz\nUnit,µV\n".encode(),
    "polar": b"Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]\n",
    "dicom": b"\0" * 128 + b"DICM",
}


@pytest.mark.parametrize("kind", list(READERS))
def test_random_bytes_after_a_valid_opening_give_only_bad_input_errors(kind: str, tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp(f"random-{kind}")
    start, read_before = TRIED.get(kind, 0), READ.get(kind, 0)

    @FUZZ
    @given(st.binary(max_size=3000))
    def run(tail: bytes) -> None:
        only_bad_input(kind, OPENINGS[kind] + tail, folder)

    run()
    print(f"\nfuzz {kind} random: {TRIED[kind] - start} inputs, {READ.get(kind, 0) - read_before} read, 0 crashes")
    assert TRIED[kind] - start >= EXAMPLES // 2


@pytest.mark.parametrize("kind", list(READERS))
def test_mutated_valid_files_give_only_bad_input_errors(kind: str, seeds: dict[str, bytes], tmp_path_factory) -> None:
    folder = tmp_path_factory.mktemp(f"mutated-{kind}")
    path = folder / f"seed{READERS[kind][0]}"
    path.write_bytes(seeds[kind])
    assert READERS[kind][1](path).n_samples > 0  # the seed itself is valid
    start, read_before = TRIED.get(kind, 0), READ.get(kind, 0)

    @FUZZ
    @given(mutated(seeds[kind]))
    def run(data: bytes) -> None:
        only_bad_input(kind, data, folder)

    run()
    print(f"\nfuzz {kind} mutated: {TRIED[kind] - start} inputs, {READ.get(kind, 0) - read_before} read, 0 crashes")
    assert TRIED[kind] - start >= EXAMPLES // 2
