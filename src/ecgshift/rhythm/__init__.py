"""Rhythm evidence from beats: the RR-interval AF detector (``rr``), AF episodes and burden (``episodes``),
and the fusion of the network's p(AF) with rhythm features per window (``fusion``)."""

from ecgshift.rhythm.burden import AFTime, af_time
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmFusion, default_fusion, label_ectopic, load_fusion, window_rhythm_features

__all__ = ["AFTime", "af_time", "RHYTHM_FEATURES", "RhythmFusion", "default_fusion", "label_ectopic", "load_fusion", "window_rhythm_features"]
