"""The ``ecgshift data`` commands: summary, prepare, download, and how user errors reach the terminal."""

from __future__ import annotations

import csv
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
from typer.testing import CliRunner

from ecgshift import io
from ecgshift.assets import sample_folder
from ecgshift.cli import app, main


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def parse_table(text: str) -> list[dict[str, str]]:
    """The rows of a rich table printed as text: header cells from the ┃ line, row cells from │ lines."""
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    columns = [c.strip() for c in header.strip("┃").split("┃")]
    rows = []
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0]:  # a continuation line of a wrapped row has an empty first cell
                rows.append(dict(zip(columns, cells)))
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m ecgshift.cli ...`` in a fresh process, stderr not a terminal (as in a log or a pipe)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "ecgshift.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``ecgshift.cli.main()`` in this process: its exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["ecgshift", *argv])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


# --- summary ---------------------------------------------------------------------------------------


def test_summary_of_the_bundled_samples_counts_records_of_all_three_modalities() -> None:
    manifest = pd.read_csv(sample_folder() / "manifest.csv", dtype=str, keep_default_na=False)
    result = invoke("data", "summary", "--sample")

    assert result.exit_code == 0, result.output
    rows = {row["modality"]: row for row in parse_table(result.stdout)}
    assert set(rows) == {"recg", "tecg", "hecg"}
    for modality, part in manifest.groupby("modality"):
        assert number(rows[modality]["records"]) == len(part)
        for label in ("AF", "SR", "other", "noisy"):
            assert number(rows[modality][label]) == (part.label == label).sum()


@pytest.fixture(scope="module")
def full_summary(shared_data: Path) -> dict[str, dict[str, str]]:
    """``data summary`` over the whole shared data root, run once (cold it parses ~3,200 h of annotations)."""
    result = invoke("data", "summary", "--data-root", str(shared_data))
    assert result.exit_code == 0, result.output
    return {row["dataset"]: row for row in parse_table(result.stdout)}


@pytest.mark.integration
@pytest.mark.slow
def test_summary_of_the_shared_data_shows_the_readme_counts_of_cinc2017_and_ptbxl(full_summary) -> None:
    cinc, ptbxl = full_summary["cinc2017"], full_summary["ptbxl"]
    assert cinc["modality"] == "tecg" and ptbxl["modality"] == "recg"
    assert {k: number(cinc[k]) for k in ("records", "AF", "SR", "other", "noisy")} == {
        "records": 8148, "AF": 608, "SR": 4926, "other": 2355, "noisy": 259}
    assert {k: number(ptbxl[k]) for k in ("records", "patients", "AF", "SR", "other")} == {
        "records": 861, "patients": 802, "AF": 100, "SR": 574, "other": 187}
    assert number(ptbxl["windows"]) == 861  # one 10-s window per 10-s record


@pytest.mark.integration
@pytest.mark.slow
def test_summary_of_the_shared_data_shows_the_readme_counts_of_the_holter_datasets(full_summary) -> None:
    mitdb, ltafdb, nsr2db = full_summary["mitdb"], full_summary["ltafdb"], full_summary["nsr2db"]
    assert number(mitdb["records"]) == 48 and number(mitdb["AF"]) == 8  # 8 records with AF
    assert number(mitdb["AF h"]) == pytest.approx(132.6 / 60, abs=0.005)  # 132.6 min of AF
    assert number(mitdb["SR h"]) == pytest.approx(1055 / 60, abs=0.05)  # 1,055 min of sinus rhythm
    assert number(ltafdb["records"]) == 84 and ltafdb["windows"] == "annotations only"
    assert number(ltafdb["AF h"]) == pytest.approx(1031, abs=0.5) and number(ltafdb["AF episodes"]) == 7358
    assert number(ltafdb["hours"]) == pytest.approx(1961, rel=0.01)
    assert number(nsr2db["records"]) == 54 and number(nsr2db["SR"]) == 54 and number(nsr2db["AF"]) == 0


@pytest.mark.integration
@pytest.mark.slow
def test_summary_of_the_shared_data_shows_the_readme_counts_of_the_generalization_sets(full_summary) -> None:
    aftdb, afpdb, afdb = full_summary["aftdb"], full_summary["afpdb"], full_summary["afdb"]
    assert {k: number(aftdb[k]) for k in ("records", "AF", "SR", "AF h")} == {"records": 60, "AF": 60, "SR": 0, "AF h": 1.0}
    assert aftdb["patients"] == "–" and number(aftdb["windows"]) == 60 * 6  # subjects undocumented; 60 s = 6 windows
    assert {k: number(afpdb[k]) for k in ("records", "patients", "hours", "AF", "AF h")} == {
        "records": 100, "patients": 50, "hours": 50.0, "AF": 0, "AF h": 0.0}  # 50 same-subject pairs, no AF
    assert number(afdb["records"]) == 25 and afdb["windows"] == "annotations only"
    assert number(afdb["hours"]) == pytest.approx(254.3, abs=0.05) and number(afdb["AF h"]) == pytest.approx(95.1, abs=0.05)


# --- prepare ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_prepare_of_a_folder_with_a_corrupt_file_reports_counts_and_writes_the_rejections(
    real_folder: Path, tmp_path: Path, shared_data: Path, copy_record
) -> None:
    broken = copy_record(shared_data / "formats" / "mitdb" / "201.hea", real_folder / "hecg")
    broken.with_suffix(".dat").write_bytes(broken.with_suffix(".dat").read_bytes()[:3000])
    with open(real_folder / "manifest.csv", "a") as manifest:
        manifest.write("hecg/201.hea,hecg,,\n")
    rejected_csv = tmp_path / "out.csv"

    result = invoke("data", "prepare", "--folder", str(real_folder), "--rejected-csv", str(rejected_csv),
                    "--cache-dir", str(tmp_path / "cache"))

    assert result.exit_code == 0, result.output
    (row,) = parse_table(result.stdout)
    assert (number(row["records"]), number(row["prepared"]), number(row["rejected"])) == (7, 6, 1)
    assert "rejected" in result.stdout and "truncated" in result.stdout
    with open(rejected_csv, newline="") as handle:
        (rejection,) = list(csv.DictReader(handle))
    assert Path(rejection["path"]) == real_folder / "hecg" / "201.hea"
    assert rejection["reason"].startswith(str(real_folder / "hecg" / "201.dat")) and "truncated" in rejection["reason"]


# --- errors reach the user as one line -------------------------------------------------------------


def test_missing_data_root_exits_2_with_one_line_error_and_no_traceback(tmp_path: Path) -> None:
    result = run_cli("data", "summary", "--data-root", "no-such-root", cwd=tmp_path)  # stderr is a pipe: 80 columns
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no-such-root: data root not found (give --data-root, set $ECGSHIFT_DATA, or try --sample)"]


def test_error_longer_than_80_columns_is_still_one_line_on_a_non_terminal_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, err = run_main(["data", "summary", "--data-root", str(tmp_path / "no-such-root")], monkeypatch, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1


def test_unknown_download_source_exits_2_naming_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    code, err = run_main(["data", "download", "mitbd", "--to", str(tmp_path / "out")], monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: unknown dataset 'mitbd'") and "mitdb" in err and "cinc2017" in err
    assert not (tmp_path / "out").exists()


# --- download from a loopback server laid out like PhysioNet ---------------------------------------


@pytest.fixture
def physionet(tmp_path: Path) -> Iterator[tuple[str, list[Path]]]:
    """A loopback HTTP server holding ``mitdb/1.0.0/`` (a bundled MIT-BIH excerpt) and its SHA256SUMS.txt."""
    project = tmp_path / "server" / "mitdb" / "1.0.0"
    project.mkdir(parents=True)
    sources = sorted((sample_folder() / "hecg").glob("mitdb116_0s.*"))
    sums = []
    for src in sources:
        shutil.copyfile(src, project / src.name)
        sums.append(f"{hashlib.sha256(src.read_bytes()).hexdigest()} {src.name}\n")
    (project / "SHA256SUMS.txt").write_text("".join(sums))

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path / "server")))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sources
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_puts_verified_files_in_the_target_folder(physionet, tmp_path: Path) -> None:
    url, sources = physionet
    target = tmp_path / "mitdb"

    result = invoke("data", "download", "mitdb", "--to", str(target), "--base-url", url)

    assert result.exit_code == 0, result.output
    assert f"{len(sources)} downloaded" in result.stdout and "0 failed" in result.stdout
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in sources)
    for src in sources:
        assert (target / src.name).read_bytes() == src.read_bytes()
    assert io.read(target / "mitdb116_0s.hea").fs == 360.0

    again = invoke("data", "download", "mitdb", "--to", str(target), "--base-url", url)
    assert again.exit_code == 0 and f"0 downloaded, {len(sources)} already present" in again.stdout
