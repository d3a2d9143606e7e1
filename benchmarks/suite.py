"""The benchmark cases and how each one is measured.

Training cases time whole fits of skae, the hand-written loop and skorch,
interleaved, after one short warm-up of each. The transform case times skae's
``transform`` and the minimal loop in a fresh process (``transform_worker.py``).
The quality case fits skae with default settings beside PCA on digits.
"""

from __future__ import annotations

import gc
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

import numpy as np
from baselines import Arch, OptimizerSpec, fit_loop, fit_skae, fit_skorch, n_parameters
from hardware import GemmRate
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import skae

try:
    import skorch  # noqa: F401  (optional: the "bench" extra)

    HAS_SKORCH = True
except ImportError:
    HAS_SKORCH = False

WORKER = Path(__file__).with_name("transform_worker.py")
BATCH_SIZE = 128
SEED = 0


@dataclass(frozen=True)
class Settings:
    """How much work each case does; :data:`FULL` or :data:`QUICK`."""

    repeats: int
    digits_epochs: int
    mnist_rows: int
    mnist_epochs: int
    transform_rows: int
    quality_ks: tuple[int, ...]
    quality_max_iter: int | None  # None: skae's default
    warm_up: bool = True
    gemm_seconds: float = 1.0


FULL = Settings(5, 30, 20_000, 2, 200_000, (2, 5, 8, 16, 32), None)
QUICK = Settings(1, 1, 512, 1, 2_048, (2,), 2, warm_up=False, gemm_seconds=0.1)


@dataclass(frozen=True)
class TrainCase:
    """A training-throughput case: an architecture and the data it trains on."""

    name: str
    arch: Arch
    data: str  # "digits" or "synthetic"


TRAIN_CASES = [
    TrainCase("train-digits-ae", Arch(64, (128,), 8, False), "digits"),
    TrainCase("train-digits-vae", Arch(64, (128,), 8, True), "digits"),
    TrainCase("train-mnist-ae", Arch(784, (256,), 64, False), "synthetic"),
    TrainCase("train-mnist-vae", Arch(784, (256,), 64, True), "synthetic"),
]
CASES = [*(c.name for c in TRAIN_CASES), "transform", "quality"]


def digits_scaled() -> np.ndarray:
    """scikit-learn's digits (1797 x 64), scaled to [0, 1], as float32."""
    return MinMaxScaler().fit_transform(load_digits().data).astype(np.float32)


def synthetic(rows: int, n_features: int = 784) -> np.ndarray:
    """MNIST-sized uniform noise in [0, 1], float32."""
    return np.random.default_rng(SEED).random((rows, n_features), dtype=np.float32)


def as_json(value: object) -> object:
    """``json.dumps``'s ``default`` for this module's results."""
    if hasattr(value, "as_json"):
        return value.as_json()
    if is_dataclass(value):
        return asdict(value)
    return str(value)


# ------------------------------------------------------------------ training
@dataclass
class TrainResult:
    """Fit times of one case: wall-clock and CPU seconds, per implementation."""

    case: TrainCase
    n_samples: int
    epochs: int
    n_params: int
    seconds: dict[str, list[float]] = field(default_factory=dict)
    cpu_seconds: dict[str, list[float]] = field(default_factory=dict)

    def throughput(self, impl: str, cpu: bool = False) -> float | None:
        """Median samples per (CPU) second of ``impl``; None when it did not run."""
        times = (self.cpu_seconds if cpu else self.seconds).get(impl)
        if not times:
            return None
        return self.n_samples * self.epochs / statistics.median(times)

    def ratio(self, impl: str, cpu: bool = False) -> float | None:
        """skae's throughput over ``impl``'s (above 1: skae is faster)."""
        other = self.throughput(impl, cpu)
        return None if other is None else self.throughput("skae", cpu) / other

    def floor(self, gflops: float) -> float:
        """Samples/s at 6 FLOP per parameter per sample, at ``gflops`` GFLOP/s."""
        return gflops * 1e9 / (6 * self.n_params)

    def spread(self) -> float:
        """The largest (max - min) / median of the repeats, over implementations."""
        return max(
            (max(t) - min(t)) / statistics.median(t) for t in self.seconds.values()
        )

    def as_json(self) -> dict:
        return {
            "case": self.case.name,
            "model": self.case.arch.label(),
            "n_samples": self.n_samples,
            "epochs": self.epochs,
            "n_params": self.n_params,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "throughput": {impl: self.throughput(impl) for impl in self.seconds},
        }


def _runners(
    arch: Arch, optimizer: OptimizerSpec
) -> dict[str, Callable[[np.ndarray, int], int]]:
    common = {"batch_size": BATCH_SIZE, "seed": SEED}
    runners = {
        "skae": lambda X, e: fit_skae(X, arch, epochs=e, **common),
        "loop": lambda X, e: fit_loop(X, arch, epochs=e, optimizer=optimizer, **common),
    }
    if HAS_SKORCH:
        runners["skorch"] = lambda X, e: fit_skorch(
            X, arch, epochs=e, optimizer=optimizer, **common
        )
    return runners


def time_training(
    case: TrainCase, settings: Settings, optimizer: OptimizerSpec, gemm: GemmRate
) -> TrainResult:
    """Fit times of every implementation, interleaved; GEMM sampled between."""
    if case.data == "digits":
        X, epochs = digits_scaled(), settings.digits_epochs
    else:
        X, epochs = synthetic(settings.mnist_rows), settings.mnist_epochs
    result = TrainResult(case, len(X), epochs, n_parameters(case.arch))
    runners = _runners(case.arch, optimizer)
    for run in runners.values() if settings.warm_up else ():  # first-call costs
        run(X[:512], 1)
    for _ in range(settings.repeats):
        for impl, run in runners.items():
            gc.collect()
            start, cpu_start = time.perf_counter(), time.process_time()
            ran = run(X, epochs)
            result.seconds.setdefault(impl, []).append(time.perf_counter() - start)
            cpu = time.process_time() - cpu_start
            result.cpu_seconds.setdefault(impl, []).append(cpu)
            if ran != epochs:
                raise RuntimeError(f"{impl} ran {ran} epochs instead of {epochs}.")
        gemm.sample(settings.gemm_seconds / 10)
    return result


# ------------------------------------------------------------------ transform
@dataclass
class TransformResult:
    """The transform worker's timings and memory figures, per implementation."""

    rows: int
    runs: dict[str, dict] = field(default_factory=dict)

    def throughput(self, impl: str, cpu: bool = False) -> float:
        """Median rows per (CPU) second of ``impl``."""
        key = "cpu_seconds" if cpu else "seconds"
        return self.rows / statistics.median(self.runs[impl][key])

    def extra_mb(self, impl: str) -> float:
        return self.runs[impl]["extra_bytes"] / 2**20

    def as_json(self) -> dict:
        throughput = {impl: self.throughput(impl) for impl in self.runs}
        return {"rows": self.rows, "runs": self.runs, "throughput": throughput}


def time_transform(settings: Settings, threads: int) -> TransformResult:
    """skae's and the loop's ``transform`` of MNIST-sized rows, in a fresh process.

    Both encode with the same weights: a 784-256-64 skae autoencoder fitted
    here for one epoch and handed to the worker as a pickle.
    """
    est = skae.AutoencoderTransformer(
        64,
        encoder_params={"hidden_layer_sizes": (256,)},
        max_iter=1,
        device="cpu",
        random_state=SEED,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(synthetic(256))
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder, "model.pkl")
        model.write_bytes(pickle.dumps(est))
        command = [sys.executable, str(WORKER), "--model", str(model)]
        command += ["--rows", str(settings.transform_rows), "--threads", str(threads)]
        command += ["--repeats", str(settings.repeats)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"The transform worker failed:\n{done.stderr}")
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    return TransformResult(settings.transform_rows, runs)


# ------------------------------------------------------------------ quality
@dataclass
class QualityRow:
    """One model at one ``n_components`` on the digits test split."""

    model: str
    k: int
    mse: float
    accuracy: float
    fit_seconds: float
    n_iter: int | None


def _probe_accuracy(Z_train, y_train, Z_test, y_test) -> float:
    """Test accuracy of a logistic regression on standardised codes."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return clf.fit(Z_train, y_train).score(Z_test, y_test)


def measure_quality(settings: Settings) -> list[QualityRow]:
    """Test MSE, probe accuracy and fit time on digits, for PCA and skae's defaults.

    The 75/25 split uses ``random_state=0``; MinMaxScaler is fitted on the
    train split. skae gets only ``n_components`` and ``random_state``.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    scaler = MinMaxScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    extra = (
        {}
        if settings.quality_max_iter is None
        else {"max_iter": settings.quality_max_iter}
    )
    rows = []
    for k in settings.quality_ks:
        models = {
            "PCA": PCA(k, random_state=0),
            "AutoencoderTransformer": skae.AutoencoderTransformer(
                k, random_state=0, **extra
            ),
            "VAE": skae.VAE(k, random_state=0, **extra),
        }
        for name, model in models.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X_train)
            seconds = time.perf_counter() - start
            Z_train, Z_test = model.transform(X_train), model.transform(X_test)
            mse = float(np.mean((model.inverse_transform(Z_test) - X_test) ** 2))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                accuracy = _probe_accuracy(Z_train, y_train, Z_test, y_test)
            n_iter = getattr(model, "n_iter_", None)
            rows.append(QualityRow(name, k, mse, accuracy, seconds, n_iter))
    return rows
