"""How many threads the network uses while the rhythm evidence runs beside it.

The pipeline (:mod:`ecgshift.pipeline`) runs the network in the calling thread and the rhythm evidence (R-peaks, RR
features) in one background thread. With torch's default — one thread per core — the two oversubscribe the machine:
on a busy 2-core machine ``ecgshift holter`` took 10 min on the 24-h benchmark recording with the default and 59 s
with one torch thread (issue 22). The default here: torch gets the cores this process may use
(``os.sched_getaffinity``) minus one for the rhythm thread, at least one, and never more than torch is already set
to (so a worker that set one thread, :mod:`ecgshift.runner`, keeps one); ``--threads`` on ``predict`` and ``holter``
(``PipelineConfig.threads``, ``HolterConfig.threads``) overrides it. The setting holds only while a recording is
analysed (:func:`torch_threads` restores torch's own afterwards).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

__all__ = ["available_cores", "default_torch_threads", "torch_threads"]


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_torch_threads(*, rhythm: bool = True) -> int:
    """Torch threads for one analysis: the available cores, minus one for the rhythm thread when it runs, at most
    torch's current setting; at least 1."""
    import torch

    return max(1, min(available_cores() - (1 if rhythm else 0), torch.get_num_threads()))


@contextmanager
def torch_threads(n: int | None, *, rhythm: bool = True) -> Iterator[int]:
    """Run the block with ``n`` torch threads (None: :func:`default_torch_threads`), then restore torch's setting."""
    import torch

    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise ValueError(f"threads must be a whole number ≥ 1, not {n!r}")
    before = torch.get_num_threads()
    chosen = int(n) if n is not None else default_torch_threads(rhythm=rhythm)
    try:
        torch.set_num_threads(chosen)
        yield chosen
    finally:
        torch.set_num_threads(before)
