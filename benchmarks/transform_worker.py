"""Time ``transform`` implementations and their peak memory, in a fresh process.

Run by ``run.py`` with a pickled, fitted skae autoencoder; prints one JSON
object. ``skae`` is the estimator's ``transform``; ``loop`` is the minimal
blocked loop over the same encoder. A fresh process keeps the suite's earlier
allocations from hiding the peak. The input is allocated (and touched) first;
then, before each call, the peak resident size is reset (Linux), and what the
call added beyond its input and output is the new peak minus the size before
the call minus the output. Where the peak cannot be reset only each
implementation's first timed call is measured, flagged ``masked`` when an
earlier peak was higher. One untimed call on a block of rows warms each up.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's skae
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules

import baselines
import hardware


def measure(
    encode: Callable[[np.ndarray], np.ndarray], X: np.ndarray, run: dict, first: bool
) -> None:
    """Time one call of ``encode`` and record its memory beyond input and output."""
    reset = hardware.reset_peak()
    before, earlier_peak = hardware.rss_now(), hardware.rss_peak()
    start, cpu_start = time.perf_counter(), time.process_time()
    Z = encode(X)
    run["seconds"].append(time.perf_counter() - start)
    run["cpu_seconds"].append(time.process_time() - cpu_start)
    extra = hardware.rss_peak() - before - Z.nbytes
    run["output_bytes"] = Z.nbytes
    if first or reset:  # without a reset, later peaks are hidden by earlier ones
        run["extra_bytes"] = max(run.get("extra_bytes", extra), extra)
        run["masked"] = run.get("masked", False) or earlier_peak > before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="pickled skae AE")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with args.model.open("rb") as f:
        est = pickle.load(f)
    encoders = {
        "skae": est.transform,
        "loop": lambda X: baselines.encode_loop(
            est.module_.encoder, X, est.n_components
        ),
    }
    rng = np.random.default_rng(0)
    X = rng.random((args.rows, est.n_features_in_), dtype=np.float32)
    for encode in encoders.values():  # warm-up: first-call costs, untimed
        encode(X[: baselines.INFERENCE_BLOCK])
    runs = {
        impl: {"seconds": [], "cpu_seconds": [], "input_bytes": X.nbytes}
        for impl in encoders
    }
    for repeat in range(args.repeats):
        for impl, encode in encoders.items():  # interleaved
            measure(encode, X, runs[impl], first=repeat == 0)
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
