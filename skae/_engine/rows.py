"""Training rows on the device: a dense float32 tensor, or a sparse matrix."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch


def to_tensor(rows, device: torch.device, *, share: bool = False) -> torch.Tensor:
    """A float32 tensor on ``device`` from a numpy array or sparse matrix.

    With ``share=True`` a writeable, C-contiguous float32 array is shared, not
    copied: only for tensors that no module ever sees as such (training rows
    reach modules through gathers, which copy). Anything else is converted
    into a new array, so a module that works in place on its input cannot
    change the caller's data.
    """
    if sp.issparse(rows):
        rows = rows.toarray()
    shareable = (
        share
        and isinstance(rows, np.ndarray)
        and rows.dtype == np.float32
        and rows.flags.c_contiguous
        and rows.flags.writeable
    )
    if not shareable:
        rows = np.array(rows, dtype=np.float32, order="C")
    return torch.from_numpy(rows).to(device)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch of ``n`` rows.

    A last batch of a single row joins the one before it: layers with batch
    statistics (BatchNorm) cannot train on one row.
    """
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, [*starts[1:], n]))


def check_validation_size(n: int, fraction: float) -> int:
    """The number of validation rows out of ``n``; an error if none can be kept."""
    n_val = math.ceil(fraction * n)
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"The validation set is too small: {n} sample(s) leave no room for "
            "a validation set. Increase validation_fraction, add samples, or "
            "set early_stopping=False."
        )
    return n_val


class Rows:
    """Training rows: a dense tensor on the device, or a sparse matrix on the host.

    Sparse rows are densified one batch at a time, never whole.
    """

    def __init__(self, X, device: torch.device) -> None:
        self.device = device
        if sp.issparse(X):
            self.sparse, self.dense = sp.csr_matrix(X), None
        else:
            self.sparse, self.dense = None, to_tensor(X, device, share=True)

    def __len__(self) -> int:
        return self.dense.shape[0] if self.sparse is None else self.sparse.shape[0]

    @property
    def n_features(self) -> int:
        """The width of one row."""
        return (self.dense if self.sparse is None else self.sparse).shape[1]

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (a tensor on the device), as a dense batch."""
        if self.sparse is None:
            return self.dense[index]
        return to_tensor(self.sparse[index.cpu().numpy()], self.device)

    def split(self, index: torch.Tensor) -> Rows:
        """The subset of rows at ``index``, as new :class:`Rows`."""
        subset = Rows.__new__(Rows)
        subset.device = self.device
        if self.sparse is None:
            subset.sparse, subset.dense = None, self.dense[index]
        else:
            subset.sparse, subset.dense = self.sparse[index.cpu().numpy()], None
        return subset

    def sample(self, n_max: int, generator: torch.Generator) -> Rows:
        """These rows if there are at most ``n_max``, else ``n_max`` at random."""
        if len(self) <= n_max:
            return self
        index = torch.randperm(len(self), generator=generator, device=self.device)
        return self.split(index[:n_max])

    def epoch(
        self, batch_size: int, generator: torch.Generator, shard=None
    ) -> Iterator[tuple[torch.Tensor, int]]:
        """One shuffled pass: ``(batch, global batch size)`` pairs.

        With a ``shard`` (data-parallel training), each batch is this rank's
        part of the global batch that every rank draws alike.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator, device=self.device)
        for start, stop in batch_bounds(n, batch_size):
            yield self.take(_take_part(order[start:stop], shard)), stop - start

    def split_validation(self, fraction: float, generator: torch.Generator):
        """``(training rows, validation rows)``, a random ``fraction`` held out."""
        n = len(self)
        n_val = check_validation_size(n, fraction)
        order = torch.randperm(n, generator=generator, device=self.device)
        return self.split(order[n_val:]), self.split(order[:n_val])

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """All rows in order, ``batch_size`` at a time, as copies."""
        for start in range(0, len(self), batch_size):
            stop = start + batch_size
            if self.sparse is None:
                yield self.dense[start:stop].clone()
            else:
                yield to_tensor(self.sparse[start:stop], self.device)


def _take_part(index: torch.Tensor, shard) -> torch.Tensor:
    return index if shard is None else shard.part(index)


class StreamedRows:
    """Rows read from storage a chunk at a time, never all at once.

    ``read(start, stop)`` returns rows ``start`` to ``stop`` as a numpy array;
    ``chunks`` lists the ``(start, stop)`` ranges to read. Each epoch shuffles
    the order of the chunks, reads them ``buffer_chunks`` at a time into one
    float32 buffer on the device, and shuffles the rows within that buffer:
    memory stays at one buffer, whatever the size of the data, at the price
    of a shuffle that mixes rows only within a buffer of chunks (rows far
    apart in storage never share a batch within one epoch).
    """

    def __init__(
        self,
        read: Callable[[int, int], np.ndarray],
        chunks: list[tuple[int, int]],
        n_features: int,
        device: torch.device,
        buffer_chunks: int = 4,
    ) -> None:
        self.read, self.chunks, self.n_features = read, chunks, n_features
        self.device, self.buffer_chunks = device, buffer_chunks

    def __len__(self) -> int:
        return sum(stop - start for start, stop in self.chunks)

    def _load(self, chunks: list[tuple[int, int]]) -> torch.Tensor:
        n = sum(stop - start for start, stop in chunks)
        buffer = np.empty((n, self.n_features), dtype=np.float32)
        row = 0
        for start, stop in chunks:
            buffer[row : row + stop - start] = self.read(start, stop)
            row += stop - start
        return torch.from_numpy(buffer).to(self.device)

    def _shuffled(self, generator: torch.Generator) -> list[tuple[int, int]]:
        order = torch.randperm(
            len(self.chunks), generator=generator, device=generator.device
        )
        return [self.chunks[i] for i in order.tolist()]

    def epoch(
        self, batch_size: int, generator: torch.Generator, shard=None
    ) -> Iterator[tuple[torch.Tensor, int]]:
        """One shuffled pass, as :meth:`Rows.epoch`, buffer by buffer."""
        chunks = self._shuffled(generator)
        buffer = None
        for first in range(0, len(chunks), self.buffer_chunks):
            del buffer  # one buffer at a time: free the last before reading on
            buffer = self._load(chunks[first : first + self.buffer_chunks])
            order = torch.randperm(len(buffer), generator=generator, device=self.device)
            for start, stop in batch_bounds(len(buffer), batch_size):
                yield buffer[_take_part(order[start:stop], shard)], stop - start

    def split_validation(self, fraction: float, generator: torch.Generator):
        """Whole chunks held out at random: ``(training rows, validation rows)``."""
        chunks = self._shuffled(generator)
        n_val = check_validation_size(len(chunks), fraction)
        return self._with(chunks[n_val:]), self._with(chunks[:n_val])

    def _with(self, chunks: list[tuple[int, int]]) -> StreamedRows:
        return StreamedRows(
            self.read, sorted(chunks), self.n_features, self.device, self.buffer_chunks
        )

    def sample(self, n_max: int, generator: torch.Generator) -> Rows:
        """At most ``n_max`` random rows, read from random chunks, in memory."""
        chunks, n = [], 0
        for chunk in self._shuffled(generator):
            if n >= n_max:
                break
            chunks.append(chunk)
            n += chunk[1] - chunk[0]
        rows = Rows.__new__(Rows)
        rows.device, rows.sparse, rows.dense = self.device, None, self._load(chunks)
        return rows.sample(n_max, generator)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """All rows in order, ``batch_size`` at a time."""
        for start, stop in self.chunks:
            block = to_tensor(self.read(start, stop), self.device)
            yield from block.split(batch_size)
