"""The built-in "conv" architecture with every estimator, and interpolation."""

import numpy as np
import pytest
import torch
from torch import nn

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder
from skae.datasets import load_dataset

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
FAST = {"encoder": "conv", "random_state": 0, "device": "cpu", "batch_size": 32}


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", n_samples=300, random_state=0)
    return data.data.astype(np.float64)


def _images_28(n=48, seed=0):
    """Random blobs on 28x28, values in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(6, 22, size=(n, 2))
    images = np.exp(
        -((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 20.0
    )
    return images.reshape(n, -1)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_conv_trains_every_estimator_on_8x8_digits(cls, digits):
    est = cls(n_components=6, loss="bce", max_iter=4, **FAST).fit(digits)
    assert any(isinstance(m, nn.Conv2d) for m in est.module_.encoder.modules())
    assert any(isinstance(m, nn.ConvTranspose2d) for m in est.module_.decoder.modules())
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    Z = est.transform(digits)
    assert Z.shape == (300, 6)
    X_back = est.inverse_transform(Z)
    assert X_back.shape == digits.shape
    assert 0 <= X_back.min() and X_back.max() <= 1
    assert est.sample(5, random_state=0).shape == (5, 64)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_conv_trains_every_estimator_on_28x28_images(cls):
    X = _images_28()
    est = cls(n_components=4, max_iter=3, **FAST).fit(X)
    assert est.encoder_params is None  # (1, 28, 28) inferred from 784 features
    assert est.inverse_transform(est.transform(X)).shape == (48, 784)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_conv_autoencoder_beats_the_mean_image():
    X = _images_28(n=200)
    train, test = X[:150], X[150:]
    est = AutoencoderTransformer(
        n_components=4, learning_rate=3e-3, max_iter=40, **FAST
    ).fit(train)
    error = np.mean((est.inverse_transform(est.transform(test)) - test) ** 2)
    baseline = np.mean((train.mean(axis=0) - test) ** 2)
    assert error < 0.5 * baseline


@pytest.mark.parametrize(
    ("n_features", "input_shape"),
    [(49, None), (75, (3, 5, 5)), (108, (2, 9, 6)), (5, (1, 1, 5))],
)
def test_odd_image_sizes_round_trip(n_features, input_shape):
    X = np.random.default_rng(0).uniform(size=(40, n_features))
    params = None if input_shape is None else {"input_shape": input_shape}
    est = AutoencoderTransformer(
        n_components=3, encoder_params=params, max_iter=2, **FAST
    ).fit(X)
    assert est.inverse_transform(est.transform(X)).shape == X.shape
    with torch.no_grad():
        images = est.module_.encoder[0](torch.zeros(2, n_features))
    assert tuple(images.shape[1:]) == (input_shape or (1, 7, 7))


def test_wrong_input_shape_is_a_clear_value_error(digits):
    est = AutoencoderTransformer(
        encoder_params={"input_shape": (1, 7, 7)}, max_iter=1, **FAST
    )
    with pytest.raises(ValueError, match=r"input_shape.*\(1, 7, 7\).*49 values.*64"):
        est.fit(digits)
    assert not hasattr(est, "module_")


@pytest.mark.parametrize("bad", [(8, 8), (1, 0, 64), "1x8x8"])
def test_malformed_input_shape_is_rejected(bad, digits):
    est = AutoencoderTransformer(encoder_params={"input_shape": bad}, **FAST)
    with pytest.raises(ValueError, match="three positive ints"):
        est.fit(digits)


def test_non_square_rows_need_an_input_shape():
    X = np.random.default_rng(0).uniform(size=(20, 60))
    with pytest.raises(ValueError, match="not a square image.*input_shape"):
        AutoencoderTransformer(max_iter=1, **FAST).fit(X)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAE])
def test_interpolate_decodes_the_straight_line_between_codes(cls, digits):
    est = cls(n_components=4, max_iter=3, **FAST).fit(digits)
    a, b = digits[0], digits[1]
    path = est.interpolate(a, b, n_steps=5)
    assert path.shape == (5, 64)
    codes = est.transform(np.stack([a, b]))
    np.testing.assert_allclose(path[[0, -1]], est.inverse_transform(codes), atol=1e-6)
    middle = est.inverse_transform(codes.mean(axis=0, keepdims=True))
    np.testing.assert_allclose(path[2], middle[0], atol=1e-6)
    assert not np.allclose(path[0], path[-1])
