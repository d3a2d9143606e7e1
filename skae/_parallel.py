"""Torch's thread count, and glibc's heap, inside Dask workers.

A Dask worker runs its tasks on its own pool of ``nthreads`` threads, and
starts its processes with ``OMP_NUM_THREADS=1``; how many threads torch then
uses in a task is left to whatever set it last. :func:`worker_context` makes it
deliberate: inside a task of a ``distributed`` worker, torch uses exactly the
worker's ``nthreads`` for the duration, and the previous count comes back
afterwards. Anywhere else it does nothing.

Dask's nanny also starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``). Setting any of glibc's malloc
thresholds switches off its sliding mmap threshold, which leaves every
allocation of 128 KiB or more to ``mmap`` and ``munmap``. Training allocates
such buffers on every step (a batch of 128 rows through a layer of 256 is 128
KiB of float32), so in a worker each of them came as fresh pages the kernel
had to zero, and a fit there took about 1.4 times the CPU of the same fit
anywhere else. Inside a worker's task, :func:`worker_context` therefore also
raises glibc's mmap and trim thresholds to the ceilings its sliding threshold
would reach (32 and 64 MiB) while the block runs; when the last such block
in the process ends, the thresholds the environment set come back and
``malloc_trim(0)`` returns the freed heap to the system, as Dask wants.
Processes where glibc's thresholds still slide (no such variable set), or
without glibc, are left alone.

This module imports torch only. It never imports dask or distributed: a
process that has not imported ``distributed`` itself cannot be running a
Dask task, so the check costs one dictionary look-up.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import sys
import threading
from collections.abc import Iterator

import torch

__all__ = ["worker_context", "worker_threads"]

# glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_DEFAULT_THRESHOLD = 128 * 1024  # both thresholds' defaults
# The ceilings of glibc's sliding thresholds on 64-bit systems.
_ROOMY_MMAP = 32 * 1024 * 1024
_ROOMY_TRIM = 2 * _ROOMY_MMAP
# Environment variables (and tunables) that fix glibc's thresholds.
_FIXING = {
    "MALLOC_TRIM_THRESHOLD_": "glibc.malloc.trim_threshold",
    "MALLOC_MMAP_THRESHOLD_": "glibc.malloc.mmap_threshold",
    "MALLOC_TOP_PAD_": "glibc.malloc.top_pad",
    "MALLOC_MMAP_MAX_": "glibc.malloc.mmap_max",
}

_heap_lock = threading.Lock()
_heap_users = 0
_heap_restore: tuple[int, int] | None = None


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
def worker_context() -> Iterator[int]:
    """Set torch's threads and glibc's heap for the Dask worker running the block.

    Inside a task of a ``distributed`` worker, sets
    ``torch.set_num_threads`` to the worker's ``nthreads`` and restores the
    previous count on exit, also when the block raises; and, where the
    environment fixed glibc's malloc thresholds (Dask's nanny does), raises
    them for the block (see the module's docstring). Elsewhere it changes
    nothing. Torch's count belongs to the calling thread (OpenMP), so enter it
    in the thread that runs torch.

    Yields
    ------
    n_threads : int
        The number of threads torch uses inside the block.

    Examples
    --------
    >>> import torch
    >>> from skae._parallel import worker_context
    >>> before = torch.get_num_threads()
    >>> with worker_context() as n:  # outside a Dask worker: no change
    ...     n == before == torch.get_num_threads()
    True
    """
    previous = torch.get_num_threads()
    wanted = worker_threads()
    if wanted is None:
        yield previous
        return
    with _roomy_heap():
        if wanted == previous:
            yield previous
            return
        torch.set_num_threads(wanted)
        try:
            yield wanted
        finally:
            torch.set_num_threads(previous)


def fixed_malloc_thresholds(environ=None) -> tuple[int, int] | None:
    """glibc's ``(mmap, trim)`` thresholds where the environment fixed them.

    None where none of the variables (or tunables) that switch off glibc's
    sliding mmap threshold is set: then glibc manages them itself.

    Examples
    --------
    >>> from skae._parallel import fixed_malloc_thresholds
    >>> fixed_malloc_thresholds({"MALLOC_TRIM_THRESHOLD_": "65536"})
    (131072, 65536)
    >>> fixed_malloc_thresholds({}) is None
    True
    """
    environ = os.environ if environ is None else environ
    tunables = {}
    for item in environ.get("GLIBC_TUNABLES", "").split(":"):
        name, _, value = item.partition("=")
        tunables[name.strip()] = value.strip()
    values = {}
    for variable, tunable in _FIXING.items():
        value = environ.get(variable, tunables.get(tunable))
        if value is not None:
            try:
                values[variable] = int(value, 0)
            except ValueError:
                values[variable] = _DEFAULT_THRESHOLD  # glibc ignores it
    if not values:
        return None
    return (
        values.get("MALLOC_MMAP_THRESHOLD_", _DEFAULT_THRESHOLD),
        values.get("MALLOC_TRIM_THRESHOLD_", _DEFAULT_THRESHOLD),
    )


@functools.cache
def _glibc():
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    return libc


@contextlib.contextmanager
def _roomy_heap() -> Iterator[None]:
    """glibc's thresholds at their ceilings while any such block runs."""
    global _heap_users, _heap_restore
    with _heap_lock:
        if _heap_users == 0:
            _heap_restore = _raise_thresholds()
        _heap_users += 1
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0 and _heap_restore is not None:
                _set_thresholds(*_heap_restore)
                _glibc().malloc_trim(0)
                _heap_restore = None


def _raise_thresholds() -> tuple[int, int] | None:
    """Raise the fixed thresholds; the values to restore, or None if unchanged."""
    fixed = fixed_malloc_thresholds()
    if fixed is None or _glibc() is None:
        return None
    mmap, trim = fixed
    if mmap >= _ROOMY_MMAP and trim >= _ROOMY_TRIM:
        return None
    _set_thresholds(max(mmap, _ROOMY_MMAP), max(trim, _ROOMY_TRIM))
    return mmap, trim


def _set_thresholds(mmap: int, trim: int) -> None:
    libc = _glibc()
    libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(mmap))
    libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(trim))
