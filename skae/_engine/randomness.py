"""Torch's process-wide generators, seeded for a fit and restored after it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

# Module randomness (dropout) draws from torch's process-wide generators, which
# training seeds and restores. Building and training take this lock, so that
# concurrent fits in threads cannot reseed each other's generator mid-way.
GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators from ``seed``; restore them afterwards.

    Modules draw their own randomness (dropout) from the global generators of
    the CPU and of their device; seeding them makes such fits reproducible,
    and restoring them leaves the caller's random state as it was.
    """
    backend = {"cuda": torch.cuda, "mps": getattr(torch, "mps", None)}.get(device.type)
    with GLOBAL_RNG_LOCK:
        cpu_state = torch.get_rng_state()
        if backend is torch.cuda:
            with torch.cuda.device(device):
                device_state = torch.cuda.get_rng_state()
                torch.cuda.manual_seed(seed)
        elif backend is not None:
            device_state = backend.get_rng_state()
            backend.manual_seed(seed)
        torch.default_generator.manual_seed(seed)
        try:
            yield
        finally:
            torch.set_rng_state(cpu_state)
            if backend is torch.cuda:
                with torch.cuda.device(device):
                    torch.cuda.set_rng_state(device_state)
            elif backend is not None:
                backend.set_rng_state(device_state)
