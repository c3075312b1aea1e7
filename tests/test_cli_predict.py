"""The ``models``, ``train``, ``predict`` and ``demo`` commands, run through typer's CliRunner on a tiny real run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _sample_runs import SAMPLES, manifest, sample_window_sets, train_tiny
from ecgshift import io
from ecgshift.cli import app
from ecgshift.errors import EcgShiftError

DOCUMENTED_COLUMNS = ("record", "path", "status", "given_modality", "predicted_modality", "modality_share", "p_af", "label",
                      "entropy", "mutual_info", "shift_score", "refer", "n_windows")
GOOD = {"A00002": 5, "00009_lr": 1, "mitdb116_0s": 30}  # bundled record → number of 10-s windows
STRIDE_S = {"A00002": 5.0, "00009_lr": 10.0, "mitdb116_0s": 10.0}  # under 5 min: windows overlap by half
BAD = {"broken/A00005.hea": "could not be decoded", "missing/A00011.hea": "A00011.dat, which is missing",
       "flat.csv": "flat signal", "notes.xyz": "unknown file type '.xyz'"}

runner = CliRunner()




@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("cli-run"))


def _copy(stem_path: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in stem_path.parent.glob(f"{stem_path.name}*"):
        shutil.copyfile(f, dst / f.name)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder with 3 good records and 3 bad inputs, a '.xyz' file beside it)."""
    root = tmp_path_factory.mktemp("inputs")
    folder = root / "recordings"
    good = folder / "good"
    _copy(SAMPLES / "tecg" / "A00002", good)
    _copy(SAMPLES / "recg" / "00009_lr", good)
    _copy(SAMPLES / "hecg" / "mitdb116_0s", good)
    _copy(SAMPLES / "tecg" / "A00005", folder / "broken")  # its signal file cut in half
    dat = folder / "broken" / "A00005.dat"
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    (folder / "missing").mkdir()
    shutil.copyfile(SAMPLES / "tecg" / "A00011.hea", folder / "missing" / "A00011.hea")  # header only
    (folder / "flat.csv").write_text("I\n" + "0.5\n" * 7500)  # 30 s at 250 Hz, constant
    xyz = root / "notes.xyz"
    xyz.write_text("not a recording\n")
    return folder, xyz


def _predict(run: Path, inputs: tuple[Path, Path], out: Path, *extra: str) -> pd.DataFrame:
    folder, xyz = inputs
    result = runner.invoke(app, ["predict", str(folder), str(xyz), "--model", str(run), "--out", str(out), "--fs", "250", "--mc", "3", *extra])
    assert result.exit_code == 1, (result.output, result.exception)  # some inputs are rejected: exit status 1, every row written
    return pd.read_csv(out, keep_default_na=False, na_values=[""])


def _bad_key(path: str, folder: Path) -> str:
    p = Path(path)
    return p.name if p.suffix == ".xyz" else p.relative_to(folder).as_posix()


# ---------------------------------------------------------------- predict


def test_predict_gives_one_row_per_input_with_reasons_for_the_rejected(run: Path, inputs, tmp_path: Path) -> None:
    frame = _predict(run, inputs, tmp_path / "p.csv")
    folder, _ = inputs
    assert len(frame) == len(GOOD) + len(BAD)
    ok = frame[frame.status == "done"]
    assert sorted(ok.record) == sorted(GOOD)
    rejected = frame[frame.status != "done"]
    assert rejected.status.str.startswith("rejected: ").all()
    reasons = {_bad_key(p, folder): s for p, s in zip(rejected.path, rejected.status)}
    assert set(reasons) == set(BAD)
    for key, reason in BAD.items():
        assert reason in reasons[key], reasons[key]
        assert len(reasons[key]) > len("rejected: ") + 5


def test_predict_rows_have_the_documented_columns_and_valid_values(run: Path, inputs, tmp_path: Path) -> None:
    frame = _predict(run, inputs, tmp_path / "p.csv")
    assert list(frame.columns[:6]) == list(DOCUMENTED_COLUMNS[:6])
    assert set(DOCUMENTED_COLUMNS) <= set(frame.columns)
    ok = frame[frame.status == "done"].set_index("record")
    assert ok.p_af.between(0, 1).all()
    assert (ok.mutual_info >= 0).all() and (ok.entropy >= 0).all()
    assert set(ok.predicted_modality) <= {"recg", "tecg", "hecg"}
    assert ok.modality_share.between(0, 1).all()
    assert set(ok.label) <= {"AF", "SR"}
    assert ok.n_windows.to_dict() == GOOD
    assert (frame.given_modality == "unknown").all()
    assert frame[frame.status != "done"].p_af.isna().all()


def test_predict_records_the_given_modality(run: Path, inputs, tmp_path: Path) -> None:
    frame = _predict(run, inputs, tmp_path / "p.csv", "--modality", "tecg")
    assert (frame.given_modality == "tecg").all()


def test_predict_windows_gives_one_row_per_window_with_its_start(run: Path, inputs, tmp_path: Path) -> None:
    frame = _predict(run, inputs, tmp_path / "w.csv", "--windows")
    assert "start_s" in frame
    assert len(frame) == sum(GOOD.values()) + len(BAD)
    for record, n in GOOD.items():
        rows = frame[(frame.record == record) & (frame.status == "done")]
        np.testing.assert_allclose(rows.start_s, np.arange(n) * STRIDE_S[record])
        assert rows.p_af.between(0, 1).all()
    assert frame[frame.status != "done"].start_s.isna().all()


def test_predict_says_which_rule_decided_and_no_rhythm_leaves_it_to_the_network(run: Path, inputs, tmp_path: Path) -> None:
    fused = _predict(run, inputs, tmp_path / "p.csv").set_index("record")
    assert fused.decided_by[fused.status == "done"].to_dict() == {"A00002": "network", "00009_lr": "network", "mitdb116_0s": "network+rhythm"}
    assert fused.decided_by[fused.status != "done"].isna().all()
    assert fused.p_af_network.notna().to_dict() == {k: k == "mitdb116_0s" for k in fused.index}
    plain = _predict(run, inputs, tmp_path / "n.csv", "--no-rhythm").set_index("record")
    assert set(plain.decided_by[plain.status == "done"]) == {"network"} and plain.p_af_network.isna().all()
    assert plain.loc["mitdb116_0s", "p_af"] == pytest.approx(fused.loc["mitdb116_0s", "p_af_network"], abs=1e-4)
    ok = fused[fused.status == "done"]
    assert ok.af_window_fraction.between(0, 1).all() and ok.loc["00009_lr", "af_window_fraction"] in (0.0, 1.0)


def test_annotation_only_records_are_rejected_as_having_no_ecg_signal(run: Path, tmp_path: Path) -> None:
    (tmp_path / "nsr001.hea").write_text("nsr001 0 128 0\n")  # an NSR2DB header: no signal at all
    (tmp_path / "nsr001.ecg").write_bytes(b"")
    (tmp_path / "00.hea").write_text("00 1 128 1280\n00.dat 16 200/mV 0 0 0 0 0 ECG\n")  # LTAFDB-like: no .dat beside it
    (tmp_path / "00.atr").write_bytes((SAMPLES / "hecg" / "mitdb116_0s.atr").read_bytes())
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(tmp_path / "nsr001.hea"), str(tmp_path / "00.hea"), "--model", str(run), "--out", str(out)])
    assert result.exit_code == 1, (result.output, result.exception)
    assert set(pd.read_csv(out).status) == {"rejected: no ECG signal in the record (annotations only?)"}


def test_predict_full_mc_also_writes_every_row(run: Path, inputs, tmp_path: Path) -> None:
    frame = _predict(run, inputs, tmp_path / "p.csv", "--full-mc")
    assert len(frame) == len(GOOD) + len(BAD) and (frame.status == "done").sum() == len(GOOD)


def test_predict_with_every_input_rejected_still_writes_the_documented_columns(run: Path, inputs, tmp_path: Path) -> None:
    _, xyz = inputs
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(xyz), "--model", str(run), "--out", str(out)])
    assert result.exit_code == 1, (result.output, result.exception)  # every input rejected is not a success
    frame = pd.read_csv(out)
    assert len(frame) == 1 and frame.status[0].startswith("rejected: ")
    assert set(DOCUMENTED_COLUMNS) <= set(frame.columns)


def test_predict_on_a_folder_without_recordings_is_a_user_error(run: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["predict", str(tmp_path / "empty"), "--model", str(run), "--out", str(tmp_path / "p.csv")])
    assert isinstance(result.exception, EcgShiftError)
    assert "no recordings found" in str(result.exception)


def test_nonexistent_model_path_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "runs[old]" / "no-such-run"  # long, and with brackets rich must not eat
    out = tmp_path / "p.csv"
    record = SAMPLES / "tecg" / "A00002.hea"
    env = {**os.environ, "COLUMNS": "80"}  # rich would wrap a long message at 80 columns
    proc = subprocess.run(
        [sys.executable, "-m", "ecgshift.cli", "predict", str(record), "--model", str(missing), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(missing) in lines[0] and "model not found" in lines[0]
    assert not out.exists()


# ---------------------------------------------------------------- models


def test_models_lists_every_architecture_with_its_parameter_count() -> None:
    from ecgshift.models import model_info

    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in ("resnet1d", "crnn", "transformer"):
        line = next((l for l in result.output.splitlines() if name in l), None)
        assert line is not None, f"{name} not listed"
        assert f"{model_info(name).n_params:,}" in line


# ---------------------------------------------------------------- train


def test_train_command_writes_a_loadable_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's wiring (preset + overrides → fit → run folder), on the bundled samples instead of the full data."""
    import ecgshift.mixing
    from ecgshift.predictor import load_model

    sets = sample_window_sets()
    asked = {}

    def fake_load(*, modalities, config, **kwargs):
        asked.update(modalities=list(modalities), config=config)
        return {m: sets[m] for m in modalities}

    monkeypatch.setattr(ecgshift.mixing, "load_modality_windows", fake_load)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--preset", "quick", "--mix", "tecg=0.5,hecg=0.5", "--budget", "32", "--epochs", "1", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert asked["modalities"] == ["tecg", "hecg"] and asked["config"] == sets["tecg"].config
    for name in ("model.safetensors", "config.json", "history.csv", "counts.csv"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["budget"] == 32 and config["train"]["epochs"] == 1 and config["train"]["seed"] == 4
    assert config["train"]["mix"] == {"tecg": 0.5, "hecg": 0.5}
    assert len(pd.read_csv(out / "history.csv")) == 1
    assert load_model(out).predict(sets["tecg"].x[0, 0], fs=100.0, mc=2).p_af.size == 1


@pytest.mark.integration
@pytest.mark.slow
def test_train_quick_preset_on_the_shared_data_writes_a_run(shared_data: Path, tmp_path: Path) -> None:
    from ecgshift.predictor import load_model
    from ecgshift.presets import preset_config

    out = tmp_path / "quick"
    result = runner.invoke(app, ["train", "--preset", "quick", "--data-root", str(shared_data), "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    for name in ("model.safetensors", "config.json", "history.csv", "counts.csv"):
        assert (out / name).is_file(), name
    preset = preset_config("quick")
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["budget"] == preset.budget
    counts = pd.read_csv(out / "counts.csv")
    assert counts.requested.sum() == preset.budget
    assert set(counts.modality) == {m for m, v in preset.mix.items() if v > 0}
    assert 1 <= len(pd.read_csv(out / "history.csv")) <= preset.epochs
    predictions = load_model(out).predict(io.read(SAMPLES / "tecg" / "A00005.hea"), mc=3)
    assert len(predictions) == 11  # 60 s, windows every 5 s


# ---------------------------------------------------------------- demo


def test_demo_predicts_every_bundled_recording(tmp_path: Path) -> None:
    from ecgshift.predictor import default_model_path

    if not (default_model_path() / "config.json").exists():
        pytest.skip("no default model shipped in src/ecgshift/assets/default_model")
    out = tmp_path / "demo.csv"
    result = runner.invoke(app, ["demo", "--out", str(out), "--mc", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    frame = pd.read_csv(out)
    assert len(frame) == len(manifest())
    assert (frame.status == "done").all()
