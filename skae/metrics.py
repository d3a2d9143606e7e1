"""Sample-quality and disentanglement metrics that run offline, on any data set.

:func:`frechet_distance` and :func:`classifier_score` judge generated samples in
the eyes of a classifier trained on the real data (any fitted scikit-learn
classifier): the Fréchet distance between the real and generated
distributions of its features, and the inception-score formula applied to its
class probabilities. They follow the recipes of FID (Heusel et al., 2017) and
the inception score (Salimans et al., 2016), but with your classifier in place
of Inception v3 on ImageNet, so their values are **not comparable to published
FID or inception scores**: compare models with the same classifier only.
:func:`mutual_information_gap` is the MIG of Chen et al. (2018).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import linalg
from sklearn.metrics import mutual_info_score
from sklearn.utils.validation import check_array, check_is_fitted

from ._params import Interval, check_params

__all__ = ["classifier_score", "frechet_distance", "mutual_information_gap"]


def _features(classifier, X) -> np.ndarray:
    """The classifier's view of ``X``: its decision function, else log-probabilities."""
    if hasattr(classifier, "decision_function"):
        features = classifier.decision_function(X)
    elif hasattr(classifier, "predict_proba"):
        features = np.log(np.clip(classifier.predict_proba(X), 1e-12, None))
    else:
        raise TypeError(
            "classifier must be a fitted classifier with decision_function or "
            f"predict_proba; got {type(classifier).__name__}."
        )
    features = np.asarray(features, dtype=np.float64)
    return features.reshape(len(features), -1)


def _checked(classifier, X, name: str, min_samples: int) -> np.ndarray:
    check_is_fitted(classifier)
    X = check_array(X, input_name=name, ensure_min_samples=min_samples)
    return X


def frechet_distance(X_real, X_generated, classifier) -> float:
    """Fréchet distance between real and generated data in a classifier's features.

    ``||m_r - m_g||^2 + Tr(C_r + C_g - 2 (C_r C_g)^(1/2))`` between Gaussians
    fitted to the features of the two sets: the classifier's
    ``decision_function`` (the logits of a ``LogisticRegression``), or the log
    of ``predict_proba``. 0 for identical distributions; lower is better. Not
    comparable to published FID values, which use Inception v3 features.

    Parameters
    ----------
    X_real : array-like of shape (n_real, n_features)
        Real data, best held out from the classifier's training data.
    X_generated : array-like of shape (n_generated, n_features)
        Generated samples.
    classifier : fitted classifier
        Trained on real data, with ``decision_function`` or ``predict_proba``.

    Returns
    -------
    distance : float

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skae.metrics import frechet_distance
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X[:1000] / 16, y[:1000])
    >>> real = X[1000:] / 16
    >>> frechet_distance(real[:400], real[400:], clf) < frechet_distance(
    ...     real, real[:, ::-1], clf)
    True
    """
    X_real = _checked(classifier, X_real, "X_real", 2)
    X_generated = _checked(classifier, X_generated, "X_generated", 2)
    if X_real.shape[1] != X_generated.shape[1]:
        raise ValueError(
            f"X_real and X_generated must have as many features; they have "
            f"{X_real.shape[1]} and {X_generated.shape[1]}."
        )
    real, fake = _features(classifier, X_real), _features(classifier, X_generated)
    mean_gap = np.sum((real.mean(0) - fake.mean(0)) ** 2)
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))
    cov_g = np.atleast_2d(np.cov(fake, rowvar=False))
    root = linalg.sqrtm(cov_r @ cov_g)
    trace = np.trace(cov_r) + np.trace(cov_g) - 2 * np.trace(np.real(root))
    return float(max(mean_gap + trace, 0.0))


def classifier_score(X_generated, classifier) -> float:
    """Inception-style score of generated samples, with your own classifier.

    ``exp(E_x KL(p(y | x) || p(y)))`` with the classifier's ``predict_proba``
    (Salimans et al., 2016): high when each sample is classified confidently
    and the classes are balanced. It lies between 1 and the number of classes;
    higher is better. Not comparable to published inception scores.

    Parameters
    ----------
    X_generated : array-like of shape (n_samples, n_features)
        Generated samples.
    classifier : fitted classifier
        Trained on real data, with ``predict_proba``.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skae.metrics import classifier_score
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X[:1000] / 16, y[:1000])
    >>> 5 < classifier_score(X[1000:] / 16, clf) <= 10
    True
    """
    X_generated = _checked(classifier, X_generated, "X_generated", 1)
    if not hasattr(classifier, "predict_proba"):
        raise TypeError(
            f"classifier must have predict_proba; got {type(classifier).__name__}."
        )
    proba = np.clip(classifier.predict_proba(X_generated), 1e-12, 1.0)
    marginal = proba.mean(axis=0)
    kl = np.sum(proba * (np.log(proba) - np.log(marginal)), axis=1)
    return float(np.exp(kl.mean()))


def mutual_information_gap(codes, factors, *, n_bins=20) -> float:
    """Mutual information gap (MIG) of latent codes, Chen et al. (2018).

    For each factor, the mutual information with each code dimension
    (discretised into ``n_bins`` equal-width bins) is computed; the gap
    between the largest and the second largest, divided by the factor's
    entropy, says how much one dimension alone captures it. MIG is the mean
    gap over factors: 1 when each factor lives in one dimension of its own, 0
    when none stands out.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_components)
        Latent codes, at least two dimensions.
    factors : array-like of shape (n_samples, n_factors)
        The true generative factors, discrete: each distinct value is a class
        (bin continuous factors first). A factor with a single value is
        refused, having no entropy.
    n_bins : int, default=20
        Equal-width bins per code dimension, at least 2.

    Returns
    -------
    mig : float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skae.metrics import mutual_information_gap
    >>> factors = np.random.default_rng(0).integers(0, 5, size=(500, 2))
    >>> mutual_information_gap(factors + 0.1, factors)
    1.0
    >>> round(mutual_information_gap(factors[:, [0, 0]], factors), 2)
    0.0
    """
    check_params(
        "mutual_information_gap",
        {"n_bins": n_bins},
        {"n_bins": [Interval(numbers.Integral, 2, None)]},
    )
    codes = check_array(codes, input_name="codes", ensure_min_features=2)
    factors = check_array(factors, input_name="factors", ensure_2d=False)
    factors = factors.reshape(len(factors), -1)
    if len(factors) != len(codes):
        raise ValueError(
            f"codes and factors must have as many rows; they have {len(codes)} "
            f"and {len(factors)}."
        )
    binned = []
    for column in codes.T:
        edges = np.histogram_bin_edges(column, bins=n_bins)
        binned.append(np.digitize(column, edges[1:-1]))
    gaps = []
    for j, factor in enumerate(factors.T):
        entropy = mutual_info_score(factor, factor)
        if entropy <= 0:
            raise ValueError(
                f"Factor {j} takes a single value: it has no entropy, so its "
                "gap is undefined. Drop it."
            )
        info = np.sort([mutual_info_score(factor, b) for b in binned])[::-1]
        gaps.append((info[0] - info[1]) / entropy)
    return float(np.clip(np.mean(gaps), 0.0, 1.0))
