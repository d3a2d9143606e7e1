"""Time a GridSearchCV serially and on a 2-worker Dask cluster.

    .venv/bin/pip install -e ".[dask]"
    .venv/bin/python benchmarks/dask_search.py [--repeats 3] [--max-iter 200]
    .venv/bin/python benchmarks/dask_search.py --quick   # smoke run: 1 repeat, 2 epochs
    .venv/bin/python benchmarks/dask_search.py --ceiling  # what the 2 cores allow
    .venv/bin/python benchmarks/dask_search.py --fixed-heap  # skae before 2026-12-05

The search: ``AutoencoderTransformer`` on digits (1797 x 64, divided by 16),
with its default 200 epochs unless ``--max-iter`` says otherwise,
8 candidates (``n_components`` in 2, 4, 8, 16 by ``learning_rate`` in 1e-3,
3e-3) x 3 folds = 24 fits, ``refit=False`` (the refit is one serial fit in
both cases). Serially it runs on 1 thread in a child process of this script
that imports no Dask, so it shares no process with the scheduler and the
nannies. In parallel it runs under ``joblib.parallel_backend("dask")`` on a
``distributed.LocalCluster`` with its defaults, on loopback: 2 worker
processes, 1 thread each, as a user would start it. Both processes set
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` to 1
before they import numpy, as Dask's nanny does for its workers:
``threadpool_limits`` alone misses the thread pools loaded later
(scikit-learn's OpenMP and SciPy's OpenBLAS, which the fit's latent mixture
uses), whose idle threads spin on the second core. One untimed search of each
kind warms up first (the workers import torch and skae); then the timed
repeats alternate, serial and Dask, and the medians are reported; every Dask
search must give the serial search's scores exactly. Target (issue 12): Dask
at least 1.6x faster than serial. CPU seconds count the serial process, and
for Dask this process (the client, and with LocalCluster the scheduler and
the nannies) plus the workers, so the Dask overhead shows even when other
load on the machine skews the wall times.

``--fixed-heap`` runs the workers' fits as skae did before 2026-12-05, with
glibc's malloc thresholds as Dask's nanny fixes them
(``MALLOC_TRIM_THRESHOLD_=65536``), to show what ``skae._parallel`` changes.

``--ceiling`` runs no Dask: it times the serial search in one child process
alone, then in two child processes at the same time (each on 1 thread,
imported and warmed up, started by one message each), and reports the
per-process medians. Two independent cores would run the pair as fast as one
search alone; ``2 x alone / pair`` bounds any 2-process speed-up on this
machine, Dask's included.
"""

from __future__ import annotations

import os

# Before numpy, scipy and torch load their thread pools (see the docstring).
os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import json
import logging
import statistics
import subprocess
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


def _keep_fixed_heap() -> None:
    """In a worker: leave glibc's thresholds as the environment fixed them."""
    import skae._parallel

    skae._parallel._raise_thresholds = lambda: None


def _one_thread() -> np.ndarray:
    torch.set_num_threads(1)
    threadpool_limits(1)
    return load_digits().data / 16.0


class SerialSearches:
    """A child process of this script that runs serial searches on request.

    It imports no Dask and hosts no part of the cluster, so a serial search
    there shares nothing with the scheduler and nannies of this process.
    """

    def __init__(self, max_iter: int):
        command = [sys.executable, __file__, "--max-iter", str(max_iter), "--serve"]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._line() == "ready"  # imported, and one search warmed up

    def start(self) -> None:
        self.process.stdin.write("search\n")
        self.process.stdin.flush()

    def result(self) -> tuple[float, float, np.ndarray]:
        wall, cpu, scores = json.loads(self._line())
        return wall, cpu, np.array(scores)

    def close(self) -> None:
        self.process.stdin.close()
        if self.process.wait():
            raise SystemExit("a serial search failed")

    def _line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("a serial search failed")
        return line.strip()


def serve(max_iter: int) -> None:
    """The child of SerialSearches: one search per line read from stdin."""
    X = _one_thread()
    search(X, max_iter)  # warm-up
    print("ready", flush=True)
    for _ in sys.stdin:
        wall, cpu, scores = search(X, max_iter)
        print(json.dumps([wall, cpu, scores.tolist()]), flush=True)


def ceiling(repeats: int, max_iter: int) -> None:
    """Serial searches in one process alone, then in two at the same time."""
    alone, pair = [], []
    children = [SerialSearches(max_iter), SerialSearches(max_iter)]
    for _ in range(repeats):
        children[0].start()
        alone.append(children[0].result()[0])
        for c in children:
            c.start()
        walls = [c.result()[0] for c in children]
        pair.append(statistics.mean(walls))
        print(
            f"  alone {alone[-1]:.2f} s, two at once {walls[0]:.2f} s, {walls[1]:.2f} s"
        )
    for c in children:
        c.close()
    a, p = statistics.median(alone), statistics.median(pair)
    print(f"load average after: {os.getloadavg()}")
    print(
        f"Serial search, 8 candidates x 3 folds, digits, max_iter={max_iter}, "
        f"{repeats} repeats (medians), 1 thread per process"
    )
    print(f"  one process alone:           {a:6.2f} s")
    print(f"  two processes at once, each: {p:6.2f} s ({p / a:.2f}x the time alone)")
    print(
        f"  ceiling of a 2-process speed-up: 2 x {a:.2f} / {p:.2f} = {2 * a / p:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--max-iter", type=int, default=200, help="epochs per fit (the default's)"
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 epochs")
    parser.add_argument(
        "--ceiling", action="store_true", help="serial search alone and two at once"
    )
    parser.add_argument(
        "--fixed-heap",
        action="store_true",
        help="workers keep the malloc thresholds Dask's nanny fixes (skae before)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats, max_iter = (1, 2) if args.quick else (args.repeats, args.max_iter)
    if args.serve:
        return serve(max_iter)
    print(f"load average before: {os.getloadavg()}")
    if args.ceiling:
        return ceiling(repeats, max_iter)

    import distributed  # the dask extra, after the sys.path fix above

    # Started before the cluster: the nanny sets its workers' variables in
    # this process's environment too, and later children would inherit them.
    serial = SerialSearches(max_iter)
    X = _one_thread()
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
        if args.fixed_heap:
            client.run(_keep_fixed_heap)
        search(X, max_iter, client)  # warm-up, untimed (the serial child has had its)
        times: dict[str, list[tuple[float, float]]] = {"serial": [], "dask": []}
        for _ in range(repeats):
            serial.start()
            wall, cpu, serial_scores = serial.result()
            times["serial"].append((wall, cpu))
            wall, cpu, scores = search(X, max_iter, client)
            times["dask"].append((wall, cpu))
            np.testing.assert_array_equal(scores, serial_scores)
    serial.close()
    medians = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    serial, dask = medians["serial"], medians["dask"]
    print(f"load average after: {os.getloadavg()}")
    heap = ", workers' malloc thresholds left fixed" if args.fixed_heap else ""
    print(
        f"GridSearchCV, 8 candidates x 3 folds, digits, max_iter={max_iter}, "
        f"{repeats} interleaved repeats (medians){heap}"
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
