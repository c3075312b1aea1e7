"""Holter analysis on real MIT-BIH excerpts (and records built from them): quality gate, account of time,
episodes, reference evaluation, bad input in a batch, and the offline HTML timeline."""

from __future__ import annotations

import dataclasses

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import wfdb
from typer.testing import CliRunner

from _sample_runs import SAMPLES, train_tiny
from ecgshift import io, pipeline
from ecgshift import windows as windows_module
from ecgshift.checkpoint import Referral
from ecgshift.holter import analysis as holter
from ecgshift.pipeline import PipelineConfig
from ecgshift.cli.holter import holter_command
from ecgshift.holter.batch import SUMMARY_FILE
from ecgshift.errors import BadInputError, EcgShiftError
from ecgshift.holter import QUALITY_REASONS, HolterConfig, analyse_holter
from ecgshift.holter.report import write_outputs
from ecgshift.predictor import EcgShiftModel, default_model_path, load_model
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmEvidence, RhythmFusion

AF_EXCERPT = SAMPLES / "hecg" / "mitdb219_330s.hea"  # 5 min of record 219 (330–630 s), annotated AF throughout
SR_EXCERPT = SAMPLES / "hecg" / "mitdb116_0s.hea"  # 5 min of record 116, sinus rhythm
HAS_DEFAULT_MODEL = (default_model_path() / "config.json").exists()
NO_RR = HolterConfig(rhythm=False)
CHROMIUM = Path("/usr/bin/chromium")




@pytest.fixture(scope="module")
def model_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped default model when it exists, else a tiny one trained on the bundled samples."""
    if HAS_DEFAULT_MODEL:
        return default_model_path()
    return train_tiny(tmp_path_factory.mktemp("holter-run"))


@pytest.fixture(scope="module")
def model(model_dir: Path) -> EcgShiftModel:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def af_result(model: EcgShiftModel):
    return analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(), reference="atr")


def _lead(path: Path, lead: str = "MLII") -> np.ndarray:
    record = io.read(path)
    return record.signal[record.leads.index(lead)].astype(np.float64)


def _write(folder: Path, name: str, signal: np.ndarray, fs: float = 360.0) -> Path:
    """A one-lead format-16 WFDB record (NaN → WFDB's missing-sample value)."""
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=["MLII"], p_signal=signal[:, None], fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(folder))
    return folder / f"{name}.hea"


def test_all_af_excerpt_is_analysed_window_by_window_with_uncertainty(af_result) -> None:
    w = af_result.windows
    assert len(w) == 30 and (w.quality == "ok").all()
    assert set(af_result.account.unanalysable_s) == set(QUALITY_REASONS) | {"tail"}
    ok = w[w.quality == "ok"]
    assert ok.p_af.between(0, 1).all() and (ok.entropy >= 0).all() and ok.mutual_info.notna().all()
    assert ok.shift_score.notna().all()
    if HAS_DEFAULT_MODEL:  # record 221 is AF: the shipped model should call most windows AF
        assert ok.is_af.mean() > 0.5
        assert len(af_result.episodes) >= 1 and af_result.burden_pct > 50
    for episode in af_result.episodes:
        assert episode.duration_s >= 30 and 0 <= episode.mean_p_af <= 1


def test_reference_evaluation_scores_every_analysable_window_once(af_result) -> None:
    ev = af_result.evaluation
    assert ev is not None and ev.n_af_windows > 20  # 221 is annotated AF for 93 % of the excerpt
    assert ev.n_af_windows + ev.n_non_af_windows + ev.n_mixed_windows == int((af_result.windows.quality == "ok").sum())
    assert 0 <= ev.window_sensitivity <= 1 and ev.episodes.n_reference >= 1
    assert ev.burden_error_pct == pytest.approx(abs(ev.detected_burden_pct - ev.reference_burden_pct))


def test_nan_gap_is_unanalysable_and_every_second_is_accounted(model: EcgShiftModel, tmp_path: Path) -> None:
    signal = np.concatenate([_lead(AF_EXCERPT), _lead(SR_EXCERPT)[: int(96.5 * 360)]])  # 396.5 s: not whole windows
    signal[int(100 * 360) : int(140 * 360)] = np.nan
    result = analyse_holter(_write(tmp_path, "gap", signal), model=model, config=NO_RR)
    w = result.windows.set_index("start_s")
    assert (w.loc[100.0:130.0, "quality"] == "gap").all()
    assert (w.loc[0.0:90.0, "quality"] == "ok").all() and (w.loc[150.0:, "quality"] == "ok").all()
    acc = result.account
    assert acc.unanalysable_s["gap"] == 40.0 and acc.unanalysable_s["tail"] == pytest.approx(6.5)
    assert acc.accounted_s == pytest.approx(acc.duration_s)
    assert acc.duration_s - acc.analysed_s - sum(v for k, v in acc.unanalysable_s.items() if k != "tail") < result.window_s


@pytest.fixture(scope="module")
def flat_and_noise(model: EcgShiftModel, tmp_path_factory: pytest.TempPathFactory):
    """5 min ECG, a flat hour (lead off) from 300 s, Gaussian noise from 3900 s to 7200 s, 5 min ECG: 2 h 5 min."""
    rng = np.random.default_rng(0)
    ecg_a, ecg_b = _lead(AF_EXCERPT), _lead(SR_EXCERPT)
    signal = np.concatenate([ecg_a, np.full(3600 * 360, 0.05), rng.normal(0.0, 0.3, 3300 * 360), ecg_b])
    return analyse_holter(_write(tmp_path_factory.mktemp("flat"), "flat_hour", signal), model=model, config=NO_RR)


def test_flat_hour_is_unanalysable_with_reason_flat(flat_and_noise) -> None:
    w = flat_and_noise.windows
    hour = (w.start_s >= 300) & (w.start_s < 3900)
    assert (w.quality[hour] == "flat").all()
    assert flat_and_noise.account.unanalysable_s["flat"] == 3600.0
    assert w.p_af[hour].isna().all() and not w.is_af[hour].any()


def test_an_hour_of_noise_and_flat_line_is_reported_as_unanalysable(flat_and_noise) -> None:
    w, acc = flat_and_noise.windows, flat_and_noise.account
    noise = (w.start_s >= 3900) & (w.start_s < 7200)
    assert (w.quality[noise] == "noise").mean() > 0.95
    assert acc.analysed_s == pytest.approx(float((w.quality == "ok").sum()) * 10)
    assert acc.analysed_s <= 600 and acc.accounted_s == pytest.approx(acc.duration_s)
    hours = flat_and_noise.burden_per_hour.set_index("hour")
    assert hours.loc[1, "unanalysable_s"] == 3600.0 and hours.loc[1, "analysable_s"] == 0
    assert np.isnan(hours.loc[1, "burden_pct"])  # no analysable time: no burden, rather than 0 %


def test_recording_that_starts_with_the_lead_off_is_analysed_not_rejected(model: EcgShiftModel, tmp_path: Path) -> None:
    signal = np.concatenate([np.zeros(60 * 360), _lead(AF_EXCERPT)])
    result = analyse_holter(_write(tmp_path, "lead_off_start", signal), model=model, config=NO_RR)
    quality = result.windows.set_index("start_s").quality
    assert (quality[:50.0] == "flat").all() and (quality[60.0:] == "ok").all()


def test_window_pinned_to_the_adc_rail_is_unanalysable_with_reason_saturated(model: EcgShiftModel, tmp_path: Path) -> None:
    signal = _lead(AF_EXCERPT)
    signal[int(50 * 360) : int(53 * 360)] += 5.0  # a 3-s motion artefact drives the amplifier into its +3 mV rail
    result = analyse_holter(_write(tmp_path, "sat", np.clip(signal, -3.0, 3.0)), model=model, config=NO_RR)
    quality = result.windows.set_index("start_s").quality
    assert quality[50.0] == "saturated"
    assert (quality.drop(50.0) == "ok").all()


def test_chunk_failing_mid_way_marks_only_its_span_unreadable(model: EcgShiftModel, monkeypatch) -> None:
    real = windows_module.read_span

    def flaky(source, start_s, end_s, **kwargs):
        if 95.0 - 1e-6 <= start_s < 100.0:  # the chunk of windows 100-200 s (read from 95 s: its filter margin)
            raise BadInputError(source, "simulated read failure")
        return real(source, start_s, end_s, **kwargs)

    monkeypatch.setattr(windows_module, "read_span", flaky)
    result = analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(chunk_s=100, rhythm=False))
    w = result.windows
    assert (w.quality[(w.start_s >= 100) & (w.start_s < 200)] == "unreadable").all()
    assert (w.quality[(w.start_s < 100) | (w.start_s >= 200)] == "ok").all()
    assert result.problems == ("10 of 30 windows not analysed: 10 unreadable", "100-200 s unreadable: simulated read failure")
    assert result.account.unanalysable_s["unreadable"] == 100.0


def test_a_failing_rhythm_detector_costs_the_evidence_of_its_chunk_not_the_recording(model: EcgShiftModel, monkeypatch) -> None:
    real = pipeline._rhythm_features

    def flaky(harm, starts, **kwargs):
        if starts[0] >= 100.0 and starts[0] < 200.0:
            raise RuntimeError("simulated detector crash")
        return real(harm, starts, **kwargs)

    monkeypatch.setattr(pipeline, "_rhythm_features", flaky)
    result = analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(chunk_s=100, mc=2))
    w = result.windows.set_index("start_s")
    assert (w.quality == "ok").all() and w.p_af_fused.notna().all()  # every window still decided
    assert w.loc[100.0:190.0, "n_beats"].isna().all() and w.loc[:90.0, "n_beats"].notna().all()
    assert len(result.problems) == 1 and "simulated detector crash" in result.problems[0]


def test_review_windows_get_the_rr_detectors_second_opinion(model_dir: Path) -> None:
    always = load_model(model_dir)
    always.config = dataclasses.replace(always.config, referral=Referral(entropy=-1.0))  # every window above the review threshold
    w = analyse_holter(AF_EXCERPT, model=always, config=HolterConfig(mc=5)).windows
    assert w.review.all() and set(w.rr_call) <= {"AF", "non-AF", "no call"}
    called = w[w.rr_call != "no call"]
    assert len(called) >= 20 and (called.rr_call == "AF").mean() > 0.5  # irregular RR: AF on record 221


def _regular_rhythm(harm, starts, **kwargs) -> RhythmEvidence:
    """Rhythm evidence of a perfectly regular sinus rhythm for every window (a stub for ``pipeline._rhythm_features``)."""
    f = pd.DataFrame({name: np.full(starts.size, 0.0) for name in RHYTHM_FEATURES})
    return RhythmEvidence(f.assign(rr_nrmssd=0.02, nn_nrmssd=0.02, rr_madsd_ratio=0.01, nn_madsd_ratio=0.01, rr_tpr=0.3, nn_tpr=0.3,
                    rr_shannon_entropy=0.3, nn_shannon_entropy=0.3, n_beats=12, rr_p_af=0.1), np.zeros(0), np.zeros(0))


def test_without_fusion_an_uncertain_af_call_is_withdrawn_when_the_rr_rule_says_non_af(model_dir: Path, monkeypatch) -> None:
    always = load_model(model_dir)
    always.config = dataclasses.replace(always.config, referral=Referral(entropy=-1.0))  # every window under review
    monkeypatch.setattr(always, "predict_windows", _all_af(always.predict_windows))
    monkeypatch.setattr(pipeline, "_rhythm_features", _regular_rhythm)
    overridden = analyse_holter(SR_EXCERPT, model=always, config=HolterConfig(mc=2, decision="network"))
    kept = analyse_holter(SR_EXCERPT, model=always, config=HolterConfig(mc=2, decision="network", rr_overrides=False))
    ok = overridden.windows.quality == "ok"
    assert (overridden.windows.p_af[ok] >= 0.5).all() and (overridden.windows.rr_call[ok] == "non-AF").all()
    assert not overridden.windows.is_af.any() and not overridden.episodes
    assert kept.windows.is_af[ok].all() and kept.episodes and kept.decision == "network"


def _constant_fusion(logit: float) -> RhythmFusion:
    n = 12  # inputs of the fusion's design matrix
    return RhythmFusion.from_dict({"C": 1.0, "threshold": 0.5, "mean": [0.0] * n, "scale": [1.0] * n, "coef": [0.0] * n,
                                   "intercept": logit})


def test_the_fusion_makes_the_decision_and_redecide_replays_it_without_the_model(model_dir: Path) -> None:
    model = load_model(model_dir)
    never = analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(mc=2), fusion=_constant_fusion(-5.0))
    ok = never.windows.quality == "ok"
    assert never.decision == "fusion" and not never.windows.is_af.any() and not never.episodes
    assert np.allclose(never.windows.p_af_fused[ok], 1 / (1 + np.exp(5.0)))
    always = holter.redecide(never, fusion=_constant_fusion(5.0))
    assert always.windows.is_af[ok].all() and always.burden_pct == pytest.approx(100.0)
    assert always.windows.p_af.equals(never.windows.p_af)  # same network output, new decision


def test_the_shipped_fusion_keeps_af_on_the_af_excerpt_and_sinus_on_the_sinus_excerpt(model_dir: Path) -> None:
    model = load_model(model_dir)
    af = analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(mc=5), reference="atr")
    sr = analyse_holter(SR_EXCERPT, model=model, config=HolterConfig(mc=5), reference="atr")
    assert af.decision == sr.decision == "fusion"
    assert af.evaluation.window_sensitivity >= 0.9 and sr.evaluation.window_specificity >= 0.9


def _all_af(predict_windows):
    def wrapped(x, **kwargs):
        pred = predict_windows(x, **kwargs)
        return dataclasses.replace(pred, p_af=np.full(len(x), 0.9))

    return wrapped


def test_truncated_and_missing_signal_files_are_rejected_and_the_batch_goes_on(model_dir: Path, tmp_path: Path) -> None:
    signal = _lead(AF_EXCERPT)
    _write(tmp_path / "in", "good", signal)
    truncated = _write(tmp_path / "in", "truncated", signal)
    dat = truncated.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    missing = _write(tmp_path / "in", "missing", signal)
    missing.with_suffix(".dat").unlink()
    app = typer.Typer()
    app.command("holter")(holter_command)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [str(tmp_path / "in"), "--out", str(out), "--model", str(model_dir), "--mc", "5"])
    assert result.exit_code == 1, result.output  # two recordings rejected: status 1, the batch still complete
    summary = pd.read_csv(out / SUMMARY_FILE).set_index("record")
    assert summary.loc["good", "status"] == "done"
    assert summary.loc["truncated", "status"].startswith("rejected:") and "truncated" in summary.loc["truncated", "status"]
    assert summary.loc["missing", "status"].startswith("rejected:") and "missing" in summary.loc["missing", "status"]
    assert {p.name for p in (out / "good").iterdir()} == {"episodes.csv", "windows.csv", "summary.json", "timeline.html", "good.af", "good.hea"}
    assert not (out / "truncated").exists()
    assert "done 1 · rejected 2" in result.output


def test_a_header_without_signals_is_rejected_as_having_no_ecg_signal(model: EcgShiftModel, tmp_path: Path) -> None:
    header = tmp_path / "nsr001.hea"
    header.write_text("nsr001 0 128 0\n")  # as in NSR2DB: beat annotations only
    with pytest.raises(BadInputError, match="no ECG signal"):
        analyse_holter(header, model=model)


def test_cli_says_which_rule_decided_and_no_fusion_switches_to_the_network_alone(model_dir: Path, tmp_path: Path) -> None:
    import json

    app = typer.Typer()
    app.command("holter")(holter_command)
    decisions = {}
    for flag in ("--fusion", "--no-fusion"):
        out = tmp_path / flag.strip("-")
        result = CliRunner().invoke(app, [str(SR_EXCERPT), "--out", str(out), "--model", str(model_dir), "--mc", "2", flag])
        assert result.exit_code == 0, result.output
        decisions[flag] = json.loads((out / SR_EXCERPT.stem / "summary.json").read_text())["decision"]
    assert decisions["--fusion"] == "rhythm fusion"
    assert decisions["--no-fusion"].startswith("network p(AF) >= 0.5")


def test_ray_executor_without_ray_installed_is_one_line_saying_what_to_install(model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray → ImportError
    app = typer.Typer()
    app.command("holter")(holter_command)
    result = CliRunner().invoke(app, [str(AF_EXCERPT), "--out", str(tmp_path), "--model", str(model_dir), "--executor", "ray"])
    assert isinstance(result.exception, EcgShiftError) and "pip install ray" in str(result.exception)


@pytest.mark.slow  # starts a local Ray instance (~10-20 s)
def test_ray_executor_accounts_for_every_recording(model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    app = typer.Typer()
    app.command("holter")(holter_command)
    (tmp_path / "in").mkdir()
    missing = _write(tmp_path / "in", "missing", _lead(SR_EXCERPT))
    missing.with_suffix(".dat").unlink()
    args = [str(AF_EXCERPT), str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", str(model_dir), "--mc", "5", "--executor", "ray"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the missing recording is rejected: status 1
    summary = pd.read_csv(tmp_path / "out" / SUMMARY_FILE).set_index("record")
    assert summary.loc["mitdb219_330s", "status"] == "done" and summary.loc["missing", "status"].startswith("rejected:")
    assert (tmp_path / "out" / "mitdb219_330s" / "timeline.html").exists()


def test_html_timeline_is_self_contained_and_renders_in_headless_chromium(af_result, tmp_path: Path) -> None:
    files = write_outputs(af_result, tmp_path / "221")
    text = files["timeline"].read_text()
    lowered = text.lower()
    assert "http://" not in lowered and "https://" not in lowered and "<script" not in lowered
    assert "data:image/png;base64," in text
    assert pd.read_csv(files["episodes"]).shape[0] == len(af_result.episodes)
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    shot = tmp_path / "shot.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,900",
                    files["timeline"].resolve().as_uri()], capture_output=True, timeout=90, check=False)
    assert shot.exists()
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (900, 1200) and pixels.std() > 10  # not a blank page
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


# ---------------------------------------------------------------- predict on Holter-like recordings


@pytest.mark.parametrize("recording", [AF_EXCERPT, SAMPLES / "tecg" / "A00005.hea"], ids=["holter-excerpt", "short-record"])
def test_api_predict_and_holter_give_the_same_p_af_and_decision_for_the_same_windows(model: EcgShiftModel, recording: Path) -> None:
    from ecgshift.batch import predict_path
    from ecgshift.rhythm.fusion import default_fusion

    by_holter = analyse_holter(recording, model=model, config=HolterConfig(mc=5)).windows
    by_predict = predict_path(model, recording, config=PipelineConfig(mc=5), fusion=default_fusion()).predictions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_api = model.predict(io.read(recording), mc=5)
    np.testing.assert_array_equal(by_api.start_s, by_predict.start_s)
    np.testing.assert_allclose(by_api.p_af, by_predict.p_af, atol=1e-6)  # the API applies the fusion as predict does
    assert by_api.decided_by == by_predict.decided_by == ("network+rhythm" if recording == AF_EXCERPT else "network")
    h = by_holter[by_holter.quality == "ok"].set_index("start_s")
    shared = np.isin(by_predict.start_s, h.index)  # a short record: predict's windows overlap by half, holter's do not
    assert shared.sum() == len(h) >= 2
    decided_by_holter = np.where(h.p_af_fused.isna(), h.p_af, h.p_af_fused).astype(float)
    np.testing.assert_allclose(by_predict.p_af[shared], decided_by_holter, atol=1e-6)
    np.testing.assert_array_equal(by_predict.label[shared] == "AF", h.is_af.to_numpy(bool))
    assert (h.decided_by == by_predict.decided_by).all()


def test_a_fusion_decides_only_recordings_of_at_least_five_minutes(model: EcgShiftModel) -> None:
    from ecgshift.batch import RHYTHM_MIN_S, predict_path

    never = _constant_fusion(-5.0)
    long = predict_path(model, SR_EXCERPT, config=PipelineConfig(mc=2), fusion=never).predictions  # 300 s
    assert io.info(SR_EXCERPT).duration_s >= RHYTHM_MIN_S and long.decided_by == "network+rhythm"
    np.testing.assert_allclose(long.p_af, 1 / (1 + np.exp(5.0)))
    plain = predict_path(model, SR_EXCERPT, config=PipelineConfig(mc=2)).predictions
    np.testing.assert_allclose(long.p_af_network, plain.p_af, atol=1e-4)  # the network's own p(AF) is kept
    short = predict_path(model, SAMPLES / "tecg" / "A00005.hea", config=PipelineConfig(mc=2), fusion=never).predictions
    assert short.decided_by == "network" and short.p_af_network is None and (short.p_af > 0.5).any()


def test_predict_survives_a_crashing_rhythm_detector_with_the_chunks_evidence_missing(model: EcgShiftModel, monkeypatch) -> None:
    from ecgshift import batch
    from ecgshift.rhythm.fusion import default_fusion

    real = pipeline.rhythm_evidence

    def flaky(signal, fs, starts, **kwargs):
        if starts[0] >= 100.0 and starts[0] < 200.0:
            raise RuntimeError("simulated detector crash")
        return real(signal, fs, starts, **kwargs)

    monkeypatch.setattr(pipeline, "rhythm_evidence", flaky)
    pred = batch.predict_path(model, AF_EXCERPT, config=PipelineConfig(mc=2, chunk_s=100), fusion=default_fusion()).predictions
    assert pred.decided_by == "network+rhythm" and len(pred) == 30 and np.isfinite(pred.p_af).all()


def test_predict_reports_a_crashing_rhythm_detector_in_the_problems_column(model: EcgShiftModel, monkeypatch) -> None:
    from ecgshift import batch
    from ecgshift.rhythm.fusion import default_fusion

    real = pipeline.rhythm_evidence

    def flaky(signal, fs, starts, **kwargs):
        if 100.0 <= starts[0] < 200.0:
            raise RuntimeError("simulated detector crash")
        return real(signal, fs, starts, **kwargs)

    monkeypatch.setattr(pipeline, "rhythm_evidence", flaky)
    result = batch.predict_path(model, AF_EXCERPT, config=PipelineConfig(mc=2, chunk_s=100), fusion=default_fusion())
    assert result.problems == ("100-200 s: no rhythm evidence (RuntimeError: simulated detector crash)",)
    frame = batch.predict_paths(model, [AF_EXCERPT], config=PipelineConfig(mc=2), fusion=default_fusion())
    assert frame.loc[0, "status"] == "done" and frame.loc[0, "problems"] == ""  # real detector, whole record: no problems


def test_holter_alpha_with_a_model_without_conformal_calibration_is_one_line_naming_the_model(model_dir: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("holter")(holter_command)
    uncalibrated = shutil.copytree(model_dir, tmp_path / "model")
    (uncalibrated / "conformal.json").unlink(missing_ok=True)  # a model trained before conformal calibration
    result = CliRunner().invoke(app, [str(SR_EXCERPT), "--out", str(tmp_path / "h"), "--model", str(uncalibrated), "--alpha", "0.05"])
    assert isinstance(result.exception, EcgShiftError) and "no conformal calibration" in str(result.exception)
    assert not (tmp_path / "h").exists()


def test_conformal_sets_of_a_holter_result_follow_the_hecg_window_cells(af_result, model: EcgShiftModel) -> None:
    from ecgshift.conformal import fit_conformal, prediction_sets

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(50), np.zeros(50)].astype(int)
    calibration = fit_conformal(np.clip(0.8 * y + 0.2 * rng.random(100), 0, 1), y, "hecg")
    saved, model.conformal = model.conformal, calibration
    try:
        result = holter.with_conformal(af_result, model=model, alpha=0.1, max_referral=0.2)
    finally:
        model.conformal = saved
    ok = result.windows.quality == "ok"
    expected = prediction_sets(calibration, result.windows.p_af[ok].to_numpy(float), "hecg", alpha=0.1).label
    assert list(result.windows.conformal_set[ok]) == list(expected)
    assert result.conformal.n_windows == int(ok.sum()) and result.conformal.budget.max_referral == 0.2
    assert sum(result.conformal.sets.values()) == int(ok.sum())
