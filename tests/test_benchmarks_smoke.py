"""The benchmark suite runs end to end: ``benchmarks/run.py --quick``."""

import json
import math
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # about 12 s: two processes import torch
CASES = ["train-digits-ae", "train-digits-vae", "train-mnist-ae", "train-mnist-vae"]
IMPLS = {"skae", "loop"} | ({"skorch"} if find_spec("skorch") else set())


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(path.read_text())


def test_table_names_every_case(quick):
    table, _ = quick
    for name in [*CASES, "transform", "Quality beside PCA", "Targets"]:
        assert name in table


def test_machine_and_threads_are_stated(quick):
    _, results = quick
    machine = results["machine"]
    assert machine["torch threads"].startswith("1 ")
    assert "GFLOP/s" in machine["float32 GEMM 1024^3"]
    assert machine["CPU"] and machine["load average before"]


def test_training_numbers_are_sane(quick):
    _, results = quick
    assert [r["case"] for r in results["training"]] == CASES
    for r in results["training"]:
        assert set(r["throughput"]) == IMPLS
        assert all(positive(v) for v in r["throughput"].values())
        assert r["n_params"] > 1000
    assert positive(results["gflops"])


def test_transform_and_quality_numbers_are_sane(quick):
    _, results = quick
    runs = results["transform"]["runs"]
    assert set(runs) == {"skae", "loop"}
    rows = results["transform"]["rows"]
    for run in runs.values():
        assert all(positive(s) for s in run["seconds"])
        assert run["input_bytes"] == rows * 784 * 4
        assert run["output_bytes"] == rows * 64 * 4
        assert isinstance(run["extra_bytes"], int)  # a target, not asserted here
    quality = results["quality"]
    assert {r["model"] for r in quality} == {"PCA", "AutoencoderTransformer", "VAE"}
    for r in quality:
        assert positive(r["mse"]) and 0 < r["accuracy"] <= 1 and r["fit_seconds"] >= 0
