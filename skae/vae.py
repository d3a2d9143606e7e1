"""Variational autoencoders: :class:`VAE` and :class:`BetaVAE`.

``BetaVAE`` is a ``VAE`` whose KL term is weighted by ``beta`` (and may follow
the capacity schedule of Burgess et al., 2018); the two share every other line.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from ._base import BaseAutoencoder
from ._data import check_unit_interval, validate_X
from ._docs import fill_doc
from ._engine.modules import VariationalAutoencoder
from ._params import NONE, Interval, Options
from ._samplers import SAMPLERS


@fill_doc
class VAE(BaseAutoencoder):
    """Variational autoencoder (Kingma & Welling, 2014), trained with PyTorch.

    The encoder gives a Gaussian posterior q(z | x) over ``n_components``
    latent dimensions, trained with the reparameterisation trick against a
    standard normal prior. ``transform`` returns the posterior means,
    ``sample`` draws from p(x | z) for codes drawn from the prior or from a
    mixture fitted to the training codes. ``score_samples`` estimates log p(x)
    by importance sampling (Burda et al., 2015), so ``score`` compares with
    ``FactorAnalysis.score``, ``PCA.score`` and ``GaussianMixture.score`` on the
    same data; :meth:`elbo` gives the evidence lower bound. The default
    likelihood, ``loss="gaussian"``, is a Gaussian with one variance per
    feature, each calibrated to that feature's error (the "optimal sigma" of
    Rybkin et al., 2021), which keeps latent units from collapsing the way a
    plain squared error lets them; in training, each variance is shrunk a
    fifth of the way towards their mean, so that no nearly constant feature
    drowns the others.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent dimensions.
    n_importance_samples : int, default=100
        Posterior draws per row in the importance-weighted estimate of
        log p(x) that ``score_samples`` and ``score`` return (at least 1). The
        estimate is a lower bound that tightens as the number grows (1 is a
        one-draw ELBO); its cost grows linearly. The draws are the same for
        every row, seeded by ``random_state`` when it is an int, so scores are
        deterministic and do not depend on which rows are scored together.
    kl_warmup : int, default=0
        Epochs over which the KL term's weight grows linearly from
        ``1 / kl_warmup`` of its value to all of it (Bowman et al., 2016;
        Sønderby et al., 2016); 0 uses the full weight from the start.
    {sampler}
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
    >>> from skae import VAE
    >>> X = load_digits().data[:200] / 16
    >>> vae = VAE(n_components=4, max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X).shape
    (200, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    >>> bool(vae.score(X) >= vae.elbo(X).mean())
    True
    """

    _module_class = VariationalAutoencoder
    _constraints = {
        "n_importance_samples": [Interval(numbers.Integral, 1, None)],
        "kl_warmup": [Interval(numbers.Integral, 0, None)],
        "sampler": [Options(frozenset(SAMPLERS))],
    }

    def __init__(
        self,
        n_components=2,
        *,
        n_importance_samples=100,
        kl_warmup=0,
        sampler="mixture",
        encoder="mlp",
        encoder_params=None,
        loss="gaussian",
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
        self.n_importance_samples = n_importance_samples
        self.kl_warmup = kl_warmup
        self.sampler = sampler

    def _module_params(self) -> dict:
        return {"beta": 1.0, "kl_warmup": int(self.kl_warmup)}

    def _build_module(self, n_features: int, seed: int):
        module = super()._build_module(n_features, seed)
        module.set_n_features(n_features)  # per-feature variances, if any
        return module

    def _scores(self, X, what: str, method) -> np.ndarray:
        fitted = self._fitted()
        X = validate_X(fitted, X, reset=False)
        X = check_unit_interval(X, fitted._fit_params["loss"])
        return self._predict(fitted, method(fitted), X, None, what)

    def score_samples(self, X):
        """Importance-weighted estimate of log p(x) per sample, in nats.

        ``log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)`` over ``K =
        n_importance_samples`` draws ``z_k`` of the posterior (Burda et al.,
        2015): a lower bound on log p(x), at least as tight as the ELBO in
        expectation. With the density likelihoods (``"mse"``, ``"gaussian"``,
        ``"logit_gaussian"``) it is a log-density,
        comparable with ``score_samples`` of scikit-learn's density models on
        the same data; for data on a grid, dequantise first (see
        docs/generative.md). With ``"bce"`` it is a log-probability of
        Bernoulli values, not a density.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The estimates, deterministic for an int ``random_state``.
        """

        def method(fitted):
            params = fitted._fit_params
            seed = params["random_state"]
            seed = seed if isinstance(seed, numbers.Integral) else 0
            return functools.partial(
                fitted.module_.log_likelihood,
                n_draws=params.get("n_importance_samples", 100),
                seed=int(seed),
            )

        return self._scores(X, "score_samples", method)

    def score(self, X, y=None):
        """Mean estimated log-likelihood of ``X`` (see :meth:`score_samples`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        score : float
            The mean of ``score_samples(X)``, in nats per sample.
        """
        return float(np.mean(self.score_samples(X)))

    def elbo(self, X):
        """The evidence lower bound (ELBO) per sample, in nats.

        ``E_q[log p(x | z)] - KL(q(z | x) || p(z))`` with the KL weight of
        the VAE (``beta=1``, whatever the estimator's ``beta``); its likelihood
        term averages 8 fixed draws of the posterior noise, the same for every
        row. Below :meth:`score_samples` on average; training maximises it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            The ELBO of each sample.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skae import VAE
        >>> X = load_digits().data[:100] / 16
        >>> VAE(max_iter=2, random_state=0).fit(X).elbo(X).shape
        (100,)
        """
        return self._scores(X, "elbo", lambda fitted: fitted.module_.score_samples)

    def sample(self, n_samples=1, random_state=None, noise=True):
        """Generate new data: draws of p(x | z), or the decoder's means.

        Latent codes come from the mixture fitted to the training codes
        (``sampler="mixture"``, ``latent_mixture_``) or from the N(0, I) prior
        (``sampler="prior"``). With ``noise=True`` each code is decoded to a
        draw of the likelihood p(x | z): the decoder's output plus Gaussian
        noise with the calibrated variances (``module_.log_noise_var``: one per
        feature for ``loss="gaussian"``, one in all for ``"mse"``), and for
        ``"logit_gaussian"`` the same in logit space, mapped back by the
        sigmoid, so samples stay in [0, 1]. The samples then spread like the
        data, as ``GaussianMixture.sample``'s do (the decoder's means lack the
        likelihood's variance); with ``sampler="prior"`` they are draws of the
        density that :meth:`score` estimates. ``loss="bce"`` ignores
        ``noise``: it returns the Bernoulli probabilities either way.
        ``noise=False`` returns the decoder's means, as ``inverse_transform``
        of the same codes: smoother images, with less spread than the data.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        random_state : int, RandomState instance or None, default=None
            Seed for the draws; the same seed gives the same samples, and the
            same codes whatever ``noise`` is.
        noise : bool, default=True
            Draw from p(x | z); False returns its mean.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_in_)
            The samples.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skae import VAE
        >>> X = load_digits().data[:100] / 16
        >>> vae = VAE(2, max_iter=2, random_state=0).fit(X)
        >>> vae.sample(4, random_state=0).shape
        (4, 64)
        >>> means = vae.sample(4, random_state=0, noise=False)  # decoder means
        """
        return self._sample(n_samples, random_state, noise=noise)


@fill_doc
class BetaVAE(VAE):
    """Beta-VAE (Higgins et al., 2017): a VAE whose KL term is weighted by ``beta``.

    ``beta > 1`` trades reconstruction for a smoother, more disentangled latent
    space; ``beta=1`` is exactly :class:`VAE`. With a ``capacity``, the KL term
    is ``beta * |KL - C|`` instead, with a target ``C`` that grows linearly
    from 0 to ``capacity`` nats over ``capacity_epochs`` epochs (Burgess et
    al., 2018, whose gamma is ``beta`` here). ``score`` and :meth:`elbo` do not
    depend on ``beta``, so scores compare across its values.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent dimensions.
    beta : float, default=4.0
        Weight of the KL term, at least 0 (gamma of Burgess et al. with a
        ``capacity``).
    capacity : float or None, default=None
        The KL capacity ``C`` reached at the end of the schedule, in nats (at
        least 0); None trains the plain ``beta``-weighted objective.
    capacity_epochs : int, default=100
        Epochs over which the target capacity grows linearly to ``capacity``
        (at least 1); it stays there afterwards.
    n_importance_samples : int, default=100
        Posterior draws per row in the importance-weighted estimate of
        log p(x) that ``score_samples`` and ``score`` return (at least 1); see
        :class:`VAE`.
    kl_warmup : int, default=0
        Epochs over which the KL term's weight grows linearly to ``beta``; 0
        uses the full weight from the start. Ignored with a ``capacity``.
    {sampler}
    {common_parameters}

    Attributes
    ----------
    {common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import BetaVAE
    >>> X = load_digits().data[:200] / 16
    >>> bvae = BetaVAE(n_components=4, beta=4.0, max_iter=5, random_state=0).fit(X)
    >>> bvae.transform(X).shape
    (200, 4)
    >>> annealed = BetaVAE(4, beta=100.0, capacity=10.0, capacity_epochs=4,
    ...                    max_iter=5, random_state=0).fit(X)
    >>> annealed.module_.target_kl.item()
    10.0
    """

    _constraints = {
        "beta": [Interval(numbers.Real, 0, None, "left")],
        "capacity": [Interval(numbers.Real, 0, None, "left"), NONE],
        "capacity_epochs": [Interval(numbers.Integral, 1, None)],
    }

    def __init__(
        self,
        n_components=2,
        *,
        beta=4.0,
        capacity=None,
        capacity_epochs=100,
        n_importance_samples=100,
        kl_warmup=0,
        sampler="mixture",
        encoder="mlp",
        encoder_params=None,
        loss="gaussian",
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
            n_importance_samples=n_importance_samples,
            kl_warmup=kl_warmup,
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
        self.beta = beta
        self.capacity = capacity
        self.capacity_epochs = capacity_epochs

    def _module_params(self) -> dict:
        capacity = None if self.capacity is None else float(self.capacity)
        return {
            "beta": float(self.beta),
            "kl_warmup": int(self.kl_warmup),
            "capacity": capacity,
            "capacity_epochs": int(self.capacity_epochs),
        }
