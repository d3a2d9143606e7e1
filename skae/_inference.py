"""Inference for the skae estimators: encode, decode, score, sample, interpolate.

:class:`InferenceMixin` gives :class:`~skae._base.BaseAutoencoder` its
methods that read a fitted model. Each works on one consistent snapshot of the
fitted state (see :meth:`_snapshot`) and on the configuration the model was
fitted with, never on parameters changed since.
"""

from __future__ import annotations

import copy
import numbers
import threading

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._data import (
    check_codes,
    check_n_rows,
    check_unit_interval,
    one_row,
    stack_rows,
    validate_X,
)
from ._engine.predict import INFERENCE_BATCH_SIZE, predict
from ._parallel import worker_context
from ._params import BOOL, NONE, InstanceOf, Interval, check_params
from ._samplers import fit_latent_mixture, sample_latent_mixture
from ._storage import is_dask, lazy_blocks

RANDOM_STATE = [
    Interval(numbers.Integral, 0, 2**63 - 1),
    InstanceOf(np.random.RandomState, "a RandomState instance"),
    NONE,
]
# Fitted attributes are published and read under this lock (see _snapshot).
_STATE_LOCK = threading.Lock()
# sample() draws and decodes this many latent codes at a time.
SAMPLE_BLOCK = 4096


PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def seed_from(random_state) -> int:
    """An int seed from ``random_state``, leaving numpy's global state alone."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**63 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return int(random_state)


class InferenceMixin(TransformerMixin):
    """The methods of a fitted estimator; mixed into BaseAutoencoder.

    A ``TransformerMixin``, so that scikit-learn's ``set_output`` wraps the
    ``transform`` defined here.
    """

    # ------------------------------------------------------------ fitted state
    def _snapshot(self):
        """A shallow copy of this estimator whose fitted attributes agree.

        Taken under a process-wide lock, so a fit publishing in another
        thread is seen either wholly or not at all.
        """
        copy_ = object.__new__(type(self))
        with _STATE_LOCK:
            copy_.__dict__.update(self.__dict__)
        return copy_

    def _publish(self, attributes: dict) -> None:
        """Set every fitted attribute at once; a value of None for
        ``feature_names_in_`` removes it (data without column names).

        After training (``attributes`` holds ``_training_state``), the latent
        mixture that ``sample`` may draw from is fitted first, so that it is
        published with the module it belongs to (see :meth:`_latent_mixture`).
        """
        if "_training_state" in attributes:
            attributes = {**attributes, **self._latent_mixture(attributes)}
        with _STATE_LOCK:
            if attributes.get("feature_names_in_", ()) is None:
                del attributes["feature_names_in_"]
                self.__dict__.pop("feature_names_in_", None)
            self.__dict__.update(attributes)

    @staticmethod
    def _latent_mixture(attributes: dict) -> dict:
        """``latent_mixture_`` for a module that just trained.

        The engine leaves the codes of its calibration rows (at most 2,048) on
        the module; they are taken off it here, and with ``sampler="mixture"``
        a :class:`~sklearn.mixture.GaussianMixture` is fitted to them (see
        :mod:`skae._samplers`). Otherwise ``latent_mixture_`` is None.
        """
        codes = attributes["module_"].__dict__.pop("calibration_codes", None)
        params = attributes["_fit_params"]
        if codes is None or params.get("sampler", "prior") != "mixture":
            return {"latent_mixture_": None}
        seed = seed_from(copy.deepcopy(params["random_state"]))
        return {"latent_mixture_": fit_latent_mixture(codes.numpy(), seed)}

    def _fitted(self):
        """A consistent snapshot of the fitted estimator (NotFittedError if none)."""
        check_is_fitted(self)
        return self._snapshot()

    # ------------------------------------------------------------ inference
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    @property
    def _n_features_out(self) -> int:
        return self.module_.n_components

    @staticmethod
    def _predict(fitted, fn, X, width: int | None, what: str) -> np.ndarray:
        """``fn`` over ``X`` in blocks, on the fitted device and precision."""
        dtype = X.dtype if X.dtype == np.float32 else np.float64
        try:
            with worker_context():
                return predict(
                    fn,
                    X,
                    width=width,
                    dtype=dtype,
                    device=torch.device(fitted.device_),
                    what=what,
                    precision=PRECISIONS[fitted._fit_params["precision"]],
                )
        except OUT_OF_MEMORY as exc:
            raise MemoryError(
                f"The device ran out of memory during {what} (skae predicts "
                f"{INFERENCE_BATCH_SIZE} rows at a time). Free memory on "
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
        fitted = self._fitted()
        if is_dask(X):  # lazily, block by block on the workers
            return lazy_blocks(fitted.transform, X, fitted.module_.n_components)
        return self._encode(fitted, X, "transform")

    def _encode(self, fitted, X, what: str) -> np.ndarray:
        # transform without set_output's wrapping, for use inside skae.
        X = validate_X(fitted, X, reset=False)
        width = fitted.module_.n_components
        return self._predict(fitted, fitted.module_.encode, X, width, what)

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
        fitted = self._fitted()
        if is_dask(X):
            return lazy_blocks(fitted.inverse_transform, X, fitted.n_features_in_)
        return self._decode(fitted, X, "inverse_transform")

    def _decode(self, fitted, Z, what: str) -> np.ndarray:
        Z = check_codes(Z, fitted.module_.n_components, type(self).__name__)
        decode = fitted.module_.decode
        return self._predict(fitted, decode, Z, fitted.n_features_in_, what)

    def score_samples(self, X):
        """Per-sample score of ``X``: higher means better explained.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            For the autoencoders, the negative mean reconstruction loss. The
            VAEs override this method with an estimate of log p(x) (see
            :meth:`skae.VAE.score_samples`).
        """
        fitted = self._fitted()
        if is_dask(X):
            return lazy_blocks(fitted.score_samples, X, None)
        X = validate_X(fitted, X, reset=False)
        X = check_unit_interval(X, fitted._fit_params["loss"])
        score = fitted.module_.score_samples
        return self._predict(fitted, score, X, None, "score_samples")

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
        """Generate new data by decoding draws from a latent density.

        With ``sampler="mixture"``, draws come from the Gaussian mixture fitted
        to the training codes (``latent_mixture_``); with ``sampler="prior"``,
        the plain autoencoders draw from one Gaussian fitted to the training
        codes and the VAEs from their standard normal prior. Draws are decoded
        in blocks, so memory beyond the result stays bounded.

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
        return self._sample(n_samples, random_state, noise=False)

    def _sample(self, n_samples, random_state, *, noise: bool):
        """:meth:`sample`; ``noise=True`` draws from p(x | z) (VAEs only).

        The latent draws and the noise come from two streams of one seed, so
        the codes do not depend on ``noise``, and each block of
        :data:`SAMPLE_BLOCK` rows draws the same values however many follow.
        """
        fitted = self._fitted()
        owner = f"{type(self).__name__}.sample"
        check_params(
            owner,
            {"random_state": random_state, "noise": noise},
            {"random_state": RANDOM_STATE, "noise": [BOOL]},
        )
        n_samples = check_n_rows(
            n_samples, "n_samples", n_features=fitted.n_features_in_, owner=owner
        )
        device = torch.device(fitted.device_)
        seed = seed_from(random_state)
        generator = torch.Generator(device=device).manual_seed(seed)
        mixture = getattr(fitted, "latent_mixture_", None)

        def draw_codes(start: int, n: int) -> np.ndarray:
            if mixture is not None:  # a stream of its own for each block
                block = start // SAMPLE_BLOCK
                return sample_latent_mixture(mixture, n, [seed, 2, block])
            with torch.inference_mode():
                return fitted.module_.sample_latent(n, generator).cpu().numpy()

        return self._decode_blocks(fitted, n_samples, seed, draw_codes, noise=noise)

    def _decode_blocks(
        self, fitted, n_samples: int, seed: int, draw_codes, *, noise: bool
    ) -> np.ndarray:
        """Decode ``n_samples`` drawn codes, :data:`SAMPLE_BLOCK` rows at a time.

        ``draw_codes(start, n)`` gives the codes of rows ``start`` to
        ``start + n``; memory beyond the result holds one block. With
        ``noise``, each code is decoded to a draw of p(x | z) (the module's
        ``draw``), from a noise stream of its own, apart from the codes'.
        """
        module, width = fitted.module_, fitted.n_features_in_
        out = np.empty((n_samples, width))
        noise_rng = np.random.default_rng([seed, 1])

        def draw(rows: torch.Tensor) -> torch.Tensor:
            return module.draw(rows[:, :-width], rows[:, -width:])

        for start in range(0, n_samples, SAMPLE_BLOCK):
            n = min(SAMPLE_BLOCK, n_samples - start)
            codes = np.asarray(draw_codes(start, n), dtype=np.float64)
            if noise:
                eps = noise_rng.standard_normal((n, width))
                rows = np.hstack([codes, eps])
                out[start : start + n] = self._predict(
                    fitted, draw, rows, width, "sample"
                )
            else:
                out[start : start + n] = self._predict(
                    fitted, module.decode, codes, width, "sample"
                )
        return out

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
        fitted = self._fitted()
        check_n_rows(
            n_steps,
            "n_steps",
            n_features=fitted.n_features_in_,
            owner=f"{type(self).__name__}.interpolate",
            minimum=2,
        )
        ends = [
            one_row(x, name) for name, x in (("x_start", x_start), ("x_end", x_end))
        ]
        widths = [end.shape[1] for end in ends]
        if widths != [fitted.n_features_in_] * 2:
            raise ValueError(
                f"x_start and x_end must have {fitted.n_features_in_} features "
                f"each, like the training data; they have {widths[0]} and "
                f"{widths[1]}."
            )
        rows = stack_rows(ends)
        codes = self._encode(fitted, rows, "interpolate")
        weights = np.linspace(0.0, 1.0, n_steps, dtype=codes.dtype)[:, None]
        path = (1 - weights) * codes[0] + weights * codes[1]
        return self._decode(fitted, path, "interpolate")
