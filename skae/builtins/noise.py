"""The built-in noise schemes: ``"gaussian"``, ``"masking"``, ``"salt_and_pepper"``."""

from __future__ import annotations

import math

import torch

from ..hookspecs import NoiseScheme, hookimpl


def _uniform(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(
        batch.shape, generator=generator, device=batch.device, dtype=batch.dtype
    )


def gaussian(
    batch: torch.Tensor, level: float, generator: torch.Generator
) -> torch.Tensor:
    """Add centred Gaussian noise with standard deviation ``level``."""
    noise = torch.randn(
        batch.shape, generator=generator, device=batch.device, dtype=batch.dtype
    )
    return batch + level * noise


def masking(
    batch: torch.Tensor, level: float, generator: torch.Generator
) -> torch.Tensor:
    """Set each entry to zero with probability ``level``."""
    return batch * (_uniform(batch, generator) >= level)


def salt_and_pepper(
    batch: torch.Tensor, level: float, generator: torch.Generator
) -> torch.Tensor:
    """Set a fraction ``level`` of entries to the batch's minimum or maximum.

    Each corrupted entry becomes the minimum ("pepper") or the maximum ("salt")
    of the batch with equal chance: 0 and 1 for data scaled to [0, 1].
    """
    u = _uniform(batch, generator)
    pepper = torch.where(u < level / 2, batch.amin(), batch)
    return torch.where((u >= level / 2) & (u < level), batch.amax(), pepper)


@hookimpl
def register_noise_schemes() -> list[NoiseScheme]:
    return [
        NoiseScheme(
            "gaussian",
            gaussian,
            "Adds N(0, noise_level^2) noise to every entry.",
            (0.0, math.inf),
        ),
        NoiseScheme(
            "masking",
            masking,
            "Zeroes each entry with probability noise_level.",
            (0.0, 1.0),
        ),
        NoiseScheme(
            "salt_and_pepper",
            salt_and_pepper,
            "Sets a fraction noise_level of entries to the batch minimum or maximum.",
            (0.0, 1.0),
        ),
    ]
