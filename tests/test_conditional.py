"""ConditionalVAE: the API with and without y, labels of every kind, bad labels,
persistence, architectures, and the engine module's probabilistic identities."""

import pickle

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skae import persistence
from skae._engine.conditional import ConditionalVariationalAutoencoder, gaussian_kl
from skae.conditional import ConditionalVAE
from skae.exceptions import InvalidParameterError

FAST = {"max_iter": 2, "random_state": 0, "device": "cpu", "n_importance_samples": 4}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16, y[:240]


@pytest.fixture(scope="module")
def model(digits):
    return ConditionalVAE(3, **FAST).fit(*digits)


@pytest.fixture(scope="module")
def continuous(digits):
    X, _ = digits
    values = np.column_stack([X[:, :8].sum(axis=1), X[:, 8:16].mean(axis=1)])
    return ConditionalVAE(3, **FAST).fit(X, values), values


def test_transform_needs_no_y_and_works_in_a_pipeline(digits, model):
    X, y = digits
    assert model.transform(X).shape == (240, 3)
    assert model.condition_type_ == "categorical"
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    np.testing.assert_allclose(model.class_prior_, np.bincount(y) / len(y))
    pipe = make_pipeline(ConditionalVAE(3, **FAST), LogisticRegression(max_iter=50))
    assert pipe.fit(X, y).predict(X[:7]).shape == (7,)  # only fit saw y


def test_decoder_and_prior_are_conditional(digits, model):
    X, _ = digits
    Z = model.transform(X[:4])
    zeros, ones = (
        model.inverse_transform(Z, [0] * 4),
        model.inverse_transform(Z, [1] * 4),
    )
    assert zeros.shape == (4, 64) and not np.allclose(zeros, ones)
    a, b = model.sample(5, y=0, random_state=1), model.sample(5, y=0, random_state=1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, model.sample(5, y=1, random_state=1))
    labels = np.array([3, 1, 4, 1, 5])
    assert model.sample(5, y=labels, random_state=0).shape == (5, 64)


def test_sample_without_y_draws_labels_from_the_training_distribution(model):
    rng = np.random.default_rng(7)
    labels = model.classes_[rng.choice(10, size=6, p=model.class_prior_)]
    np.testing.assert_array_equal(
        model.sample(6, random_state=7), model.sample(6, y=labels, random_state=7)
    )


def test_sample_draws_from_the_likelihood_in_blocks(model):
    labels = np.repeat([2, 7], 2500)  # two blocks of SAMPLE_BLOCK rows
    drawn = model.sample(5000, y=labels, random_state=0)
    means = model.sample(5000, y=labels, random_state=0, noise=False)
    assert drawn.shape == means.shape == (5000, 64) and np.isfinite(drawn).all()
    # Same codes either way: noise=False gives the means the draws scatter around,
    # with the calibrated per-feature variances.
    variance = np.exp(model.module_.log_noise_var.numpy())
    np.testing.assert_allclose((drawn - means).var(axis=0), variance, rtol=0.15)
    # The first block does not depend on the blocks after it.
    first = model.sample(4096, y=labels[:4096], random_state=0, noise=False)
    np.testing.assert_array_equal(first, means[:4096])
    with pytest.raises(InvalidParameterError, match="noise"):
        model.sample(2, y=1, noise="yes")


def test_marginal_score_sums_the_conditional_ones(digits, model):
    X, y = digits
    conditional = model.score_samples(X[:6], y[:6])
    assert conditional.shape == (6,) and np.isfinite(conditional).all()
    per_class = np.stack([model.score_samples(X[:6], [c] * 6) for c in range(10)])
    expected = logsumexp(per_class + np.log(model.class_prior_)[:, None], axis=0)
    np.testing.assert_allclose(model.score_samples(X[:6]), expected, rtol=1e-4)
    assert model.score(X[:6], y[:6]) == pytest.approx(conditional.mean())
    np.testing.assert_array_equal(conditional, model.score_samples(X[:6], y[:6]))


def test_string_labels(digits):
    X, y = digits
    names = np.array(["even", "odd"])[y % 2]
    cvae = ConditionalVAE(2, **FAST).fit(X, names)
    assert cvae.classes_.tolist() == ["even", "odd"]
    assert cvae.sample(3, y="odd", random_state=0).shape == (3, 64)
    assert cvae.score_samples(X[:3], names[:3]).shape == (3,)


def test_continuous_conditions(digits, continuous):
    X, _ = digits
    cvae, values = continuous
    assert cvae.condition_type_ == "continuous"
    np.testing.assert_allclose(cvae.condition_mean_, values.mean(axis=0))
    np.testing.assert_allclose(cvae.condition_scale_, values.std(axis=0))
    assert cvae.condition_samples_.shape == (240, 2)
    assert cvae.sample(4, random_state=0).shape == (4, 64)
    one = cvae.sample(3, y=[2.0, 0.5], random_state=0)
    rows = cvae.sample(3, y=[[2.0, 0.5]] * 3, random_state=0)
    np.testing.assert_array_equal(one, rows)
    assert np.isfinite(cvae.score_samples(X[:3])).all()
    assert cvae.score_samples(X[:3], values[:3]).shape == (3,)
    with pytest.raises(ValueError, match="1 condition column"):
        cvae.score_samples(X[:3], values[:3, :1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, X, y: m.sample(2, y=11), r"label\(s\) \[11\] not seen in fit"),
        (lambda m, X, y: m.score_samples(X[:3], [0, 1, 42]), "not seen in fit"),
        (lambda m, X, y: m.inverse_transform(np.zeros((2, 3)), ["a", 1]), "not seen"),
        (lambda m, X, y: m.score_samples(X[:3], y[:2]), "y has 2 rows but there are 3"),
        (lambda m, X, y: m.sample(3, y=[1, 2]), "y has 2 rows but there are 3"),
        (lambda m, X, y: m.inverse_transform(np.zeros((2, 3))), "requires y"),
    ],
)
def test_bad_labels_at_inference(digits, model, call, match):
    with pytest.raises(ValueError, match=match):
        call(model, *digits)


@pytest.mark.parametrize(
    "y, params, match",
    [
        (None, {}, "requires y to be passed"),
        (np.arange(5), {}, "y has 5 rows but there are 240"),
        (np.r_[np.nan, np.ones(239)], {}, "NaN or infinity"),
        (np.r_[np.nan, np.ones(239)], {"condition": "continuous"}, "NaN or infinity"),
        (np.ones((240, 2)), {"condition": "categorical"}, "must be 1-D"),
    ],
)
def test_bad_labels_in_fit(digits, y, params, match):
    cvae = ConditionalVAE(2, **FAST, **params)
    with pytest.raises(ValueError, match=match):
        cvae.fit(digits[0], y)
    assert not hasattr(cvae, "module_")


def test_bad_parameter_and_missing_methods():
    with pytest.raises(ValueError, match="'condition' parameter of ConditionalVAE"):
        ConditionalVAE(condition="ordinal").fit(np.zeros((4, 2)), [0, 1, 0, 1])
    assert not hasattr(ConditionalVAE(), "partial_fit")  # needs labels per chunk
    assert ConditionalVAE().__sklearn_tags__().target_tags.required


def test_pickle_save_and_load(digits, model, continuous, tmp_path, monkeypatch):
    X, y = digits
    monkeypatch.setitem(persistence.ESTIMATORS, "ConditionalVAE", ConditionalVAE)
    for fitted, cond in ((model, y[:5]), (continuous[0], continuous[1][:5])):
        expected = fitted.score_samples(X[:5], cond)
        clone = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(clone.score_samples(X[:5], cond), expected)
        fitted.save(tmp_path / "m.skae")
        loaded = persistence.load(tmp_path / "m.skae")
        np.testing.assert_allclose(loaded.score_samples(X[:5], cond), expected)
        np.testing.assert_array_equal(
            loaded.sample(3, random_state=0), fitted.sample(3, random_state=0)
        )
    assert loaded.condition_type_ == "continuous"


def test_load_refuses_malformed_condition_attributes(model):
    state = model._fitted_state()
    bad = dict(state.attributes, class_prior_=np.full(10, 0.5))
    with pytest.raises(ValueError, match="condition attributes"):
        ConditionalVAE._from_fitted_state(
            type(state)(**{**vars(state), "attributes": bad})
        )
    missing = {k: v for k, v in state.attributes.items() if k != "classes_"}
    with pytest.raises(ValueError, match="condition attributes"):
        ConditionalVAE._from_fitted_state(
            type(state)(**{**vars(state), "attributes": missing})
        )


def test_warm_start_keeps_the_encoding(digits, model):
    X, y = digits
    cvae = ConditionalVAE(3, **FAST, warm_start=True).fit(X, y)
    assert cvae.fit(X, y).n_iter_ == 4
    with pytest.raises(ValueError, match="not seen in fit"):
        cvae.fit(X[:3], [0, 1, 99])
    assert cvae.n_iter_ == 4


def _tiny(n_features, n_encoder_outputs, n_components):
    return torch.nn.Linear(n_features, n_encoder_outputs), torch.nn.Linear(
        n_components, n_features
    )


@pytest.mark.parametrize(
    "encoder, params",
    [("conv", {"input_shape": (1, 8, 8), "channels": (4,)}), (_tiny, None)],
)
def test_any_architecture_gets_the_condition_in_its_decoder(digits, encoder, params):
    X, y = digits
    cvae = ConditionalVAE(
        2, encoder=encoder, encoder_params=params, **{**FAST, "max_iter": 1}
    )
    cvae.fit(X[:64], y[:64] % 3)
    assert cvae.sample(2, y=1, random_state=0).shape == (2, 64)


def test_engine_kl_and_the_prior_network_start():
    torch.manual_seed(0)
    mq, lq, mp, lp = (torch.randn(5, 3) for _ in range(4))
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, (0.5 * lq).exp()),
        torch.distributions.Normal(mp, (0.5 * lp).exp()),
    ).sum(dim=1)
    torch.testing.assert_close(gaussian_kl(mq, lq, mp, lp), expected)
    module = ConditionalVariationalAutoencoder(
        torch.nn.Linear(6, 4), torch.nn.Linear(4, 6), "mse", 2, n_conditions=2
    )
    mean, log_var = module.prior(torch.eye(2))
    assert not mean.any() and not log_var.any()  # training starts from N(0, I)
