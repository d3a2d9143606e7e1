"""What the numbers were taken on: the machine, its matrix-multiply rate, memory use."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from importlib import metadata

import torch


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` shows them."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine(threads: int) -> dict[str, str]:
    """The facts a reader needs to compare numbers across machines."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return {
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "torch threads": f"{threads} (torch.set_num_threads)",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "scikit-learn": _version("scikit-learn"),
        "skorch": _version("skorch"),
        "skae": _version("skae"),
        "platform": platform.platform(),
    }


class GemmRate:
    """The best float32 ``n x n`` matrix-multiply rate seen, in GFLOP/s.

    :meth:`sample` is called between timed runs all through the suite, at
    torch's thread count: on a shared machine, the best sample is the closest
    to the hardware's limit.
    """

    def __init__(self, n: int = 1024) -> None:
        self.a, self.b = torch.randn(n, n), torch.randn(n, n)
        self.flop = 2 * n**3
        self.best = 0.0
        self.a @ self.b  # warm-up

    def sample(self, seconds: float) -> float:
        """Time products for about ``seconds`` (at least one); the best rate so far."""
        deadline = time.perf_counter() + seconds
        while True:
            start = time.perf_counter()
            self.a @ self.b
            self.best = max(self.best, self.flop / (time.perf_counter() - start) / 1e9)
            if time.perf_counter() > deadline:
                return self.best


def rss_now() -> int:
    """Resident memory of this process now, in bytes."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Restart :func:`rss_peak` from the current size; False where unsupported.

    Linux resets the peak (``VmHWM``) when "5" is written to
    ``/proc/self/clear_refs``; elsewhere the peak covers the whole process.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


def rss_peak() -> int:
    """Peak resident memory of this process, in bytes, since start or reset."""
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _status_bytes(key: str) -> int | None:
    """A ``kB`` field of /proc/self/status in bytes, or None without one."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
