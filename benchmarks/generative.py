"""skae's generative side beside the classical baselines, on digits (issue 10).

    nice -n 10 .venv/bin/python benchmarks/generative.py             # all three tables
    nice -n 10 .venv/bin/python benchmarks/generative.py --only loglik,samples
    nice -n 10 .venv/bin/python benchmarks/generative.py --quick     # a smoke run
    nice -n 10 .venv/bin/python benchmarks/generative.py --only mig --mig-seeds 10

Three Markdown tables, on one thread (docs/benchmarks.md shows one run):

- ``loglik``: mean held-out log-likelihood (nats per sample) of VAE and BetaVAE at
  k in {2, 8, 16}, beside probabilistic PCA, FactorAnalysis and
  GaussianMixture(10, full). Digits are scaled by 1/16 and dequantised with
  U(0, 1/16) noise (docs/generative.md says why); 75/25 stratified split.
- ``samples``: 1,000 samples at k=8 from AE, DAE and VAE with both samplers,
  beside PCA with a Gaussian latent and GaussianMixture(10) on pixels, judged by a
  LogisticRegression trained on the real training digits: Fréchet distance to the
  held-out digits in its logits (real training digits show the noise floor), the
  inception-style score, the share of the largest predicted class and of pixel
  values outside [0, 1]; then the mean ± standard deviation over seeds 0-4 of
  GaussianMixture(10) on pixels and the default AE and VAE (also with
  ``sample(noise=False)``, its decoder means).
- ``mig``: the mutual information gap of BetaVAE(beta=4) and VAE on
  skae.datasets.make_shapes, over 3 seeds (``--mig-seeds`` for more).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's skae

from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder
from skae.datasets import make_shapes
from skae.metrics import classifier_score, frechet_distance, mutual_information_gap


def digits(dequantise: bool):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    X_train, X_test = X_train / 16, X_test / 16
    if dequantise:
        rng = np.random.default_rng(0)
        X_train = X_train + rng.uniform(0, 1 / 16, X_train.shape)
        X_test = X_test + rng.uniform(0, 1 / 16, X_test.shape)
    return X_train, X_test, y_train, y_test


def table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def loglik(quick: bool) -> str:
    X_train, X_test, _, _ = digits(dequantise=True)
    max_iter = 5 if quick else 200
    ks = (2,) if quick else (2, 8, 16)
    models = {
        "PCA (probabilistic)": lambda k: PCA(k),
        "FactorAnalysis": lambda k: FactorAnalysis(k, random_state=0),
        "VAE": lambda k: VAE(k, max_iter=max_iter, random_state=0),
        "BetaVAE(beta=4)": lambda k: BetaVAE(k, max_iter=max_iter, random_state=0),
        "VAE, ELBO": None,
    }
    scores, seconds = {name: {} for name in models}, {}
    for k in ks:
        for name, make in models.items():
            if make is None:
                continue
            start = time.perf_counter()
            model = make(k).fit(X_train)
            seconds[name, k] = time.perf_counter() - start
            scores[name][k] = model.score(X_test)
            if name == "VAE":
                scores["VAE, ELBO"][k] = float(model.elbo(X_test).mean())
                scores["VAE, training rows"] = scores.get("VAE, training rows", {})
                scores["VAE, training rows"][k] = model.score(X_train[: len(X_test)])
    mixture = GaussianMixture(10, covariance_type="full", random_state=0)
    gmm = mixture.fit(X_train).score(X_test)
    rows = [[name, *(f"{scores[name][k]:.1f}" for k in ks)] for name in scores]
    rows.append(["GaussianMixture(10, full)", *(f"{gmm:.1f}" for _ in ks)])
    out = table(["model", *(f"k={k}" for k in ks)], rows)
    fits = ", ".join(
        f"{n} k={k} {s:.1f} s" for (n, k), s in seconds.items() if "VAE" in n
    )
    return out + f"\n\nFit times (1 thread): {fits}."


def samples(quick: bool) -> str:
    X_train, X_test, y_train, y_test = digits(dequantise=False)
    clf = LogisticRegression(max_iter=3000).fit(X_train, y_train)
    n, k = (200, 8) if quick else (1000, 8)
    max_iter = 5 if quick else 200
    sources = {"real digits (training rows)": X_train[:n]}
    mixture = GaussianMixture(10, covariance_type="full", random_state=0)
    sources["GaussianMixture(10) on pixels"] = mixture.fit(X_train).sample(n)[0]
    pca = PCA(k).fit(X_train)
    z = np.random.default_rng(0).normal(size=(n, k)) * np.sqrt(pca.explained_variance_)
    sources["PCA, Gaussian latent"] = pca.inverse_transform(z)
    for name, cls in (
        ("AutoencoderTransformer", AutoencoderTransformer),
        ("DenoisingAutoencoder", DenoisingAutoencoder),
        ("VAE", VAE),
    ):
        for sampler in ("prior", "mixture"):
            model = cls(k, sampler=sampler, max_iter=max_iter, random_state=0)
            sources[f"{name}, {sampler}"] = model.fit(X_train).sample(n, random_state=0)
    sources["VAE, mixture, noise=False"] = model.sample(n, random_state=0, noise=False)
    rows = []
    for name, S in sources.items():
        share = np.bincount(clf.predict(S), minlength=10).max() / len(S)
        outside = np.mean((S < 0) | (S > 1))
        rows.append(
            [
                name,
                f"{frechet_distance(X_test, S, clf):.1f}",
                f"{classifier_score(S, clf):.2f}",
                f"{share:.0%}",
                f"{outside:.1%}",
            ]
        )
    header = ["source", "Fréchet distance", "score", "largest class", "outside [0, 1]"]
    accuracy = clf.score(X_test, y_test)
    out = table(header, rows) + f"\n\nClassifier held-out accuracy: {accuracy:.3f}."
    return out + "\n\n" + samples_over_seeds(X_train, X_test, clf, n, k, max_iter)


def samples_over_seeds(X_train, X_test, clf, n, k, max_iter) -> str:
    """Mean and spread over seeds 0-4 (the GMM's seed; the models' random_state,
    which seeds training, the latent mixture and the samples); the VAE also with
    ``noise=False`` (its decoder means, from the same codes)."""

    def vae(seed):
        model = VAE(k, max_iter=max_iter, random_state=seed).fit(X_train)
        return {
            "VAE (default)": model.sample(n, random_state=seed),
            "VAE, `noise=False`": model.sample(n, random_state=seed, noise=False),
        }

    makers = (
        lambda s: {
            "GaussianMixture(10) on pixels": (
                GaussianMixture(10, covariance_type="full", random_state=s)
                .fit(X_train)
                .sample(n)[0]
            )
        },
        lambda s: {
            "AutoencoderTransformer (default)": (
                AutoencoderTransformer(k, max_iter=max_iter, random_state=s)
                .fit(X_train)
                .sample(n, random_state=s)
            )
        },
        vae,
    )
    measured = {}
    for make in makers:
        for seed in range(5):
            for name, S in make(seed).items():
                share = np.bincount(clf.predict(S), minlength=10).max() / len(S)
                measured.setdefault(name, []).append(
                    (frechet_distance(X_test, S, clf), classifier_score(S, clf), share)
                )
    rows = []
    for name, values in measured.items():
        mean, std = np.mean(values, axis=0), np.std(values, axis=0)
        rows.append(
            [
                name,
                f"{mean[0]:.2f} ± {std[0]:.2f}",
                f"{mean[1]:.2f} ± {std[1]:.2f}",
                f"{max(v[2] for v in values):.0%}",
            ]
        )
    header = ["source (seeds 0-4)", "Fréchet distance", "score", "largest class, max"]
    return table(header, rows)


def mig(quick: bool, seeds: int = 3) -> str:
    n, max_iter = (500, 5) if quick else (5000, 100)
    rows = []
    results = {"VAE": [], "BetaVAE(beta=4)": []}
    for seed in range(seeds):
        X, factors = make_shapes(n, random_state=seed)
        for name, make in (("VAE", VAE), ("BetaVAE(beta=4)", BetaVAE)):
            model = make(6, loss="logit_gaussian", max_iter=max_iter, random_state=seed)
            codes = model.fit(X).transform(X)
            results[name].append(mutual_information_gap(codes, factors))
    for name, values in results.items():
        rows.append([name, *(f"{v:.3f}" for v in values), f"{np.mean(values):.3f}"])
    header = ["model", *(f"seed {s}" for s in range(seeds)), "mean"]
    note = (
        f"\n\nmake_shapes({n}), n_components=6, loss='logit_gaussian', "
        f"max_iter={max_iter}."
    )
    return table(header, rows) + note


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="loglik,samples,mig")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--mig-seeds",
        type=positive_int,
        default=3,
        help="make_shapes seeds for mig (3)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = {
        "loglik": loglik,
        "samples": samples,
        "mig": functools.partial(mig, seeds=args.mig_seeds),
    }
    for part in args.only.split(","):
        start = time.perf_counter()
        text = parts[part](args.quick)
        print(
            f"### {part}\n\n{text}\n\n({time.perf_counter() - start:.0f} s)\n",
            flush=True,
        )


if __name__ == "__main__":
    main()
