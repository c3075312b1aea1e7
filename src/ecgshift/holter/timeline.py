"""The Holter timeline: one self-contained HTML page per recording — p(AF), uncertainty, episodes and unanalysable time
along the recording, the burden headline, and ECG strips (:mod:`ecgshift.strips`) at every episode's onset and offset
(the first :data:`MAX_EPISODE_STRIPS` episodes) and at the :data:`MAX_REVIEW_STRIPS` most uncertain review windows,
with clock times when the file states a start time.

The HTML embeds its figures as base64 PNG and its style inline: no script, no external file, no network request — it
opens offline and can be mailed as is. Figures are drawn with matplotlib's object API (``Figure`` + Agg canvas), so no
global pyplot state is touched; text from files is drawn without mathtext (a ``$`` in a record name is a dollar).
"""

from __future__ import annotations

import base64
import html
import io as _io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.clock import clock_text, clock_time
from ecgshift.holter.analysis import HolterResult
from ecgshift.rhythm.burden import UNDETERMINED_ABOVE
from ecgshift.strips import PLAIN_TEXT

from ecgshift.holter.report import _hms, episodes_frame, summary_dict

__all__ = ["MAX_EPISODE_STRIPS", "MAX_REVIEW_STRIPS", "timeline_figures", "strip_table", "strips_html", "write_timeline_html"]

#: Episodes whose onset and offset get an ECG strip in the timeline (the first ones in time; all are in episodes.csv).
#: Each strip costs ~0.2 s to render (PNG at 120 dpi): 20 episodes + 12 review strips were ~10 s of a 24-h
#: `ecgshift holter` run (2026-12-02), so since then 10 + 8.
MAX_EPISODE_STRIPS = 10
#: Review windows (entropy above the threshold) that get a strip: the most uncertain ones.
MAX_REVIEW_STRIPS = 8
#: Seconds of ECG on each side of an episode onset or offset in its strip (a 10-s strip, like one window).
STRIP_HALF_S = 5.0
_REASON_COLOURS = {"gap": "#9e9e9e", "flat": "#616161", "saturated": "#8d6e63", "noise": "#bdbdbd",
                   "unreadable": "#424242", "tail": "#e0e0e0"}


def _clock_axis(ax, result: HolterResult, scale: float) -> None:
    """Clock times along the top of ``ax`` (x in ``scale`` seconds from the start), when the recording has a start time."""
    if result.start_time is None:
        return
    from matplotlib.ticker import FuncFormatter

    top = ax.secondary_xaxis("top")
    with_date = result.duration_s > 20 * 3600 or (clock_time(result.start_time, result.duration_s).date() != result.start_time.date())
    fmt = "%d %b %H:%M" if with_date else "%H:%M:%S" if result.duration_s < 600 else "%H:%M"
    top.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock_time(result.start_time, x * scale).strftime(fmt)))
    top.tick_params(labelsize=7)
    top.set_xlabel(f"clock time (start {clock_text(result.start_time)})", fontsize=8, **PLAIN_TEXT)


def strip_table(result: HolterResult) -> pd.DataFrame:
    """The strips of the timeline, one row each: what it shows (``episode k onset`` / ``offset``, ``review``), the
    moment (``at_s``; a review window's start), the strip's span (``start_s``, ``end_s``), elapsed and clock time of the
    moment, and p(AF) / entropy (the episode's means, or the window's)."""
    rows = []
    duration = result.duration_s

    def span(at: float) -> tuple[float, float]:
        a = min(max(0.0, at - STRIP_HALF_S), max(0.0, duration - 2 * STRIP_HALF_S))
        return a, min(duration, a + 2 * STRIP_HALF_S)

    for k, e in enumerate(result.episodes[:MAX_EPISODE_STRIPS], start=1):
        for what, at in (("onset", e.start_s), ("offset", e.end_s)):
            a, b = span(at)
            rows.append({"strip": f"episode {k} {what}", "at_s": at, "start_s": a, "end_s": b, "p_af": e.mean_p_af,
                         "entropy": e.mean_uncertainty})
    w = result.windows
    review = w[w.review.astype(bool) & (w.quality == "ok")].sort_values("entropy", ascending=False).head(MAX_REVIEW_STRIPS)
    p_col = "p_af_fused" if "p_af_fused" in w and np.isfinite(w.p_af_fused.to_numpy(float)).any() else "p_af"
    for row in review.sort_values("start_s").itertuples(index=False):
        p = getattr(row, p_col)
        rows.append({"strip": "review (uncertain)", "at_s": row.start_s, "start_s": row.start_s, "end_s": row.end_s,
                     "p_af": row.p_af if not np.isfinite(p) else p, "entropy": row.entropy})
    frame = pd.DataFrame(rows, columns=["strip", "at_s", "start_s", "end_s", "p_af", "entropy"])
    frame.insert(2, "at_hms", [_hms(t) for t in frame.at_s])
    frame.insert(3, "at_clock", [clock_text(result.start_time, t) for t in frame.at_s])
    return frame


def strips_html(result: HolterResult) -> str:
    """The timeline's strip section: a table of the strips' times and the strips themselves (PNG, inline)."""
    from ecgshift.errors import BadInputError
    from ecgshift.strips import draw_strip, figure_png

    table = strip_table(result)
    parts = ["<h2>ECG strips</h2>",
             "<p class='note'>The signal as recorded (lead " + html.escape(result.lead) + ", unfiltered, drawn about each strip's median) "
             "on ECG paper: 25 mm/s, 10 mm/mV, 1-mm and 5-mm squares; a blue dashed line marks an episode onset or offset. "
             f"Strips at the onset and offset of the first {MAX_EPISODE_STRIPS} episodes ({len(result.episodes)} detected) "
             f"and of the {MAX_REVIEW_STRIPS} most uncertain review windows.</p>"]
    shown = table.drop(columns=["at_clock"]) if result.start_time is None else table
    parts.append(_table(shown.rename(columns={"at_s": "at (s)", "at_hms": "at (elapsed)", "at_clock": "at (clock)"})))
    for row in table.itertuples(index=False):
        try:
            fig = draw_strip(result.path, row.start_s, row.end_s, lead=result.lead, fs=result.fs, title=f"{result.record_id}: {row.strip}",
                             mark_s=row.at_s if row.strip.startswith("episode") else None)
        except BadInputError as exc:
            parts.append(f"<p class='note'>{html.escape(row.strip)}: no strip ({html.escape(exc.problem)})</p>")
            continue
        alt = f"ECG strip: {row.strip} at {row.at_hms}"
        parts.append(f'<figure><img class="strip" alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,'
                     f'{base64.b64encode(figure_png(fig)).decode("ascii")}"><figcaption>{html.escape(row.strip)} · {row.at_hms}'
                     f'{" · " + html.escape(row.at_clock) if row.at_clock else ""}</figcaption></figure>')
    return "\n".join(parts)


def _runs(mask: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous stretches of True windows as (start, width)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    firsts, lasts = np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]]
    return [(float(start[a]), float(end[b] - start[a])) for a, b in zip(firsts, lasts)]


def timeline_figures(result: HolterResult) -> list:
    """The timeline (p(AF) ± 1.96 MC std, lanes, entropy) and the per-hour burden, as matplotlib Figures."""
    from matplotlib.figure import Figure

    w = result.windows
    scale = 3600.0 if result.duration_s > 2 * 3600 else 60.0
    unit = "h" if scale == 3600.0 else "min"
    t0, t1 = w.start_s.to_numpy() / scale, w.end_s.to_numpy() / scale
    mid = (t0 + t1) / 2
    p, sd, h = w.p_af.to_numpy(), w["std"].to_numpy(), w.entropy.to_numpy()
    fig = Figure(figsize=(12, 7.2), dpi=100, layout="constrained")
    ax_p, ax_l, ax_h = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.6, 1.4]})
    quality = w.quality.to_numpy()
    for reason, colour in _REASON_COLOURS.items():
        for a, width in _runs(quality == reason, w.start_s.to_numpy(), w.end_s.to_numpy()):
            ax_p.axvspan(a / scale, (a + width) / scale, color=colour, alpha=0.5, lw=0)
    ax_p.fill_between(mid, np.clip(p - 1.96 * sd, 0, 1), np.clip(p + 1.96 * sd, 0, 1), color="#1f77b4", alpha=0.3, lw=0,
                      label="MC spread (± 1.96 std)")
    ax_p.plot(mid, p, color="#1f77b4", lw=0.7, label="p(AF), network")
    fused = w.p_af_fused.to_numpy(float)
    if np.isfinite(fused).any():
        ax_p.plot(mid, fused, color="#d62728", lw=0.7, alpha=0.8, label="p(AF), with rhythm evidence (decides)")
    ax_p.axhline(0.5, color="k", lw=0.6, ls=":")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_ylabel("p(AF)")
    ax_p.legend(loc="upper right", fontsize=8)
    ax_p.set_title(f"{result.record_id}: {_hms(result.duration_s)} recorded, lead {result.lead}; grey = unanalysable", **PLAIN_TEXT)
    lanes = [("detected AF", [(e.start_s, e.duration_s) for e in result.episodes], "#d62728")]
    if result.af is not None:
        lanes.append(("AF runs (beats)", [(r.start_s, r.duration_s) for r in result.af.runs], "#ff9896"))
    if result.reference_episodes is not None:
        lanes.append(("reference AF", [(e.start_s, e.duration_s) for e in result.reference_episodes], "#2ca02c"))
    lanes.append(("review", _runs(w.review.to_numpy(), w.start_s.to_numpy(), w.end_s.to_numpy()), "#ff7f0e"))
    lanes.append(("unanalysable", _runs(quality != "ok", w.start_s.to_numpy(), w.end_s.to_numpy()), "#757575"))
    for row, (name, spans, colour) in enumerate(lanes):
        ax_l.broken_barh([(a / scale, d / scale) for a, d in spans], (row + 0.15, 0.7), facecolors=colour,
                         edgecolors=colour, linewidth=0.6)
    ax_l.set_yticks([i + 0.5 for i in range(len(lanes))], [n for n, _, _ in lanes], fontsize=8)
    ax_l.set_ylim(0, len(lanes))
    ax_l.invert_yaxis()
    ax_h.plot(mid, h, color="#9467bd", lw=0.6)
    if np.isfinite(result.review_threshold):
        ax_h.axhline(result.review_threshold, color="#ff7f0e", lw=0.8, ls="--", label="review threshold")
        ax_h.legend(loc="upper right", fontsize=8)
    ax_h.set_ylim(0, math.log(2) * 1.04)  # a binary prediction's entropy is at most ln 2
    ax_h.set_ylabel("entropy (nats)")
    ax_h.set_xlabel(f"time from start ({unit})")
    ax_h.set_xlim(0, result.duration_s / scale)
    _clock_axis(ax_p, result, scale)
    hours = result.burden_per_hour
    fig2 = Figure(figsize=(12, 2.6), dpi=100, layout="constrained")
    ax = fig2.subplots()
    ax.bar(hours.hour + 0.5, hours.burden_pct.fillna(0), width=0.9, color="#d62728", label="AF burden (AF time, % of analysable)")
    unanalysable_pct = 100 * hours.unanalysable_s / (hours.end_s - hours.start_s)
    ax.plot(hours.hour + 0.5, unanalysable_pct, "o-", color="#757575", ms=3, lw=0.8, label="unanalysable (% of hour)")
    ax.set_ylim(0, 105)
    ax.set_xlabel("hour of recording")
    ax.set_ylabel("%")
    ax.legend(loc="upper right", fontsize=8)
    return [fig, fig2]


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(frame: pd.DataFrame, *, max_rows: int = 200) -> str:
    if frame.empty:
        return "<p>none</p>"
    shown = frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in shown.itertuples(index=False))
    more = f"<p>… {len(frame) - max_rows} more rows in episodes.csv</p>" if len(frame) > max_rows else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1250px}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:right}
th{background:#f2f2f2}img{max-width:100%}figure{margin:.6em 0}figcaption{font-size:12px;color:#555}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}.note{color:#555;font-size:13px}.headline{font-size:16px}"""


def _headline(result: HolterResult) -> str:
    """One line above the figures: the burden as it may be read (figure and interval, or why there is none), verdict, class."""
    af = result.af
    if af is None:
        return ""
    return (f"<p class='headline'><b>AF burden: {html.escape(af.burden_text)}</b> · {html.escape(af.verdict)} · "
            f"{html.escape(af.record_class)} · {len(af.episodes)} episodes ≥ 30 s, {len(af.short_runs)} shorter AF runs</p>")


def _burden_rows(result: HolterResult) -> list[tuple[str, str]]:
    """The burden lines of the timeline's summary: AF time burden with its interval (or why there is none), short runs,
    verdict and class."""
    af = result.af
    if af is None:
        return [("AF burden (of analysable time)", "n/a" if not math.isfinite(result.burden_pct) else f"{result.burden_pct:.2f} %")]
    resolution = "boundaries at beats" if af.beat_resolved else "boundaries at window edges"
    return [("AF burden (AF time / analysable time)", f"{af.burden_text}; {resolution}"),
            ("AF time", f"{af.af_s:,.0f} s"),
            ("undecided (review or referred) time", f"{af.undecided_s:,.0f} s ({af.uncertain_pct:.0f} % of analysable; "
                                                    f"not determinable above {100 * UNDETERMINED_ABOVE:.0f} %)"),
            ("AF runs shorter than 30 s", f"{len(af.short_runs)} ({af.short_run_s:,.0f} s)"),
            ("longest AF episode", f"{af.longest_episode_s:,.0f} s"),
            ("verdict / record class", f"{af.verdict} / {af.record_class}")]


def _conformal_rows(summary: dict) -> list[tuple[str, str]]:
    """The conformal lines of the timeline's summary (none without a conformal level)."""
    c = summary["conformal"]
    if c is None:
        return []
    rows = [(f"conformal sets at alpha {c['alpha']:g} (hECG windows)", ", ".join(f"{k} {v}" for k, v in c["sets"].items())),
            ("windows referred by the sets", f"{100 * c['referral_rate']:.1f} %" if c["referral_rate"] is not None else "n/a"),
            ("referral reasons (windows)", ", ".join(f"{k} {v}" for k, v in c["referral_reasons"].items() if v) or "none")]
    if c["budget"] is not None:
        rows.append(("referral budget", c["budget"]["text"]))
    return rows


def write_timeline_html(result: HolterResult, path: str | Path) -> Path:
    """The self-contained HTML timeline of one recording."""
    path = Path(path)
    s = summary_dict(result)
    figures = "".join(f'<img alt="timeline figure" src="data:image/png;base64,{_png(f)}">' for f in timeline_figures(result))
    acc = result.account
    summary = pd.DataFrame([
        ("duration", _hms(acc.duration_s)), ("analysed", f"{acc.analysed_s / 3600:.2f} h ({100 * acc.analysed_s / acc.duration_s:.1f} %)"),
        *((f"unanalysable: {k}", f"{v:,.0f} s") for k, v in acc.unanalysable_s.items() if v > 0),
        *_burden_rows(result),
        ("AF episodes (≥ 30 s)", str(len(result.episodes))), ("windows for review (entropy above threshold)", str(s["n_review_windows"])),
        ("RR second opinion on review windows", ", ".join(f"{k} {v}" for k, v in s["rr_second_opinion"].items())),
        *_conformal_rows(s),
        ("model", result.model or "(in memory)"),
    ], columns=["", "value"])
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Holter AF timeline: {html.escape(result.record_id)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>Holter AF timeline: {html.escape(result.record_id)}</h1>",
             f"<p class='note'>{html.escape(result.path)}. Research tool, not a medical device.</p>", _headline(result), figures,
             "<h2>Summary</h2>", _table(summary)]
    if "reference" in s:
        parts += ["<h2>Against the reference annotations</h2>", _table(pd.DataFrame(list(s["reference"].items()), columns=["measure", "value"]))]
    episode_table = episodes_frame(result).drop(columns=["start_s", "end_s"])
    if result.start_time is None:
        episode_table = episode_table.drop(columns=["start_clock", "end_clock"])
    parts += ["<h2>AF episodes</h2>", _table(episode_table)]
    parts.append(strips_html(result))
    parts += ["<h2>Per hour</h2>", _table(result.burden_per_hour)]
    if result.problems:
        parts += ["<h2>Problems</h2><ul>", *(f"<li>{html.escape(p)}</li>" for p in result.problems), "</ul>"]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
