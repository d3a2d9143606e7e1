"""Reading ``.skae`` files within bounds: sizes are checked before bytes are read."""

from __future__ import annotations

import hashlib
import math
import os
import stat
import struct

import torch

from .._version import __version__
from .values import (
    MAX_DEPTH,
    RESAVE,
    Refused,
    TensorSpec,
    canonical,
    parse_json,
    tensor_line,
)
from .writing import FORMAT, FORMAT_VERSION, HEADER_LIMIT, file_kind

CHECK_FIRST_LIMIT = 256 * 2**20  # bodies hashed before the document is validated
_NOT_SKAE = (
    "Files written with pickle or joblib load with pickle.load or joblib.load, "
    "which run code from the file: use them only on files you trust"
)
_FORMAT_KEYS = ("format", "format_version", "skae_version", "torch_version")
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
    "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
    "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip
_CHUNK = 2**20


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Reader:
    """An open ``.skae`` file whose header, document and sizes have been checked.

    Opening reads at most the 8-byte size and the header it declares. The
    tensors are read by :meth:`tensors`, after the caller has checked
    :attr:`specs` against what it expects. Use it as a context manager.

    Attributes
    ----------
    name : str
        The record's name (the estimator's class).
    body : dict
        The document without the format's own members: plain JSON.
    skae_version : object
        The skae version that wrote the file, as stored.
    specs : dict of str to TensorSpec
        Every tensor's declared dtype and shape.
    """

    def __init__(self, path: str) -> None:
        try:
            mode = os.stat(path).st_mode  # before open: a FIFO would block there
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, path) from None
        if not stat.S_ISREG(mode):
            raise Refused(f"it is a {file_kind(mode)}, not a regular file")
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
        self._fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``, or :class:`Refused` (truncated)."""
        chunks, got = [], 0
        while got < size:
            os.lseek(self._fd, offset + got, os.SEEK_SET)
            chunk = os.read(self._fd, min(size - got, _CHUNK))
            if not chunk:
                raise Refused(f"it ended while being read: it is truncated. {RESAVE}")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _open(self) -> None:
        info = os.fstat(self._fd)  # the file opened, not the path: no race
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"it is a {file_kind(info.st_mode)}, not a regular file")
        size = info.st_size
        if size < 8:
            raise Refused(
                f"it is {size} bytes long, too short for a skae model file. {RESAVE}"
            )
        first = self._read(0, 8)
        if first[0] == 0x80 and 2 <= first[1] <= 5:  # pickle's PROTO opcode
            raise Refused(f"it is a pickle, not a file in skae's format. {_NOT_SKAE}")
        (header_size,) = struct.unpack("<Q", first)
        if header_size > HEADER_LIMIT:
            raise Refused(
                f"it is not a file in skae's format (it declares a header of "
                f"{header_size} bytes; skae writes at most {HEADER_LIMIT}). {_NOT_SKAE}"
            )
        if 8 + header_size > size:
            raise Refused(
                f"its header runs past the end of the file: it is truncated. {RESAVE}"
            )
        header = parse_json(self._read(8, header_size), "its header")
        if not isinstance(header, dict):
            raise Refused(f"its header is not a JSON object. {RESAVE}")
        metadata = header.pop("__metadata__", None)
        self._offsets = self._layout(header, 8 + header_size, size)
        self.specs = {name: spec for name, (spec, _, _) in self._offsets.items()}
        self._document, self._digest = _document(metadata)
        self.name = self._document["estimator"]
        self.skae_version = self._document.get("skae_version")
        self.body = {k: v for k, v in self._document.items() if k not in _FORMAT_KEYS}
        del self.body["estimator"]

    @staticmethod
    def _layout(header: dict, start: int, size: int) -> dict:
        """name -> (spec, offset, nbytes), checked to tile the body exactly."""
        layout, end = {}, 0
        for name, entry in header.items():
            if not isinstance(entry, dict):
                entry = {}
            dtype, shape = entry.get("dtype"), entry.get("shape")
            offsets = entry.get("data_offsets")
            if (
                entry.keys() != {"dtype", "shape", "data_offsets"}
                or dtype not in _DTYPES
                or not isinstance(shape, list)
                or len(shape) > MAX_DEPTH
                or not all(_is_int(n) and n >= 0 for n in shape)
                or not isinstance(offsets, list)
                or len(offsets) != 2
                or not all(_is_int(n) and n >= 0 for n in offsets)
            ):
                raise Refused(
                    f"its header describes tensor {name!r:.80} oddly. {RESAVE}"
                )
            spec = TensorSpec(_DTYPES[dtype], tuple(shape))
            nbytes = math.prod(shape) * spec.dtype.itemsize
            if offsets[1] - offsets[0] != nbytes:
                raise Refused(f"its tensor {name!r:.80} has the wrong size. {RESAVE}")
            layout[name] = (spec, start + offsets[0], nbytes)
        for _, offset, nbytes in sorted(layout.values(), key=lambda v: v[1]):
            if offset != start + end:
                raise Refused(f"its tensors overlap or leave gaps. {RESAVE}")
            end += nbytes
        if start + end > size:
            raise Refused(
                f"its tensors run past the end of the file: it is truncated. {RESAVE}"
            )
        if start + end < size:
            raise Refused(
                f"it has bytes after its last tensor: it is corrupted. {RESAVE}"
            )
        return layout

    def _hash(self, keep: bool) -> tuple[bool, dict[str, torch.Tensor]]:
        sha = hashlib.sha256(canonical(self._document).encode())
        tensors = {}
        for name in sorted(self._offsets):
            spec, offset, nbytes = self._offsets[name]
            sha.update(tensor_line(name, spec))
            buffer = bytearray(nbytes if keep else 0)
            for at in range(0, nbytes, _CHUNK):
                chunk = self._read(offset + at, min(_CHUNK, nbytes - at))
                sha.update(chunk)
                if keep:
                    buffer[at : at + len(chunk)] = chunk
            if keep:
                tensors[name] = _tensor(name, spec, buffer)
        return sha.hexdigest() == self._digest, tensors

    def check(self, limit: int | None = None) -> None:
        """Verify the checksum, streaming the body, if it has at most ``limit`` bytes.

        Memory stays bounded whatever the file's size; time grows with it.
        """
        body = sum(nbytes for _, _, nbytes in self._offsets.values())
        if (limit is None or body <= limit) and not self._hash(keep=False)[0]:
            raise Refused(_CHECKSUM)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Read the tensors, exactly their declared sizes, and verify the checksum."""
        intact, tensors = self._hash(keep=True)
        if not intact:
            raise Refused(_CHECKSUM)
        return tensors


_CHECKSUM = (
    f"its checksum does not match its contents: it was corrupted or edited after "
    f"it was saved. {RESAVE}"
)


def _tensor(name: str, spec: TensorSpec, buffer: bytearray) -> torch.Tensor:
    if not buffer:
        return torch.empty(spec.shape, dtype=spec.dtype)
    if spec.dtype is torch.bool and max(buffer) > 1:
        raise Refused(
            f"its tensor {name!r} holds bytes that are not booleans. {RESAVE}"
        )
    return torch.frombuffer(buffer, dtype=spec.dtype).reshape(spec.shape)


def _document(metadata: object) -> tuple[dict, str]:
    if not isinstance(metadata, dict) or "skae" not in metadata:
        raise Refused(
            f"it is not a skae model file (it has no skae metadata). {_NOT_SKAE}"
        )
    if not all(isinstance(v, str) for v in metadata.values()):
        raise Refused(f"its metadata holds values that are not strings. {RESAVE}")
    entry = parse_json(metadata["skae"], "its skae metadata")
    if not isinstance(entry, dict) or entry.keys() != {"document", "sha256"}:
        raise Refused(f"its skae metadata is malformed. {RESAVE}")
    document, digest = entry["document"], entry["sha256"]
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise Refused(f"its skae metadata does not describe a model. {RESAVE}")
    version = document.get("format_version")
    if not _is_int(version) or version < 1:
        raise Refused(f"its format version {version!r:.80} is not valid. {RESAVE}")
    if version > FORMAT_VERSION:
        raise Refused(
            f"it was written by skae {document.get('skae_version')!s:.80} in "
            f"format version {version}, but this skae ({__version__}) reads format "
            f"version {FORMAT_VERSION} at most. Upgrade skae to load it."
        )
    if not isinstance(digest, str) or not isinstance(document.get("estimator"), str):
        raise Refused(f"its skae metadata is malformed. {RESAVE}")
    return document, digest
