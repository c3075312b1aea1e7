"""The modality-mix experiment: train a grid of mixes × seeds, evaluate every run on every modality's test split.

A sweep is a TOML file: a ``[sweep]`` table of settings (the fields of :class:`SweepConfig`) and a
``[mixes]`` table of ``name = "tecg=…,recg=…,hecg=…"`` (see ``ecgshift/assets/sweeps/default.toml``).

Each cell (mix, seed) trains with :func:`ecgshift.training.fit` into ``<out>/runs/<cell>`` and is
evaluated by :func:`ecgshift.study.evaluation.evaluate_cell` into ``<out>/cells/<cell>`` (``metrics.csv`` last).
A finished cell (run folder + metrics) is skipped, so a sweep resumes; a run without metrics is only
evaluated. Mixes with equal shares run once (other names kept as ``aliases``). Where a modality-class
pool is smaller than its share, the draw repeats windows and the ``notes`` column says so.
Cells run in worker processes (one torch thread each) or as Ray tasks (``executor="ray"``: the cache
and ``out_dir`` must then be on a filesystem every node sees).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ecgshift.errors import EcgShiftError

__all__ = ["SweepConfig", "Cell", "CellOutcome", "SweepResult", "load_sweep_config", "plan_cells", "draw_notes", "run_cell", "run_sweep", "collect_results"]

_MODALITIES = ("tecg", "recg", "hecg")
_QUICK = {"budget": 240, "epochs": 1, "n_boot": 20, "mc": 5, "full_mc_windows": 60, "max_eval_windows": 300}


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: named mixes (name → ``"tecg=…,recg=…,hecg=…"``), seeds and the settings shared by every cell.

    ``max_eval_windows`` (per modality and split, validation and test) exists for quick checks only;
    ``quick=True`` caps budget, epochs, bootstrap, MC passes and evaluation windows (see :meth:`resolved`).
    """

    mixes: dict[str, str]
    seeds: tuple[int, ...] = (0, 1, 2)
    budget: int = 2000
    epochs: int = 4
    patience: int = 5
    model: str = "resnet1d"
    model_kwargs: dict = field(default_factory=lambda: {"dropout": 0.2, "dropout_placement": "all"})
    mc: int = 20
    n_boot: int = 200
    ensemble: int = 3
    #: names of the mixes whose cells also run full (whole-network) MC Dropout (TOML key ``full_mc_mixes``; ``full_mc`` is read as a deprecated alias)
    full_mc_mixes: tuple[str, ...] = ()
    full_mc_windows: int = 300
    max_eval_windows: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        from ecgshift.mixing import parse_mix

        for name, text in self.mixes.items():
            try:
                parse_mix(text)
            except ValueError as exc:
                raise EcgShiftError(f"mix {name!r}: {exc}") from None
        problems = [
            (not self.mixes, 'sweep has no mixes: add a [mixes] table of name = "tecg=…,recg=…,hecg=…"'),
            (len(set(self.seeds)) < 3, f"a sweep needs at least 3 distinct seeds (got {list(self.seeds)})"),
            (not 1 <= self.ensemble <= len(self.seeds), f"ensemble K = {self.ensemble} must be between 1 and the number of seeds"),
            (any(m not in self.mixes for m in self.full_mc_mixes), f"full_mc_mixes {list(self.full_mc_mixes)} names unknown mixes; mixes: {', '.join(self.mixes)}"),
            (min(self.budget, self.epochs, self.mc, self.full_mc_windows) < 1 or self.n_boot < 0, "budget, epochs, mc, full_mc_windows must be ≥ 1, n_boot ≥ 0"),
        ]
        for failed, message in problems:
            if failed:
                raise EcgShiftError(message)

    def resolved(self) -> "SweepConfig":
        """The settings actually run: with ``quick``, each of :data:`_QUICK` capped at its quick value."""
        if not self.quick:
            return self
        capped = {k: v if getattr(self, k) is None else min(getattr(self, k), v) for k, v in _QUICK.items()}
        return replace(self, **capped)

    def cell_settings(self) -> dict:
        """What a finished cell depends on besides its mix and seed (a resumed sweep must match it)."""
        keys = ("budget", "epochs", "patience", "model", "model_kwargs", "mc", "n_boot", "full_mc_windows", "max_eval_windows")
        return {k: getattr(self, k) for k in keys}

    def to_dict(self) -> dict:
        return {**asdict(self), "seeds": list(self.seeds), "full_mc_mixes": list(self.full_mc_mixes)}


def load_sweep_config(path: str | Path, *, quick: bool | None = None) -> SweepConfig:
    """Read a sweep TOML file (``[sweep]`` settings, ``[mixes]`` name = mix); ``quick`` overrides the file's flag."""
    import tomllib  # Python ≥ 3.11

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EcgShiftError(f"{path}: cannot read sweep config ({exc})") from None
    settings, mixes, known = dict(data.get("sweep", {})), data.get("mixes", {}), {f.name for f in fields(SweepConfig)} - {"mixes"}
    if "full_mc" in settings and "full_mc_mixes" not in settings:  # the name before 2026-12-01
        settings["full_mc_mixes"] = settings.pop("full_mc")
    unknown = sorted(set(data) - {"sweep", "mixes"}) + sorted(set(settings) - known)
    if unknown:
        raise EcgShiftError(f"{path}: unknown keys {unknown}; [sweep] takes {', '.join(sorted(known))}")
    settings.update({k: tuple(settings[k]) for k in ("seeds", "full_mc_mixes") if k in settings} | ({} if quick is None else {"quick": quick}))
    return SweepConfig(mixes={str(k): str(v) for k, v in mixes.items()}, **settings)


@dataclass(frozen=True)
class Cell:
    """One (mix, seed) of the grid. ``aliases``: other mix names with the same shares."""

    name: str
    mix: dict
    seed: int
    aliases: tuple[str, ...] = ()
    full_mc: bool = False

    @property
    def cell_id(self) -> str:
        return f"{self.name}-s{self.seed}"


@dataclass(frozen=True)
class CellOutcome:
    """What happened to a cell: ``trained``, ``evaluated`` (run existed), ``skipped`` (finished) or ``error: …``."""

    cell_id: str
    status: str
    seconds: float


@dataclass(frozen=True, eq=False)
class SweepResult:
    out_dir: Path
    outcomes: list[CellOutcome]
    results: pd.DataFrame
    seconds: float

    @property
    def n_trained(self) -> int:
        return sum(o.status == "trained" for o in self.outcomes)

    @property
    def errors(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status.startswith("error")]


def plan_cells(config: SweepConfig) -> list[Cell]:
    """Mixes × seeds, mixes with equal shares merged (first name kept, the others as aliases)."""
    from ecgshift.mixing import parse_mix

    by_shares: dict[tuple, list[str]] = {}
    for name, text in config.mixes.items():
        by_shares.setdefault(tuple(round(parse_mix(text).get(m, 0.0), 6) for m in _MODALITIES), []).append(name)
    return [Cell(names[0], dict(zip(_MODALITIES, shares)), int(seed), tuple(names[1:]), any(n in config.full_mc_mixes for n in names))
            for shares, names in by_shares.items() for seed in config.seeds]


@dataclass(frozen=True, eq=False)
class DataHandle:
    """Where each modality's prepared windows are (cache entry) and their tables: small enough to send to workers."""

    entries: dict[str, str]
    tables: dict[str, pd.DataFrame]
    harmonize: dict


_DATA: dict[tuple, tuple] = {}


def load_data_handle(*, data_root: str | Path | None, cache_dir: str | Path) -> DataHandle:
    """Prepare (or find in the cache) every modality's windows, including CinC 2017 'other' and 'noisy'."""
    from ecgshift.cache import prepare
    from ecgshift.datasets import load_dataset
    from ecgshift.mixing import MODALITY_DATASETS
    from ecgshift.preprocess import HarmonizeConfig

    config = HarmonizeConfig()
    results = {m: prepare(load_dataset(MODALITY_DATASETS[m], data_root=data_root), config=config, cache_dir=cache_dir) for m in _MODALITIES}
    return DataHandle({m: str(Path(r.path).resolve()) for m, r in results.items()}, {m: r.windows.table for m, r in results.items()}, config.to_dict())


def _cap(table: pd.DataFrame, index: np.ndarray, limit: int | None) -> np.ndarray:
    """At most ``limit`` of ``index`` (fixed draw, AF windows first so both classes stay)."""
    if limit is None or index.size <= limit:
        return index
    rng = np.random.default_rng(12345)
    af = rng.permutation(index[table.label.to_numpy()[index] == "AF"])[: limit // 2]
    rest = rng.permutation(np.setdiff1d(index, af))[: limit - af.size]
    return np.sort(np.concatenate([af, rest]))


def _materialize(handle: DataHandle, config: SweepConfig):
    """(training WindowSets per modality, TestData), memoized per process."""
    from ecgshift.cache import WindowSet
    from ecgshift.mixing import CLASSES
    from ecgshift.preprocess import HarmonizeConfig
    from ecgshift.study.evaluation import TestData

    key = (tuple(sorted(handle.entries.items())), config.max_eval_windows, config.full_mc_windows)
    if key in _DATA:
        return _DATA[key]
    harmonize = HarmonizeConfig.from_dict(handle.harmonize)
    sets, tests, full_index, ood = {}, {}, {}, None
    for modality, entry in handle.entries.items():
        x = np.load(Path(entry) / "x.npy", mmap_mode="r", allow_pickle=False)
        table = handle.tables[modality]
        split, label = table.split.to_numpy(), table.label.to_numpy()
        keep = [np.flatnonzero((split == "train") & np.isin(label, CLASSES))]
        keep += [_cap(table, np.flatnonzero((split == s) & np.isin(label, CLASSES)), config.max_eval_windows) for s in ("val", "test")]
        index = np.sort(np.concatenate(keep))
        sets[modality] = WindowSet(np.ascontiguousarray(x[index]), table.iloc[index].reset_index(drop=True), harmonize)
        tests[modality] = sets[modality].split("test")
        n = len(tests[modality])  # the full-MC subsample: the same windows in every cell
        full_index[modality] = np.sort(np.random.default_rng(0).choice(n, size=min(n, config.full_mc_windows), replace=False))
        if modality == "tecg":
            other = _cap(table, np.flatnonzero((split == "test") & np.isin(label, ["other", "noisy"])), config.max_eval_windows)
            ood = WindowSet(np.ascontiguousarray(x[other]), table.iloc[other].reset_index(drop=True), harmonize)
    _DATA.clear()  # one data set per process
    _DATA[key] = (sets, TestData(tests, ood, full_index))
    return _DATA[key]


def _cell_paths(out_dir: Path, cell: Cell) -> tuple[Path, Path]:
    return out_dir / "runs" / cell.cell_id, out_dir / "cells" / cell.cell_id


def _is_trained(run_dir: Path) -> bool:
    return all((run_dir / f).exists() for f in ("model.safetensors", "config.json", "counts.csv"))


def _is_finished(out_dir: Path, cell: Cell, config: SweepConfig) -> bool:
    run_dir, cell_dir = _cell_paths(out_dir, cell)
    if not (_is_trained(run_dir) and (cell_dir / "metrics.csv").exists()):
        return False
    stored = json.loads((cell_dir / "cell.json").read_text())
    current = json.loads(json.dumps({**config.cell_settings(), "full_mc": cell.full_mc}))
    if stored.get("settings") != current:
        changed = sorted(k for k in current if stored.get("settings", {}).get(k) != current[k])
        raise EcgShiftError(f"{cell_dir}: made with other settings ({', '.join(changed)}); use another --out or delete it")
    return True


def draw_notes(counts: list[dict]) -> str:
    """Where a modality-class pool was smaller than asked for: one "modality label: requested from available" note each."""
    return "; ".join(f"{c['modality']} {c['label']}: {c['requested']} requested from {c['available']} unique windows (with replacement)"
                     for c in counts if c["with_replacement"])


def _cell_columns(cell: Cell, config: SweepConfig, run_config, train_seconds: float) -> dict:
    """The cell's settings and what its run drew (``run_config``: the run's :class:`~ecgshift.checkpoint.RunConfig`)."""
    from ecgshift.mixing import format_mix

    row = {"cell_id": cell.cell_id, "mix_name": cell.name, "aliases": " ".join(cell.aliases), "mix": format_mix(cell.mix), "seed": cell.seed,
           **{f"share_{m}": cell.mix.get(m, 0.0) for m in _MODALITIES}, "budget": config.budget, "epochs": config.epochs,
           "model": config.model, "model_kwargs": json.dumps(config.model_kwargs, sort_keys=True), "mc": config.mc, "n_boot": config.n_boot,
           "full_mc": cell.full_mc, "temperature": run_config.temperature, "best_epoch": run_config.best_epoch, "train_seconds": train_seconds}
    row.update({f"train_{c['modality']}_{c['label']}{suffix}": c[k] for c in run_config.counts for suffix, k in (("", "requested"), ("_unique", "drawn_unique"))})
    row.update({f"val_{m}_{label}": n for m, counts in run_config.val_counts.items() for label, n in counts.items()})
    row["notes"] = draw_notes(list(run_config.counts))
    return row


def run_cell(cell: Cell, config: SweepConfig, out_dir: str | Path, handle: DataHandle) -> CellOutcome:
    """Train (unless the run exists) and evaluate one cell; never raises (an error is the outcome's status)."""
    import torch

    started, out_dir, threads = time.perf_counter(), Path(out_dir), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if _is_finished(out_dir, cell, config):
            return CellOutcome(cell.cell_id, "skipped", 0.0)
        return CellOutcome(cell.cell_id, _train_and_evaluate(cell, config, out_dir, handle), time.perf_counter() - started)
    except Exception as exc:  # one failing cell must not end the sweep: reported in its outcome
        return CellOutcome(cell.cell_id, f"error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)


def _train_and_evaluate(cell: Cell, config: SweepConfig, out_dir: Path, handle: DataHandle) -> str:
    from ecgshift.predictor import load_model
    from ecgshift.study.evaluation import evaluate_cell
    from ecgshift.training import TrainConfig, fit

    run_dir, cell_dir = _cell_paths(out_dir, cell)
    cell_dir.mkdir(parents=True, exist_ok=True)
    (cell_dir / "metrics.csv").unlink(missing_ok=True)
    sets, test = _materialize(handle, config)
    status = "evaluated"
    if not _is_trained(run_dir):
        train = TrainConfig(mix=cell.mix, budget=config.budget, model=config.model, model_kwargs=dict(config.model_kwargs),
                            epochs=config.epochs, patience=config.patience, seed=cell.seed)
        result = fit(train, sets, run_dir=run_dir)
        (cell_dir / "train.json").write_text(json.dumps({"seconds": result.seconds}))
        status = "trained"
    model, train_info = load_model(run_dir), cell_dir / "train.json"
    train_seconds = json.loads(train_info.read_text())["seconds"] if train_info.exists() else float("nan")
    evaluation = evaluate_cell(model, test, mix=cell.mix, mc=config.mc, n_boot=config.n_boot, full_mc=cell.full_mc, seed=cell.seed)
    head = _cell_columns(cell, config, model.config, train_seconds)
    ident = {k: head[k] for k in ("cell_id", "mix_name", "mix", "seed")}
    evaluation.predictions.to_csv(cell_dir / "predictions.csv.gz", index=False, float_format="%.6g")
    for name, frame in (("shift", evaluation.shift), ("ood", evaluation.ood), ("risk_coverage", evaluation.risk_coverage)):
        pd.concat([pd.DataFrame([ident] * len(frame)), frame], axis=1).to_csv(cell_dir / f"{name}.csv", index=False)
    (cell_dir / "cell.json").write_text(json.dumps({"cell": asdict(cell), "settings": {**config.cell_settings(), "full_mc": cell.full_mc}}, indent=2))
    metrics = pd.concat([pd.DataFrame([head] * len(evaluation.metrics)), evaluation.metrics], axis=1)
    metrics.to_csv(cell_dir / "metrics.tmp.csv", index=False)
    (cell_dir / "metrics.tmp.csv").rename(cell_dir / "metrics.csv")  # the marker of a finished cell, written last
    return status


def run_sweep(
    config: SweepConfig,
    *,
    data_root: str | Path | None,
    cache_dir: str | Path,
    out_dir: str | Path,
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
    on_cell: Callable[[CellOutcome, int, int], None] | None = None,
) -> SweepResult:
    """Run every unfinished cell (locally in ``workers`` processes, or on Ray), then write the results tables."""
    from ecgshift.runner import EXECUTORS

    if executor not in EXECUTORS:
        raise EcgShiftError(f"unknown executor {executor!r}; executors: {', '.join(EXECUTORS)}")
    started, out_dir, workers = time.perf_counter(), Path(out_dir).resolve(), max(1, workers or 2)
    config = config.resolved()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sweep.json").write_text(json.dumps(config.to_dict(), indent=2))
    cells = plan_cells(config)
    outcomes: list[CellOutcome] = []

    def report(outcome: CellOutcome) -> None:
        outcomes.append(outcome)
        if on_cell:
            on_cell(outcome, len(outcomes), len(cells))

    finished = {c.cell_id for c in cells if _is_finished(out_dir, c, config)}
    for cell in cells:
        if cell.cell_id in finished:
            report(CellOutcome(cell.cell_id, "skipped", 0.0))
    pending = [c for c in cells if c.cell_id not in finished]
    if pending:
        from ecgshift.runner import run_jobs

        handle = load_data_handle(data_root=data_root, cache_dir=cache_dir)
        jobs = [(cell, config, str(out_dir), handle) for cell in pending]
        for _, outcome in run_jobs(run_cell, jobs, executor=executor, workers=workers if executor == "ray" or len(pending) > 1 else 1,
                                   address=address, on_failure=_failed_cell):
            report(outcome)
    results = collect_results(out_dir, config=config, cells=cells)
    return SweepResult(out_dir, outcomes, results, time.perf_counter() - started)


def _failed_cell(job: tuple, exc: BaseException) -> CellOutcome:
    """A cell whose worker failed (killed, out of memory): that cell's error, not the sweep's end."""
    return CellOutcome(job[0].cell_id, f"error: worker failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}", 0.0)


def collect_results(out_dir: str | Path, *, config: SweepConfig, cells: list[Cell] | None = None) -> pd.DataFrame:
    """Gather the finished cells into ``results.csv`` (+ ``.parquet`` with pyarrow), ``shift.csv``, ``ood.csv``,
    ``risk_coverage.csv`` and ``methods.csv`` (MC Dropout vs fast MC vs deep ensemble); returns the results."""
    from ecgshift.study.evaluation import collect_tables

    out_dir = Path(out_dir)
    done = [_cell_paths(out_dir, c)[1] for c in (plan_cells(config) if cells is None else cells)]
    return collect_tables([d for d in done if (d / "metrics.csv").exists()], ensemble=config.ensemble, out_dir=out_dir)
