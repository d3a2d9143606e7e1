"""Data-parallel scaling on the CPU: 1 process against 2 gloo ranks on loopback.

    .venv/bin/python benchmarks/ddp.py [--rows 20000] [--epochs 2]

Each configuration fits a 784-256-64 AutoencoderTransformer (batch 128, the
global batch under ``skae.data_parallel()``) on the same synthetic
MNIST-sized rows, one torch thread per process; the ranks start together and
the slowest rank's fit time counts. Runs alternate (1, 2, 1, 2, ...); medians.
On a 2-core machine two ranks share the cores a single process could use for
its own BLAS threads, and every step pays an all-reduce, so expect little or
no speed-up here: the point of data-parallel training is more devices, each
with a full core budget (or a GPU) of its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

RANK = """
import json, sys, time
import numpy as np, torch, torch.distributed as dist
torch.set_num_threads(1)
import skae

rank, world, store, rows, epochs = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                    int(sys.argv[4]), int(sys.argv[5]))
X = np.random.default_rng(0).random((rows, 784), dtype=np.float32)
ae = skae.AutoencoderTransformer(64, max_iter=epochs, random_state=0, sampler="prior")
if world == 1:
    start = time.perf_counter(); ae.fit(X); seconds = time.perf_counter() - start
else:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                            world_size=world)
    with skae.data_parallel():
        dist.barrier()
        start = time.perf_counter(); ae.fit(X); seconds = time.perf_counter() - start
    dist.destroy_process_group()
print(json.dumps({"seconds": seconds}))
"""


def run(world: int, rows: int, epochs: int, folder: Path, attempt: int) -> float:
    script = folder / "rank.py"
    script.write_text(textwrap.dedent(RANK))
    store = folder / f"store-{world}-{attempt}"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(r),
                str(world),
                str(store),
                str(rows),
                str(epochs),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in range(world)
    ]
    times = [json.loads(p.communicate(timeout=900)[0])["seconds"] for p in processes]
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(args.repeats):
            for world in (1, 2):
                seconds[world].append(
                    run(world, args.rows, args.epochs, Path(folder), attempt)
                )
    medians = {w: float(np.median(s)) for w, s in seconds.items()}
    samples = args.rows * args.epochs
    print("| processes | fit s (median) | samples/s | speed-up |")
    print("| --- | --- | --- | --- |")
    for world, median in medians.items():
        print(
            f"| {world} | {median:.2f} | {samples / median:,.0f} | "
            f"{medians[1] / median:.2f}x |"
        )


if __name__ == "__main__":
    main()
