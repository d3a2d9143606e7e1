"""Training rows on the device: a dense float32 tensor, or a sparse matrix."""

from __future__ import annotations

from collections.abc import Iterator

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

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """All rows in order, ``batch_size`` at a time, as copies."""
        for start in range(0, len(self), batch_size):
            stop = start + batch_size
            if self.sparse is None:
                yield self.dense[start:stop].clone()
            else:
                yield to_tensor(self.sparse[start:stop], self.device)
