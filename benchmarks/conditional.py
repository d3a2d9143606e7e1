"""ConditionalVAE on digits: class-faithful samples, held-out log p(x | y) (issue 13).

    nice -n 10 .venv/bin/python benchmarks/conditional.py            # the tables
    nice -n 10 .venv/bin/python benchmarks/conditional.py --quick    # a smoke run

One run, on one thread, on digits scaled by 1/16, 75/25 stratified split
(random_state=0), every model with random_state=0 and the same training settings:

- ``samples``: 100 samples per class from ``ConditionalVAE.sample(100, y=c)``,
  judged by a LogisticRegression trained on the real training digits; the table
  gives the share classified as ``c`` per class and averaged over the classes
  (target: at least 90%), beside the judge's accuracy on the real held-out digits.
- ``loglik``: mean held-out log-likelihood in nats per sample, with the same
  importance-weighted estimate (100 draws) for every model: ConditionalVAE's
  log p(x | y) and its marginal log p(x), beside the unconditional VAE's log p(x)
  at the same ``n_components`` (target: log p(x | y) above the VAE's log p(x)).
  For this table the digits are dequantised with U(0, 1/16) noise, as in
  benchmarks/generative.py (docs/generative.md says why).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's skae

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skae import VAE
from skae.conditional import ConditionalVAE


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


def samples(settings: dict, n_per_class: int) -> str:
    X_train, X_test, y_train, y_test = digits(dequantise=False)
    judge = LogisticRegression(max_iter=5000).fit(X_train, y_train)
    start = time.perf_counter()
    cvae = ConditionalVAE(**settings).fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    rows, shares = [], []
    for c in cvae.classes_:
        drawn = cvae.sample(n_per_class, y=c, random_state=int(c))
        share = float(np.mean(judge.predict(drawn) == c))
        shares.append(share)
        rows.append((int(c), f"{share:.0%}"))
    rows.append(("**mean over classes**", f"**{np.mean(shares):.1%}**"))
    rows.append(("judge on real held-out digits", f"{judge.score(X_test, y_test):.1%}"))
    head = (
        f"ConditionalVAE({settings['n_components']}), {n_per_class} samples per "
        f"class, fitted in {fit_s:.1f} s; judge: LogisticRegression on the real "
        "training digits\n\n"
    )
    return head + table(("class", "classified as the class"), rows)


def loglik(settings: dict) -> str:
    X_train, X_test, y_train, y_test = digits(dequantise=True)
    vae_settings = {k: v for k, v in settings.items() if k != "condition"}
    results = []
    start = time.perf_counter()
    cvae = ConditionalVAE(**settings).fit(X_train, y_train)
    cvae_s = time.perf_counter() - start
    start = time.perf_counter()
    vae = VAE(**vae_settings).fit(X_train)
    vae_s = time.perf_counter() - start
    conditional = cvae.score(X_test, y_test)
    results.append(("ConditionalVAE, log p(x \\| y)", f"{conditional:.1f}", cvae_s))
    results.append(
        ("ConditionalVAE, marginal log p(x)", f"{cvae.score(X_test):.1f}", "")
    )
    results.append(("VAE, log p(x)", f"{vae.score(X_test):.1f}", vae_s))
    rows = [(name, score, f"{s:.1f}" if s != "" else "") for name, score, s in results]
    head = (
        f"n_components={settings['n_components']}, held-out dequantised digits, "
        "importance-weighted estimate with 100 draws\n\n"
    )
    return head + table(("model", "held-out nats per sample", "fit (s)"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {
        "n_components": args.n_components,
        "max_iter": 3 if args.quick else args.max_iter,
        "random_state": 0,
        "device": "cpu",
    }
    print(samples(settings, 10 if args.quick else 100), end="\n\n")
    print(loglik(settings))


if __name__ == "__main__":
    main()
