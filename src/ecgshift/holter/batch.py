"""Many Holter recordings → one output folder each, every recording accounted for in ``holter_summary.csv``.

Each recording ends ``done``, ``rejected: <reason>`` (bad input, one line) or ``error: <reason>`` (an unexpected
failure: the batch goes on), the statuses of :mod:`ecgshift.status`. Locally the model is loaded once; with
``executor="ray"`` (:mod:`ecgshift.runner`) each task loads it itself, so recordings, model and output folder must
be on a filesystem every worker sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from ecgshift.errors import BadInputError
from ecgshift.status import DONE, ERROR, REJECTED, status

__all__ = ["SUMMARY_FILE", "analyse_to_folder", "output_folders", "analyse_batch"]

SUMMARY_FILE = "holter_summary.csv"
_LEADING = ("record", "path", "status", "folder")


def analyse_to_folder(path: Path, folder: Path, *, model, config, reference: Optional[str],
                      on_chunk: Optional[Callable[[float, float], None]] = None, fs: Optional[float] = None) -> dict:
    """Analyse one recording and write its files into ``folder`` (:func:`ecgshift.holter.report.write_outputs`: episodes
    also as a WFDB annotation file); the returned row says done / rejected / error. ``fs``: for files that do not store
    their sampling rate (plain CSV)."""
    from ecgshift.holter.analysis import analyse_holter
    from ecgshift.holter.report import summary_row, write_outputs

    base = {"record": folder.name, "path": str(path)}
    try:
        result = analyse_holter(path, model=model, config=config, reference=reference, on_chunk=on_chunk, fs=fs)
        write_outputs(result, folder)
    except BadInputError as exc:
        return {**base, "status": status(REJECTED, exc.reason_for(path))}
    except OSError as exc:  # unreadable input or unwritable output, in the user's terms
        return {**base, "status": status(REJECTED, f"{exc.strerror or type(exc).__name__}: {exc.filename or path}")}
    except Exception as exc:  # noqa: BLE001 — a bug or an unforeseen input: reported, and the batch goes on
        return {**base, "status": status(ERROR, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")}
    return {**base, "status": DONE, "folder": str(folder), **summary_row(result), "record": folder.name}


def output_folders(inputs: list[Path], out: Path) -> list[Path]:
    """``<out>/<record name>``, made unique with ``_2``, ``_3`` … when two inputs share a name."""
    used: dict[str, int] = {}
    folders = []
    for path in inputs:
        name = path.stem if path.suffix.lower() in {".hea", ".dat", ".edf", ".csv"} else path.name
        used[name] = used.get(name, 0) + 1
        folders.append(out / (name if used[name] == 1 else f"{name}_{used[name]}"))
    return folders


def _remote_job(path: str, folder: str, model_dir: Optional[str], config, reference: Optional[str], fs: Optional[float] = None) -> dict:
    """One recording on a worker: the model loaded there."""
    from ecgshift.predictor import load_model

    return analyse_to_folder(Path(path), Path(folder), model=load_model(model_dir), config=config, reference=reference, fs=fs)


def analyse_batch(inputs: list[Path], out: Path, *, model_dir: Optional[Path], config, reference: Optional[str],
                  executor: str = "local", address: Optional[str] = None,
                  on_progress: Optional[Callable[[str, float, int], None]] = None, fs: Optional[float] = None) -> pd.DataFrame:
    """Every recording of ``inputs`` analysed into ``out/<record>``; the summary table (also written to
    ``out/holter_summary.csv``). ``on_progress(name, share_of_recording, recordings_done)``; ``fs``: the sampling rate
    of inputs that do not store one (plain CSV)."""
    from ecgshift.predictor import load_model

    folders = output_folders(inputs, out)
    model = load_model(model_dir)  # a bad model folder fails here, once, not in every task
    rows: list[dict] = [{} for _ in inputs]
    if executor == "local":
        for i, (path, folder) in enumerate(zip(inputs, folders)):
            def on_chunk(done_s: float, total_s: float, name: str = folder.name, i: int = i) -> None:
                if on_progress:
                    on_progress(name, done_s / max(total_s, 1e-9), i)

            rows[i] = analyse_to_folder(path, folder, model=model, config=config, reference=reference, on_chunk=on_chunk, fs=fs)
            if on_progress:
                on_progress(folder.name, 1.0, i + 1)
    else:
        from ecgshift.runner import run_jobs

        model_arg = None if model_dir is None else str(Path(model_dir).resolve())
        jobs = [(str(Path(p).resolve()), str(Path(f).resolve()), model_arg, config, reference, fs) for p, f in zip(inputs, folders)]

        def failed(job: tuple, exc: BaseException) -> dict:
            return {"record": Path(job[1]).name, "path": job[0], "status": status(ERROR, f"ray task failed: {' '.join(str(exc).split())[:200]}")}

        for done, (i, row) in enumerate(run_jobs(_remote_job, jobs, executor=executor, workers=1, address=address, on_failure=failed), 1):
            rows[i] = row
            if on_progress:
                on_progress(folders[i].name, 1.0, done)
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in _LEADING if c in frame] + [c for c in frame.columns if c not in _LEADING]]
    frame.to_csv(out / SUMMARY_FILE, index=False)
    return frame
