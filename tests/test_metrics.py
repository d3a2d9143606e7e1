"""skae.metrics: Fréchet distance, classifier score and MIG, on known answers."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from skae.exceptions import InvalidParameterError
from skae.metrics import classifier_score, frechet_distance, mutual_information_gap


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    clf = LogisticRegression(max_iter=300).fit(X[:800], y[:800])
    return X[800:], y[800:], clf


def test_frechet_distance_is_zero_on_itself_and_grows_with_the_gap(data):
    X, _, clf = data
    assert frechet_distance(X, X, clf) == pytest.approx(0.0, abs=1e-6)
    near = frechet_distance(X[:500], X[500:], clf)
    noisy = X + np.random.default_rng(0).normal(0, 0.3, X.shape)
    assert 0 < near < frechet_distance(X, noisy, clf)
    assert near < frechet_distance(X, np.full_like(X, 0.5), clf)


def test_frechet_distance_matches_the_gaussian_formula():
    """Identity features: the closed form between two Gaussians of known moments."""

    class Identity(ClassifierMixin, BaseEstimator):
        def fit(self):
            self.classes_ = np.arange(2)
            return self

        def decision_function(self, X):
            return X

    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 2))
    b = rng.normal(size=(20000, 2)) * 2 + np.array([1.0, 0.0])
    # ||(1, 0)||^2 + tr(I + 4I - 2 * 2I) = 1 + 2
    assert frechet_distance(a, b, Identity().fit()) == pytest.approx(3.0, rel=0.05)


def test_classifier_score_rewards_confident_balanced_samples(data):
    X, y, clf = data
    real = classifier_score(X, clf)
    one_class = classifier_score(X[y == 3], clf)
    assert 1 <= one_class < 2 < real <= 10
    assert classifier_score(np.full_like(X, 0.5), clf) < 1.5


def test_metrics_take_a_classifier_with_predict_proba_or_a_decision(data):
    X, y, _ = data
    svc = LinearSVC().fit(X, y)
    assert frechet_distance(X[:200], X[200:], svc) >= 0
    with pytest.raises(TypeError, match="predict_proba"):
        classifier_score(X, svc)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda X, c: frechet_distance(X, X[:, :10], c),
            ValueError,
            "as many features",
        ),
        (lambda X, c: frechet_distance(X[:1], X, c), ValueError, "minimum of 2"),
        (lambda X, c: frechet_distance(X, X * np.nan, c), ValueError, "NaN"),
        (lambda X, c: classifier_score(X[:0], c), ValueError, "minimum of 1"),
        (
            lambda X, c: frechet_distance(X, X, LogisticRegression()),
            NotFittedError,
            "not fitted",
        ),
        (
            lambda X, c: classifier_score(X, LogisticRegression()),
            NotFittedError,
            "not fitted",
        ),
        (
            lambda X, c: classifier_score(X, LinearSVC().fit(X, X[:, 20] > 0.5)),
            TypeError,
            "predict_proba",
        ),
    ],
)
def test_bad_input_to_the_sample_metrics(data, call, error, match):
    X, _, clf = data
    with pytest.raises(error, match=match):
        call(X, clf)


def test_mig_is_one_for_axis_aligned_codes_and_zero_for_shared_ones():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(2000, 2))
    aligned = factors + rng.normal(0, 0.05, factors.shape)
    assert mutual_information_gap(aligned, factors) == pytest.approx(1.0, abs=0.05)
    mixed = np.stack([factors.sum(1), factors.sum(1) + 0.01], axis=1)
    assert mutual_information_gap(mixed, factors) < 0.1
    noise = rng.normal(size=(2000, 3))
    assert mutual_information_gap(noise, factors) < 0.05
    # a rotation mixes the axes: the gap falls
    rotated = aligned @ np.array([[1, 1], [-1, 1]]) / np.sqrt(2)
    assert mutual_information_gap(rotated, factors) < 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"n_bins": 1},
            InvalidParameterError,
            "The 'n_bins' parameter of mutual_information_gap must be",
        ),
        ({"n_bins": 2.5}, InvalidParameterError, "n_bins"),
        ({"codes": np.zeros((10, 1))}, ValueError, "minimum of 2 is required"),
        ({"factors": np.zeros((9, 1))}, ValueError, "as many rows"),
        ({"factors": np.zeros((10, 1))}, ValueError, "single value"),
        ({"codes": np.full((10, 2), np.nan)}, ValueError, "NaN"),
    ],
)
def test_bad_input_to_mig(kwargs, error, match):
    args = {
        "codes": np.random.default_rng(0).normal(size=(10, 2)),
        "factors": np.arange(10)[:, None] % 3,
        **kwargs,
    }
    with pytest.raises(error, match=match):
        mutual_information_gap(**args)
