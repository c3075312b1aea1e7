"""The modality-mix sweep as ONE self-contained HTML file: figures as base64 PNG, style inline, no script.

:func:`write_report` reads what :func:`ecgshift.study.sweep.run_sweep` wrote (``results.csv``, ``shift.csv``,
``ood.csv``, ``risk_coverage.csv``, ``methods.csv``, ``cells/*/predictions.csv.gz``) and draws a
cross-modality heatmap, the tECG-share curve, reliability diagrams, uncertainty distributions and
risk–coverage curves, with tables. :func:`assess_findings` states, from the numbers, whether the
reference study's three findings were reproduced. Figures use matplotlib's object API (no pyplot state).
"""

from __future__ import annotations

import base64
import html
import io as _io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ecgshift.evaluation import reliability

__all__ = ["Finding", "assess_findings", "share_path", "write_report", "FIGURE_IDS"]

FIGURE_IDS = ("fig-heatmap", "fig-share", "fig-reliability", "fig-uncertainty", "fig-risk")
_MODALITIES = ("tecg", "recg", "hecg")
_COLOURS = {"tecg": "#1f77b4", "recg": "#d62728", "hecg": "#2ca02c"}
_NAMES = {"tecg": "tECG (CinC 2017)", "recg": "rECG (PTB-XL)", "hecg": "hECG (MIT-BIH)"}


@dataclass(frozen=True)
class Finding:
    """One reference finding: ``status`` is reproduced / partly / not reproduced / not tested."""

    claim: str
    status: str
    evidence: str


def _seed_means(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean over seeds of a metric and of its CI bounds, per (mix, test modality)."""
    cols = [metric, f"{metric}_low", f"{metric}_high"]
    keys = ["mix_name", "test_modality"]
    out = results.groupby(keys, sort=False)[cols].mean().reset_index()
    shares = results.groupby("mix_name", sort=False)[[f"share_{m}" for m in _MODALITIES]].first()
    return out.merge(shares, left_on="mix_name", right_index=True)


def share_path(results: pd.DataFrame) -> pd.DataFrame:
    """Rows of mixes on the tECG-share path (the non-tECG share split equally between rECG and hECG)."""
    return results[np.isclose(results.share_recg, results.share_hecg, atol=1e-6)]


def _finding_degrade(results: pd.DataFrame) -> Finding:
    claim = "Models trained mostly on one modality degrade on another."
    acc = _seed_means(results, "accuracy")
    auc = _seed_means(results, "auroc").set_index(["mix_name", "test_modality"])
    pairs = []
    for mix, part in acc.groupby("mix_name", sort=False):
        shares = part.iloc[0][[f"share_{m}" for m in _MODALITIES]].to_numpy(float)
        if shares.max() < 0.8:
            continue
        own = _MODALITIES[int(shares.argmax())]
        own_row = part[part.test_modality == own]
        for other in part[part.test_modality != own].itertuples():
            if own_row.empty:
                continue
            o = own_row.iloc[0]
            pairs.append((mix, own, other.test_modality, o.accuracy, other.accuracy, other.accuracy_high < o.accuracy_low,
                          auc.loc[(mix, own), "auroc"], auc.loc[(mix, other.test_modality), "auroc"]))
    if not pairs:
        return Finding(claim, "not tested", "no mix with a share of 0.8 or more for one modality")
    lower = [p for p in pairs if p[4] < p[3]]
    clear = [p for p in lower if p[5]]
    status = "reproduced" if len(clear) == len(pairs) else "partly" if lower else "not reproduced"
    text = "; ".join(f"{m} ({o} {a:.1%} → {t} {b:.1%}{' *' if c else ''}; AUROC {ua:.3f} → {ub:.3f})" for m, o, t, a, b, c, ua, ub in pairs)
    return Finding(claim, status, f"accuracy lower on the other modality in {len(lower)} of {len(pairs)} (mix, modality) pairs, "
                   f"with non-overlapping 95 % CIs (*) in {len(clear)}: {text}.")


def _finding_share(results: pd.DataFrame) -> Finding:
    claim = "Moving the training mix toward tECG raised tECG accuracy (reference: 91.7 % → 94.8 %)."
    path = share_path(results[results.test_modality == "tecg"])
    shares = np.sort(path.share_tecg.unique())
    nonzero = shares[shares > 0]
    if nonzero.size < 2:
        return Finding(claim, "not tested", "fewer than two tECG-share points with tECG in the mix")
    per_seed = path.pivot_table(index="seed", columns="share_tecg", values="accuracy")
    low, high = nonzero[0], nonzero[-1]
    diffs = (per_seed[high] - per_seed[low]).dropna()
    mean = per_seed.mean()
    rho, p_value = spearmanr(path.share_tecg, path.accuracy)
    rise = float(mean[high] - mean[low])
    text = (f"tECG accuracy {mean[low]:.1%} at {low:.0%} tECG → {mean[high]:.1%} at {high:.0%} tECG "
            f"(mean of {len(diffs)} seeds; per-seed change {', '.join(f'{d:+.1%}' for d in diffs)}); "
            f"Spearman ρ = {rho:.2f} (p = {p_value:.2g}) over {len(path)} runs on the path")
    if 0.0 in mean.index:
        text += f"; at 0 % tECG: {mean[0.0]:.1%}"
    if "balanced_accuracy" in path:  # the reference study's 94.8 % is on a balanced set (500 SR + 500 AF): like with like
        balanced = path.groupby("share_tecg").balanced_accuracy.mean()
        text += (f"; balanced accuracy (the reference's measure: 500 SR + 500 AF) {balanced[low]:.1%} → {balanced[high]:.1%}"
                 + (f", {balanced[0.0]:.1%} at 0 %" if 0.0 in balanced.index else ""))
    if rise > 0 and len(diffs) and (diffs > 0).all():
        status = "reproduced"
    elif rise > 0 or (0.0 in mean.index and mean[high] > mean[0.0]):
        status = "partly"
    else:
        status = "not reproduced"
    return Finding(claim, status, text + ".")


def _finding_uncertainty(shift: pd.DataFrame, methods: pd.DataFrame) -> Finding:
    claim = "MC-Dropout uncertainty (mutual information) rises under shift."
    if shift.empty:
        return Finding(claim, "not tested", "no mix leaves a modality out")
    means = shift.groupby(["mix_name", "absent_modality", "score"], sort=False)[["auroc", "auroc_low", "auroc_high", "mean_pos", "mean_neg"]].mean().reset_index()
    mi, mahalanobis = means[means.score == "mutual_info"], means[means.score == "shift_score"]
    higher, clear, reversed_ = mi[mi.mean_pos > mi.mean_neg], mi[mi.auroc_low > 0.5], mi[mi.auroc_high < 0.5]
    status = "reproduced" if len(clear) == len(mi) else "partly" if len(clear) else "not reproduced"
    text = (f"fast MC (head-only) mean mutual information higher on the absent modality than on the trained ones in {len(higher)} of {len(mi)} "
            f"(mix, absent modality) pairs; shift-detection AUROC of mutual information median {mi.auroc.median():.3f} (range {mi.auroc.min():.3f}–{mi.auroc.max():.3f}), "
            f"95 % CI above 0.5 in {len(clear)} and below 0.5 (uncertainty lower under shift) in {len(reversed_)}: "
            + "; ".join(f"{r.mix_name}/{r.absent_modality} {r.auroc:.3f}" for r in mi.itertuples())
            + f"; for comparison the feature-space shift score: median AUROC {mahalanobis.auroc.median():.3f}")
    full = methods[(methods.method == "mc_full") & methods.shift_auroc_mi.notna()] if len(methods) else methods
    if len(full):
        text += "; full MC Dropout (subsample): " + "; ".join(f"{r.mix_name}/{r.test_modality} {r.shift_auroc_mi:.3f}" for r in full.itertuples())
    return Finding(claim, status, text + ".")


def _read(results_dir: Path, name: str) -> pd.DataFrame:
    path = results_dir / name
    if not path.exists() or path.stat().st_size <= 1:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def assess_findings(results_dir: str | Path) -> list[Finding]:
    """The reference study's three findings, each judged from the sweep's numbers."""
    results_dir = Path(results_dir)
    results = _read(results_dir, "results.csv")
    return [_finding_degrade(results), _finding_share(results), _finding_uncertainty(_read(results_dir, "shift.csv"), _read(results_dir, "methods.csv"))]


# ---------------------------------------------------------------- figures

def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _heatmap(results: pd.DataFrame, order: list[str]):
    from matplotlib.figure import Figure

    acc = _seed_means(results, "accuracy").pivot(index="mix_name", columns="test_modality", values="accuracy")
    acc = acc.reindex(index=[m for m in order if m in acc.index], columns=[m for m in _MODALITIES if m in acc.columns])
    fig = Figure(figsize=(6.5, 0.45 * len(acc) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(acc.to_numpy(float), cmap="viridis", aspect="auto", vmin=np.nanmin(acc.to_numpy(float)), vmax=1.0)
    for (i, j), value in np.ndenumerate(acc.to_numpy(float)):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white" if value < np.nanmean(acc.to_numpy(float)) else "black", fontsize=9)
    ax.set_xticks(range(acc.shape[1]), [_NAMES[m] for m in acc.columns])
    aliases = results.drop_duplicates("mix_name").set_index("mix_name").aliases.fillna("").astype(str)
    ax.set_yticks(range(len(acc)), [f"{m} (= {aliases[m]})" if aliases.get(m) else m for m in acc.index])
    ax.set_xlabel("test modality")
    ax.set_ylabel("training mix")
    fig.colorbar(image, ax=ax, label="accuracy (mean over seeds)")
    return fig


def _share_curve(results: pd.DataFrame):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    path = share_path(results)
    for modality in _MODALITIES:
        part = path[path.test_modality == modality]
        if part.empty:
            continue
        mean = part.groupby("share_tecg")[["accuracy", "accuracy_low", "accuracy_high"]].mean().sort_index()
        ax.errorbar(mean.index * 100, mean.accuracy, yerr=[mean.accuracy - mean.accuracy_low, mean.accuracy_high - mean.accuracy],
                    marker="o", capsize=3, color=_COLOURS[modality], label=_NAMES[modality], lw=2.2 if modality == "tecg" else 1.2)
        ax.scatter(part.share_tecg * 100, part.accuracy, color=_COLOURS[modality], s=10, alpha=0.35)
    ax.axhline(0.917, color="grey", ls=":", lw=1)
    ax.axhline(0.948, color="grey", ls="--", lw=1)
    for level in (0.917, 0.948):
        ax.text(0.01, level, f"reference {level:.1%}", transform=ax.get_yaxis_transform(), fontsize=8, va="bottom", color="grey")
    ax.set_xlabel("tECG share of the training budget (%); rest split equally rECG / hECG")
    ax.set_ylabel("test accuracy (mean of seeds; bars: mean 95 % CI)")
    ax.legend(fontsize=8)
    return fig


def _predictions(results_dir: Path, results: pd.DataFrame, mixes: list[str] | None = None) -> pd.DataFrame:
    cells = results.drop_duplicates("cell_id")
    if mixes is not None:
        cells = cells[cells.mix_name.isin(mixes)]
    parts = [pd.read_csv(results_dir / "cells" / r.cell_id / "predictions.csv.gz", dtype={"record_id": str, "key": str}).assign(
        mix_name=r.mix_name, seed=r.seed, **{f"share_{m}": getattr(r, f"share_{m}") for m in _MODALITIES}) for r in cells.itertuples()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _reference_mix(results: pd.DataFrame) -> str:
    """The mix closest to equal shares (the 'uniform' arm when there is one)."""
    shares = results.drop_duplicates("mix_name").set_index("mix_name")[[f"share_{m}" for m in _MODALITIES]]
    return str((shares - 1 / 3).abs().sum(axis=1).idxmin())


def _reliability(pred: pd.DataFrame, mix: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.4), layout="constrained")
    axes = fig.subplots(1, len(_MODALITIES), sharey=True)
    for ax, modality in zip(axes, _MODALITIES):
        part = pred[(pred.modality == modality) & (pred.y >= 0)]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for column, label, style in (("p_uncal", "before (T = 1)", "--"), ("p_af", "after temperature scaling", "-")):
            table = reliability(part.y.to_numpy(), part[column].to_numpy(float)).dropna()
            ax.plot(table.mean_p, table.observed, style, marker="o", ms=3, label=label)
        ax.set_title(f"{_NAMES[modality]} (n = {len(part)})", fontsize=9)
        ax.set_xlabel("predicted p(AF)")
    axes[0].set_ylabel("observed AF fraction")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Reliability, mix {mix} (all seeds pooled)", fontsize=10)
    return fig


def _uncertainty(pred: pd.DataFrame):
    from matplotlib.figure import Figure

    windows = pred[pred.y >= 0]
    shares = windows[[f"share_{m}" for m in _MODALITIES]].to_numpy(float)
    in_mix = shares[np.arange(len(windows)), windows.modality.map(_MODALITIES.index).to_numpy()] > 0
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    for ax, score in zip(fig.subplots(1, 2), ("mutual_info", "entropy")):
        data, labels, colours = [], [], []
        for modality in _MODALITIES:
            for present in (True, False):
                values = windows[score].to_numpy(float)[(windows.modality == modality).to_numpy() & (in_mix == present)]
                if values.size:
                    data.append(values)
                    labels.append(f"{modality}\n{'in mix' if present else 'absent'}")
                    colours.append(_COLOURS[modality])
        box = ax.boxplot(data, showfliers=False, patch_artist=True)
        for patch, colour, label in zip(box["boxes"], colours, labels):
            patch.set_facecolor(colour)
            patch.set_alpha(0.35 if "absent" in label else 0.8)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        ax.set_ylabel(f"{score} (nats)")
        if score == "mutual_info":
            ax.set_yscale("symlog", linthresh=1e-4)
            ax.set_ylim(bottom=0)
    fig.suptitle("Uncertainty per test modality, windows of runs whose mix includes / leaves out that modality (fast MC)", fontsize=10)
    return fig


def _risk(curves: pd.DataFrame, results: pd.DataFrame, order: list[str]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    axes = fig.subplots(1, len(_MODALITIES), sharey=False)
    mixes = [m for m in order if m in set(curves.mix_name)]
    data = curves[curves.score == "entropy"].groupby(["mix_name", "test_modality", "coverage"])["risk"].mean().reset_index()
    for ax, modality in zip(axes, _MODALITIES):
        for mix in mixes:
            part = data[(data.mix_name == mix) & (data.test_modality == modality)].sort_values("coverage")
            ax.plot(part.coverage, part.risk, lw=1, label=mix)
        ax.set_title(_NAMES[modality], fontsize=9)
        ax.set_xlabel("coverage (windows kept)")
        ax.invert_xaxis()
    axes[0].set_ylabel("risk (error rate of kept windows)")
    axes[-1].legend(fontsize=6, ncol=2)
    fig.suptitle("Risk–coverage: the most uncertain windows (predictive entropy) referred first; mean over seeds", fontsize=10)
    return fig


# ---------------------------------------------------------------- HTML

def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else f"{value:.2g}" if 0 < abs(value) < 0.01 else f"{value:.3f}"
    return str(value)


def _table(frame: pd.DataFrame, *, table_id: str, max_rows: int = 400) -> str:
    if frame.empty:
        return f"<p id='{table_id}'>none</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in frame.head(max_rows).itertuples(index=False))
    return f"<table id='{table_id}'><tr>{head}</tr>{body}</table>"


def _figure(fig_id: str, fig, caption: str) -> str:
    return (f"<figure id='{fig_id}'><img alt='{html.escape(caption)}' src='data:image/png;base64,{_png(fig)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _ci_table(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (mix, modality), part in results.groupby(["mix_name", "test_modality"], sort=False):
        row = {"mix": mix, "test": modality, "in mix": bool(part.in_mix.iloc[0]), "seeds": len(part), "n windows": int(part.n.iloc[0])}
        for metric in ("accuracy", "balanced_accuracy", "auroc", "ece_uncal", "ece", "mean_mi"):
            if metric not in part:  # results.csv written before the column existed
                continue
            row[metric] = f"{part[metric].mean():.3f} [{part[f'{metric}_low'].mean():.3f}, {part[f'{metric}_high'].mean():.3f}]"
        row["aurc"] = part.aurc_entropy.mean()
        rows.append(row)
    return pd.DataFrame(rows)


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1250px}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:2px 7px;font-size:12px;text-align:right}
th{background:#f2f2f2}img{max-width:100%}figure{margin:1em 0}figcaption{font-size:13px;color:#555}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}.note{color:#555;font-size:13px}
.reproduced{color:#1b7f2a;font-weight:bold}.partly{color:#b36b00;font-weight:bold}.not{color:#b00020;font-weight:bold}"""


def write_report(results_dir: str | Path, out_html: str | Path) -> Path:
    """Write the sweep report (one HTML file, nothing external) and return its path."""
    results_dir, out_html = Path(results_dir), Path(out_html)
    results = _read(results_dir, "results.csv")
    if results.empty:
        from ecgshift.errors import EcgShiftError

        raise EcgShiftError(f"{results_dir}: no results.csv with finished cells (run `ecgshift sweep` first)")
    config = json.loads((results_dir / "sweep.json").read_text()) if (results_dir / "sweep.json").exists() else {}
    order = list(dict.fromkeys(results.mix_name))
    shift, ood, methods = _read(results_dir, "shift.csv"), _read(results_dir, "ood.csv"), _read(results_dir, "methods.csv")
    curves = _read(results_dir, "risk_coverage.csv")
    reference = _reference_mix(results)
    findings = assess_findings(results_dir)
    notes = sorted({n for n in results.notes.dropna() for n in str(n).split("; ") if n})
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>ecgshift modality-mix sweep</title>",
        f"<style>{_STYLE}</style></head><body><h1>Modality-mix sweep: AF vs SR across tECG, rECG and hECG</h1>",
        f"<p class='note'>{results.cell_id.nunique()} runs: {len(order)} mixes × seeds {sorted(results.seed.unique().tolist())}; "
        f"budget {config.get('budget')} windows, {config.get('epochs')} epochs, model {html.escape(str(config.get('model')))} "
        f"{html.escape(str(config.get('model_kwargs')))}; MC passes {config.get('mc')}; bootstrap {config.get('n_boot')} resamples "
        "(cluster bootstrap by record; window-level metrics). Data: PhysioNet/CinC Challenge 2017 (tECG), PTB-XL (rECG), MIT-BIH Arrhythmia (hECG).</p>",
        "<h2 id='findings'>Reference findings</h2><ul>",
    ]
    for f in findings:
        css = {"reproduced": "reproduced", "partly": "partly"}.get(f.status, "not")
        parts.append(f"<li><b>{html.escape(f.claim)}</b> <span class='{css}'>{html.escape(f.status)}</span>: {html.escape(f.evidence)}</li>")
    parts.append("</ul>")
    if notes:
        parts += ["<h2>Where the data could not fill a cell</h2><ul>", *(f"<li>{html.escape(n)}</li>" for n in notes), "</ul>"]
    parts.append("<h2>Cross-modality accuracy</h2>")
    parts.append(_figure("fig-heatmap", _heatmap(results, order), "Accuracy (AF vs SR windows, mean over seeds): training mix × test modality."))
    parts.append(_table(_ci_table(results), table_id="table-results"))
    parts.append("<h2>tECG share of the training mix</h2>")
    parts.append(_figure("fig-share", _share_curve(results), "Test accuracy against the tECG share; faint dots: single seeds."))
    pred = _predictions(results_dir, results)
    parts.append("<h2>Calibration</h2>")
    parts.append(_figure("fig-reliability", _reliability(pred[pred.mix_name == reference], reference), "Reliability diagrams before and after temperature scaling."))
    parts.append("<h2>Uncertainty under shift</h2>")
    parts.append(_figure("fig-uncertainty", _uncertainty(pred), "Distributions of mutual information and predictive entropy (boxes: quartiles, whiskers: 1.5 IQR)."))
    if len(shift):
        table = shift.groupby(["mix_name", "absent_modality", "score"], sort=False)[["auroc", "auroc_low", "auroc_high", "mean_pos", "mean_neg"]].mean().reset_index()
        parts += ["<p class='note'>Shift detection: AUROC for telling test windows of a modality absent from the mix from those of the modalities present (mean over seeds; mean_pos / mean_neg: mean score on absent / present).</p>",
                  _table(table, table_id="table-shift")]
    if len(ood):
        table = ood.groupby(["mix_name", "ood_label", "score"], sort=False)[["auroc", "auroc_low", "auroc_high"]].mean().reset_index()
        parts += ["<p class='note'>Other rhythms and noise: AUROC for telling CinC 2017 'other' / 'noisy' test windows from its AF / SR windows.</p>",
                  _table(table, table_id="table-ood")]
    parts.append("<h2>Selective prediction</h2>")
    parts.append(_figure("fig-risk", _risk(curves, results, order), "Risk–coverage curves per test modality."))
    parts.append("<h2>MC Dropout vs deep ensemble vs fast MC</h2>")
    if len(methods):
        cols = [c for c in ("mix_name", "test_modality", "in_mix", "method", "members", "n", "accuracy", "auroc", "brier", "ece", "mean_entropy", "mean_mi", "aurc_entropy", "shift_auroc_mi", "shift_auroc_entropy") if c in methods]
        shown = (methods[methods.full_mc.astype(bool)] if methods.full_mc.astype(bool).any() else methods).astype({"n": int, "members": int})
        parts += ["<p class='note'>Same runs, same windows (a fixed subsample of each modality's test split): full MC Dropout and fast head-only MC "
                  "averaged over seeds, the deterministic pass, and a deep ensemble of the seeds' runs.</p>", _table(shown[cols], table_id="table-methods")]
    else:
        parts.append("<p id='table-methods'>no method comparison (fewer seeds than the ensemble size)</p>")
    parts.append("</body></html>")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text("\n".join(parts), encoding="utf-8")
    return out_html
