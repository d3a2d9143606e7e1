"""Writing ``.skae`` files: the bytes of a record, and an atomic replace."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import struct

import numpy as np
import safetensors.torch
import torch

from .._version import __version__
from .values import MAX_DEPTH, Refused, TensorSpec, canonical, parse_json, tensor_line

FORMAT, FORMAT_VERSION = "skae", 1
HEADER_LIMIT = 8 * 2**20  # bytes of safetensors header JSON that load reads at most
_FILE_KINDS = {
    stat.S_IFDIR: "folder", stat.S_IFIFO: "named pipe (FIFO)",
    stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}  # fmt: skip


def _bytes(tensor: torch.Tensor) -> np.ndarray:
    return tensor.reshape(-1).view(torch.uint8).numpy()


def dumps(name: str, body: dict, tensors: dict[str, torch.Tensor]) -> bytes:
    """The bytes of a file holding record ``name``, JSON ``body`` and ``tensors``.

    ``tensors`` must be contiguous CPU tensors that share no memory.
    """
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skae_version": __version__,
        "torch_version": torch.__version__,
        "estimator": name,
        **body,
    }
    sha = hashlib.sha256(canonical(document).encode())
    for key in sorted(tensors):
        sha.update(
            tensor_line(key, TensorSpec(tensors[key].dtype, tuple(tensors[key].shape)))
        )
        sha.update(_bytes(tensors[key]))
    # One metadata entry: safetensors writes several in no fixed order.
    entry = canonical({"document": document, "sha256": sha.hexdigest()})
    try:  # never write what load refuses
        parse_json(entry, "its metadata")
    except Refused:
        raise ValueError(
            f"This model holds values nested more than {MAX_DEPTH} deep, which "
            "skae.load refuses. Keep this estimator with pickle or joblib."
        ) from None
    data = safetensors.torch.save(tensors, metadata={"skae": entry})
    (size,) = struct.unpack("<Q", data[:8])
    if size > HEADER_LIMIT:
        raise ValueError(
            f"The file's header would be {size} bytes, more than the {HEADER_LIMIT} "
            "that skae.load reads (too many or too long feature names?). Keep "
            "this estimator with pickle or joblib."
        )
    return data


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    return _FILE_KINDS.get(stat.S_IFMT(mode), "special file")


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Replace the regular file at ``path`` (a symlink's target) with ``data``.

    ``data`` goes to a temporary file in the same folder, which is flushed,
    synced and renamed over the target, so the old file stays whole until the
    new one is. A folder, FIFO, device or other non-regular file is refused
    (``OSError``) and left untouched. Errors name ``path``, never the
    temporary file.
    """
    path = os.fsdecode(path)
    target = os.path.realpath(path)  # a symlink is followed: its target is written
    folder = os.path.dirname(target)
    _check_target(path, target)
    temp = os.path.join(folder, f".skae-{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o666)  # the umask applies, as for open()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Cannot save to {path!r}: the folder {folder!r} does not exist."
        ) from None
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):  # keep an existing file's permissions
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        _check_target(path, target)  # it may have changed while we wrote
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _check_target(path: str, target: str) -> None:
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return  # a new file
    except OSError as exc:  # a symlink loop, a file used as a folder...
        raise type(exc)(exc.errno, exc.strerror, path) from None
    if not stat.S_ISREG(mode):
        error = IsADirectoryError if stat.S_ISDIR(mode) else OSError
        raise error(
            f"Cannot save to {path!r}: it is a {file_kind(mode)}, not a regular file. "
            "save replaces regular files only and left it untouched; choose "
            "another path."
        )
