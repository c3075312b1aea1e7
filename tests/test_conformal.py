"""Conformal referral (ecgshift.conformal): per-class coverage on exchangeable synthetic data, at any prevalence;
where empty and double sets appear; the budget solver; the reason vocabulary; conformal.json; bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgshift.conformal import (
    CONFORMAL_FILE,
    ConformalCalibration,
    fit_conformal,
    load_conformal,
    prediction_sets,
    referral_budget,
    referral_reasons,
    save_conformal,
    venn_abers,
)
from ecgshift.errors import ModelFileError
from ecgshift.predictor import default_model_path, load_model


def _scores(rng, n, prevalence, *, separation=2.0):
    """Exchangeable synthetic units: y ~ Bernoulli(prevalence), p(AF) a noisy logistic score of y."""
    y = (rng.random(n) < prevalence).astype(int)
    z = rng.normal(0, 1.2, n) + np.where(y == 1, separation, -separation)
    return 1 / (1 + np.exp(-z)), y


def test_per_class_coverage_on_exchangeable_data_is_at_least_one_minus_alpha() -> None:
    rng = np.random.default_rng(0)
    alpha, coverage = 0.1, {0: [], 1: []}
    for _ in range(200):
        p, y = _scores(rng, 400, 0.2)
        cal = fit_conformal(p[:200], y[:200], "tecg")
        covered = prediction_sets(cal, p[200:], "tecg", alpha=alpha).covers(y[200:])
        for c in (0, 1):
            coverage[c].append(covered[y[200:] == c].mean())
    for c in (0, 1):
        mean = np.mean(coverage[c])
        # ≥ 1 − α in expectation; and not much more (≤ 1 − α + 1/(n_c + 1) + noise): the quantile is not too loose
        assert mean >= 1 - alpha - 0.01, (c, mean)
        assert mean <= 1 - alpha + 0.06, (c, mean)


def test_label_conditional_coverage_holds_when_the_prevalence_changes() -> None:
    rng = np.random.default_rng(1)
    alpha = 0.1
    cov_af, cov_sr = [], []
    for _ in range(100):
        p, y = _scores(rng, 600, 0.1)  # calibrate at 10 % AF
        cal = fit_conformal(p, y, "hecg")
        p_test, y_test = _scores(rng, 600, 0.5)  # test at 50 % AF
        sets = prediction_sets(cal, p_test, "hecg", alpha=alpha)
        covered = sets.covers(y_test)
        cov_af.append(covered[y_test == 1].mean())
        cov_sr.append(covered[y_test == 0].mean())
    assert np.mean(cov_af) >= 1 - alpha - 0.01
    assert np.mean(cov_sr) >= 1 - alpha - 0.01


def test_double_sets_at_small_alpha_and_empty_sets_at_large_alpha() -> None:
    rng = np.random.default_rng(2)
    p, y = _scores(rng, 2000, 0.3, separation=0.8)  # overlapping classes
    cal = fit_conformal(p, y, "recg")
    small = prediction_sets(cal, np.array([0.5]), "recg", alpha=0.01)
    assert small.label.tolist() == ["AF+SR"] and small.uncertain.all() and small.refer.all()
    large = prediction_sets(cal, np.array([0.5]), "recg", alpha=0.45)
    assert large.label.tolist() == ["none"] and large.neither.all() and large.refer.all()
    confident = prediction_sets(cal, np.array([0.0001, 0.9999]), "recg", alpha=0.1)
    assert confident.label.tolist() == ["SR", "AF"] and not confident.refer.any()


def test_alpha_below_one_over_n_plus_one_keeps_every_class() -> None:
    cal = fit_conformal(np.array([0.1, 0.2, 0.9, 0.8]), np.array([0, 0, 1, 1]), "tecg")  # n = 2 per class
    sets = prediction_sets(cal, np.array([0.0, 1.0]), "tecg", alpha=0.3)  # 1/(n+1) = 0.33 > 0.3
    assert sets.label.tolist() == ["AF+SR", "AF+SR"]


def test_modalities_are_calibrated_separately() -> None:
    p = np.array([0.1, 0.2, 0.8, 0.9, 0.4, 0.45, 0.55, 0.6] * 10)
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1] * 10)
    modality = np.tile(np.array(["tecg"] * 4 + ["hecg"] * 4), 10)
    cal = fit_conformal(p, y, modality)
    assert cal.n("tecg", "AF") == 20 and cal.n("hecg", "SR") == 20
    assert cal.threshold("tecg", "SR", alpha=0.1) == pytest.approx(0.2)
    assert cal.threshold("hecg", "SR", alpha=0.1) == pytest.approx(0.45)
    with pytest.raises(ValueError, match="no conformal calibration for modality 'recg'"):
        prediction_sets(cal, [0.5], "recg", alpha=0.1)


def test_the_budget_solver_says_what_is_broken_and_the_alpha_that_fits() -> None:
    rng = np.random.default_rng(3)
    p, y = _scores(rng, 1000, 0.3, separation=1.0)
    cal = fit_conformal(p, y, "tecg")
    p_new, _ = _scores(rng, 500, 0.3, separation=1.0)
    tight = referral_budget(cal, p_new, "tecg", alpha=0.02, max_referral=0.1)
    assert not tight.holds and tight.broken == "max_referral" and tight.excess > 0
    assert tight.alpha_fit > 0.02 and tight.referral_rate_fit <= 0.1 and tight.coverage_fit == pytest.approx(1 - tight.alpha_fit)
    assert prediction_sets(cal, p_new, "tecg", alpha=tight.alpha_fit).refer.mean() <= 0.1
    assert "over the referral budget" in str(tight) and "\n" not in str(tight)
    loose = referral_budget(cal, p_new, "tecg", alpha=0.02, max_referral=1.0)
    assert loose.holds and loose.broken == "" and "within" in str(loose)


def test_referral_reasons_compose_one_vocabulary_in_a_fixed_order() -> None:
    reasons = referral_reasons(uncertain=np.array([True, False, False, True]), unlike_training=np.array([False, False, True, True]),
                               implausible_fs=np.array([False, False, False, True]))
    assert reasons.tolist() == ["uncertain", "", "unlike training", "implausible fs; unlike training; uncertain"]
    assert referral_reasons(quality=True).item() == "quality"


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "x"])
def test_alpha_outside_zero_one_is_a_one_line_error(alpha) -> None:
    cal = fit_conformal(np.array([0.1, 0.9]), np.array([0, 1]), "tecg")
    with pytest.raises(ValueError, match="alpha") as exc:
        prediction_sets(cal, [0.5], "tecg", alpha=alpha)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("budget", [-0.01, 1.01, float("nan"), None])
def test_a_budget_outside_zero_one_is_a_one_line_error(budget) -> None:
    cal = fit_conformal(np.array([0.1, 0.9]), np.array([0, 1]), "tecg")
    with pytest.raises(ValueError, match="max referral") as exc:
        referral_budget(cal, [0.5], "tecg", alpha=0.1, max_referral=budget)
    assert "\n" not in str(exc.value)


def test_json_round_trip_keeps_every_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    p, y = _scores(rng, 300, 0.2)
    cal = fit_conformal(p, y, np.where(np.arange(300) % 2, "tecg", "hecg"), source="synthetic")
    save_conformal(tmp_path, cal)
    back = load_conformal(tmp_path)
    assert back.source == "synthetic" and back.units == {"hecg": "windows", "tecg": "records"}
    for m in ("tecg", "hecg"):
        for c in ("AF", "SR"):
            for alpha in (0.01, 0.05, 0.2):
                assert back.threshold(m, c, alpha=alpha) == pytest.approx(cal.threshold(m, c, alpha=alpha), abs=1e-6)


def test_a_broken_conformal_json_is_a_one_line_model_file_error(tmp_path: Path) -> None:
    (tmp_path / CONFORMAL_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelFileError, match="conformal") as exc:
        load_conformal(tmp_path)
    assert "\n" not in str(exc.value)
    assert load_conformal(tmp_path / "nowhere") is None


def test_a_model_folder_without_calibration_loads_and_says_so(tmp_path: Path) -> None:
    run = tmp_path / "old_run"
    shutil.copytree(default_model_path(), run)
    (run / CONFORMAL_FILE).unlink(missing_ok=True)
    model = load_model(run)
    assert model.conformal is None
    pred = model.predict_windows(np.zeros((1, 1, 1000), np.float32), mc=2)
    with pytest.raises(ValueError, match="has no conformal calibration") as exc:
        model.prediction_sets(pred, alpha=0.05)
    assert "\n" not in str(exc.value)


def test_the_shipped_model_has_a_calibration_and_gives_sets() -> None:
    model = load_model()
    assert isinstance(model.conformal, ConformalCalibration)
    assert set(model.conformal.modalities) == {"tecg", "recg", "hecg"}
    rng = np.random.default_rng(5)
    pred = model.predict_windows(rng.normal(0, 1, (3, 1, 1000)).astype(np.float32), mc=2)
    sets = model.prediction_sets(pred, alpha=0.05)
    assert len(sets) == 3 and set(sets.label) <= {"AF", "SR", "AF+SR", "none"}
    assert model.prediction_sets(pred, alpha=0.05, modality="tecg").alpha == 0.05


def test_venn_abers_brackets_and_is_monotone() -> None:
    rng = np.random.default_rng(6)
    p, y = _scores(rng, 400, 0.3)
    p0, p1, merged = venn_abers(p, y, np.array([0.05, 0.5, 0.95]))
    assert np.all(p0 <= p1 + 1e-12) and np.all((merged >= p0 - 1e-12) & (merged <= p1 + 1e-12))
    assert np.all(np.diff(merged) >= 0)
