"""Image grids (skae.images) and matplotlib plots (skae.plotting), written as real PNGs."""

import sys

import numpy as np
import pytest
from PIL import Image

from skae import AutoencoderTransformer, DenoisingAutoencoder, images, plotting
from skae.datasets import load_dataset

SHAPE = (1, 8, 8)
CELL = 8 * 4 + 2  # 8x8 images are enlarged 4x; 2 pixels of padding each


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", binarize=True, n_samples=200, random_state=0)
    return data.data, data.target


@pytest.fixture(scope="module")
def fitted(digits):
    X = digits[0]
    common = {
        "n_components": 4,
        "loss": "bce",
        "max_iter": 5,
        "random_state": 0,
        "device": "cpu",
    }
    return {
        "mlp": AutoencoderTransformer(
            encoder_params={"hidden_layer_sizes": (12,)}, **common
        ).fit(X),
        "conv": AutoencoderTransformer(encoder="conv", **common).fit(X),
        "dae": DenoisingAutoencoder(noise_level=0.4, **common).fit(X),
    }


def _png(path, size):
    """Open ``path`` as an image, check its size and that it is not blank."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == size
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < pixels.max()
    return pixels


def test_image_grid_places_each_image_in_its_cell():
    rows = np.zeros((4, 64))
    rows[1] = 1.0  # second image white
    grid = images.image_grid(rows, SHAPE, nrow=2)
    assert grid.shape == (3, 2 * CELL + 2, 2 * CELL + 2)
    first = grid[0, 2:34, 2:34]
    second = grid[0, 2:34, 2 + CELL : 34 + CELL]
    assert float(first.max()) == 0.0 and float(second.min()) == 1.0
    assert float(grid[0, 0, 0]) == pytest.approx(images.PAD_VALUE)


def test_to_images_enlarges_small_images_only():
    rows = np.arange(2 * 64, dtype=float).reshape(2, 64)
    small = images.to_images(rows, SHAPE)
    assert small.shape == (2, 1, 32, 32)
    np.testing.assert_array_equal(small[0, 0, :4, :4].numpy(), 0.0)  # pixel 0, 4x4
    big = images.to_images(np.zeros((1, 784)), (1, 28, 28))
    assert big.shape == (1, 1, 28, 28)
    assert images.to_images(rows, SHAPE, scale=1).shape == (2, 1, 8, 8)


def test_values_are_clipped_unless_normalized():
    rows = np.linspace(-1, 2, 64)[None]
    assert float(images.image_grid(rows, SHAPE).max()) == 1.0
    stretched = images.image_grid(rows, SHAPE, normalize=True)[0, 2:34, 2:34]
    assert float(stretched.min()) == 0.0 and float(stretched.max()) == 1.0


def test_rows_must_match_the_image_shape(tmp_path):
    with pytest.raises(ValueError, match="needs 49 values"):
        images.save_grid(np.zeros((3, 64)), (1, 7, 7), tmp_path / "x.png")
    with pytest.raises(ValueError, match="channels, height, width"):
        images.save_grid(np.zeros((3, 64)), (8, 8), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"as many images.*\[2, 3\]"):
        images.save_rows(
            [np.zeros((2, 64)), np.zeros((3, 64))], SHAPE, tmp_path / "x.png"
        )


def test_save_grid_writes_the_pixels(tmp_path):
    rows = np.zeros((3, 64))
    rows[:, :8] = 1.0  # a white top line in each image
    pixels = _png(
        images.save_grid(rows, SHAPE, tmp_path / "g.png", nrow=3),
        (3 * CELL + 2, CELL + 2),
    )
    assert (pixels[2:6, 2:34] == 255).all() and (pixels[6:34, 2:34] == 0).all()


def test_reconstructions_put_inputs_above_outputs(fitted, digits, tmp_path):
    X = digits[0]
    path = images.save_reconstructions(
        fitted["mlp"], X, SHAPE, tmp_path / "r.png", n_images=6
    )
    pixels = _png(path, (6 * CELL + 2, 2 * CELL + 2))
    # The top line shows the binary inputs: black or white only.
    np.testing.assert_array_equal(np.unique(pixels[2:34, 2:34]), [0, 255])


def test_samples_and_interpolations(fitted, digits, tmp_path):
    X = digits[0]
    _png(
        images.save_samples(
            fitted["conv"], SHAPE, tmp_path / "s.png", n_samples=12, nrow=4
        ),
        (4 * CELL + 2, 3 * CELL + 2),
    )
    _png(
        images.save_interpolations(
            fitted["mlp"], X[:3], X[3:6], SHAPE, tmp_path / "i.png", n_steps=7
        ),
        (7 * CELL + 2, 3 * CELL + 2),
    )
    with pytest.raises(ValueError, match="same shape"):
        images.save_interpolations(
            fitted["mlp"], X[:3], X[3:5], SHAPE, tmp_path / "i.png"
        )


def test_add_noise_uses_the_denoisers_scheme(fitted, digits):
    X = digits[0]
    noisy = images.add_noise(fitted["dae"], X, random_state=1)
    assert noisy.shape == X.shape and noisy.dtype == X.dtype
    assert np.std(noisy - X) == pytest.approx(0.4, rel=0.05)
    np.testing.assert_array_equal(
        noisy, images.add_noise(fitted["dae"], X, random_state=1)
    )
    masked = DenoisingAutoencoder(noise="masking", noise_level=0.5)
    zeroed = images.add_noise(masked, np.ones((50, 64)), random_state=0) == 0
    assert zeroed.mean() == pytest.approx(0.5, abs=0.05)


def test_denoising_picture_has_three_lines(fitted, digits, tmp_path):
    path = images.save_denoising(
        fitted["dae"], digits[0], SHAPE, tmp_path / "d.png", n_images=5
    )
    pixels = _png(path, (5 * CELL + 2, 3 * CELL + 2))
    noisy_line = pixels[2 + CELL : 34 + CELL, 2:34]
    assert len(np.unique(noisy_line)) > 2  # Gaussian noise makes grey levels


def test_first_layer_filters(fitted, tmp_path):
    mlp = images.first_layer_filters(fitted["mlp"], SHAPE)
    weight = fitted["mlp"].module_.encoder[0].weight.detach().numpy()
    assert mlp.shape == (12, 1, 8, 8)
    np.testing.assert_array_equal(mlp.reshape(12, 64), weight)
    conv = images.first_layer_filters(fitted["conv"], SHAPE)
    assert conv.shape == (16, 1, 3, 3)
    _png(
        images.save_filters(fitted["mlp"], SHAPE, tmp_path / "f.png", nrow=6),
        (6 * CELL + 2, 2 * CELL + 2),
    )
    cell = 3 * 10 + 2  # 3x3 kernels are enlarged 10x
    _png(
        images.save_filters(fitted["conv"], SHAPE, tmp_path / "c.png", max_filters=8),
        (8 * cell + 2, cell + 2),
    )


def test_filters_of_multichannel_kernels_are_drawn_per_channel(tmp_path):
    X = np.random.default_rng(0).uniform(size=(30, 2 * 6 * 6))
    est = AutoencoderTransformer(
        encoder="conv",
        max_iter=1,
        device="cpu",
        encoder_params={"input_shape": (2, 6, 6)},
    ).fit(X)
    assert images.first_layer_filters(est, (2, 6, 6)).shape == (16, 2, 3, 3)
    cell = 3 * 10 + 2
    _png(
        images.save_filters(est, (2, 6, 6), tmp_path / "f.png", max_filters=4, nrow=8),
        (8 * cell + 2, cell + 2),
    )


# ---------------------------------------------------------------- plotting
def test_loss_curves_plot(fitted, tmp_path):
    curves = {"mlp": fitted["mlp"], "plain list": [3.0, 2.0, 1.5]}
    path = plotting.plot_loss_curves(curves, tmp_path / "loss.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 100


def test_latent_plot_projects_wide_codes(fitted, digits, tmp_path):
    X, y = digits
    codes = {
        "mlp": fitted["mlp"].transform(X),
        "2-D": fitted["mlp"].transform(X)[:, :2],
    }
    path = plotting.plot_latent(codes, y, tmp_path / "latent.png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # Ten classes in ten colours: far more than black, white and grey.
    assert len(np.unique(pixels, axis=0)) > 50
    with pytest.raises(ValueError, match="200 codes but there are 199 labels"):
        plotting.plot_latent(codes, y[:-1], tmp_path / "bad.png")


def test_plotting_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "skae\[plot\]"'):
        plotting.plot_loss_curves({"a": [1.0, 0.5]}, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()
