"""skae: scikit-learn estimators for autoencoders, built on PyTorch, open to plugins.

>>> import skae
>>> sorted(skae.__all__)[:4]
['Architecture', 'AutoencoderTransformer', 'BetaVAE', 'DenoisingAutoencoder']
"""

__version__ = "0.1.0"

from . import registry  # noqa: E402
from .autoencoders import AutoencoderTransformer, DenoisingAutoencoder  # noqa: E402
from .exceptions import InvalidParameterError, PluginError  # noqa: E402
from .hookspecs import Architecture, NoiseScheme, hookimpl  # noqa: E402
from .registry import register_plugin, unregister_plugin  # noqa: E402
from .vae import VAE, BetaVAE  # noqa: E402

__all__ = [
    "VAE",
    "Architecture",
    "AutoencoderTransformer",
    "BetaVAE",
    "DenoisingAutoencoder",
    "InvalidParameterError",
    "NoiseScheme",
    "PluginError",
    "__version__",
    "hookimpl",
    "register_plugin",
    "registry",
    "unregister_plugin",
]
