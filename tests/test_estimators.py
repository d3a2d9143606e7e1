"""Behaviour of the four estimators, with real (short) training on digits."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
FAST = {"max_iter": 5, "random_state": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return MinMaxScaler().fit_transform(data.data), data.target


@pytest.fixture(scope="module")
def small(digits):
    return digits[0][:300]


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_shapes_and_ranges(cls, loss, small):
    est = cls(n_components=3, loss=loss, **FAST)
    assert est.fit(small) is est
    Z = est.transform(small)
    assert Z.shape == (300, 3) and Z.dtype == np.float64
    X_back = est.inverse_transform(Z)
    assert X_back.shape == small.shape
    samples = est.sample(7, random_state=1)
    assert samples.shape == (7, 64)
    if loss == "bce":
        for out in (X_back, samples):
            assert out.min() >= 0 and out.max() <= 1
    assert est.score_samples(small).shape == (300,)
    assert np.isfinite(est.score(small))
    np.testing.assert_array_equal(
        est.fit_transform(small), clone(est).fit(small).transform(small)
    )


def test_autoencoder_score_is_negative_reconstruction_error(small):
    est = AutoencoderTransformer(n_components=4, **FAST).fit(small)
    mse = np.mean((est.inverse_transform(est.transform(small)) - small) ** 2, axis=1)
    np.testing.assert_allclose(est.score_samples(small), -mse, rtol=1e-5, atol=1e-7)
    assert est.score(small) == pytest.approx(-mse.mean(), rel=1e-5)


def test_bce_score_is_negative_cross_entropy(small):
    est = AutoencoderTransformer(n_components=4, loss="bce", **FAST).fit(small)
    p = np.clip(est.inverse_transform(est.transform(small)), 1e-7, 1 - 1e-7)
    bce = -(small * np.log(p) + (1 - small) * np.log(1 - p)).mean(axis=1)
    np.testing.assert_allclose(est.score_samples(small), -bce, rtol=1e-3)


@pytest.mark.parametrize("cls", [VAE, BetaVAE])
def test_vae_transform_is_deterministic_posterior_mean(cls, small):
    est = cls(n_components=3, **FAST).fit(small)
    np.testing.assert_array_equal(est.transform(small), est.transform(small))
    mean, _ = est.module_.posterior(torch.as_tensor(small[:5], dtype=torch.float32))
    # transform runs fixed 512-row blocks; float32 GEMM on 5 rows may round
    # differently (4e-8 seen on AVX-512), so compare to float32 precision.
    np.testing.assert_allclose(
        est.transform(small[:5]), mean.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_vae_score_improves_with_training(small):
    short = VAE(n_components=4, loss="bce", max_iter=1, random_state=0).fit(small)
    longer = VAE(n_components=4, loss="bce", max_iter=30, random_state=0).fit(small)
    assert longer.score(small) > short.score(small) + 1.0


def test_beta_weighs_the_kl_term(small):
    """beta=1 is the VAE exactly; a large beta shrinks the posterior towards the prior."""
    vae = VAE(n_components=3, **FAST).fit(small)
    beta1 = BetaVAE(n_components=3, beta=1.0, **FAST).fit(small)
    np.testing.assert_array_equal(vae.transform(small), beta1.transform(small))
    strong = BetaVAE(n_components=3, beta=50.0, max_iter=30, random_state=0).fit(small)
    weak = BetaVAE(n_components=3, beta=0.1, max_iter=30, random_state=0).fit(small)
    assert np.abs(strong.transform(small)).mean() < np.abs(weak.transform(small)).mean()


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_vae_training_loss_is_the_mean_per_sample_objective(loss, small):
    """The batch-summed training loss and the per-sample formulas agree."""
    module = BetaVAE(n_components=3, beta=2.0, loss=loss, **FAST).fit(small).module_
    x = torch.as_tensor(small[:50], dtype=torch.float32)
    with torch.no_grad():
        value = module.loss(x, x, torch.Generator().manual_seed(0))
        mean, log_var = module.posterior(x)
        eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(0))
        out = module.decoder(mean + torch.exp(0.5 * log_var) * eps)
        noise = ((out - x) ** 2).mean().log()
        nll = module._nll(out, x, noise, per_sample=True)
        expected = nll + 2.0 * module._kl(mean, log_var, per_sample=True)
    assert value.item() == pytest.approx(expected.mean().item(), rel=1e-5)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sample_is_reproducible(cls, small):
    est = cls(n_components=3, **FAST).fit(small)
    np.testing.assert_array_equal(
        est.sample(5, random_state=3), est.sample(5, random_state=3)
    )
    assert not np.array_equal(
        est.sample(5, random_state=3), est.sample(5, random_state=4)
    )
    state = np.random.RandomState(0)
    assert est.sample(random_state=state).shape == (1, 64)


def test_autoencoder_samples_follow_the_code_distribution(small):
    est = AutoencoderTransformer(n_components=2, **FAST).fit(small)
    codes = est.transform(small)
    draws = est.module_.sample_latent(20000, torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_allclose(
        draws.mean(axis=0), codes.mean(axis=0), atol=0.05 * codes.std()
    )
    np.testing.assert_allclose(np.cov(draws.T), np.cov(codes.T), rtol=0.1, atol=1e-3)


def test_interpolate_runs_between_the_two_reconstructions(small):
    est = VAE(n_components=3, **FAST).fit(small)
    path = est.interpolate(small[0], small[1:2], n_steps=5)
    assert path.shape == (5, 64)
    ends = est.inverse_transform(est.transform(small[:2]))
    np.testing.assert_allclose(path[[0, -1]], ends, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one sample"):
        est.interpolate(small[:2], small[1])
    with pytest.raises(ValueError, match="n_steps"):
        est.interpolate(small[0], small[1], n_steps=1)


def test_feature_names_and_pandas_output(small):
    est = VAE(n_components=3, **FAST).fit(small)
    assert list(est.get_feature_names_out()) == ["vae0", "vae1", "vae2"]
    beta = BetaVAE(n_components=2, **FAST).fit(small)
    assert list(beta.get_feature_names_out()) == ["betavae0", "betavae1"]
    frame = pd.DataFrame(small, columns=[f"pixel{i}" for i in range(64)])
    est = VAE(n_components=3, **FAST).set_output(transform="pandas").fit(frame)
    out = est.transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == [
        "vae0",
        "vae1",
        "vae2",
    ]
    assert list(est.feature_names_in_) == list(frame.columns)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fitted_attributes(cls, small):
    est = cls(n_components=2, **FAST)
    assert not [k for k in vars(est) if k.endswith("_")]
    est.fit(small)
    assert isinstance(est.module_, torch.nn.Module) and not est.module_.training
    assert est.n_features_in_ == 64 and not hasattr(est, "feature_names_in_")
    assert est.n_iter_ == len(est.loss_curve_) == 5
    assert est.validation_loss_curve_ is None and est.device_ == "cpu"
    stopped = cls(
        n_components=2,
        early_stopping=True,
        max_iter=40,
        n_iter_no_change=2,
        tol=0.5,
        random_state=0,
    ).fit(small)
    assert len(stopped.validation_loss_curve_) == stopped.n_iter_ < 40


def test_dtypes_follow_the_input(small):
    est = AutoencoderTransformer(n_components=2, **FAST).fit(small.astype(np.float32))
    assert est.transform(small.astype(np.float32)).dtype == np.float32
    assert est.transform(small).dtype == np.float64
    assert est.transform((small * 16).astype(np.int64)).dtype == np.float64
    Z32 = est.transform(small).astype(np.float32)
    assert est.inverse_transform(Z32).dtype == np.float32
    assert est.score_samples(small.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_trains_like_dense(fmt, small):
    dense = AutoencoderTransformer(n_components=2, **FAST).fit(small)
    sparse = AutoencoderTransformer(n_components=2, **FAST).fit(
        sp.csr_matrix(small).asformat(fmt)
    )
    X_sparse = sp.csr_matrix(small).asformat(fmt)
    np.testing.assert_array_equal(sparse.transform(X_sparse), dense.transform(small))
    np.testing.assert_array_equal(
        sparse.score_samples(X_sparse), dense.score_samples(small)
    )


def test_batch_invariance(small):
    """A row's code does not depend on the rows transformed with it."""
    est = VAE(n_components=4, **FAST).fit(small)
    full = est.transform(small)
    one_by_one = np.vstack([est.transform(small[i : i + 1]) for i in range(0, 300, 37)])
    np.testing.assert_array_equal(full[::37], one_by_one)


def test_warm_start_continues_training(small):
    est = AutoencoderTransformer(n_components=2, warm_start=True, **FAST).fit(small)
    first = list(est.loss_curve_)
    est.fit(small)
    assert est.n_iter_ == 10 and est.loss_curve_[:5] == first
    assert est.loss_curve_[5] < first[0]
    est.set_params(n_components=3)
    with pytest.raises(ValueError, match="warm_start=True"):
        est.fit(small)
    assert est.n_iter_ == 10  # the failed fit changed nothing
    cold = AutoencoderTransformer(n_components=2, **FAST).fit(small)
    cold.fit(small)
    assert cold.n_iter_ == 5


def test_verbose_shows_a_progress_bar(small, capsys):
    AutoencoderTransformer(n_components=2, verbose=1, **FAST).fit(small)
    err = capsys.readouterr().err
    assert "AutoencoderTransformer" in err and "loss=" in err and "5/5" in err
    AutoencoderTransformer(n_components=2, verbose=0, **FAST).fit(small)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_early_stopping_shows_validation_loss(small, capsys):
    AutoencoderTransformer(n_components=2, verbose=1, early_stopping=True, **FAST).fit(
        small
    )
    assert "val_loss=" in capsys.readouterr().err


def test_clone_params_and_pickle(small):
    est = DenoisingAutoencoder(n_components=3, noise="masking", noise_level=0.3, **FAST)
    assert clone(est).get_params() == est.get_params()
    est.set_params(noise_level=0.1)
    assert est.noise_level == 0.1
    est.fit(small)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(small), est.transform(small))
    np.testing.assert_array_equal(
        again.sample(3, random_state=0), est.sample(3, random_state=0)
    )


def test_unpickling_without_the_device_falls_back_to_cpu(small):
    est = AutoencoderTransformer(n_components=2, **FAST).fit(small)
    expected = est.transform(small)
    est.device_ = "cuda:63"  # as if fitted on a GPU this machine does not have
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        again = pickle.loads(pickle.dumps(est))
    assert again.device_ == "cpu"
    np.testing.assert_array_equal(again.transform(small), expected)


def test_grid_search_in_a_pipeline(digits):
    X, y = digits[0][:400], digits[1][:400]
    pipe = Pipeline(
        [
            ("ae", AutoencoderTransformer(max_iter=20, random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    search = GridSearchCV(pipe, {"ae__n_components": [2, 8]}, cv=2).fit(X, y)
    assert search.best_params_ == {"ae__n_components": 8}
    assert pickle.loads(pickle.dumps(search)).score(X, y) == search.score(X, y)


@pytest.mark.slow
def test_vae_pipeline_classifies_digits(digits):
    """The mission's pipeline: MinMaxScaler, VAE(16), LogisticRegression."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("vae", VAE(n_components=16, random_state=0)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.9
    assert pipe.named_steps["vae"].sample(16, random_state=0).shape == (16, 64)


def test_autoencoder_beats_pca_at_two_components(digits):
    X_train, X_test = train_test_split(digits[0], test_size=0.25, random_state=0)
    pca = PCA(n_components=2).fit(X_train)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
    ae = AutoencoderTransformer(n_components=2, random_state=0).fit(X_train)
    ae_mse = np.mean((ae.inverse_transform(ae.transform(X_test)) - X_test) ** 2)
    assert ae_mse < 0.9 * pca_mse


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_vae_score_is_a_monte_carlo_elbo(loss, small):
    """elbo matches an ELBO estimated with many fresh draws."""
    est = VAE(n_components=4, loss=loss, max_iter=20, random_state=0).fit(small)
    module, x = est.module_, torch.as_tensor(small[:100], dtype=torch.float32)
    with torch.no_grad():
        mean, log_var = module.posterior(x)
        draws = torch.randn(
            (512, *mean.shape), generator=torch.Generator().manual_seed(1)
        )
        outs = module.decoder(mean + torch.exp(0.5 * log_var) * draws)
        nll = torch.stack(
            [module._nll(o, x, module.log_noise_var, per_sample=True) for o in outs]
        )
        elbo = -(nll.mean(0) + module._kl(mean, log_var, per_sample=True))
        plug_in = -module._nll(
            module.decoder(mean), x, module.log_noise_var, per_sample=True
        )
    scores = est.elbo(small[:100])
    assert np.mean(scores) == pytest.approx(elbo.mean().item(), abs=0.5)
    # ...and is not the plug-in value at the posterior mean, which is no bound.
    plug_in -= module._kl(mean, log_var, per_sample=True)
    assert abs(np.mean(scores) - plug_in.mean().item()) > 0.1


def test_cosine_schedule_runs_every_epoch(small):
    """No plateau stop half-way through the schedule (tol=0.5 would stop at once)."""
    est = AutoencoderTransformer(
        n_components=2, max_iter=30, tol=0.5, n_iter_no_change=2, random_state=0
    ).fit(small)
    assert est.n_iter_ == 30
    constant = AutoencoderTransformer(
        n_components=2,
        max_iter=30,
        tol=0.5,
        n_iter_no_change=2,
        lr_schedule="constant",
        random_state=0,
    ).fit(small)
    assert constant.n_iter_ < 30


@pytest.mark.parametrize(
    "change",
    [
        {"loss": "bce"},
        {"encoder_params": {"hidden_layer_sizes": (16,)}},
        {"encoder": "conv"},
    ],
)
def test_warm_start_refuses_a_different_module(change, small):
    est = AutoencoderTransformer(n_components=2, warm_start=True, **FAST).fit(small)
    est.set_params(**change)
    with pytest.raises(
        ValueError, match=f"'{next(iter(change))}' changed since it was fitted"
    ):
        est.fit(small)
    assert est.n_iter_ == 5


def test_inputs_are_never_modified(small):
    """Even by an architecture that works in place on its input."""

    def in_place(n_features, n_encoder_outputs, n_components):
        encoder = torch.nn.Sequential(
            torch.nn.ReLU(inplace=True), torch.nn.Linear(n_features, n_encoder_outputs)
        )
        return encoder, torch.nn.Linear(n_components, n_features)

    X = (small - 0.5).astype(np.float32)  # negative values, which ReLU would zero
    before = X.copy()
    est = AutoencoderTransformer(n_components=2, encoder=in_place, **FAST).fit(X)
    est.transform(np.tile(X, (2, 1)))
    est.score_samples(X)
    np.testing.assert_array_equal(X, before)


def test_interpolate_keeps_dataframe_feature_names(small):
    frame = pd.DataFrame(small, columns=[f"pixel{i}" for i in range(64)])
    est = VAE(n_components=3, **FAST).set_output(transform="pandas").fit(frame)
    path = est.interpolate(
        frame.iloc[[0]], frame.iloc[1], n_steps=4
    )  # no feature-name warning
    assert path.shape == (4, 64)
    with pytest.raises(ValueError, match="64 features each"):
        est.interpolate(small[0, :10], small[1])
