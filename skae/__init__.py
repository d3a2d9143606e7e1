"""skae: scikit-learn estimators for autoencoders, built on PyTorch, open to plugins.

>>> import skae
>>> sorted(skae.__all__)[:4]
['Architecture', 'AutoencoderOutlierDetector', 'AutoencoderTransformer', 'BetaVAE']
"""

from . import registry
from ._distributed import data_parallel
from ._version import __version__
from .autoencoders import AutoencoderTransformer, DenoisingAutoencoder
from .conditional import ConditionalVAE
from .exceptions import InvalidParameterError, PluginError
from .hookspecs import Architecture, NoiseScheme, hookimpl
from .outliers import AutoencoderOutlierDetector
from .persistence import load
from .registry import register_plugin, unregister_plugin
from .vae import VAE, BetaVAE

__all__ = [
    "VAE",
    "Architecture",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "BetaVAE",
    "ConditionalVAE",
    "DenoisingAutoencoder",
    "InvalidParameterError",
    "NoiseScheme",
    "PluginError",
    "__version__",
    "data_parallel",
    "hookimpl",
    "load",
    "register_plugin",
    "registry",
    "unregister_plugin",
]
