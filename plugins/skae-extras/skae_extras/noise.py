"""The ``"speckle"`` and ``"swap"`` noise schemes.

Both follow skae's contract (see :class:`skae.NoiseScheme`): ``corrupt(batch,
level, generator)`` returns a new tensor of ``batch``'s shape, dtype and
device, draws all randomness from ``generator`` and leaves ``batch`` alone.

>>> import torch
>>> batch = torch.ones(2, 3)
>>> torch.equal(speckle(batch, 0.0, torch.Generator().manual_seed(0)), batch)
True
"""

from __future__ import annotations

import torch


def speckle(
    batch: torch.Tensor, level: float, generator: torch.Generator
) -> torch.Tensor:
    """Multiply every entry by ``1 + level * N(0, 1)``.

    Multiplicative noise scales with the signal: zeros stay zero and large
    values get large perturbations, as in radar and ultrasound images.

    Parameters
    ----------
    batch : torch.Tensor of shape (batch_size, n_features)
        Clean inputs; not modified.
    level : float
        Standard deviation of the multiplicative factor, at least 0. At 0 the
        batch comes back unchanged.
    generator : torch.Generator
        Source of all randomness, on ``batch``'s device.

    Returns
    -------
    torch.Tensor
        A corrupted copy of ``batch``.
    """
    noise = torch.randn(
        batch.shape, generator=generator, device=batch.device, dtype=batch.dtype
    )
    return batch * (1 + level * noise)


def swap(batch: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """Replace each entry, with probability ``level``, by its value in a random row.

    "Swap noise" keeps every feature's marginal distribution, which suits tabular
    data whose columns have different scales or are categorical codes.

    Parameters
    ----------
    batch : torch.Tensor of shape (batch_size, n_features)
        Clean inputs; not modified.
    level : float
        Probability in [0, 1] that an entry is swapped. At 0 the batch comes
        back unchanged.
    generator : torch.Generator
        Source of all randomness, on ``batch``'s device.

    Returns
    -------
    torch.Tensor
        A corrupted copy of ``batch``.
    """
    shape, device = batch.shape, batch.device
    swapped = torch.rand(shape, generator=generator, device=device) < level
    donors = torch.randint(shape[0], shape, generator=generator, device=device)
    return torch.where(swapped, batch.gather(0, donors), batch)
