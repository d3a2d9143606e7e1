"""The scikit-learn facade shared by every skae estimator.

:class:`BaseAutoencoder` validates parameters and data, builds the torch module
from a registered architecture, hands it to the training engine, and turns
numpy arrays into batches and back. Subclasses only add parameters, the
corruption of inputs (denoising) or the variational module.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted

from . import _engine, registry
from ._building import build_module
from ._data import check_float32_range, check_unit_interval, one_row, validate_X
from ._device import DEVICE_HELP, is_device_name, loadable_device, resolve_device
from ._modules import LOSSES, Autoencoder
from ._params import (
    BOOL,
    DICT,
    FACTORY,
    NONE,
    STR,
    InstanceOf,
    Interval,
    Options,
    Satisfies,
    check_params,
    did_you_mean,
)
from .exceptions import InvalidParameterError
from .hookspecs import Architecture, NoiseScheme

# Post-training statistics (the AE's latent Gaussian, the VAE's noise variance)
# come from at most this many random training rows, not another full pass.
_CALIBRATION_ROWS = 2048
# The precision parameter's dtypes for torch.autocast (None: plain float32).
_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def _seed(random_state) -> int:
    """An int seed from ``random_state``, leaving numpy's global state alone."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return int(random_state)


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
        "random_state": [
            Interval(numbers.Integral, 0, 2**63 - 1),
            InstanceOf(np.random.RandomState, "a RandomState instance"),
            NONE,
        ],
        "verbose": [Interval(numbers.Integral, 0, None), BOOL],
        "warm_start": [BOOL],
        "precision": [Options(frozenset(_PRECISIONS))],
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

    def _lookup(self, param: str, table: dict, noun: str):
        """The registry entry named by parameter ``param``, or a clear error."""
        name = getattr(self, param)
        if name not in table:
            raise InvalidParameterError(
                f"The {param!r} parameter of {type(self).__name__} must be a "
                f"registered {noun} name or a callable. Got {name!r} instead."
                f"{did_you_mean(name, table)} Registered {noun}s: "
                f"{', '.join(repr(n) for n in sorted(table))}. Plugins add more; "
                "run `skae plugins` to list them."
            )
        return table[name]

    def _architecture(self) -> tuple[str, Callable, str | None]:
        """``(label, build, provider)`` for the ``encoder`` parameter."""
        if callable(self.encoder):
            label = getattr(self.encoder, "__name__", repr(self.encoder))
            return label, self.encoder, None
        entry = self._lookup("encoder", registry.architectures(), "architecture")
        return repr(entry.spec.name), entry.spec.build, str(entry.provider)

    def _corruption(self) -> _engine.Corrupt | None:
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

    def _warm_module(self) -> torch.nn.Module:
        """A copy of the fitted module to train further (``warm_start=True``)."""
        fitted = self.module_.signature
        changed = [k for k, v in self._module_signature().items() if fitted[k] != v]
        if changed:
            raise ValueError(
                "warm_start=True continues the fitted module, but "
                f"{', '.join(map(repr, changed))} changed since it was fitted. "
                "Restore the fitted value, or set warm_start=False to refit."
            )
        module = copy.deepcopy(self.module_)
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
        saved = self.__dict__.copy()
        try:
            self._fit(X)
        except BaseException as exc:
            # Fitting is all or nothing: a failed fit leaves the estimator as it was.
            self.__dict__.clear()
            self.__dict__.update(saved)
            if isinstance(exc, _OUT_OF_MEMORY):
                raise MemoryError(
                    f"The device ran out of memory while training with "
                    f"batch_size={self.batch_size}. Use a smaller batch_size (or "
                    "free memory on the device)."
                ) from exc
            raise
        return self

    def _fit(self, X) -> None:
        self._check_params()
        corrupt = self._corruption()
        warm = self.warm_start and hasattr(self, "module_")
        X = validate_X(self, X, reset=not warm)
        check_unit_interval(X, self.loss)
        device = resolve_device(self.device)
        seed = _seed(self.random_state)
        generator = torch.Generator(device=device).manual_seed(seed)
        module = self._warm_module() if warm else self._build_module(X.shape[1], seed)
        module.to(device)

        rows = _engine.Rows(X, device)
        train_rows, validation = self._split(rows, generator)
        optimizer = _engine.make_optimizer(module, self.learning_rate, device)
        history = _engine.train(
            module,
            train_rows,
            optimizer=optimizer,
            batch_size=min(self.batch_size, len(train_rows)),
            max_iter=self.max_iter,
            generator=generator,
            corrupt=corrupt,
            validation=validation,
            tol=self.tol,
            n_iter_no_change=self._n_iter_no_change(),
            lr_schedule=self._lr_schedule(),
            precision=_PRECISIONS[self.precision],
            compile=self.compile,
            progress=type(self).__name__ if self.verbose else None,
        )
        calibration = rows.sample(_CALIBRATION_ROWS, generator)
        module.calibrate(calibration.batches(_engine.INFERENCE_BATCH_SIZE), generator)
        if not all(torch.isfinite(p).all() for p in module.state_dict().values()):
            raise ValueError(
                "Training produced non-finite weights. Lower learning_rate or "
                "scale X, for example with StandardScaler or MinMaxScaler."
            )
        # The cosine schedule ends at max_iter by design; a constant one may not.
        planned_end = self.lr_schedule == "cosine"
        if not (history.converged or history.interrupted or planned_end):
            warnings.warn(
                f"{type(self).__name__} stopped at max_iter={self.max_iter} epochs "
                "while the loss was still improving. Increase max_iter, or use "
                "early_stopping=True.",
                ConvergenceWarning,
                stacklevel=3,
            )
        previous = self.loss_curve_ if warm else []
        self.module_ = module
        self.device_ = str(device)
        self.loss_curve_ = previous + history.loss
        self.validation_loss_curve_ = (
            history.validation_loss if validation is not None else None
        )
        self.best_validation_loss_ = min(history.validation_loss, default=None)
        self.n_iter_ = len(self.loss_curve_)

    def _n_iter_no_change(self) -> int | None:
        # A cosine schedule needs all its epochs: a training-loss plateau
        # mid-way is no reason to stop while the step size is still large.
        if self.lr_schedule == "cosine" and not self.early_stopping:
            return None
        return self.n_iter_no_change

    def _lr_schedule(self) -> Callable[[int], float] | None:
        if self.lr_schedule == "constant":
            return None
        lr, epochs = self.learning_rate, self.max_iter
        return lambda epoch: lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))

    def _split(self, rows: _engine.Rows, generator: torch.Generator):
        if not self.early_stopping:
            return rows, None
        n = len(rows)
        n_val = int(np.ceil(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"The validation set is too small: {n} sample(s) leave no room for "
                "a validation set. Increase validation_fraction, add samples, or "
                "set early_stopping=False."
            )
        order = torch.randperm(n, generator=generator, device=rows.device)
        return rows.split(order[n_val:]), rows.split(order[:n_val])

    # ------------------------------------------------------------ inference
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    @property
    def _n_features_out(self) -> int:
        return self.module_.n_components

    def _predict(self, fn, X, width: int | None, what: str) -> np.ndarray:
        dtype = X.dtype if X.dtype == np.float32 else np.float64
        try:
            return _engine.predict(
                fn,
                X,
                width=width,
                dtype=dtype,
                device=torch.device(self.device_),
                what=what,
                precision=_PRECISIONS[self.precision],
            )
        except _OUT_OF_MEMORY as exc:
            raise MemoryError(
                f"The device ran out of memory during {what} (skae predicts "
                f"{_engine.INFERENCE_BATCH_SIZE} rows at a time). Free memory on "
                "the device, or move the model to the CPU with device='cpu' and "
                "refit it."
            ) from exc

    def transform(self, X):
        """Encode ``X`` into latent codes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Latent codes (for the VAEs, the posterior means), of ``X``'s float dtype.
        """
        check_is_fitted(self)
        return self._encode(X, "transform")

    def _encode(self, X, what: str) -> np.ndarray:
        # transform without set_output's wrapping, for use inside skae.
        X = validate_X(self, X, reset=False)
        return self._predict(self.module_.encode, X, self._n_features_out, what)

    def inverse_transform(self, X):
        """Decode latent codes back to data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, as returned by :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Reconstructions (probabilities in [0, 1] for ``loss="bce"``).
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32], input_name="Z")
        check_float32_range(Z, "Z")
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but {type(self).__name__} has "
                f"n_components={self._n_features_out}: inverse_transform takes "
                "latent codes as returned by transform."
            )
        return self._predict(
            self.module_.decode, Z, self.n_features_in_, "inverse_transform"
        )

    def score_samples(self, X):
        """Per-sample score of ``X``: higher means better explained.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            For the autoencoders, the negative mean reconstruction loss; for
            the VAEs, the evidence lower bound (ELBO) in nats, its likelihood
            term averaged over 8 fixed draws of the posterior noise (the same
            for every row, so scores are deterministic).
        """
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        check_unit_interval(X, self.loss)
        return self._predict(self.module_.score_samples, X, None, "score_samples")

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1, random_state=None):
        """Generate new data by decoding draws from the latent prior.

        The plain autoencoders draw from a Gaussian fitted to the training
        codes; the VAEs from their standard normal prior.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        random_state : int, RandomState instance or None, default=None
            Seed for the draws; the same seed gives the same samples.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_in_)
            Decoded samples (probabilities for ``loss="bce"``).
        """
        check_is_fitted(self)
        check_params(
            f"{type(self).__name__}.sample",
            {"n_samples": n_samples, "random_state": random_state},
            {
                "n_samples": [Interval(numbers.Integral, 1, None)],
                "random_state": BaseAutoencoder._constraints["random_state"],
            },
        )
        device = torch.device(self.device_)
        generator = torch.Generator(device=device).manual_seed(_seed(random_state))
        with torch.inference_mode():
            z = self.module_.sample_latent(n_samples, generator).cpu().numpy()
        return self._predict(
            self.module_.decode, z.astype(np.float64), self.n_features_in_, "sample"
        )

    def interpolate(self, x_start, x_end, n_steps=8):
        """Decode the straight line between the latent codes of two samples.

        Parameters
        ----------
        x_start, x_end : array-like of shape (n_features,) or (1, n_features)
            The two samples to travel between: arrays, or one-row pandas
            DataFrames (or Series) for a model fitted on a DataFrame.
        n_steps : int, default=8
            Number of points on the line, both ends included (at least 2).

        Returns
        -------
        X_path : ndarray of shape (n_steps, n_features_in_)
            Decoded points, from ``x_start``'s reconstruction to ``x_end``'s.
        """
        check_is_fitted(self)
        check_params(
            f"{type(self).__name__}.interpolate",
            {"n_steps": n_steps},
            {"n_steps": [Interval(numbers.Integral, 2, None)]},
        )
        ends = [
            one_row(x, name) for name, x in (("x_start", x_start), ("x_end", x_end))
        ]
        widths = [end.shape[1] for end in ends]
        if widths != [self.n_features_in_] * 2:
            raise ValueError(
                f"x_start and x_end must have {self.n_features_in_} features each, "
                f"like the training data; they have {widths[0]} and {widths[1]}."
            )
        if all(hasattr(end, "columns") for end in ends):
            import pandas as pd  # the ends are DataFrames, so pandas is there

            rows = pd.concat(ends, ignore_index=True)
        else:
            rows = np.vstack([np.asarray(end) for end in ends])
        codes = self._encode(rows, "interpolate")
        weights = np.linspace(0.0, 1.0, n_steps, dtype=codes.dtype)[:, None]
        return self.inverse_transform((1 - weights) * codes[0] + weights * codes[1])

    def save(self, path) -> None:
        """Save the fitted estimator to ``path`` in skae's safe format.

        Parameters are stored as JSON and weights with safetensors, so
        :func:`skae.load` runs no code from the file. The file is written
        atomically: an interrupted save never destroys an earlier file.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, conventionally ending in ``.skae``.
        """
        from .persistence import save

        save(self, path)

    # ------------------------------------------------------------ pickling
    def __getstate__(self):
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and self.device_ != "cpu":
            state["module_"] = copy.deepcopy(module).cpu()
        carried = [
            spec
            for spec in (
                registry.runtime_spec(Architecture, self.encoder),
                registry.runtime_spec(NoiseScheme, getattr(self, "noise", None)),
            )
            if spec is not None
        ]
        if carried:
            state["_carried_specs"] = carried
        return state

    def __setstate__(self, state):
        carried = state.pop("_carried_specs", None)
        if carried:
            registry.adopt(carried)
        super().__setstate__(state)
        if "module_" in state:
            self.device_ = loadable_device(self.device_, type(self).__name__)
            self.module_.to(self.device_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
