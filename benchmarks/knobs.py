"""Time skae's GPU knobs: mixed ``precision`` and ``compile``, on one device.

    .venv/bin/python benchmarks/knobs.py --device cuda      # on a GPU machine
    .venv/bin/python benchmarks/knobs.py --quick            # smoke run on the CPU

For each combination it fits the MNIST-sized models of the main suite
(784-256-64 AutoencoderTransformer and VAE, batch 128, synthetic data) and
reports training throughput after one warm-up fit (which also pays any
compilation), plus ``transform`` throughput, relative to float32 uncompiled.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings

import numpy as np
import torch

import skae

PRECISIONS = ("float32", "bfloat16", "float16")


def _fit_seconds(est, X: np.ndarray, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        if est.device != "cpu" and torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        est.fit(X)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    device: str, rows: int, epochs: int, repeats: int, compile_too: bool
) -> list[dict]:
    """One row per (model, precision, compile): samples/s and rows/s."""
    X = np.random.default_rng(0).random((rows, 784), dtype=np.float32)
    results = []
    compiles = (False, True) if compile_too else (False,)
    for cls, precision, compile in itertools.product(
        (skae.AutoencoderTransformer, skae.VAE), PRECISIONS, compiles
    ):
        est = cls(
            64,
            encoder_params={"hidden_layer_sizes": (256,)},
            max_iter=epochs,
            device=device,
            random_state=0,
            precision=precision,
            compile=compile,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X[:1024])  # warm-up: kernels, autotuning, compilation
            seconds = _fit_seconds(est, X, repeats)
        start = time.perf_counter()
        est.transform(X)
        results.append(
            {
                "model": cls.__name__,
                "precision": precision,
                "compile": compile,
                "train /s": rows * epochs / seconds,
                "transform /s": rows / (time.perf_counter() - start),
            }
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip compile=True")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.repeats, args.no_compile = 2048, 1, 1, True
    rows = measure(
        args.device, args.rows, args.epochs, args.repeats, not args.no_compile
    )
    base = {r["model"]: r for r in rows if r["precision"] == "float32"}
    print(f"device={args.device} torch={torch.__version__} rows={args.rows}")
    print("| model | precision | compile | train /s | vs float32 | transform /s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ratio = r["train /s"] / base[r["model"]]["train /s"]
        print(
            f"| {r['model']} | {r['precision']} | {r['compile']} | "
            f"{r['train /s']:,.0f} | {ratio:.2f}x | {r['transform /s']:,.0f} |"
        )


if __name__ == "__main__":
    main()
