"""The public surface is what it says: every ``__all__`` name exists, the README's entry points import, and the
top-level package exports exactly its documented names."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import ecgshift

README = Path(__file__).resolve().parents[1] / "README.md"
MODULES = sorted(m.name for m in pkgutil.walk_packages(ecgshift.__path__, "ecgshift.") if ".assets" not in m.name and not m.name.endswith("__main__"))


def test_the_top_level_package_exports_exactly_its_documented_names() -> None:
    assert sorted(ecgshift.__all__) == ["BadInputError", "Beats", "EcgShiftError", "LABELS", "MODALITIES", "ModelFileError", "Record",
                                        "RhythmInterval", "UnknownNameError", "__version__"]


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_a_modules_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_the_modules_of_the_pipeline_are_all_found() -> None:
    for name in ("ecgshift.pipeline", "ecgshift.batch", "ecgshift.predictor", "ecgshift.holter.analysis", "ecgshift.holter.batch",
                 "ecgshift.rhythm.fusion", "ecgshift.study.sweep", "ecgshift.cli.predict", "ecgshift.runner", "ecgshift.status"):
        assert name in MODULES


def test_the_readmes_python_imports_work() -> None:
    imports = re.findall(r"^(from ecgshift[\w.]* import [\w, ]+|import ecgshift[\w.]*)", README.read_text(), flags=re.M)
    assert len(imports) >= 3
    for line in imports:
        exec(line, {})  # noqa: S102 — the README's own import lines


def test_the_console_entry_point_is_the_cli_main() -> None:
    import tomllib

    scripts = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ecgshift": "ecgshift.cli:main"}
    from ecgshift.cli import main

    assert callable(main)


def test_a_registry_miss_is_both_a_key_error_and_a_one_line_ecgshift_error() -> None:
    from ecgshift.errors import EcgShiftError, UnknownNameError
    from ecgshift.models import create_model
    from ecgshift.presets import preset_config

    for lookup in (lambda: create_model("no-such-model"), lambda: preset_config("no-such-preset")):
        with pytest.raises(UnknownNameError) as info:
            lookup()
        assert isinstance(info.value, KeyError) and isinstance(info.value, EcgShiftError)
        assert "\n" not in str(info.value) and "known:" in str(info.value) and not str(info.value).startswith(("'", '"'))
