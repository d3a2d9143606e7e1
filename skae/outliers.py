"""Outlier detection with any skae estimator: :class:`AutoencoderOutlierDetector`.

The detector follows scikit-learn's outlier-detector contract, as
:class:`~sklearn.ensemble.IsolationForest` does: ``predict`` gives +1 for
inliers and -1 for outliers, ``score_samples`` is higher for more normal rows,
and ``decision_function`` is ``score_samples - offset_``.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._base import BaseAutoencoder
from ._data import validate_X
from ._inference import RANDOM_STATE
from ._params import NONE, Interval, Options, Satisfies, check_params
from .autoencoders import AutoencoderTransformer
from .exceptions import InvalidParameterError

#: Tukey's "far out" fence: with ``contamination="auto"``, a row is an outlier
#: when its score lies more than this many interquartile ranges below the
#: first quartile of the training scores (see docs/outliers.md for the measure).
AUTO_FENCE = 3.0


#: What ``estimator=None`` stands for: the setting that measured best in
#: ``benchmarks/outliers.py`` (see docs/outliers.md).
_DEFAULT_ESTIMATOR_PARAMS = {
    "n_components": 16,
    "encoder_params": {"activation": "tanh"},
}


def _default_estimator() -> AutoencoderTransformer:
    """The estimator that ``estimator=None`` stands for (see docs/outliers.md)."""
    return AutoencoderTransformer(**copy.deepcopy(_DEFAULT_ESTIMATOR_PARAMS))


def _is_skae_estimator(value: object) -> bool:
    return isinstance(value, BaseAutoencoder)


class AutoencoderOutlierDetector(OutlierMixin, BaseEstimator):
    """Outlier detection with an autoencoder: rows it explains badly are outliers.

    The detector fits a clone of ``estimator`` on the training rows and scores
    each row with the estimator's own ``score_samples``:

    - a variational estimator (:class:`~skae.VAE`, :class:`~skae.BetaVAE`)
      gives its estimate of the log-likelihood log p(x), in nats;
    - a deterministic one (:class:`~skae.AutoencoderTransformer`,
      :class:`~skae.DenoisingAutoencoder`) gives the negative reconstruction
      error (the mean squared error per feature for ``loss="mse"``).

    Either way, higher means more normal. Any architecture the estimator
    accepts, a plugin's included, serves. Scale the features first (for
    example in a :func:`~sklearn.pipeline.make_pipeline` with a
    :class:`~sklearn.preprocessing.StandardScaler`), as for PCA.

    Parameters
    ----------
    estimator : skae estimator, default=None
        An unfitted instance of a skae estimator, cloned at ``fit``. ``None``
        stands for ``AutoencoderTransformer(n_components=16,
        encoder_params={"activation": "tanh"})`` (a 256-unit tanh hidden
        layer, 200 epochs), the setting that measured best in
        ``benchmarks/outliers.py``: saturating units cannot follow rows far
        out along the manifold, so such rows get large errors too. See
        docs/outliers.md.
    contamination : "auto" or float, default="auto"
        How the threshold ``offset_`` is set from the scores of the training
        rows. A float in (0, 0.5] flags the ``ceil(contamination * n_samples)``
        training rows with the lowest scores (barring ties): ``offset_`` lies
        halfway between the last flagged score and the next. ``"auto"`` needs
        no known contamination: it is Tukey's "far out" fence on the training
        scores, ``offset_ = Q1 - 3 * (Q3 - Q1)`` with Q1 and Q3 their
        quartiles, so a row is an outlier when its score lies farther below
        the bulk of the training scores than three interquartile ranges.
        Quartiles ignore the tails, so up to a quarter of the training rows
        may be outliers without moving it much.
    random_state : int, RandomState instance or None, default=None
        Seed for training. When not None it replaces the ``random_state`` of
        the clone of ``estimator``; when None the clone keeps its own.

    Attributes
    ----------
    estimator_ : skae estimator
        The fitted clone of ``estimator``.
    offset_ : float
        The threshold on ``score_samples``: rows scoring below it are outliers.
        ``decision_function(X) = score_samples(X) - offset_``.
    training_scores_ : ndarray of shape (n_samples,)
        ``score_samples`` of the training rows (PyOD's ``decision_scores_``
        with the sign flipped).
    labels_ : ndarray of shape (n_samples,)
        The training rows' labels, +1 for inliers and -1 for outliers, as
        :meth:`fit_predict` returns them (PyOD's ``labels_`` are
        ``labels_ == -1``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when ``X`` had string column
        names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : The same contract with random trees.
    sklearn.neighbors.LocalOutlierFactor : The same contract with neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderOutlierDetector, AutoencoderTransformer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 8))
    >>> X[:, 4:] = X[:, :4]  # normal rows repeat their first half
    >>> odd = rng.normal(size=(5, 8))  # these rows do not
    >>> ae = AutoencoderTransformer(n_components=4, max_iter=50, device="cpu")
    >>> detector = AutoencoderOutlierDetector(ae, random_state=0).fit(X)
    >>> detector.predict(odd)
    array([-1, -1, -1, -1, -1])
    >>> bool((detector.predict(X) == 1).mean() > 0.9)
    True
    >>> detector.decision_function(X[:2]).shape
    (2,)
    """

    _constraints: dict = {
        "estimator": [
            NONE,
            Satisfies(
                _is_skae_estimator,
                "an instance of a skae estimator, such as "
                "skae.AutoencoderTransformer() or skae.VAE()",
            ),
        ],
        "contamination": [
            Options(frozenset({"auto"})),
            Interval(numbers.Real, 0, 0.5, "right"),
        ],
        "random_state": RANDOM_STATE,
    }

    def __init__(self, estimator=None, *, contamination="auto", random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.random_state = random_state

    # ------------------------------------------------------------ fit
    def _check_params(self) -> None:
        owner = type(self).__name__
        if isinstance(self.estimator, type):
            raise InvalidParameterError(
                f"The 'estimator' parameter of {owner} must be an instance of a "
                f"skae estimator, not a class. Got the class "
                f"{self.estimator.__name__} instead; pass an instance such as "
                f"{self.estimator.__name__}()."
            )
        check_params(owner, self.get_params(deep=False), self._constraints)

    def _make_estimator(self) -> BaseAutoencoder:
        estimator = (
            _default_estimator() if self.estimator is None else clone(self.estimator)
        )
        if self.random_state is not None:
            estimator.set_params(random_state=copy.deepcopy(self.random_state))
        return estimator

    def fit(self, X, y=None):
        """Fit the estimator on ``X`` and set the threshold ``offset_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows, mostly normal ones.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._check_params()
        # Checks and fitting work on a shallow copy, so that a failed fit
        # leaves the detector as it was.
        # The estimator checks X again: it gets X as given (a memmap stays one).
        shell = copy.copy(self)
        validate_X(shell, X, reset=True)
        estimator = self._make_estimator().fit(X)
        scores = _as_scores(estimator.score_samples(X))
        offset = _offset(scores, self.contamination)
        fitted = {
            "estimator_": estimator,
            "offset_": offset,
            "training_scores_": scores,
            "labels_": np.where(scores < offset, -1, 1),
            "n_features_in_": shell.n_features_in_,
        }
        self.__dict__.pop("feature_names_in_", None)
        if hasattr(shell, "feature_names_in_"):
            fitted["feature_names_in_"] = shell.feature_names_in_
        self.__dict__.update(fitted)
        return self

    def fit_predict(self, X, y=None):
        """Fit on ``X`` and return its labels, +1 for inliers and -1 for outliers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            ``labels_``: -1 for the rows flagged as outliers, +1 for the others.
        """
        return self.fit(X).labels_.copy()

    # ------------------------------------------------------------ scores
    def score_samples(self, X):
        """How normal each row is: higher is more normal.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The estimator's ``score_samples``, as float64: its log-likelihood
            estimate for a VAE, the negative reconstruction error for an
            autoencoder.
        """
        check_is_fitted(self)
        validate_X(self, X, reset=False)  # names this detector in its messages
        return _as_scores(self.estimator_.score_samples(X))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            Below 0 for outliers, 0 or above for inliers.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row: +1 for an inlier, -1 for an outlier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _as_scores(scores) -> np.ndarray:
    return np.asarray(scores, dtype=np.float64)


def _offset(scores: np.ndarray, contamination) -> float:
    """The threshold on ``scores`` that ``contamination`` asks for."""
    if contamination == "auto":
        q1, q3 = np.percentile(scores, [25, 75])
        return float(q1 - AUTO_FENCE * (q3 - q1))
    ordered = np.sort(scores)
    # round() first, so that 0.1 * 300 (30.000000000000004) flags 30 rows.
    k = math.ceil(round(contamination * len(ordered), 6))
    if k >= len(ordered):
        return float(np.nextafter(ordered[-1], np.inf))
    low, high = float(ordered[k - 1]), float(ordered[k])
    middle = (low + high) / 2
    return middle if low < middle else high


__all__ = ["AutoencoderOutlierDetector"]
