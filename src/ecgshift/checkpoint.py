"""Run folders: ``model.safetensors`` (weights and fitted tensors) + ``config.json``. Loading never unpickles.

``config.json`` is a :class:`RunConfig` (with its :class:`Referral` rule), written once by training
(:func:`save_run`) and read once here (:func:`load_run`); every reader takes the object, none reads keys.
Every number is checked at load: a referral threshold, temperature or band that is not a valid number is a
:class:`ModelFileError` naming the file, never a default.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ecgshift.errors import ModelFileError
from ecgshift.network import MODALITY_CLASSES, EcgNet, build_net
from ecgshift.preprocess import HarmonizeConfig

__all__ = ["WEIGHTS_FILE", "CONFIG_FILE", "FORMAT", "Referral", "RunConfig", "save_run", "load_run"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "ecgshift-run-1"


def _number(value, what: str, *, positive: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float, or ValueError naming ``what`` (NaN, text, ≤ 0 when ``positive``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ValueError(f"{what} {value!r} is not a finite number")
    if positive and not number > 0:
        raise ValueError(f"{what} {value!r} must be positive")
    return number


@dataclass(frozen=True)
class Referral:
    """The run's referral rule: a window is referred when its predictive entropy (nats) exceeds ``entropy`` or its
    shift score exceeds ``shift_score``; ``rate``: the share of validation windows the entropy threshold refers."""

    entropy: float = math.inf
    shift_score: float = math.inf
    rate: float | None = None

    def refer(self, entropy: np.ndarray, shift_score: np.ndarray) -> np.ndarray:
        """Per window: referred (bool). A NaN entropy or shift score is referred: it cannot vouch for the call."""
        entropy, shift_score = np.asarray(entropy, float), np.asarray(shift_score, float)
        return (np.isnan(entropy) | (entropy > self.entropy)) | (shift_score > self.shift_score)

    def uncertain(self, entropy: np.ndarray) -> np.ndarray:
        """Per window: entropy above the threshold (or NaN) — the Holter 'review' flag."""
        entropy = np.asarray(entropy, float)
        return np.isnan(entropy) | (entropy > self.entropy)

    @classmethod
    def from_dict(cls, data: dict) -> "Referral":
        rate = data.get("rate")
        return cls(entropy=_number(data.get("entropy", math.inf), "referral entropy", allow_inf=True),
                   shift_score=_number(data.get("shift_score", math.inf), "referral shift_score", allow_inf=True),
                   rate=None if rate is None else _number(rate, "referral rate"))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunConfig:
    """What a run folder's ``config.json`` holds: the network, how its windows were harmonized, calibration
    (``temperature``), the referral rule, and what training drew (``counts``: one row per modality × label;
    ``val_counts``: validation windows per modality and class; ``train``: the TrainConfig as written)."""

    model: str
    harmonize: HarmonizeConfig
    model_kwargs: dict = field(default_factory=dict)
    modality_members: int = 1
    classes: tuple[str, ...] = ("SR", "AF")
    modality_classes: tuple[str, ...] = MODALITY_CLASSES
    mix: str = ""
    train: dict = field(default_factory=dict)
    temperature: float = 1.0
    referral: Referral = Referral()
    best_epoch: int | None = None
    counts: tuple[dict, ...] = ()
    val_counts: dict = field(default_factory=dict)
    torch: str = ""

    def __post_init__(self) -> None:
        _number(self.temperature, "temperature", positive=True)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["harmonize"] = self.harmonize.to_dict()
        out["referral"] = self.referral.to_dict()
        out["classes"], out["modality_classes"], out["counts"] = list(self.classes), list(self.modality_classes), list(self.counts)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """From ``config.json``'s content; ValueError / KeyError / TypeError name what is wrong. Runs written before
        a key existed load with its documented default (``modality_members`` 1, no referral: nothing referred)."""
        if not isinstance(data.get("model"), str):
            raise ValueError("model name missing")
        harmonize = data["harmonize"]
        if not isinstance(harmonize, dict):
            raise ValueError("harmonize is not a table")
        kwargs = data.get("model_kwargs", {})
        if not isinstance(kwargs, dict):
            raise ValueError("model_kwargs is not a table")
        return cls(
            model=data["model"],
            harmonize=HarmonizeConfig.from_dict(harmonize),
            model_kwargs=dict(kwargs),
            modality_members=int(data.get("modality_members", 1)),
            classes=tuple(data.get("classes", ("SR", "AF"))),
            modality_classes=tuple(data.get("modality_classes", MODALITY_CLASSES)),
            mix=str(data.get("mix", "")),
            train=dict(data.get("train", {})),
            temperature=_number(data.get("temperature", 1.0), "temperature", positive=True),
            referral=Referral.from_dict(data.get("referral", {})),
            best_epoch=None if data.get("best_epoch") is None else int(data["best_epoch"]),
            counts=tuple(data.get("counts", ())),
            val_counts=dict(data.get("val_counts", {})),
            torch=str(data.get("torch", "")),
        )


def save_run(run_dir: str | Path, net: EcgNet, config: RunConfig, *, extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write the network's weights (plus ``extra_tensors``, e.g. fitted density statistics) and its config."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra.{key}"] = value.detach().contiguous().cpu()
    save_file(tensors, str(run_dir / WEIGHTS_FILE), metadata={"format": FORMAT})
    (run_dir / CONFIG_FILE).write_text(json.dumps({"format": FORMAT, **config.to_dict()}, indent=2, default=str))
    return run_dir


def read_config(run_dir: str | Path) -> RunConfig:
    """The :class:`RunConfig` of a run folder (without loading weights); any problem is one ModelFileError line."""
    config_path = Path(run_dir) / CONFIG_FILE
    if not config_path.exists():
        raise ModelFileError(config_path, "missing (a model folder holds model.safetensors and config.json)")
    try:
        data = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(config_path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFileError(config_path, f"not an ecgshift model config (expected format {FORMAT!r})")
    try:
        return RunConfig.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0][:200]
        raise ModelFileError(config_path, f"invalid model config: {what}") from None


def load_run(run_dir: str | Path) -> tuple[EcgNet, RunConfig, dict[str, torch.Tensor]]:
    """(network in eval mode, config, extra tensors) of a run folder; any problem is one ModelFileError line."""
    run_dir = Path(run_dir)
    weights = run_dir / WEIGHTS_FILE
    if not run_dir.is_dir():
        raise ModelFileError(run_dir, "model folder not found")
    if not weights.exists():
        raise ModelFileError(weights, "missing (a model folder holds model.safetensors and config.json)")
    config = read_config(run_dir)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(weights, f"corrupted or not a safetensors file ({exc})") from None
    try:
        net = build_net(config.model, **config.model_kwargs, fs=config.harmonize.fs, window_s=config.harmonize.window_s,
                        modality_members=config.modality_members)
        state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        net.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(weights, f"weights do not match the configured model ({str(exc).splitlines()[0][:200]})") from None
    net.eval()
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return net, config, extra
