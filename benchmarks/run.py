"""skae's benchmark suite: speed against a hand-written loop and skorch, quality
against PCA.

    .venv/bin/python benchmarks/run.py              # the full suite, a few minutes
    .venv/bin/python benchmarks/run.py --quick      # a smoke run, seconds
    .venv/bin/python benchmarks/run.py --only 'train-*' --threads 2 --markdown

See benchmarks/README.md for what each case measures and why.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's skae
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules

import hardware
import report
import suite
from baselines import INFERENCE_BLOCK, skae_optimizer

# Targets from issue 6: (case pattern, implementation, lowest skae/impl ratio).
SPEED_TARGETS = [
    ("train-mnist-*", "loop", 0.95),
    ("train-digits-*", "loop", 0.90),
    ("train-*", "skorch", 1.00),
    ("train-digits-*", "skorch", 1.80),
]
# Highest AutoencoderTransformer / PCA test MSE, by n_components.
QUALITY_TARGETS = {2: 0.75, 5: 0.60, 16: 1.00, 32: 1.00}
FIT_SECONDS_TARGET = 10.0  # default digits fit, on 2 cores


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark skae against a hand-written loop, skorch and PCA."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run of seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--repeats", type=int, help="timed repeats (5; quick: 1)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        help=f"run only matching cases (glob, repeatable): {', '.join(suite.CASES)}",
    )
    parser.add_argument("--markdown", action="store_true", help="markdown tables")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write JSON")
    args = parser.parse_args(argv)
    patterns = args.only or ["*"]
    args.cases = [
        case for case in suite.CASES if any(fnmatch.fnmatch(case, p) for p in patterns)
    ]
    if not args.cases:
        parser.error(f"--only matches no case; cases are {', '.join(suite.CASES)}")
    return args


def training_table(results: list[suite.TrainResult], md: bool) -> str:
    headers = ["case", "model", "data x epochs", "skae /s", "loop /s", "skorch /s"]
    headers += ["skae/loop", "skae/skorch", "spread"]
    rows = [
        [
            r.case.name,
            r.case.arch.label(),
            f"{r.n_samples}x{r.case.arch.n_features} x {r.epochs}",
            report.rate(r.throughput("skae")),
            report.rate(r.throughput("loop")),
            report.rate(r.throughput("skorch")),
            report.ratio(r.ratio("loop")),
            report.ratio(r.ratio("skorch")),
            report.percent(r.spread()),
        ]
        for r in results
    ]
    return report.table(headers, rows, md)


def cpu_and_floor_table(
    results: list[suite.TrainResult], gflops: float, md: bool
) -> str:
    """The same runs by CPU time, and against the GEMM floor of this machine."""
    headers = ["case", "skae/loop (CPU)", "skae/skorch (CPU)"]
    headers += ["floor /s", "skae/floor", "loop/floor"]
    rows = []
    for r in results:
        floor = r.floor(gflops)
        rows.append(
            [
                r.case.name,
                report.ratio(r.ratio("loop", cpu=True)),
                report.ratio(r.ratio("skorch", cpu=True)),
                report.rate(floor),
                report.percent(r.throughput("skae") / floor),
                report.percent(r.throughput("loop") / floor),
            ]
        )
    return report.table(headers, rows, md)


def transform_table(result: suite.TransformResult, md: bool) -> str:
    headers = ["impl", "rows/s", "vs loop", "vs loop (CPU)", "MB beyond input+output"]
    rows = []
    for impl, run in result.runs.items():
        note = " (masked)" if run["masked"] else ""
        rows.append(
            [
                impl,
                report.rate(result.throughput(impl)),
                report.ratio(result.throughput(impl) / result.throughput("loop")),
                report.ratio(
                    result.throughput(impl, cpu=True)
                    / result.throughput("loop", cpu=True)
                ),
                f"{result.extra_mb(impl):.1f}{note}",
            ]
        )
    run = result.runs["skae"]
    sizes = (
        f"{result.rows} x 784 float32 -> 64 codes (784-256-64 encoder); input "
        f"{run['input_bytes'] / 2**20:.1f} MB, output "
        f"{run['output_bytes'] / 2**20:.1f} MB, one {INFERENCE_BLOCK}-row block "
        f"{INFERENCE_BLOCK * 784 * 4 / 2**20:.1f} MB"
    )
    return sizes + "\n\n" + report.table(headers, rows, md)


def quality_table(rows: list[suite.QualityRow], md: bool) -> str:
    pca = {r.k: r for r in rows if r.model == "PCA"}
    headers = ["k", "model", "test MSE", "vs PCA", "probe accuracy", "fit s", "epochs"]
    body = [
        [
            str(r.k),
            r.model,
            f"{r.mse:.5f}",
            report.ratio(r.mse / pca[r.k].mse),
            f"{r.accuracy:.3f}",
            f"{r.fit_seconds:.2f}",
            "" if r.n_iter is None else str(r.n_iter),
        ]
        for r in rows
    ]
    return report.table(headers, body, md)


def verdicts(
    training: list[suite.TrainResult], quality: list[suite.QualityRow], threads: int
) -> list[list[str]]:
    """``[target, measured, met]`` for each target of issue 6 this run measured."""
    out = []
    for pattern, impl, lowest in SPEED_TARGETS:
        for r in training:
            value = r.ratio(impl)
            if fnmatch.fnmatch(r.case.name, pattern) and value is not None:
                target = f"{r.case.name} skae/{impl} >= {lowest:.2f}x"
                out.append([target, report.ratio(value), _met(value >= lowest)])
    pca = {r.k: r.mse for r in quality if r.model == "PCA"}
    for r in quality:
        if r.model != "AutoencoderTransformer":
            continue
        if r.k in QUALITY_TARGETS:
            value, highest = r.mse / pca[r.k], QUALITY_TARGETS[r.k]
            target = f"k={r.k} AE/PCA test MSE <= {highest:.2f}x"
            out.append([target, report.ratio(value), _met(value <= highest)])
        target = f"k={r.k} default fit < {FIT_SECONDS_TARGET:.0f} s (on 2 cores)"
        fit = f"{r.fit_seconds:.2f} s ({threads} thread(s))"
        out.append([target, fit, _met(r.fit_seconds < FIT_SECONDS_TARGET)])
    return out


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def measure(args: argparse.Namespace) -> dict:
    """Run the chosen cases; every result, and the machine they ran on."""
    settings = suite.QUICK if args.quick else suite.FULL
    if args.repeats is not None:
        settings = replace(settings, repeats=args.repeats)
    started, load_before = time.perf_counter(), hardware.load_average()
    torch.set_num_threads(args.threads)
    optimizer = skae_optimizer()
    gemm = hardware.GemmRate()
    gemm.sample(settings.gemm_seconds)
    info = hardware.machine(args.threads)
    info["optimizer (read from skae)"] = optimizer.describe()
    info["batch size"] = str(suite.BATCH_SIZE)
    info["repeats"] = f"{settings.repeats} (medians; runs interleaved)"
    training, transform, quality = [], None, []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for case in suite.TRAIN_CASES:
            if case.name in args.cases:
                training.append(suite.time_training(case, settings, optimizer, gemm))
        if "transform" in args.cases:
            transform = suite.time_transform(settings, args.threads)
        if "quality" in args.cases:
            quality = suite.measure_quality(settings)
    gemm.sample(settings.gemm_seconds)
    info["float32 GEMM 1024^3"] = (
        f"{gemm.best:.1f} GFLOP/s at {args.threads} thread(s) (best sample)"
    )
    info["load average before"] = load_before
    info["load average after"] = hardware.load_average()
    info["suite wall time"] = f"{time.perf_counter() - started:.0f} s"
    return {
        "mode": "quick smoke run" if args.quick else "full suite",
        "machine": info,
        "gflops": gemm.best,
        "settings": settings,
        "training": training,
        "transform": transform,
        "quality": quality,
        "targets": verdicts(training, quality, args.threads),
    }


def render(results: dict, md: bool) -> str:
    """All tables of ``results``, as text or markdown."""
    sections = [
        report.heading(f"skae benchmarks ({results['mode']})", md),
        report.table(["setting", "value"], list(results["machine"].items()), md),
    ]
    if results["training"]:
        sections.append(report.heading("Training throughput (samples/s)", md))
        sections.append(training_table(results["training"], md))
        sections.append(report.heading("Training by CPU time, and the floor", md))
        sections.append(cpu_and_floor_table(results["training"], results["gflops"], md))
    if results["transform"]:
        sections.append(report.heading("transform throughput and memory", md))
        sections.append(transform_table(results["transform"], md))
    if results["quality"]:
        sections.append(report.heading("Quality beside PCA on digits", md))
        sections.append(quality_table(results["quality"], md))
    if results["targets"]:
        quick = results["mode"].startswith("quick")
        note = ": not meaningful in a quick run" if quick else ""
        sections.append(report.heading(f"Targets (issue 6){note}", md))
        headers = ["target", "measured", "met"]
        sections.append(report.table(headers, results["targets"], md))
    return "\n\n".join(sections)


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen cases, print the tables, and return the raw results."""
    args = parse_args(argv)
    results = measure(args)
    print(render(results, args.markdown))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=suite.as_json))
    return results


if __name__ == "__main__":
    main()
