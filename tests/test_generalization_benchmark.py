"""The scoring helpers of ``benchmarks/generalization.py`` on synthetic window tables, and its predict step on real records."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generalization as gen  # noqa: E402


def windows(record: str, calls: list[int], *, label: str, step_s: float = 10.0, af_share: float | None = None) -> pd.DataFrame:
    """Consecutive 10-s windows of one record; ``calls``: 1 = called AF (p 0.9), 0 = not (p 0.1)."""
    start = np.arange(len(calls)) * step_s
    return pd.DataFrame({"record_id": record, "status": "ok", "start_s": start, "end_s": start + 10.0,
                         "p_af": np.where(np.asarray(calls) == 1, 0.9, 0.1), "threshold": 0.5, "window_label": label,
                         "record_label": label, "record_af_share": float(label == "AF") if af_share is None else af_share,
                         "decided_by": "network", "excluded": 0})


def test_balanced_accuracy_is_the_mean_of_sensitivity_and_specificity() -> None:
    table = pd.concat([windows("af1", [1, 1, 1, 0], label="AF"), windows("af2", [1, 0, 0, 0], label="AF"),
                       windows("sr1", [0, 0, 0, 0], label="SR"), windows("sr2", [0, 0, 1, 1], label="SR"),
                       windows("sr3", [0, 0, 0, 0], label="SR")])
    records, win = gen.score_dataset("cinc2017", table)
    assert records["n"] == 5 and records["n_af"] == 2
    for row in (records, win):
        assert row["balanced_accuracy"].value == pytest.approx((row["sensitivity"].value + row["specificity"].value) / 2)
    assert win["sensitivity"].value == pytest.approx(4 / 8) and win["specificity"].value == pytest.approx(10 / 12)


def test_false_af_episodes_follow_the_holter_rule_and_count_per_24_h() -> None:
    # one 40-s run of AF calls (an episode), one lone 10-s AF window (too short), and a record with none
    table = pd.concat([windows("p01", [0, 1, 1, 1, 1, 0, 1, 0], label="SR"), windows("p02", [0] * 8, label="SR")])
    assert gen.false_af_episodes(table, 0.5) == {"false_af_episodes": 1, "false_af_per_24h": pytest.approx(1 / (160 / 3600) * 24),
                                                 "records_with_false_af": 1, "analysed_h": pytest.approx(160 / 3600)}
    records, win = gen.score_dataset("afpdb", table)
    assert win["af_called"].value == pytest.approx(5 / 16)
    assert records["af_called"].value == 0.5  # p01: mean p(AF) (5 × 0.9 + 3 × 0.1) / 8 = 0.6 ≥ 0.5


def test_half_overlapping_windows_are_counted_once_in_the_analysed_time() -> None:
    table = windows("a01", [1] * 11, label="AF", step_s=5.0)  # 60 s in 11 half-overlapping 10-s windows
    assert gen._covered_hours(table.start_s.to_numpy(), table.end_s.to_numpy()) == pytest.approx(60 / 3600)
    records, win = gen.score_dataset("aftdb", table)
    assert records["sensitivity"].value == 1.0 and win["n"] == 11


def test_lodo_plans_leave_out_each_dataset_once_and_add_a_tecg_specialist() -> None:
    plans = gen.lodo_plans()
    assert set(plans) == {f"without-{d}" for d in gen.LODO_POOL} | {"tecg-only"}
    for name, (datasets, _) in plans.items():
        if name.startswith("without-"):
            assert name.removeprefix("without-") not in datasets and len(datasets) == len(gen.LODO_POOL) - 1
    assert plans["tecg-only"] == (("cinc2017",), {"tecg": 1.0})


def test_the_shipped_model_saw_the_three_training_datasets_and_not_the_second_recorder() -> None:
    from ecgshift.predictor import load_model

    seen = gen.seen_datasets(None, load_model(None))
    assert set(seen) == {"cinc2017", "ptbxl", "mitdb"}


@pytest.mark.integration
def test_the_benchmark_predicts_real_aftdb_records_the_way_predict_does(shared_data: Path) -> None:
    from ecgshift.batch import predict_path
    from ecgshift.datasets import load_dataset
    from ecgshift.predictor import load_model

    model = load_model(None)
    dataset = load_dataset("aftdb", data_root=shared_data)
    rows = dataset.describe().head(2)
    table = gen.predict_dataset(model, dataset, rows, mc=2, fusion=None, log=lambda _: None)
    assert set(table.record_id) == set(rows.record_id) and (table.status == "ok").all()
    assert (table.window_label == "AF").all() and table.decided_by.eq("network").all()
    direct = predict_path(model, dataset.root / rows.path.iloc[0], mc=2)
    mine = table[table.record_id == rows.record_id.iloc[0]]
    np.testing.assert_allclose(mine.p_af.to_numpy(), direct.predictions.p_af, atol=1e-6)
