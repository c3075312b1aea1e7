"""ecgshift.download against a loopback HTTP server laid out like PhysioNet.

The served tree is built in tmp_path from a few real files of the shared data
folder (symlinked), with a SHA256SUMS.txt computed from them, as PhysioNet
publishes one per project version (CinC 2017 records under training/A00/,
labels in training/, as on PhysioNet).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterator

import pytest

from ecgshift import download as dl
from ecgshift.errors import BadInputError

SHARED = Path(os.environ.get("ECGSHIFT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
MITDB = SHARED / "hecg" / "mitdb"
CINC = SHARED / "tecg" / "cinc2017"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (MITDB.is_dir() and CINC.is_dir()), reason=f"shared data absent: {SHARED}"),
]

MITDB_FILES = [f"{r}.{ext}" for r in ("100", "201") for ext in ("hea", "dat", "atr")]
CINC_FILES = [f"A0000{i}.{ext}" for i in (1, 2, 3) for ext in ("hea", "dat")]


@dataclass
class FakePhysioNet:
    """A running loopback server; ``corrupt`` holds URL paths answered with wrong bytes."""

    url: str
    root: Path
    corrupt: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        dst.symlink_to(src)
    except OSError:  # no symlinks (e.g. Windows without privileges)
        shutil.copyfile(src, dst)


def _write_sums(project: Path) -> None:
    lines = []
    for f in sorted(p for p in project.rglob("*") if p.is_file() and p.name != "SHA256SUMS.txt"):
        lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()} {f.relative_to(project).as_posix()}\n")
    (project / "SHA256SUMS.txt").write_text("".join(lines))


def _build_tree(root: Path) -> None:
    mitdb = root / "mitdb" / "1.0.0"
    for name in MITDB_FILES:
        _place(MITDB / name, mitdb / name)
    _write_sums(mitdb)
    cinc = root / "challenge-2017" / "1.0.0"
    for name in CINC_FILES:  # PhysioNet splits the training records into A00/ ... A08/
        _place(CINC / name, cinc / "training" / "A00" / name)
    (cinc / "training" / "RECORDS").write_text("A00/A00001\nA00/A00002\nA00/A00003\n")
    (cinc / "training" / "A00" / "RECORDS").write_text("A00001\nA00002\nA00003\n")
    labels = "".join(line + "\n" for line in (CINC / "REFERENCE-v3.csv").read_text().splitlines()[:3])
    (cinc / "training" / "REFERENCE-v3.csv").write_text(labels)
    (cinc / "sample2017" / "validation").mkdir(parents=True)
    (cinc / "sample2017" / "validation" / "README.txt").write_text("outside training/: not part of the dataset\n")
    _write_sums(cinc)


@pytest.fixture(autouse=True)
def _no_retry_wait_no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dl, "_RETRY_DELAY_S", 0.0)
    monkeypatch.delenv(dl.ENV_BASE_URL, raising=False)


@pytest.fixture
def physionet(tmp_path: Path) -> Iterator[FakePhysioNet]:
    root = tmp_path / "server"
    _build_tree(root)
    state = FakePhysioNet(url="", root=root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path in state.corrupt:
                body = b"these are not the bytes you are looking for"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_mitdb_files_arrive_byte_identical_and_wfdb_reads_the_record(physionet: FakePhysioNet, tmp_path: Path) -> None:
    import wfdb

    out = tmp_path / "mitdb"
    calls: list[tuple[str, int, int]] = []
    report = dl.download_dataset("mitdb", out, base_url=physionet.url, on_file=lambda *a: calls.append(a))

    assert report.ok and report.skipped == []
    assert sorted(report.downloaded) == sorted(MITDB_FILES)
    assert _files(out) == set(MITDB_FILES)  # no temp files left behind
    for name in MITDB_FILES:
        assert (out / name).read_bytes() == (MITDB / name).read_bytes()
    assert report.bytes == sum((MITDB / n).stat().st_size for n in MITDB_FILES)
    assert [c[1:] for c in calls] == [(i, len(MITDB_FILES)) for i in range(1, len(MITDB_FILES) + 1)]

    rec = wfdb.rdrecord(str(out / "201"))
    assert rec.fs == 360 and rec.n_sig == 2 and rec.p_signal.shape[0] == rec.sig_len
    ann = wfdb.rdann(str(out / "201"), "atr")
    assert any(note.startswith("(AFIB") for note in ann.aux_note)


def test_cinc2017_files_land_flat_in_the_target_without_training_or_a00_folders(
    physionet: FakePhysioNet, tmp_path: Path
) -> None:
    import wfdb

    out = tmp_path / "cinc"
    report = dl.download_dataset("cinc2017", out, base_url=physionet.url)

    assert report.ok
    assert _files(out) == set(CINC_FILES) | {"REFERENCE-v3.csv", "RECORDS"}  # nothing from outside training/
    assert (out / "RECORDS").read_text().startswith("A00/")  # on a name clash the shallowest file wins
    assert (out / "A00001.dat").read_bytes() == (CINC / "A00001.dat").read_bytes()
    assert (out / "REFERENCE-v3.csv").read_text().splitlines()[0] == "A00001,N"
    assert wfdb.rdrecord(str(out / "A00002")).fs == 300


def test_second_run_skips_every_verified_file_and_downloads_nothing(physionet: FakePhysioNet, tmp_path: Path) -> None:
    out = tmp_path / "mitdb"
    dl.download_dataset("mitdb", out, base_url=physionet.url)
    physionet.requests.clear()

    again = dl.download_dataset("mitdb", out, base_url=physionet.url)

    assert again.ok and again.downloaded == [] and again.bytes == 0
    assert sorted(again.skipped) == sorted(MITDB_FILES)
    assert physionet.requests == ["/mitdb/1.0.0/SHA256SUMS.txt"]


def test_a_local_file_with_wrong_content_is_downloaded_again(physionet: FakePhysioNet, tmp_path: Path) -> None:
    out = tmp_path / "mitdb"
    dl.download_dataset("mitdb", out, base_url=physionet.url)
    (out / "100.hea").write_text("truncated")

    again = dl.download_dataset("mitdb", out, base_url=physionet.url)

    assert again.ok and again.downloaded == ["100.hea"]
    assert (out / "100.hea").read_bytes() == (MITDB / "100.hea").read_bytes()


def test_corrupted_served_file_fails_with_checksum_reason_and_is_not_kept(physionet: FakePhysioNet, tmp_path: Path) -> None:
    physionet.corrupt.add("/mitdb/1.0.0/201.dat")
    out = tmp_path / "mitdb"

    report = dl.download_dataset("mitdb", out, base_url=physionet.url)

    assert not report.ok
    assert [f.path for f in report.failed] == ["201.dat"]
    reason = report.failed[0].reason
    assert "sha256 mismatch" in reason and "\n" not in reason
    assert not (out / "201.dat").exists()
    assert _files(out) == set(MITDB_FILES) - {"201.dat"}  # no partial/temp file either
    assert sorted(report.downloaded) == sorted(set(MITDB_FILES) - {"201.dat"})


def test_patterns_restrict_the_downloaded_files(physionet: FakePhysioNet, tmp_path: Path) -> None:
    out = tmp_path / "mitdb"
    report = dl.download_dataset("mitdb", out, base_url=physionet.url, patterns=["100.*", "*.atr"])

    assert report.ok
    assert _files(out) == {"100.hea", "100.dat", "100.atr", "201.atr"}


def test_unreachable_server_raises_bad_input_error_with_one_line_message(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(BadInputError) as err:
        dl.download_dataset("mitdb", tmp_path / "out", base_url=url, timeout_s=2)

    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{url}/mitdb/1.0.0/SHA256SUMS.txt: ")
    assert "cannot reach server" in msg
    assert not (tmp_path / "out").exists()


def test_missing_checksum_list_raises_bad_input_error_naming_http_404(physionet: FakePhysioNet, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="HTTP 404") as err:
        dl.download_dataset("ptbxl", tmp_path / "out", base_url=physionet.url)
    assert "\n" not in str(err.value) and err.value.path == f"{physionet.url}/ptb-xl/1.0.3/SHA256SUMS.txt"


def test_env_var_base_url_is_used_when_no_argument_is_given(
    physionet: FakePhysioNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(dl.ENV_BASE_URL, physionet.url + "/")
    report = dl.download_dataset("mitdb", tmp_path / "mitdb", patterns=["100.hea"])
    assert report.ok and report.downloaded == ["100.hea"]


def test_base_url_argument_wins_over_env_var(physionet: FakePhysioNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dl.ENV_BASE_URL, f"http://127.0.0.1:{_free_port()}")
    report = dl.download_dataset("mitdb", tmp_path / "mitdb", base_url=physionet.url, patterns=["100.hea"])
    assert report.ok and report.downloaded == ["100.hea"]


def test_unknown_dataset_name_raises_key_error_listing_known_names(tmp_path: Path) -> None:
    with pytest.raises(KeyError) as err:
        dl.download_dataset("mitbd", tmp_path)
    msg = str(err.value)
    for name in ("mitdb", "cinc2017", "ptbxl", "ltafdb", "nsr2db"):
        assert name in msg
    assert {s.name for s in dl.list_sources()} == {"mitdb", "cinc2017", "ptbxl", "ltafdb", "nsr2db", "aftdb", "afpdb", "afdb"}


def test_holter_evaluation_sources_select_only_the_records_the_collection_holds() -> None:
    def chosen(name: str, paths: list[str]) -> set[str]:
        source = dl.get_source(name)
        return {local for _, _, local in dl._select([("0" * 64, p) for p in paths], source, source.file_patterns)}

    aftdb = ["learning-set/n01.dat", "learning-set/s10.hea", "learning-set/t05.qrs", "test-set-a/a30.dat",
             "test-set-b/b01.dat", "test-set-b/b01.hea", "RECORDS", "learning-set/RECORDS"]
    assert chosen("aftdb", aftdb) == {"n01.dat", "s10.hea", "t05.qrs", "a30.dat"}  # test set B is held back
    afpdb = ["n01.dat", "n01.hea", "n01.qrs", "p50.dat", "n01c.dat", "p02c.qrs", "t01.dat", "t100.hea", "challenge/index.shtml"]
    assert chosen("afpdb", afpdb) == {"n01.dat", "n01.hea", "n01.qrs", "p50.dat"}  # no test records, no continuations
    afdb = ["04015.dat", "04015.hea", "04015.atr", "04015.qrs", "04015.hea-", "04015.qrsc", "old/04015.dat"]
    assert chosen("afdb", afdb) == {"04015.atr", "04015.hea", "04015.qrs"}  # annotations only
