"""Tests of the modality mix (parse, class-balanced draw at a fixed budget) and of the augmentations."""

from __future__ import annotations


import numpy as np
import pytest

from ecgshift import io
from ecgshift.assets import sample_folder
from ecgshift.augment import (
    AugmentConfig,
    Augmenter,
    add_noise,
    amplitude_scale,
    band_limit,
    baseline_wander,
    beat_resample,
    emg_noise,
    invert,
    quantize,
    time_shift,
)
from ecgshift.mixing import draw_mix, parse_mix
from ecgshift.windows import window_record

FS = 100.0




def _labels(n_af: int, n_sr: int, *, other: int = 0) -> np.ndarray:
    return np.array(["AF"] * n_af + ["SR"] * n_sr + ["other"] * other)


def _drawn_labels(labels: dict[str, np.ndarray], draw) -> dict[str, np.ndarray]:
    return {m: labels[m][idx] for m, idx in draw.indices.items()}


# ---------------------------------------------------------------- parse_mix


def test_parse_mix_normalizes_weights_to_shares() -> None:
    assert parse_mix("tecg=3, recg=1") == pytest.approx({"tecg": 0.75, "recg": 0.25})
    assert parse_mix({"tecg": 0.6, "recg": 0.2, "hecg": 0.2}) == pytest.approx({"tecg": 0.6, "recg": 0.2, "hecg": 0.2})


def test_parse_mix_keeps_zero_shares() -> None:
    assert parse_mix("tecg=1,hecg=0") == {"tecg": 1.0, "hecg": 0.0}


def test_parse_mix_rejects_an_unknown_modality_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown modality 'ecg'.*tecg"):
        parse_mix("ecg=1,tecg=1")


def test_parse_mix_rejects_a_negative_share() -> None:
    with pytest.raises(ValueError, match="recg is negative"):
        parse_mix("tecg=1,recg=-0.5")


@pytest.mark.parametrize("text", ["", " , ", {}])
def test_parse_mix_rejects_an_empty_mix(text) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_mix(text)


def test_parse_mix_rejects_all_zero_shares() -> None:
    with pytest.raises(ValueError, match="zero"):
        parse_mix("tecg=0,recg=0")


@pytest.mark.parametrize("text", ["tecg=nan", "tecg=inf,recg=1"])
def test_parse_mix_rejects_non_finite_shares(text: str) -> None:
    with pytest.raises(ValueError, match="tecg is not a finite number"):
        parse_mix(text)


def test_parse_mix_names_an_entry_without_equals_sign_or_number() -> None:
    with pytest.raises(ValueError, match="'tecg' is not modality=share"):
        parse_mix("tecg")
    with pytest.raises(ValueError, match="'lots' of tecg is not a number"):
        parse_mix("tecg=lots")


# ---------------------------------------------------------------- draw_mix


@pytest.mark.parametrize(
    ("mix", "budget"),
    [("tecg=1,recg=1,hecg=1", 100), ("tecg=0.5,recg=0.2,hecg=0.3", 64), ("tecg=0.6,recg=0.2,hecg=0.2", 7), ("tecg=1", 33)],
)
def test_draw_mix_draws_exactly_the_budget(mix: str, budget: int) -> None:
    labels = {m: _labels(200, 200) for m in ("tecg", "recg", "hecg")}
    draw = draw_mix(labels, parse_mix(mix), budget=budget, seed=0)
    assert sum(idx.size for idx in draw.indices.values()) == budget
    assert sum(c.requested for c in draw.counts) == budget


def test_draw_mix_splits_the_budget_by_share() -> None:
    labels = {m: _labels(200, 200) for m in ("tecg", "recg", "hecg")}
    draw = draw_mix(labels, parse_mix("tecg=0.5,recg=0.2,hecg=0.3"), budget=100, seed=0)
    assert {m: idx.size for m, idx in draw.indices.items()} == {"tecg": 50, "recg": 20, "hecg": 30}


def test_draw_mix_is_class_balanced_within_each_modality() -> None:
    # pools with very different class ratios (AF rare in tECG, common in hECG) and 'other' windows
    labels = {"tecg": _labels(40, 400, other=100), "recg": _labels(30, 90), "hecg": _labels(300, 50, other=20)}
    draw = draw_mix(labels, parse_mix("tecg=0.5,recg=0.2,hecg=0.3"), budget=80, seed=1)
    for modality, drawn in _drawn_labels(labels, draw).items():
        n_af, n_sr = int((drawn == "AF").sum()), int((drawn == "SR").sum())
        assert n_af + n_sr == drawn.size, f"{modality}: a window that is neither AF nor SR was drawn"
        assert abs(n_af - n_sr) <= 1, f"{modality}: {n_af} AF vs {n_sr} SR"


def test_draw_mix_without_shortage_takes_distinct_windows() -> None:
    labels = {"tecg": _labels(100, 100)}
    draw = draw_mix(labels, {"tecg": 1.0}, budget=60, seed=0)
    assert np.unique(draw.indices["tecg"]).size == 60
    assert not any(c.with_replacement for c in draw.counts)


def test_draw_mix_records_drawing_with_replacement_when_a_pool_is_short() -> None:
    labels = {"recg": _labels(3, 100)}
    draw = draw_mix(labels, {"recg": 1.0}, budget=20, seed=0)
    counts = {c.label: c for c in draw.counts}
    assert counts["AF"].requested == 10 and counts["AF"].available == 3
    assert counts["AF"].with_replacement and counts["AF"].drawn_unique == 3
    assert not counts["SR"].with_replacement and counts["SR"].drawn_unique == 10
    drawn = _drawn_labels(labels, draw)["recg"]
    assert (drawn == "AF").sum() == 10  # the short class still gets its half, by repeats
    assert set(np.flatnonzero(labels["recg"] == "AF")) <= set(draw.indices["recg"])  # every AF window used
    table = draw.table()
    assert list(table.columns) == ["modality", "label", "requested", "available", "drawn_unique", "with_replacement"]
    assert table.with_replacement.tolist() == [False, True]  # rows in class order SR, AF


def test_draw_mix_is_deterministic_per_seed_and_differs_between_seeds() -> None:
    labels = {m: _labels(300, 300) for m in ("tecg", "hecg")}
    mix = parse_mix("tecg=0.7,hecg=0.3")
    first = draw_mix(labels, mix, budget=100, seed=7)
    again = draw_mix(labels, mix, budget=100, seed=7)
    other = draw_mix(labels, mix, budget=100, seed=8)
    for m in mix:
        np.testing.assert_array_equal(first.indices[m], again.indices[m])
    assert any(not np.array_equal(first.indices[m], other.indices[m]) for m in mix)


def test_draw_mix_raises_when_a_needed_class_pool_is_empty() -> None:
    labels = {"tecg": _labels(50, 50), "hecg": _labels(0, 50, other=10)}
    with pytest.raises(ValueError, match="no AF windows for hecg"):
        draw_mix(labels, parse_mix("tecg=0.5,hecg=0.5"), budget=20, seed=0)


def test_draw_mix_ignores_an_empty_pool_of_a_zero_share_modality() -> None:
    labels = {"tecg": _labels(50, 50), "hecg": _labels(0, 0)}
    draw = draw_mix(labels, {"tecg": 1.0, "hecg": 0.0}, budget=20, seed=0)
    assert draw.indices["hecg"].size == 0 and draw.indices["tecg"].size == 20


# ---------------------------------------------------------------- augmentations


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """Eight z-scored synthetic ECG-like windows (1 lead, 10 s at 100 Hz)."""
    rng = np.random.default_rng(0)
    t = np.arange(1000) / FS
    x = np.stack([np.sin(2 * np.pi * (1.0 + 0.1 * i) * t) ** 15 + 0.05 * rng.standard_normal(t.size) for i in range(8)])
    x = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    return x[:, None, :].astype(np.float32)


STEPS = {
    "add_noise": add_noise,
    "baseline_wander": baseline_wander,
    "amplitude_scale": amplitude_scale,
    "time_shift": time_shift,
    "invert": invert,
    "beat_resample": beat_resample,
    "band_limit": band_limit,
    "emg_noise": emg_noise,
    "quantize": quantize,
}


@pytest.mark.parametrize("name", list(STEPS))
def test_augmentation_keeps_shape_dtype_and_finite_values(name: str, batch: np.ndarray) -> None:
    out = STEPS[name](batch.copy(), FS, np.random.default_rng(0))
    assert out.shape == batch.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", ["add_noise", "baseline_wander", "amplitude_scale", "time_shift", "beat_resample", "band_limit",
                                  "emg_noise", "quantize"])
def test_augmentation_changes_the_windows(name: str, batch: np.ndarray) -> None:
    out = STEPS[name](batch.copy(), FS, np.random.default_rng(0))
    assert not np.allclose(out, batch)


@pytest.mark.parametrize("name", list(STEPS))
def test_augmentation_does_not_modify_its_input(name: str, batch: np.ndarray) -> None:
    before = batch.copy()
    STEPS[name](batch, FS, np.random.default_rng(0))
    np.testing.assert_array_equal(batch, before)


def test_invert_flips_the_sign(batch: np.ndarray) -> None:
    np.testing.assert_array_equal(invert(batch, FS, np.random.default_rng(0)), -batch)


def test_time_shift_is_a_circular_roll_within_max_s(batch: np.ndarray) -> None:
    out = time_shift(batch, FS, np.random.default_rng(3), max_s=1.0)
    for original, shifted in zip(batch, out):
        matches = [s for s in range(-100, 101) if np.array_equal(np.roll(original, s, axis=-1), shifted)]
        assert matches, "the shifted window is not a roll of the original by at most 1 s"


def test_amplitude_scale_multiplies_each_window_by_one_factor_in_range(batch: np.ndarray) -> None:
    out = amplitude_scale(batch, FS, np.random.default_rng(0), low=0.6, high=1.6)
    factors = out[:, 0, :] / batch[:, 0, :]
    np.testing.assert_allclose(factors, factors[:, :1] * np.ones_like(factors), rtol=1e-5)
    assert np.all((factors[:, 0] >= 0.6 - 1e-6) & (factors[:, 0] <= 1.6 + 1e-6))


def test_baseline_wander_adds_only_slow_content(batch: np.ndarray) -> None:
    added = baseline_wander(batch, FS, np.random.default_rng(0), amplitude=0.5, max_hz=0.5) - batch
    spectrum = np.abs(np.fft.rfft(added[:, 0, :], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(batch.shape[-1], 1 / FS)
    assert spectrum[:, freqs > 2.0].sum() < 0.05 * spectrum.sum()
    assert np.abs(added).max() <= 0.5 + 1e-6


def test_augmenter_output_is_z_scored_per_window(batch: np.ndarray) -> None:
    config = AugmentConfig(noise=1.0, baseline=1.0, scale=1.0, shift=1.0, invert=1.0)
    out = Augmenter(config)(batch, FS, np.random.default_rng(0))
    assert out.shape == batch.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(-1), 1.0, atol=1e-4)


def test_augmenter_is_deterministic_given_the_generator_seed(batch: np.ndarray) -> None:
    augmenter = Augmenter(AugmentConfig(beats=0.5))
    first = augmenter(batch, FS, np.random.default_rng(42))
    again = augmenter(batch, FS, np.random.default_rng(42))
    other = augmenter(batch, FS, np.random.default_rng(43))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_augmenter_with_every_step_disabled_only_renormalizes(batch: np.ndarray) -> None:
    off = AugmentConfig(noise=0, baseline=0, scale=0, shift=0, invert=0, beats=0)
    out = Augmenter(off)(batch * 3.0 + 1.0, FS, np.random.default_rng(0))
    np.testing.assert_allclose(out, batch, atol=1e-4)


def _count_beats(signal: np.ndarray, fs: float) -> int:
    from scipy.signal import find_peaks

    slope = np.abs(np.gradient(signal))
    peaks, _ = find_peaks(slope, height=0.4 * np.quantile(slope, 0.98), distance=int(0.25 * fs))
    return len(peaks)


def test_beat_resample_on_a_real_cinc_window_keeps_length_and_changes_beats() -> None:
    folder = sample_folder()
    record = io.read(folder / "tecg" / "A00002.hea", modality="tecg")  # CinC 2017, sinus rhythm, 300 Hz
    windows = window_record(record)
    x = windows.x
    out = beat_resample(x, windows.fs, np.random.default_rng(0), max_stretch=0.1, max_scale=0.15)
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    for original, resampled in zip(x, out):
        assert not np.allclose(resampled, original), "no R-peaks found: the window came back unchanged"
        # beats are interpolated (never beyond their own range) and scaled by at most 15 %
        assert np.abs(resampled).max() <= 1.15 * np.abs(original).max() + 1e-5
        # each RR interval changes by at most 10 %: the window holds about as many beats as before
        assert abs(_count_beats(resampled[0], windows.fs) - _count_beats(original[0], windows.fs)) <= 2


def _power_above(x: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / FS)
    return float(spectrum[..., freqs > hz].sum() / spectrum.sum())


def test_band_limit_removes_power_above_its_low_pass_corner(batch: np.ndarray) -> None:
    noisy = batch + 0.5 * np.random.default_rng(1).standard_normal(batch.shape).astype(np.float32)
    out = band_limit(noisy, FS, np.random.default_rng(0), low_pass_hz=(15.0, 15.0))
    assert _power_above(out, 25.0) < 0.1 * _power_above(noisy, 25.0)


def test_emg_noise_adds_high_frequency_power_only(batch: np.ndarray) -> None:
    out = emg_noise(batch, FS, np.random.default_rng(0), std=0.5)
    added = out - batch
    assert _power_above(added, 10.0) > 0.9 and np.abs(added).max() > 0


def test_quantize_leaves_each_window_on_a_grid_of_steps_of_at_least_0_01(batch: np.ndarray) -> None:
    out = quantize(batch, FS, np.random.default_rng(0), max_step=0.1)
    for before, window in zip(batch[:, 0, :], out[:, 0, :]):
        levels = np.unique(window)
        assert len(levels) <= (levels[-1] - levels[0]) / 0.01 + 1 < len(np.unique(before))
        assert np.abs(window - before).max() <= 0.05 + 1e-5  # rounding moves a sample by at most half a step
