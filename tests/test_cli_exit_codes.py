"""Exit status of the command line: 0 when every input was done, 1 when some failed, 2 for a usage or user error —
driven in-process through ``ecgshift.cli.main`` (the entry point), as a user's shell sees it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ecgshift.assets import sample_folder
from ecgshift.cli import main
from ecgshift.predictor import default_model_path

SAMPLE = sample_folder() / "tecg" / "A00002.hea"
pytestmark = pytest.mark.skipif(not (default_model_path() / "config.json").exists(), reason="the shipped default model is absent")


def run_main(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["ecgshift", *argv])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_predict_exits_0_when_every_input_is_done(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _ = run_main(["predict", str(SAMPLE), "--mc", "2", "--out", str(tmp_path / "p.csv")], monkeypatch, capsys)
    assert code == 0 and (tmp_path / "p.csv").exists()


def test_predict_exits_1_when_some_input_is_rejected_and_still_writes_every_row(tmp_path: Path, monkeypatch, capsys) -> None:
    missing = tmp_path / "missing.edf"
    code, _ = run_main(["predict", str(SAMPLE), str(missing), "--mc", "2", "--out", str(tmp_path / "p.csv")], monkeypatch, capsys)
    assert code == 1
    assert len((tmp_path / "p.csv").read_text().strip().splitlines()) == 3  # header + both inputs


def test_holter_exits_1_when_a_recording_is_rejected(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _ = run_main(["holter", str(SAMPLE), str(tmp_path / "missing.edf"), "--mc", "2", "--out", str(tmp_path / "h")], monkeypatch, capsys)
    assert code == 1 and (tmp_path / "h" / "holter_summary.csv").exists()


@pytest.mark.parametrize("argv, says", [
    (["predict", str(SAMPLE), "--mc", "0"], "--mc 0"),
    (["predict", str(SAMPLE), "--mc", "-3"], "--mc -3"),
    (["holter", str(SAMPLE), "--mc", "0", "--out", "OUT"], "--mc 0"),
    (["train", "--mix", "tecg=2,foo=1"], "--mix tecg=2,foo=1"),
    (["train", "--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
])
def test_a_bad_option_is_one_line_and_exit_code_2_before_any_work(argv, says, tmp_path: Path, monkeypatch, capsys) -> None:
    argv = [a.replace("OUT", str(tmp_path / "h")) for a in argv]
    code, err = run_main(argv, monkeypatch, capsys)
    assert code == 2 and says in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


def _a_folder(tmp: Path) -> Path:
    return tmp


def _under_a_file(tmp: Path) -> Path:
    (tmp / "file").write_text("")
    return tmp / "file" / "out.csv"


@pytest.mark.parametrize("make_out", [_a_folder, _under_a_file], ids=["out-is-a-folder", "parent-is-a-file"])
def test_an_unwritable_out_is_refused_before_the_batch_runs(make_out, tmp_path: Path, monkeypatch, capsys) -> None:
    out = make_out(tmp_path)
    code, err = run_main(["predict", str(SAMPLE), "--mc", "2", "--out", str(out)], monkeypatch, capsys)
    assert code == 2 and str(tmp_path) in err and "Traceback" not in err


def test_a_programming_key_error_is_not_disguised_as_a_user_error(monkeypatch) -> None:
    import ecgshift.cli as cli

    def broken(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["ecgshift", "models"])
    with pytest.raises(KeyError):
        main()


@pytest.mark.parametrize("argv, says", [
    (["--alpha", "0"], "alpha"), (["--alpha", "1.5"], "alpha"), (["--alpha", "abc"], "alpha"),
    (["--max-referral", "0.1"], "--max-referral needs --alpha"), (["--alpha", "0.05", "--max-referral", "2"], "max referral"),
])
def test_bad_conformal_options_are_one_line_usage_errors(argv, says, tmp_path: Path, monkeypatch, capsys) -> None:
    code, err = run_main(["predict", str(SAMPLE), "--mc", "2", "--out", str(tmp_path / "p.csv"), *argv], monkeypatch, capsys)
    assert code == 2 and says in err and "Traceback" not in err


def test_predict_with_alpha_gives_each_short_recording_a_conformal_set_and_its_referral_reasons(tmp_path: Path, monkeypatch, capsys) -> None:
    import pandas as pd

    from ecgshift.conformal import REFERRAL_REASONS

    inputs = [str(sample_folder() / "tecg" / name) for name in ("A00002.hea", "A00005.hea", "A00056.hea")]
    monkeypatch.setattr(sys, "argv", ["ecgshift", "predict", *inputs, "--mc", "2", "--alpha", "0.05", "--max-referral", "0.5",
                                      "--out", str(tmp_path / "p.csv")])
    with pytest.raises(SystemExit) as exit_:
        main()
    code, printed = exit_.value.code, capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert code == 0 and (frame.alpha == 0.05).all()
    assert set(frame.conformal_set) <= {"AF", "SR", "AF+SR", "none"}
    for sets, reasons in zip(frame.conformal_set, frame.referral_reason):
        assert all(r in REFERRAL_REASONS for r in reasons.split("; ") if r)
        assert ("uncertain" in reasons) == (sets == "AF+SR") and ("looks like neither" in reasons) == (sets == "none")
    assert "referral budget:" in printed


@pytest.mark.parametrize("argv, says", [
    (["--alpha", "0"], "alpha"), (["--alpha", "-1"], "alpha"),
    (["--max-referral", "0.1"], "--max-referral needs --alpha"), (["--alpha", "0.05", "--max-referral", "1.2"], "max referral"),
])
def test_bad_conformal_options_of_holter_are_one_line_usage_errors(argv, says, tmp_path: Path, monkeypatch, capsys) -> None:
    holter_sample = sample_folder() / "hecg" / "mitdb116_0s.hea"
    code, err = run_main(["holter", str(holter_sample), "--mc", "2", "--out", str(tmp_path / "h"), *argv], monkeypatch, capsys)
    assert code == 2 and says in err and "Traceback" not in err
    assert not (tmp_path / "h").exists()


def test_holter_with_alpha_gives_each_window_a_set_and_counts_them_in_the_summary(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    import pandas as pd

    from ecgshift.conformal import REFERRAL_REASONS

    record = sample_folder() / "hecg" / "mitdb202_1000s.hea"
    monkeypatch.setattr(sys, "argv", ["ecgshift", "holter", str(record), "--mc", "2", "--alpha", "0.05", "--max-referral", "0.01",
                                      "--out", str(tmp_path / "h")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0
    windows = pd.read_csv(tmp_path / "h" / "mitdb202_1000s" / "windows.csv", keep_default_na=False)
    summary = json.loads((tmp_path / "h" / "mitdb202_1000s" / "summary.json").read_text())["conformal"]
    ok = windows.quality == "ok"
    assert set(windows.conformal_set[ok]) <= {"AF", "SR", "AF+SR", "none"} and (windows.conformal_set[~ok] == "").all()
    for sets, reasons in zip(windows.conformal_set, windows.referral_reason):
        assert all(r in REFERRAL_REASONS for r in reasons.split("; ") if r)
        assert ("uncertain" in reasons) == (sets == "AF+SR") and ("looks like neither" in reasons) == (sets == "none")
    assert summary["alpha"] == 0.05 and summary["n_windows"] == int(ok.sum())
    assert summary["sets"] == {k: int((windows.conformal_set == k).sum()) for k in ("AF", "SR", "AF+SR", "none")}
    referred = (windows.conformal_set[ok] != "AF") & (windows.conformal_set[ok] != "SR")
    assert summary["referral_rate"] == pytest.approx(referred.mean(), abs=1e-6)  # summary.json keeps 6 decimals
    assert summary["referral_reasons"] == {r: sum(r in v.split("; ") for v in windows.referral_reason) for r in REFERRAL_REASONS}
    budget = summary["budget"]
    assert budget["max_referral"] == 0.01 and budget["holds"] == (summary["referral_rate"] <= 0.01)
    assert "of windows" in budget["text"] and "recordings" not in budget["text"]
    row = pd.read_csv(tmp_path / "h" / "holter_summary.csv", keep_default_na=False).iloc[0]
    assert row.alpha == 0.05 and row.referral_budget == ("holds" if budget["holds"] else f"broken by {100 * budget['excess']:.1f} points")
    timeline = (tmp_path / "h" / "mitdb202_1000s" / "timeline.html").read_text()
    assert "conformal sets at alpha 0.05" in timeline and "referral budget" in timeline


def test_predict_report_with_alpha_shows_the_same_set_and_reasons_as_the_csv(tmp_path: Path, monkeypatch, capsys) -> None:
    import html

    import pandas as pd

    record = sample_folder() / "tecg" / "A00005.hea"
    monkeypatch.setattr(sys, "argv", ["ecgshift", "predict", str(record), "--mc", "2", "--alpha", "0.05", "--out", str(tmp_path / "p.csv"),
                                      "--report", str(tmp_path / "pages")])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0
    row = pd.read_csv(tmp_path / "p.csv", keep_default_na=False).iloc[0]
    page = html.unescape(next((tmp_path / "pages").glob("*.html")).read_text())
    assert f"conformal set at alpha 0.05: <b>{row.conformal_set}</b>" in page
    assert (f"referral reasons: {row.referral_reason}" in page) if row.referral_reason else ("no referral reason" in page)
