"""Run folders: ``model.safetensors`` (weights and fitted tensors) + ``config.json``. Loading never unpickles."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ecgshift.errors import ModelFileError
from ecgshift.network import EcgNet, build_net

__all__ = ["WEIGHTS_FILE", "CONFIG_FILE", "FORMAT", "save_run", "load_run"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "ecgshift-run-1"


def save_run(run_dir: str | Path, net: EcgNet, config: dict, *, extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the network's weights (plus ``extra_tensors``, e.g. fitted density statistics) and its config."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra.{key}"] = value.detach().contiguous().cpu()
    save_file(tensors, str(run_dir / WEIGHTS_FILE), metadata={"format": FORMAT})
    (run_dir / CONFIG_FILE).write_text(json.dumps({"format": FORMAT, **config}, indent=2, default=str))
    return run_dir


def load_run(run_dir: str | Path) -> tuple[EcgNet, dict, dict[str, torch.Tensor]]:
    """(network in eval mode, config, extra tensors) of a run folder; any problem is one ModelFileError line."""
    run_dir = Path(run_dir)
    weights, config_path = run_dir / WEIGHTS_FILE, run_dir / CONFIG_FILE
    if not run_dir.is_dir():
        raise ModelFileError(run_dir, "model folder not found")
    for path in (weights, config_path):
        if not path.exists():
            raise ModelFileError(path, "missing (a model folder holds model.safetensors and config.json)")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(config_path, f"not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(config_path, f"not an ecgshift model config (expected format {FORMAT!r})")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(weights, f"corrupted or not a safetensors file ({exc})") from None
    try:
        net = build_net(config["model"], **config.get("model_kwargs", {}), fs=config["harmonize"]["fs"], window_s=config["harmonize"]["window_s"],
                        modality_members=int(config.get("modality_members", 1)))
        state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        net.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(weights, f"weights do not match the configured model ({str(exc).splitlines()[0][:200]})") from None
    net.eval()
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return net, config, extra
