"""Batch statistics (BatchNorm) need two rows a step: refuse smaller steps clearly.

:func:`check_batch_statistics` runs before training, on every rank alike, so
that a step of one row gets a ValueError that says what to change instead of
torch's error from inside the first step (or, data-parallel, a rank that
waits for a failed peer).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .rows import Rows, batch_bounds

#: The layers that normalise with the statistics of the batch they train on.
BATCH_STATISTICS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def check_batch_statistics(
    module: nn.Module,
    rows: Rows,
    batch_size: int,
    world: int = 1,
    validation_fraction: float | None = None,
) -> None:
    """Refuse, before any step on any rank, steps too small for batch statistics.

    BatchNorm cannot train on one value per channel. :func:`batch_bounds`
    joins a last batch of one row to the one before, but a training set (or a
    ``partial_fit`` chunk) of one row, ``batch_size=1``, or a data-parallel
    rank's part of a batch can still be one row. When the smallest step is
    under 2 rows, a copy of the module is tried on that many rows in training
    mode (a ``BatchNorm2d`` over feature maps trains on one row), and torch's
    error becomes one that says what to change. Every rank sees the same
    sizes, so all refuse together.
    """
    layers = sorted(
        {type(m).__name__ for m in module.modules() if isinstance(m, BATCH_STATISTICS)}
    )
    if not layers:  # the usual case: nothing to check
        return
    steps = batch_bounds(len(rows), min(batch_size, len(rows)))
    smallest = min((stop - start) // world for start, stop in steps)
    if smallest >= 2 or smallest < 1:
        return
    probe = copy.deepcopy(module).train()
    batch = next(rows.batches(smallest))
    generator = torch.Generator(device=batch.device).manual_seed(0)
    try:
        probe.loss(batch, batch, generator)
    except ValueError as exc:
        if "Expected more than 1 value per channel" not in str(exc):
            raise
        why = f"{len(rows)} training row{'s' if len(rows) > 1 else ''}"
        if validation_fraction is not None:
            why += (
                f" after holding out validation_fraction={validation_fraction}"
                " for early stopping"
            )
        why += f", batch_size={batch_size}"
        if world > 1:
            why += f", each batch split over {world} data-parallel ranks"
        raise ValueError(
            f"The architecture normalises with batch statistics "
            f"({', '.join(layers)}), which need at least 2 rows in every "
            f"training step; here a step gets {smallest} ({why}). Train on at "
            "least 2 rows (with partial_fit, pass chunks of at least 2 rows), "
            "use batch_size >= 2 (at least 2 per rank with data_parallel), or "
            "choose an architecture without batch normalisation."
        ) from None
