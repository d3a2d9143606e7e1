"""The deterministic autoencoders: plain and denoising."""

from __future__ import annotations

import numbers

from . import registry
from ._base import BaseAutoencoder
from ._docs import fill_doc
from ._params import FACTORY, STR, Interval, Options
from ._samplers import SAMPLERS


@fill_doc
class AutoencoderTransformer(BaseAutoencoder):
    """Autoencoder for dimensionality reduction, trained with PyTorch.

    ``transform`` returns the encoder's codes, ``inverse_transform`` decodes
    them, like :class:`~sklearn.decomposition.PCA` with a non-linear map.

    Parameters
    ----------
    n_components : int, default=2
        Width of the latent code.
    {sampler}
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    DenoisingAutoencoder : Learns to undo corrupted inputs.
    VAE : Variational autoencoder with a probabilistic latent space.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from skae import AutoencoderTransformer
    >>> X = MinMaxScaler().fit_transform(load_digits().data[:200])
    >>> ae = AutoencoderTransformer(n_components=8, max_iter=5, random_state=0)
    >>> ae.fit_transform(X).shape
    (200, 8)
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 64)
    >>> ae.get_feature_names_out()[:2]
    array(['autoencodertransformer0', 'autoencodertransformer1'], dtype=object)
    >>> ae.sample(2, random_state=0).shape
    (2, 64)
    """

    _constraints = {"sampler": [Options(frozenset(SAMPLERS))]}

    def __init__(
        self,
        n_components=2,
        *,
        sampler="mixture",
        encoder="mlp",
        encoder_params=None,
        loss="mse",
        learning_rate=3e-3,
        lr_schedule="cosine",
        batch_size=128,
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        precision="float32",
        compile=False,
    ):
        self._init_base(
            n_components,
            sampler=sampler,
            encoder=encoder,
            encoder_params=encoder_params,
            loss=loss,
            learning_rate=learning_rate,
            lr_schedule=lr_schedule,
            batch_size=batch_size,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            device=device,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            precision=precision,
            compile=compile,
        )

    def _init_base(self, n_components, *, sampler, **params) -> None:
        BaseAutoencoder.__init__(self, n_components, **params)
        self.sampler = sampler


@fill_doc
class DenoisingAutoencoder(AutoencoderTransformer):
    """Autoencoder trained to reconstruct clean inputs from corrupted ones.

    Inputs are corrupted during training only, anew at every step; the target
    is always the clean input. ``transform`` encodes inputs as they are.

    Parameters
    ----------
    n_components : int, default=2
        Width of the latent code.
    noise : str or callable, default="gaussian"
        A registered noise scheme: ``"gaussian"`` (adds N(0, noise_level^2)),
        ``"masking"`` (zeroes a fraction noise_level of entries),
        ``"salt_and_pepper"`` (sets a fraction noise_level of entries to the
        batch minimum or maximum), or one a plugin adds; or a callable with the
        signature of :attr:`skae.NoiseScheme.corrupt`.
    noise_level : float, default=0.2
        Strength of the noise: a standard deviation for ``"gaussian"`` (at
        least 0), a fraction in [0, 1] for ``"masking"`` and
        ``"salt_and_pepper"``.
    {sampler}
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from skae import DenoisingAutoencoder
    >>> X = MinMaxScaler().fit_transform(load_digits().data[:200])
    >>> dae = DenoisingAutoencoder(n_components=8, noise="masking", noise_level=0.3,
    ...                            max_iter=5, random_state=0).fit(X)
    >>> dae.transform(X).shape
    (200, 8)
    """

    _constraints = {
        "noise": [STR, FACTORY],
        "noise_level": [Interval(numbers.Real, 0, None, "left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        noise="gaussian",
        noise_level=0.2,
        sampler="mixture",
        encoder="mlp",
        encoder_params=None,
        loss="mse",
        learning_rate=3e-3,
        lr_schedule="cosine",
        batch_size=128,
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        precision="float32",
        compile=False,
    ):
        self._init_base(
            n_components,
            sampler=sampler,
            encoder=encoder,
            encoder_params=encoder_params,
            loss=loss,
            learning_rate=learning_rate,
            lr_schedule=lr_schedule,
            batch_size=batch_size,
            max_iter=max_iter,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            device=device,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            precision=precision,
            compile=compile,
        )
        self.noise = noise
        self.noise_level = noise_level

    def _check_params(self) -> None:
        super()._check_params()
        self._corruption()  # the noise name, and noise_level in its range

    def _corruption(self):
        return registry.resolve_noise(self.noise, self.noise_level, type(self).__name__)
