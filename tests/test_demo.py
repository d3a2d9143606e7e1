"""``skae demo`` end to end, on a tiny budget."""

import struct

import numpy as np
import pytest
import torch
from PIL import Image

from skae.cli import main

TITLES = ["MLP AE", "conv AE", "denoising AE", "VAE", "beta-VAE"]
SLUGS = ["ae-mlp", "ae-conv", "dae", "vae", "beta-vae"]
PER_MODEL = ["reconstructions", "samples", "interpolations", "filters"]
TINY = ["--max-iter", "2", "--n-samples", "120", "--device", "cpu"]


def _table(out: str) -> dict:
    """The rows of the printed table, by model title."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        title, numbers = line[: lines[start].index("codes")].strip(), line.split()
        rows[title] = numbers
    return rows


def _check_png(path, size=None):
    with Image.open(path) as image:
        assert image.format == "PNG"
        if size is not None:
            assert image.size == size
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < pixels.max(), f"{path.name} is blank"


def test_demo_on_digits_prints_the_table_and_writes_pictures(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert main(["demo", "--output", str(tmp_path), *TINY]) == 0
    assert torch.get_num_threads() == threads  # --threads is undone afterwards
    captured = capsys.readouterr()
    rows = _table(captured.out)
    assert len(rows) == 5
    for prefix, (title, numbers) in zip(TITLES, rows.items()):
        assert title.startswith(prefix)
        # codes, test MSE, PCA MSE, accuracy, PCA acc., fit time, "s"
        assert len(numbers) - len(title.split()) == 7
        mse, pca_mse, accuracy = map(float, numbers[-6:-3])
        assert 0 < mse < 1 and 0 < pca_mse < 1 and 0 <= accuracy <= 1
    assert (
        "90 training and 30 test images from digits (binarized, 1x8x8)" in captured.out
    )
    assert f"Wrote 26 pictures to {tmp_path.resolve()}" in captured.out
    assert "[6/6] conditional VAE 64-256-8" in captured.out
    assert "100 samples per class are drawn as their class" in captured.out
    assert "epoch" in captured.err  # tqdm progress bars

    cell = 8 * 4 + 2
    for slug in SLUGS:
        _check_png(
            tmp_path / f"{slug}-reconstructions.png", (10 * cell + 2, 2 * cell + 2)
        )
        _check_png(tmp_path / f"{slug}-samples.png", (10 * cell + 2, 10 * cell + 2))
        _check_png(
            tmp_path / f"{slug}-interpolations.png", (10 * cell + 2, 5 * cell + 2)
        )
        _check_png(tmp_path / f"{slug}-filters.png")
    _check_png(tmp_path / "dae-denoising.png", (10 * cell + 2, 3 * cell + 2))
    for slug in ("vae", "beta-vae"):  # one line per latent dimension (8)
        _check_png(tmp_path / f"{slug}-traversals.png", (10 * cell + 2, 8 * cell + 2))
    _check_png(tmp_path / "loss-curves.png")
    _check_png(tmp_path / "latent.png")
    # One line of ten samples per class: the 90 training rows hold all ten.
    _check_png(tmp_path / "cvae-classes.png", (10 * cell + 2, 10 * cell + 2))
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{s}-{kind}.png" for s in SLUGS for kind in PER_MODEL} | {
        "dae-denoising.png",
        "vae-traversals.png",
        "beta-vae-traversals.png",
        "loss-curves.png",
        "latent.png",
        "cvae-classes.png",
    }


def test_demo_default_output_is_a_new_folder_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["demo", "--max-iter", "1", "--n-samples", "60", "--no-binarize"])
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("skae-demo-")
    assert len(list(folder.glob("*.png"))) == 26
    out = capsys.readouterr().out
    assert "(grey-level, 1x8x8)" in out and str(folder) in out


def _write_mnist(root, n=40):
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        (raw / f"{split}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        )
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, n) + labels.tobytes()
        )


def test_demo_on_mnist_files_uses_the_classic_sizes(tmp_path, capsys):
    _write_mnist(tmp_path / "data")
    out_dir = tmp_path / "pictures"
    argv = [
        "demo",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "data"),
        "--output",
        str(out_dir),
        "--max-iter",
        "1",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    titles = list(_table(capsys.readouterr().out))
    assert titles == [
        "MLP AE 784-256-64",
        "conv AE 16-32-32",
        "denoising AE 784-256-64",
        "VAE 784-400-20",
        "beta-VAE 784-400-20",
    ]
    _check_png(out_dir / "vae-samples.png", (10 * 30 + 2, 10 * 30 + 2))


@pytest.mark.parametrize("n_samples", ["2", "4"])
def test_demo_on_too_few_images_explains(tmp_path, n_samples):
    argv = ["demo", "--output", str(tmp_path / "out"), "--n-samples", n_samples]
    with pytest.raises(SystemExit, match=r"needs 2 classes .* larger --n-samples"):
        main([*argv, "--max-iter", "1", "--device", "cpu"])
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_demo_overwrites_nothing(tmp_path):
    kept = tmp_path / "vae-samples.png"
    kept.write_bytes(b"not the demo's")
    argv = ["demo", "--max-iter", "1", "--n-samples", "60", "--device", "cpu"]
    with pytest.raises(SystemExit, match="not empty.*overwrites nothing"):
        main([*argv, "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="is not a folder"):
        main([*argv, "--output", str(kept)])
    assert kept.read_bytes() == b"not the demo's"
    assert [p.name for p in tmp_path.iterdir()] == ["vae-samples.png"]


def test_demo_without_mnist_files_explains(tmp_path):
    with pytest.raises(SystemExit, match=r"MNIST.raw.*download"):
        main(
            [
                "demo",
                "--dataset",
                "mnist",
                "--data-dir",
                str(tmp_path),
                "--output",
                str(tmp_path / "out"),
            ]
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--device", "gpu"], "--device must be 'auto', 'cpu'"),
        (["--device", "cuda:7"], "--device cuda:7: .*CUDA"),
    ],
)
def test_demo_rejects_unknown_or_absent_devices(option, message, tmp_path):
    if option[1] == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    with pytest.raises(SystemExit, match=message):
        main(["demo", "--output", str(tmp_path / "out"), *option])
    assert not (tmp_path / "out").exists()


def test_demo_rejects_non_positive_budgets(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--max-iter", "0"])
    assert info.value.code == 2
    assert "--max-iter: must be a positive integer, got 0" in capsys.readouterr().err


def test_traversals_move_one_latent_dimension_per_line():
    from sklearn.datasets import load_digits

    from skae import VAE
    from skae.images import traversals

    X = load_digits().data[:200] / 16
    vae = VAE(3, max_iter=3, random_state=0).fit(X)
    rows = traversals(vae, X[0], X, n_steps=5)
    assert rows.shape == (15, 64)
    start = vae.transform(X[:1])[0]
    for j, line in enumerate(rows.reshape(3, 5, 64)):
        codes = vae.transform(line)
        assert not np.allclose(line[0], line[-1])  # the picture changes
        assert codes[-1, j] > codes[0, j]  # along dimension j, upwards
        assert np.allclose(np.delete(start, j), np.delete(codes.mean(0), j), atol=1.0)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"n_steps": 1},
            "'n_steps' parameter of traversals must be an int in the range \\[2, 10000\\]",
        ),
        ({"n_steps": 1.5}, "'n_steps' parameter"),
        ({"n_steps": 10**6}, "'n_steps' parameter"),
        (
            {"span": 0},
            "'span' parameter of traversals must be a float in the range \\(0, inf\\)",
        ),
        ({"span": -1.0}, "'span' parameter"),
        ({"span": float("nan")}, "'span' parameter"),
        ({"span": "2"}, "'span' parameter"),
    ],
)
def test_traversal_parameters_are_checked(params, match, tmp_path):
    from sklearn.datasets import load_digits

    from skae import AutoencoderTransformer
    from skae.exceptions import InvalidParameterError
    from skae.images import save_traversals, traversals

    X = load_digits().data[:50] / 16
    est = AutoencoderTransformer(2, max_iter=1, random_state=0).fit(X)
    with pytest.raises(InvalidParameterError, match=match):
        traversals(est, X[0], X, **params)
    if "n_steps" in params:
        with pytest.raises(InvalidParameterError, match=match):
            save_traversals(est, X[0], X, (1, 8, 8), tmp_path / "t.png", **params)
        assert not (tmp_path / "t.png").exists()
