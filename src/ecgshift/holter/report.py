"""Outputs of a Holter analysis: an episodes CSV, a windows CSV, the episodes as a WFDB annotation file, a JSON summary,
and the self-contained HTML timeline (drawn by :mod:`ecgshift.holter.timeline`).

A recording whose file states a start time (:attr:`HolterResult.start_time`) gets clock times beside the elapsed
ones (:mod:`ecgshift.clock`): ``start_clock`` / ``end_clock`` in episodes.csv, ``start_time`` in summary.json, a
clock axis on the timeline and a clock column in its strip table; without one, those stay empty.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.clock import clock_text
from ecgshift.holter.analysis import HolterResult
from ecgshift.rhythm.burden import UNDETERMINED_ABOVE

__all__ = ["EPISODE_COLUMNS", "WINDOWS_CSV_COLUMNS", "episodes_frame", "windows_frame", "summary_dict", "summary_row", "conformal_dict",
           "write_episodes_csv", "write_windows_csv", "write_summary_json", "write_episode_annotations", "write_outputs"]

EPISODE_COLUMNS = ("episode", "start_s", "end_s", "duration_s", "start_hms", "end_hms", "start_clock", "end_clock",
                   "mean_p_af", "mean_entropy", "review_windows", "rr_af_calls", "rr_non_af_calls")
#: Columns of ``windows.csv`` (``reference`` only with reference annotations: AF, non-AF or mixed by the 90 % rule;
#: ``conformal_set`` / ``referral_reason`` only with a conformal level, ``HolterConfig.alpha``).
WINDOWS_CSV_COLUMNS = ("start_s", "end_s", "quality", "p_af", "p_af_decided", "is_af", "af_fraction", "entropy", "review",
                       "shift_score", "decided_by", "in_episode", "reference", "conformal_set", "referral_reason")
def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _config_items(config) -> dict:
    """A config's fields as JSON values, the fields of a nested config (e.g. ``HolterConfig.quality``) inlined."""
    out = {}
    for key, value in vars(config).items():
        out.update(_config_items(value) if dataclasses.is_dataclass(value) else {key: _num(value)})
    return out


def _num(value) -> float | int | bool | str | None:
    """JSON-safe scalars: NaN → None, numpy → Python."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    return value


def episodes_frame(result: HolterResult) -> pd.DataFrame:
    """One row per detected AF episode, with the RR detector's calls on its review windows."""
    w = result.windows
    rows = []
    for k, e in enumerate(result.episodes, start=1):
        inside = (w.start_s >= e.start_s) & (w.end_s <= e.end_s) & w.review
        rows.append({
            "episode": k, "start_s": e.start_s, "end_s": e.end_s, "duration_s": e.duration_s,
            "start_hms": _hms(e.start_s), "end_hms": _hms(e.end_s), "start_clock": clock_text(result.start_time, e.start_s),
            "end_clock": clock_text(result.start_time, e.end_s), "mean_p_af": e.mean_p_af, "mean_entropy": e.mean_uncertainty,
            "review_windows": int(inside.sum()), "rr_af_calls": int((w.rr_call[inside] == "AF").sum()),
            "rr_non_af_calls": int((w.rr_call[inside] == "non-AF").sum()),
        })
    return pd.DataFrame(rows, columns=list(EPISODE_COLUMNS))


def summary_dict(result: HolterResult) -> dict:
    """Everything a reader needs about one recording, JSON-ready."""
    w = result.windows
    review = w[w.review]
    out = {
        "record": result.record_id, "path": result.path, "model": result.model, "fs": result.fs, "lead": result.lead,
        "window_s": result.window_s, "duration_s": result.duration_s, "duration_hms": _hms(result.duration_s),
        "start_time": clock_text(result.start_time) or None, "end_time": clock_text(result.start_time, result.duration_s) or None,
        "analysed_s": result.account.analysed_s,
        "unanalysable_s": {k: _num(v) for k, v in result.account.unanalysable_s.items()},
        "accounted_s": result.account.accounted_s,
        "burden_pct": _num(result.burden_pct), "n_episodes": len(result.episodes),
        **_af_block(result),
        "decision": "rhythm fusion" if result.decision == "fusion" else "network p(AF) >= 0.5, RR override on review windows",
        "review_threshold_entropy": _num(result.review_threshold), "n_windows": len(w), "n_review_windows": int(len(review)),
        "rr_second_opinion": {c: int((review.rr_call == c).sum()) for c in ("AF", "non-AF", "no call")},
        "episodes": [{k: _num(v) for k, v in row.items()} for row in episodes_frame(result).to_dict("records")],
        "burden_per_hour": [{k: _num(v) for k, v in row.items()} for row in result.burden_per_hour.to_dict("records")],
        "conformal": conformal_dict(result),
        "problems": list(result.problems), "seconds": round(result.seconds, 3),
        "config": _config_items(result.config),
    }
    if result.evaluation is not None:
        ev, em = result.evaluation, result.evaluation.episodes
        out["reference"] = {
            "af_windows": ev.n_af_windows, "non_af_windows": ev.n_non_af_windows, "mixed_windows": ev.n_mixed_windows,
            "window_sensitivity": _num(ev.window_sensitivity), "window_specificity": _num(ev.window_specificity),
            "episode_sensitivity": _num(em.episode_sensitivity), "episode_ppv": _num(em.episode_ppv),
            "duration_sensitivity": _num(em.duration_sensitivity), "duration_ppv": _num(em.duration_ppv),
            "reference_episodes": em.n_reference, "detected_episodes": em.n_detected,
            "reference_burden_pct": _num(ev.reference_burden_pct), "detected_burden_pct": _num(ev.detected_burden_pct),
            "burden_error_pct": _num(ev.burden_error_pct),
            "reference_class": ev.reference_class, "detected_class": ev.detected_class,
        }
    return out


def conformal_dict(result: HolterResult) -> dict | None:
    """The conformal block of summary.json (None without ``HolterConfig.alpha``): α, what it covers, windows per set
    and per referral reason, the referral rate and the budget check."""
    c = result.conformal
    if c is None:
        return None
    budget = None
    if c.budget is not None:
        b = c.budget
        budget = {"max_referral": _num(b.max_referral), "holds": bool(b.holds), "broken": b.broken or None, "excess": _num(b.excess),
                  "alpha_fit": _num(b.alpha_fit), "coverage_fit": _num(b.coverage_fit), "referral_rate_fit": _num(b.referral_rate_fit),
                  "text": str(b)}
    return {"alpha": _num(c.alpha), "unit": "10-s window, hECG cells (network p(AF))", "guarantee": f"per-class coverage >= {1 - c.alpha:g} "
            "for windows like the hECG calibration windows (exchangeable); not under device shift",
            "n_windows": c.n_windows, "sets": c.sets, "referral_reasons": c.reasons, "referral_rate": _num(c.referral_rate), "budget": budget}


def _af_block(result: HolterResult) -> dict:
    """AF time, burden interval, runs, verdict and class (:mod:`ecgshift.rhythm.burden`); ``af_time_s`` is AF time
    (beat-resolved), ``episode_time_s`` the time inside episodes (bridged gaps included)."""
    af = result.af
    if af is None:
        return {}
    figures = {k: _num(v) for k, v in af.to_dict().items()}
    return {**figures, "burden_interval_pct": [figures["af_burden_low_pct"], figures["af_burden_high_pct"]],
            "undetermined_above_pct": 100 * UNDETERMINED_ABOVE,
            "short_af_runs": [{"start_s": _num(r.start_s), "end_s": _num(r.end_s), "duration_s": _num(r.duration_s)} for r in af.short_runs]}


_AF_ROW_KEYS = ("af_burden_pct", "af_burden_low_pct", "af_burden_high_pct", "burden_determinable", "uncertain_pct", "burden_text",
                "episode_time_s", "longest_episode_s", "n_short_af_runs", "short_af_run_time_s", "af_verdict", "record_class", "beat_resolved")


def summary_row(result: HolterResult) -> dict:
    """The flat row of ``holter_summary.csv`` for a recording that was analysed."""
    s = summary_dict(result)
    row = {k: s[k] for k in ("record", "path", "start_time", "duration_s", "analysed_s", "burden_pct", "n_episodes", "af_time_s",
                             "n_windows", "n_review_windows")}
    row.update({k: s[k] for k in _AF_ROW_KEYS if k in s})
    row.update({f"unanalysable_{k}_s": v for k, v in s["unanalysable_s"].items()})
    row.update({f"rr_{k.replace(' ', '_').replace('-', '_')}": v for k, v in s["rr_second_opinion"].items()})
    if s["conformal"] is not None:
        c = s["conformal"]
        row.update({"alpha": c["alpha"], "conformal_referral_rate": c["referral_rate"], "conformal_uncertain_windows": c["sets"]["AF+SR"],
                    "conformal_neither_windows": c["sets"]["none"],
                    "referral_budget": "" if c["budget"] is None else ("holds" if c["budget"]["holds"] else f"broken by {100 * c['budget']['excess']:.1f} points")})
    for key, value in s.get("reference", {}).items():
        row[f"ref_{key}"] = value
    row["problems"] = " | ".join(result.problems)
    return row


def windows_frame(result: HolterResult) -> pd.DataFrame:
    """One row per window (:data:`WINDOWS_CSV_COLUMNS`): the network's and the decided p(AF), the decision and its rule,
    the share of the window in beat-resolved AF runs, uncertainty, shift, quality, and the reference label if annotated."""
    w = result.windows
    decided = w["p_af_fused"].where(w["p_af_fused"].notna(), w["p_af"]) if "p_af_fused" in w else w["p_af"]
    frame = w.assign(p_af_decided=decided.where(w.quality == "ok"))
    if "ref_af_fraction" in w:
        frac = w["ref_af_fraction"].to_numpy(float)
        frame["reference"] = np.where(frac >= result.af_threshold, "AF", np.where(frac <= 1 - result.af_threshold, "non-AF", "mixed"))
    else:
        frame["reference"] = ""
    for column in WINDOWS_CSV_COLUMNS:
        if column not in frame:
            frame[column] = "" if column in ("conformal_set", "referral_reason") else np.nan
    return frame[list(WINDOWS_CSV_COLUMNS)]


def write_windows_csv(result: HolterResult, path: str | Path) -> Path:
    path = Path(path)
    windows_frame(result).to_csv(path, index=False)
    return path


def write_episodes_csv(result: HolterResult, path: str | Path) -> Path:
    path = Path(path)
    episodes_frame(result).to_csv(path, index=False)
    return path


def write_summary_json(result: HolterResult, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(summary_dict(result), indent=2))
    return path


def write_episode_annotations(result: HolterResult, folder: str | Path) -> Path:
    """The detected AF episodes as the WFDB annotation file ``<folder>/<record>.af`` (+ a signal-less
    ``<record>.hea``): :func:`ecgshift.io.annotations.write_af_annotations`."""
    from ecgshift.io.annotations import write_af_annotations

    return write_af_annotations(folder, result.record_id, [(e.start_s, e.end_s) for e in result.episodes], fs=result.fs,
                                duration_s=result.duration_s, start_time=result.start_time)


def write_outputs(result: HolterResult, folder: str | Path) -> dict[str, Path]:
    """``episodes.csv``, ``windows.csv``, ``summary.json``, ``timeline.html`` and the episodes as WFDB annotations
    (``<record>.af`` with a signal-less ``<record>.hea``) of one recording in ``folder``."""
    from ecgshift.holter.timeline import write_timeline_html  # the timeline module draws from this one's tables

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "episodes": write_episodes_csv(result, folder / "episodes.csv"),
        "windows": write_windows_csv(result, folder / "windows.csv"),
        "summary": write_summary_json(result, folder / "summary.json"),
        "annotations": write_episode_annotations(result, folder),
        "timeline": write_timeline_html(result, folder / "timeline.html"),
    }
