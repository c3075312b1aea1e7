"""The modality-mix sweep end to end on the real data (quick config), its resumability, and the HTML report
rendered in a real headless browser."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from ecgshift.assets import asset_path
from ecgshift.errors import EcgShiftError
from ecgshift.mixing import draw_mix
from ecgshift.paths import cache_root
from ecgshift.study.report import FIGURE_IDS, assess_findings, write_report
from ecgshift.study.sweep import draw_notes, load_sweep_config, plan_cells, run_sweep
from ecgshift.study.evaluation import auroc, risk_coverage

QUICK = asset_path("sweeps", "quick.toml")
DEFAULT = asset_path("sweeps", "default.toml")
CHROMIUM = Path("/usr/bin/chromium")
RESULT_COLUMNS = ("cell_id", "mix_name", "mix", "seed", "share_tecg", "share_recg", "share_hecg", "budget", "epochs", "model",
                  "model_kwargs", "temperature", "notes", "test_modality", "in_mix", "n", "n_af", "train_tecg_AF", "train_tecg_AF_unique",
                  *(f"{m}{s}" for m in ("accuracy", "sensitivity", "specificity", "f1", "auroc", "brier", "ece", "brier_uncal",
                                        "ece_uncal", "mean_entropy", "mean_mi") for s in ("", "_low", "_high")), "aurc_entropy", "aurc_mi")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def quick_sweep(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sweep") / "quick"
    result = run_sweep(load_sweep_config(QUICK), data_root=shared_data, cache_dir=cache_root(), out_dir=out, workers=2)
    return out, result


# ---------------------------------------------------------------- configuration (no data)

def test_default_sweep_has_the_designed_arms_and_a_six_point_tecg_share_path() -> None:
    config = load_sweep_config(DEFAULT)
    cells = plan_cells(config)
    mixes = {c.name: c.mix for c in cells}
    assert set(config.seeds) == {0, 1, 2}
    assert {"tecg_only", "recg_only", "hecg_only", "no_tecg", "no_recg", "no_hecg", "uniform"} <= set(mixes)
    path = sorted(m["tecg"] for m in mixes.values() if np.isclose(m["recg"], m["hecg"]))
    assert len(path) >= 6 and path[0] == 0.0 and path[-1] == 1.0
    assert len(cells) == len(mixes) * 3  # tecg_000 / tecg_100 run once, as aliases of no_tecg / tecg_only
    assert dict((c.name, c.aliases) for c in cells)["tecg_only"] == ("tecg_100",)


def test_sweep_config_rejects_unknown_keys_and_fewer_than_three_seeds(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\nseeds = [0, 1, 2]\nbudjet = 10\n[mixes]\nu = "tecg=1"\n')
    with pytest.raises(EcgShiftError, match="unknown keys.*budjet"):
        load_sweep_config(bad)
    bad.write_text('[sweep]\nseeds = [0, 1]\n[mixes]\nu = "tecg=1"\n')
    with pytest.raises(EcgShiftError, match="at least 3 distinct seeds"):
        load_sweep_config(bad)


def test_a_pool_smaller_than_its_share_is_noted_not_hidden() -> None:
    labels = {"recg": np.array(["AF"] * 5 + ["SR"] * 50), "tecg": np.array(["AF"] * 50 + ["SR"] * 50)}
    draw = draw_mix(labels, {"recg": 0.5, "tecg": 0.5}, budget=40, seed=0)
    assert draw_notes(draw.table().to_dict("records")) == "recg AF: 10 requested from 5 unique windows (with replacement)"


def test_auroc_and_risk_coverage_on_known_cases() -> None:
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auroc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    correct = np.array([True, True, False, False])
    risk, aurc = risk_coverage(correct, np.array([0.1, 0.2, 0.9, 0.8]), coverages=np.array([1.0, 0.5]))
    assert risk.tolist() == [0.5, 0.0]  # referring the two uncertain windows removes both errors
    assert aurc == pytest.approx((0 + 0 + 1 / 3 + 2 / 4) / 4)


# ---------------------------------------------------------------- the quick sweep on real data

@pytest.mark.integration
@pytest.mark.slow
def test_quick_sweep_trains_every_cell_and_writes_the_results_table(quick_sweep) -> None:
    out, result = quick_sweep
    assert not result.errors, result.errors
    assert result.n_trained == 6
    results = pd.read_csv(out / "results.csv")
    assert [c for c in RESULT_COLUMNS if c not in results] == []
    assert len(results) == 6 * 3 and set(results.test_modality) == {"tecg", "recg", "hecg"}
    assert results.groupby("mix_name").in_mix.sum().to_dict() == {"tecg_only": 3, "uniform": 9}
    if importlib.util.find_spec("pyarrow") is not None:  # Parquet is written only where pyarrow is installed
        assert (out / "results.parquet").exists() and len(pd.read_parquet(out / "results.parquet")) == len(results)
    else:
        assert not (out / "results.parquet").exists()
    assert results[["accuracy", "accuracy_low", "accuracy_high"]].apply(lambda r: r.accuracy_low <= r.accuracy_high, axis=1).all()


@pytest.mark.integration
@pytest.mark.slow
def test_second_run_trains_nothing_and_changed_settings_refuse_to_resume(quick_sweep, shared_data: Path) -> None:
    out, first = quick_sweep
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/model.safetensors")}
    config = load_sweep_config(QUICK)
    again = run_sweep(config, data_root=shared_data, cache_dir=cache_root(), out_dir=out, workers=2)
    assert again.n_trained == 0 and {o.status for o in again.outcomes} == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert again.results.equals(first.results)
    with pytest.raises(EcgShiftError, match="other settings"):
        run_sweep(dataclasses.replace(config, budget=150), data_root=shared_data, cache_dir=cache_root(), out_dir=out)


@pytest.mark.integration
@pytest.mark.slow
def test_shift_ood_selective_and_method_tables_cover_the_cells(quick_sweep) -> None:
    out, _ = quick_sweep
    shift = pd.read_csv(out / "shift.csv")
    assert set(shift.mix_name) == {"tecg_only"}  # the uniform mix leaves nothing out
    assert set(shift.absent_modality) == {"recg", "hecg"} and set(shift.score) == {"mutual_info", "entropy", "shift_score"}
    ood = pd.read_csv(out / "ood.csv")
    assert set(ood.ood_label) == {"other", "noisy", "other+noisy"} and ood.auroc.between(0, 1).all()
    curves = pd.read_csv(out / "risk_coverage.csv")
    assert curves.coverage.max() == 1.0 and curves.risk.between(0, 1).all()
    methods = pd.read_csv(out / "methods.csv")
    uniform = methods[methods.mix_name == "uniform"]
    assert set(uniform.method) == {"deterministic", "mc_fast", "mc_full", "ensemble"}
    assert set(methods[methods.mix_name == "tecg_only"].method) == {"deterministic", "mc_fast", "ensemble"}  # full MC not asked for


@pytest.mark.integration
@pytest.mark.slow
def test_report_is_self_contained_and_renders_in_a_headless_browser(quick_sweep, tmp_path: Path) -> None:
    out, _ = quick_sweep
    html_path = write_report(out, tmp_path / "report.html")
    text = html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "<script" not in text.lower()
    for fig_id in (*FIGURE_IDS, "findings", "table-methods", "table-results"):
        assert f"id='{fig_id}'" in text, fig_id
    for finding in assess_findings(out):
        assert finding.status in {"reproduced", "partly", "not reproduced", "not tested"}
        assert finding.status in text
    results_table = text[text.index("id='table-results'"):]
    assert "balanced_accuracy" in results_table[: results_table.index("</table>")]  # beside accuracy: the reference's measure
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    shot = tmp_path / "shot.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1400,2000",
                    html_path.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1400)
    assert (pixels.min(axis=-1) < 0.9).mean() > 0.05  # text and figures, not a blank page
    assert pixels.std() > 0.1


@pytest.mark.integration
@pytest.mark.slow
def test_cli_sweep_resumes_and_report_writes_html(quick_sweep, shared_data: Path, tmp_path: Path) -> None:
    from ecgshift.cli.study import report_command, sweep_command

    out, _ = quick_sweep
    app = typer.Typer()
    app.command("sweep")(sweep_command)
    app.command("report")(report_command)
    runner = CliRunner()
    swept = runner.invoke(app, ["sweep", "quick", "--out", str(out), "--data-root", str(shared_data)])
    assert swept.exit_code == 0, swept.output
    assert "0 trained, 6 skipped, 0 errors" in swept.output
    reported = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "r.html")])
    assert reported.exit_code == 0, reported.output
    assert (tmp_path / "r.html").stat().st_size > 10_000 and "MC-Dropout uncertainty" in reported.output


@pytest.mark.integration
@pytest.mark.slow
def test_ray_executor_runs_the_missing_cell(quick_sweep, shared_data: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    out, first = quick_sweep
    copy = tmp_path / "quick"
    shutil.copytree(out, copy)
    shutil.rmtree(copy / "runs" / "uniform-s1")
    shutil.rmtree(copy / "cells" / "uniform-s1")
    try:
        result = run_sweep(load_sweep_config(QUICK), data_root=shared_data, cache_dir=cache_root(), out_dir=copy, executor="ray", workers=1)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert not result.errors, result.errors
    assert result.n_trained == 1
    assert sorted(result.results.cell_id.unique()) == sorted(first.results.cell_id.unique())
