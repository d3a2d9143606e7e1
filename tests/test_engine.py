"""The training engine behind the facade: plans, resumable state, randomness, threads."""

import itertools
import sys
import threading

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from skae import VAE, AutoencoderTransformer, BetaVAE
from skae._engine.rows import Rows
from skae._engine.training import Plan, TrainingState, batch_bounds, train

X = load_digits().data[:150] / 16


def dropout_mlp(n_features, n_encoder_outputs, n_components):
    """An architecture whose modules draw from torch's global generator."""
    encoder = nn.Sequential(
        nn.Linear(n_features, 16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, n_encoder_outputs),
    )
    decoder = nn.Sequential(
        nn.Linear(n_components, 16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, n_features),
    )
    return encoder, decoder


def batchnorm_mlp(n_features, n_encoder_outputs, n_components):
    """An architecture with batch statistics: it cannot train on a batch of one row."""
    encoder = nn.Sequential(
        nn.Linear(n_features, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Linear(16, n_encoder_outputs),
    )
    decoder = nn.Sequential(
        nn.Linear(n_components, 16), nn.ReLU(), nn.Linear(16, n_features)
    )
    return encoder, decoder


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, VAE])
def test_dropout_fits_are_reproducible_and_leave_the_global_rng_alone(Estimator):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fits = [
        Estimator(2, encoder=dropout_mlp, max_iter=4, random_state=0).fit(X)
        for _ in range(2)
    ]
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    assert torch.equal(torch.get_rng_state(), before)
    other = Estimator(2, encoder=dropout_mlp, max_iter=4, random_state=1).fit(X)
    assert other.loss_curve_ != fits[0].loss_curve_


def test_a_last_batch_of_one_row_joins_the_one_before():
    assert batch_bounds(129, 128) == [(0, 129)]
    assert batch_bounds(257, 128) == [(0, 128), (128, 257)]
    assert batch_bounds(256, 128) == [(0, 128), (128, 256)]
    assert batch_bounds(1, 128) == [(0, 1)]
    ae = AutoencoderTransformer(2, encoder=batchnorm_mlp, batch_size=16, max_iter=2)
    ae.fit(X[:49])  # 49 = 3 * 16 + 1
    assert ae.transform(X[:3]).shape == (3, 2)


def conv_batchnorm(n_features, n_encoder_outputs, n_components):
    """BatchNorm2d over 6x6 feature maps: it trains on one row."""
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.Flatten(),
        nn.Linear(4 * 36, n_encoder_outputs),
    )
    return encoder, nn.Linear(n_components, n_features)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_batch_statistics_on_one_row_get_a_clear_error(method):
    ae = AutoencoderTransformer(2, encoder=batchnorm_mlp, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=r"batch statistics \(BatchNorm1d\).*2 rows"):
        getattr(ae, method)(X[:1])
    assert not hasattr(ae, "module_")  # nothing half-trained
    # A fitted model still takes chunks of one row where nothing trains...
    ae.partial_fit(X[:20])
    assert ae.transform(X[:1]).shape == (1, 2)
    # ...and refuses a one-row chunk to train on, leaving the model as it was.
    before = ae.loss_curve_.copy()
    with pytest.raises(ValueError, match="chunks of at least 2 rows"):
        ae.partial_fit(X[:1])
    assert ae.loss_curve_ == before
    # Without batch statistics one row trains.
    assert AutoencoderTransformer(2, max_iter=2).fit(X[:1]).n_iter_ == 2


def test_batch_statistics_errors_say_what_makes_the_step_small():
    ae = AutoencoderTransformer(2, encoder=batchnorm_mlp, max_iter=1, batch_size=1)
    with pytest.raises(ValueError, match=r"a step gets 1 \(10 training rows, batch_s"):
        ae.fit(X[:10])
    held_out = AutoencoderTransformer(
        2, encoder=batchnorm_mlp, max_iter=1, early_stopping=True,
        validation_fraction=0.5,
    )  # fmt: skip
    with pytest.raises(ValueError, match="after holding out validation_fraction=0.5"):
        held_out.fit(X[:3])
    # BatchNorm2d normalises over the feature maps too: one row trains.
    conv = AutoencoderTransformer(2, encoder=conv_batchnorm, max_iter=2).fit(X[:1])
    assert conv.n_iter_ == 2


def test_training_state_resumes_where_it_stopped():
    module = AutoencoderTransformer(2, random_state=0)._build_module(64, seed=0)
    state = TrainingState.start(module, torch.device("cpu"), seed=0, learning_rate=3e-3)
    rows = Rows(np.asarray(X, dtype=np.float32), torch.device("cpu"))
    plan = Plan(learning_rate=3e-3, batch_size=32, max_epochs=2, schedule="constant")
    first = train(state, rows, plan)
    steps = float(state.optimizer.state[next(iter(module.parameters()))]["step"])
    second = train(state, rows, plan)
    assert state.epochs_done == 4
    assert second.loss[-1] < first.loss[0]
    # Adam's moments carried over: its step count went on from where it was.
    after = state.optimizer.state[next(iter(module.parameters()))]["step"]
    assert after == 2 * steps


def test_cosine_plan_spans_its_epochs():
    plan = Plan(learning_rate=1.0, batch_size=8, max_epochs=4)
    rates = [plan.learning_rate_at(epoch) for epoch in range(1, 5)]
    assert rates[0] == 1.0 and all(a > b for a, b in itertools.pairwise(rates))
    constant = Plan(learning_rate=0.5, batch_size=8, max_epochs=4, schedule="constant")
    assert constant.learning_rate_at(3) == 0.5


def test_verbose_fit_without_stderr_neither_fails_nor_blocks_later_fits(monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    AutoencoderTransformer(2, max_iter=2, verbose=1, random_state=0).fit(X)
    done = []
    worker = threading.Thread(
        target=lambda: done.append(AutoencoderTransformer(2, max_iter=2).fit(X))
    )
    worker.start()
    worker.join(timeout=60)
    assert done, "a fit in another thread blocked after a verbose fit without stderr"


def test_inference_uses_the_fitted_configuration():
    vae = VAE(2, loss="bce", max_iter=2, random_state=0).fit(X)
    expected = vae.transform(X)
    vae.set_params(loss="mse", precision="bfloat16")
    with pytest.raises(ValueError, match=r"loss='bce' needs X in \[0, 1\]"):
        vae.score_samples(X * 5)
    np.testing.assert_array_equal(vae.transform(X), expected)


def test_readers_never_see_a_half_refitted_estimator():
    ae = AutoencoderTransformer(2, max_iter=1, random_state=0).fit(X)
    narrow = X[:, :32]
    errors, stop = [], threading.Event()

    def refit():
        for _ in range(6):
            ae.fit(narrow if ae.n_features_in_ == 64 else X)
        stop.set()

    worker = threading.Thread(target=refit)
    worker.start()
    while not stop.is_set():
        for data in (X, narrow):
            try:
                assert ae.transform(data).shape == (len(data), 2)
            except ValueError as exc:  # the other width: a clear scikit-learn error
                if "features" not in str(exc):
                    errors.append(exc)
            except Exception as exc:  # a torch shape error would land here
                errors.append(exc)
    worker.join()
    assert not errors, errors[:3]


@pytest.mark.parametrize(
    "n_samples, error",
    [(2**62, ValueError), (2**70, ValueError), (10**12, MemoryError)],
)
def test_impossible_sample_sizes_name_n_samples(n_samples, error):
    ae = AutoencoderTransformer(2, max_iter=1, random_state=0).fit(X)
    with pytest.raises(error, match="n_samples"):
        ae.sample(n_samples)


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, VAE])
def test_mixture_samples_come_in_blocks_with_the_same_draws(Estimator):
    # The default sampler draws each block's codes from a stream of its own.
    est = Estimator(2, max_iter=2, random_state=0).fit(X)
    many = est.sample(5000, random_state=3)
    assert many.shape == (5000, 64) and np.isfinite(many).all()
    np.testing.assert_array_equal(est.sample(4096, random_state=3), many[:4096])
    np.testing.assert_array_equal(est.sample(5000, random_state=3), many)
    assert not np.array_equal(many[:904], many[4096:])  # the blocks differ


def test_sample_decodes_in_blocks_with_the_same_draws():
    # The prior sampler draws block by block from one generator.
    bvae = BetaVAE(2, sampler="prior", max_iter=2, random_state=0).fit(X)
    many = bvae.sample(5000, random_state=3)
    assert many.shape == (5000, 64) and np.isfinite(many).all()
    # The first block's draws do not depend on how many blocks follow.
    np.testing.assert_array_equal(bvae.sample(4096, random_state=3), many[:4096])
    np.testing.assert_array_equal(bvae.sample(5000, random_state=3), many)
