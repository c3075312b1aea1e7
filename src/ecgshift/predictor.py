"""The Python API for prediction: ``load_model()`` and ``model.predict(record_or_array, fs=..., mc=20)``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ecgshift.assets import asset_path
from ecgshift.checkpoint import load_run
from ecgshift.errors import BadInputError, ModelFileError
from ecgshift.inference import mc_passes
from ecgshift.network import MODALITY_CLASSES, EcgNet
from ecgshift.plausibility import caller_rate_problem
from ecgshift.preprocess import HarmonizeConfig, Harmonizer, choose_lead
from ecgshift.quality import QualityConfig, excluded_note, require_analysable, window_quality
from ecgshift.record import Record
from ecgshift.shift import FeatureDensity
from ecgshift.uncertainty import Predictions, entropy, summarize_samples
from ecgshift.windows import window_record

__all__ = ["EcgShiftModel", "RecordSummary", "load_model", "default_model_path", "prediction_windowing", "prediction_quality", "OVERLAP_BELOW_S"]

#: Recordings shorter than this (s) — handheld and resting ECGs — are predicted from windows that overlap by half:
#: each stretch is seen at two offsets and the record-level p(AF) averages them (chosen on validation: CinC 2017
#: record AUROC rose on all four networks tried, e.g. 0.9956 → 0.9969 for the default, docs/model-card.md).
#: Longer (Holter-like) recordings keep non-overlapping windows, whose durations add up to AF burden.
OVERLAP_BELOW_S = 300.0


def prediction_windowing(config: HarmonizeConfig, duration_s: float) -> HarmonizeConfig:
    """The windowing used to predict a recording of ``duration_s``: stride ``window_s / 2`` below
    :data:`OVERLAP_BELOW_S`, else ``config`` as it is."""
    if duration_s < OVERLAP_BELOW_S and config.stride_s is None:
        return replace(config, stride_s=config.window_s / 2)
    return config


def prediction_quality(duration_s: float) -> QualityConfig:
    """The quality gate (:mod:`ecgshift.quality`) for a recording of ``duration_s``: signal faults (gaps, saturation,
    flat lead) always; the noise rule too for Holter-like recordings (≥ :data:`OVERLAP_BELOW_S`), as ``ecgshift holter``
    gates them (the rule was measured on Holter windows; in a short recording, noise shows in the uncertainty)."""
    return QualityConfig(noise=duration_s >= OVERLAP_BELOW_S)


def default_model_path() -> Path:
    return asset_path("default_model")


@dataclass(frozen=True)
class RecordSummary:
    """One record's prediction, aggregated over its windows.

    p_af: mean of the windows' p(AF); entropy: of that mean (nats); mutual_info:
    mean over windows; shift_score: median over windows; modality: argmax of the
    mean modality probabilities; refer: entropy or shift above the run's thresholds;
    p_af_network: the mean of the network's own p(AF) when a rhythm fusion decided (else NaN).
    """

    n_windows: int
    p_af: float
    label: str
    entropy: float
    mutual_info: float
    shift_score: float
    modality: str
    modality_p: float
    refer: bool
    af_window_fraction: float
    p_af_network: float = float("nan")


class EcgShiftModel:
    """A trained run, ready to predict. Construct with :func:`load_model`."""

    def __init__(self, net: EcgNet, config: dict, density: FeatureDensity | None, *, source: str = "",
                 modality_density: FeatureDensity | None = None) -> None:
        self.net = net
        self.config = config
        self.density = density  # on AF-trunk features (AF/SR classes)
        self.modality_density = modality_density  # on modality-network features (modality classes): the shift score
        self.source = source
        self.harmonize = HarmonizeConfig.from_dict(config["harmonize"])
        self.temperature = float(config.get("temperature", 1.0))
        self.referral = config.get("referral", {})

    def __repr__(self) -> str:
        return f"EcgShiftModel({self.config['model']}, mix={self.config.get('mix')}, source={self.source!r})"

    def predict_windows(self, x: np.ndarray, *, mc: int = 20, fast: bool = True, start_s: np.ndarray | None = None) -> Predictions:
        """Predictions for harmonized windows ``x`` (n, 1, samples)."""
        passes = mc_passes(self.net, np.asarray(x, np.float32), T=mc, fast=fast, temperature=self.temperature)
        stats = summarize_samples(passes.samples)
        modality_probs = torch.softmax(torch.from_numpy(passes.modality_logits), -1).numpy()
        shift = self.shift_scores(passes)
        refer = (stats.entropy > self.referral.get("entropy", np.inf)) | (shift > self.referral.get("shift_score", np.inf))
        return Predictions(
            p_af=stats.p_af,
            entropy=stats.entropy,
            mutual_info=stats.mutual_info,
            std=stats.std,
            modality=np.asarray(MODALITY_CLASSES)[modality_probs.argmax(1)] if len(x) else np.zeros(0, str),
            modality_p=modality_probs.max(1) if len(x) else np.zeros(0),
            shift_score=shift,
            refer=refer,
            start_s=np.arange(len(x)) * self.harmonize.window_s if start_s is None else np.asarray(start_s),
        )

    def shift_scores(self, passes) -> np.ndarray:
        """Shift score per window (see :mod:`ecgshift.shift`): the modality-feature density when the run
        has one (runs trained since 2026-11-22), else the trunk-feature density, else NaN."""
        if self.modality_density is not None:
            return self.modality_density.score(passes.modality_features)
        if self.density is not None:
            return self.density.score(passes.features)
        return np.full(len(passes.logits), np.nan)

    def predict(self, record_or_array: Record | np.ndarray, *, fs: float | None = None, mc: int = 20, fast: bool = True) -> Predictions:
        """Window-level predictions of a Record, or of an array (leads × samples, mV) sampled at ``fs`` Hz.

        Windows of recordings shorter than :data:`OVERLAP_BELOW_S` overlap by half (see :func:`prediction_windowing`).
        Windows failing the quality gate (:func:`prediction_quality`) are not predicted (``start_s`` tells which
        were; a warning counts the rest); a recording with none left raises :class:`BadInputError`. A sampling rate
        that looks wrong (:mod:`ecgshift.plausibility`) gives a warning and refers every window; it is checked unless
        the record was read from a file whose header stores it (WFDB, EDF: the device's rate)."""
        record = self._as_record(record_or_array, fs)
        config = prediction_windowing(self.harmonize, record.duration_s)
        harmonized = Harmonizer(config)(record)
        windows = window_record(harmonized, config=config, harmonized=True)
        lead = choose_lead(record.leads, lead=config.lead)
        quality = window_quality(record, harmonized, windows, lead=lead, config=prediction_quality(record.duration_s))
        where = record.source or record.record_id
        require_analysable(quality, where)
        ok = quality == "ok"
        if not ok.all():
            warnings.warn(f"{where}: {excluded_note(quality)}", stacklevel=2)
        predictions = self.predict_windows(windows.x[ok], mc=mc, fast=fast, start_s=windows.start_s[ok])
        rate_problem = caller_rate_problem(record, harmonized, lead=lead)
        if rate_problem:
            warnings.warn(f"{where}: {rate_problem}", stacklevel=2)
            predictions = replace(predictions, refer=np.ones(len(predictions), dtype=bool))
        return predictions

    def summarize(self, predictions: Predictions) -> RecordSummary:
        """Aggregate window predictions into one record-level call."""
        if len(predictions) == 0:
            raise ValueError("no windows to summarize")
        p = float(predictions.p_af.mean())
        h = float(entropy(np.array([1 - p, p])))
        shift = float(np.median(predictions.shift_score))
        modality_counts = {m: float(predictions.modality_p[predictions.modality == m].sum()) for m in MODALITY_CLASSES}
        modality = max(modality_counts, key=modality_counts.get)
        return RecordSummary(
            n_windows=len(predictions),
            p_af=p,
            label="AF" if p >= predictions.threshold else "SR",
            entropy=h,
            mutual_info=float(predictions.mutual_info.mean()),
            shift_score=shift,
            modality=modality,
            modality_p=float(np.mean(predictions.modality == modality)),
            refer=bool(h > self.referral.get("entropy", np.inf) or shift > self.referral.get("shift_score", np.inf)),
            af_window_fraction=float(np.mean(predictions.p_af >= predictions.threshold)),
            p_af_network=float("nan") if predictions.p_af_network is None else float(predictions.p_af_network.mean()),
        )

    @staticmethod
    def _as_record(record_or_array, fs: float | None) -> Record:
        if isinstance(record_or_array, Record):
            return record_or_array
        array = np.asarray(record_or_array, dtype=np.float32)
        if array.ndim == 1:
            array = array[None]
        if fs is None:
            raise BadInputError("<array>", "give fs (Hz) with an array")
        from ecgshift.io.checks import check_fs, check_signal

        check_fs(fs, "<array>")
        check_signal(array, "<array>")
        return Record(signal=array, fs=float(fs), leads=tuple(f"ch{i}" for i in range(array.shape[0])), record_id="array")


def load_model(path: str | Path | None = None) -> EcgShiftModel:
    """A trained run folder (``model.safetensors`` + ``config.json``), or the default model shipped in the package."""
    path = Path(path) if path is not None else default_model_path()
    if path is None or not Path(path).exists():
        raise ModelFileError(path, "model not found (train one with `ecgshift train --preset default`)")
    net, config, extra = load_run(path)
    tensors = {k: v.numpy() for k, v in extra.items()}
    return EcgShiftModel(net, config, FeatureDensity.from_tensors(tensors), source=str(path),
                         modality_density=FeatureDensity.from_tensors(tensors, "modality_density"))
