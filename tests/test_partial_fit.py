"""partial_fit: one epoch per call, with MLPRegressor.partial_fit's semantics."""

import math
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

X = load_digits().data[:400] / 16
CHUNKS = [X[:150], X[150:300], X[300:]]
ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]


def _adam_steps(estimator) -> float:
    optimizer = estimator._training_state.optimizer
    first = optimizer.param_groups[0]["params"][0]
    return float(optimizer.state[first]["step"])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_each_call_is_one_pass_that_carries_the_training_state(Estimator):
    est = Estimator(2, batch_size=50, max_iter=10, random_state=0)
    for i, chunk in enumerate(CHUNKS, start=1):
        assert est.partial_fit(chunk) is est
        assert est.n_iter_ == i and len(est.loss_curve_) == i
        # One step per mini-batch of this chunk, added to the steps before.
        assert _adam_steps(est) == sum(math.ceil(len(c) / 50) for c in CHUNKS[:i])
    assert est.transform(X).shape == (len(X), 2)
    assert np.isfinite(est.score_samples(X)).all()
    assert est.sample(3, random_state=0).shape == (3, 64)


def test_the_cosine_schedule_runs_over_max_iter_calls_then_stays():
    est = AutoencoderTransformer(2, learning_rate=0.01, max_iter=3, random_state=0)
    rates = []
    for _ in range(5):
        est.partial_fit(X)
        rates.append(est._training_state.optimizer.param_groups[0]["lr"])
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 3)) for e in (0, 1, 2, 2, 2)]
    np.testing.assert_allclose(rates, expected)


def test_calls_are_reproducible_and_survive_a_pickle_between_them():
    straight = VAE(2, random_state=0)
    for chunk in CHUNKS:
        straight.partial_fit(chunk)
    resumed = VAE(2, random_state=0).partial_fit(CHUNKS[0])
    for chunk in CHUNKS[1:]:
        resumed = pickle.loads(pickle.dumps(resumed)).partial_fit(chunk)
    assert resumed.loss_curve_ == straight.loss_curve_
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))


def test_partial_fit_after_fit_continues_the_fitted_model():
    est = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(X)
    before = est.loss_curve_
    est.partial_fit(X)
    assert est.n_iter_ == 4 and est.loss_curve_[:3] == before


def test_a_chunk_of_another_width_is_refused_and_changes_nothing():
    est = AutoencoderTransformer(2, random_state=0).partial_fit(X)
    curve, codes = list(est.loss_curve_), est.transform(X)
    with pytest.raises(ValueError, match="X has 32 features"):
        est.partial_fit(X[:, :32])
    assert est.loss_curve_ == curve
    np.testing.assert_array_equal(est.transform(X), codes)


def test_early_stopping_is_refused():
    with pytest.raises(ValueError, match="early_stopping=True"):
        VAE(2, early_stopping=True).partial_fit(X)


def test_a_changed_module_parameter_is_refused():
    est = AutoencoderTransformer(2, random_state=0).partial_fit(X)
    est.set_params(n_components=3)
    with pytest.raises(ValueError, match="'n_components' changed"):
        est.partial_fit(X)


def test_a_loaded_model_goes_on_with_a_fresh_optimizer(tmp_path):
    import skae

    est = AutoencoderTransformer(2, random_state=0).partial_fit(X)
    est.save(tmp_path / "model.skae")
    loaded = skae.load(tmp_path / "model.skae").partial_fit(X)
    assert loaded.n_iter_ == 2
    assert _adam_steps(loaded) == math.ceil(len(X) / 128)


def test_clone_and_partial_fit_in_dask_ml_incremental():
    pytest.importorskip("dask")
    try:
        from dask_ml.wrappers import Incremental
    except Exception as exc:  # dask-ml missing, or not importable with this sklearn
        pytest.skip(f"dask_ml.wrappers.Incremental does not import here: {exc}")
    import dask.array as da

    data = da.from_array(X.astype(np.float32), chunks=(100, 64))
    model = Incremental(clone(AutoencoderTransformer(2, random_state=0)))
    model.fit(data)
    assert model.estimator_.n_iter_ == 4
    assert model.estimator_.transform(X).shape == (len(X), 2)
