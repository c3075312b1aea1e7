"""AF burden as AF time (issue 22): beat-level boundaries, the burden interval, short AF runs, the recording's verdict
and class, CPSC 2021 endpoint scores, the same figures from ``predict`` and ``holter``, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import wfdb
from typer.testing import CliRunner

from _sample_runs import SAMPLES
from ecgshift import batch, io
from ecgshift.cli.holter import holter_command
from ecgshift.holter import HolterConfig, analyse_holter
from ecgshift.holter.batch import SUMMARY_FILE
from ecgshift.holter.report import WINDOWS_CSV_COLUMNS, summary_row, write_outputs
from ecgshift.pipeline import PipelineConfig
from ecgshift.predictor import default_model_path, load_model
from ecgshift.rhythm.burden import af_time, endpoint_scores, reference_class
from ecgshift.rhythm.episodes import Episode
from ecgshift.threads import default_torch_threads, torch_threads

HAS_DEFAULT_MODEL = (default_model_path() / "config.json").exists()
needs_model = pytest.mark.skipif(not HAS_DEFAULT_MODEL, reason="the shipped model is not in this checkout")
AF_EXCERPT = SAMPLES / "hecg" / "mitdb219_330s.hea"  # 5 min of MIT-BIH 219, AF throughout
PAROXYSMAL = SAMPLES / "hecg" / "mitdb202_1000s.hea"  # the demo sample: AF in about a third of its windows


def _grid(n: int, window_s: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(n) * window_s
    return starts, starts + window_s


def _beats(segments: list[tuple[float, float, bool]], seed: int = 0) -> np.ndarray:
    """R-peak times: regular (0.8 s ± 1 %) in sinus stretches, 0.4-1.1 s uniform in AF ones."""
    rng, t, out = np.random.default_rng(seed), 0.0, [0.0]
    for _lo, hi, af in segments:
        while t < hi:
            t += rng.uniform(0.4, 1.1) if af else 0.8 + rng.normal(0, 0.008)
            out.append(t)
    return np.array(out)


def _write(folder: Path, name: str, signal: np.ndarray, fs: float = 360.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["MLII"], p_signal=signal[:, None], fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(folder))
    return folder / f"{name}.hea"


def _lead(path: Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    record = io.read(path, start_s=start_s, end_s=end_s)
    return record.signal[record.leads.index("MLII")].astype(np.float64)


# --- pure functions -------------------------------------------------------------------------------------------


def test_burden_is_af_time_and_a_20_s_run_counts_though_it_is_no_episode() -> None:
    starts, ends = _grid(30)
    is_af = (starts >= 100) & (starts < 120)
    af = af_time(starts, ends, is_af, np.ones(30, bool))
    assert af.burden_pct == pytest.approx(100 * 20 / 300)
    assert not af.episodes and len(af.short_runs) == 1 and af.short_run_s == pytest.approx(20)
    assert af.verdict == "non-AF" and af.record_class == "non-AF"


def test_unanalysable_time_is_neither_af_nor_in_the_denominator() -> None:
    starts, ends = _grid(30)
    ok = np.ones(30, bool)
    ok[:10] = False
    af = af_time(starts, ends, np.ones(30, bool), ok)
    assert af.analysable_s == 200 and af.burden_pct == 100 and af.record_class == "persistent AF"


def test_run_edges_move_to_the_beat_where_the_rhythm_turns_irregular() -> None:
    beats = _beats([(0, 103, False), (103, 187, True), (187, 300, False)])
    starts, ends = _grid(30)
    is_af = (starts >= 100) & (starts < 190)  # windows mostly AF are AF: edges at 100 s and 190 s, 3 s off
    coarse = af_time(starts, ends, is_af, np.ones(30, bool))
    fine = af_time(starts, ends, is_af, np.ones(30, bool), beats_s=beats)
    assert (coarse.runs[0].start_s, coarse.runs[0].end_s) == (100.0, 190.0) and not coarse.beat_resolved
    onset, offset = fine.runs[0].start_s, fine.runs[0].end_s
    assert fine.beat_resolved and onset in beats and offset in beats
    beat_index = lambda t: int(np.searchsorted(beats, t))
    assert abs(beat_index(onset) - beat_index(103.0)) <= 2 and abs(beat_index(offset) - beat_index(187.0)) <= 2
    assert abs(fine.burden_pct - 100 * 84 / 300) < abs(coarse.burden_pct - 100 * 84 / 300)


def test_undecided_windows_give_an_interval_and_mostly_undecided_time_no_figure() -> None:
    starts, ends = _grid(30)
    is_af = starts < 100
    undecided = np.zeros(30, bool)
    undecided[[0, 20]] = True  # one AF, one non-AF window undecided
    af = af_time(starts, ends, is_af, np.ones(30, bool), undecided=undecided)
    assert (af.burden_low_pct, af.burden_pct, af.burden_high_pct) == pytest.approx((30.0, 100 / 3, 100 * 11 / 30))
    assert af.determinable and af.burden_text == "33.3 % (interval 30.0–36.7 %)"
    undecided[:26] = True
    unsure = af_time(starts, ends, is_af, np.ones(30, bool), undecided=undecided)
    assert not unsure.determinable and unsure.burden_text == "burden not determinable: 87 % of analysable time uncertain"
    assert np.isnan(unsure.to_dict()["af_burden_pct"]) and unsure.to_dict()["af_burden_point_pct"] == pytest.approx(100 / 3)
    assert unsure.verdict == "AF"  # it still holds a 100-s episode


def test_half_overlapping_windows_decide_each_stretch_by_majority() -> None:
    starts = np.arange(0, 35, 5.0)
    is_af = np.array([False, False, True, True, True, False, False])
    p = np.array([0.1, 0.2, 0.7, 0.9, 0.6, 0.3, 0.1])
    af = af_time(starts, starts + 10, is_af, np.ones(7, bool), p_af=p)
    assert [(r.start_s, r.end_s) for r in af.runs] == [(15.0, 25.0)]  # two AF windows; the ties (one each) by mean p(AF)


def test_record_classes_follow_cpsc_2021() -> None:
    starts, ends = _grid(30)
    ones = np.ones(30, bool)
    assert af_time(starts, ends, ones, ones).record_class == "persistent AF"
    assert af_time(starts, ends, starts < 100, ones).record_class == "paroxysmal AF"
    assert af_time(starts, ends, ~ones, ones).record_class == "non-AF"
    assert reference_class([Episode(0, 300)], duration_s=300) == "persistent AF"
    assert reference_class([Episode(10, 20)], duration_s=300) == "paroxysmal AF"
    assert reference_class([], duration_s=300) == "non-AF"


def test_endpoint_credit_is_full_from_one_beat_before_to_two_after_and_half_one_further() -> None:
    beats = np.arange(0, 100, 1.0)  # one beat a second
    reference = [Episode(50.0, 80.0)]
    assert endpoint_scores([Episode(49.0, 82.0)], reference, beats_s=beats).score == 2.0
    assert endpoint_scores([Episode(48.0, 83.0)], reference, beats_s=beats).score == 1.0
    assert endpoint_scores([Episode(40.0, 90.0)], reference, beats_s=beats).score == 0.0
    two = endpoint_scores([Episode(50.0, 60.0), Episode(65.0, 80.0)], reference, beats_s=beats)
    assert two.score == pytest.approx(2.0 * 1 / 2)  # CPSC: × n_reference / max(n_reference, n_detected)


def test_torch_threads_default_leaves_a_core_for_the_rhythm_thread_and_restores_torch() -> None:
    import torch

    before = torch.get_num_threads()
    with torch_threads(None) as n:
        assert n == default_torch_threads() and torch.get_num_threads() == n >= 1
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        PipelineConfig(threads=0)


# --- predict and holter agree ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    if not HAS_DEFAULT_MODEL:
        pytest.skip("the shipped model is not in this checkout")
    return load_model(default_model_path())


@pytest.fixture(scope="module")
def short_af(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """41 s of MIT-BIH 221 inside its AF stretch 0-289 s, as its own WFDB record."""
    signal = _lead(shared_data / "hecg" / "mitdb" / "221.hea", 100.0, 141.0)
    return _write(tmp_path_factory.mktemp("short"), "af41", signal)


@needs_model
def test_a_41_s_all_af_recording_is_af_in_predict_and_in_holter(model, short_af: Path) -> None:
    row = batch.predict_paths(model, [short_af], config=PipelineConfig(mc=5)).iloc[0]
    assert row.status == "done" and row.label == "AF" and row.label_rule == "mean p(AF)"
    result = analyse_holter(short_af, model=model, config=HolterConfig(mc=5))
    assert set(result.windows.decided_by[result.windows.quality == "ok"]) == {"network"}
    assert result.af.verdict == "AF" and result.burden_pct == pytest.approx(100.0) and len(result.episodes) == 1
    assert result.af.record_class == "persistent AF" and row.record_class == "persistent AF"


@needs_model
def test_predict_labels_a_long_recording_by_its_af_episodes_with_holters_figures(model) -> None:
    row = batch.predict_paths(model, [PAROXYSMAL], config=PipelineConfig(mc=5), fusion=_fusion()).iloc[0]
    assert row.label == "AF" and row.label_rule == "episode" and row.n_episodes >= 1 and row.record_class == "paroxysmal AF"
    holter = analyse_holter(PAROXYSMAL, model=model, config=HolterConfig(mc=5))
    assert row.n_episodes == len(holter.episodes) and row.af_burden_pct == pytest.approx(holter.burden_pct)
    assert row.longest_episode_s == pytest.approx(holter.af.longest_episode_s)
    summary = model.summarize(model.analyse(io.read(PAROXYSMAL), mc=5))
    assert summary.label == "AF" and summary.n_episodes == row.n_episodes


def _fusion():
    from ecgshift.rhythm.fusion import default_fusion

    return default_fusion()


@needs_model
def test_holter_outputs_carry_af_time_interval_runs_class_and_windows_csv(model, tmp_path: Path) -> None:
    result = analyse_holter(PAROXYSMAL, model=model, config=HolterConfig(mc=5), reference="atr")
    files = write_outputs(result, tmp_path)
    summary = json.loads(files["summary"].read_text())
    for key in ("af_burden_pct", "af_burden_low_pct", "af_burden_high_pct", "burden_text", "n_short_af_runs",
                "short_af_run_time_s", "longest_episode_s", "record_class", "af_verdict", "short_af_runs"):
        assert key in summary
    assert summary["af_burden_low_pct"] <= summary["burden_pct"] <= summary["af_burden_high_pct"]
    assert summary["reference"]["reference_class"] == "paroxysmal AF" and summary["beat_resolved"] is True
    row = summary_row(result)
    assert row["record_class"] == summary["record_class"] and row["burden_text"] == summary["burden_text"]
    windows = pd.read_csv(files["windows"])
    assert tuple(windows.columns) == WINDOWS_CSV_COLUMNS and len(windows) == len(result.windows)
    assert set(windows.reference.dropna()) <= {"AF", "non-AF", "mixed"} and set(windows.decided_by.dropna()) == {"network+rhythm"}
    page = files["timeline"].read_text()
    assert f"AF burden: {result.af.burden_text}" in page and "AF burden (AF time / analysable time)" in page and "AF runs shorter than 30 s" in page and "record class" in page


# --- bad input --------------------------------------------------------------------------------------------------


def _holter_cli(inputs: Path, out: Path, *extra: str) -> pd.DataFrame:
    app = typer.Typer()
    app.command("holter")(holter_command)
    CliRunner().invoke(app, [str(inputs), "--out", str(out), "--mc", "2", "--threads", "1", *extra])
    return pd.read_csv(out / SUMMARY_FILE).set_index("record")


@needs_model
def test_a_recording_shorter_than_one_window_is_rejected_in_one_line_and_accounted_for(model, tmp_path: Path) -> None:
    _write(tmp_path / "in", "short", _lead(AF_EXCERPT)[: 360 * 4])
    summary = _holter_cli(tmp_path / "in", tmp_path / "out")
    status = summary.loc["short", "status"]
    assert status.startswith("rejected:") and "shorter than" in status and "\n" not in status
    row = batch.predict_paths(model, [tmp_path / "in" / "short.hea"], config=PipelineConfig(mc=2)).iloc[0]
    assert row.status.startswith("rejected:") and "\n" not in row.status


@needs_model
def test_channels_at_different_sampling_rates_are_named_in_the_problems(model, tmp_path: Path) -> None:
    fs, signal = 360, _lead(AF_EXCERPT)[: 360 * 60]
    fast = np.repeat(signal, 2)
    rec = wfdb.Record(record_name="mixed", n_sig=2, fs=fs, sig_len=signal.size, sig_name=["MLII", "V1"], units=["mV", "mV"],
                      fmt=["16", "16"], e_p_signal=[signal, fast], samps_per_frame=[1, 2], adc_gain=[200.0, 200.0],
                      baseline=[0, 0], adc_res=[16, 16], adc_zero=[0, 0], file_name=["mixed.dat"] * 2, block_size=[0, 0],
                      init_value=[0, 0], checksum=[0, 0], byte_offset=[None, None], skew=[None, None])
    rec.set_d_features(expanded=True, do_adc=True)
    rec.init_value = [int(x[0]) for x in rec.e_d_signal]
    rec.checksum = [int(np.sum(x) % 65536) for x in rec.e_d_signal]
    (tmp_path / "in").mkdir()
    rec.wrsamp(expanded=True, write_dir=str(tmp_path / "in"))
    result = analyse_holter(tmp_path / "in" / "mixed.hea", model=model, config=HolterConfig(mc=2))
    assert any("V1 recorded at 720 Hz" in p for p in result.problems) and result.lead == "MLII"


@needs_model
def test_an_annotation_file_running_past_the_signal_costs_the_reference_not_the_recording(model, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    header = _write(folder, "clash", _lead(AF_EXCERPT)[: 360 * 120])
    wfdb.wrann("clash", "atr", np.array([10, 360 * 200]), np.array(["+", "+"]), aux_note=["(AFIB", "(N"], fs=360,
               write_dir=str(folder))
    result = analyse_holter(header, model=model, config=HolterConfig(mc=2), reference="atr")
    assert result.evaluation is None and result.reference_episodes is None
    assert any(p.startswith("reference not used:") and "signal ends at 120.0 s" in p for p in result.problems)
    summary = _holter_cli(folder, tmp_path / "out", "--reference", "atr")
    assert summary.loc["clash", "status"] == "done" and "reference not used" in summary.loc["clash", "problems"]


@needs_model
def test_an_excerpt_without_beats_is_not_counted_as_sinus(model, tmp_path: Path) -> None:
    t = np.arange(360 * 330) / 360
    flat_wave = 0.3 * np.sin(2 * np.pi * 0.25 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size)  # breathing, no QRS
    header = _write(tmp_path / "in", "nobeats", flat_wave)
    summary = _holter_cli(tmp_path / "in", tmp_path / "out")
    row = summary.loc["nobeats"]
    if row.status == "done":  # analysed: the missing beats are said, and no confident sinus figure is given
        assert "no beats detected" in row.problems or not row.burden_determinable
        assert row.af_verdict != "non-AF" or not row.burden_determinable
    else:
        assert row.status.startswith("rejected:") and "\n" not in row.status
    predicted = batch.predict_paths(model, [header], config=PipelineConfig(mc=2), fusion=_fusion()).iloc[0]
    assert predicted.status.startswith("rejected:") or predicted.label != "SR"


@needs_model
def test_a_chunk_where_no_beat_is_found_is_said_and_its_time_is_undecided(model, monkeypatch) -> None:
    from ecgshift import pipeline
    from ecgshift.rhythm.fusion import RhythmEvidence

    real = pipeline.rhythm_evidence

    def no_beats(signal, fs, starts, **kwargs) -> RhythmEvidence:
        features = real(signal, fs, starts, **kwargs).features.assign(n_beats=0)
        for column in features.columns.drop("n_beats"):
            features[column] = np.nan
        return RhythmEvidence(features, np.zeros(0), np.zeros(0))

    monkeypatch.setattr(pipeline, "rhythm_evidence", no_beats)
    result = analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(mc=2))
    assert any("no beats detected" in p for p in result.problems)
    assert result.af.undecided_s == result.af.analysable_s and not result.af.determinable
    assert result.af.burden_text.startswith("burden not determinable: 100 %")
