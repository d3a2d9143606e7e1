"""Bad input gets a clear scikit-learn style error, and fit leaves nothing half-done."""

import numbers
import pickle
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import (
    VAE,
    AutoencoderTransformer,
    BetaVAE,
    DenoisingAutoencoder,
    InvalidParameterError,
)
from skae._data import UNIT_TOLERANCE, check_n_rows, check_unit_interval
from skae._device import check_device, is_device_name, loadable_device
from skae._params import Interval

X = load_digits().data[:60] / 16.0
FAST = {"max_iter": 2, "random_state": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def fitted():
    return AutoencoderTransformer(n_components=3, **FAST).fit(X)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.where(np.eye(60, 64) > 0, np.nan, X), "Input X contains NaN"),
        (np.where(np.eye(60, 64) > 0, np.inf, X), "Input X contains infinity"),
        (X[:, 0], "Expected 2D array, got 1D array"),
        (X.reshape(60, 8, 8), "Found array with dim 3"),
        (X[:0], "0 sample"),
        (np.array([["a", "b"], ["c", "d"]]), "X must be numeric.*OneHotEncoder"),
        (X * 1e39, "too large for float32"),
    ],
)
def test_bad_X_in_fit(bad, match):
    est = AutoencoderTransformer(**FAST)
    with pytest.raises(ValueError, match=match):
        est.fit(bad)
    assert not [k for k in vars(est) if k.endswith("_")], (
        "a failed fit left state behind"
    )


@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_bad_X_after_fit(fitted, method):
    with pytest.raises(
        ValueError,
        match="X has 10 features, but AutoencoderTransformer is expecting 64",
    ):
        getattr(fitted, method)(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        getattr(fitted, method)(np.full((2, 64), np.nan))


def test_inverse_transform_checks_the_code_width(fitted):
    with pytest.raises(ValueError, match="Z has 5 columns.*n_components=3"):
        fitted.inverse_transform(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="Input Z contains NaN"):
        fitted.inverse_transform(np.full((2, 3), np.nan))


def test_bce_needs_data_in_unit_interval():
    est = VAE(loss="bce", **FAST)
    with pytest.raises(
        ValueError, match=r"loss='bce' needs X in \[0, 1\].*MinMaxScaler"
    ):
        est.fit(X * 16)
    est.fit(X)
    with pytest.raises(ValueError, match="MinMaxScaler"):
        est.score(X - 0.5)


@pytest.mark.parametrize(
    "cls, params, match",
    [
        (
            AutoencoderTransformer,
            {"learning_rate": 0},
            r"'learning_rate' parameter .* range \(0, inf\)",
        ),
        (AutoencoderTransformer, {"learning_rate": -1.0}, "learning_rate"),
        (
            AutoencoderTransformer,
            {"batch_size": 0},
            r"'batch_size' parameter .* range \[1, inf\)",
        ),
        (AutoencoderTransformer, {"batch_size": "big"}, "batch_size"),
        (AutoencoderTransformer, {"n_components": 0}, "n_components"),
        (AutoencoderTransformer, {"max_iter": 0}, "max_iter"),
        (AutoencoderTransformer, {"validation_fraction": 1.0}, "validation_fraction"),
        (AutoencoderTransformer, {"tol": -1}, "tol"),
        (
            AutoencoderTransformer,
            {"loss": "l1"},
            r"'loss' parameter .* among \['bce', 'gaussian', 'logit_gaussian', 'mse'\]",
        ),
        (
            AutoencoderTransformer,
            {"encoder": "mpl"},
            "Did you mean 'mlp'.*Registered architectures: .*'conv', .*'mlp'",
        ),
        (
            AutoencoderTransformer,
            {"encoder": 3},
            "'encoder' parameter .* a str or a callable",
        ),
        (
            AutoencoderTransformer,
            {"encoder": torch.nn.Linear(64, 2)},
            "not a torch.nn.Module instance",
        ),
        (
            DenoisingAutoencoder,
            {"noise": torch.nn.Dropout()},
            "'noise' parameter .*not a torch.nn.Module instance",
        ),
        (
            AutoencoderTransformer,
            {"encoder_params": {"hidden": 3}},
            r"does not take; it takes \['activation', 'hidden_layer_sizes'\]",
        ),
        (
            AutoencoderTransformer,
            {"encoder_params": {"hidden_layer_sizes": (0,)}},
            "positive ints",
        ),
        (AutoencoderTransformer, {"device": "gpu"}, "'device' parameter .* 'cuda:N'"),
        (AutoencoderTransformer, {"random_state": -1}, "random_state"),
        (
            BetaVAE,
            {"beta": -0.5},
            r"'beta' parameter of BetaVAE must be a float in the range \[0, inf\)",
        ),
        (
            DenoisingAutoencoder,
            {"noise": "pink"},
            "Registered noise schemes: .*'gaussian', .*'masking', .*'salt_and_pepper'",
        ),
        (DenoisingAutoencoder, {"noise": "gausian"}, "Did you mean 'gaussian'"),
        (
            DenoisingAutoencoder,
            {"noise": "masking", "noise_level": 1.5},
            r"must be in \[0.0, 1.0\] for noise='masking'",
        ),
        (DenoisingAutoencoder, {"noise_level": -0.1}, "noise_level"),
    ],
)
def test_bad_parameters(cls, params, match):
    est = cls(**{**FAST, **params})
    with pytest.raises(InvalidParameterError, match=match) as info:
        est.fit(X)
    assert isinstance(info.value, ValueError)  # and a TypeError, like scikit-learn's


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_unavailable_device(device):
    with pytest.raises(
        ValueError,
        match=f"device='{device}' was requested, but CUDA is not available.*device='cpu'",
    ):
        AutoencoderTransformer(
            device=device, **{k: v for k, v in FAST.items() if k != "device"}
        ).fit(X)


@pytest.mark.parametrize(
    "cls", [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
)
@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.transform(X),
        lambda e: e.inverse_transform(np.zeros((1, 2))),
        lambda e: e.sample(2),
        lambda e: e.score(X),
        lambda e: e.score_samples(X),
        lambda e: e.get_feature_names_out(),
        lambda e: e.interpolate(X[0], X[1]),
    ],
)
def test_methods_before_fit(cls, call):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        call(cls())


@pytest.mark.parametrize("cls", [VAE, BetaVAE])
def test_elbo_checks_like_score(cls):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        cls().elbo(X)
    est = cls(n_components=2, **FAST).fit(X)
    name = cls.__name__
    with pytest.raises(
        ValueError, match=f"X has 10 features, but {name} is expecting 64"
    ):
        est.elbo(X[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        est.elbo(np.full((2, 64), np.nan))
    assert est.elbo(X[:5]).shape == (5,)


def test_sample_arguments(fitted):
    with pytest.raises(InvalidParameterError, match="'n_samples' parameter"):
        fitted.sample(0)
    with pytest.raises(InvalidParameterError, match="'random_state' parameter"):
        fitted.sample(2, random_state="seed")


def test_validation_set_too_small():
    with pytest.raises(ValueError, match="validation set is too small"):
        AutoencoderTransformer(early_stopping=True, **FAST).fit(X[:1])


def test_wrong_architecture_shapes_name_the_architecture():
    def too_narrow(n_features, n_encoder_outputs, n_components):
        return torch.nn.Linear(n_features, n_encoder_outputs + 1), torch.nn.Linear(
            n_components, n_features
        )

    with pytest.raises(
        ValueError, match=r"too_narrow.*encoder.*shape \(2, 4\); expected \(2, 3\)"
    ):
        AutoencoderTransformer(n_components=3, encoder=too_narrow, **FAST).fit(X)


def test_architecture_without_parameters():
    def identity(n_features, n_encoder_outputs, n_components):
        return torch.nn.Identity(), torch.nn.Identity()

    with pytest.raises(ValueError, match="no trainable parameters"):
        AutoencoderTransformer(n_components=64, encoder=identity, **FAST).fit(X)


# ------------------------------------------------------------ loss="bce" and [0, 1]
def test_bce_accepts_min_max_scaled_data_in_a_pipeline():
    # MinMaxScaler's output reaches 1 + 2.2e-16 on this data set (issue 11, #7).
    data = load_breast_cancer().data
    assert MinMaxScaler().fit_transform(data).max() > 1
    pipe = make_pipeline(MinMaxScaler(), VAE(loss="bce", **FAST)).fit(data)
    assert np.isfinite(pipe.score(data))
    assert np.isfinite(pipe.transform(data)).all()


ROUNDED = X.copy()
ROUNDED[0, 0] = 1 + 2.2e-16  # float64 rounding past 1
ROUNDED[1, 1] = -1e-17  # and below 0
ROUNDED[2, 2] = 1 + 4e-7  # float32 rounding past 1, seen in float64
ROUNDED[3, 3] = -4e-7


@pytest.mark.parametrize(
    "container",
    [np.array, np.asfortranarray, lambda a: a.astype(np.float32), sp.csr_matrix],
    ids=["float64", "fortran", "float32", "csr"],
)
@pytest.mark.parametrize("cls", [VAE, AutoencoderTransformer])
def test_bce_clips_float_rounding_and_leaves_the_callers_data_alone(cls, container):
    data = container(ROUNDED)
    before = data.copy()
    est = cls(loss="bce", **FAST).fit(data)
    assert np.isfinite(est.score_samples(data)).all()
    assert est.score(data) == est.score(np.clip(ROUNDED, 0, 1).astype(before.dtype))
    same = (
        (data != before).nnz == 0 if sp.issparse(data) else np.array_equal(data, before)
    )
    assert same, "check_unit_interval changed the caller's data"


@pytest.mark.parametrize(
    "value", [1 + 1e-6, 1.001, 2.0, -1e-6, -0.001, -1.0], ids=lambda v: f"{v:.7g}"
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_bce_refuses_real_violations_of_the_unit_interval(value, sparse):
    bad = X.copy()
    bad[5, 7] = value
    bad = sp.csc_matrix(bad) if sparse else bad
    with pytest.raises(
        ValueError, match=r"loss='bce' needs X in \[0, 1\].*MinMaxScaler"
    ):
        VAE(loss="bce", **FAST).fit(bad)
    est = VAE(loss="bce", **FAST).fit(X)
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\], but X ranges from"):
        est.score_samples(bad)


def test_check_unit_interval_copies_only_what_needs_clipping():
    inside = np.array([[0.0, 1.0], [0.5, 0.25]])
    assert check_unit_interval(inside, "bce") is inside
    for sparse in (sp.csr_matrix(inside), sp.csc_array(inside)):
        assert check_unit_interval(sparse, "bce") is sparse
    outside = np.array([[5.0, -3.0]])
    assert check_unit_interval(outside, "mse") is outside  # only bce needs [0, 1]
    # The tolerance: 4 float32 ulps at 1, the same for every input dtype.
    assert UNIT_TOLERANCE == 4 * np.finfo(np.float32).eps
    for dtype in (np.float64, np.float32):
        edge = np.array([[1 + UNIT_TOLERANCE, -UNIT_TOLERANCE, 0.5]], dtype=dtype)
        clipped = check_unit_interval(edge, "bce")
        assert clipped is not edge and clipped.dtype == dtype
        assert clipped.tolist() == [[1.0, 0.0, 0.5]]
        assert edge[0, 0] > 1, "the caller's array was clipped in place"
        with pytest.raises(ValueError, match="needs X in"):
            check_unit_interval(edge * 1.5, "bce")
    for fmt in ("csr", "csc"):
        rounded = sp.random(6, 5, density=0.5, format=fmt, random_state=0)
        rounded.data[0] = 1 + 2.2e-16
        original = rounded.copy()
        clipped = check_unit_interval(rounded, "bce")
        assert clipped.format == fmt and type(clipped) is type(rounded)
        assert np.array_equal(clipped.toarray(), np.clip(original.toarray(), 0, 1))
        assert rounded.data[0] == 1 + 2.2e-16, "the caller's matrix was clipped"
        assert np.shares_memory(clipped.indices, rounded.indices), "indices copied"


def test_score_checks_the_unit_interval_against_the_fitted_loss():
    # issue 11, #9: set_params after fit must not change what the model does.
    est = VAE(loss="bce", **FAST).fit(X)
    fitted_score = est.score(X)
    est.set_params(loss="mse")
    with pytest.raises(ValueError, match=r"loss='bce' needs X in \[0, 1\]"):
        est.score(X * 5)
    assert est.score(X) == fitted_score


# ------------------------------------------------------------ devices
@pytest.mark.parametrize(
    "device",
    [
        "cpu\n",
        "auto\n",
        "mps\n",
        "cuda\n",
        "cuda:0\n",
        "\ncpu",
        " cpu",
        "cpu ",
        "CPU",
        "Cuda",
        "cuda:",
        "cuda:01",
        "cuda:-1",
        "cuda:+1",
        "cuda:0:0",
        "cuda:1.0",
        "cuda:\u0661",
        "cuda:\uff11",
        "cpu\x00",
        "",
        "gpu",
        b"cpu",
        0,
        None,
        torch.device("cpu"),
    ],
)
def test_device_strings_are_validated_exactly(device):
    # issue 11, #10: "$" matched before a trailing newline; torch then refused it.
    est = AutoencoderTransformer(**{**FAST, "device": device})
    with pytest.raises(InvalidParameterError, match=r"'device' parameter .* 'cuda:N'"):
        est.fit(X)
    assert not is_device_name(device)
    with pytest.raises(InvalidParameterError, match="'device' parameter of skae demo"):
        check_device(device, "skae demo")


@pytest.mark.parametrize("device", ["auto", "cpu", "mps", "cuda", "cuda:0", "cuda:12"])
def test_device_names_that_are_valid(device):
    assert is_device_name(device)
    assert check_device(device, "skae demo") == device


@pytest.mark.parametrize("device", ["cpu\n", "auto", "cuda:01", "", "cpu "])
def test_a_pickled_estimator_with_a_bad_device_is_refused(device):
    est = AutoencoderTransformer(n_components=3, **FAST).fit(X)
    est.device_ = device
    with pytest.raises(ValueError, match=r"device_.*is not a device"):
        pickle.loads(pickle.dumps(est))
    with pytest.raises(ValueError, match="is not a device"):
        loadable_device(device, "AutoencoderTransformer")


# ------------------------------------------------------------ non-finite parameters
def _float_parameters():
    """(class, parameter) for every float-valued constraint of every estimator."""
    for cls in (AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE):
        constraints = {}
        for klass in reversed(cls.__mro__):
            constraints.update(vars(klass).get("_constraints", {}))
        for name, allowed in constraints.items():
            if any(
                isinstance(c, Interval) and c.kind is not numbers.Integral
                for c in allowed
            ):
                yield cls, name


FLOAT_PARAMETERS = list(_float_parameters())


def test_every_float_parameter_is_found():
    names = {name for _, name in FLOAT_PARAMETERS}
    expected = {
        "learning_rate",
        "validation_fraction",
        "tol",
        "beta",
        "capacity",
        "noise_level",
    }
    assert names == expected


NON_FINITE = [
    float("inf"),
    float("-inf"),
    float("nan"),
    np.float32("inf"),
    np.float64("nan"),
    np.longdouble("1e4000"),  # finite as a long double, inf as a float
    10**400,  # an int beyond float range
    Fraction(10**400, 3),
]


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize(
    "cls, name",
    FLOAT_PARAMETERS,
    ids=[f"{c.__name__}-{n}" for c, n in FLOAT_PARAMETERS],
)
def test_non_finite_float_parameters_are_refused(cls, name, value):
    # issue 11, #13: inf passed every interval with an open upper end.
    params = {**FAST, name: value}
    if name == "validation_fraction":
        params["early_stopping"] = True
    est = cls(**params)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "):
        est.fit(X)
    assert not hasattr(est, "module_")


@pytest.mark.parametrize(
    "noise, level", [("gaussian", 1e308), ("masking", 0.0), ("salt_and_pepper", 1)]
)
def test_finite_noise_levels_at_the_ends_of_their_ranges(noise, level):
    # The interval now refuses non-finite levels only; the scheme's own range
    # still decides the rest (a huge Gaussian level is allowed, and diverges).
    est = DenoisingAutoencoder(noise=noise, noise_level=level, **FAST)
    try:
        est.fit(X)
    except ValueError as exc:
        assert "non-finite" in str(exc) or "diverged" in str(exc)
        assert not isinstance(exc, InvalidParameterError)


def test_interval_refuses_non_finite_floats_but_takes_big_ints():
    positive = Interval(numbers.Real, 0, None, "neither")
    for value in NON_FINITE:
        assert not positive.accepts(value), value
    for value in (1e-300, 1e308, 3, np.float32(2.5), Fraction(1, 3), 2**1000):
        assert positive.accepts(value), value
    counts = Interval(numbers.Integral, 1, None)
    assert counts.accepts(10**400) and counts.accepts(np.int64(5))
    assert not counts.accepts(float("inf")) and not counts.accepts(True)
    assert str(positive) == "a float in the range (0, inf)"


# ------------------------------------------------------------ sizes
@pytest.mark.parametrize(
    "n_samples, error",
    [
        (2**62, ValueError),
        (2**70, ValueError),
        (np.int64(2**62), ValueError),
        (np.uint64(2**64 - 1), ValueError),
        (10**12, MemoryError),  # 512 TB of float64: no machine has that
    ],
    ids=["2**62", "2**70", "np.int64(2**62)", "np.uint64(2**64-1)", "10**12"],
)
def test_sample_sizes_that_cannot_work(fitted, n_samples, error):
    # issue 11, #11: torch raised RuntimeError or TypeError.
    with pytest.raises(error, match="n_samples") as info:
        fitted.sample(n_samples)
    assert not isinstance(info.value, InvalidParameterError)


@pytest.mark.parametrize("n_samples", [0, -1, 2.0, "3", None, True, np.float64(2)])
def test_sample_refuses_what_is_not_a_count(fitted, n_samples):
    with pytest.raises(InvalidParameterError, match="'n_samples' parameter"):
        fitted.sample(n_samples)


@pytest.mark.parametrize("n_samples", [1, 3, np.int64(3), np.uint8(3), np.int32(1)])
def test_sample_takes_every_kind_of_int(fitted, n_samples):
    assert fitted.sample(n_samples, random_state=0).shape == (int(n_samples), 64)


@pytest.mark.parametrize(
    "n_steps, error", [(2**62, ValueError), (2**70, ValueError), (10**12, MemoryError)]
)
def test_interpolate_sizes_that_cannot_work(fitted, n_steps, error):
    with pytest.raises(error, match="n_steps"):
        fitted.interpolate(X[0], X[1], n_steps=n_steps)


def test_check_n_rows():
    args = {"n_features": 64, "owner": "VAE.sample"}
    assert check_n_rows(np.int64(5), "n_samples", **args) == 5
    assert type(check_n_rows(np.int64(5), "n_samples", **args)) is int
    with pytest.raises(InvalidParameterError, match=r"'n_samples' parameter of VAE"):
        check_n_rows(0, "n_samples", **args)
    with pytest.raises(InvalidParameterError, match=r"range \[2, inf\)"):
        check_n_rows(1, "n_steps", minimum=2, **args)
    with pytest.raises(
        ValueError, match=r"VAE.sample\(n_samples=4611686018427387904\)"
    ):
        check_n_rows(2**62, "n_samples", **args)
    with pytest.raises(MemoryError, match=r"n_samples=1000000000000.*this machine"):
        check_n_rows(10**12, "n_samples", **args)
    with pytest.raises(ValueError, match="n_steps"):
        check_n_rows(np.uint64(2**64 - 1), "n_steps", **args)
