"""Pictures of what an autoencoder does to images given as rows.

Each ``save_*`` function turns rows of ``C * H * W`` values (in [0, 1] unless
``normalize=True``) into a grid with :func:`torchvision.utils.make_grid` and
writes it as a PNG with :func:`torchvision.utils.save_image`. Small images are
enlarged (nearest neighbour) so that 8x8 digits stay visible; grey lines
separate the cells.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._params import Interval, check_params

PAD_VALUE = 0.5  # grey lines between cells
MIN_CELL = 32  # images smaller than this many pixels are enlarged
TRAVERSAL_PARAMS = {
    "n_steps": [Interval(numbers.Integral, 2, 10_000)],
    "span": [Interval(numbers.Real, 0, None, closed="neither")],
}


def _check_shape(rows: np.ndarray, image_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(image_shape) != 3:
        raise ValueError(
            "image_shape must be (channels, height, width); got "
            f"{tuple(image_shape)!r}."
        )
    shape = tuple(int(s) for s in image_shape)
    if rows.ndim != 2 or rows.shape[1] != math.prod(shape):
        raise ValueError(
            f"Rows of shape {rows.shape} do not hold images of shape {shape}: each "
            f"row needs {math.prod(shape)} values."
        )
    return shape


def to_images(
    rows, image_shape: Sequence[int], *, scale: int | None = None
) -> torch.Tensor:
    """Rows of shape (n, C*H*W) as a float tensor of images (n, C, H*scale, W*scale).

    ``scale=None`` enlarges images smaller than 32 pixels by a whole factor.

    Examples
    --------
    >>> import numpy as np
    >>> from skae.images import to_images
    >>> to_images(np.zeros((2, 64)), (1, 8, 8)).shape  # 8x8 enlarged 4x
    torch.Size([2, 1, 32, 32])
    """
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None]
    shape = _check_shape(rows, image_shape)
    images = torch.from_numpy(rows.copy()).reshape(-1, *shape)
    if scale is None:
        scale = max(1, MIN_CELL // max(shape[1:]))
    if scale > 1:
        images = images.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    return images


def image_grid(
    rows,
    image_shape: Sequence[int],
    *,
    nrow: int = 10,
    normalize: bool = False,
    scale: int | None = None,
) -> torch.Tensor:
    """A (3, height, width) grid of the images in ``rows``, ``nrow`` per line.

    With ``normalize=True`` each image is stretched to its own min and max
    (for weights); otherwise values are clipped to [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skae.images import image_grid
    >>> image_grid(np.zeros((6, 64)), (1, 8, 8), nrow=3).shape  # 2 lines of 3
    torch.Size([3, 70, 104])
    """
    from torchvision.utils import make_grid  # lazy: importing torchvision takes seconds

    images = to_images(rows, image_shape, scale=scale)
    if not normalize:
        images = images.clamp(0, 1)
    return make_grid(
        images,
        nrow=nrow,
        padding=2,
        normalize=normalize,
        scale_each=normalize,
        pad_value=PAD_VALUE,
    )


def save_grid(
    rows,
    image_shape: Sequence[int],
    path,
    *,
    nrow: int = 10,
    normalize: bool = False,
    scale: int | None = None,
) -> Path:
    """Write the images in ``rows`` as a PNG grid, ``nrow`` per line.

    Examples
    --------
    >>> from tempfile import TemporaryDirectory
    >>> import numpy as np
    >>> from skae.images import save_grid
    >>> rows = np.random.default_rng(0).random((20, 64))
    >>> with TemporaryDirectory() as tmp:
    ...     save_grid(rows, (1, 8, 8), f"{tmp}/grid.png").name
    'grid.png'
    """
    from torchvision.utils import save_image

    path = Path(path)
    grid = image_grid(rows, image_shape, nrow=nrow, normalize=normalize, scale=scale)
    save_image(grid, path)
    return path


def save_rows(blocks: Sequence, image_shape: Sequence[int], path, **kwargs) -> Path:
    """Write equally long blocks of rows one above the other, one line per block.

    For example ``[inputs, reconstructions]`` puts each input above its
    reconstruction.

    Examples
    --------
    >>> from tempfile import TemporaryDirectory
    >>> import numpy as np
    >>> from skae.images import save_rows
    >>> rows = np.random.default_rng(0).random((10, 64))
    >>> with TemporaryDirectory() as tmp:
    ...     save_rows([rows, 1 - rows], (1, 8, 8), f"{tmp}/rows.png").name
    'rows.png'
    """
    blocks = [np.asarray(b, dtype=np.float32) for b in blocks]
    if len({len(b) for b in blocks}) != 1:
        raise ValueError(
            f"All blocks must hold as many images; got {[len(b) for b in blocks]}."
        )
    return save_grid(
        np.concatenate(blocks), image_shape, path, nrow=len(blocks[0]), **kwargs
    )


def save_reconstructions(
    estimator, X, image_shape, path, *, n_images: int = 10
) -> Path:
    """The first ``n_images`` rows of ``X`` (top) above their reconstructions.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from tempfile import TemporaryDirectory
    >>> from skae.images import save_reconstructions
    >>> with TemporaryDirectory() as tmp:
    ...     save_reconstructions(est, X, (1, 8, 8), f"{tmp}/rec.png").name
    'rec.png'
    """
    X = np.asarray(X)[:n_images]
    return save_rows(
        [X, estimator.inverse_transform(estimator.transform(X))], image_shape, path
    )


def add_noise(denoiser, X, *, random_state: int = 0) -> np.ndarray:
    """``X`` corrupted by the noise a ``DenoisingAutoencoder`` trains with.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from skae.images import add_noise
    >>> noisy = add_noise(est, X[:5], random_state=0)
    >>> noisy.shape, bool((noisy != X[:5]).any())
    ((5, 64), True)
    """
    from . import registry

    corrupt = registry.resolve_noise(
        denoiser.noise, denoiser.noise_level, type(denoiser).__name__
    )
    batch = torch.as_tensor(np.asarray(X, dtype=np.float32))
    generator = torch.Generator().manual_seed(random_state)
    noisy = corrupt(batch, generator)
    return noisy.numpy().astype(np.asarray(X).dtype, copy=False)


def save_denoising(
    denoiser, X, image_shape, path, *, n_images: int = 10, random_state: int = 0
) -> Path:
    """Three lines: clean rows of ``X``, the same rows corrupted, and denoised.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from tempfile import TemporaryDirectory
    >>> from skae.images import save_denoising
    >>> with TemporaryDirectory() as tmp:
    ...     save_denoising(est, X, (1, 8, 8), f"{tmp}/denoising.png").name
    'denoising.png'
    """
    X = np.asarray(X)[:n_images]
    noisy = add_noise(denoiser, X, random_state=random_state)
    denoised = denoiser.inverse_transform(denoiser.transform(noisy))
    return save_rows([X, noisy, denoised], image_shape, path)


def save_samples(
    estimator,
    image_shape,
    path,
    *,
    n_samples: int = 100,
    nrow: int = 10,
    random_state: int = 0,
) -> Path:
    """``n_samples`` images drawn with the estimator's ``sample``.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from tempfile import TemporaryDirectory
    >>> from skae.images import save_samples
    >>> with TemporaryDirectory() as tmp:
    ...     save_samples(est, (1, 8, 8), f"{tmp}/samples.png", n_samples=20).name
    'samples.png'
    """
    samples = estimator.sample(n_samples, random_state=random_state)
    return save_grid(samples, image_shape, path, nrow=nrow)


def save_interpolations(
    estimator, X_start, X_end, image_shape, path, *, n_steps: int = 10
) -> Path:
    """One line per pair: the decoded path from ``X_start[i]`` to ``X_end[i]``.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from tempfile import TemporaryDirectory
    >>> from skae.images import save_interpolations
    >>> with TemporaryDirectory() as tmp:
    ...     save_interpolations(est, X[:3], X[3:6], (1, 8, 8), f"{tmp}/p.png").name
    'p.png'
    """
    X_start, X_end = np.asarray(X_start), np.asarray(X_end)
    if X_start.shape != X_end.shape or X_start.ndim != 2:
        raise ValueError(
            "X_start and X_end must be 2-D arrays of the same shape (one pair per "
            f"row); got shapes {X_start.shape} and {X_end.shape}."
        )
    paths = [
        estimator.interpolate(a, b, n_steps=n_steps) for a, b in zip(X_start, X_end)
    ]
    return save_grid(np.concatenate(paths), image_shape, path, nrow=n_steps)


def traversals(
    estimator, x, X_reference, *, n_steps: int = 10, span: float = 2.5
) -> np.ndarray:
    """Decoded latent traversals: one line per latent dimension.

    Start from the code of the row ``x``; in line ``j``, dimension ``j`` runs
    over ``n_steps`` (2 to 10,000) evenly spaced values from ``span`` (> 0)
    standard deviations below the mean of the codes of ``X_reference`` to as
    many above it, the others staying at ``x``'s code. Returns
    ``n_components * n_steps`` rows, line by line.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from skae.images import traversals
    >>> traversals(est, X[0], X, n_steps=5).shape  # 2 dimensions, 5 steps each
    (10, 64)
    """
    check_params("traversals", {"n_steps": n_steps, "span": span}, TRAVERSAL_PARAMS)
    codes = estimator.transform(X_reference)
    start = estimator.transform(np.asarray(x).reshape(1, -1))[0]
    mean, spread = codes.mean(0), span * codes.std(0)
    k = len(start)
    path = np.tile(start, (k, n_steps, 1))
    path[range(k), :, range(k)] = np.linspace(mean - spread, mean + spread, n_steps).T
    return estimator.inverse_transform(path.reshape(k * n_steps, k))


def save_traversals(
    estimator, x, X_reference, image_shape, path, *, n_steps: int = 10
) -> Path:
    """Write :func:`traversals` of ``x`` as a PNG, one line per latent dimension.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from tempfile import TemporaryDirectory
    >>> from skae.images import save_traversals
    >>> with TemporaryDirectory() as tmp:
    ...     save_traversals(est, X[0], X, (1, 8, 8), f"{tmp}/t.png", n_steps=5).name
    't.png'
    """
    rows = traversals(estimator, x, X_reference, n_steps=n_steps)
    return save_grid(rows, image_shape, path, nrow=n_steps)


def first_layer_filters(estimator, image_shape: Sequence[int]) -> np.ndarray:
    """The weights of the encoder's first layer, as an array of images.

    For a first ``nn.Linear`` layer (``"mlp"``), each weight row is one
    ``image_shape`` image; for a first ``nn.Conv2d`` (``"conv"``), each kernel
    is one ``(in_channels, k, k)`` image.

    Returns
    -------
    filters : ndarray of shape (n_filters, channels, height, width)

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from skae.images import first_layer_filters
    >>> first_layer_filters(est, (1, 8, 8)).shape  # 256 hidden units, each an image
    (256, 1, 8, 8)
    """
    for layer in estimator.module_.encoder.modules():
        if isinstance(layer, nn.Conv2d):
            return layer.weight.detach().cpu().numpy()
        if isinstance(layer, nn.Linear):
            weight = layer.weight.detach().cpu().numpy()
            _check_shape(weight, image_shape)
            return weight.reshape(-1, *image_shape)
    raise ValueError(
        f"The encoder of {type(estimator).__name__} has no nn.Linear or nn.Conv2d "
        "layer whose weights could be drawn."
    )


def save_filters(
    estimator, image_shape, path, *, max_filters: int = 64, nrow: int = 8
) -> Path:
    """The first ``max_filters`` first-layer filters, each stretched to its own range.

    Filters with other than 1 or 3 channels are drawn one channel at a time.

    Examples
    --------
    >>> from skae import DenoisingAutoencoder
    >>> from skae.datasets import load_digits_images
    >>> X = load_digits_images().data[:100]
    >>> est = DenoisingAutoencoder(n_components=2, max_iter=1, random_state=0).fit(X)
    >>> from tempfile import TemporaryDirectory
    >>> from skae.images import save_filters
    >>> with TemporaryDirectory() as tmp:
    ...     save_filters(est, (1, 8, 8), f"{tmp}/filters.png").name
    'filters.png'
    """
    filters = first_layer_filters(estimator, image_shape)[:max_filters]
    if filters.shape[1] not in (1, 3):
        filters = filters.reshape(-1, 1, *filters.shape[2:])
    shape = filters.shape[1:]
    return save_grid(
        filters.reshape(len(filters), -1), shape, path, nrow=nrow, normalize=True
    )
