"""Inference in fixed blocks of rows, under ``torch.inference_mode()``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch

from .rows import to_tensor

# Inference runs in blocks of exactly this many rows (see predict).
INFERENCE_BATCH_SIZE = 512


def autocast(device_type: str, precision: torch.dtype | None):
    """``torch.autocast`` to ``precision``, or no context at all for float32."""
    if precision is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=precision)


def predict(
    fn: Callable[[torch.Tensor], torch.Tensor],
    X,
    *,
    width: int | None,
    dtype: np.dtype,
    device: torch.device,
    what: str,
    precision: torch.dtype | None = None,
) -> np.ndarray:
    """Apply ``fn`` to ``X`` in batches under ``torch.inference_mode()``.

    Returns an array of ``dtype`` with ``width`` columns (1-D when None).
    Memory beyond ``X`` and the result stays within one batch. Non-finite
    results raise ``ValueError`` instead of reaching the user.

    Every call of ``fn`` gets exactly ``INFERENCE_BATCH_SIZE`` rows, the last
    block padded with zeros. float32 matrix kernels choose their blocking, and
    so their rounding, by batch size; fixed blocks make each row's result
    independent of the rows around it, bit for bit (``transform(X)[i]`` equals
    ``transform(X[i:i+1])``).
    """
    n = X.shape[0]
    out = np.empty((n,) if width is None else (n, width), dtype=dtype)
    with torch.inference_mode():
        for start in range(0, n, INFERENCE_BATCH_SIZE):
            stop = min(start + INFERENCE_BATCH_SIZE, n)
            block = to_tensor(X[start:stop], device)
            if len(block) < INFERENCE_BATCH_SIZE:
                pad = block.new_zeros(INFERENCE_BATCH_SIZE - len(block), block.shape[1])
                block = torch.cat([block, pad])
            with autocast(device.type, precision):
                result = fn(block)[: stop - start]
            out[start:stop] = result.float().cpu().numpy()
            if not np.isfinite(out[start:stop]).all():
                raise ValueError(
                    f"{what} produced non-finite values: the input is outside the "
                    "range this model can handle. Scale it as the training data "
                    "was scaled."
                )
    return out
