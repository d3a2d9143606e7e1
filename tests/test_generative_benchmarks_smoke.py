"""The generative benchmarks run end to end in their ``--quick`` mode.

``--quick`` trains for a few epochs, so these check the scripts (every table
and row is printed, the numbers are finite), not the figures in the docs.
"""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MINUS = "\u2212"  # generative_tuning.py writes negative numbers with it
pytestmark = pytest.mark.slow  # 10 to 20 s each: each trains dozens of models


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def table_rows(text: str, section: str) -> dict[str, list[str]]:
    """The body rows of the first Markdown table after ``### section``."""
    body = text.split(f"### {section}\n", 1)[1]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]
    return {c[0]: c[1:] for c in cells}


def numbers(cells: list[str]) -> list[float]:
    text = " ".join(cells).replace(MINUS, "-")
    assert "nan" not in text and "inf" not in text, text
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def test_generative_prints_every_table_with_finite_numbers():
    out = run("generative.py", "--quick", "--mig-seeds", "2")
    loglik = table_rows(out, "loglik")
    assert {"FactorAnalysis", "VAE", "BetaVAE(beta=4)"} <= set(loglik)
    samples = table_rows(out, "samples")
    for source in ("GaussianMixture(10) on pixels", "VAE, mixture", "VAE, prior"):
        assert source in samples
    mig = table_rows(out, "mig")
    assert set(mig) == {"VAE", "BetaVAE(beta=4)"}
    assert all(len(cells) == 3 for cells in mig.values())  # 2 seeds and the mean
    for rows in (loglik, samples, mig):
        values = [v for cells in rows.values() for v in numbers(cells)]
        assert values and all(math.isfinite(v) for v in values)


def test_generative_refuses_a_bad_seed_count():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "generative.py"),
            "--mig-seeds",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "--mig-seeds: must be a positive integer, got '0'" in done.stderr


def test_generative_tuning_prints_every_section():
    out = run("generative_tuning.py", "all", "--quick")
    for section in ("iw", "likelihoods", "unit", "training", "shrinkage"):
        assert table_rows(out, section), section
    shrinkage = table_rows(out, "shrinkage")
    assert "0.2 (default)" in shrinkage and len(shrinkage) == 5


def test_sampler_tuning_prints_every_section():
    out = run("sampler_tuning.py", "all", "--quick")
    for section in ("components", "systematic", "means"):
        assert table_rows(out, section), section
