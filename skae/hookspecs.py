"""The plugin contract: skae's pluggy project, its markers, hooks and spec objects.

A plugin is any object (usually a module) with functions marked
``@skae.hookimpl`` whose names match the hooks below. skae's own built-ins
(``skae.builtins.*``) are plugins of exactly this kind. Third-party plugins are
found through the ``skae`` entry-point group; see ``docs/plugins.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pluggy

PROJECT_NAME = "skae"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class Architecture:
    """A named encoder/decoder architecture.

    Parameters
    ----------
    name : str
        The name estimators use, as in ``VAE(encoder=name)``.
    build : callable
        ``build(n_features, n_encoder_outputs, n_components, **params)``,
        called with keyword arguments, returns ``(encoder, decoder)``, two
        ``torch.nn.Module`` objects:

        - ``n_features`` (int): width of one flat input row.
        - ``n_encoder_outputs`` (int): width the encoder must output. It equals
          ``n_components`` for the plain autoencoders and ``2 * n_components``
          for the VAEs, whose encoder output is read as the posterior mean
          followed by the posterior log-variance.
        - ``n_components`` (int): width of the latent code the decoder takes.
        - ``**params``: the estimator's ``encoder_params``. Check them before
          building anything and raise :class:`skae.InvalidParameterError` (or
          ``ValueError``/``TypeError``) for a bad one: skae passes those on to
          the user as ``InvalidParameterError``. Anything else ``build``
          raises, or a result that is not two modules of the right shapes, is
          reported as a :class:`skae.PluginError` naming the plugin.

        The encoder maps a float32 tensor of shape ``(batch, n_features)`` to
        ``(batch, n_encoder_outputs)``; it should not modify its input in
        place (skae hands it copies, so the caller's data is safe anyway).
        The decoder maps ``(batch, n_components)`` to ``(batch, n_features)``
        with no output activation: skae reads it as logits for ``loss="bce"``
        and as the reconstruction itself for ``loss="mse"``. Image
        architectures reshape flat rows themselves. skae seeds torch's global
        generator before calling ``build``, and from ``random_state`` during
        ``fit``, so initialisation and dropout are reproducible. It switches
        the modules between train and eval mode; they may share parameters
        (tied weights).
    description : str
        One line for ``skae plugins``.

    Examples
    --------
    >>> from torch import nn
    >>> from skae import Architecture
    >>> def build_linear(n_features, n_encoder_outputs, n_components):
    ...     return nn.Linear(n_features, n_encoder_outputs), nn.Linear(
    ...         n_components, n_features
    ...     )
    >>> spec = Architecture("linear", build_linear, "One linear layer each way")
    >>> encoder, decoder = spec.build(64, 2, 2)
    >>> encoder.out_features, decoder.out_features
    (2, 64)
    """

    name: str
    build: Callable
    description: str = ""


@dataclass(frozen=True)
class NoiseScheme:
    """A named way to corrupt training inputs (for ``DenoisingAutoencoder``).

    Parameters
    ----------
    name : str
        The name estimators use, as in ``DenoisingAutoencoder(noise=name)``.
    corrupt : callable
        ``corrupt(batch, level, generator)`` returns a corrupted copy of
        ``batch`` (a float32 tensor of shape ``(batch_size, n_features)`` on the
        training device) with the same shape, dtype and device, and must not
        modify ``batch`` in place. ``level`` is the estimator's ``noise_level``
        (a float inside ``level_range``); ``generator`` is a
        ``torch.Generator`` on the batch's device: draw all randomness from it
        so that fits are reproducible. skae checks each result and raises
        :class:`skae.PluginError` naming the scheme if it is wrong.
    description : str
        One line for ``skae plugins``.
    level_range : tuple of float
        Closed interval of valid ``noise_level`` values; ``math.inf`` allowed.

    Examples
    --------
    >>> import torch
    >>> from skae import NoiseScheme
    >>> def flip(batch, level, generator):
    ...     draws = torch.rand(batch.shape, generator=generator, device=batch.device)
    ...     return torch.where(draws < level, 1 - batch, batch)
    >>> spec = NoiseScheme("flip", flip, "Flips binary entries", (0.0, 1.0))
    >>> spec.corrupt(torch.zeros(2, 3), 1.0, torch.Generator().manual_seed(0))
    tensor([[1., 1., 1.],
            [1., 1., 1.]])
    """

    name: str
    corrupt: Callable
    description: str = ""
    level_range: tuple[float, float] = (0.0, math.inf)


@hookspec
def register_architectures() -> list[Architecture]:
    """Return the encoder/decoder architectures this plugin provides.

    Returns
    -------
    list of :class:`Architecture`
    """


@hookspec
def register_noise_schemes() -> list[NoiseScheme]:
    """Return the noise schemes this plugin provides.

    Returns
    -------
    list of :class:`NoiseScheme`
    """
