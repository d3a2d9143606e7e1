"""Variational autoencoders: :class:`VAE` and :class:`BetaVAE`.

``BetaVAE`` is a ``VAE`` whose KL term is weighted by ``beta``; the two share
every line of code but that weight.
"""

from __future__ import annotations

import numbers

from ._base import BaseAutoencoder
from ._docs import fill_doc
from ._engine.modules import VariationalAutoencoder
from ._params import Interval


@fill_doc
class VAE(BaseAutoencoder):
    """Variational autoencoder (Kingma & Welling, 2014), trained with PyTorch.

    The encoder gives a Gaussian posterior q(z | x) over ``n_components``
    latent dimensions, trained with the reparameterisation trick against a
    standard normal prior. ``transform`` returns the posterior means,
    ``sample`` decodes draws from the prior. With ``loss="bce"`` the decoder is
    Bernoulli; with ``loss="mse"`` it is Gaussian with a single variance
    calibrated to the reconstruction error (Rybkin et al., 2021), which keeps
    latent units from collapsing the way a plain squared error lets them.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent dimensions.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    See Also
    --------
    BetaVAE : VAE with a weighted KL term.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from skae import VAE
    >>> X = MinMaxScaler().fit_transform(load_digits().data[:200])
    >>> vae = VAE(n_components=4, loss="bce", max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X).shape
    (200, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    """

    _module_class = VariationalAutoencoder

    def _module_params(self) -> dict:
        return {"beta": 1.0}


@fill_doc
class BetaVAE(VAE):
    """Beta-VAE (Higgins et al., 2017): a VAE whose KL term is weighted by ``beta``.

    ``beta > 1`` trades reconstruction for a smoother, more disentangled latent
    space; ``beta=1`` is exactly :class:`VAE`. ``score`` still reports the
    ELBO (``beta=1``), so scores compare across values of ``beta``.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent dimensions.
    beta : float, default=4.0
        Weight of the KL term, at least 0.
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from skae import BetaVAE
    >>> X = MinMaxScaler().fit_transform(load_digits().data[:200])
    >>> bvae = BetaVAE(n_components=4, beta=4.0, max_iter=5, random_state=0).fit(X)
    >>> bvae.transform(X).shape
    (200, 4)
    """

    _constraints = {"beta": [Interval(numbers.Real, 0, None, "left")]}

    def __init__(
        self,
        n_components=2,
        *,
        beta=4.0,
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
        super().__init__(
            n_components,
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
        self.beta = beta

    def _module_params(self) -> dict:
        return {"beta": float(self.beta)}
