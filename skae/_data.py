"""Checks of the data given to the estimators, beyond scikit-learn's own."""

from __future__ import annotations

import numbers
import operator
import os
from collections.abc import Iterator, Mapping, Set

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_array, validate_data

from ._engine.likelihoods import UNIT_INTERVAL
from ._params import Interval, check_params
from ._storage import Source, is_out_of_core, open_source

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# How far outside [0, 1] a value may lie and still count as float rounding
# (then it is clipped): 4 float32 ulps at 1, about 4.8e-7, for every input
# dtype. skae computes in float32, so values closer to [0, 1] than this are
# one and the same to the model; yet the slack is a thousand times wider than
# the few float64 ulps (2.2e-16 each) by which MinMaxScaler overshoots 1, and
# covers float32 pipelines too, including their output cast to float64. A
# real violation (a test sample beyond the training range, unscaled data) is
# orders of magnitude larger.
UNIT_TOLERANCE = 4 * float(np.finfo(np.float32).eps)
_ARRAY_LIKES = (
    "a numpy array, a list of rows, a pandas DataFrame, a scipy sparse matrix "
    "or a torch tensor"
)


def as_array_like(X, name: str = "X"):
    """``X``, or a numpy view of it, ready for ``check_array``; else a clear error.

    ``check_array`` handles lists, DataFrames, sparse matrices and anything
    with ``__array__``. What it mishandles is turned into something it handles
    or refused here, with a message naming ``name``:

    - torch tensors (on any device, with ``requires_grad`` or ``bfloat16``)
      become numpy arrays, shared with the tensor where torch allows;
    - ``None``, strings, dicts, sets and iterators are not arrays;
    - a masked array with masked entries would lose its mask silently;
    - a structured array has fields, not columns.
    """
    if sp.issparse(X):  # a dok matrix is a dict, but one check_array takes
        return X
    if isinstance(X, torch.Tensor):
        return _from_torch(X, name)
    if X is None or isinstance(X, (str, bytes, Mapping, Set, Iterator)):
        hint = ""
        if isinstance(X, Mapping):
            hint = " For a dict of columns, use pandas.DataFrame(X)."
        elif isinstance(X, Iterator):
            hint = " Materialise it first, for example with list(X)."
        raise TypeError(
            f"{name} must be array-like ({_ARRAY_LIKES}), but got "
            f"{type(X).__name__}.{hint}"
        )
    if np.ma.isMaskedArray(X) and np.ma.is_masked(X):
        raise ValueError(
            f"{name} is a masked array with masked entries, and skae does not "
            "handle missing values. Fill them (X.filled(value)) or impute them, "
            "for example with sklearn.impute.SimpleImputer."
        )
    if getattr(getattr(X, "dtype", None), "names", None):
        raise TypeError(
            f"{name} is a structured array (fields {list(X.dtype.names)}), not a "
            "2-D array of numbers. Convert it, for example with "
            "numpy.lib.recfunctions.structured_to_unstructured(X)."
        )
    return X


def _from_torch(tensor: torch.Tensor, name: str) -> np.ndarray:
    if tensor.layout != torch.strided:
        raise TypeError(
            f"{name} is a sparse torch tensor ({tensor.layout}). Pass a dense "
            "tensor, or a scipy.sparse matrix (sparse rows are densified one "
            "batch at a time)."
        )
    if tensor.device.type == "meta":
        raise ValueError(
            f"{name} is a torch tensor on the meta device: it has no data."
        )
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    # force=True detaches, copies to the host and resolves lazy conjugation;
    # a plain CPU tensor is shared, not copied.
    return tensor.numpy(force=True)


def _reraise_clearly(exc: ValueError, name: str) -> None:
    """Raise a clearer error than ``exc`` where skae knows one; else return."""
    text = str(exc)
    if "could not convert string to float" in text and name == "X":
        raise ValueError(
            f"{name} must be numeric, but {exc}. Encode text or categorical "
            "columns first, for example with sklearn.preprocessing.OneHotEncoder."
        ) from exc
    if "inhomogeneous" in text:
        raise ValueError(
            f"{name} must be array-like with rows that all have the same "
            f"length ({exc})."
        ) from exc
    if "Found array with dim" in text and name == "X":
        raise ValueError(
            f"{exc} skae takes one row of features per sample: flatten images or "
            f"other n-D samples first, for example with {name}.reshape(len({name}), "
            "-1); the 'conv' architecture restores their shape from "
            "encoder_params={'input_shape': ...}."
        ) from exc


def validate_X(estimator, X, *, reset: bool):
    """``validate_data`` for skae: 2-D, numeric, finite, CSR/CSC, float dtype.

    Anything :func:`as_array_like` takes is accepted; text gets a message that
    says what to do; values float32 cannot hold are refused (see
    :func:`check_float32_range`).
    """
    if is_out_of_core(X):
        source = open_source(X, "X")
        _check_n_features(estimator, source.shape[1], reset=reset)
        return source
    X = as_array_like(X, "X")
    try:
        X = validate_data(
            estimator,
            X,
            reset=reset,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
        )
    except ValueError as exc:
        _reraise_clearly(exc, "X")
        raise
    check_float32_range(X, "X")
    return X


def _check_n_features(estimator, n_features: int, *, reset: bool) -> None:
    """What ``validate_data`` does with the width, for data it never loads."""
    if reset:
        estimator.n_features_in_ = n_features
        estimator.__dict__.pop("feature_names_in_", None)  # storage has no names
        return
    if n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )


def check_codes(Z, n_components: int, owner: str) -> np.ndarray:
    """Latent codes for ``inverse_transform``: 2-D, dense, finite, the right width.

    ``owner`` names the estimator in the message about a wrong width.
    """
    Z = as_array_like(Z, "Z")
    try:
        Z = check_array(Z, dtype=[np.float64, np.float32], input_name="Z")
    except ValueError as exc:
        _reraise_clearly(exc, "Z")
        raise
    check_float32_range(Z, "Z")
    if Z.shape[1] != n_components:
        raise ValueError(
            f"Z has {Z.shape[1]} columns, but {owner} has "
            f"n_components={n_components}: inverse_transform takes latent codes "
            "as returned by transform."
        )
    return Z


def check_float32_range(X, name: str) -> None:
    """Reject finite values that float32, skae's working precision, cannot hold."""
    values = X.data if sp.issparse(X) else X
    if values.dtype == np.float32 or not values.size:
        return
    # Two reductions, no temporary the size of X.
    if max(values.max(), -values.min()) > _FLOAT32_MAX:
        raise ValueError(
            f"{name} contains values too large for float32 (beyond 3.4e38), the "
            "precision skae computes in. Scale it, for example with StandardScaler."
        )


def one_row(x, name: str):
    """``x`` as a 2-D block of one sample (a one-row DataFrame stays one)."""
    x = as_array_like(x, name)
    if hasattr(x, "to_frame"):  # a pandas Series: one sample, named features
        x = x.to_frame().T
    if sp.issparse(x):
        if x.shape[0] != 1:
            raise ValueError(
                f"{name} must be one sample, of shape (n_features,) or "
                f"(1, n_features); got a sparse matrix of shape {x.shape}."
            )
        x = x.toarray()
    try:
        row = x if hasattr(x, "columns") else np.asarray(x)
    except ValueError as exc:
        _reraise_clearly(exc, name)
        raise
    if row.ndim == 1:
        row = row.reshape(1, -1)
    if row.ndim != 2 or row.shape[0] != 1:
        raise ValueError(
            f"{name} must be one sample, of shape (n_features,) or (1, n_features); "
            f"got shape {row.shape}."
        )
    return row


def stack_rows(rows: list):
    """One block from the one-sample blocks of :func:`one_row`.

    A DataFrame when every block is one (feature names survive), else a numpy
    array, with pandas' missing values (``pd.NA``) as NaN, so that
    :func:`validate_X` reports them as missing values.
    """
    if all(hasattr(row, "columns") for row in rows):
        import pandas as pd  # the rows are DataFrames, so pandas is there

        return pd.concat(rows, ignore_index=True)
    return np.vstack([_dense_row(row) for row in rows])


def _dense_row(row) -> np.ndarray:
    if not hasattr(row, "columns"):
        return np.asarray(row)
    try:
        return row.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):  # text: validate_X says what to do with it
        return row.to_numpy()


def check_unit_interval(X, loss: str):
    """``X`` itself, or a clipped copy, when ``loss="bce"`` needs it in [0, 1].

    Values within :data:`UNIT_TOLERANCE` of [0, 1] are float rounding (such as
    MinMaxScaler's 1 + 2.2e-16): they are clipped, in a copy, so the caller's
    array is never changed. Nothing is copied when nothing needs clipping;
    sparse input copies only its stored values. Values farther out raise
    ``ValueError``. Other losses take any values: ``X`` is returned as is.
    Sparse input in another format than CSR or CSC comes back as CSR.
    """
    if loss not in UNIT_INTERVAL:
        return X
    if isinstance(X, Source):  # checked as it was read; never copied
        _check_unit_range(X.minimum, X.maximum, loss)
        return X
    if sp.issparse(X) and X.format not in ("csr", "csc"):
        X = X.tocsr()  # validate_X gives CSR or CSC; other callers may not
    values = X.data if sp.issparse(X) else X
    if not values.size:
        return X
    low, high = values.min(), values.max()
    if low >= 0 and high <= 1:
        return X
    _check_unit_range(low, high, loss)
    if sp.issparse(X):  # new values, the same index arrays
        return type(X)((np.clip(X.data, 0, 1), X.indices, X.indptr), shape=X.shape)
    return np.clip(X, 0, 1)


def _check_unit_range(low, high, loss: str = "bce") -> None:
    if low < -UNIT_TOLERANCE or high > 1 + UNIT_TOLERANCE:
        raise ValueError(
            f"loss={loss!r} needs X in [0, 1], but X ranges from {low!s} to "
            f"{high!s}. Scale X first, for example with "
            "sklearn.preprocessing.MinMaxScaler (clip=True also keeps new "
            "samples beyond the training range in [0, 1]), or use loss='mse'."
        )


def _physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # Windows has no sysconf
        return None


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:,.3g} GiB"


def check_n_rows(
    value,
    name: str,
    *,
    n_features: int,
    owner: str,
    minimum: int = 1,
    dtype=np.float64,
) -> int:
    """``value`` as an int, if an array of that many rows can be returned.

    For parameters that set the number of rows of a result, such as
    ``sample(n_samples)`` and ``interpolate(n_steps)``: ``owner`` names the
    method (``"VAE.sample"``), ``n_features`` and ``dtype`` describe one row of
    the result. A value that is no int of at least ``minimum`` raises
    :class:`~skae.exceptions.InvalidParameterError`; a result numpy cannot
    address (``2**62`` rows) raises ``ValueError``; one larger than this
    machine's memory raises ``MemoryError``. Each names the parameter.
    """
    check_params(
        owner, {name: value}, {name: [Interval(numbers.Integral, minimum, None)]}
    )
    n_rows = operator.index(value)  # a Python int: numpy ints would overflow below
    n_bytes = n_rows * max(n_features, 1) * np.dtype(dtype).itemsize
    what = (
        f"{owner}({name}={n_rows}) would return {n_rows:,} x {n_features} "
        f"{np.dtype(dtype).name} values ({_gib(n_bytes)})"
    )
    if n_bytes > np.iinfo(np.intp).max:
        raise ValueError(
            f"{what}, more than any array can hold. Ask for fewer {name}; for "
            "very many rows, call it repeatedly."
        )
    memory = _physical_memory()
    if memory is not None and n_bytes > memory:
        raise MemoryError(
            f"{what}, more than this machine's memory ({_gib(memory)}). Ask for "
            f"fewer {name} at a time, and call it repeatedly."
        )
    return n_rows
