"""Out-of-core training: memory and throughput of a fit on a >= 1 GiB memmap.

    .venv/bin/python benchmarks/out_of_core.py            # 1.1 GB memmap, 3 repeats
    .venv/bin/python benchmarks/out_of_core.py --rows 50000 --repeats 1   # quick

Two figures, for docs/scaling.md and docs/benchmarks.md:

- memory: the peak growth of anonymous resident memory (``RssAnon`` in
  /proc/self/status, sampled every 5 ms; it leaves out the file's page cache)
  over ``fit`` plus ``transform`` of a read-only memmap, measured in a fresh
  process; the target is at most 300 MiB for at least 1 GiB of data;
- throughput: rows per second of one epoch of a 784-256-64 autoencoder on the
  memmap (streamed through skae's shuffle buffer) against the same rows in
  memory, runs interleaved, medians; the target is a ratio of at least 0.8
  (``sampler="prior"``, so that the post-training mixture on 2,048 codes, the
  same whatever the storage, does not blur the ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

MEMORY = """
import json, sys, threading
import numpy as np, torch
torch.set_num_threads(1)
from skae import AutoencoderTransformer

def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024

path, n = sys.argv[1], int(sys.argv[2])
data = np.memmap(path, dtype=np.float32, mode="r", shape=(n, 784))
AutoencoderTransformer(64, max_iter=1).fit(np.array(data[:1000]))  # warm up torch
before, peak, done = anon(), [0], threading.Event()

def watch():
    while not done.wait(0.005):
        peak[0] = max(peak[0], anon())

watcher = threading.Thread(target=watch)
watcher.start()
ae = AutoencoderTransformer(64, max_iter=1, random_state=0).fit(data)
codes = ae.transform(data)
done.set()
watcher.join()
print(json.dumps({"peak_growth": max(peak[0], anon()) - before, "codes": codes.nbytes}))
"""


def write_memmap(path: str, n: int) -> None:
    data = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, 784))
    for start in range(0, n, 20_000):
        stop = min(start + 20_000, n)
        data[start:stop] = np.random.default_rng(start).random((stop - start, 784))
    data.flush()


def epoch_rate(data, n_rows: int) -> float:
    import torch

    from skae import AutoencoderTransformer

    torch.set_num_threads(1)
    # sampler="prior": the ex-post mixture is fitted to 2,048 codes whatever
    # the storage (seconds at k=64), which is no part of reading the rows.
    ae = AutoencoderTransformer(64, max_iter=1, random_state=0, sampler="prior")
    start = time.perf_counter()
    ae.fit(data)
    return n_rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=350_000, help="rows of 784 floats")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speed-rows", type=int, default=100_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="skae-ooc-")
    path = os.path.join(folder, "X.dat")
    try:
        write_memmap(path, args.rows)
        size = args.rows * 784 * 4
        out = subprocess.run(
            [sys.executable, "-c", MEMORY, path, str(args.rows)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        memory = json.loads(out.stdout.strip().splitlines()[-1])
        disk = np.memmap(path, dtype=np.float32, mode="r", shape=(args.rows, 784))
        on_disk = disk[: args.speed_rows]
        in_memory = np.array(on_disk)
        rates = {"memmap": [], "memory": []}
        for _ in range(args.repeats):  # interleaved
            rates["memmap"].append(epoch_rate(on_disk, args.speed_rows))
            rates["memory"].append(epoch_rate(in_memory, args.speed_rows))
        medians = {k: float(np.median(v)) for k, v in rates.items()}
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    growth = memory["peak_growth"] / 2**20
    print("| figure | measured | target | met |")
    print("| --- | --- | --- | --- |")
    print(
        f"| peak RssAnon growth, fit + transform of a {size / 2**30:.2f} GiB memmap "
        f"(codes {memory['codes'] / 2**20:.0f} MiB included) | {growth:.0f} MiB "
        f"| <= 300 MiB | {'yes' if growth <= 300 else 'NO'} |"
    )
    ratio = medians["memmap"] / medians["memory"]
    print(
        f"| one epoch, 784-256-64, {args.speed_rows:,} rows: memmap "
        f"{medians['memmap']:,.0f} rows/s vs memory {medians['memory']:,.0f} rows/s "
        f"| {ratio:.2f}x | >= 0.80x | {'yes' if ratio >= 0.8 else 'NO'} |"
    )


if __name__ == "__main__":
    main()
