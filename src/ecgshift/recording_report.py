"""One recording's report a person reads: a self-contained HTML page (``ecgshift predict --report DIR``).

The page holds the record-level call (p(AF), label, uncertainty, shift score, referral and its reasons), the trace
on ECG paper (:mod:`ecgshift.strips`) — a recording up to :data:`SHORT_S` long whole, as consecutive 10-s strips;
a longer one as an overview of the whole signal plus strips of chosen windows (the first analysed window, the most
uncertain ones, the most AF-like ones) — p(AF) and uncertainty per window (a figure and a table), the spans that
were not analysed and why, and the problems of the recording. A rejected recording gets a page saying why.

Everything is inline (PNG as base64, style in the page): no script, no external file, no network request. Every
text from the recording (names, paths, reasons) is HTML-escaped, and drawn without mathtext in the figures.
Clock times appear wherever the file states a start time (:mod:`ecgshift.clock`).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ecgshift.clock import clock_text
from ecgshift.status import DONE
from ecgshift.strips import PLAIN_TEXT, draw_strip, figure_png, hms, signal_envelope

__all__ = ["SHORT_S", "STRIP_S", "MAX_STRIPS", "MAX_WINDOW_ROWS", "referral_reasons", "excluded_spans", "chosen_strips",
           "recording_report_html", "write_recording_report", "report_paths"]

#: Recordings up to this long (s) are drawn whole, as consecutive strips; longer ones as an overview plus strips.
SHORT_S = 120.0
#: Length of one strip (s): one window of the default model.
STRIP_S = 10.0
#: Strips of a long recording.
MAX_STRIPS = 8
#: Rows of the per-window table (all windows are in ``ecgshift predict --windows``).
MAX_WINDOW_ROWS = 300

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1300px}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}img{max-width:100%}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em}
.note{color:#555;font-size:13px}.refer{color:#b71c1c;font-weight:600}figure{margin:.6em 0}figcaption{font-size:12px;color:#555}"""
_REASON_COLOURS = {"gap": "#9e9e9e", "flat": "#616161", "saturated": "#8d6e63", "noise": "#bdbdbd", "unreadable": "#424242"}


def report_paths(inputs: list[Path], folder: Path) -> list[Path]:
    """``<folder>/<record name>.html`` per input, made unique with ``_2``, ``_3`` … when two inputs share a name."""
    from ecgshift.holter.batch import output_folders

    return [f.parent / f"{f.name}.html" for f in output_folders(inputs, folder)]


def referral_reasons(analysis, model) -> list[str]:
    """Why the recording is referred to a person (empty when it is not): the record-level rule (entropy or shift score
    above the model's thresholds, no finite p(AF)), a sampling rate that looks wrong, and referred windows."""
    s = model.summarize(analysis.predictions)
    referral, out = model.referral, []
    if not math.isfinite(s.p_af):
        out.append("no finite p(AF)")
    if math.isfinite(s.entropy) and s.entropy > referral.entropy:
        out.append(f"uncertain: entropy {s.entropy:.3f} nats above the model's threshold {referral.entropy:.3f}")
    if s.shift_score > referral.shift_score:
        out.append(f"unlike the training data: shift score {s.shift_score:.2f} above the model's threshold {referral.shift_score:.2f}")
    if analysis.suspect_fs:
        out.append("the sampling rate looks wrong (see problems): every window is referred")
    w = analysis.windows
    ok = w.quality == "ok"
    n_refer = int(w.refer[ok].astype(bool).sum())
    if n_refer and not analysis.suspect_fs:
        out.append(f"{n_refer} of {int(ok.sum())} analysed windows referred (their entropy or shift score above the thresholds)")
    return out


def excluded_spans(windows: pd.DataFrame, start_time=None) -> pd.DataFrame:
    """Contiguous stretches of windows not analysed, one row per stretch and reason: ``start_s``, ``end_s``, ``reason``,
    ``windows`` and the clock time of the start (empty without a start time)."""
    rows = []
    w = windows.sort_values("start_s")
    quality, starts, ends = w.quality.astype(str).to_numpy(), w.start_s.to_numpy(float), w.end_s.to_numpy(float)
    i = 0
    while i < len(w):
        if quality[i] == "ok":
            i += 1
            continue
        j = i
        while j + 1 < len(w) and quality[j + 1] == quality[i] and starts[j + 1] <= ends[j] + 1e-9:
            j += 1
        rows.append({"start_s": starts[i], "end_s": ends[j], "reason": quality[i], "windows": j - i + 1,
                     "start_clock": clock_text(start_time, starts[i])})
        i = j + 1
    return pd.DataFrame(rows, columns=["start_s", "end_s", "reason", "windows", "start_clock"])


def chosen_strips(analysis) -> list[tuple[float, float, str]]:
    """(start_s, end_s, why) of the strips of a recording: every :data:`STRIP_S` of a short one; for a long one the
    first analysed window, the most uncertain windows and the most AF-like ones (at most :data:`MAX_STRIPS`)."""
    duration = analysis.duration_s
    if duration <= SHORT_S:
        starts = np.arange(0.0, duration - 1e-9, STRIP_S)
        return [(a, min(duration, a + STRIP_S), f"strip {k} of {len(starts)}") for k, a in enumerate(starts, start=1)]
    w = analysis.windows[analysis.windows.quality == "ok"]
    picks: dict[float, str] = {}
    if len(w):
        picks[float(w.start_s.iloc[0])] = "first analysed window"
    for row in w.sort_values("entropy", ascending=False).head(4).itertuples(index=False):
        picks.setdefault(float(row.start_s), f"uncertain (entropy {row.entropy:.2f})")
    af = w[w.is_af.astype(bool)].sort_values("p_af_decided", ascending=False)
    for row in af.head(3).itertuples(index=False):
        picks.setdefault(float(row.start_s), f"AF-like (p(AF) {row.p_af_decided:.2f})")
    chosen = sorted(picks.items())[:MAX_STRIPS]
    return [(a, min(duration, a + analysis.harmonize.window_s), why) for a, why in chosen]


def _img(fig, alt: str) -> str:
    return (f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,'
            f'{base64.b64encode(figure_png(fig)).decode("ascii")}">')


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def _table(frame: pd.DataFrame, *, left: tuple[str, ...] = ()) -> str:
    if frame.empty:
        return "<p>none</p>"
    head = "".join(f"<th{' class=l' if c in left else ''}>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td{' class=l' if c in left else ''}>{html.escape(_cell(v))}</td>" for c, v in zip(frame.columns, row))
                   + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _window_figure(analysis, model, envelope=None):
    """p(AF) ± 1.96 MC std and entropy per window (excluded spans shaded), below the signal's overview when given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w = analysis.windows
    long = analysis.duration_s > 2 * 3600
    scale, unit = (3600.0, "h") if long else (60.0, "min") if analysis.duration_s > 600 else (1.0, "s")
    mid = ((w.start_s + w.end_s) / 2).to_numpy(float) / scale
    n_rows = 3 if envelope is not None else 2
    fig = Figure(figsize=(12, 2.2 * n_rows + 0.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, 1, sharex=True)
    if envelope is not None:
        t, lo, hi = envelope
        axes[0].fill_between(t / scale, lo, hi, step="post", color="#101010", lw=0)
        axes[0].set_ylabel(f"lead {analysis.lead} (mV)", **PLAIN_TEXT)
        axes[0].set_title(f"{analysis.record_id}: the whole recording (minimum–maximum per bin)", loc="left", fontsize=9, **PLAIN_TEXT)
    ax_p, ax_h = axes[-2], axes[-1]
    for ax in axes:
        for row in excluded_spans(w).itertuples(index=False):
            ax.axvspan(row.start_s / scale, row.end_s / scale, color=_REASON_COLOURS.get(row.reason, "#9e9e9e"), alpha=0.45, lw=0)
    p, sd = w.p_af_decided.to_numpy(float), w["std"].to_numpy(float)
    marker = "o" if len(w) <= 60 else None
    ax_p.fill_between(mid, np.clip(p - 1.96 * sd, 0, 1), np.clip(p + 1.96 * sd, 0, 1), color="#1f77b4", alpha=0.25, lw=0,
                      label="MC spread (± 1.96 std)")
    ax_p.plot(mid, p, color="#1f77b4", lw=0.9, marker=marker, ms=3, label="p(AF) (decides)")
    ax_p.axhline(0.5, color="k", lw=0.6, ls=":")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_ylabel("p(AF)")
    ax_p.legend(loc="upper right", fontsize=8)
    ax_h.plot(mid, w.entropy.to_numpy(float), color="#9467bd", lw=0.9, marker=marker, ms=3, label="entropy")
    if math.isfinite(model.referral.entropy):
        ax_h.axhline(model.referral.entropy, color="#ff7f0e", lw=0.8, ls="--", label="referral threshold")
    ax_h.set_ylim(0, math.log(2) * 1.04)
    ax_h.set_ylabel("entropy (nats)")
    ax_h.legend(loc="upper right", fontsize=8)
    ax_h.set_xlabel(f"time from start ({unit}); grey: not analysed")
    ax_h.set_xlim(0, analysis.duration_s / scale)
    return fig


def _overview_table(result, model) -> pd.DataFrame:
    a = result.analysis
    s = model.summarize(a.predictions)
    items = [("status", result.status), ("path", str(result.path)), ("model", model.source or "(in memory)"),
             ("duration", f"{hms(a.duration_s)} ({a.duration_s:.1f} s)"), ("sampling rate", f"{a.fs:g} Hz"), ("lead analysed", a.lead)]
    if a.start_time is not None:
        items += [("start (clock)", clock_text(a.start_time)), ("end (clock)", clock_text(a.start_time, a.duration_s))]
    items += [("p(AF)", _cell(s.p_af)), ("label", s.label), ("entropy (nats)", _cell(s.entropy)), ("mutual information", _cell(s.mutual_info)),
              ("shift score (median)", _cell(s.shift_score)), ("referred", "yes" if (s.refer or a.suspect_fs) else "no"),
              ("decided by", a.decided_by), ("looks like", f"{s.modality} ({s.modality_share:.0%} of windows)"),
              ("windows analysed", f"{s.n_windows} of {len(a.windows)}"), ("reference", result.reference or "—")]
    return pd.DataFrame(items, columns=["", "value"])


def recording_report_html(result, *, model, alpha: float | None = None, given_modality: str = "unknown") -> str:
    """The page of one :class:`~ecgshift.batch.PathPrediction` (see the module docstring); ``model``: the
    :class:`~ecgshift.predictor.EcgShiftModel` that predicted it (its referral rule and name). With ``alpha``: the
    recording's conformal set and referral reasons at that level (``ecgshift predict --alpha``'s columns)."""
    name = Path(result.path).name
    head = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>ecgshift: {html.escape(name)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>ecgshift: {html.escape(name)}</h1>"
            "<p class='note'>Research tool, not a medical device.</p>")
    if result.analysis is None or result.status != DONE:
        return head + f"<p class='refer'>{html.escape(result.status)}</p><p class='note'>{html.escape(str(result.path))}</p></body></html>"
    a = result.analysis
    parts = [head, "<h2>Result</h2>", _table(_overview_table(result, model), left=("",))]
    reasons = referral_reasons(a, model)
    parts.append("<h2>Referral</h2>")
    parts.append("<ul>" + "".join(f"<li class='refer'>{html.escape(r)}</li>" for r in reasons) + "</ul>" if reasons
                 else "<p>not referred: the call is certain and the recording looks like the training data.</p>")
    if alpha is not None:
        from ecgshift.batch import conformal_of

        label, why = conformal_of(model, result, alpha=alpha, given_modality=given_modality)
        shown = label or "not used (recordings of 5 min or more are labelled by their episodes)"
        parts.append(f"<p class='conformal'>conformal set at alpha {alpha:g}: <b>{html.escape(shown)}</b>"
                     f"{' · referral reasons: ' + html.escape(why) if why else ' · no referral reason'}</p>")
    if a.problems:
        parts += ["<h2>Problems</h2><ul>", *(f"<li>{html.escape(p)}</li>" for p in a.problems), "</ul>"]
    envelope = None
    if a.duration_s > SHORT_S:
        envelope = signal_envelope(Path(a.source), duration_s=a.duration_s, lead=a.lead, fs=a.fs)
    parts += ["<h2>p(AF) and uncertainty per window</h2>", _img(_window_figure(a, model, envelope), "p(AF) and entropy per window")]
    parts += ["<h2>ECG</h2>", "<p class='note'>The signal as recorded (lead " + html.escape(a.lead) + ", unfiltered, drawn about each "
              "strip's median) on ECG paper: 25 mm/s, 10 mm/mV, 1-mm and 5-mm squares."
              + ("" if a.duration_s <= SHORT_S else " Strips of chosen windows; the whole recording is in the overview above.") + "</p>"]
    from ecgshift.errors import BadInputError

    for start, end, why in chosen_strips(a):
        try:
            fig = draw_strip(Path(a.source), start, end, lead=a.lead, fs=a.fs, title=f"{a.record_id}: {why}")
        except BadInputError as exc:
            parts.append(f"<p class='note'>{html.escape(why)}: no strip ({html.escape(exc.problem)})</p>")
            continue
        clock = clock_text(a.start_time, start)
        parts.append(f"<figure>{_img(fig, f'ECG strip {why}')}<figcaption>{html.escape(why)} · {hms(start)}"
                     f"{' · ' + html.escape(clock) if clock else ''}</figcaption></figure>")
    spans = excluded_spans(a.windows, a.start_time)
    parts.append("<h2>Not analysed</h2>")
    parts.append(_table(spans if a.start_time is not None else spans.drop(columns=["start_clock"]), left=("reason",)) if len(spans)
                 else "<p>every window was analysed.</p>")
    w = a.windows
    table = pd.DataFrame({"start_s": w.start_s, "start (clock)": [clock_text(a.start_time, t) for t in w.start_s], "quality": w.quality,
                          "p_af": w.p_af_decided, "entropy": w.entropy, "mutual_info": w.mutual_info, "shift_score": w.shift_score,
                          "refer": w.refer.astype(bool) & (w.quality == "ok"), "is_af": w.is_af.astype(bool), "decided_by": w.decided_by})
    if a.start_time is None:
        table = table.drop(columns=["start (clock)"])
    parts.append(f"<h2>Windows ({len(table)})</h2>")
    parts.append(_table(table.head(MAX_WINDOW_ROWS), left=("quality", "decided_by")))
    if len(table) > MAX_WINDOW_ROWS:
        parts.append(f"<p class='note'>… {len(table) - MAX_WINDOW_ROWS} more windows: <code>ecgshift predict --windows</code> lists them all.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_recording_report(result, path: str | Path, *, model, alpha: float | None = None, given_modality: str = "unknown") -> Path:
    """:func:`recording_report_html` written to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(recording_report_html(result, model=model, alpha=alpha, given_modality=given_modality), encoding="utf-8")
    return path
