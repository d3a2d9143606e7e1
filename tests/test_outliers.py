"""AutoencoderOutlierDetector: the outlier-detector contract, its scores, bad input."""

import math
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import (
    VAE,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    InvalidParameterError,
)
from skae.outliers import AUTO_FENCE, AutoencoderOutlierDetector, _default_estimator

FAST = {"max_iter": 5, "batch_size": 100, "device": "cpu"}
DIGITS = load_digits()
ZEROS = DIGITS.data[DIGITS.target == 0][:120] / 16.0  # the normal rows
OTHERS = DIGITS.data[DIGITS.target != 0][:40] / 16.0  # not zeros


def detector(estimator=None, **params):
    estimator = AutoencoderTransformer(4, **FAST) if estimator is None else estimator
    return AutoencoderOutlierDetector(estimator, random_state=0, **params)


@pytest.fixture(scope="module")
def fitted():
    return detector().fit(ZEROS)


# --------------------------------------------------------------- the contract
def test_fit_returns_self_and_sets_the_fitted_attributes():
    est = detector()
    assert est.fit(ZEROS) is est
    assert isinstance(est.estimator_, AutoencoderTransformer)
    assert est.estimator is not est.estimator_  # a clone; the parameter is unfitted
    assert not hasattr(est.estimator, "module_")
    assert est.n_features_in_ == 64
    assert est.training_scores_.shape == est.labels_.shape == (len(ZEROS),)
    assert isinstance(est.offset_, float)


def test_predict_decision_function_and_score_samples_agree(fitted):
    X = np.vstack([ZEROS, OTHERS])
    scores = fitted.score_samples(X)
    decision = fitted.decision_function(X)
    labels = fitted.predict(X)
    assert scores.dtype == decision.dtype == np.float64
    assert labels.dtype.kind == "i" and set(np.unique(labels)) <= {-1, 1}
    np.testing.assert_allclose(decision, scores - fitted.offset_)
    np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))


def test_fit_predict_gives_the_training_labels(fitted):
    labels = detector().fit_predict(ZEROS)
    np.testing.assert_array_equal(labels, fitted.labels_)
    np.testing.assert_array_equal(labels, fitted.predict(ZEROS))
    np.testing.assert_array_equal(fitted.training_scores_, fitted.score_samples(ZEROS))


def test_higher_scores_mean_more_normal(fitted):
    # Trained on zeros only, other digits reconstruct worse.
    assert np.median(fitted.score_samples(OTHERS)) < np.median(fitted.training_scores_)


@pytest.mark.parametrize(
    "contamination, n_rows, flagged",
    [(0.1, 120, 12), (0.05, 110, 6), (0.5, 120, 60), (0.001, 120, 1)],
)
def test_a_float_contamination_flags_that_share_of_training_rows(
    contamination, n_rows, flagged
):
    assert flagged == math.ceil(contamination * n_rows - 1e-9)
    est = detector(contamination=contamination).fit(ZEROS[:n_rows])
    assert np.sum(est.labels_ == -1) == flagged
    assert np.sum(est.predict(ZEROS[:n_rows]) == -1) == flagged
    # The flagged rows are the lowest-scoring ones.
    lowest = np.argsort(est.training_scores_)[:flagged]
    assert set(np.flatnonzero(est.labels_ == -1)) == set(lowest)


def test_auto_is_tukeys_fence_on_the_training_scores(fitted):
    q1, q3 = np.percentile(fitted.training_scores_, [25, 75])
    assert fitted.offset_ == pytest.approx(q1 - AUTO_FENCE * (q3 - q1))
    # It needs no known contamination and still flags most of the other digits
    # while keeping most zeros.
    est = detector(AutoencoderTransformer(4, **{**FAST, "max_iter": 30})).fit(ZEROS)
    assert np.mean(est.predict(OTHERS) == -1) > 0.8
    assert np.mean(est.labels_ == 1) > 0.9


def test_auto_threshold_resists_outliers_in_the_training_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    X[:, 4:] = X[:, :4]  # the normal rows repeat their first half
    odd = rng.normal(size=(15, 8))  # 5% of the training rows do not
    est = detector(AutoencoderTransformer(4, max_iter=60, device="cpu"))
    labels = est.fit_predict(np.vstack([X, odd]))
    assert np.all(labels[300:] == -1)
    assert np.mean(labels[:300] == 1) > 0.95


# --------------------------------------------------------------- the estimators
def test_an_autoencoder_scores_by_reconstruction_error(fitted):
    ae = fitted.estimator_
    error = np.mean((ZEROS - ae.inverse_transform(ae.transform(ZEROS))) ** 2, axis=1)
    np.testing.assert_allclose(fitted.score_samples(ZEROS), -error, rtol=1e-4)


@pytest.mark.parametrize(
    "estimator",
    [
        VAE(4, **FAST),
        DenoisingAutoencoder(4, noise="masking", **FAST),
        AutoencoderTransformer(4, encoder="resmlp", **FAST),  # a plugin's
    ],
    ids=["VAE", "DenoisingAutoencoder", "plugin-architecture"],
)
def test_any_skae_estimator_serves_with_its_own_score(estimator):
    est = detector(estimator).fit(ZEROS)
    assert type(est.estimator_) is type(estimator)
    np.testing.assert_array_equal(
        est.score_samples(OTHERS), est.estimator_.score_samples(OTHERS)
    )
    assert np.sum(est.predict(ZEROS) == -1) == np.sum(est.labels_ == -1)


def test_random_state_replaces_the_estimators_only_when_given():
    ae = AutoencoderTransformer(4, random_state=7, **FAST)
    seeded = AutoencoderOutlierDetector(ae, random_state=3).fit(ZEROS)
    kept = AutoencoderOutlierDetector(ae).fit(ZEROS)
    assert seeded.estimator_.random_state == 3
    assert kept.estimator_.random_state == 7
    assert ae.random_state == 7
    again = AutoencoderOutlierDetector(ae, random_state=3).fit(ZEROS)
    np.testing.assert_array_equal(again.training_scores_, seeded.training_scores_)


def test_the_default_estimator_is_the_documented_one():
    est = AutoencoderOutlierDetector(random_state=0).fit(ZEROS[:40])
    assert est.estimator is None
    tanh = {"activation": "tanh"}
    expected = AutoencoderTransformer(16, encoder_params=tanh, random_state=0)
    assert est.estimator_.get_params() == expected.get_params()
    assert est.estimator_.module_.encoder[1].__class__.__name__ == "Tanh"
    assert (
        _default_estimator().get_params()
        == AutoencoderTransformer(16, encoder_params=tanh).get_params()
    )
    # Each default is a fresh one: changing a fitted one's params changes no other.
    est.estimator_.encoder_params["activation"] = "relu"
    assert _default_estimator().encoder_params == tanh
    doc = " ".join(AutoencoderOutlierDetector.__doc__.split())
    assert (
        """``AutoencoderTransformer(n_components=16, encoder_params={"activation": "tanh"})``"""
        in doc
    )


def test_works_in_a_pipeline_with_feature_names_and_pickles(fitted):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(ZEROS, columns=[f"p{i}" for i in range(64)])
    pipe = make_pipeline(StandardScaler(), detector()).fit(frame)
    assert pipe.predict(frame).shape == (len(ZEROS),)
    assert pipe[-1].n_features_in_ == 64
    direct = detector().fit(frame)
    assert list(direct.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        direct.predict(ZEROS)
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        loaded.score_samples(OTHERS), fitted.score_samples(OTHERS)
    )


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "estimator, match",
    [
        (IsolationForest(), "must be None or an instance of a skae estimator"),
        ("mlp", "must be None or an instance of a skae estimator"),
        (AutoencoderTransformer, "not a class.*AutoencoderTransformer\\(\\)"),
    ],
)
def test_a_bad_estimator_is_refused(estimator, match):
    with pytest.raises(InvalidParameterError, match=match):
        AutoencoderOutlierDetector(estimator).fit(ZEROS)


@pytest.mark.parametrize(
    "contamination", [0, 0.0, 0.51, -0.1, 1, "none", float("nan"), True]
)
def test_a_contamination_out_of_range_is_refused(contamination):
    message = (
        "The 'contamination' parameter of AutoencoderOutlierDetector must be a str "
        "among \\['auto'\\] or a float in the range \\(0, 0.5\\]"
    )
    with pytest.raises(InvalidParameterError, match=message):
        detector(contamination=contamination).fit(ZEROS)


def test_a_bad_random_state_is_refused():
    with pytest.raises(InvalidParameterError, match="'random_state' parameter"):
        AutoencoderOutlierDetector(random_state="seed").fit(ZEROS)


def test_nan_is_refused_and_a_failed_fit_changes_nothing(fitted):
    est = pickle.loads(pickle.dumps(fitted))
    before = est.offset_, est.n_features_in_
    bad = ZEROS[:, :10].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad)
    assert (est.offset_, est.n_features_in_) == before
    with pytest.raises(ValueError, match="NaN"):
        est.predict(np.where(np.isnan(bad), np.nan, 0)[:, :1].repeat(64, axis=1))


def test_a_wrong_width_at_predict_names_both_widths(fitted):
    message = "X has 10 features, but AutoencoderOutlierDetector is expecting 64"
    for method in ("predict", "decision_function", "score_samples"):
        with pytest.raises(ValueError, match=message):
            getattr(fitted, method)(ZEROS[:, :10])


def test_unfitted_methods_raise_not_fitted():
    for method in ("predict", "decision_function", "score_samples"):
        with pytest.raises(NotFittedError):
            getattr(detector(), method)(ZEROS)
