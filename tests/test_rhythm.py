"""Rhythm evidence beside the network: ectopic beats by QRS morphology (against MIT-BIH's beat labels),
per-window RR features on real AF and sinus excerpts, and the fusion's fit / round trip / shipped file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgshift.io.annotations import read_annotations
from ecgshift.io.wfdb import read_wfdb
from ecgshift.preprocess import HarmonizeConfig, Harmonizer
from ecgshift.rhythm.fusion import RHYTHM_FEATURES, RhythmFusion, default_fusion, label_ectopic, load_fusion, window_rhythm_features
from ecgshift.rhythm.rr import detect_rpeaks
from ecgshift.assets import sample_folder

AF_EXCERPT = sample_folder() / "hecg" / "mitdb219_330s.hea"  # annotated AF throughout
SR_EXCERPT = sample_folder() / "hecg" / "mitdb116_0s.hea"  # sinus rhythm


def _harmonized(path: Path, *, end_s: float | None = None):
    record = read_wfdb(path, end_s=end_s, annotation=None)
    return Harmonizer(HarmonizeConfig())(record)


@pytest.mark.parametrize("record", ["119", "200", "215"])  # PVC bigeminy / trigeminy, frequent PVCs
def test_ectopic_labels_match_mitbih_pvc_annotations(shared_data: Path, record: str) -> None:
    base = shared_data / "hecg" / "mitdb" / record
    harm = _harmonized(base.with_suffix(".hea"))
    peaks = detect_rpeaks(harm.signal[0], harm.fs, method="neurokit")
    symbols = label_ectopic(harm.signal[0], peaks, harm.fs)
    beats = read_annotations(base, "atr", fs=360.0)[0]
    ref_t, ref_symbols = beats.sample / beats.fs, np.asarray(beats.symbol)
    nearest = np.abs(peaks[:, None] / harm.fs - ref_t[None, :]).argmin(axis=1)
    matched = np.abs(peaks / harm.fs - ref_t[nearest]) < 0.15
    ref, found = ref_symbols[nearest][matched], symbols[matched]
    assert (ref == "V").sum() > 100 and matched.mean() > 0.99
    # measured: PVCs found 1.00 / 0.90 / 0.97, normal beats called ectopic 0.1 / 0.6 / 2.1 %
    assert np.mean(found[ref == "V"] == "V") > 0.85
    assert np.mean(found[ref == "N"] == "V") < 0.03


def test_label_ectopic_leaves_identical_beats_normal_and_flags_a_different_one() -> None:
    fs = 100.0
    x = np.zeros(3000)
    peaks = np.arange(50, 2950, 80)
    qrs = np.array([0.1, 0.5, 1.0, 0.5, 0.1, -0.2])
    for p in peaks:
        x[p - 2:p + 4] += qrs
    odd = peaks[10]
    x[odd - 2:odd + 4] = -2.0 * qrs[::-1]  # an inverted, bigger beat: a PVC-like outlier
    symbols = label_ectopic(x, peaks, fs)
    assert symbols[10] == "V"
    assert (np.delete(symbols, 10) == "N").all()


def test_window_features_tell_af_from_sinus_rhythm_on_real_excerpts() -> None:
    window_s = 10.0
    out = {}
    for name, path in (("af", AF_EXCERPT), ("sr", SR_EXCERPT)):
        harm = _harmonized(path)
        starts = np.arange(30.0, harm.duration_s - 40.0, window_s)
        out[name] = window_rhythm_features(harm.signal[0], harm.fs, starts, window_s=window_s)
        assert list(out[name].columns) == list(RHYTHM_FEATURES) and len(out[name]) == starts.size
        assert out[name].n_beats.between(8, 30).all()  # 48-180 bpm in 10 s
    # AF: irregular with or without ectopic beats; sinus: regular, few ectopic beats
    assert out["af"].nn_nrmssd.median() > 2 * out["sr"].nn_nrmssd.median()
    assert out["af"].rr_p_af.median() > 0.5 > out["sr"].rr_p_af.median()
    assert out["sr"].ectopic_fraction.mean() < 0.1


def test_window_features_are_nan_without_beats() -> None:
    f = window_rhythm_features(np.zeros(6000), 100.0, np.array([0.0, 10.0]), window_s=10.0)
    assert (f.n_beats == 0).all() and f.drop(columns="n_beats").isna().all().all()


def _toy_rows(n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    f = pd.DataFrame({name: rng.random(n) for name in RHYTHM_FEATURES})
    f["rr_nrmssd"] = np.where(y, 0.2, 0.03) * rng.uniform(0.7, 1.3, n)
    f.loc[rng.random(n) < 0.05, "nn_tpr"] = np.nan  # missing NN features
    p = np.clip(np.where(y, 0.8, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    return p, f, y


def test_fusion_learns_from_rr_irregularity_and_round_trips_through_json(tmp_path: Path) -> None:
    p, f, y = _toy_rows(600, 0)
    fusion = RhythmFusion().fit(p, f, y)
    p_test, f_test, y_test = _toy_rows(300, 1)
    fused = fusion.predict_proba(p_test, f_test)
    assert np.mean((fused >= 0.5) == y_test) > 0.95  # the RR feature separates what p(AF) alone does not
    assert np.mean((p_test >= 0.5) == y_test) < 0.95
    fusion.save(tmp_path / "fusion.json", fitted_on="toy")
    again = load_fusion(tmp_path / "fusion.json")
    assert np.array_equal(again.predict_proba(p_test, f_test), fused)


def test_an_unfitted_fusion_refuses_to_predict() -> None:
    p, f, _ = _toy_rows(5, 0)
    with pytest.raises(ValueError, match="not fitted"):
        RhythmFusion().predict_proba(p, f)


def test_the_shipped_fusion_loads_and_says_what_it_was_fitted_on() -> None:
    fusion = default_fusion()
    assert fusion is not None and fusion.is_fitted and fusion.n_train_ > 1000
    from ecgshift.assets import asset_path
    import json

    meta = json.loads(asset_path("holter_fusion.json").read_text())
    assert "standard test split" in meta["fitted_on"] and len(meta["records"]) >= 30
