"""Checks of the data given to the estimators, beyond scikit-learn's own."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def validate_X(estimator, X, *, reset: bool):
    """``validate_data`` for skae: 2-D, numeric, finite, CSR/CSC, float dtype.

    Text gets a message that says what to do; values float32 cannot hold are
    refused (see :func:`check_float32_range`).
    """
    try:
        X = validate_data(
            estimator,
            X,
            reset=reset,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
        )
    except ValueError as exc:
        if "could not convert string to float" not in str(exc):
            raise
        raise ValueError(
            f"X must be numeric, but {exc}. Encode text or categorical columns "
            "first, for example with sklearn.preprocessing.OneHotEncoder."
        ) from exc
    check_float32_range(X, "X")
    return X


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
    if hasattr(x, "to_frame"):  # a pandas Series: one sample, named features
        x = x.to_frame().T
    if sp.issparse(x):
        x = x.toarray()
    row = x if hasattr(x, "columns") else np.asarray(x)
    if row.ndim == 1:
        row = row.reshape(1, -1)
    if row.ndim != 2 or row.shape[0] != 1:
        raise ValueError(
            f"{name} must be one sample, of shape (n_features,) or (1, n_features); "
            f"got shape {row.shape}."
        )
    return row


def check_unit_interval(X, loss: str) -> None:
    """With ``loss="bce"``, refuse values outside [0, 1]."""
    if loss != "bce":
        return
    values = X.data if sp.issparse(X) else X
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError(
            f"loss='bce' needs X in [0, 1], but X ranges from {values.min():g} "
            f"to {values.max():g}. Scale X first, for example with "
            "sklearn.preprocessing.MinMaxScaler, or use loss='mse'."
        )
