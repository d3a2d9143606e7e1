"""The scikit-learn facade shared by every skae estimator.

:class:`BaseAutoencoder` validates parameters and data, builds the torch module
from a registered architecture, hands it to the training engine, and turns
numpy arrays into batches and back. Subclasses only add parameters, the
corruption of inputs (denoising) or the variational module.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning

from . import registry
from ._building import build_module
from ._data import check_unit_interval, validate_X
from ._device import DEVICE_HELP, is_device_name, resolve_device
from ._distributed import agreed_shard, writes_files
from ._engine.modules import LOSSES, Autoencoder
from ._engine.training import Corrupt, History, Plan, TrainingState, train
from ._fitted import FittedStateMixin
from ._inference import (
    OUT_OF_MEMORY,
    PRECISIONS,
    RANDOM_STATE,
    InferenceMixin,
    seed_from,
)
from ._parallel import worker_context
from ._params import (
    BOOL,
    DICT,
    FACTORY,
    NONE,
    STR,
    Interval,
    Options,
    Satisfies,
    check_params,
)
from ._storage import training_rows


class BaseAutoencoder(
    FittedStateMixin,
    InferenceMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Base class of the skae estimators. Not for direct use."""

    _constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None)],
        "encoder": [STR, FACTORY],
        "encoder_params": [DICT, NONE],
        "loss": [Options(frozenset(LOSSES))],
        "learning_rate": [Interval(numbers.Real, 0, None, "neither")],
        "lr_schedule": [Options(frozenset({"cosine", "constant"}))],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "max_iter": [Interval(numbers.Integral, 1, None)],
        "early_stopping": [BOOL],
        "validation_fraction": [Interval(numbers.Real, 0, 1, "neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None)],
        "tol": [Interval(numbers.Real, 0, None, "left")],
        "device": [Satisfies(is_device_name, f"one of {DEVICE_HELP}")],
        "random_state": RANDOM_STATE,
        "verbose": [Interval(numbers.Integral, 0, None), BOOL],
        "warm_start": [BOOL],
        "precision": [Options(frozenset(PRECISIONS))],
        "compile": [BOOL],
    }
    _module_class = Autoencoder

    def __init__(
        self,
        n_components=2,
        *,
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
        self.n_components = n_components
        self.encoder = encoder
        self.encoder_params = encoder_params
        self.loss = loss
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.precision = precision
        self.compile = compile

    # ------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        constraints = {}
        for klass in reversed(type(self).__mro__):
            constraints.update(vars(klass).get("_constraints", {}))
        check_params(type(self).__name__, self.get_params(deep=False), constraints)
        self._architecture()

    def _architecture(self) -> registry.ResolvedArchitecture:
        """``(label, build, provider)`` for the ``encoder`` parameter."""
        return registry.resolve_architecture(self.encoder, type(self).__name__)

    def _corruption(self) -> Corrupt | None:
        """How training inputs are corrupted; None means they are not."""
        return None

    # ------------------------------------------------------------ module
    def _module_signature(self) -> dict:
        """The parameters that define the module's structure and outputs."""
        return {
            "encoder": self.encoder,
            "encoder_params": self.encoder_params,
            "loss": self.loss,
            "n_components": self.n_components,
        }

    def _build_module(self, n_features: int, seed: int) -> torch.nn.Module:
        """A new module for ``n_features`` inputs; it remembers its signature."""
        label, build, provider = self._architecture()
        module = build_module(
            self._module_class,
            label=label,
            build=build,
            provider=provider,
            n_features=n_features,
            n_components=self.n_components,
            loss=self.loss,
            encoder_params=dict(self.encoder_params or {}),
            module_params=self._module_params(),
            seed=seed,
        )
        module.signature = self._module_signature()
        return module

    def _module_params(self) -> dict:
        return {}

    def _continued(self, module: torch.nn.Module, how: str) -> torch.nn.Module:
        """``module`` (a copy, or the one a copied state holds), ready to train on.

        ``how`` names what continues it, for the message when the parameters
        that define the module changed since it was fitted.
        """
        fitted = module.signature
        changed = [k for k, v in self._module_signature().items() if fitted[k] != v]
        if changed:
            raise ValueError(
                f"{how} continues the fitted module, but "
                f"{', '.join(map(repr, changed))} changed since it was fitted. "
                "Restore the fitted value, or refit from scratch with fit "
                "(and warm_start=False)."
            )
        for name, value in self._module_params().items():
            setattr(module, name, value)
        return module

    # ------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._guarded(self._fit, X)

    def partial_fit(self, X, y=None):
        """Train for one pass over ``X``, continuing where the last call stopped.

        As in scikit-learn's ``MLPRegressor.partial_fit``: each call is one
        epoch over ``X`` in ``batch_size`` mini-batches; the first call builds
        the module; the optimizer's state, the learning-rate schedule (a
        cosine over ``max_iter`` calls, then its last value) and the random
        state carry over, also through a pickle of a model on the CPU.
        ``n_iter_`` and ``loss_curve_`` grow by one per call. After each call
        the statistics that ``sample`` and ``score_samples`` use (the latent
        mixture of ``sampler="mixture"``, the decoder variances of the VAEs)
        are refitted on at most 2048 rows of that chunk, so the model is usable
        after every call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One chunk of training data, with as many features as the first.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skae import AutoencoderTransformer
        >>> X = load_digits().data / 16
        >>> ae = AutoencoderTransformer(n_components=4, random_state=0)
        >>> for chunk in (X[:900], X[900:]):
        ...     ae = ae.partial_fit(chunk)
        >>> ae.n_iter_, len(ae.loss_curve_)
        (2, 2)
        """
        return self._guarded(self._partial_fit, X)

    def _guarded(self, fit, X):
        try:
            with worker_context():
                fit(X)
        except OUT_OF_MEMORY as exc:
            raise MemoryError(
                f"The device ran out of memory while training with "
                f"batch_size={self.batch_size}. Use a smaller batch_size (or "
                "free memory on the device)."
            ) from exc
        return self

    def _configured(self):
        """A snapshot set to a deep copy of the parameters, and that copy.

        Training reads only the snapshot, so set_params from another thread
        cannot mix into it, and nothing on self changes until _publish.
        """
        self._check_params()
        fit_params = copy.deepcopy(self.get_params(deep=False))
        fitted = self._snapshot()
        fitted.__dict__.update(copy.deepcopy(fit_params))
        return fitted, fit_params

    def _fit(self, X) -> None:
        fitted, fit_params = self._configured()
        warm = fitted.warm_start and hasattr(fitted, "module_")
        X = validate_X(fitted, X, reset=not warm)  # records n_features_in_ there
        X = check_unit_interval(X, fitted.loss)
        shard = agreed_shard(X.shape, fitted.precision)
        device = resolve_device(fitted.device)
        seed = seed_from(fitted.random_state)
        if warm:
            module = copy.deepcopy(fitted.module_)
            module = fitted._continued(module, "warm_start=True")
        else:
            module = fitted._build_module(X.shape[1], seed)
        lr = fitted.learning_rate
        state = TrainingState.start(module, device, seed, lr, shard)
        history = train(state, training_rows(X, device), fitted._plan(shard=shard))
        fitted._warn_if_unconverged(history)
        previous = fitted.loss_curve_ if warm else []
        self._publish_training(fitted, fit_params, state, history, previous)

    def _partial_fit(self, X) -> None:
        fitted, fit_params = self._configured()
        if fitted.early_stopping:
            raise ValueError(
                "partial_fit does not support early_stopping=True: one pass over "
                "a chunk leaves no epochs to monitor. Set early_stopping=False, "
                "or use fit."
            )
        first = not hasattr(fitted, "module_")
        X = validate_X(fitted, X, reset=first)
        X = check_unit_interval(X, fitted.loss)
        shard = agreed_shard(X.shape, fitted.precision)
        state = (
            fitted._new_state(X.shape[1], shard) if first else fitted._resumed_state()
        )
        rows = training_rows(X, state.device)
        history = train(state, rows, fitted._plan(max_epochs=1, shard=shard))
        previous = [] if first else fitted.loss_curve_
        self._publish_training(fitted, fit_params, state, history, previous)

    def _new_state(self, n_features: int, shard) -> TrainingState:
        seed = seed_from(self.random_state)
        module = self._build_module(n_features, seed)
        device = resolve_device(self.device)
        return TrainingState.start(module, device, seed, self.learning_rate, shard)

    def _resumed_state(self) -> TrainingState:
        """A copy of the kept training state, or a new one around the module."""
        kept = self.__dict__.get("_training_state")
        if kept is None or kept.module is not self.module_:  # loaded from a file
            module = copy.deepcopy(self.module_)
            seed = seed_from(self.random_state)
            device = torch.device(self.device_)
            state = TrainingState.start(module, device, seed, self.learning_rate)
            state.epochs_done = self.n_iter_
        else:
            state = copy.deepcopy(kept)
        self._continued(state.module, "partial_fit")
        return state

    def _publish_training(self, fitted, fit_params, state, history, previous):
        loss_curve = previous + history.loss
        self._publish(
            {
                "module_": state.module,
                "device_": str(state.device),
                "n_features_in_": fitted.n_features_in_,
                "feature_names_in_": getattr(fitted, "feature_names_in_", None),
                "loss_curve_": loss_curve,
                "validation_loss_curve_": history.validation_loss
                if fitted.early_stopping
                else None,
                "best_validation_loss_": min(history.validation_loss, default=None),
                "n_iter_": len(loss_curve),
                "_fit_params": fit_params,
                "_training_state": state,
            }
        )

    def _plan(self, max_epochs: int | None = None, shard=None) -> Plan:
        """The engine's training plan from this estimator's parameters."""
        cosine = self.lr_schedule == "cosine"
        return Plan(
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_epochs=max_epochs or self.max_iter,
            schedule=self.lr_schedule,
            schedule_epochs=self.max_iter,
            tol=self.tol,
            # A cosine schedule needs all its epochs: a training-loss plateau
            # mid-way is no reason to stop while the step size is still large.
            n_iter_no_change=None
            if cosine and not self.early_stopping
            else self.n_iter_no_change,
            validation_fraction=self.validation_fraction
            if self.early_stopping
            else None,
            corrupt=self._corruption(),
            precision=PRECISIONS[self.precision],
            compile=self.compile,
            progress=type(self).__name__ if self.verbose and writes_files() else None,
            shard=shard,
        )

    def _warn_if_unconverged(self, history: History) -> None:
        # The cosine schedule ends at max_iter by design; a constant one may not.
        planned_end = self.lr_schedule == "cosine"
        if not (history.converged or history.interrupted or planned_end):
            warnings.warn(
                f"{type(self).__name__} stopped at max_iter={self.max_iter} epochs "
                "while the loss was still improving. Increase max_iter, or use "
                "early_stopping=True.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
