"""ecgshift.rhythm.rr (RR-irregularity AF detector) and ecgshift.rhythm.episodes (episodes, burden, EC57 metrics).

Unit tests use synthetic RR sequences and hand-made episodes whose expected
values are worked out in the comments; the integration tests run the default
(untrained, literature-rule) detector on real LTAFDB / NSR2DB annotations and
on R-peaks detected in a MIT-BIH waveform.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from ecgshift.rhythm.episodes import (
    Episode,
    burden,
    burden_per_hour,
    covered_fraction,
    episode_metrics,
    episodes_from_intervals,
    episodes_from_windows,
    pool_metrics,
    window_burden,
)
from ecgshift.record import Beats, RhythmInterval
from ecgshift.rhythm.rr import FEATURE_NAMES, RRAFDetector, RRFeatures, beats_from_signal, detect_af_rr, rr_features, rr_intervals

FS = 128.0


def beats_from_rr(rr_s: np.ndarray, symbols: str | None = None, *, fs: float = FS) -> Beats:
    """Beats whose successive intervals are ``rr_s`` (first beat at 1 s)."""
    t = 1.0 + np.concatenate([[0.0], np.cumsum(rr_s)])
    sym = np.array(list(symbols)) if symbols else np.full(t.size, "N")
    return Beats(sample=np.round(t * fs).astype(np.int64), symbol=sym, fs=fs)


def sinus_rr(n: int, rng: np.random.Generator, mean: float = 0.8) -> np.ndarray:
    """Sinus rhythm: slow respiratory modulation (±4 %) plus 1 % beat-to-beat jitter."""
    k = np.arange(n)
    return mean * (1 + 0.04 * np.sin(2 * np.pi * k / 15) + 0.01 * rng.standard_normal(n))


def af_rr(n: int, rng: np.random.Generator) -> np.ndarray:
    """AF: independent intervals, uniform on 0.4-1.0 s."""
    return rng.uniform(0.4, 1.0, n)


# --------------------------------------------------------------------------- RR intervals


def test_rr_intervals_drop_double_detections_and_gaps_and_break_continuity():
    # intervals: 0.8, 0.1 (double detection), 0.8, 4.0 (gap), 0.8, 0.8
    beats = beats_from_rr(np.array([0.8, 0.1, 0.8, 4.0, 0.8, 0.8]), fs=1000.0)
    rr = rr_intervals(beats, gap_ratio=None)
    np.testing.assert_allclose(rr.rr_s, [0.8, 0.8, 0.8, 0.8])
    # kept intervals 0, 2, 4, 5: only 5 directly follows a kept interval (4)
    assert rr.follows_previous.tolist() == [False, False, False, True]


def test_rr_intervals_normal_only_drops_both_intervals_around_an_ectopic_beat():
    beats = beats_from_rr(np.array([0.8, 0.5, 1.1, 0.8, 0.8]), "NNVNNN", fs=1000.0)
    assert len(rr_intervals(beats)) == 5
    rr = rr_intervals(beats, normal_only=True)
    np.testing.assert_allclose(rr.rr_s, [0.8, 0.8, 0.8])  # the 0.5 and 1.1 around the V beat are gone
    assert rr.follows_previous.tolist() == [False, False, True]


def test_rr_intervals_gap_ratio_drops_an_interval_hiding_missed_beats_below_3_s():
    rr_s = np.full(40, 0.6)
    rr_s[20] = 1.2  # one beat missed at 100 bpm: 1.2 s < 3 s, but twice the local median
    kept = rr_intervals(beats_from_rr(rr_s, fs=1000.0)).rr_s
    assert kept.size == 39 and kept.max() < 0.7


# --------------------------------------------------------------------------- features and detector


def test_features_separate_regular_from_irregular_rr():
    rng = np.random.default_rng(0)
    regular = rr_features(rr_intervals(beats_from_rr(sinus_rr(640, rng))))
    irregular = rr_features(rr_intervals(beats_from_rr(af_rr(640, rng))))
    names = list(FEATURE_NAMES)
    reg = np.median(regular.values[regular.analysable], axis=0)
    irr = np.median(irregular.values[irregular.analysable], axis=0)
    assert reg[names.index("nrmssd")] < 0.05 < 0.2 < irr[names.index("nrmssd")]
    assert abs(irr[names.index("tpr")] - 2 / 3) < 0.08  # a random series turns at 2/3 of its beats
    assert irr[names.index("shannon_entropy")] > 0.8 > reg[names.index("shannon_entropy")] - 0.1
    assert reg[names.index("madsd_ratio")] < 0.03 < 0.1 < irr[names.index("madsd_ratio")]


def test_segments_are_contiguous_blocks_of_step_beats():
    rr_s = np.full(160, 0.75)
    f = rr_features(rr_intervals(beats_from_rr(rr_s)), window_beats=64, step_beats=16)
    assert len(f) == 10  # 160 intervals / 16
    np.testing.assert_allclose(f.end_s - f.start_s, 16 * 0.75, atol=2 / FS)
    np.testing.assert_allclose(f.start_s[1:], f.end_s[:-1])
    assert not f.analysable[0] and f.analysable[4]  # the first window is half padding (recording edge)


def test_default_rule_covers_an_af_stretch_between_sinus_stretches_and_nothing_else():
    rng = np.random.default_rng(1)
    # 750 sinus beats (600 s), 1000 AF beats (~700 s), 750 sinus beats
    rr_s = np.concatenate([sinus_rr(750, rng), af_rr(1000, rng), sinus_rr(750, rng)])
    af_start = 1.0 + rr_s[:750].sum()
    af_end = af_start + rr_s[750:1750].sum()
    episodes = detect_af_rr(beats_from_rr(rr_s)).episodes
    # The rule is an AND of three criteria, and a random series leaves the TPR's 95 % interval in ~5 % of
    # windows, so the stretch may come out in a few pieces: check coverage, not the number of episodes.
    assert 1 <= len(episodes) <= 3
    covered = sum(e.duration_s for e in episodes)
    assert covered >= 0.9 * (af_end - af_start)
    # nothing beyond half a 64-beat window plus one 16-beat segment (~40 s) outside the AF stretch
    assert episodes[0].start_s > af_start - 40 and episodes[-1].end_s < af_end + 40
    assert all(e.mean_p_af is not None and e.mean_p_af > 0.5 for e in episodes)


def test_default_rule_finds_nothing_in_sinus_rhythm_with_isolated_ectopic_beats():
    rng = np.random.default_rng(2)
    rr_s = sinus_rr(3000, rng)
    symbols = np.full(3001, "N")
    for k in range(50, 3000, 97):  # a premature beat every ~80 s, with a compensatory pause
        rr_s[k - 1], rr_s[k] = 0.6 * rr_s[k - 1], 1.4 * rr_s[k]
        symbols[k] = "V"
    assert detect_af_rr(beats_from_rr(rr_s, "".join(symbols))).episodes == []


def test_detector_fit_learns_attributes_with_underscore_and_separates_classes():
    rng = np.random.default_rng(3)
    sinus = rr_features(rr_intervals(beats_from_rr(sinus_rr(2000, rng))))
    af = rr_features(rr_intervals(beats_from_rr(af_rr(2000, rng))))
    x = np.vstack([sinus.values[sinus.analysable], af.values[af.analysable]])
    y = np.r_[np.zeros(sinus.analysable.sum(), bool), np.ones(af.analysable.sum(), bool)]
    detector = RRAFDetector()
    assert not detector.is_fitted and not hasattr(detector, "coef_")
    assert detector.fit(x, y) is detector
    assert detector.is_fitted and detector.coef_.shape == (4,) and detector.n_train_ == y.size
    proba = detector.predict_proba(x)
    assert proba.shape == (y.size, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(detector.predict(x) == y) > 0.99


def test_a_day_of_beats_is_processed_in_about_a_second():
    import time

    rng = np.random.default_rng(4)
    beats = beats_from_rr(np.concatenate([sinus_rr(60000, rng), af_rr(60000, rng)]))  # ~25 h
    t0 = time.perf_counter()
    det = detect_af_rr(beats)
    assert time.perf_counter() - t0 < 5.0  # ~0.3 s unloaded; generous for busy CI machines
    assert len(det.episodes) >= 1


# --------------------------------------------------------------------------- episodes


def _windows(*spec: tuple[float, float, bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start, end, af = zip(*spec)
    return np.array(start, float), np.array(end, float), np.array(af, bool)


def test_af_windows_separated_by_at_most_max_gap_are_merged():
    # AF 0-30 s, non-AF 30-40 s (a 10 s gap), AF 40-50 s
    start, end, af = _windows((0, 10, True), (10, 20, True), (20, 30, True), (30, 40, False), (40, 50, True))
    merged = episodes_from_windows(start, end, af, max_gap_s=10.0, min_duration_s=30.0)
    assert [(e.start_s, e.end_s) for e in merged] == [(0.0, 50.0)]  # gap == max_gap_s merges
    split = episodes_from_windows(start, end, af, max_gap_s=9.9, min_duration_s=0.0)
    assert [(e.start_s, e.end_s) for e in split] == [(0.0, 30.0), (40.0, 50.0)]


def test_episodes_shorter_than_min_duration_are_dropped_after_merging():
    start, end, af = _windows((0, 10, True), (10, 29, True), (100, 130, True), (200, 215, True), (220, 235, True))
    kept = episodes_from_windows(start, end, af, max_gap_s=10.0, min_duration_s=30.0)
    # 0-29 (29 s) dropped; 100-130 (exactly 30 s) kept; 200-215 and 220-235 merge into 200-235 (35 s) and are kept
    assert [(e.start_s, e.end_s) for e in kept] == [(100.0, 130.0), (200.0, 235.0)]


def test_episode_mean_p_af_is_duration_weighted_over_its_af_windows():
    start, end, af = _windows((0, 10, True), (10, 40, True), (40, 45, False))
    (episode,) = episodes_from_windows(start, end, af, p_af=np.array([0.6, 1.0, 0.1]), uncertainty=np.zeros(3))
    assert episode.mean_p_af == pytest.approx((0.6 * 10 + 1.0 * 30) / 40)  # = 0.9; the non-AF window is ignored
    assert episode.mean_uncertainty == 0.0 and episode.duration_s == 40.0


def test_unsorted_windows_are_rejected():
    with pytest.raises(ValueError, match="sorted"):
        episodes_from_windows(np.array([10.0, 0.0]), np.array([20.0, 10.0]), np.array([True, True]))


def test_reference_episodes_merge_touching_af_intervals_and_ignore_other_rhythms():
    rhythms = [
        RhythmInterval(0, 100, "N"),
        RhythmInterval(100, 150, "AFIB"),
        RhythmInterval(150, 170, "AFIB"),  # touches the previous one: same episode 100-170
        RhythmInterval(170, 300, "N"),
        RhythmInterval(300, 310, "AFIB"),  # 10 s
    ]
    assert [(e.start_s, e.end_s) for e in episodes_from_intervals(rhythms)] == [(100, 170), (300, 310)]
    assert [(e.start_s, e.end_s) for e in episodes_from_intervals(rhythms, min_duration_s=30)] == [(100, 170)]
    assert [(e.start_s, e.end_s) for e in episodes_from_intervals(rhythms, label="SR")] == [(0, 100), (170, 300)]


# --------------------------------------------------------------------------- metrics and burden

REFERENCE = [Episode(100, 200), Episode(500, 560), Episode(1000, 1010)]  # 100 s, 60 s, 10 s = 170 s of AF
DETECTED = [Episode(150, 250), Episode(300, 340), Episode(1005, 1040)]  # 100 s, 40 s, 35 s = 175 s
TWELVE_HOURS = 43200.0


def test_episode_metrics_on_a_hand_made_case():
    m = episode_metrics(DETECTED, REFERENCE, total_s=TWELVE_HOURS)
    # reference 100-200 is hit by 150-250, 500-560 by nothing, 1000-1010 by 1005-1040 -> 2 of 3
    assert (m.n_reference, m.n_reference_detected) == (3, 2)
    assert m.episode_sensitivity == pytest.approx(2 / 3)
    # detected 150-250 and 1005-1040 overlap a reference episode, 300-340 does not -> 2 of 3
    assert m.episode_ppv == pytest.approx(2 / 3)
    # overlap: 150-200 (50 s) + 1005-1010 (5 s) = 55 s
    assert m.overlap_s == pytest.approx(55.0)
    assert m.duration_sensitivity == pytest.approx(55 / 170)
    assert m.duration_ppv == pytest.approx(55 / 175)
    # burdens over 12 h: 170 / 43200 = 0.3935 %, 175 / 43200 = 0.4051 %; error 5 / 43200 = 0.01157 points
    assert m.reference_burden_pct == pytest.approx(100 * 170 / 43200)
    assert m.detected_burden_pct == pytest.approx(100 * 175 / 43200)
    assert m.burden_error_pct == pytest.approx(100 * 5 / 43200)
    # one false episode (300-340) in 12 h = 2 per 24 h
    assert m.false_positive_episodes == 1
    assert m.false_positives_per_24h == pytest.approx(2.0)


def test_episode_sensitivity_can_count_only_clinical_reference_episodes():
    m = episode_metrics(DETECTED, REFERENCE, total_s=TWELVE_HOURS, min_reference_s=30)
    # the 10 s reference episode no longer counts: 100-200 hit, 500-560 missed -> 1 of 2
    assert (m.n_reference, m.episode_sensitivity) == (2, 0.5)
    assert m.reference_s == 170.0  # durations and burden still use all reference AF
    assert m.episode_ppv == pytest.approx(2 / 3)  # 1005-1040 still overlaps the short reference episode


def test_touching_episodes_do_not_overlap_and_empty_lists_give_nan_ratios():
    m = episode_metrics([Episode(200, 300)], [Episode(100, 200)], total_s=86400)
    assert m.n_reference_detected == 0 and m.n_detected_true == 0 and m.overlap_s == 0.0
    assert m.false_positives_per_24h == 1.0
    none = episode_metrics([], [], total_s=86400)
    assert math.isnan(none.episode_sensitivity) and math.isnan(none.episode_ppv)
    assert none.burden_error_pct == 0.0 and none.false_positives_per_24h == 0.0


def test_pooled_metrics_sum_counts_and_times():
    a = episode_metrics(DETECTED, REFERENCE, total_s=TWELVE_HOURS)
    b = episode_metrics([], [Episode(0, 60)], total_s=TWELVE_HOURS)
    pooled = pool_metrics([a, b])
    # 2 of (3 + 1) reference episodes hit; one false episode in 24 h
    assert pooled.episode_sensitivity == pytest.approx(2 / 4)
    assert pooled.total_s == 2 * TWELVE_HOURS and pooled.false_positives_per_24h == pytest.approx(1.0)


def test_burden_of_episodes_counts_overlapping_episodes_once():
    # 0-60 and 30-90 cover 90 s; plus 10 s -> 100 s of 1000 s = 10 %
    assert burden([Episode(0, 60), Episode(30, 90), Episode(500, 510)], analysable_s=1000) == pytest.approx(10.0)


WINDOWS = _windows((0, 1800, True), (1800, 3000, False), (3000, 4200, True), (4200, 6000, True), (6000, 7200, False),
                   (7200, 9000, True))
ANALYSABLE = np.array([True, True, True, False, True, False])


def test_burden_per_hour_splits_windows_across_hour_boundaries_and_skips_unanalysable_time():
    table = burden_per_hour(*WINDOWS, ANALYSABLE)
    assert list(table.columns) == ["hour", "start_s", "end_s", "analysable_s", "af_s", "burden_pct"]
    assert table["hour"].tolist() == [0, 1, 2]  # up to the last window's end, 9000 s -> 3 hours
    # hour 0: analysable 1800 + 1200 + 600 (first half of 3000-4200) = 3600 s, AF 1800 + 600 = 2400 s -> 66.7 %
    # hour 1: analysable 600 (second half of 3000-4200) + 1200 (6000-7200) = 1800 s, AF 600 s -> 33.3 %
    #         (4200-6000 is AF but not analysable: it counts for neither)
    # hour 2: nothing analysable -> NaN
    np.testing.assert_allclose(table["analysable_s"], [3600, 1800, 0])
    np.testing.assert_allclose(table["af_s"], [2400, 600, 0])
    np.testing.assert_allclose(table["burden_pct"][:2], [200 / 3, 100 / 3])
    assert np.isnan(table["burden_pct"][2])
    # overall: AF 1800 + 1200 = 3000 s of 1800 + 1200 + 1200 + 1200 = 5400 s analysable -> 55.6 %
    assert window_burden(*WINDOWS, ANALYSABLE) == pytest.approx(100 * 3000 / 5400)


def test_covered_fraction_gives_each_windows_share_of_episode_time():
    frac = covered_fraction([Episode(5, 15)], np.array([0.0, 10.0, 20.0]), np.array([10.0, 20.0, 30.0]))
    np.testing.assert_allclose(frac, [0.5, 0.5, 0.0])


# --------------------------------------------------------------------------- real data

SHARED = Path(os.environ.get("ECGSHIFT_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
LTAFDB = SHARED / "hecg-rr" / "ltafdb"
NSR2DB = SHARED / "hecg-rr" / "nsr2db"
MITDB = SHARED / "hecg" / "mitdb"
needs_data = pytest.mark.skipif(not (LTAFDB.is_dir() and NSR2DB.is_dir()), reason=f"shared data absent: {SHARED}")


@pytest.mark.integration
@needs_data
def test_default_detector_finds_most_ltafdb_episodes_and_few_false_ones_in_nsr2db():
    from ecgshift.io import read

    # Fixed choice, not picked by result: the first three LTAFDB records (sorted ids) outside the benchmark's
    # training subset (every 4th record) that contain reference AF episodes >= 30 s: 01, 03, 07.
    metrics = []
    for record_id in ("01", "03", "07"):
        record = read(LTAFDB / f"{record_id}.hea")
        detection = detect_af_rr(record.beats)
        reference = episodes_from_intervals(record.rhythms)
        metrics.append(episode_metrics(detection.episodes, reference, total_s=record.duration_s, min_reference_s=30))
    pooled = pool_metrics(metrics)
    assert pooled.n_reference >= 15
    assert pooled.episode_sensitivity >= 0.8
    assert pooled.duration_sensitivity >= 0.7

    record = read(NSR2DB / "nsr001.hea")
    nsr = episode_metrics(detect_af_rr(record.beats).episodes, [], total_s=record.duration_s)
    assert nsr.false_positives_per_24h <= 1.0
    assert nsr.detected_burden_pct < 1.0  # an always-AF detector would make one 24-h "episode"


@pytest.mark.integration
@pytest.mark.skipif(not MITDB.is_dir(), reason=f"shared data absent: {SHARED}")
@pytest.mark.parametrize("method", ["gqrs", "neurokit"])
def test_rpeaks_from_a_mitbih_waveform_feed_the_detector(method):
    from wfdb import processing

    from ecgshift.io import read

    record = read(MITDB / "202.hea")  # sinus rhythm, then AF from 1143 s to the end with short interruptions
    offset = int(900 * record.fs)
    found = beats_from_signal(record.signal[0, offset:], record.fs, method=method)
    beats = Beats(sample=found.sample + offset, symbol=found.symbol, fs=found.fs)
    reference_beats = record.beats.sample[record.beats.sample >= offset]
    match = processing.compare_annotations(reference_beats, beats.sample, int(0.15 * record.fs))
    assert match.sensitivity >= 0.97 and match.positive_predictivity >= 0.97

    detection = detect_af_rr(beats)
    reference = [e for e in episodes_from_intervals(record.rhythms) if e.end_s > 900]
    m = episode_metrics(detection.episodes, reference, total_s=record.duration_s - 900)
    assert m.n_detected >= 1 and m.n_detected_true == m.n_detected
    assert m.duration_sensitivity >= 0.8 and m.duration_ppv >= 0.8


def test_unknown_rpeak_detector_names_the_known_ones():
    from ecgshift.rhythm.rr import detect_rpeaks

    with pytest.raises(KeyError, match="gqrs, neurokit"):
        detect_rpeaks(np.zeros(1000), 100.0, method="pan")


def test_flat_signal_has_no_rpeaks_with_either_detector():
    from ecgshift.rhythm.rr import detect_rpeaks

    for method in ("gqrs", "neurokit"):
        assert detect_rpeaks(np.full(3000, 0.2), 100.0, method=method).size == 0


def test_median_smoothing_drops_a_lone_irregular_segment_and_keeps_a_run() -> None:
    detector = RRAFDetector(smooth_segments=3)
    p = np.array([0.1, 0.1, 0.95, 0.1, 0.1, 0.9, 0.92, 0.97, 0.1])
    detector.predict_proba = lambda features: np.column_stack([1 - p, p])  # segment p(AF) of one recording
    smoothed = detector.segment_proba(None)
    assert smoothed[2] < 0.5  # a lone segment (a burst of ectopy) is gone
    assert (smoothed[5:8] >= 0.9).all()  # a run of AF segments stays
    assert np.array_equal(RRAFDetector(smooth_segments=1).segment_proba(RRFeatures(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0, bool))), np.zeros(0))
