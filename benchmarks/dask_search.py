"""Time a GridSearchCV serially and on a 2-worker Dask cluster.

    .venv/bin/pip install -e ".[dask]"
    .venv/bin/python benchmarks/dask_search.py [--repeats 5] [--max-iter 20]
    .venv/bin/python benchmarks/dask_search.py --quick   # smoke run: 1 repeat, 2 epochs

The search: ``AutoencoderTransformer`` on digits (1797 x 64, divided by 16),
8 candidates (``n_components`` in 2, 4, 8, 16 by ``learning_rate`` in 1e-3,
3e-3) x 3 folds = 24 fits, ``refit=False`` (the refit is one serial fit in
both cases). Serially it runs in this process on 1 thread (torch and numpy's
BLAS); in parallel under ``joblib.parallel_backend("dask")`` on a
``distributed.LocalCluster`` on loopback: 2 worker processes, 1 thread each.
One untimed search of each kind warms up first (the workers import torch and
skae); then the timed repeats alternate, serial and Dask, and the medians are
reported. Target (issue 12):
Dask at least 1.6x faster than serial. CPU seconds count this process (the
client, and with LocalCluster the scheduler) plus the workers, so the Dask
overhead shows even when other load on the machine skews the wall times.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from skae import AutoencoderTransformer

# Run as a script, this folder comes first on sys.path, for this process and
# the workers it spawns; its distributed.py must not shadow the package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

GRID = {"n_components": [2, 4, 8, 16], "learning_rate": [1e-3, 3e-3]}
TARGET = 1.6


def search(
    X: np.ndarray, max_iter: int, client=None
) -> tuple[float, float, np.ndarray]:
    """Wall seconds and CPU seconds (all processes) of one search, and its scores."""
    est = AutoencoderTransformer(max_iter=max_iter, random_state=0, device="cpu")
    grid = GridSearchCV(est, GRID, cv=3, refit=False, error_score="raise")
    cpu = time.process_time() + _workers_cpu(client)
    start = time.perf_counter()
    if client is not None:
        with joblib.parallel_backend("dask"):
            grid.fit(X)
    else:
        grid.fit(X)
    wall = time.perf_counter() - start
    cpu = time.process_time() + _workers_cpu(client) - cpu
    return wall, cpu, grid.cv_results_["mean_test_score"]


def _workers_cpu(client) -> float:
    return 0.0 if client is None else sum(client.run(time.process_time).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs")
    args = parser.parse_args()
    repeats, max_iter = (1, 2) if args.quick else (args.repeats, args.max_iter)

    import distributed  # the dask extra, after the sys.path fix above

    # One thread for torch and numpy's BLAS here, as Dask gives its workers.
    torch.set_num_threads(1)
    threadpool_limits(1)
    X = load_digits().data / 16.0
    print(f"load average before: {os.getloadavg()}")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        clients = {"serial": None, "dask": client}
        for kind in clients:  # warm-up, untimed
            search(X, max_iter, clients[kind])
        times: dict[str, list[tuple[float, float]]] = {"serial": [], "dask": []}
        for _ in range(repeats):
            for kind in times:
                wall, cpu, scores = search(X, max_iter, clients[kind])
                times[kind].append((wall, cpu))
                if kind == "serial":
                    serial_scores = scores
                else:
                    np.testing.assert_array_equal(scores, serial_scores)
    medians = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    serial, dask = medians["serial"], medians["dask"]
    print(f"load average after: {os.getloadavg()}")
    print(
        f"GridSearchCV, 8 candidates x 3 folds, digits, max_iter={max_iter}, "
        f"{repeats} interleaved repeats (medians)"
    )
    for kind, seconds in medians.items():
        runs = ", ".join(f"{w:.2f}" for w, _ in times[kind])
        cpu = statistics.median(c for _, c in times[kind])
        print(f"  {kind:>6}: {seconds:6.2f} s wall, {cpu:6.2f} s CPU   (runs: {runs})")
    verdict = "met" if serial / dask >= TARGET else "missed"
    print(f"  speed-up {serial / dask:.2f}x (target >= {TARGET}x: {verdict})")
    print("  scores: identical in every Dask run to the serial search")


if __name__ == "__main__":
    main()
