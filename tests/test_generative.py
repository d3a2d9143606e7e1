"""The generative side: importance-weighted log-likelihoods, likelihoods, schedules
and samplers, with tiny fits on digits."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder
from skae._engine.likelihoods import (
    MIN_NOISE_VAR,
    VARIANCE_SHRINKAGE,
    DiagonalGaussian,
    LogitGaussian,
)
from skae._samplers import (
    MIXTURE_COMPONENTS,
    fit_latent_mixture,
    is_latent_mixture,
    sample_latent_mixture,
)
from skae.exceptions import InvalidParameterError

FAST = {"max_iter": 5, "random_state": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def X():
    """Digits dequantised with U(0, 1/16) noise, as docs/generative.md says."""
    data = load_digits().data[:300]
    return data / 16 + np.random.default_rng(0).uniform(0, 1 / 16, data.shape)


@pytest.fixture(scope="module")
def unit(X):
    """The same rows mapped into [0, 1] for the [0, 1] likelihood."""
    return X * 16 / 17


@pytest.fixture(scope="module")
def vae(X):
    return VAE(n_components=4, max_iter=20, random_state=0, device="cpu").fit(X)


# --- the importance-weighted log-likelihood --------------------------------------


def test_score_is_an_importance_weighted_bound_above_the_elbo(vae, X):
    scores, elbo = vae.score_samples(X[:100]), vae.elbo(X[:100])
    assert scores.shape == elbo.shape == (100,)
    assert scores.mean() > elbo.mean() + 0.1
    assert vae.score(X[:100]) == pytest.approx(scores.mean())


def test_score_tightens_with_more_importance_samples(vae, X):
    one = VAE(n_components=4, n_importance_samples=1, max_iter=20, random_state=0)
    one = one.fit(X)
    many = VAE(n_components=4, n_importance_samples=300, max_iter=20, random_state=0)
    many = many.fit(X)
    np.testing.assert_array_equal(one.transform(X), many.transform(X))
    assert one.score(X) < vae.score(X) <= many.score(X) + 0.2


def test_score_matches_an_independent_importance_estimate(vae, X):
    """The estimator's value agrees with the formula computed by hand."""
    module, x = vae.module_, torch.as_tensor(X[:50], dtype=torch.float32)
    with torch.no_grad():
        mean, log_var = module.posterior(x)
        q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
        z = q.sample((2000,))  # fresh draws, not the estimator's
        nll = torch.stack(
            [
                module._nll(module.decoder(d), x, module.log_noise_var, per_sample=True)
                for d in z
            ]
        )
        log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_w = log_prior - q.log_prob(z).sum(-1) - nll
        exact = (torch.logsumexp(log_w, 0) - math.log(2000)).mean().item()
    assert vae.score(X[:50]) == pytest.approx(exact, abs=1.0)


def test_score_is_deterministic_and_batch_invariant(vae, X):
    scores = vae.score_samples(X)
    np.testing.assert_array_equal(scores, vae.score_samples(X))
    np.testing.assert_array_equal(scores[7:8], vae.score_samples(X[7:8]))
    np.testing.assert_array_equal(scores[:20], vae.score_samples(X[:20]))


def test_the_importance_draws_follow_random_state(X):
    a = VAE(n_components=2, n_importance_samples=5, **FAST).fit(X)
    b = pickle.loads(pickle.dumps(a))
    b._fit_params["random_state"] = 1  # the same weights, other draws
    assert not np.array_equal(a.score_samples(X), b.score_samples(X))


def test_beta_vae_scores_log_px_whatever_beta(X):
    low = BetaVAE(n_components=2, beta=1.0, **FAST).fit(X)
    vae = VAE(n_components=2, **FAST).fit(X)
    np.testing.assert_array_equal(low.score_samples(X), vae.score_samples(X))


# --- likelihoods ----------------------------------------------------------------


def test_gaussian_has_one_calibrated_variance_per_feature(vae, X):
    log_var = vae.module_.log_noise_var
    assert log_var.shape == (64,)
    # calibrated to each feature's squared error: the constant corner pixels
    # (only dequantisation noise, variance 1/3072) get far smaller variances.
    corner, centre = log_var[0].exp().item(), log_var[27].exp().item()
    assert corner < 2e-3 < centre
    mse = VAE(n_components=4, loss="mse", **FAST).fit(X)
    assert mse.module_.log_noise_var.shape == ()


def test_training_lets_no_feature_drown_the_others():
    """In training, a feature the decoder fits almost exactly weighs at most
    1 / VARIANCE_SHRINKAGE times what the pooled variance gives it."""
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(256, 8, generator=generator, dtype=torch.float64)
    residual = 0.1 * torch.randn(256, 8, generator=generator, dtype=torch.float64)
    residual[:, 0] = 1e-4  # its own variance, 1e-8, would weigh 10**6 times more
    out = (target + residual).requires_grad_()
    nll = DiagonalGaussian().nll(out, target, per_sample=False)
    (gradient,) = torch.autograd.grad(nll, out)
    variance = (residual / gradient).mean(dim=0)  # d nll / d out = residual / variance
    own = residual.square().mean(dim=0)
    shrunk = torch.lerp(own, own.mean(), VARIANCE_SHRINKAGE)
    torch.testing.assert_close(variance, shrunk)
    assert variance[0] >= VARIANCE_SHRINKAGE * own.mean() > 1000 * own[0]
    # after training, each feature gets its own mean squared error (floored)
    calibrated = DiagonalGaussian().calibrate([(out.detach(), target)]).exp()
    torch.testing.assert_close(calibrated, own.clamp_min(MIN_NOISE_VAR))


def test_gaussian_beats_one_shared_variance_on_held_out_rows(X):
    train, test = X[:240], X[240:]
    shared = VAE(n_components=4, loss="mse", max_iter=20, random_state=0).fit(train)
    diagonal = VAE(n_components=4, max_iter=20, random_state=0).fit(train)
    assert diagonal.score(test) > shared.score(test) + 5


def test_per_feature_variances_survive_save_and_load(vae, X, tmp_path):
    from skae import load

    vae.save(tmp_path / "vae.skae")
    loaded = load(tmp_path / "vae.skae")
    np.testing.assert_array_equal(loaded.score_samples(X), vae.score_samples(X))


def test_logit_gaussian_is_a_density_on_the_unit_interval():
    """exp(-nll) integrates to 1 over [0, 1], feature by feature."""
    likelihood = LogitGaussian()
    grid = torch.linspace(0, 1, 400_001, dtype=torch.float64)[:, None]
    for out, log_var in ((0.3, -1.0), (-4.0, -3.0), (2.0, 0.5)):
        nll = likelihood.nll(
            torch.full_like(grid, out),
            grid,
            per_sample=True,
            log_noise_var=torch.tensor([log_var], dtype=torch.float64),
        )
        mass = torch.trapezoid(torch.exp(-nll), grid[:, 0]).item()
        assert mass == pytest.approx(1.0, abs=2e-3)


def test_logit_gaussian_keeps_samples_and_reconstructions_in_range(unit):
    est = VAE(n_components=3, loss="logit_gaussian", **FAST).fit(unit)
    samples = est.sample(500, random_state=0)
    assert samples.min() > 0 and samples.max() < 1
    recon = est.inverse_transform(est.transform(unit))
    assert recon.min() > 0 and recon.max() < 1
    assert np.isfinite(est.score_samples(unit)).all()
    ae = AutoencoderTransformer(n_components=3, loss="logit_gaussian", **FAST)
    assert 0 < ae.fit(unit).sample(50, random_state=0).min()


# --- schedules ------------------------------------------------------------------


def test_kl_warmup_scales_the_kl_term_per_epoch(X):
    warm = VAE(n_components=2, kl_warmup=50, **FAST).fit(X)
    assert warm.module_.kl_scale.item() == pytest.approx(5 / 50)
    cold = VAE(n_components=2, **FAST).fit(X)
    assert cold.module_.kl_scale.item() == 1.0
    assert not np.array_equal(warm.transform(X), cold.transform(X))


def _mean_kl(est, X):
    mean, log_var = est.module_.posterior(torch.as_tensor(X, dtype=torch.float32))
    return est.module_._kl(mean, log_var, per_sample=True).mean().item()


def test_capacity_holds_the_kl_near_its_target(X):
    params = {"n_components": 4, "beta": 50.0, "max_iter": 25, "random_state": 0}
    plain = BetaVAE(**params).fit(X)
    annealed = BetaVAE(capacity=6.0, capacity_epochs=10, **params).fit(X)
    assert annealed.module_.target_kl.item() == 6.0
    assert _mean_kl(plain, X) < 1.0
    assert abs(_mean_kl(annealed, X) - 6.0) < 2.0


# --- samplers -------------------------------------------------------------------


@pytest.mark.parametrize("cls", [AutoencoderTransformer, DenoisingAutoencoder])
def test_autoencoders_sample_from_a_mixture_of_their_codes(cls, X):
    est = cls(n_components=3, **FAST).fit(X)
    mixture = est.latent_mixture_
    assert is_latent_mixture(mixture, 3)
    assert mixture["means"].shape == (MIXTURE_COMPONENTS, 3)
    assert not hasattr(est.module_, "calibration_codes")
    samples = est.sample(400, random_state=0)
    np.testing.assert_array_equal(samples, est.sample(400, random_state=0))
    assert not np.array_equal(samples, est.sample(400, random_state=1))
    prior = cls(n_components=3, sampler="prior", **FAST).fit(X)
    assert prior.latent_mixture_ is None
    np.testing.assert_array_equal(prior.transform(X), est.transform(X))
    assert not np.allclose(
        prior.sample(5, random_state=0), est.sample(5, random_state=0)
    )


def test_the_mixture_fits_the_codes(X):
    est = AutoencoderTransformer(n_components=2, max_iter=20, random_state=0).fit(X)
    codes = est.transform(X)
    drawn = sample_latent_mixture(est.latent_mixture_, 20_000, seed=0)
    np.testing.assert_allclose(drawn.mean(0), codes.mean(0), atol=0.1 * codes.std())
    np.testing.assert_allclose(drawn.std(0), codes.std(0), rtol=0.1)


def test_mixture_draws_follow_the_weights_systematically():
    # Systematic sampling: each component gets floor or ceil of n * weight.
    weights = np.array([0.5, 0.3, 0.15, 0.05])
    mixture = {
        "weights": weights,
        "means": np.arange(4.0)[:, None] * 100,
        "covariances": np.full((4, 1, 1), 1e-6),
    }
    for n, seed in ((1, 0), (7, 1), (1000, 2), (999, 3)):
        drawn = sample_latent_mixture(mixture, n, seed=seed)
        counts = np.bincount(np.rint(drawn[:, 0] / 100).astype(int), minlength=4)
        assert counts.sum() == n
        assert (np.abs(counts - n * weights) < 1).all()
    # Alone, a draw still follows the mixture.
    firsts = [sample_latent_mixture(mixture, 1, seed=s)[0, 0] for s in range(2000)]
    shares = np.bincount(np.rint(np.array(firsts) / 100).astype(int), minlength=4)
    np.testing.assert_allclose(shares / 2000, weights, atol=0.04)


@pytest.mark.parametrize("loss", ["gaussian", "mse", "logit_gaussian", "bce"])
def test_vae_samples_draw_from_the_likelihood(unit, loss):
    est = VAE(n_components=3, loss=loss, **FAST).fit(unit)
    drawn = est.sample(300, random_state=0)
    means = est.sample(300, random_state=0, noise=False)
    np.testing.assert_array_equal(drawn, est.sample(300, random_state=0))
    codes = sample_latent_mixture(est.latent_mixture_, 300, seed=[0, 2, 0])  # block 0
    np.testing.assert_allclose(means, est.inverse_transform(codes), atol=1e-6)
    if loss == "bce":  # probabilities either way
        np.testing.assert_array_equal(drawn, means)
        return
    if loss == "logit_gaussian":
        assert drawn.min() > 0 and drawn.max() < 1
        residual = np.log(drawn / (1 - drawn)) - np.log(means / (1 - means))
    else:
        residual = drawn - means
    variance = np.exp(est.module_.log_noise_var.numpy()) * np.ones(64)
    np.testing.assert_allclose(residual.var(0), variance, rtol=0.3)
    with pytest.raises(InvalidParameterError, match="noise"):
        est.sample(2, noise="yes")


def test_vae_samples_from_the_mixture_by_default(X):
    est = VAE(n_components=3, **FAST).fit(X)
    assert is_latent_mixture(est.latent_mixture_, 3)
    assert est.sample(7, random_state=0).shape == (7, 64)
    prior = VAE(n_components=3, sampler="prior", **FAST).fit(X)
    assert prior.latent_mixture_ is None


def test_partial_fit_refits_the_mixture_on_each_chunk(X):
    est = AutoencoderTransformer(n_components=2, random_state=0)
    first = est.partial_fit(X[:150]).latent_mixture_
    second = est.partial_fit(X[150:]).latent_mixture_
    assert is_latent_mixture(second, 2)
    assert not np.array_equal(first["means"], second["means"])
    assert est.sample(3, random_state=0).shape == (3, 64)


def test_mixture_pickles(X):
    est = AutoencoderTransformer(n_components=2, **FAST).fit(X)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(
        back.sample(5, random_state=0), est.sample(5, random_state=0)
    )


def test_the_mixture_survives_save_and_load(X, tmp_path):
    from skae import load

    est = AutoencoderTransformer(n_components=2, **FAST).fit(X)
    est.save(tmp_path / "ae.skae")
    loaded = load(tmp_path / "ae.skae")
    for key in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(
            loaded.latent_mixture_[key], est.latent_mixture_[key]
        )
    np.testing.assert_array_equal(
        loaded.sample(5, random_state=0), est.sample(5, random_state=0)
    )


def test_mixture_on_few_codes():
    codes = np.zeros((3, 2))
    mixture = fit_latent_mixture(codes, seed=0)
    assert mixture["weights"].shape == (3,)
    assert np.isfinite(sample_latent_mixture(mixture, 4, seed=0)).all()


@pytest.fixture(scope="module")
def mixture():
    return fit_latent_mixture(np.random.default_rng(0).normal(size=(50, 2)), seed=0)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: {**m, "weights": m["weights"] * 2},
        lambda m: {**m, "means": m["means"][:, :1]},
        lambda m: {**m, "covariances": -m["covariances"]},
        lambda m: {k: v for k, v in m.items() if k != "weights"},
        lambda m: {**m, "means": np.full_like(m["means"], np.nan)},
        lambda m: {**m, "weights": m["weights"].astype(object)},
        lambda m: [m],
    ],
)
def test_malformed_mixtures_are_refused(change, mixture):
    assert is_latent_mixture(mixture, 2)
    assert not is_latent_mixture(mixture, 3)
    assert not is_latent_mixture(change(mixture))


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "params", "name"),
    [
        (VAE, {"n_importance_samples": 0}, "n_importance_samples"),
        (VAE, {"n_importance_samples": 2.5}, "n_importance_samples"),
        (VAE, {"kl_warmup": -1}, "kl_warmup"),
        (VAE, {"kl_warmup": "10"}, "kl_warmup"),
        (VAE, {"sampler": "gmm"}, "sampler"),
        (VAE, {"loss": "poisson"}, "loss"),
        (BetaVAE, {"capacity": -1.0}, "capacity"),
        (BetaVAE, {"capacity": "25"}, "capacity"),
        (BetaVAE, {"capacity_epochs": 0}, "capacity_epochs"),
        (AutoencoderTransformer, {"sampler": None}, "sampler"),
        (DenoisingAutoencoder, {"sampler": "prior "}, "sampler"),
    ],
)
def test_bad_parameters_are_refused(cls, params, name, X):
    est = cls(**params, **FAST)
    with pytest.raises(
        InvalidParameterError,
        match=f"The '{name}' parameter of {cls.__name__} must be .* Got .* instead",
    ):
        est.fit(X)
    assert not hasattr(est, "module_")


def test_logit_gaussian_refuses_data_outside_the_unit_interval(X):
    with pytest.raises(ValueError, match=r"loss='logit_gaussian' needs X in \[0, 1\]"):
        VAE(loss="logit_gaussian", **FAST).fit(X * 2)
