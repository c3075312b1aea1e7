"""ECG strips on standard paper, the per-recording HTML report (``predict --report``) and the Holter timeline's strips,
checked as drawn: paper scale, grid and trace pixels, escaped names, and a headless-Chromium screenshot of the pages."""

from __future__ import annotations

import html
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from _sample_runs import SAMPLES
from ecgshift import io
from ecgshift.batch import predict_path
from ecgshift.cli import app
from ecgshift.holter import HolterConfig, analyse_holter
from ecgshift.holter.report import write_outputs
from ecgshift.holter.timeline import MAX_REVIEW_STRIPS, strip_table
from ecgshift.predictor import load_model
from ecgshift.recording_report import MAX_STRIPS, chosen_strips, excluded_spans, recording_report_html
from ecgshift.strips import DPI, GRID_MAJOR, GRID_MINOR, MM_PER_MV, MM_PER_S, draw_strip, strip_png, strip_signal

runner = CliRunner()
CHROMIUM = Path("/usr/bin/chromium")
AF_EXCERPT = SAMPLES / "hecg" / "mitdb202_1000s.hea"
ODD_NAME = "odd$^$<b>name"  # mathtext would choke on $^$; HTML would take <b> for a tag


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], float)


def _share_near(pixels: np.ndarray, colour: str, tol: float = 40.0) -> float:
    """Share of pixels within ``tol`` (Euclidean, 0–255 RGB) of ``colour``."""
    return float(np.mean(np.linalg.norm(pixels[..., :3].astype(float) - _rgb(colour), axis=-1) < tol))


def _trace_share(pixels: np.ndarray) -> float:
    """Share of near-black pixels: the trace (and a little text)."""
    return float(np.mean(pixels[..., :3].max(axis=-1) < 70))


def _png_pixels(data: bytes) -> np.ndarray:
    import io as _io

    return np.asarray(Image.open(_io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def odd_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of the bundled MIT-BIH 202 excerpt (MLII, 360 Hz) as a CSV whose name has $^$ and <b> in it."""
    folder = tmp_path_factory.mktemp("odd")
    record = io.read(AF_EXCERPT, end_s=40.0)
    path = folder / f"{ODD_NAME}.csv"
    np.savetxt(path, record.signal[0], fmt="%.4f", header="MLII", comments="")
    return path


# ---------------------------------------------------------------- strips


def test_strip_is_drawn_at_25_mm_per_s_and_10_mm_per_mv_on_a_pink_and_red_grid() -> None:
    fig = draw_strip(AF_EXCERPT, 100.0, 110.0, lead="MLII")
    ax = fig.axes[0]
    box = ax.get_position()
    width_mm = box.width * fig.get_figwidth() * 25.4
    height_mm = box.height * fig.get_figheight() * 25.4
    (t0, t1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert (t0, t1) == (100.0, 110.0)
    assert width_mm == pytest.approx((t1 - t0) * MM_PER_S, rel=1e-6)
    assert height_mm == pytest.approx((y1 - y0) * MM_PER_MV, rel=1e-6)
    pixels = _png_pixels(strip_png(AF_EXCERPT, 100.0, 110.0, lead="MLII"))
    assert pixels.shape[1] == pytest.approx(fig.get_figwidth() * DPI, abs=2)
    assert _share_near(pixels, GRID_MINOR) > 0.05  # 1-mm lines
    assert _share_near(pixels, GRID_MAJOR) > 0.02  # 5-mm lines
    assert _trace_share(pixels) > 0.005  # the ECG itself


def test_strip_shows_the_samples_as_recorded_from_a_file_or_a_record() -> None:
    from_file = strip_signal(AF_EXCERPT, 20.0, 30.0, lead="MLII")
    record = io.read(AF_EXCERPT)
    from_record = strip_signal(record, 20.0, 30.0, lead="MLII")
    assert from_file.signal.size == 3600 and from_file.start_s == 20.0
    np.testing.assert_array_equal(from_file.signal, from_record.signal)
    np.testing.assert_allclose(from_file.signal, record.signal[record.leads.index("MLII"), 7200:10800], atol=0)


def test_strip_titles_with_mathtext_and_markup_are_drawn_as_written() -> None:
    fig = draw_strip(AF_EXCERPT, 0.0, 10.0, title=ODD_NAME)
    png = _png_pixels(strip_png(AF_EXCERPT, 0.0, 10.0, title=ODD_NAME))  # a mathtext parse would raise here
    assert png.size and fig.axes[0].get_title(loc="left").startswith(ODD_NAME)


# ---------------------------------------------------------------- predict --report


def test_short_recording_report_is_self_contained_escaped_and_drawn_whole(model, odd_csv: Path) -> None:
    result = predict_path(model, odd_csv, fs=360.0, mc=3)
    page = recording_report_html(result, model=model)
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered and "<script" not in lowered and "src=\"file" not in lowered
    assert "<b>name" not in page and html.escape(ODD_NAME) in page
    strips = chosen_strips(result.analysis)
    assert [(a, b) for a, b, _ in strips] == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0)]
    assert page.count("data:image/png;base64,") == 1 + len(strips)  # the per-window figure and every strip
    assert f"Windows ({len(result.analysis.windows)})" in page


def test_long_recording_report_has_an_overview_and_chosen_strips(model) -> None:
    result = predict_path(model, AF_EXCERPT, mc=3)
    strips = chosen_strips(result.analysis)
    assert 2 <= len(strips) <= MAX_STRIPS and strips[0][2] == "first analysed window"
    assert all(b - a == 10.0 for a, b, _ in strips)
    page = recording_report_html(result, model=model)
    assert "Strips of chosen windows" in page and page.count("data:image/png;base64,") == 1 + len(strips)


def test_report_lists_excluded_spans_and_rejected_recordings_say_why(model, tmp_path: Path) -> None:
    signal = io.read(AF_EXCERPT, end_s=60.0).signal[0].astype(float)
    signal[20 * 360 : 35 * 360] = np.nan  # a 15-s gap
    path = tmp_path / "gap.csv"
    np.savetxt(path, signal, fmt="%.4f", header="MLII", comments="")
    result = predict_path(model, path, fs=360.0, mc=2)
    spans = excluded_spans(result.analysis.windows)
    assert list(spans.reason) == ["gap"] and spans.start_s[0] <= 20.0 and spans.end_s[0] >= 35.0
    assert "Not analysed" in recording_report_html(result, model=model)
    missing = predict_path(model, tmp_path / "missing.hea", mc=2)
    page = recording_report_html(missing, model=model)
    assert missing.status.startswith("rejected:") and html.escape(missing.status) in page


def test_predict_report_writes_one_page_per_recording(odd_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    inputs = [str(odd_csv), str(SAMPLES / "tecg" / "A00002.hea"), str(tmp_path / "missing.hea")]
    result = runner.invoke(app, ["predict", *inputs, "--fs", "360", "--mc", "2", "--out", str(tmp_path / "p.csv"), "--report", str(out)])
    assert result.exit_code == 1, (result.output, result.exception)  # missing.hea is rejected: status 1, yet every page is written
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{ODD_NAME}.html", "A00002.html", "missing.html"])


# ---------------------------------------------------------------- Holter timeline strips


@pytest.fixture(scope="module")
def holter_result(model):
    return analyse_holter(AF_EXCERPT, model=model, config=HolterConfig(mc=5))


def test_timeline_has_strips_at_every_episode_onset_and_offset_and_the_most_uncertain_windows(holter_result, tmp_path: Path) -> None:
    table = strip_table(holter_result)
    n_episodes = len(holter_result.episodes)
    assert n_episodes >= 1
    episode_rows = table[table.strip.str.startswith("episode")]
    assert list(episode_rows.at_s) == [t for e in holter_result.episodes for t in (e.start_s, e.end_s)]
    review = table[table.strip.str.startswith("review")]
    w = holter_result.windows
    uncertain = w[w.review & (w.quality == "ok")].sort_values("entropy", ascending=False).head(MAX_REVIEW_STRIPS)
    assert sorted(review.at_s) == sorted(uncertain.start_s)
    assert ((table.end_s - table.start_s) == 10.0).all()
    page = write_outputs(holter_result, tmp_path / "out")["timeline"].read_text()
    assert page.count('class="strip"') == len(table)


# ---------------------------------------------------------------- in a real browser


def _screenshot(page: Path, shot: Path, profile: Path, *, height: int) -> np.ndarray:
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    f"--user-data-dir={profile}", f"--screenshot={shot}", f"--window-size=1300,{height}",
                    "file://" + urllib.parse.quote(str(page.resolve()))], capture_output=True, timeout=120, check=False)
    shutil.rmtree(profile, ignore_errors=True)
    assert shot.exists(), "chromium wrote no screenshot"
    return np.asarray(Image.open(shot).convert("RGB"))


def test_report_and_timeline_strips_render_in_headless_chromium(model, odd_csv: Path, holter_result, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    report = tmp_path / f"{ODD_NAME}.html"
    report.write_text(recording_report_html(predict_path(model, odd_csv, fs=360.0, mc=2), model=model), encoding="utf-8")
    pixels = _screenshot(report, tmp_path / "report.png", tmp_path / "profile1", height=2600)
    assert _share_near(pixels[:600], GRID_MINOR) < 0.001  # the result table above: no grid colour there …
    strip_band = pixels[1100:]  # … below the result table and the per-window figure: the strips
    assert _share_near(strip_band, GRID_MINOR) > 0.02 and _share_near(strip_band, GRID_MAJOR) > 0.003
    assert _trace_share(strip_band) > 0.002
    timeline = write_outputs(holter_result, tmp_path / "holter")["timeline"]
    pixels = _screenshot(timeline, tmp_path / "timeline.png", tmp_path / "profile2", height=4200)
    assert pixels.std() > 10
    assert _share_near(pixels, GRID_MINOR) > 0.01 and _share_near(pixels, GRID_MAJOR) > 0.002 and _trace_share(pixels) > 0.002
