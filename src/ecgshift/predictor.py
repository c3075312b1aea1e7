"""The Python API for prediction: ``load_model()`` and ``model.predict(record_or_array, fs=..., mc=20)``.

``model.predict`` runs :func:`ecgshift.pipeline.analyse` — the pipeline ``ecgshift predict`` and ``ecgshift holter``
run — so the API gives the same p(AF) and decision as the command line for the same windows, the rhythm fusion
included for recordings of 5 min or more.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ecgshift.assets import asset_path
from ecgshift.checkpoint import Referral, RunConfig, load_run
from ecgshift.conformal import ConformalCalibration, PredictionSets, load_conformal, prediction_sets
from ecgshift.errors import BadInputError, ModelFileError
from ecgshift.inference import mc_passes
from ecgshift.network import MODALITY_CLASSES, EcgNet
from ecgshift.pipeline import OVERLAP_BELOW_S, RHYTHM_MIN_S, Analysis, PipelineConfig, analyse, prediction_quality, prediction_windowing
from ecgshift.preprocess import HarmonizeConfig
from ecgshift.record import Record
from ecgshift.shift import FeatureDensity
from ecgshift.uncertainty import Predictions, entropy, summarize_samples

__all__ = ["EcgShiftModel", "RecordSummary", "load_model", "default_model_path", "prediction_windowing", "prediction_quality",
           "OVERLAP_BELOW_S"]


#: What to do about a run folder without ``conformal.json``.
CONFORMAL_HINT = "no conformal.json; write one with `python scripts/conformal_calibrate.py --model DIR`"


def default_model_path() -> Path:
    return asset_path("default_model")


@dataclass(frozen=True)
class RecordSummary:
    """One record's prediction, aggregated over its windows.

    p_af: mean of the windows' p(AF); entropy: of that mean (nats); mutual_info: mean over windows; shift_score:
    median over windows; modality: the modality with the largest summed window probability, ``modality_share``: the
    share of windows whose own argmax is that modality; refer: entropy or shift above the run's thresholds;
    p_af_network: the mean of the network's own p(AF) when a rhythm fusion decided (else NaN).

    Summarized from an :class:`~ecgshift.pipeline.Analysis` (``ecgshift predict`` does), the AF time figures of
    :mod:`ecgshift.rhythm.burden` too — the same as ``ecgshift holter``'s: burden (AF time / analysable time, NaN when not
    determinable) with its interval, ``burden_text``, episodes (≥ 30 s), the longest, short AF runs, ``record_class``; and a
    recording of at least :data:`~ecgshift.pipeline.RHYTHM_MIN_S` is labelled by its episodes (``label_rule``
    ``episode``: AF when it holds one; '' when its burden is not determinable and it holds none, and it is referred)
    instead of by the mean p(AF) (``label_rule`` ``mean p(AF)``, shorter recordings).
    """

    n_windows: int
    p_af: float
    label: str
    entropy: float
    mutual_info: float
    shift_score: float
    modality: str
    modality_share: float
    refer: bool
    af_window_fraction: float
    p_af_network: float = float("nan")
    label_rule: str = "mean p(AF)"
    af_burden_pct: float = float("nan")
    af_burden_low_pct: float = float("nan")
    af_burden_high_pct: float = float("nan")
    burden_text: str = ""
    n_episodes: int | None = None
    longest_episode_s: float = float("nan")
    n_short_af_runs: int | None = None
    record_class: str = ""


class EcgShiftModel:
    """A trained run, ready to predict. Construct with :func:`load_model`."""

    def __init__(self, net: EcgNet, config: RunConfig, density: FeatureDensity | None, *, source: str = "",
                 modality_density: FeatureDensity | None = None, conformal: ConformalCalibration | None = None) -> None:
        self.net = net
        self.config = config
        self.density = density  # on AF-trunk features (AF/SR classes)
        self.modality_density = modality_density  # on modality-network features (modality classes): the shift score
        self.source = source
        self._fusion = None  # the shipped rhythm fusion, read on the first prediction that needs it (not per call)
        self.conformal = conformal  # the run's conformal.json (ecgshift.conformal), None for runs without one

    @property
    def harmonize(self) -> HarmonizeConfig:
        return self.config.harmonize

    @property
    def temperature(self) -> float:
        return self.config.temperature

    @property
    def referral(self) -> Referral:
        return self.config.referral

    def __repr__(self) -> str:
        return f"EcgShiftModel({self.config.model}, mix={self.config.mix}, source={self.source!r})"

    def predict_windows(self, x: np.ndarray, *, mc: int = 20, mc_scope: str = "head", start_s: np.ndarray | None = None) -> Predictions:
        """Predictions for harmonized windows ``x`` (n, 1, samples); ``mc_scope``: see :func:`ecgshift.inference.mc_passes`.

        A window whose probabilities are not finite (e.g. NaN samples) is referred, never labelled by a NaN."""
        passes = mc_passes(self.net, np.asarray(x, np.float32), mc=mc, mc_scope=mc_scope, temperature=self.temperature)
        stats = summarize_samples(passes.samples)
        modality_probs = torch.softmax(torch.from_numpy(passes.modality_logits), -1).numpy()
        shift = self.shift_scores(passes)
        refer = self.referral.refer(stats.entropy, shift) | ~np.isfinite(stats.p_af)
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

    def prediction_sets(self, predictions: Predictions, *, alpha: float, modality: str | None = None) -> PredictionSets:
        """Conformal prediction sets (:mod:`ecgshift.conformal`) of these window predictions at level ``alpha``, from
        the network's p(AF) (``p_af_network`` where a rhythm fusion decided), against the cells of ``modality``, else of
        each window's predicted modality. A run without ``conformal.json`` raises a one-line ValueError."""
        if self.conformal is None:
            raise ValueError(f"model {self.source or self.config.model} has no conformal calibration ({CONFORMAL_HINT})")
        p = predictions.p_af if predictions.p_af_network is None else predictions.p_af_network
        return prediction_sets(self.conformal, p, predictions.modality if modality is None else modality, alpha=alpha)

    def shift_scores(self, passes) -> np.ndarray:
        """Shift score per window (see :mod:`ecgshift.shift`): the modality-feature density when the run
        has one (runs trained since 2026-11-22), else the trunk-feature density, else NaN."""
        if self.modality_density is not None:
            return self.modality_density.score(passes.modality_features)
        if self.density is not None:
            return self.density.score(passes.features)
        return np.full(len(passes.logits), np.nan)

    def predict(self, record_or_array: Record | np.ndarray, *, fs: float | None = None, mc: int = 20, mc_scope: str = "head",
                rhythm: bool = True, threads: int | None = None) -> Predictions:
        """Window-level predictions of a Record, or of an array (leads × samples, mV) sampled at ``fs`` Hz, through
        :func:`ecgshift.pipeline.analyse` — as ``ecgshift predict`` runs it.

        Windows of recordings shorter than :data:`OVERLAP_BELOW_S` overlap by half. Windows failing the quality gate
        are not predicted (``start_s`` tells which were; a warning counts the rest); a recording with none left raises
        :class:`BadInputError`. Recordings of 5 min or more are decided by the shipped rhythm fusion (``rhythm=False``:
        by the network alone). A sampling rate that looks wrong (:mod:`ecgshift.plausibility`) gives a warning and
        refers every window; it is checked unless the record was read from a file whose header stores it. ``threads``:
        torch threads meanwhile (None: :func:`ecgshift.threads.default_torch_threads`)."""
        return self.analyse(record_or_array, fs=fs, mc=mc, mc_scope=mc_scope, rhythm=rhythm, threads=threads).predictions

    def analyse(self, record_or_array: Record | np.ndarray, *, fs: float | None = None, mc: int = 20, mc_scope: str = "head",
                rhythm: bool = True, threads: int | None = None):
        """The whole :class:`ecgshift.pipeline.Analysis` of :meth:`predict` (every window, its quality, the decision rule)."""
        record = self._as_record(record_or_array, fs)
        try:
            config = PipelineConfig(mc=mc, mc_scope=mc_scope, rhythm=rhythm, threads=threads)
        except ValueError as exc:
            raise BadInputError(None, str(exc)) from None
        result = analyse(record, model=self, config=config, fusion=self._default_fusion() if rhythm else None)
        for problem in result.problems:
            warnings.warn(f"{result.source}: {problem}", stacklevel=3)
        return result

    def _default_fusion(self):
        if self._fusion is None:
            from ecgshift.rhythm.fusion import default_fusion

            self._fusion = default_fusion()
        return self._fusion

    def summarize(self, predictions: Predictions | Analysis) -> RecordSummary:
        """Aggregate window predictions — or a whole :class:`~ecgshift.pipeline.Analysis`, which adds the AF time
        figures and the episode verdict of long recordings (see :class:`RecordSummary`) — into one record-level call."""
        if isinstance(predictions, Analysis):
            return self._summarize_analysis(predictions)
        if len(predictions) == 0:
            raise ValueError("no windows to summarize")
        finite = np.isfinite(predictions.p_af)
        p = float(predictions.p_af[finite].mean()) if finite.any() else float("nan")
        h = float(entropy(np.array([1 - p, p]))) if np.isfinite(p) else float("nan")
        shift = float(np.median(predictions.shift_score))
        modality_mass = {m: float(predictions.modality_p[predictions.modality == m].sum()) for m in MODALITY_CLASSES}
        modality = max(modality_mass, key=modality_mass.get)
        refer = bool(self.referral.refer(np.array([h]), np.array([shift]))[0]) or not np.isfinite(p)
        return RecordSummary(
            n_windows=len(predictions),
            p_af=p,
            label="" if not np.isfinite(p) else ("AF" if p >= predictions.threshold else "SR"),
            entropy=h,
            mutual_info=float(predictions.mutual_info.mean()),
            shift_score=shift,
            modality=modality,
            modality_share=float(np.mean(predictions.modality == modality)),
            refer=refer,
            af_window_fraction=float(np.mean(predictions.p_af >= predictions.threshold)),
            p_af_network=float("nan") if predictions.p_af_network is None else float(predictions.p_af_network.mean()),
        )

    def _summarize_analysis(self, analysis: Analysis) -> RecordSummary:
        base = self.summarize(analysis.predictions)
        af = analysis.af_time()
        figures = dict(af_burden_pct=af.burden_pct if af.determinable else float("nan"), af_burden_low_pct=af.burden_low_pct,
                       af_burden_high_pct=af.burden_high_pct, burden_text=af.burden_text, n_episodes=len(af.episodes),
                       longest_episode_s=af.longest_episode_s, n_short_af_runs=len(af.short_runs), record_class=af.record_class)
        if analysis.duration_s < RHYTHM_MIN_S:
            return dataclasses.replace(base, **figures)
        label = "AF" if af.episodes else ("SR" if af.determinable else "")
        return dataclasses.replace(base, **figures, label=label, label_rule="episode", refer=base.refer or label == "")

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
    """A trained run folder (``model.safetensors`` + ``config.json``, and ``conformal.json`` when it has one:
    ``model.conformal``, else None), or the default model shipped in the package."""
    path = Path(path) if path is not None else default_model_path()
    if not path.exists():
        raise ModelFileError(path, "model not found (train one with `ecgshift train --preset default`)")
    net, config, extra = load_run(path)
    tensors = {k: v.numpy() for k, v in extra.items()}
    return EcgShiftModel(net, config, FeatureDensity.from_tensors(tensors), source=str(path),
                         modality_density=FeatureDensity.from_tensors(tensors, "modality_density"), conformal=load_conformal(path))
