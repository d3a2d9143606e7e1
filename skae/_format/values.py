"""JSON values, limits and the checksum's pieces for ``.skae`` files.

Plain JSON holds None, bool, int, float, str and lists; tuples, dicts, numpy
arrays and RandomState objects are one-key objects whose key names the type.
Decoding refuses (:class:`Refused`) anything it would not have written, within
limits that bound memory: nothing larger than the JSON text is allocated.

>>> text = canonical(encode_value({"widths": (8, 4)}, "x"))
>>> text
'{"dict":{"widths":{"tuple":[8,4]}}}'
>>> decode_value(parse_json(text, "it"))
{'widths': (8, 4)}
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import numpy as np
import torch

MAX_DEPTH = 32  # nesting of JSON values in a document
ARRAY_LIMIT = 64 * 2**20  # bytes of any array decoded from JSON
RESAVE = "Save the model again from the estimator, or use an intact copy"


class Refused(ValueError):
    """A file that cannot be loaded; the message says why, without the path."""


class TensorSpec(NamedTuple):
    """A tensor's dtype and shape, as declared in a file's header."""

    dtype: torch.dtype
    shape: tuple[int, ...]


# Plain JSON holds None, bool, int, float, str and lists. Everything else is a
# one-key object whose key names its type, so decoding is unambiguous.
def encode_value(value: Any, where: str) -> Any:
    """``value`` as JSON data; ``where`` names it in errors (``ValueError``)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}, which a .skae file cannot store.")
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return encode_value(value.item(), where)
    if isinstance(value, list):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {
            "tuple": [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        }
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {
            "dict": {k: encode_value(v, f"{where}[{k!r}]") for k, v in value.items()}
        }
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUO":
        items = value.ravel().tolist()
        if value.dtype.kind == "O" and not all(isinstance(v, str) for v in items):
            raise ValueError(f"{where} is an object array holding non-strings.")
        dtype = "object" if value.dtype.kind == "O" else value.dtype.str
        data = [encode_value(v, where) for v in items]
        return {"ndarray": {"dtype": dtype, "shape": list(value.shape), "data": data}}
    if isinstance(value, np.random.RandomState):
        _, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return {
            "RandomState": {
                "keys": keys.tolist(),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached),
            }
        }
    if callable(value):
        name = getattr(value, "__name__", repr(value))
        raise ValueError(
            f"{where} is the callable {name}, which a .skae file cannot store: "
            "the format holds data only, never code. Register it as a plugin "
            "(skae.register_plugin, or a 'skae' entry point) and pass its name "
            "instead, or keep the estimator with pickle or joblib (which run code "
            "when loading, so load only files you trust)."
        )
    raise ValueError(
        f"{where} is a {type(value).__name__}, which a .skae file cannot store. "
        "Use pickle or joblib for this estimator."
    )


def decode_value(value: Any, max_items: int | None = None) -> Any:
    """The Python value of JSON data from :func:`encode_value`, or :class:`Refused`.

    Containers may hold at most ``max_items`` items each (None: no limit), and
    arrays at most :data:`ARRAY_LIMIT` bytes; nothing larger is allocated.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        _count(value, max_items)
        return [decode_value(v, max_items) for v in value]
    if not (isinstance(value, dict) and len(value) == 1):
        raise Refused(f"its metadata holds an unexpected JSON value {value!r:.80}")
    ((tag, body),) = value.items()
    if tag == "tuple" and isinstance(body, list):
        _count(body, max_items)
        return tuple(decode_value(v, max_items) for v in body)
    if tag == "dict" and isinstance(body, dict):
        _count(body, max_items)
        return {k: decode_value(v, max_items) for k, v in body.items()}
    if tag == "ndarray" and isinstance(body, dict):
        _count(body.get("data", ()), max_items)
        return _decode_array(body)
    if tag == "RandomState" and isinstance(body, dict):
        return _decode_random_state(body)
    if tag in ("tuple", "dict", "ndarray", "RandomState"):
        raise Refused(f"its metadata holds a malformed {tag!r} value")
    raise Refused(f"its metadata holds an unknown JSON tag {tag!r:.80}")


def _count(items: Any, max_items: int | None) -> None:
    if max_items is not None and isinstance(items, (list, dict)):
        if len(items) > max_items:
            raise Refused(
                f"its metadata holds a value of {len(items)} items, more than "
                f"the {max_items} allowed there"
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_array(body: dict) -> np.ndarray:
    dtype, shape, data = body.get("dtype"), body.get("shape"), body.get("data")
    if (
        body.keys() != {"dtype", "shape", "data"}
        or not isinstance(dtype, str)
        or not isinstance(data, list)
        or not isinstance(shape, list)
        or len(shape) > MAX_DEPTH
        or not all(_is_int(n) and n >= 0 for n in shape)
        or math.prod(shape) != len(data)
    ):
        raise Refused("its metadata holds a malformed 'ndarray' value")
    try:
        kind = np.dtype(dtype).kind if dtype != "object" else "O"
        dtype = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise Refused(f"its metadata holds an array of dtype {dtype!r:.80}") from exc
    strings = kind in "UO"
    if not all(isinstance(v, str) if strings else _is_number(v) for v in data):
        raise Refused(
            f"its metadata holds an array of dtype {dtype.str!r} of odd items"
        )
    longest = max((len(v) for v in data), default=0) if strings else 0
    width = dtype.itemsize // 4
    if kind == "U" and not longest <= width <= max(longest, 16):
        raise Refused(
            f"its metadata holds an array of dtype {dtype.str!r} for strings of "
            f"up to {longest} characters"
        )
    if kind not in "biufUO" or (kind in "biuf" and dtype.itemsize > 8):
        raise Refused(f"its metadata holds an array of dtype {dtype.str!r}")
    if len(data) * (8 if kind == "O" else dtype.itemsize) + longest > ARRAY_LIMIT:
        raise Refused(f"its metadata holds an array larger than {ARRAY_LIMIT} bytes")
    try:
        array = np.empty(len(data), dtype=dtype)
        array[:] = data
    except (TypeError, ValueError, OverflowError) as exc:
        raise Refused(
            f"its metadata holds an array that does not fit {dtype.str!r}"
        ) from exc
    return array.reshape(shape)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and (
        not isinstance(value, float) or math.isfinite(value)
    )


def _decode_random_state(body: dict) -> np.random.RandomState:
    keys, pos = body.get("keys"), body.get("pos")
    has_gauss, cached = body.get("has_gauss"), body.get("cached_gaussian")
    if not (
        body.keys() == {"keys", "pos", "has_gauss", "cached_gaussian"}
        and isinstance(keys, list)
        and len(keys) == 624
        and all(_is_int(k) and 0 <= k < 2**32 for k in keys)
        and _is_int(pos)
        and 0 <= pos <= 624
        and has_gauss in (0, 1)
        and isinstance(cached, float)
    ):
        raise Refused("its metadata holds a malformed 'RandomState' value")
    state = np.random.RandomState()
    keys = np.asarray(keys, dtype=np.uint32)
    state.set_state(("MT19937", keys, pos, int(has_gauss), cached))
    return state


# ---------------------------------------------------------------- checksum
def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, no NaN or infinity."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def tensor_line(name: str, spec: TensorSpec) -> bytes:
    """What the checksum hashes before a tensor's bytes."""
    return json.dumps([name, str(spec.dtype), list(spec.shape)]).encode()


def parse_json(raw: bytes | str, what: str) -> Any:
    """JSON of finite numbers nested at most :data:`MAX_DEPTH` deep, or Refused."""

    def constant(name: str) -> None:
        raise ValueError(f"{name} is not allowed")

    def finite(text: str) -> float:
        if not math.isfinite(number := float(text)):
            raise ValueError(f"{text:.40} is out of range")
        return number

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=constant, parse_float=finite)
    except RecursionError:
        raise Refused(f"{what} is nested too deeply. {RESAVE}") from None
    except ValueError as exc:  # bad UTF-8, bad JSON, a 5000-digit number...
        raise Refused(
            f"{what} is not valid JSON ({exc!s:.200}): it is not a skae model "
            f"file, or it is corrupted. {RESAVE}"
        ) from exc
    stack = [(value, 1)]
    while stack:  # no recursion: the depth is what is being checked
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused(f"{what} is nested too deeply. {RESAVE}")
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, (dict, list)):
            stack.extend((child, depth + 1) for child in children)
    return value
