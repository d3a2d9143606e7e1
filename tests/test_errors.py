"""Bad input gets a clear scikit-learn style error, and fit leaves nothing half-done."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from skae import (
    VAE,
    AutoencoderTransformer,
    BetaVAE,
    DenoisingAutoencoder,
    InvalidParameterError,
)

X = load_digits().data[:60] / 16.0
FAST = {"max_iter": 2, "random_state": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def fitted():
    return AutoencoderTransformer(n_components=3, **FAST).fit(X)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.where(np.eye(60, 64) > 0, np.nan, X), "Input X contains NaN"),
        (np.where(np.eye(60, 64) > 0, np.inf, X), "Input X contains infinity"),
        (X[:, 0], "Expected 2D array, got 1D array"),
        (X.reshape(60, 8, 8), "Found array with dim 3"),
        (X[:0], "0 sample"),
        (np.array([["a", "b"], ["c", "d"]]), "X must be numeric.*OneHotEncoder"),
        (X * 1e39, "too large for float32"),
    ],
)
def test_bad_X_in_fit(bad, match):
    est = AutoencoderTransformer(**FAST)
    with pytest.raises(ValueError, match=match):
        est.fit(bad)
    assert not [k for k in vars(est) if k.endswith("_")], (
        "a failed fit left state behind"
    )


@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_bad_X_after_fit(fitted, method):
    with pytest.raises(
        ValueError,
        match="X has 10 features, but AutoencoderTransformer is expecting 64",
    ):
        getattr(fitted, method)(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        getattr(fitted, method)(np.full((2, 64), np.nan))


def test_inverse_transform_checks_the_code_width(fitted):
    with pytest.raises(ValueError, match="Z has 5 columns.*n_components=3"):
        fitted.inverse_transform(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="Input Z contains NaN"):
        fitted.inverse_transform(np.full((2, 3), np.nan))


def test_bce_needs_data_in_unit_interval():
    est = VAE(loss="bce", **FAST)
    with pytest.raises(
        ValueError, match=r"loss='bce' needs X in \[0, 1\].*MinMaxScaler"
    ):
        est.fit(X * 16)
    est.fit(X)
    with pytest.raises(ValueError, match="MinMaxScaler"):
        est.score(X - 0.5)


@pytest.mark.parametrize(
    "cls, params, match",
    [
        (
            AutoencoderTransformer,
            {"learning_rate": 0},
            r"'learning_rate' parameter .* range \(0, inf\)",
        ),
        (AutoencoderTransformer, {"learning_rate": -1.0}, "learning_rate"),
        (
            AutoencoderTransformer,
            {"batch_size": 0},
            r"'batch_size' parameter .* range \[1, inf\)",
        ),
        (AutoencoderTransformer, {"batch_size": "big"}, "batch_size"),
        (AutoencoderTransformer, {"n_components": 0}, "n_components"),
        (AutoencoderTransformer, {"max_iter": 0}, "max_iter"),
        (AutoencoderTransformer, {"validation_fraction": 1.0}, "validation_fraction"),
        (AutoencoderTransformer, {"tol": -1}, "tol"),
        (
            AutoencoderTransformer,
            {"loss": "l1"},
            r"'loss' parameter .* among \['bce', 'mse'\]",
        ),
        (
            AutoencoderTransformer,
            {"encoder": "mpl"},
            "Did you mean 'mlp'.*Registered architectures: .*'conv', .*'mlp'",
        ),
        (
            AutoencoderTransformer,
            {"encoder": 3},
            "'encoder' parameter .* a str or a callable",
        ),
        (
            AutoencoderTransformer,
            {"encoder": torch.nn.Linear(64, 2)},
            "not a torch.nn.Module instance",
        ),
        (
            DenoisingAutoencoder,
            {"noise": torch.nn.Dropout()},
            "'noise' parameter .*not a torch.nn.Module instance",
        ),
        (
            AutoencoderTransformer,
            {"encoder_params": {"hidden": 3}},
            r"does not take; it takes \['activation', 'hidden_layer_sizes'\]",
        ),
        (
            AutoencoderTransformer,
            {"encoder_params": {"hidden_layer_sizes": (0,)}},
            "positive ints",
        ),
        (AutoencoderTransformer, {"device": "gpu"}, "'device' parameter .* 'cuda:N'"),
        (AutoencoderTransformer, {"random_state": -1}, "random_state"),
        (
            BetaVAE,
            {"beta": -0.5},
            r"'beta' parameter of BetaVAE must be a float in the range \[0, inf\)",
        ),
        (
            DenoisingAutoencoder,
            {"noise": "pink"},
            "Registered noise schemes: .*'gaussian', .*'masking', .*'salt_and_pepper'",
        ),
        (DenoisingAutoencoder, {"noise": "gausian"}, "Did you mean 'gaussian'"),
        (
            DenoisingAutoencoder,
            {"noise": "masking", "noise_level": 1.5},
            r"must be in \[0.0, 1.0\] for noise='masking'",
        ),
        (DenoisingAutoencoder, {"noise_level": -0.1}, "noise_level"),
    ],
)
def test_bad_parameters(cls, params, match):
    est = cls(**{**FAST, **params})
    with pytest.raises(InvalidParameterError, match=match) as info:
        est.fit(X)
    assert isinstance(info.value, ValueError)  # and a TypeError, like scikit-learn's


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_unavailable_device(device):
    with pytest.raises(
        ValueError,
        match=f"device='{device}' was requested, but CUDA is not available.*device='cpu'",
    ):
        AutoencoderTransformer(
            device=device, **{k: v for k, v in FAST.items() if k != "device"}
        ).fit(X)


@pytest.mark.parametrize(
    "cls", [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
)
@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.transform(X),
        lambda e: e.inverse_transform(np.zeros((1, 2))),
        lambda e: e.sample(2),
        lambda e: e.score(X),
        lambda e: e.score_samples(X),
        lambda e: e.get_feature_names_out(),
        lambda e: e.interpolate(X[0], X[1]),
    ],
)
def test_methods_before_fit(cls, call):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        call(cls())


def test_sample_arguments(fitted):
    with pytest.raises(InvalidParameterError, match="'n_samples' parameter"):
        fitted.sample(0)
    with pytest.raises(InvalidParameterError, match="'random_state' parameter"):
        fitted.sample(2, random_state="seed")


def test_validation_set_too_small():
    with pytest.raises(ValueError, match="validation set is too small"):
        AutoencoderTransformer(early_stopping=True, **FAST).fit(X[:1])


def test_wrong_architecture_shapes_name_the_architecture():
    def too_narrow(n_features, n_encoder_outputs, n_components):
        return torch.nn.Linear(n_features, n_encoder_outputs + 1), torch.nn.Linear(
            n_components, n_features
        )

    with pytest.raises(
        ValueError, match=r"too_narrow.*encoder.*shape \(2, 4\); expected \(2, 3\)"
    ):
        AutoencoderTransformer(n_components=3, encoder=too_narrow, **FAST).fit(X)


def test_architecture_without_parameters():
    def identity(n_features, n_encoder_outputs, n_components):
        return torch.nn.Identity(), torch.nn.Identity()

    with pytest.raises(ValueError, match="no trainable parameters"):
        AutoencoderTransformer(n_components=64, encoder=identity, **FAST).fit(X)
