"""The bytes of a ``.skae`` file: JSON values, checksum, atomic write, bounded read.

A record is a name, a JSON document and a dict of tensors; this package knows
nothing about estimators. The file is a safetensors file whose only metadata
entry, ``"skae"``, holds ``{"document": ..., "sha256": ...}``; see
docs/persistence.md. Reading checks the file type, the header and every
declared size before it reads a byte of the body, and never reads more than
the sizes declared; every refusal is a :class:`Refused` (a ``ValueError``).
"""

from .reading import CHECK_FIRST_LIMIT, Reader
from .values import (
    ARRAY_LIMIT,
    MAX_DEPTH,
    RESAVE,
    Refused,
    TensorSpec,
    canonical,
    decode_value,
    encode_value,
    parse_json,
)
from .writing import FORMAT, FORMAT_VERSION, HEADER_LIMIT, dumps, write_atomically

__all__ = [
    "ARRAY_LIMIT",
    "CHECK_FIRST_LIMIT",
    "FORMAT",
    "FORMAT_VERSION",
    "HEADER_LIMIT",
    "MAX_DEPTH",
    "RESAVE",
    "Reader",
    "Refused",
    "TensorSpec",
    "canonical",
    "decode_value",
    "dumps",
    "encode_value",
    "parse_json",
    "write_atomically",
]
