"""Generalization: models scored on every waveform dataset the way `ecgshift predict` runs them, unseen sets beside seen ones.

    python benchmarks/generalization.py [--runs shipped name=RUN_DIR ...] [--out DIR] [--mc 20]
    python benchmarks/generalization.py --train-lodo DIR [--budget 12000] [--epochs 50] [--only without-aftdb ...]

Scoring (every run, every dataset in :data:`WAVEFORM_DATASETS`)
--------------------------------------------------------------
* Each record goes through ``ecgshift.batch.predict_path`` with the shipped rhythm fusion, as
  ``ecgshift predict`` does (MC Dropout T = ``--mc``, head-only path; recordings of 5 min or more are decided by
  the network fused with rhythm evidence, shorter ones by the network on half-overlapping windows; windows
  failing the quality gate are not predicted and are counted as excluded).
* A dataset the run **saw in training** is scored on its test split only (in distribution); an **unseen** one on
  every record. What a run saw: ``<run>/training_datasets.json`` (written by ``--train-lodo``), else the shipped
  recipe's pool (``ecgshift.datasets.TRAINING_DATASETS``: CinC 2017, PTB-XL, MIT-BIH) for the modalities of the
  run's mix; the shipped model never saw aftdb or afpdb.
* Two-sided sets: CinC 2017 (A vs N records), PTB-XL (AF vs SR records), MIT-BIH (record reference: AF when at
  least half of it is annotated AF; windows: AF / SR by the 90 % rule, 'other' windows left out). Record level:
  the record's p(AF) (mean over its windows, the ``p_af`` of `ecgshift predict`). Window level: cluster bootstrap
  by record.
* One-sided sets: aftdb (all AF) by sensitivity — share of records and of windows called AF; afpdb (no AF) by
  the share of windows called AF and false AF episodes per 24 h (AF windows merged across ≤ 10 s, kept when
  ≥ 30 s: ``ecgshift.holter.HolterConfig``'s rule), pooled over the analysed time.
* CIs: ``ecgshift.evaluation.binary_metrics`` (1,000 bootstrap resamples of records; 95 %). Balanced accuracy
  is the AUROC of the 0/1 decisions, (Se + Sp) / 2, so it gets the same bootstrap. Episodes per 24 h have no CI.
* Floors (issue 20): trained without aftdb, record sensitivity on aftdb ≥ 0.95; trained without afpdb, AF called
  on ≤ 1 % of afpdb windows.

Per-window predictions are written to ``<out>/<run>/<dataset>.csv`` and reused with ``--reuse`` (to reprint the
table without predicting again).

Training (``--train-lodo DIR``)
-------------------------------
One model per left-out dataset of :data:`LODO_POOL` (the shipped three plus aftdb and afpdb, whose train splits
join the hECG pool), trained with the shipped recipe (``preset_config("default")``; the mix keeps the shipped
shares of the modalities that still have data), and a tECG-only specialist of the same budget (mix tecg=1).
Each run folder gets ``training_datasets.json``; score them afterwards with
``--runs without-aftdb=DIR/without-aftdb ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_root, record_mean  # noqa: E402

from ecgshift.batch import predict_path  # noqa: E402
from ecgshift.cache import cached_description  # noqa: E402
from ecgshift.datasets import TRAINING_DATASETS, dataset_class, load_dataset  # noqa: E402
from ecgshift.evaluation import Estimate, binary_metrics  # noqa: E402
from ecgshift.holter.analysis import HolterConfig  # noqa: E402
from ecgshift.mixing import CLASSES, parse_mix  # noqa: E402
from ecgshift.paths import cache_root  # noqa: E402
from ecgshift.predictor import load_model  # noqa: E402
from ecgshift.record import label_fractions  # noqa: E402
from ecgshift.rhythm.episodes import episodes_from_windows  # noqa: E402
from ecgshift.rhythm.fusion import default_fusion  # noqa: E402

#: Every dataset with waveforms that a run is scored on.
WAVEFORM_DATASETS = ("cinc2017", "ptbxl", "mitdb", "aftdb", "afpdb")
#: Datasets scored by sensitivity alone (all AF) and by false AF calls alone (no AF).
AF_ONLY, NO_AF = ("aftdb",), ("afpdb",)
#: Datasets whose windows take their reference from rhythm annotations (the others: the record's label).
ANNOTATED = ("mitdb",)
#: Datasets left out one at a time by ``--train-lodo`` (all the others are trained on).
LODO_POOL = ("cinc2017", "ptbxl", "mitdb", "aftdb", "afpdb")
SEEN_FILE = "training_datasets.json"
SHIPPED = "shipped"


# --- which datasets a run saw ------------------------------------------------------------------------


def seen_datasets(run_dir: Path | None, model) -> tuple[str, ...]:
    """The datasets a run was trained on: its ``training_datasets.json``, else the shipped pool of its mix's modalities."""
    if run_dir is not None and (run_dir / SEEN_FILE).exists():
        return tuple(json.loads((run_dir / SEEN_FILE).read_text())["datasets"])
    modalities = {k for k, v in parse_mix(model.config.mix).items() if v > 0}
    return tuple(name for name in TRAINING_DATASETS if dataset_class(name).modality in modalities)


# --- predicting ----------------------------------------------------------------------------------------


def records_to_score(name: str, description: pd.DataFrame, *, seen: bool) -> pd.DataFrame:
    """Rows scored for one dataset: its test split if the run saw it, else all; two-sided record sets: AF and SR only."""
    rows = description[description.split == "test"] if seen else description
    if name in ("cinc2017", "ptbxl"):
        rows = rows[rows.label.isin(CLASSES)]
    return rows.reset_index(drop=True)


def predict_dataset(model, dataset, rows: pd.DataFrame, *, mc: int, fusion, log) -> pd.DataFrame:
    """One row per predicted window: record, start_s, p_af, threshold, reference window label, decided_by."""
    parts, window_s, af_threshold = [], model.harmonize.window_s, model.harmonize.af_threshold
    started = time.perf_counter()
    for i, row in enumerate(rows.itertuples(index=False)):
        result = predict_path(model, dataset.root / row.path, mc=mc, fusion=fusion)  # head-only MC, as `ecgshift predict`
        if result.analysis is None:
            parts.append(pd.DataFrame({"record_id": [row.record_id], "status": [result.status]}))
            continue
        pred = result.predictions
        labels = np.full(len(pred), row.label, dtype=object)
        if dataset.name in ANNOTATED:
            rhythms = dataset.read(pd.Series(row._asdict())).rhythms
            for j, start in enumerate(pred.start_s):
                f = label_fractions(rhythms, float(start), float(start) + window_s)
                labels[j] = "AF" if f["AF"] >= af_threshold else ("SR" if f["SR"] >= af_threshold else "other")
        parts.append(pd.DataFrame({
            "record_id": row.record_id, "status": "ok", "start_s": pred.start_s, "end_s": pred.start_s + window_s,
            "p_af": pred.p_af, "threshold": pred.threshold, "window_label": labels, "record_label": row.label,
            "record_af_share": float(row.af_s / row.duration_s) if "af_s" in rows.columns and row.duration_s > 0 else float(row.label == "AF"),
            "decided_by": pred.decided_by, "excluded": len(result.excluded),
        }))
        if (i + 1) % 100 == 0 or i + 1 == len(rows):
            log(f"  {dataset.name}: {i + 1}/{len(rows)} records, {time.perf_counter() - started:.0f} s")
    return pd.concat(parts, ignore_index=True)


# --- scoring --------------------------------------------------------------------------------------------


def _flip(e: Estimate) -> Estimate:
    return Estimate(1 - e.value, 1 - e.high, 1 - e.low)


def _threshold(windows: pd.DataFrame) -> float:
    thresholds = np.unique(windows.threshold.to_numpy(float))
    if thresholds.size != 1:
        raise SystemExit(f"records decided at different thresholds {thresholds}: one threshold per table row is assumed")
    return float(thresholds[0])


def score_dataset(name: str, windows: pd.DataFrame) -> list[dict]:
    """Table rows (record level, window level) of one run on one dataset."""
    ok = windows[windows.status == "ok"]
    rejected = int(windows.loc[windows.status != "ok", "record_id"].nunique())
    thr = _threshold(ok)
    p_rec, keys = record_mean(ok.p_af.to_numpy(float), ok.record_id.to_numpy())
    first = ok.drop_duplicates("record_id").set_index("record_id").loc[keys]
    excluded = int(first.excluded.sum())
    common = {"rejected": rejected, "excluded_windows": excluded, "decided_by": ",".join(sorted(set(ok.decided_by)))}
    rows = []
    if name in AF_ONLY or name in NO_AF:
        y_value = 1 if name in AF_ONLY else 0
        for level, y, p, groups in (("records", np.full(len(keys), y_value), p_rec, None),
                                    ("windows", np.full(len(ok), y_value), ok.p_af.to_numpy(float), ok.record_id.to_numpy())):
            m = binary_metrics(y, p, threshold=thr, groups=groups)
            row = {"level": level, "n": m.n, "n_af": m.n_af, **common}
            if y_value:
                row["sensitivity"] = m.sensitivity
                row["af_called"] = m.sensitivity
            else:
                row["specificity"] = m.specificity
                row["af_called"] = _flip(m.specificity)
            rows.append(row)
        if name in NO_AF:
            rows[-1].update(false_af_episodes(ok, thr))
        return rows
    y_rec = (first.record_af_share.to_numpy(float) >= 0.5).astype(int)
    two_class = ok[ok.window_label.isin(CLASSES)]
    y_win = (two_class.window_label.to_numpy() == "AF").astype(int)
    p_win, g_win = two_class.p_af.to_numpy(float), two_class.record_id.to_numpy()
    for level, y, p, groups in (("records", y_rec, p_rec, None), ("windows", y_win, p_win, g_win)):
        m = binary_metrics(y, p, threshold=thr, groups=groups)
        balanced = binary_metrics(y, (p >= thr).astype(float), threshold=0.5, groups=groups).auroc  # AUROC of 0/1 calls = (Se + Sp) / 2
        rows.append({"level": level, "n": m.n, "n_af": m.n_af, "balanced_accuracy": balanced, "sensitivity": m.sensitivity,
                     "specificity": m.specificity, "auroc": m.auroc, **common})
    return rows


def false_af_episodes(windows: pd.DataFrame, threshold: float) -> dict:
    """False AF episodes (the Holter rule) in records without AF, per 24 h of analysed windows."""
    rule, count, hours, records_with = HolterConfig(), 0, 0.0, 0
    for _, w in windows.groupby("record_id"):
        w = w.sort_values("start_s")
        episodes = episodes_from_windows(w.start_s.to_numpy(float), w.end_s.to_numpy(float), w.p_af.to_numpy(float) >= threshold,
                                         max_gap_s=rule.max_gap_s, min_duration_s=rule.min_duration_s)
        count += len(episodes)
        records_with += bool(episodes)
        hours += _covered_hours(w.start_s.to_numpy(float), w.end_s.to_numpy(float))
    return {"false_af_episodes": count, "false_af_per_24h": count / hours * 24 if hours else float("nan"),
            "records_with_false_af": records_with, "analysed_h": hours}


def _covered_hours(start: np.ndarray, end: np.ndarray) -> float:
    """Hours covered by (possibly overlapping) sorted windows."""
    total, reach = 0.0, -np.inf
    for s, e in zip(start, end):
        total += max(0.0, e - max(s, reach))
        reach = max(reach, e)
    return total / 3600


# --- the table -----------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, Estimate):
        return "–" if np.isnan(value.value) else str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


COLUMNS = ("run", "dataset", "in training", "scored", "level", "n", "n_af", "balanced_accuracy", "sensitivity", "specificity",
           "auroc", "af_called", "false_af_per_24h", "false_af_episodes", "excluded_windows", "rejected", "decided_by")


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |")
    return "\n".join(lines)


def floors(rows: list[dict]) -> list[str]:
    out = []
    for row in rows:
        if row["in training"] == "no" and row["dataset"] == "aftdb" and row["level"] == "records":
            se = row["sensitivity"]
            out.append(f"{row['run']}: aftdb record sensitivity {se} — floor 0.95: {'met' if se.value >= 0.95 else 'NOT met'}")
        if row["in training"] == "no" and row["dataset"] == "afpdb" and row["level"] == "windows":
            called = row["af_called"]
            out.append(f"{row['run']}: afpdb windows called AF {called} — floor 0.01: {'met' if called.value <= 0.01 else 'NOT met'}")
    return out


def score_runs(args) -> None:
    torch.set_num_threads(1)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    fusion = default_fusion()
    cache = cache_root(args.cache_dir)
    datasets = {name: load_dataset(name, data_root=args.data_root) for name in args.datasets}
    descriptions = {name: cached_description(ds, cache_dir=cache) for name, ds in datasets.items()}
    rows = []
    for run_name, run_dir in parse_runs(args.runs):
        model = load_model(run_dir)
        seen = seen_datasets(run_dir, model)
        log(f"{run_name}: {model}; trained on {', '.join(seen)}")
        for name, dataset in datasets.items():
            in_training = name in seen
            target = args.out / run_name / f"{name}.csv"
            if args.reuse and target.exists():
                windows = pd.read_csv(target, dtype={"record_id": str})
            else:
                scored = records_to_score(name, descriptions[name], seen=in_training)
                if args.limit:
                    scored = scored.groupby("label", group_keys=False).head(args.limit)
                started = time.perf_counter()
                windows = predict_dataset(model, dataset, scored, mc=args.mc, fusion=fusion, log=log)
                log(f"  {name}: {windows.record_id.nunique()} records predicted in {time.perf_counter() - started:.0f} s")
                target.parent.mkdir(parents=True, exist_ok=True)
                windows.to_csv(target, index=False)
            for row in score_dataset(name, windows):
                rows.append({"run": run_name, "dataset": name, "in training": "yes" if in_training else "no",
                             "scored": "test split" if in_training else "all records", **row})
    print(f"(mc={args.mc}, head-only MC Dropout, shipped rhythm fusion; values: point [95 % bootstrap CI])\n")
    print(markdown(rows))
    print()
    for line in floors(rows):
        print(line)
    afpdb_rows = [r for r in rows if r["dataset"] == "afpdb" and "false_af_episodes" in r]
    for r in afpdb_rows:
        print(f"{r['run']}: afpdb false AF episodes {r['false_af_episodes']} in {r['analysed_h']:.1f} h analysed "
              f"({r['false_af_per_24h']:.2f} / 24 h), {r['records_with_false_af']} records with one or more")


def parse_runs(items: list[str]) -> list[tuple[str, Path | None]]:
    """``shipped`` or ``name=RUN_DIR`` → (name, run folder or None for the shipped model)."""
    out = []
    for item in items:
        if item == SHIPPED:
            out.append((SHIPPED, None))
            continue
        if "=" not in item:
            raise SystemExit(f"--runs entry {item!r} is not 'shipped' or name=RUN_DIR")
        name, path = item.split("=", 1)
        out.append((name, None if path == SHIPPED else Path(path)))
    return out


# --- leave-one-dataset-out training --------------------------------------------------------------------


def dataset_windows(name: str, *, data_root: Path, cache_dir: Path, config):
    """AF / SR / 'other' (with no AF at all) windows of one dataset, from the cache: the filter of
    ``ecgshift.mixing.load_modality_windows``, per dataset instead of per modality."""
    from ecgshift.cache import WindowSet, prepare

    windows = prepare(load_dataset(name, data_root=data_root), config=config, cache_dir=cache_dir).windows
    table = windows.table
    keep = (table.label.isin(("SR", "AF", "other")) & ~((table.label == "other") & (table.af_fraction.fillna(0) > 0))).to_numpy()
    subset = windows.subset(keep)
    return WindowSet(x=np.ascontiguousarray(subset.x), table=subset.table, config=subset.config)


def lodo_plans(pool: tuple[str, ...] = LODO_POOL) -> dict[str, tuple[tuple[str, ...], dict[str, float] | None]]:
    """Run name → (training datasets, mix or None for the shipped shares of the modalities left)."""
    plans = {f"without-{left_out}": (tuple(d for d in pool if d != left_out), None) for left_out in pool}
    plans["tecg-only"] = (("cinc2017",), {"tecg": 1.0})
    return plans


def train_lodo(args) -> None:
    """Train every plan of :func:`lodo_plans` into ``args.train_lodo`` (runs already there are kept)."""
    from ecgshift.cache import WindowSet
    from ecgshift.preprocess import HarmonizeConfig
    from ecgshift.presets import preset_config
    from ecgshift.training import fit

    torch.set_num_threads(1)
    base = preset_config("default")
    base = replace(base, budget=args.budget or base.budget, epochs=args.epochs or base.epochs)
    cache = cache_root(args.cache_dir)
    config = HarmonizeConfig()  # the shipped model's windows
    per_dataset = {}
    plans = lodo_plans()
    unknown = sorted(set(args.only or ()) - set(plans))
    if unknown:
        raise SystemExit(f"--only: unknown plan(s) {', '.join(unknown)}; plans: {', '.join(plans)}")
    for run_name, (datasets, mix) in plans.items():
        if args.only and run_name not in args.only:
            continue
        run_dir = args.train_lodo / run_name
        if (run_dir / "model.safetensors").exists():
            print(f"{run_name}: already trained in {run_dir}")
            continue
        sets: dict[str, list] = {}
        for name in datasets:
            if name not in per_dataset:
                per_dataset[name] = dataset_windows(name, data_root=args.data_root, cache_dir=cache, config=config)
            sets.setdefault(dataset_class(name).modality, []).append(per_dataset[name])
        by_modality = {m: WindowSet.concat(parts) for m, parts in sets.items()}
        shares = mix or {m: v for m, v in base.mix.items() if m in by_modality}
        train_config = replace(base, mix=parse_mix(shares))
        started = time.perf_counter()
        result = fit(train_config, by_modality, run_dir=run_dir,
                     on_epoch=lambda e, row, name=run_name: print(f"  {name} epoch {e}: val_score {row['val_score']:.4f} ({row['seconds']:.0f} s)", flush=True))
        (run_dir / SEEN_FILE).write_text(json.dumps({"datasets": list(datasets), "mix": train_config.mix,
                                                     "recipe": "preset default", "budget": train_config.budget,
                                                     "epochs": train_config.epochs}, indent=2))
        print(f"{run_name}: trained on {', '.join(datasets)} (mix {train_config.mix}) in {time.perf_counter() - started:.0f} s, "
              f"best epoch {result.best_epoch} → {run_dir}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=default_data_root())
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--runs", nargs="+", default=[SHIPPED], help="'shipped' and/or name=RUN_DIR entries")
    p.add_argument("--datasets", nargs="+", default=list(WAVEFORM_DATASETS), choices=WAVEFORM_DATASETS)
    p.add_argument("--out", type=Path, default=Path("generalization-out"), help="per-window predictions: <out>/<run>/<dataset>.csv")
    p.add_argument("--reuse", action="store_true", help="reuse predictions already in --out")
    p.add_argument("--mc", type=int, default=20)
    p.add_argument("--limit", type=int, default=0, help="at most this many records per label and dataset (smoke runs)")
    p.add_argument("--train-lodo", type=Path, default=None, help="train the leave-one-dataset-out runs into this folder, then stop")
    p.add_argument("--budget", type=int, default=0, help="--train-lodo: windows per epoch (default: the recipe's)")
    p.add_argument("--epochs", type=int, default=0, help="--train-lodo: epochs (default: the recipe's)")
    p.add_argument("--only", nargs="+", default=None, help="--train-lodo: train only these plans, e.g. without-aftdb tecg-only")
    args = p.parse_args()
    if args.train_lodo is not None:
        train_lodo(args)
    else:
        score_runs(args)


if __name__ == "__main__":
    main()
