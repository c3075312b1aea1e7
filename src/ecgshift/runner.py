"""Independent jobs run here or elsewhere: in this process, in worker processes, or as Ray tasks.

One implementation for every batch that fans out — the modality-mix sweep (one job per cell) and
``ecgshift holter --executor ray`` (one job per recording). Each job is ``fn(*args)``; every job is accounted
for: a job whose worker fails gives ``on_failure(args, exc)`` in its place, and the batch goes on.
Workers run torch with one thread each (the jobs, not the threads, use the cores).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence

from ecgshift.errors import EcgShiftError

__all__ = ["EXECUTORS", "run_jobs"]

EXECUTORS = ("local", "ray")


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _call(fn: Callable, args: tuple) -> Any:
    _one_thread()
    return fn(*args)


def run_jobs(fn: Callable, jobs: Sequence[tuple], *, executor: str = "local", workers: int = 1, address: str | None = None,
             on_failure: Callable[[tuple, BaseException], Any]) -> Iterator[tuple[int, Any]]:
    """``(index, fn(*jobs[index]))`` for every job, in completion order.

    ``executor="local"``: in this process when ``workers == 1``, else in ``workers`` spawned processes; ``"ray"``: one
    Ray task per job (``ray.init(address=...)``, or a local Ray instance with ``workers`` CPUs), so ``fn``, its arguments
    and any files they name must be reachable from every worker. Without Ray installed: one line saying what to install."""
    if executor not in EXECUTORS:
        raise EcgShiftError(f"unknown executor {executor!r}; executors: {', '.join(EXECUTORS)}")
    if not jobs:
        return
    if executor == "ray":
        yield from _ray(fn, jobs, workers=workers, address=address, on_failure=on_failure)
    elif workers <= 1:
        for i, args in enumerate(jobs):
            try:
                yield i, fn(*args)
            except Exception as exc:  # noqa: BLE001 — one job's failure, not the batch's end
                yield i, on_failure(args, exc)
    else:
        spawn = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=spawn, initializer=_one_thread) as pool:
            futures = {pool.submit(fn, *args): i for i, args in enumerate(jobs)}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    yield i, future.result()
                except Exception as exc:  # noqa: BLE001 — a worker that died (killed, out of memory)
                    yield i, on_failure(jobs[i], exc)


def _ray(fn: Callable, jobs: Sequence[tuple], *, workers: int, address: str | None, on_failure) -> Iterator[tuple[int, Any]]:
    try:
        import ray
    except ImportError:
        raise EcgShiftError("executor 'ray' needs Ray, which is not installed: pip install ray (or ecgshift[ray])") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**({"address": address} if address else {"num_cpus": max(1, workers)}), include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    try:
        task = ray.remote(num_cpus=1)(_call)
        refs = {task.remote(fn, args): i for i, args in enumerate(jobs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = refs[done[0]]
            try:
                yield i, ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 — a task that raised or whose worker died
                yield i, on_failure(jobs[i], exc)
    finally:
        if started_here:
            ray.shutdown()
