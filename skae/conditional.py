"""The conditional VAE: :class:`ConditionalVAE`, generation given a label or values.

The torch side is :class:`skae._engine.conditional.ConditionalVariationalAutoencoder`;
this module turns labels into the float condition rows the engine sees (one-hot
columns for categorical labels, standardised columns for continuous ones) and
back, and lays them beside the data: the engine trains on ``[x, c]`` rows.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import functools
import numbers

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.metaestimators import available_if

from ._base import BaseAutoencoder
from ._conditions import (
    ATTRIBUTES,
    CONDITIONS,
    as_labels,
    beside,
    build_conditional,
    encode,
    fit_encoding,
    for_samples,
    importance,
    marginal,
    prior_draws,
    split_attributes,
)
from ._data import check_codes, check_n_rows, check_unit_interval, validate_X
from ._device import resolve_device
from ._distributed import agreed_shard
from ._docs import fill_doc
from ._engine.training import TrainingState, train
from ._inference import RANDOM_STATE, seed_from
from ._params import BOOL, Interval, Options, check_params
from ._storage import training_rows

# The condition width while a saved model is rebuilt (see _from_fitted_state).
_LOADING = contextvars.ContextVar("n_conditions", default=None)


def _never(estimator) -> bool:
    return False


@fill_doc
class ConditionalVAE(BaseAutoencoder):
    """Conditional variational autoencoder: draw data given a label or values.

    A VAE whose decoder p(x | z, y) and prior p(z | y) = N(mu(y), diag
    sigma^2(y)) see the condition ``y`` (Sohn et al., 2015; Kingma et al.,
    2014), while the encoder q(z | x) does not: :meth:`transform` needs no
    ``y``, so the estimator works in a Pipeline, where only ``fit`` gets it.
    ``y`` is categorical (any labels, one-hot encoded) or continuous (one or
    more numeric columns, standardised). It works with every registered
    architecture: the decoder is built with ``n_components + n_conditions``
    inputs. See docs/conditional.md for the design and benchmarks.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent dimensions.
    condition : {{"auto", "categorical", "continuous"}}, default="auto"
        How ``y`` is read. ``"auto"``: a 1-D ``y`` that scikit-learn's
        ``type_of_target`` calls binary or multiclass (labels of any type,
        integer-valued floats included) is categorical; anything else numeric
        is continuous.
    n_importance_samples : int, default=100
        Posterior draws per row in the importance-weighted estimate of
        log p(x | y) that ``score_samples`` returns (at least 1).
    kl_warmup : int, default=0
        Epochs over which the KL term's weight grows linearly to 1.
    {common_parameters}

    Attributes
    ----------
    condition_type_ : {{"categorical", "continuous"}}
        How ``y`` was read in ``fit``.
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit`` (categorical ``y`` only).
    class_prior_ : ndarray of shape (n_classes,)
        Their frequencies in ``fit``: the label distribution of ``sample`` and
        of the marginal ``score_samples`` (categorical ``y`` only).
    condition_mean_, condition_scale_ : ndarray of shape (n_condition_columns,)
        Mean and standard deviation (1 for a constant column) that
        standardise a continuous ``y``.
    condition_samples_ : ndarray of shape (n_kept, n_condition_columns)
        Up to 1,000 training rows of a continuous ``y``, drawn without
        replacement: ``sample`` with ``y=None`` picks conditions among them,
        and the marginal ``score_samples`` averages over the first 64.
    {common_attributes}

    See Also
    --------
    VAE : The unconditional variational autoencoder.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import ConditionalVAE
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = X[:300] / 16, y[:300]
    >>> cvae = ConditionalVAE(n_components=4, max_iter=5, random_state=0).fit(X, y)
    >>> cvae.transform(X).shape
    (300, 4)
    >>> cvae.sample(3, y=7, random_state=0).shape
    (3, 64)
    >>> cvae.score_samples(X[:5], y[:5]).shape
    (5,)
    >>> cvae.classes_
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """

    _constraints = {
        "condition": [Options(frozenset(CONDITIONS))],
        "n_importance_samples": [Interval(numbers.Integral, 1, None)],
        "kl_warmup": [Interval(numbers.Integral, 0, None)],
    }

    def __init__(
        self,
        n_components=2,
        *,
        condition="auto",
        n_importance_samples=100,
        kl_warmup=0,
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
        self.condition = condition
        self.n_importance_samples = n_importance_samples
        self.kl_warmup = kl_warmup

    # ------------------------------------------------------------ the module
    def _module_params(self) -> dict:
        return {"beta": 1.0, "kl_warmup": int(self.kl_warmup)}

    def _build_module(self, n_features: int, seed: int):
        """The architecture's encoder, and its decoder with ``k + c`` inputs."""
        n_conditions = self.__dict__.get("_n_conditions") or _LOADING.get()
        return build_conditional(self, n_features, n_conditions, seed)

    # ------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Train the conditional VAE on ``X`` with conditions ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_conditions)
            Labels (categorical) or values (continuous) of the rows; required.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._guarded(functools.partial(self._fit_conditional, y=y), X)

    def _fit_conditional(self, X, y) -> None:
        fitted, fit_params = self._configured()
        owner = f"{type(self).__name__}.fit"
        warm = fitted.warm_start and hasattr(fitted, "module_")
        X = validate_X(fitted, X, reset=not warm)
        if not (isinstance(X, np.ndarray) or sp.issparse(X)):
            X = X.load()  # rows from storage: the conditions join them in memory
        X = check_unit_interval(X, fitted.loss)
        y = as_labels(y, X.shape[0], owner)
        if warm:  # the labels keep their fitted encoding
            names = ATTRIBUTES[fitted.condition_type_]
            encoding = {k: getattr(fitted, k) for k in names}
        else:
            seed = seed_from(copy.deepcopy(fitted.random_state))
            encoding = fit_encoding(y, fitted.condition, seed, owner)
        fitted.__dict__.update(encoding)
        C = encode(fitted, y, owner)
        rows = beside(X, C)
        shard = agreed_shard(rows.shape, fitted.precision)
        device = resolve_device(fitted.device)
        seed = seed_from(fitted.random_state)
        if warm:
            module = copy.deepcopy(fitted.module_)
            module = fitted._continued(module, "warm_start=True")
        else:
            fitted._n_conditions = C.shape[1]
            module = fitted._build_module(X.shape[1], seed)
        state = TrainingState.start(module, device, seed, fitted.learning_rate, shard)
        history = train(state, training_rows(rows, device), fitted._plan(shard=shard))
        fitted._warn_if_unconverged(history)
        state.module.encoding = encoding  # published with it (see _publish)
        previous = fitted.loss_curve_ if warm else []
        self._publish_training(fitted, fit_params, state, history, previous)

    def _publish(self, attributes: dict) -> None:
        """As the base's, with the condition attributes that came with the module."""
        module = attributes.get("module_")
        encoding = module.__dict__.pop("encoding", {}) if module is not None else {}
        super()._publish({**attributes, **encoding})

    # Continuing on new chunks would need their labels: not offered.
    partial_fit = available_if(_never)(BaseAutoencoder.partial_fit)
    interpolate = available_if(_never)(BaseAutoencoder.interpolate)

    # ------------------------------------------------------------ inference
    def inverse_transform(self, X, y=None):
        """Decode latent codes under the conditions ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, as returned by :meth:`transform`.
        y : array-like of shape (n_samples,) or (n_samples, n_conditions)
            The condition of each code; required.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            The decoder's means p(x | z, y).
        """
        fitted = self._fitted()
        owner = f"{type(self).__name__}.inverse_transform"
        Z = check_codes(X, fitted.module_.n_components, type(self).__name__)
        C = encode(fitted, as_labels(y, len(Z), owner), owner)
        decode = fitted.module_.decode
        rows = beside(Z, C)
        return self._predict(fitted, decode, rows, fitted.n_features_in_, owner)

    def score_samples(self, X, y=None):
        """Importance-weighted estimate of log p(x | y), or of log p(x), in nats.

        With ``y``, ``log (1/K) sum_k p(x | z_k, y) p(z_k | y) / q(z_k | x)``
        over ``K = n_importance_samples`` posterior draws (Burda et al.,
        2015), a lower bound on log p(x | y). Without it, the marginal
        ``log sum_c p(c) p(x | c)`` over the training label distribution
        (``class_prior_``), or over the first 64 ``condition_samples_`` with
        equal weights for a continuous ``y``; the same draws serve every
        condition. The draws are the same for every row, seeded by an int
        ``random_state``, so scores are deterministic.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : array-like of shape (n_samples,) or (n_samples, n_conditions), \
default=None
            The conditions; None scores the marginal.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        fitted = self._fitted()
        owner = f"{type(self).__name__}.score_samples"
        X = validate_X(fitted, X, reset=False)
        X = check_unit_interval(X, fitted._fit_params["loss"])
        module, estimate = fitted.module_, importance(fitted._fit_params)
        if y is not None:
            C = encode(fitted, as_labels(y, X.shape[0], owner), owner)
            fn = functools.partial(module.log_likelihood, **estimate)
            return self._predict(fitted, fn, beside(X, C), None, owner)
        conditions, log_prob = marginal(fitted, owner)
        fn = functools.partial(
            module.marginal_log_likelihood,
            conditions=torch.as_tensor(conditions, dtype=torch.float32),
            log_prob=torch.as_tensor(log_prob),
            **estimate,
        )
        return self._predict(fitted, fn, X, None, owner)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (``y`` given or marginal).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : array-like of shape (n_samples,) or (n_samples, n_conditions), \
default=None
            The conditions; None scores the marginal log-likelihood.

        Returns
        -------
        score : float
            Nats per sample.
        """
        return float(np.mean(self.score_samples(X, y)))

    def sample(self, n_samples=1, y=None, random_state=None, noise=True):
        """Generate data given conditions: z ~ p(z | y), then a draw of p(x | z, y).

        As :meth:`VAE.sample <skae.VAE.sample>`, in blocks of bounded memory.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        y : label, array-like or None, default=None
            One label (or one condition row) for every sample, or one per
            sample (``n_samples`` of them). None draws them: labels from the
            training label distribution (``class_prior_``); continuous
            conditions from the training rows kept in ``condition_samples_``,
            uniformly. To know the drawn labels, draw them yourself and pass
            them.
        random_state : int, RandomState instance or None, default=None
            Seed for the draws; the same seed gives the same samples.
        noise : bool, default=True
            Draw from p(x | z, y) (for ``loss="bce"``, its probabilities);
            False returns the decoder's means, on the same codes.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_in_)
            The samples.
        """
        fitted = self._fitted()
        owner = f"{type(self).__name__}.sample"
        check_params(
            owner,
            {"random_state": random_state, "noise": noise},
            {"random_state": RANDOM_STATE, "noise": [BOOL]},
        )
        n = check_n_rows(
            n_samples, "n_samples", n_features=fitted.n_features_in_, owner=owner
        )
        seed = seed_from(random_state)
        rng = np.random.default_rng(seed)
        y = for_samples(fitted, y, n, rng, owner)
        draw_codes = prior_draws(fitted, y, seed, owner)
        return self._decode_blocks(fitted, n, seed, draw_codes, noise=noise)

    # ------------------------------------------------------------ persistence
    def _fitted_state(self):
        fitted = self._snapshot()  # one snapshot for the base's state and ours
        state = super(ConditionalVAE, fitted)._fitted_state()
        names = ATTRIBUTES[fitted.condition_type_]
        extra = {k: copy.deepcopy(getattr(fitted, k)) for k in names}
        return dataclasses.replace(state, attributes={**state.attributes, **extra})

    @classmethod
    def _from_fitted_state(cls, state):
        attributes, mine, width = split_attributes(state.attributes)
        token = _LOADING.set(width)
        try:
            estimator = super()._from_fitted_state(
                dataclasses.replace(state, attributes=attributes)
            )
        finally:
            _LOADING.reset(token)
        estimator._publish(mine)
        return estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
