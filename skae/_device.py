"""Choosing the torch device an estimator trains and predicts on."""

from __future__ import annotations

import re
import warnings

import torch

from .exceptions import InvalidParameterError

# Matched whole (fullmatch: "$" would accept a trailing newline), ASCII digits
# only and no leading zero, exactly the strings torch.device accepts.
_DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:(0|[1-9][0-9]*))?")
DEVICE_HELP = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def is_device_name(value: object) -> bool:
    """Whether ``value`` is a device string skae understands (available or not)."""
    return isinstance(value, str) and _DEVICE_PATTERN.fullmatch(value) is not None


def check_device(value: object, owner: str) -> str:
    """``value`` if it is a device string skae understands, else a clear error.

    Raises :class:`~skae.exceptions.InvalidParameterError` in scikit-learn's
    wording, naming ``owner`` (the estimator, or a command such as
    ``"skae demo"``). Whether this machine has the device is another question:
    see :func:`unavailable_reason`.
    """
    if not is_device_name(value):
        raise InvalidParameterError(
            f"The 'device' parameter of {owner} must be one of {DEVICE_HELP}. "
            f"Got {value!r} instead."
        )
    return value


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def unavailable_reason(device: str) -> str | None:
    """Why ``device`` cannot be used on this machine, or None when it can.

    ``device`` must be a device name (see :func:`check_device`).
    """
    check_device(device, "skae")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return "CUDA is not available on this machine"
        index = int(device.partition(":")[2] or 0)
        count = torch.cuda.device_count()
        if index >= count:
            return f"this machine has {count} CUDA device(s), numbered from 0"
    if device == "mps" and not _mps_available():
        return "the MPS backend (Apple silicon) is not available on this machine"
    return None


def resolve_device(device: str) -> torch.device:
    """Turn a ``device`` parameter into an available :class:`torch.device`.

    ``"auto"`` picks CUDA, then MPS, then the CPU. A named device that this
    machine lacks raises ``ValueError`` rather than failing deep inside torch.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    reason = unavailable_reason(device)
    if reason is not None:
        raise ValueError(
            f"device={device!r} was requested, but {reason}. "
            "Use device='cpu', or device='auto' to pick the best available device."
        )
    return torch.device(device)


def loadable_device(device: str, owner: str) -> str:
    """``device`` if this machine has it, else ``"cpu"`` with a warning.

    For models loaded (unpickled or from a file) on another machine than the
    one they were fitted on. A ``device`` that is no concrete device name
    (``"auto"`` included) raises ``ValueError``: a fitted ``device_`` never is one.
    """
    if device == "auto" or not is_device_name(device):
        raise ValueError(
            f"This {owner} has device_={device!r}, which is not a device: a fitted "
            f"model's device_ is one of {DEVICE_HELP}, but never 'auto'."
        )
    reason = unavailable_reason(device)
    if reason is None:
        return device
    warnings.warn(
        f"This {owner} was fitted on {device!r}, but {reason}; it is loaded on "
        "the CPU instead.",
        UserWarning,
        stacklevel=3,
    )
    return "cpu"
