"""The numbers ``skae demo`` prints: each model beside PCA, and class-faithful samples.

:func:`evaluate` holds a fitted model's reconstructions and codes against PCA
with as many components; :func:`format_table` lays the results out;
:func:`class_accuracy` says how often a conditional VAE's samples are drawn as
the class asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def class_samples(cvae, n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` samples of each class, in class order, and their labels."""
    labels = np.repeat(cvae.classes_, n_per_class)
    return cvae.sample(len(labels), y=labels, random_state=seed), labels


def class_accuracy(cvae, X_train, y_train, seed: int) -> float:
    """How often 100 samples per class are classified as their class.

    The judge is a logistic regression trained on the real training images.
    """
    from sklearn.linear_model import LogisticRegression

    judge = LogisticRegression(max_iter=1000, random_state=seed).fit(X_train, y_train)
    samples, labels = class_samples(cvae, 100, seed)
    return float(judge.score(samples, labels))


def _codes_accuracy(Z_train, y_train, Z_test, y_test, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:
        return math.nan
    classifier = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed)
    )
    return float(classifier.fit(Z_train, y_train).score(Z_test, y_test))


def evaluate(
    title: str, est, fit_time: float, X_train, y_train, X_test, y_test, seed: int
) -> dict:
    """Test reconstruction MSE and code accuracy of a fitted model and of PCA alike."""
    from sklearn.decomposition import PCA

    k = est.n_components
    Z_train, Z_test = est.transform(X_train), est.transform(X_test)
    mse = float(np.mean((est.inverse_transform(Z_test) - X_test) ** 2))
    pca = PCA(min(k, *X_train.shape), random_state=seed).fit(X_train)
    P_train, P_test = pca.transform(X_train), pca.transform(X_test)
    pca_mse = float(np.mean((pca.inverse_transform(P_test) - X_test) ** 2))
    return {
        "model": title,
        "codes": k,
        "test MSE": mse,
        "PCA MSE": pca_mse,
        "accuracy": _codes_accuracy(Z_train, y_train, Z_test, y_test, seed),
        "PCA acc.": _codes_accuracy(P_train, y_train, P_test, y_test, seed),
        "fit time": fit_time,
    }


def format_table(rows: list[dict]) -> str:
    """The results as an aligned text table."""
    formats: dict[str, Callable] = {
        "model": str,
        "codes": str,
        "test MSE": "{:.4f}".format,
        "PCA MSE": "{:.4f}".format,
        "accuracy": "{:.3f}".format,
        "PCA acc.": "{:.3f}".format,
        "fit time": "{:.1f} s".format,
    }
    cells = [list(formats)] + [[formats[k](row[k]) for k in formats] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(formats))]
    lines = []
    for n, line in enumerate(cells):
        padded = [line[0].ljust(widths[0])]
        padded += [cell.rjust(w) for cell, w in zip(line[1:], widths[1:])]
        lines.append("  ".join(padded))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
