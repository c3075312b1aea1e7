"""Named training configurations: looked up by exact name, and the shipped model matches `default`."""

from __future__ import annotations

import json

import pytest

from ecgshift.models import list_models
from ecgshift.predictor import default_model_path
from ecgshift.presets import PRESETS, preset_config


def test_unknown_preset_error_lists_every_preset() -> None:
    with pytest.raises(KeyError) as error:
        preset_config("Default")  # exact names only
    for name in PRESETS:
        assert name in str(error.value)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_names_a_registered_architecture_and_a_valid_mix(name: str) -> None:
    config = preset_config(name)
    assert config.model in list_models()
    assert sum(config.mix.values()) == pytest.approx(1.0)
    assert sum(config.class_shares.values()) == pytest.approx(1.0)


def test_shipped_default_model_was_trained_with_the_default_preset() -> None:
    """`ecgshift train --preset default` must reproduce what the package ships (no drift between the two)."""
    path = default_model_path() / "config.json"
    if not path.exists():
        pytest.skip("no default model shipped in src/ecgshift/assets/default_model")
    shipped = json.loads(path.read_text())["train"]
    preset = json.loads(json.dumps(preset_config("default").to_dict()))
    added_since = {k: v for k, v in preset.items() if k not in shipped}  # options added after the model was trained ...
    assert all(v is None for v in added_since.values()), added_since  # ... must be off (None) in the preset
    assert shipped == {k: v for k, v in preset.items() if k in shipped}
