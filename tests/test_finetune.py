"""Fine-tuning on your own recordings: ``ecgshift train --init default --folder my_ecgs/`` on a small real folder (CinC
2017 records from the shared data with their REFERENCE-v3 labels) gives a normal run folder that ``--model`` loads.

A folder this small measures nothing about accuracy: the test checks the wiring (the folder's windows, the shipped
model as the start, a frozen trunk left as it was), with one epoch so it runs in seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from ecgshift.checkpoint import load_run
from ecgshift.cli import app
from ecgshift.errors import EcgShiftError
from ecgshift.predictor import default_model_path, load_model

runner = CliRunner()
N_PER_LABEL = 8  # 70/15/15 by recording: 5–6 train, 1–2 validation, 1 test per label


def _folder(shared_data: Path, root: Path, labels: dict[str, str]) -> Path:
    """``root`` with the first CinC 2017 records of each REFERENCE-v3 label asked (code → our label) and a manifest."""
    cinc = shared_data / "tecg" / "cinc2017"
    reference = pd.read_csv(cinc / "REFERENCE-v3.csv", header=None, names=["record", "code"])
    root.mkdir(parents=True)
    rows = ["path,modality,label"]
    for code, label in labels.items():
        records = [r for r in reference[reference.code == code].record if (cinc / f"{r}.hea").exists()][:N_PER_LABEL]
        for record in records:
            for f in cinc.glob(f"{record}.*"):
                shutil.copyfile(f, root / f.name)
            rows.append(f"{record}.hea,tecg,{label}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def my_ecgs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _folder(shared_data, tmp_path_factory.mktemp("finetune") / "my_ecgs", {"A": "AF", "N": "SR"})


@pytest.fixture(scope="module")
def finetuned(my_ecgs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("finetune-run") / "run"
    result = runner.invoke(app, ["train", "--init", "default", "--folder", str(my_ecgs), "--freeze-trunk", "--epochs", "1",
                                 "--budget", "32", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result.output


def test_finetuning_on_a_folder_writes_a_run_that_predict_loads(finetuned, my_ecgs: Path, tmp_path: Path) -> None:
    out, output = finetuned
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "crnn"  # the shipped model's architecture, without --model
    assert config["train"]["init"] == str(default_model_path()) and config["train"]["folder"] == str(my_ecgs)
    assert config["train"]["freeze_trunk"] is True and config["mix"] == "tecg=1"
    counts = pd.read_csv(out / "counts.csv")
    assert set(counts.modality) == {"tecg"} and counts.requested.sum() == 32
    assert "validation balanced accuracy (best epoch): tecg=" in output
    model = load_model(out)
    record = sorted(my_ecgs.glob("*.hea"))[0]
    result = runner.invoke(app, ["predict", str(record), "--model", str(out), "--mc", "2", "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, (result.output, result.exception)
    assert pd.read_csv(tmp_path / "p.csv").status[0] == "done"
    assert model.config.harmonize == load_model().config.harmonize


def test_a_frozen_trunk_keeps_the_shipped_weights_and_the_head_learns(finetuned) -> None:
    out, _ = finetuned
    tuned, _, _ = load_run(out)
    shipped, _, _ = load_run(default_model_path())
    shipped_params = dict(shipped.backbone.named_parameters())
    changed = {name: not torch.equal(p, shipped_params[name]) for name, p in tuned.backbone.named_parameters()}
    assert not any(v for k, v in changed.items() if not k.startswith("head."))
    assert any(v for k, v in changed.items() if k.startswith("head."))


def test_a_folder_without_af_recordings_is_a_one_line_error(shared_data: Path, tmp_path: Path) -> None:
    folder = _folder(shared_data, tmp_path / "sinus_only", {"N": "SR"})
    result = runner.invoke(app, ["train", "--init", "default", "--folder", str(folder), "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, EcgShiftError)
    assert "no AF windows of tecg in the training split" in str(result.exception)
    assert not (tmp_path / "run").exists()


def test_a_mix_naming_a_modality_the_folder_lacks_is_a_one_line_error(my_ecgs: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--init", "default", "--folder", str(my_ecgs), "--mix", "hecg=1", "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, EcgShiftError)
    assert "--mix names hecg, but the manifest has no labelled hecg recordings (it has: tecg)" in str(result.exception)
