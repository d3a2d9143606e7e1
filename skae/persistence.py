"""Loading estimators saved in skae's safe format (``est.save(path)``).

A ``.skae`` file is one safetensors file. Its tensors are the module's
``state_dict``; its string metadata has one entry, ``"skae"``, a JSON object
with two members:

- ``"document"``: the format version, the skae and torch versions, the
  estimator's class name, the parameters it was fitted with and its fitted
  attributes (``n_features_in_``, ``device_``, ...);
- ``"sha256"``: the SHA-256 of the document (as canonical JSON: sorted keys,
  no spaces) followed by each tensor's name, dtype and shape (as a JSON list)
  and bytes, in name order, so truncated, edited or corrupted files are refused.

The bytes are :mod:`skae._format`'s business, and what a fitted estimator is
:mod:`skae._fitted`'s; this module maps a class name to one of skae's
estimators and hands the file's contents to it. Loading parses JSON and raw
tensor bytes only: it never unpickles, imports or calls anything named by the
file. See docs/persistence.md for what it guarantees against hostile files.
"""

from __future__ import annotations

import os
import warnings

from . import _format
from ._fitted import MAX_PARAM_ITEMS, FittedState
from ._version import __version__
from .autoencoders import AutoencoderTransformer, DenoisingAutoencoder
from .conditional import ConditionalVAE
from .vae import VAE, BetaVAE

__all__ = ["load"]

# The only classes a file can name: a name outside this table is refused.
ESTIMATORS = {
    cls.__name__: cls
    for cls in (
        AutoencoderTransformer,
        DenoisingAutoencoder,
        VAE,
        BetaVAE,
        ConditionalVAE,
    )
}


def _member(body: dict, key: str, kind: type) -> object:
    value = body.get(key)
    if not isinstance(value, kind):
        raise _format.Refused(
            f"its skae metadata is malformed (it has no {key!r} object). "
            f"{_format.RESAVE}"
        )
    return value


def _restore(reader: _format.Reader, path: str):
    name = reader.name
    if name not in ESTIMATORS:
        raise _format.Refused(
            f"it holds an estimator class {name!r:.80} that this skae ({__version__}) "
            "does not have. Upgrade skae to load it."
        )
    params = _member(reader.body, "params", dict)
    attributes = _member(reader.body, "attributes", dict)
    provider = reader.body.get("architecture", {})
    provider = provider.get("provider") if isinstance(provider, dict) else None
    state = FittedState(
        estimator=name,
        params={k: _format.decode_value(v, MAX_PARAM_ITEMS) for k, v in params.items()},
        attributes={k: _format.decode_value(v) for k, v in attributes.items()},
        specs=reader.specs,
        read_weights=reader.tensors,
        provider=provider if isinstance(provider, str) else None,
    )
    saved_with = reader.skae_version
    if saved_with != __version__:
        warnings.warn(
            f"{path!r} was saved with skae {saved_with!s:.80} and is loaded with "
            f"skae {__version__}. The file format is the same (version "
            f"{_format.FORMAT_VERSION}), but results may differ slightly; save it "
            "again with this version to silence this warning.",
            UserWarning,
            stacklevel=3,
        )
    return ESTIMATORS[name]._from_fitted_state(state)


def load(path):
    """Load an estimator saved with :meth:`save <skae.VAE.save>`.

    Loading reads JSON and raw tensor bytes only; it runs no code from the
    file. It reads the header first and checks every declared size against
    the model's parameters before it reads or allocates the weights, so a
    hostile file costs bounded memory and time. A model saved on a device
    this machine lacks (say CUDA) is loaded on the CPU, with a warning.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``estimator.save(path)``.

    Returns
    -------
    estimator : estimator instance
        The fitted estimator (an AutoencoderTransformer, DenoisingAutoencoder,
        VAE, BetaVAE or ConditionalVAE), as it was fitted, with the parameters
        it was fitted with.

    Raises
    ------
    ValueError
        ``"Cannot load '<path>': ..."`` for every file that is refused: not a
        regular file, not a skae model (a pickle, say), truncated, corrupted
        or edited, written in a newer format version, naming an architecture
        that is not registered here, or holding parameters or fitted
        attributes that ``fit`` could not have produced.
    OSError
        If the file cannot be opened (it does not exist, say).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skae
    >>> X = np.random.default_rng(0).random((50, 6))
    >>> vae = skae.VAE(n_components=2, max_iter=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "vae.skae")
    >>> vae.save(path)
    >>> copy = skae.load(path)
    >>> copy.n_features_in_, copy.get_params()["n_components"]
    (6, 2)
    """
    path = os.fspath(path)
    try:
        with _format.Reader(path) as reader:
            # A file edited or damaged is reported as such, not by the check
            # its edit happens to fail; the check costs one pass over a body of
            # bounded size and no memory.
            reader.check(limit=_format.CHECK_FIRST_LIMIT)
            return _restore(reader, path)
    except _format.Refused as exc:
        raise ValueError(f"Cannot load {path!r}: {exc}") from exc.__cause__
    except (RuntimeError, LookupError, TypeError, ValueError, ArithmeticError) as exc:
        # Not expected: the checks above name every problem a file can have.
        raise ValueError(
            f"Cannot load {path!r}: it holds something skae did not expect "
            f"({type(exc).__name__}: {exc}). {_format.RESAVE}"
        ) from exc
