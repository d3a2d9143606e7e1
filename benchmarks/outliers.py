"""Outlier detection: skae's AutoencoderOutlierDetector against the usual detectors.

Two data sets, every detector on the same splits, in one run:

- **digits**, the one-class protocol of Ruff et al. (2018, Deep SVDD): for each
  class, train on a seeded 60% of its rows; test on every other row, the other
  classes being the anomalies. Pixels are divided by 16 (into [0, 1]). The
  score is the ROC-AUC, averaged over the ten classes.
- **wbc**, built the way ODDS builds its "wbc" set, from scikit-learn's breast
  cancer data: the 357 benign cases are inliers, a seeded sample of 21
  malignant ones the outliers (5.6%). A stratified 60/40 split: the training
  rows are contaminated like the test rows, and the features are standardised
  on the training rows. Mean ROC-AUC over ``--seeds`` seeds (sample and split).

Each detector is scored with ``score_samples`` (higher = more normal; PyOD's
``decision_function`` is negated). Times are fit plus scoring of the test
rows, summed over the tasks of a data set. ``--auto`` also measures threshold
rules for ``contamination="auto"`` on the default detector's scores.

Run (PyOD's rows need ``pip install -e ".[outliers]"``; without it they read
"not installed")::

    nice -n 10 .venv/bin/python benchmarks/outliers.py --auto --candidates
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM
from threadpoolctl import threadpool_limits

from skae import VAE, AutoencoderTransformer, DenoisingAutoencoder
from skae.outliers import AutoencoderOutlierDetector


class PCAReconstruction:
    """PCA as a detector: the score is minus the mean squared reconstruction error."""

    def __init__(self, n_components):
        self.pca = PCA(n_components=n_components)

    def fit(self, X):
        self.pca.fit(X)
        return self

    def score_samples(self, X):
        X_hat = self.pca.inverse_transform(self.pca.transform(X))
        return -np.mean((X - X_hat) ** 2, axis=1)


class PyODDetector:
    """A PyOD detector with scikit-learn's sign: higher = more normal."""

    def __init__(self, name):
        if name == "AutoEncoder":
            from pyod.models.auto_encoder import AutoEncoder as cls
        else:
            from pyod.models.vae import VAE as cls
        self.model = cls(random_state=0, verbose=0, device="cpu")

    def fit(self, X):
        self.model.fit(X)
        return self

    def score_samples(self, X):
        return -self.model.decision_function(X)


def pyod_installed() -> bool:
    try:
        import pyod  # noqa: F401
    except ImportError:
        return False
    return True


#: PCA's number of components per data set: the best of 2, 4, 8 and 16 on
#: each (by mean AUC, measured with this harness; see docs/outliers.md).
PCA_COMPONENTS = {"digits": 16, "wbc": 16}


def detectors(pca_components: int) -> dict:
    """Name -> factory of an unfitted detector with ``fit`` and ``score_samples``."""
    found = {
        "skae AutoencoderOutlierDetector() (default)": lambda: (
            AutoencoderOutlierDetector(random_state=0)
        ),
        "skae AutoencoderOutlierDetector(VAE(n_components=8))": lambda: (
            AutoencoderOutlierDetector(VAE(n_components=8), random_state=0)
        ),
        "PCA(k) reconstruction error": lambda: PCAReconstruction(pca_components),
        "IsolationForest()": lambda: IsolationForest(random_state=0),
        "LocalOutlierFactor(novelty=True)": lambda: LocalOutlierFactor(novelty=True),
        "OneClassSVM()": lambda: OneClassSVM(),
    }
    for name in ("AutoEncoder", "VAE"):
        label = f"PyOD {name}()"
        found[label] = (lambda n=name: PyODDetector(n)) if pyod_installed() else None
    return found


# ---------------------------------------------------------------- the data
def digits_tasks(seed: int = 0):
    """(X_train, X_test, is_inlier) per digit class: Ruff et al.'s protocol."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(seed)
    for label in range(10):
        rows = np.flatnonzero(y == label)
        train = rng.permutation(rows)[: round(0.6 * len(rows))]
        test = np.setdiff1d(np.arange(len(X)), train)
        yield X[train], X[test], y[test] == label


def wbc_tasks(seeds):
    """(X_train, X_test, is_inlier) per seed: benign inliers, 21 malignant outliers."""
    X, y = load_breast_cancer(return_X_y=True)
    benign, malignant = X[y == 1], X[y == 0]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picked = malignant[rng.choice(len(malignant), 21, replace=False)]
        rows = np.vstack([benign, picked])
        inlier = np.r_[np.ones(len(benign), bool), np.zeros(len(picked), bool)]
        X_train, X_test, _, inlier_test = train_test_split(
            rows, inlier, train_size=0.6, stratify=inlier, random_state=seed
        )
        scaler = StandardScaler().fit(X_train)
        yield scaler.transform(X_train), scaler.transform(X_test), inlier_test


# ---------------------------------------------------------------- the runs
def run(factory, tasks) -> dict:
    """Mean ROC-AUC, its spread, total fit + score seconds, fitted detectors."""
    aucs, seconds, kept = [], 0.0, []
    for X_train, X_test, inlier in tasks:
        start = time.perf_counter()
        detector = factory().fit(X_train)
        scores = detector.score_samples(X_test)
        seconds += time.perf_counter() - start
        aucs.append(roc_auc_score(inlier, scores))
        kept.append((detector, X_test, inlier))
    return {
        "auc": float(np.mean(aucs)),
        "std": float(np.std(aucs)),
        "seconds": seconds,
        "fitted": kept,
    }


def table(rows, datasets) -> str:
    head = "| detector | " + " | ".join(
        f"{d}: mean AUC | {d}: time (s) | {d}: time / PCA's" for d in datasets
    )
    lines = [head + " |", "|---" * (1 + 3 * len(datasets)) + "|"]
    for name, results in rows.items():
        cells = []
        for d in datasets:
            r = results.get(d)
            if r is None:
                cells += ["not installed", "", ""]
                continue
            pca = next(v[d] for k, v in rows.items() if k.startswith("PCA"))
            cells += [
                f"{r['auc']:.4f} ± {r['std']:.3f}",
                f"{r['seconds']:.2f}",
                f"{r['seconds'] / pca['seconds']:.1f}",
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


AUTO_RULES = {
    "Tukey 1.5 IQR": lambda s: np.percentile(s, 25) - 1.5 * _iqr(s),
    "Tukey 3 IQR (the rule)": lambda s: np.percentile(s, 25) - 3 * _iqr(s),
    "median - 3 MAD": lambda s: np.median(s) - 3 * 1.4826 * _mad(s),
    "5% quantile": lambda s: np.percentile(s, 5),
}


def _iqr(s):
    return np.subtract(*np.percentile(s, [75, 25]))


def _mad(s):
    return np.median(np.abs(s - np.median(s)))


def auto_table(fitted_by_dataset) -> str:
    """Each threshold rule on the default detector's training scores."""
    lines = [
        "| data | rule | training rows flagged | test inliers flagged "
        "(false alarms) | test outliers flagged (recall) | test F1 |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, fitted in fitted_by_dataset.items():
        for rule, offset_of in AUTO_RULES.items():
            flagged, false_alarm, recall, f1 = [], [], [], []
            for detector, X_test, inlier in fitted:
                train = detector.training_scores_
                offset = offset_of(train)
                out = detector.score_samples(X_test) < offset
                flagged.append(np.mean(train < offset))
                false_alarm.append(np.mean(out[inlier]))
                recall.append(np.mean(out[~inlier]))
                tp = np.sum(out & ~inlier)
                f1.append(2 * tp / max(out.sum() + (~inlier).sum(), 1))
            lines.append(
                f"| {dataset} | {rule} | {np.mean(flagged):.1%} | "
                f"{np.mean(false_alarm):.1%} | {np.mean(recall):.1%} | "
                f"{np.mean(f1):.3f} |"
            )
    return "\n".join(lines)


def candidates() -> dict:
    """Settings tried for the default estimator, beside the main table's two."""
    small = {"hidden_layer_sizes": (64,)}
    tanh = {"activation": "tanh"}
    return {
        "AutoencoderTransformer(2)": AutoencoderTransformer(2),
        "AutoencoderTransformer(8)": AutoencoderTransformer(8),
        "AutoencoderTransformer(16) (ReLU)": AutoencoderTransformer(16),
        "AutoencoderTransformer(8), tanh": (
            AutoencoderTransformer(8, encoder_params=tanh)
        ),
        "VAE(2)": VAE(2),
        "AutoencoderTransformer(8), 64 hidden units, 100 epochs": (
            AutoencoderTransformer(8, encoder_params=small, max_iter=100)
        ),
        "DenoisingAutoencoder(8)": DenoisingAutoencoder(8),
    }


def floor(repeats: int = 7) -> str:
    """PCA's fit and score against a bare torch loop, on digits' first task.

    The loop is the default detector's network (64-256-16-256-64, tanh) and
    objective, trained by full-batch Adam with none of skae's checks: the
    least time any detector of this kind can take for that many steps.
    """
    X_train, X_test, _ = next(digits_tasks())
    rows = torch.tensor(X_train, dtype=torch.float32)
    test = torch.tensor(X_test, dtype=torch.float32)

    def bare_loop(steps):
        torch.manual_seed(0)
        nn = torch.nn
        net = nn.Sequential(
            nn.Linear(64, 256), nn.Tanh(), nn.Linear(256, 16),
            nn.Linear(16, 256), nn.Tanh(), nn.Linear(256, 64),
        )  # fmt: skip
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3, fused=True)
        for _ in range(steps):
            loss = nn.functional.mse_loss(net(rows), rows)
            for p in net.parameters():
                p.grad = None
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            return -((net(test) - test) ** 2).mean(1)

    cases = {
        "PCA(16) fit + score": lambda: (
            PCAReconstruction(16).fit(X_train).score_samples(X_test)
        ),
        "bare loop, 200 steps": lambda: bare_loop(200),
        "bare loop, 10 steps": lambda: bare_loop(10),
    }
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    pca = np.median(times["PCA(16) fit + score"])
    lines = ["| case | median (ms) | / PCA's |", "|---|---|---|"]
    for name, seconds in times.items():
        median = np.median(seconds)
        lines.append(f"| {name} | {1000 * median:.1f} | {median / pca:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="wbc seeds (default 10)")
    parser.add_argument(
        "--auto", action="store_true", help="also measure contamination='auto' rules"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also measure the settings tried for the default",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="two digit classes, one wbc seed: checks the harness",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="only time PCA against a bare torch loop of the default's network",
    )
    parser.add_argument(
        "--no-main",
        action="store_true",
        help="with --candidates: skip the main table's detectors but PCA",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    # torch imports torch._dynamo (about 1.5 s) on its first optimizer: pay it
    # before any clock starts, not in the first detector's time.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    # One BLAS thread too: PCA, LOF and OneClassSVM time their fits like torch.
    limits = threadpool_limits(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.floor:
        print(floor())
        limits.restore_original_limits()
        return
    n_classes, seeds = (2, [0]) if args.quick else (10, list(range(args.seeds)))
    datasets = {
        "digits": lambda: list(digits_tasks())[:n_classes],
        "wbc": lambda: list(wbc_tasks(seeds)),
    }
    pca = PCA_COMPONENTS
    keep = "PCA" if args.no_main else ""
    rows = {name: {} for name in detectors(0) if keep in name}
    for d, tasks in datasets.items():
        for name, factory in detectors(pca[d]).items():
            if name not in rows:
                continue
            rows[name][d] = None if factory is None else run(factory, tasks())
    print(
        f"digits: {n_classes} classes; wbc: {len(seeds)} seeds; "
        f"PCA(k): k = {pca['digits']} on digits, {pca['wbc']} on wbc; "
        f"torch threads {torch.get_num_threads()}\n"
    )
    print(table(rows, list(datasets)))
    if args.auto and not args.no_main:
        default = next(iter(rows))
        print("\ncontamination='auto' rules on the default detector's scores\n")
        print(auto_table({d: rows[default][d]["fitted"] for d in datasets}))
    if args.candidates:
        tried = {
            name: {
                d: run(
                    lambda e=est: AutoencoderOutlierDetector(e, random_state=0), tasks()
                )
                for d, tasks in datasets.items()
            }
            for name, est in candidates().items()
        }
        tried["PCA(k)"] = rows[next(k for k in rows if k.startswith("PCA"))]
        print("\nsettings tried for the default estimator\n")
        print(table(tried, list(datasets)))
    if not pyod_installed():
        print("\nPyOD is not installed: pip install -e '.[outliers]' for its rows.")
    limits.restore_original_limits()


if __name__ == "__main__":
    main()
