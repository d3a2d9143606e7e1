"""Saving and loading fitted estimators in a safe format.

A ``.skae`` file is one safetensors file. Its tensors are the module's
``state_dict``; its string metadata has one entry, ``"skae"``, a JSON object
with two members:

- ``"document"``: the format version, the skae and torch versions, the
  estimator's class name, its parameters and its fitted attributes (every
  attribute ending in ``_`` except ``module_``);
- ``"sha256"``: the SHA-256 of the document (as canonical JSON: sorted keys,
  no spaces) followed by each tensor's name, dtype and shape (as a JSON list)
  and bytes, in name order, so truncated, edited or corrupted files are refused.

Loading parses JSON and raw tensor bytes only: it never unpickles, imports or
calls anything named by the file. The module is rebuilt from the saved
parameters through the architecture registry and the weights are loaded into
it with ``strict=True``. Parameters that JSON cannot hold, such as an
``encoder`` given as a plain function, are refused at save time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import struct
import warnings

import numpy as np
import safetensors
import safetensors.torch
import torch
from sklearn.utils.validation import check_is_fitted

from . import __version__, registry
from ._device import is_device_name, loadable_device

FORMAT = "skae"
FORMAT_VERSION = 1
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")
_ARRAY_KINDS = "biufUO"
_RESAVE = "Save the model again from the estimator, or use an intact copy"


class _Refused(ValueError):
    """A file that ``load`` refuses; ``load`` prefixes the path to the message."""


def _estimator_classes() -> dict[str, type]:
    from .autoencoders import AutoencoderTransformer, DenoisingAutoencoder
    from .vae import VAE, BetaVAE

    classes = (AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE)
    return {cls.__name__: cls for cls in classes}


# ---------------------------------------------------------------- JSON values
# Plain JSON holds None, bool, int, float, str and lists. Everything else is a
# one-key object whose key names its type, so decoding is unambiguous.
def _encode(value, where: str):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"{where} is {value}, which a .skae file cannot store.")
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return _encode(value.item(), where)
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.kind in _ARRAY_KINDS:
        items = value.ravel().tolist()
        if value.dtype.kind == "O" and not all(isinstance(v, str) for v in items):
            raise ValueError(f"{where} is an object array holding non-strings.")
        return {
            "ndarray": {
                "dtype": value.dtype.str if value.dtype.kind != "O" else "object",
                "shape": list(value.shape),
                "data": [_encode(v, where) for v in items],
            }
        }
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


def _decode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not (isinstance(value, dict) and len(value) == 1):
        raise _Refused(f"its metadata holds an unexpected JSON value {value!r}")
    ((tag, body),) = value.items()
    if tag == "tuple":
        return tuple(_decode(v) for v in body)
    if tag == "dict":
        return {str(k): _decode(v) for k, v in body.items()}
    if tag == "ndarray":
        dtype = np.dtype(body["dtype"])
        if dtype.kind not in _ARRAY_KINDS:
            raise _Refused(f"its metadata holds an array of dtype {body['dtype']!r}")
        array = np.empty(len(body["data"]), dtype=dtype)
        array[:] = [_decode(v) for v in body["data"]]
        return array.reshape(body["shape"])
    if tag == "RandomState":
        state = np.random.RandomState()
        state.set_state(
            (
                "MT19937",
                np.asarray(body["keys"], dtype=np.uint32),
                int(body["pos"]),
                int(body["has_gauss"]),
                float(body["cached_gaussian"]),
            )
        )
        return state
    raise _Refused(f"its metadata holds an unknown JSON tag {tag!r}")


# ---------------------------------------------------------------- checksum
def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(document: dict, tensors: dict[str, torch.Tensor]) -> str:
    sha = hashlib.sha256(_canonical(document).encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        sha.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


# ---------------------------------------------------------------- save
def _check_rebuildable(estimator) -> None:
    """Refuse to write a file whose parameters would not rebuild ``module_``."""
    module = estimator.module_
    same_attributes = all(
        getattr(module, name, None) == value
        for name, value in estimator._module_params().items()
    )
    if module.signature != estimator._module_signature() or not same_attributes:
        raise ValueError(
            f"The parameters of this {type(estimator).__name__} no longer describe "
            "its fitted module (were they changed with set_params after fit?), so "
            "the file could not be loaded. Refit the estimator, or restore the "
            "parameters it was fitted with, before saving."
        )


def _serialize(estimator) -> bytes:
    classes = _estimator_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise ValueError(
            f"save stores skae's own estimators ({', '.join(sorted(classes))}), "
            f"not {type(estimator).__module__}.{name}. Keep this one with pickle "
            "or joblib."
        )
    params = {
        key: _encode(value, f"The {key!r} parameter")
        for key, value in estimator.get_params(deep=False).items()
    }
    attributes = {
        key: _encode(value, f"The fitted attribute {key!r}")
        for key, value in vars(estimator).items()
        if _ATTRIBUTE_NAME.match(key) and key != "module_"
    }
    _, _, provider = estimator._architecture()
    state = {
        key: value.detach().cpu().contiguous().clone()
        for key, value in estimator.module_.state_dict().items()
    }
    _check_rebuildable(estimator)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skae_version": __version__,
        "torch_version": torch.__version__,
        "estimator": name,
        "architecture": {"name": estimator.encoder, "provider": provider},
        "params": params,
        "attributes": attributes,
    }
    # One metadata entry: safetensors writes several in no fixed order.
    metadata = {
        "skae": _canonical({"document": document, "sha256": _digest(document, state)})
    }
    return safetensors.torch.save(state, metadata=metadata)


def _fsync_folder(folder: str) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over."""
    folder = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):  # keep an existing file's permissions
            os.chmod(temp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def save(estimator, path) -> None:
    """Save a fitted estimator to ``path`` in skae's safe format.

    Parameters
    ----------
    estimator : AutoencoderTransformer, DenoisingAutoencoder, VAE or BetaVAE
        A fitted estimator whose parameters are plain data (no callables).
    path : str or os.PathLike
        Destination file, conventionally ending in ``.skae``. It is replaced
        atomically: until the new file is complete, the old one stays intact.

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    ValueError
        If a parameter cannot be stored as JSON, such as a callable ``encoder``.
    """
    check_is_fitted(estimator)
    _write_atomically(os.fspath(path), _serialize(estimator))


# ---------------------------------------------------------------- load
def _header(data: bytes) -> dict:
    if len(data) < 8:
        raise _Refused(
            f"it is {len(data)} bytes long, too short for a skae model file. {_RESAVE}"
        )
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise _Refused(
            f"its header runs past the end of the file: it is truncated. {_RESAVE}"
        )
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(
            f"its header is not valid JSON ({exc}): it is not a skae model file, "
            f"or it is corrupted. {_RESAVE}"
        ) from exc
    if not isinstance(header, dict):
        raise _Refused(f"its header is not a JSON object. {_RESAVE}")
    return header


def _document(header: dict) -> tuple[dict, str]:
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or "skae" not in metadata:
        raise _Refused(
            "it is not a skae model file (it has no skae metadata). Files written "
            "with pickle or joblib load with pickle.load or joblib.load, which run "
            "code: use them only on files you trust"
        )
    try:
        entry = json.loads(metadata["skae"])
    except json.JSONDecodeError as exc:
        raise _Refused(
            f"its skae metadata is not valid JSON ({exc}). {_RESAVE}"
        ) from exc
    if not isinstance(entry, dict) or not {"document", "sha256"} <= entry.keys():
        raise _Refused(f"its skae metadata is malformed. {_RESAVE}")
    document, digest = entry["document"], entry["sha256"]
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _Refused(f"its skae metadata does not describe a model. {_RESAVE}")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Refused(f"its format version {version!r} is not valid. {_RESAVE}")
    if version > FORMAT_VERSION:
        raise _Refused(
            f"it was written by skae {document.get('skae_version')} in format "
            f"version {version}, but this skae ({__version__}) reads format "
            f"version {FORMAT_VERSION} at most. Upgrade skae to load it."
        )
    return document, digest


def _tensors(data: bytes, document: dict, digest: str) -> dict[str, torch.Tensor]:
    try:
        tensors = safetensors.torch.load(data)
    except safetensors.SafetensorError as exc:
        raise _Refused(f"it is truncated or corrupted ({exc}). {_RESAVE}") from exc
    try:
        expected = _digest(document, tensors)
    except ValueError as exc:  # a document JSON cannot hold, such as NaN
        raise _Refused(f"its skae metadata is malformed ({exc}). {_RESAVE}") from exc
    if digest != expected:
        raise _Refused(
            "its checksum does not match its contents: it was corrupted or "
            f"edited after it was saved. {_RESAVE}"
        )
    return tensors


def _restore(document: dict, tensors: dict[str, torch.Tensor]):
    classes = _estimator_classes()
    name = document.get("estimator")
    if name not in classes:
        raise _Refused(
            f"it holds an estimator class {name!r} that this skae ({__version__}) "
            "does not have. Upgrade skae to load it."
        )
    cls = classes[name]
    params = {k: _decode(v) for k, v in document["params"].items()}
    attributes = {k: _decode(v) for k, v in document["attributes"].items()}
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise _Refused(
            f"its {name} has parameter(s) {unknown} that this skae "
            f"({__version__}) does not know. Load it with skae "
            f"{document.get('skae_version')}, or upgrade skae."
        )
    odd = sorted(k for k in attributes if not _ATTRIBUTE_NAME.match(k))
    if odd or "module_" in attributes or "n_features_in_" not in attributes:
        raise _Refused(f"its fitted attributes are malformed ({odd}). {_RESAVE}")
    architecture = params.get("encoder")
    if architecture not in registry.architectures():
        provider = document.get("architecture", {}).get("provider")
        raise _Refused(
            f"it uses the architecture {architecture!r}"
            f"{f' (from {provider})' if provider else ''}, which is not registered "
            "in this Python environment. Install the plugin that provides it, or "
            "register it with skae.register_plugin, then load again."
        )
    estimator = cls(**params)
    module = estimator._build_module(int(attributes["n_features_in_"]), 0)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise _Refused(
            f"its weights do not fit the {architecture!r} architecture built from "
            f"its parameters ({exc}). {_RESAVE}"
        ) from exc
    module.eval()
    for key, value in attributes.items():
        setattr(estimator, key, value)
    device = attributes.get("device_", "cpu")
    if not is_device_name(device) or device == "auto":
        raise _Refused(f"its device_ {device!r} is not a device. {_RESAVE}")
    estimator.device_ = device = loadable_device(device, name)
    estimator.module_ = module.to(device)
    return estimator


def load(path):
    """Load an estimator saved with :meth:`save <skae.VAE.save>`.

    Loading reads JSON and raw tensor bytes only; it runs no code from the
    file. A model saved on a device this machine lacks (say CUDA) is loaded on
    the CPU, with a warning.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``estimator.save(path)``.

    Returns
    -------
    estimator : AutoencoderTransformer, DenoisingAutoencoder, VAE or BetaVAE
        The fitted estimator, as it was saved.

    Raises
    ------
    ValueError
        If the file is not a skae model, is truncated, corrupted or edited,
        was written in a newer format version, or names an architecture that
        is not registered here.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        data = file.read()
    try:
        document, digest = _document(_header(data))
        tensors = _tensors(data, document, digest)
        saved_with = document.get("skae_version")
        if saved_with != __version__:
            warnings.warn(
                f"{path!r} was saved with skae {saved_with} and is loaded with skae "
                f"{__version__}. The file format is the same (version "
                f"{FORMAT_VERSION}), but results may differ slightly; save it "
                "again with this version to silence this warning.",
                UserWarning,
                stacklevel=2,
            )
        try:
            return _restore(document, tensors)
        except _Refused:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise _Refused(
                f"its skae metadata is malformed ({exc!r}). {_RESAVE}"
            ) from exc
    except _Refused as exc:
        raise ValueError(f"Cannot load {path!r}: {exc}") from exc.__cause__
