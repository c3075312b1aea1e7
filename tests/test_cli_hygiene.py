"""The command line as a user meets it: help for every option of every command, ``--version``, and one-line errors
(exit 2, no traceback) for a bad ``--mix`` or ``--modality``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

import ecgshift
from ecgshift.cli import app
from ecgshift.errors import EcgShiftError

runner = CliRunner()


def _commands(command, path=("ecgshift",)):
    """(path, command) of the command and every subcommand below it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_command_and_every_option_and_argument_has_help() -> None:
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        if not (command.help or "").strip():
            missing.append(" ".join(path))
        missing += [f"{' '.join(path)} {param.name}" for param in command.params if not (getattr(param, "help", None) or "").strip()]
    assert missing == []
    assert len(list(_commands(typer.main.get_command(app)))) >= 12  # the walk reached the subcommands (data …)


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"ecgshift {ecgshift.__version__}\n"


def test_modality_must_be_one_of_the_four(tmp_path) -> None:
    result = runner.invoke(app, ["predict", "x.hea", "--modality", "holter", "--out", str(tmp_path / "p.csv")])
    assert isinstance(result.exception, EcgShiftError)
    assert str(result.exception) == "--modality must be one of recg, tecg, hecg, unknown, not 'holter'"


@pytest.mark.parametrize("argv, says", [
    (["train", "--mix", "tecg=abc"], "--mix tecg=abc: mix share 'abc' of tecg is not a number"),
    (["train", "--mix", "ecg=1"], "unknown modality 'ecg' in mix; known: tecg, recg, hecg"),
    (["predict", "x.hea", "--modality", "holter"], "--modality must be one of recg, tecg, hecg, unknown"),
    (["train", "--init", "no-such-run"], "no-such-run: --init needs a run folder (with config.json) or 'default'"),
])
def test_bad_options_are_one_red_line_with_exit_code_2(argv, says, tmp_path) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "ecgshift.cli", *argv, "--out", str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(lines) == 1 and says in lines[0], proc.stderr
