"""Property-based tests: whatever the input, skae answers or says what is wrong.

Every public call either succeeds with finite output of the right shape, or
raises ValueError, TypeError or NotFittedError with a message. Nothing else
escapes: no RuntimeError from deep inside torch, no NaN returned silently.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
SPECIAL = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, -1e300, 1e-300, -1e-300]
KINDS = ["float64", "float32", "int", "bool", "object", "str", "sparse"]
EXPECTED = (ValueError, TypeError, NotFittedError)


@st.composite
def matrices(draw, n_rows=None, n_cols=None, kinds=KINDS):
    """A small matrix of a random kind, now and then with awkward values."""
    n_rows = n_rows or draw(st.integers(1, 6))
    n_cols = n_cols or draw(st.integers(1, 5))
    kind = draw(st.sampled_from(kinds))
    plain = st.floats(0, 1, allow_nan=False, width=32)
    values = draw(
        st.lists(
            st.one_of(plain, plain, plain, st.sampled_from(SPECIAL)),
            min_size=n_rows * n_cols,
            max_size=n_rows * n_cols,
        )
    )
    X = np.array(values, dtype=np.float64).reshape(n_rows, n_cols)
    if n_cols > 1 and draw(st.booleans()):
        X[:, draw(st.integers(0, n_cols - 1))] = draw(st.sampled_from([0.0, 1.0, 0.5]))
    if kind == "float32":
        with np.errstate(over="ignore"):
            return X.astype(np.float32)
    if kind == "int":
        return (
            (np.nan_to_num(X, posinf=1e6, neginf=-1e6) * 3)
            .clip(-1e6, 1e6)
            .astype(np.int64)
        )
    if kind == "bool":
        return X > 0.5
    if kind == "object":
        return X.astype(object)
    if kind == "str":
        words = np.array(["a", "1.5", "x y", ""], dtype=object)
        text = np.where(
            X > 0.5, X.astype(str), words[np.arange(X.size) % 4].reshape(X.shape)
        )
        return text.astype(str) if draw(st.booleans()) else text
    if kind == "sparse":
        X[X < 0.3] = 0
        return sp.csr_matrix(X)
    return X


@st.composite
def estimators(draw):
    cls = draw(st.sampled_from(ESTIMATORS))
    params = {
        "n_components": draw(st.integers(1, 6)),
        "loss": draw(st.sampled_from(["mse", "bce"])),
        "batch_size": draw(st.integers(1, 4)),
        "max_iter": draw(st.integers(1, 3)),
        "learning_rate": draw(st.sampled_from([1e-3, 1e-3, 0.1, 1e3])),
        "early_stopping": draw(st.booleans()),
        "random_state": draw(st.integers(0, 3)),
        "device": "cpu",
        "encoder_params": {"hidden_layer_sizes": (4,)},
    }
    return cls(**params)


def tolerated(warning) -> bool:
    """ConvergenceWarning (tiny max_iter), and numpy's complaint about inf - inf
    inside scikit-learn's finiteness check, which then raises ValueError."""
    return warning.category is ConvergenceWarning or (
        warning.category is RuntimeWarning
        and "invalid value encountered" in str(warning.message)
        and "numpy" in warning.filename
    )


def attempt(call, *args):
    """``(result, None)``, or ``(None, exception)`` for an expected error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = call(*args), None
        except EXPECTED as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            result, error = None, exc
    unexpected = [
        f"{w.category.__name__}: {w.message}" for w in caught if not tolerated(w)
    ]
    assert not unexpected, f"{call.__name__} warned {unexpected}"
    outcome = "ok" if error is None else f"{type(error).__name__}: {str(error)[:40]}"
    event(f"{call.__name__} -> {outcome}")
    return result, error


def check_array_result(out, shape):
    assert isinstance(out, np.ndarray)
    assert out.shape == shape, f"shape {out.shape}, expected {shape}"
    assert np.isfinite(out).all(), "non-finite output returned silently"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(est=estimators(), data=st.data())
def test_every_call_answers_or_explains(est, data):
    X = data.draw(matrices(), label="X")
    _, error = attempt(est.fit, X)
    if error is not None:
        assert not hasattr(est, "module_"), "a failed fit left a model behind"
        _, error = attempt(est.transform, X)
        assert isinstance(error, NotFittedError)
        return
    n_features, k = X.shape[1], est.n_components
    same_width = data.draw(st.booleans(), label="same width")
    X2 = data.draw(matrices(n_cols=n_features if same_width else None), label="X2")
    Z, error = attempt(est.transform, X2)
    if Z is not None:
        check_array_result(Z, (X2.shape[0], k))
    codes = data.draw(matrices(n_cols=k, kinds=["float64", "float32"]), label="codes")
    out, _ = attempt(est.inverse_transform, codes)
    if out is not None:
        check_array_result(out, (codes.shape[0], n_features))
    n_samples = data.draw(st.sampled_from([1, 3, 0, -1, 2.5, "3"]), label="n_samples")
    out, _ = attempt(est.sample, n_samples, 0)
    if out is not None:
        check_array_result(out, (n_samples, n_features))
    score, _ = attempt(est.score, X2)
    if score is not None:
        assert isinstance(score, float) and np.isfinite(score)


@pytest.mark.parametrize("cls", ESTIMATORS)
@settings(max_examples=5, deadline=None)
@given(X=matrices(kinds=["float64"]))
def test_unfitted_estimators_say_so(cls, X):
    est = cls()
    for call, arg in [
        (est.transform, X),
        (est.inverse_transform, X),
        (est.score, X),
        (est.sample, 2),
    ]:
        _, error = attempt(call, arg)
        assert isinstance(error, NotFittedError)


def test_codes_beyond_float32_are_refused():
    est = AutoencoderTransformer(n_components=1, max_iter=1, device="cpu")
    est.fit(np.zeros((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large for float32"):
            est.inverse_transform(np.array([[1e300]]))
