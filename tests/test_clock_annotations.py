"""Clock times in every output of a recording that states its start, elapsed seconds alone without one; detected AF
episodes as a WFDB annotation file that wfdb and ecgshift read back; ``ecgshift holter --fs`` for plain CSV."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from typer.testing import CliRunner

from _sample_runs import SAMPLES
from ecgshift import io
from ecgshift.cli import app
from ecgshift.clock import clock_text
from ecgshift.holter import HolterConfig, analyse_holter
from ecgshift.holter.batch import SUMMARY_FILE
from ecgshift.holter.report import episodes_frame, write_outputs
from ecgshift.holter.timeline import timeline_figures
from ecgshift.io.annotations import write_af_annotations
from ecgshift.predictor import load_model

runner = CliRunner()
AF_EXCERPT = SAMPLES / "hecg" / "mitdb202_1000s.hea"  # 5 min of MIT-BIH 202: sinus, then AF (reference .atr)
START = datetime(2026, 12, 1, 23, 58, 20)  # two minutes before midnight: clock times cross the date
FAST = HolterConfig(mc=5)


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def timed_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled AF excerpt with a base time and date in its header (the samples unchanged)."""
    folder = tmp_path_factory.mktemp("timed")
    for f in AF_EXCERPT.parent.glob(f"{AF_EXCERPT.stem}.*"):
        shutil.copyfile(f, folder / f.name)
    hea = folder / AF_EXCERPT.name
    lines = hea.read_text().splitlines()
    lines[0] = f"{lines[0]} {START:%H:%M:%S} {START:%d/%m/%Y}"
    hea.write_text("\n".join(lines) + "\n")
    return hea


@pytest.fixture(scope="module")
def timed_result(model, timed_record: Path):
    return analyse_holter(timed_record, model=model, config=FAST, reference="atr")


@pytest.fixture(scope="module")
def untimed_result(model):
    return analyse_holter(AF_EXCERPT, model=model, config=FAST)


def test_clock_text_adds_elapsed_seconds_to_the_start_and_is_empty_without_one() -> None:
    assert clock_text(START, 100) == "2026-12-02T00:00:00"
    assert clock_text(START, 0.25) == "2026-12-01T23:58:20.250"
    assert clock_text(None, 100) == ""


def test_the_header_base_time_reaches_the_holter_result(timed_result) -> None:
    assert io.info(timed_result.path).start_time == START
    assert timed_result.start_time == START


def test_episodes_get_onset_and_offset_clock_times(timed_result) -> None:
    episodes = episodes_frame(timed_result)
    assert len(episodes) >= 1
    for row in episodes.itertuples(index=False):
        assert datetime.fromisoformat(row.start_clock) == START + timedelta(seconds=row.start_s)
        assert datetime.fromisoformat(row.end_clock) == START + timedelta(seconds=row.end_s)


def test_summary_json_and_holter_summary_carry_the_start_time(timed_result, tmp_path: Path) -> None:
    files = write_outputs(timed_result, tmp_path / "out")
    summary = json.loads(files["summary"].read_text())
    assert summary["start_time"] == "2026-12-01T23:58:20"
    assert datetime.fromisoformat(summary["end_time"]) == START + timedelta(seconds=timed_result.duration_s)
    assert summary["episodes"][0]["start_clock"] == episodes_frame(timed_result).start_clock[0]
    page = files["timeline"].read_text()
    assert "at (clock)" in page and episodes_frame(timed_result).start_clock[0] in page  # the strip table


def test_the_timeline_has_a_clock_axis_only_with_a_start_time(timed_result, untimed_result) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def clock_labels(result) -> list[str]:
        fig = timeline_figures(result)[0]
        FigureCanvasAgg(fig).draw()
        axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]  # the clock axis is a secondary axis of the top panel
        return [ax.get_xlabel() for ax in axes if ax.get_xlabel().startswith("clock time")]

    assert clock_labels(timed_result) == ["clock time (start 2026-12-01T23:58:20)"]
    assert clock_labels(untimed_result) == []


def test_without_a_start_time_outputs_keep_elapsed_seconds_only(untimed_result, tmp_path: Path) -> None:
    assert untimed_result.start_time is None
    files = write_outputs(untimed_result, tmp_path / "out")
    episodes = pd.read_csv(files["episodes"], keep_default_na=False)
    assert (episodes.start_clock == "").all() and (episodes.end_clock == "").all()
    assert (episodes.start_s >= 0).all()
    summary = json.loads(files["summary"].read_text())
    assert summary["start_time"] is None and summary["end_time"] is None
    assert "at (clock)" not in files["timeline"].read_text()


def test_predict_csv_has_the_clock_time_of_each_record_and_each_window(timed_record: Path, tmp_path: Path) -> None:
    untimed = SAMPLES / "tecg" / "A00002.hea"
    untimed_copy = tmp_path / "A00002.hea"
    lines = untimed.read_text().splitlines()
    untimed_copy.write_text("\n".join([" ".join(lines[0].split()[:4]), *lines[1:]]) + "\n")  # without its base time
    shutil.copyfile(untimed.with_suffix(".dat"), tmp_path / "A00002.dat")
    out = tmp_path / "records.csv"
    result = runner.invoke(app, ["predict", str(timed_record), str(untimed_copy), "--mc", "2", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    records = pd.read_csv(out, keep_default_na=False).set_index("record")
    assert records.loc["mitdb202_1000s", "start_time"] == "2026-12-01T23:58:20"
    assert records.loc["A00002", "start_time"] == ""
    out = tmp_path / "windows.csv"
    result = runner.invoke(app, ["predict", str(timed_record), "--mc", "2", "--windows", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    windows = pd.read_csv(out)
    assert len(windows) == 30
    assert [datetime.fromisoformat(t) for t in windows.start_time] == [START + timedelta(seconds=s) for s in windows.start_s]


# ---------------------------------------------------------------- episodes as WFDB annotations


def test_episode_annotations_round_trip_through_wfdb_and_ecgshift(tmp_path: Path) -> None:
    episodes = [(12.0, 95.5), (140.0, 300.0)]  # the second lasts to the end of the recording
    path = write_af_annotations(tmp_path, "rec 1", episodes, fs=360.0, duration_s=300.0, start_time=START)
    assert path == tmp_path / "rec_1.af"
    ann = wfdb.rdann(str(tmp_path / "rec_1"), "af")
    assert list(ann.symbol) == ["+"] * 4
    assert [n.strip("\x00") for n in ann.aux_note] == ["(N", "(AFIB", "(N", "(AFIB"]
    assert list(ann.sample) == [0, 12 * 360, int(95.5 * 360), 140 * 360]
    hea = tmp_path / "rec_1.hea"
    assert io.info(hea).start_time == START and io.info(hea).duration_s == 300.0
    rhythms = io.read_annotations(hea, extension="af", fs=360.0, duration_s=300.0)
    assert [(r.start_s, r.end_s) for r in rhythms if r.label == "AF"] == episodes
    assert [(r.start_s, r.end_s) for r in rhythms if r.label == "SR"] == [(0.0, 12.0), (95.5, 140.0)]


def test_holter_outputs_include_the_episodes_as_annotations_readable_beside_the_record(timed_result, tmp_path: Path) -> None:
    files = write_outputs(timed_result, tmp_path / "out")
    assert files["annotations"] == tmp_path / "out" / "mitdb202_1000s.af"
    rhythms = io.read_annotations(tmp_path / "out" / "mitdb202_1000s.hea", extension="af", fs=timed_result.fs,
                                  duration_s=timed_result.duration_s)
    read_back = [(r.start_s, r.end_s) for r in rhythms if r.label == "AF"]
    episodes = [(e.start_s, e.end_s) for e in timed_result.episodes]
    assert len(read_back) == len(episodes) >= 1
    # annotations sit on samples; episode edges may sit at R-peaks between them: equal to within one sample
    np.testing.assert_allclose(np.asarray(read_back), np.asarray(episodes), atol=1.0 / timed_result.fs)
    beside = tmp_path / "record"  # copied next to the original record, the file is that record's annotator 'af'
    beside.mkdir()
    for f in Path(timed_result.path).parent.glob("mitdb202_1000s.*"):
        shutil.copyfile(f, beside / f.name)
    shutil.copyfile(files["annotations"], beside / "mitdb202_1000s.af")
    again = io.read_annotations(beside / "mitdb202_1000s.hea", extension="af", fs=360.0, duration_s=300.0)
    assert again == rhythms


def test_a_recording_without_af_is_annotated_as_not_af_throughout(tmp_path: Path) -> None:
    write_af_annotations(tmp_path, "sinus", [], fs=250.0, duration_s=60.0)
    rhythms = io.read_annotations(tmp_path / "sinus.hea", extension="af", fs=250.0, duration_s=60.0)
    assert [(r.start_s, r.end_s, r.label) for r in rhythms] == [(0.0, 60.0, "SR")]


# ---------------------------------------------------------------- holter --fs


def test_holter_reads_a_plain_csv_with_fs_and_says_give_fs_without(tmp_path: Path) -> None:
    record = io.read(AF_EXCERPT, end_s=120.0)
    csv = tmp_path / "long.csv"
    np.savetxt(csv, record.signal[0], fmt="%.4f", header="MLII", comments="")
    result = runner.invoke(app, ["holter", str(csv), "--out", str(tmp_path / "without"), "--mc", "2"])
    summary = pd.read_csv(tmp_path / "without" / SUMMARY_FILE)
    assert summary.status[0].startswith("rejected: ") and "give fs" in summary.status[0]
    result = runner.invoke(app, ["holter", str(csv), "--fs", "360", "--out", str(tmp_path / "with"), "--mc", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = pd.read_csv(tmp_path / "with" / SUMMARY_FILE)
    assert summary.status[0] == "done" and summary.duration_s[0] == pytest.approx(120.0)
    assert (tmp_path / "with" / "long" / "timeline.html").is_file()
