"""Data that stays in storage: numpy memmaps, HDF5 and Zarr arrays, Dask arrays.

skae never loads such data whole. :func:`open_source` checks it one chunk at
a time (shape, dtype, finite values, range) and wraps it in a :class:`Source`,
which reads row ranges on demand: training streams chunks through a shuffle
buffer, and inference reads 512 rows at a time, so memory beyond the model
stays bounded by :data:`CHUNK_BYTES`, whatever the size of the data.

Nothing here imports h5py, zarr or dask: they are recognised by the module
their classes come from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ._engine.rows import Rows, StreamedRows

# Rows are read from storage in chunks of about this many bytes (as float32);
# chunk boundaries follow the storage's own row chunks where it has them.
CHUNK_BYTES = 16 * 2**20
# Training shuffles rows within a buffer of this many chunks (64 MiB).
BUFFER_CHUNKS = 4
# Out-of-core data up to this size is simply loaded for training.
IN_MEMORY_BYTES = 64 * 2**20
_STORAGE_MODULES = ("h5py", "zarr", "dask")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_out_of_core(X) -> bool:
    """Whether ``X`` is data in storage that skae reads chunk by chunk."""
    if isinstance(X, np.memmap):
        return True
    return type(X).__module__.split(".")[0] in _STORAGE_MODULES


def is_dask(X) -> bool:
    """Whether ``X`` is a Dask array."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


@dataclass
class Source:
    """Rows of an out-of-core array, read on demand, with its checked statistics.

    It looks enough like an array for skae's inference (``shape``, ``dtype``,
    ``len`` and slicing by rows return numpy arrays).
    """

    X: object
    shape: tuple[int, int]
    dtype: np.dtype
    chunk_rows: int
    minimum: float = math.inf
    maximum: float = -math.inf
    dask: bool = field(default=False)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes32(self) -> int:
        """Its size as float32, the way skae computes."""
        return self.shape[0] * self.shape[1] * 4

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start`` to ``stop`` as a numpy array (of the stored dtype)."""
        block = self.X[start:stop]
        if self.dask:
            block = block.compute()
        return np.asarray(block)

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("a Source is read by contiguous row ranges only")
        start, stop, _ = rows.indices(self.shape[0])
        return self.read(start, stop)

    def chunks(self) -> list[tuple[int, int]]:
        """``(start, stop)`` of every chunk, in order."""
        n = self.shape[0]
        return [(s, min(s + self.chunk_rows, n)) for s in range(0, n, self.chunk_rows)]

    def load(self) -> np.ndarray:
        """All rows in memory as float32 (for small data only)."""
        out = np.empty(self.shape, dtype=np.float32)
        for start, stop in self.chunks():
            out[start:stop] = self.read(start, stop)
        return out


def _storage_chunk_rows(X) -> int | None:
    """Rows per chunk of the storage itself (Dask, Zarr, HDF5), if it has them."""
    chunks = getattr(X, "chunks", None)
    if not chunks:
        return None
    first = chunks[0]
    if isinstance(first, tuple):  # dask: the rows of every block
        if any(isinstance(c, float) and math.isnan(c) for c in first):
            raise ValueError(
                "X is a Dask array with unknown chunk sizes, so skae cannot plan "
                "its reads. Call X.compute_chunk_sizes() (or build X with known "
                "chunks) first."
            )
        return max(first) if first else None
    return int(first)


def open_source(X, name: str = "X") -> Source:
    """Check out-of-core ``X`` chunk by chunk and wrap it in a :class:`Source`.

    Refuses, with a ``ValueError`` or ``TypeError`` naming ``name``, what
    :func:`sklearn.utils.check_array` refuses in memory: a shape that is not
    2-D, no rows or no features, a non-numeric dtype, NaN or infinite values,
    and values float32 cannot hold.
    """
    shape = tuple(getattr(X, "shape", ()))
    if any(isinstance(s, float) and math.isnan(s) for s in shape):
        _storage_chunk_rows(X)  # the message about unknown chunk sizes
    if len(shape) != 2:
        raise ValueError(
            f"Expected a 2-D array for {name}, got an array of shape {shape}. "
            "skae takes one row of features per sample."
        )
    n_rows, n_features = (int(s) for s in shape)
    if n_rows < 1 or n_features < 1:
        raise ValueError(
            f"Found array with {n_rows} sample(s) and {n_features} feature(s) "
            f"(shape={shape}) while a minimum of 1 is required."
        )
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers, but its dtype is {dtype}. Convert it, "
            "chunk by chunk, to a float dtype."
        )
    rows = max(1, CHUNK_BYTES // (4 * n_features))
    storage = _storage_chunk_rows(X)
    if storage:  # whole storage chunks per read
        rows = max(storage, rows // storage * storage)
    source = Source(X, (n_rows, n_features), dtype, rows, dask=is_dask(X))
    for start, stop in source.chunks():
        block = source.read(start, stop)
        low, high = block.min(), block.max()
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(
                f"Input {name} contains NaN or infinity (in rows {start} to "
                f"{stop}). Remove or impute them first."
            )
        if dtype.kind == "f" and max(high, -low) > _FLOAT32_MAX:
            raise ValueError(
                f"{name} contains values too large for float32 (beyond 3.4e38), "
                "the precision skae computes in. Scale it first."
            )
        source.minimum = min(source.minimum, float(low))
        source.maximum = max(source.maximum, float(high))
    return source


def training_rows(X, device: torch.device) -> Rows | StreamedRows:
    """The engine's training rows: in memory, or streamed from storage."""
    if not isinstance(X, Source):
        return Rows(X, device)
    if X.nbytes32 <= IN_MEMORY_BYTES:
        return Rows(X.load(), device)
    return StreamedRows(X.read, X.chunks(), X.shape[1], device, BUFFER_CHUNKS)


def lazy_blocks(method, X, width: int | None):
    """``method`` over the row blocks of Dask array ``X``, as a lazy Dask array.

    Each block is computed on the workers by ``method`` (a bound method of a
    fitted estimator, shipped to them by pickle): nothing is gathered on the
    client. ``width`` is the result's number of columns (None: one value per
    row). The result is float32 for float32 input, else float64, as in memory.
    """
    if any(isinstance(c, float) and math.isnan(c) for c in X.shape):
        _storage_chunk_rows(X)  # the message about unknown chunk sizes
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D Dask array, got shape {X.shape}.")
    X = X.rechunk({1: -1})  # whole rows in every block
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if width is None:
        return X.map_blocks(method, dtype=dtype, drop_axis=1)
    return X.map_blocks(method, dtype=dtype, chunks=(X.chunks[0], (width,)))
