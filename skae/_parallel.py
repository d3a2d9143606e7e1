"""Torch's thread count inside Dask workers.

A Dask worker runs its tasks on its own pool of ``nthreads`` threads, and
starts its processes with ``OMP_NUM_THREADS=1``; how many threads torch then
uses in a task is left to whatever set it last. :func:`torch_threads` makes it
deliberate: inside a task of a ``distributed`` worker, torch uses exactly the
worker's ``nthreads`` for the duration, and the previous count comes back
afterwards. Anywhere else it does nothing.

This module imports torch only. It never imports dask or distributed: a
process that has not imported ``distributed`` itself cannot be running a
Dask task, so the check costs one dictionary look-up.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch

__all__ = ["torch_threads", "worker_threads"]


def worker_threads() -> int | None:
    """The thread count of the Dask worker running this code, or None.

    None outside a task of a ``distributed`` worker, and always when
    ``distributed`` has not been imported by this process.

    Examples
    --------
    >>> from skae._parallel import worker_threads
    >>> worker_threads() is None  # not inside a Dask worker
    True
    """
    get_worker = getattr(sys.modules.get("distributed"), "get_worker", None)
    if get_worker is None:  # not imported (or a module of that name, not Dask's)
        return None
    try:
        worker = get_worker()
    except ValueError:  # "No worker found": not in a worker's task
        return None
    state = getattr(worker, "state", None)  # distributed >= 2022.11
    nthreads = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None)
    return int(nthreads) if nthreads else None


@contextlib.contextmanager
def torch_threads() -> Iterator[int]:
    """Run torch on the Dask worker's threads for the duration of the block.

    Inside a task of a ``distributed`` worker, sets
    ``torch.set_num_threads`` to the worker's ``nthreads`` and restores the
    previous count on exit, also when the block raises. Elsewhere it changes
    nothing. Torch's count belongs to the calling thread (OpenMP), so enter it
    in the thread that runs torch.

    Yields
    ------
    n_threads : int
        The number of threads torch uses inside the block.

    Examples
    --------
    >>> import torch
    >>> from skae._parallel import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads() as n:  # outside a Dask worker: no change
    ...     n == before == torch.get_num_threads()
    True
    """
    previous = torch.get_num_threads()
    wanted = worker_threads()
    if wanted is None or wanted == previous:
        yield previous
        return
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(previous)
