"""skae-extras: two architectures and two noise schemes for skae, as a plugin.

Installing this distribution is all it takes: skae finds it through the
``skae`` entry point declared in ``setup.cfg`` and registers the hooks below.

>>> from skae import registry
>>> entry = registry.architectures()["resmlp"]
>>> entry.provider.distribution
'skae-extras'
>>> schemes = registry.noise_schemes()
>>> sorted(n for n, e in schemes.items() if e.provider.distribution == "skae-extras")
['speckle', 'swap']
"""

from __future__ import annotations

import math

from skae import Architecture, NoiseScheme, hookimpl

from .architectures import ResidualBlock, build_conv1d, build_resmlp
from .noise import speckle, swap

__version__ = "0.1.0"

__all__ = [
    "ResidualBlock",
    "__version__",
    "build_conv1d",
    "build_resmlp",
    "register_architectures",
    "register_noise_schemes",
    "speckle",
    "swap",
]


@hookimpl
def register_architectures() -> list[Architecture]:
    """The architectures of skae-extras: ``"resmlp"`` and ``"conv1d"``."""
    return [
        Architecture(
            "resmlp",
            build_resmlp,
            "MLP of pre-norm residual blocks (width, n_blocks, activation).",
        ),
        Architecture(
            "conv1d",
            build_conv1d,
            "1-D convolutions along the features, for signals and spectra "
            "(channels, kernel_size, activation).",
        ),
    ]


@hookimpl
def register_noise_schemes() -> list[NoiseScheme]:
    """The noise schemes of skae-extras: ``"speckle"`` and ``"swap"``."""
    return [
        NoiseScheme(
            "speckle",
            speckle,
            "Multiplies every entry by 1 + N(0, noise_level^2).",
            (0.0, math.inf),
        ),
        NoiseScheme(
            "swap",
            swap,
            "Replaces a fraction noise_level of entries with the same feature "
            "of another row of the batch.",
            (0.0, 1.0),
        ),
    ]
