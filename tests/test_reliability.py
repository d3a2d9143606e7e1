"""Faults during training and inference, and determinism: real training, no mocks.

Faults are injected through the public extension points: an ``encoder``
callable whose module raises on a chosen forward pass, or a ``noise`` callable
that raises on a chosen call.
"""

import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from torch import nn

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder
from skae._data import check_codes

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
X = load_digits().data[:120] / 16.0
SMALL = {"encoder_params": {"hidden_layer_sizes": (16,)}}
FAST = {"max_iter": 3, "random_state": 0, "device": "cpu", **SMALL}


class Tripwire(nn.Module):
    """Wraps a module; raises ``exc`` on the ``after``-th training forward pass.

    Forward passes without gradients (the facade's shape probe, inference) are
    not counted; ``fail_inference`` makes those raise instead.
    """

    def __init__(self, inner: nn.Module, after: int | None, exc: BaseException):
        super().__init__()
        self.inner, self.after, self.exc = inner, after, exc
        self.calls = 0
        self.fail_inference = False

    def forward(self, x):
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.after:
                raise self.exc
        elif self.fail_inference:
            raise self.exc
        return self.inner(x)


def tripwire_architecture(after, exc):
    """An ``encoder=`` callable: a small MLP whose encoder is a Tripwire."""

    def build(n_features, n_encoder_outputs, n_components):
        encoder = nn.Sequential(
            nn.Linear(n_features, 16), nn.ReLU(), nn.Linear(16, n_encoder_outputs)
        )
        decoder = nn.Sequential(
            nn.Linear(n_components, 16), nn.ReLU(), nn.Linear(16, n_features)
        )
        return Tripwire(encoder, after, exc), decoder

    return build


def fitted_state(est):
    return sorted(k for k in vars(est) if k.endswith("_"))


def outputs(est):
    Z = est.transform(X)
    return Z, est.inverse_transform(Z), est.sample(4, random_state=0)


# ------------------------------------------------------------ divergence
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_divergence_names_the_epoch_and_leaves_no_model(cls):
    est = cls(**{**FAST, "learning_rate": 1e3, "max_iter": 20})
    with pytest.raises(
        ValueError, match=r"diverged at epoch \d+.*Lower learning_rate \(it is 1000\)"
    ):
        est.fit(X * 1e4)
    assert fitted_state(est) == []
    with pytest.raises(NotFittedError):
        est.transform(X)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAE])
def test_divergence_with_warm_start_keeps_the_fitted_model_bit_for_bit(cls):
    est = cls(n_components=3, **FAST).fit(X)
    before = outputs(est)
    curve, weights = (
        list(est.loss_curve_),
        {k: v.clone() for k, v in est.module_.state_dict().items()},
    )
    est.set_params(warm_start=True, learning_rate=1e3, max_iter=20)
    with pytest.raises(ValueError, match=r"diverged at epoch \d+.*learning_rate"):
        est.fit(X * 1e4)
    for old, new in zip(before, outputs(est)):
        assert old.tobytes() == new.tobytes()
    assert est.loss_curve_ == curve and est.n_iter_ == len(curve)
    state = est.module_.state_dict()
    assert all(torch.equal(weights[k], state[k]) for k in weights)
    assert all(torch.isfinite(v).all() for v in state.values())


@pytest.mark.parametrize("scale", [1e30, 3e38])
def test_transform_never_returns_non_finite_values_silently(scale):
    est = AutoencoderTransformer(n_components=3, **FAST).fit(X)
    for method, data in [
        ("transform", X * scale),
        ("score_samples", X * scale),
        ("inverse_transform", np.full((2, 3), scale)),
    ]:
        try:
            out = getattr(est, method)(data)
        except ValueError as exc:
            assert "non-finite" in str(exc)
        else:
            assert np.isfinite(out).all()


# ------------------------------------------------------------ KeyboardInterrupt
def fit_interrupted(est, data):
    """Fit, failing the test (not the session) if KeyboardInterrupt escapes."""
    try:
        with pytest.warns(UserWarning, match="interrupted by the user") as record:
            est.fit(data)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped fit")
    return record


@pytest.mark.parametrize("after, epochs", [(7, 2), (2, 0)])
@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAE])
def test_keyboard_interrupt_in_the_encoder_keeps_a_usable_model(cls, after, epochs):
    # 120 rows at batch_size=40 are 3 steps per epoch; step `after` raises.
    est = cls(
        n_components=3,
        encoder=tripwire_architecture(after, KeyboardInterrupt()),
        batch_size=40,
        max_iter=10,
        random_state=0,
        device="cpu",
    )
    record = fit_interrupted(est, X)
    assert f"after {epochs} epoch(s)" in str(record[0].message)
    assert est.n_iter_ == epochs == len(est.loss_curve_)
    Z = est.transform(X)
    assert Z.shape == (120, 3) and np.isfinite(Z).all()
    assert np.isfinite(est.inverse_transform(Z)).all()
    assert np.isfinite(est.sample(3, random_state=0)).all()
    assert np.isfinite(est.score(X))


def test_keyboard_interrupt_in_the_noise_keeps_a_usable_model():
    calls = []

    def noise(batch, level, generator):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return batch + level * torch.randn(
            batch.shape, generator=generator, device=batch.device
        )

    est = DenoisingAutoencoder(
        n_components=3,
        noise=noise,
        batch_size=40,
        max_iter=10,
        random_state=0,
        device="cpu",
        **SMALL,
    )
    fit_interrupted(est, X)
    assert est.n_iter_ == 1
    assert np.isfinite(est.transform(X)).all()


def test_keyboard_interrupt_with_warm_start_keeps_the_earlier_epochs():
    est = AutoencoderTransformer(
        n_components=3,
        encoder=tripwire_architecture(None, KeyboardInterrupt()),
        batch_size=40,
        **{k: v for k, v in FAST.items() if k != "encoder_params"},
    ).fit(X)
    est.module_.encoder.after = est.module_.encoder.calls + 4  # epoch 2 of the refit
    est.set_params(warm_start=True)
    fit_interrupted(est, X)
    assert est.n_iter_ == 3 + 1 == len(est.loss_curve_)
    assert np.isfinite(est.transform(X)).all()


# ------------------------------------------------------------ early stopping
def validation_rows(est, data):
    """The rows fit held out: the first ceil(fraction * n) of a seeded permutation."""
    n = len(data)
    n_val = int(np.ceil(est.validation_fraction * n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(est.random_state))
    return data[order[:n_val].numpy()]


def kept_validation_loss(est, data):
    """The kept module's validation loss, computed as the engine monitors it."""
    rows = torch.from_numpy(validation_rows(est, data).astype(np.float32))
    total = torch.zeros((), dtype=torch.float64)
    with torch.inference_mode():
        total += est.module_.eval_loss(rows).sum()
    return total.item() / len(rows)


@pytest.mark.parametrize(
    "cls, params",
    [
        # A noisy curve: the best epoch lies well before the last one.
        (AutoencoderTransformer, {"learning_rate": 0.05, "tol": 1e-4}),
        (VAE, {"learning_rate": 0.05, "loss": "bce", "tol": 1e-4}),
        # A smooth curve with a large tol: later epochs still improve a little,
        # and the least validation loss is the last epoch's.
        (AutoencoderTransformer, {"learning_rate": 0.01, "tol": 0.05}),
    ],
)
def test_early_stopping_keeps_the_best_validation_epoch(cls, params):
    data = load_digits().data[:200] / 16.0
    est = cls(
        n_components=3,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=4,
        max_iter=40,
        batch_size=32,
        random_state=0,
        device="cpu",
        **SMALL,
        **params,
    ).fit(data)
    curve = est.validation_loss_curve_
    assert len(curve) == est.n_iter_ < 40, "early stopping did not stop"
    assert est.best_validation_loss_ == min(curve)
    kept = kept_validation_loss(est, data)
    assert kept == pytest.approx(min(curve), rel=1e-7, abs=0), (
        f"kept {kept}, best {min(curve)} at epoch {int(np.argmin(curve)) + 1} "
        f"of {len(curve)}"
    )


# ------------------------------------------------------------ out of memory
OOM = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_during_fit_suggests_a_smaller_batch_size():
    est = AutoencoderTransformer(
        encoder=tripwire_architecture(2, OOM),
        batch_size=16,
        max_iter=2,
        random_state=0,
        device="cpu",
    )
    with pytest.raises(MemoryError, match=r"batch_size=16.*smaller batch_size") as info:
        est.fit(X)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert fitted_state(est) == []


def test_out_of_memory_during_inference_is_a_memory_error():
    est = AutoencoderTransformer(
        encoder=tripwire_architecture(None, OOM), **{**FAST, "encoder_params": None}
    ).fit(X)
    est.module_.encoder.fail_inference = True
    with pytest.raises(MemoryError, match="out of memory during transform"):
        est.transform(X)


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_same_seed_same_model_bit_for_bit(cls):
    first = outputs(cls(n_components=3, **FAST).fit(X))
    second = outputs(cls(n_components=3, **FAST).fit(X))
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_different_seeds_give_different_models(cls):
    a = cls(n_components=3, **FAST).fit(X).transform(X)
    b = cls(n_components=3, **{**FAST, "random_state": 1}).fit(X).transform(X)
    assert not np.array_equal(a, b)


_FIT_SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    from sklearn.datasets import load_digits
    import torch
    import skae
    warnings.simplefilter("ignore")
    torch.set_num_threads(int(sys.argv[2]))  # reductions split by thread count
    X = load_digits().data[:120] / 16.0
    with open(sys.argv[1], "wb") as out:
        for name in ["AutoencoderTransformer", "DenoisingAutoencoder", "VAE", "BetaVAE"]:
            est = getattr(skae, name)(n_components=3, max_iter=3, random_state=0,
                device="cpu", encoder_params={"hidden_layer_sizes": (16,)}).fit(X)
            Z = est.transform(X)
            for a in (Z, est.inverse_transform(Z), est.sample(4, random_state=0)):
                out.write(a.tobytes())
    """
)


def test_same_seed_same_model_across_processes(tmp_path):
    path = tmp_path / "other_process.bin"
    threads = str(torch.get_num_threads())
    subprocess.run([sys.executable, "-c", _FIT_SCRIPT, str(path), threads], check=True)
    here = b"".join(
        a.tobytes()
        for cls in ESTIMATORS
        for a in outputs(cls(n_components=3, **FAST).fit(X))
    )
    assert path.read_bytes() == here


@pytest.mark.parametrize("random_state", [None, 0, np.random.RandomState(0)])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_fit_leaves_the_global_random_state_alone(cls, random_state):
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    est = cls(n_components=3, **{**FAST, "random_state": random_state}).fit(X)
    Z = est.transform(X)
    est.inverse_transform(Z)
    est.sample(3)
    est.sample(3, random_state=1)
    est.score(X)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0] and after[2:] == numpy_state[2:]
    assert np.array_equal(after[1], numpy_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAE])
def test_concurrent_inference_matches_serial(cls):
    data = np.tile(X, (6, 1))  # 720 rows: two inference blocks
    est = cls(n_components=3, **FAST).fit(X)
    calls = [
        ("transform", data),
        ("score_samples", data),
        ("inverse_transform", est.transform(data)),
    ] * 4
    serial = [getattr(est, name)(arg) for name, arg in calls]
    samples = [est.sample(50, random_state=s) for s in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda c: getattr(est, c[0])(c[1]), calls))
        threaded_samples = list(
            pool.map(lambda s: est.sample(50, random_state=s), range(8))
        )
    for a, b in zip(serial + samples, threaded + threaded_samples):
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------ awkward data
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_constant_and_near_constant_features(cls):
    rng = np.random.default_rng(0)
    data = rng.random((60, 6))
    data[:, 0] = 0.5
    data[:, 1] = 0.0
    data[:, 2] = 0.3 + 1e-12 * rng.random(60)
    est = cls(n_components=2, **FAST).fit(data)
    Z = est.transform(data)
    assert np.isfinite(Z).all() and np.isfinite(est.inverse_transform(Z)).all()
    assert np.isfinite(est.score(data)) and np.isfinite(est.sample(3)).all()
    # An all-constant data set too.
    const = np.full((20, 4), 0.7)
    est = cls(n_components=2, **FAST).fit(const)
    assert np.isfinite(est.transform(const)).all()
    assert np.isfinite(est.sample(3)).all()


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_a_single_sample(cls, loss):
    est = cls(n_components=2, loss=loss, **FAST).fit(X[:1])
    Z = est.transform(X[:1])
    assert Z.shape == (1, 2) and np.isfinite(Z).all()
    assert est.inverse_transform(Z).shape == (1, 64)
    assert np.isfinite(est.score(X[:1]))
    assert np.isfinite(est.sample(2, random_state=0)).all()
    with pytest.raises(ValueError, match="validation set is too small"):
        cls(early_stopping=True, **FAST).fit(X[:1])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_more_components_than_features(cls):
    data = X[:, 20:23]
    est = cls(n_components=8, **FAST).fit(data)
    Z = est.transform(data)
    assert Z.shape == (120, 8) and np.isfinite(Z).all()
    assert est.inverse_transform(Z).shape == (120, 3)
    assert np.isfinite(est.sample(3, random_state=0)).all()
    assert est.get_feature_names_out().shape == (8,)


# ------------------------------------------------------------ every array-like
# Values k/4 are exact in every float type (float16, bfloat16, text), so each
# container must give exactly what its float64 numpy equivalent gives.
BASE = np.random.default_rng(0).integers(0, 5, size=(20, 4)) / 4
CODES = BASE[:, :2] - 0.5
SPARSE_FORMATS = ["csr", "csc", "coo", "bsr", "lil", "dok", "dia"]
SWEEP = {"n_components": 2, "max_iter": 2, "random_state": 0, "device": "cpu"}
SWEEP["encoder_params"] = {"hidden_layer_sizes": (8,)}


def accepted(a):
    """(id, container, its float64 equivalent) for every form of 2-D data taken."""
    ints, flags = (a * 4).astype(np.int64), a > 0.4
    frame = pd.DataFrame(a)
    wide = np.repeat(a, 2, axis=1)
    yield "list", a.tolist(), a
    yield "tuple", tuple(map(tuple, a.tolist())), a
    yield "list of arrays", list(a), a
    yield "text numbers", a.astype(str), a
    yield "DataFrame", frame, a
    yield "DataFrame Float64", frame.astype("Float64"), a
    yield "DataFrame Int64", pd.DataFrame(ints).astype("Int64"), ints
    yield "DataFrame boolean", pd.DataFrame(flags).astype("boolean"), flags
    yield "DataFrame object", frame.astype(object), a
    yield "DataFrame category", frame.astype("category"), a
    yield "DataFrame sparse", frame.astype(pd.SparseDtype(float, 0.0)), a
    yield "memoryview", memoryview(a), a
    yield "int", ints, ints
    if ints.min() >= 0:
        yield "uint8", ints.astype(np.uint8), ints
    yield "bool", flags, flags
    yield "float16", a.astype(np.float16), a
    yield "float32", a.astype(np.float32), a
    yield "big-endian", a.astype(">f8"), a
    yield "longdouble", a.astype(np.longdouble), a
    yield "fortran", np.asfortranarray(a), a
    yield "strided view", wide[:, ::2], a
    yield "read-only", np.frombuffer(a.tobytes()).reshape(a.shape), a
    yield "masked, none masked", np.ma.masked_array(a), a
    yield "torch float32", torch.tensor(a, dtype=torch.float32), a
    yield "torch float64", torch.tensor(a), a
    yield "torch requires_grad", torch.tensor(a, requires_grad=True), a
    yield "torch bfloat16", torch.tensor(a, dtype=torch.bfloat16), a
    yield "torch int", torch.tensor(ints), ints
    yield "torch bool", torch.tensor(flags), flags
    yield "torch transposed", torch.tensor(a.T.copy()).T, a
    for fmt in SPARSE_FORMATS:
        yield f"{fmt}_matrix", sp.csr_matrix(a).asformat(fmt), a
        yield f"{fmt}_array", sp.csr_array(a).asformat(fmt), a
    yield "sparse int", sp.csr_matrix(ints), ints
    yield "sparse bool", sp.csr_matrix(flags), flags
    yield "sparse float32", sp.csr_matrix(a.astype(np.float32)), a


def matrix(a):
    """``np.matrix(a)``, without numpy's warning against the class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


def refused(a, name):
    """(id, bad input, exception class, message pattern) for 2-D input ``name``."""
    frame = pd.DataFrame(a)
    diagonal = np.eye(*a.shape, dtype=bool)
    masked = np.ma.masked_array(a, mask=diagonal)
    structured = np.zeros(3, dtype=[("a", float), ("b", float)])
    like = f"{name} must be array-like"
    yield "None", None, TypeError, f"{like}.*got NoneType"
    yield "str", "0.5", TypeError, f"{like}.*got str"
    yield "dict", {"a": [0.5]}, TypeError, r"got dict\. For a dict of columns"
    yield "set", {0.5}, TypeError, f"{like}.*got set"
    yield "generator", (r for r in a), TypeError, r"got generator.*list\(X\)"
    yield "structured", structured, TypeError, f"{name} is a structured array"
    yield (
        "ragged",
        [[0.0, 1.0], [0.0]],
        ValueError,
        "rows that all have the same length",
    )
    yield "masked", masked, ValueError, f"{name} is a masked array with masked"
    yield "complex", a.astype(complex), ValueError, "Complex data not supported"
    yield "np.matrix", matrix(a), TypeError, "np.matrix is not supported"
    yield "Series", pd.Series(a[:, 0]), ValueError, "Expected a 2-dimensional"
    yield "1-D", a[0], ValueError, "Expected 2D array, got 1D array"
    yield "0-d", np.float64(0.5), ValueError, "Expected 2D array, got scalar"
    yield "0 rows", a[:0], ValueError, r"0 sample\(s\)"
    yield "0 features", a[:, :0], ValueError, r"0 feature\(s\)"
    yield "NA", frame.astype("Float64").mask(diagonal), ValueError, "NaN"
    yield "None entries", [[None] * a.shape[1]] * 3, ValueError, "NaN"
    yield "infinity", np.where(diagonal, np.inf, a), ValueError, "infinity"
    yield "torch sparse", torch.tensor(a).to_sparse(), TypeError, "sparse torch"
    yield "torch complex", torch.tensor(a.astype(complex)), ValueError, "Complex"
    yield "torch meta", torch.empty(a.shape, device="meta"), ValueError, "meta"


def refused_x(a):
    """``refused`` for data (X), plus what only data can get wrong."""
    yield from refused(a, "X")
    mixed = pd.DataFrame(a).set_axis(["a", *range(1, a.shape[1])], axis=1)
    yield "mixed column names", mixed, TypeError, "only supported if all input"
    yield "3-D", a[:, :, None], ValueError, r"dim 3.*flatten images"
    yield "text", np.full(a.shape, "a"), ValueError, "X must be numeric.*OneHot"
    yield "sparse 0 rows", sp.csr_matrix(a[:0]), ValueError, r"0 sample\(s\)"
    yield "sparse 0 features", sp.csr_matrix(a[:, :0]), ValueError, r"0 feature"
    yield "sparse NaN", sp.csr_matrix(np.where(a > 0.6, np.nan, a)), ValueError, "NaN"
    yield "sparse complex", sp.csr_matrix(a.astype(complex)), ValueError, "Complex"


def refused_z(a):
    """``refused`` for latent codes (Z): sparse codes too."""
    yield from refused(a, "Z")
    yield "3-D", a[:, :, None], ValueError, "dim 3"
    yield "csr", sp.csr_matrix(a), TypeError, "Sparse data was passed for Z"


def params(cases):
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.fixture(scope="module")
def sweep_model():
    return VAE(**SWEEP).fit(BASE)


_REFERENCE_FITS = {}


def reference_fit(data):
    key = data.tobytes()
    if key not in _REFERENCE_FITS:
        _REFERENCE_FITS[key] = VAE(**SWEEP).fit(data.astype(np.float64))
    return _REFERENCE_FITS[key]


@pytest.mark.parametrize("data, expected", params(accepted(BASE)))
def test_fit_takes_every_array_like(data, expected):
    est = VAE(**SWEEP).fit(data)
    reference = reference_fit(expected)
    assert est.n_features_in_ == 4 and not hasattr(est, "feature_names_in_")
    probe = expected.astype(np.float64)
    assert np.array_equal(est.transform(probe), reference.transform(probe))


@pytest.mark.parametrize("method", ["transform", "score_samples"])
@pytest.mark.parametrize("data, expected", params(accepted(BASE)))
def test_inference_takes_every_array_like(sweep_model, method, data, expected):
    got = getattr(sweep_model, method)(data)
    want = getattr(sweep_model, method)(expected.astype(np.float64))
    assert isinstance(got, np.ndarray) and got.shape == want.shape
    assert np.array_equal(got, want)


def dense(cases):
    """The cases but the sparse ones: latent codes are dense (like PCA's)."""
    sparse = (*SPARSE_FORMATS, "sparse", "DataFrame sparse")
    return [case for case in cases if not case[0].startswith(sparse)]


@pytest.mark.parametrize("data, expected", params(dense(accepted(CODES))))
def test_inverse_transform_takes_every_dense_array_like(sweep_model, data, expected):
    got = sweep_model.inverse_transform(data)
    assert np.array_equal(got, sweep_model.inverse_transform(expected.astype(float)))


@pytest.mark.parametrize("data, error, match", params(refused_x(BASE)))
@pytest.mark.parametrize("method", ["fit", "transform", "score_samples", "score"])
def test_bad_data_gets_a_clear_error(sweep_model, method, data, error, match):
    target = VAE(**SWEEP) if method == "fit" else sweep_model
    with pytest.raises(error, match=match):
        getattr(target, method)(data)


@pytest.mark.parametrize("data, error, match", params(refused_z(CODES)))
@pytest.mark.parametrize("through", ["inverse_transform", "check_codes"])
def test_bad_codes_get_a_clear_error(sweep_model, through, data, error, match):
    with pytest.raises(error, match=match):
        if through == "check_codes":
            check_codes(data, 2, "VAE")
        else:
            sweep_model.inverse_transform(data)


def one_rows(row):
    """(id, one-sample container, its float64 equivalent) for interpolate's ends."""
    yield "list", row.tolist(), row
    yield "tuple", tuple(row.tolist()), row
    yield "1-D array", row, row
    yield "2-D row", row[None], row
    yield "float32", row.astype(np.float32), row
    yield "Series", pd.Series(row), row
    yield "one-row DataFrame", pd.DataFrame(row[None]), row
    yield "one-row Float64", pd.DataFrame(row[None]).astype("Float64"), row
    yield "memoryview", memoryview(row.copy()), row
    yield "np.matrix row", matrix(row), row
    yield "torch", torch.tensor(row), row
    yield "torch requires_grad", torch.tensor(row, requires_grad=True), row
    for fmt in SPARSE_FORMATS:
        yield f"{fmt}_matrix", sp.csr_matrix(row[None]).asformat(fmt), row
        yield f"{fmt}_array", sp.csr_array(row[None]).asformat(fmt), row


@pytest.mark.parametrize("end, expected", params(one_rows(BASE[3])))
def test_interpolate_takes_every_one_row_form(sweep_model, end, expected):
    got = sweep_model.interpolate(end, BASE[5], n_steps=3)
    assert np.array_equal(got, sweep_model.interpolate(expected, BASE[5], n_steps=3))
    reverse = sweep_model.interpolate(BASE[5], end, n_steps=3)
    assert np.array_equal(reverse, got[::-1])


@pytest.mark.parametrize(
    "end, error, match",
    [
        pytest.param(None, TypeError, "x_start must be array-like", id="None"),
        pytest.param("0.5", TypeError, "got str", id="str"),
        pytest.param({"a": 1.0}, TypeError, "got dict", id="dict"),
        pytest.param(iter(BASE[0]), TypeError, "got iterator", id="iterator"),
        pytest.param(BASE[:2], ValueError, r"one sample.*shape \(2, 4\)", id="2 rows"),
        pytest.param(BASE[:0], ValueError, r"one sample.*shape \(0, 4\)", id="0 rows"),
        pytest.param(BASE[:1, :, None], ValueError, r"\(1, 4, 1\)", id="3-D"),
        pytest.param(np.float64(0.5), ValueError, "one sample", id="0-d"),
        pytest.param(BASE[0, :3], ValueError, "have 4 features", id="3 features"),
        pytest.param(BASE[0, :0], ValueError, "have 4 features", id="0 features"),
        pytest.param([0.0, [1.0, 2.0]], ValueError, "same length", id="ragged"),
        pytest.param(np.full(4, np.nan), ValueError, "NaN", id="NaN"),
        pytest.param(BASE[0].astype(complex), ValueError, "Complex", id="complex"),
        pytest.param(sp.csr_matrix(BASE[:2]), ValueError, "one sample", id="sparse"),
        pytest.param(
            torch.tensor(BASE[0]).to_sparse(), TypeError, "sparse torch", id="torch"
        ),
    ],
)
def test_interpolate_refuses_what_is_not_one_sample(sweep_model, end, error, match):
    with pytest.raises(error, match=match):
        sweep_model.interpolate(end, BASE[1])


@pytest.mark.parametrize("other", ["array", "DataFrame"])
def test_interpolate_reports_missing_values_in_a_nullable_frame(sweep_model, other):
    end = pd.DataFrame(BASE[:1]).astype("Float64")
    end.iloc[0, 2] = pd.NA
    other_end = BASE[1] if other == "array" else pd.DataFrame(BASE[1:2])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        sweep_model.interpolate(end, other_end)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        sweep_model.interpolate(other_end, end)


def test_xarray_data():
    xr = pytest.importorskip("xarray")
    est = VAE(**SWEEP).fit(xr.DataArray(BASE, dims=("sample", "feature")))
    assert np.array_equal(est.transform(BASE), reference_fit(BASE).transform(BASE))


def test_fit_does_not_change_the_callers_tensor():
    tensor = torch.tensor(BASE, dtype=torch.float32, requires_grad=True)
    before = tensor.detach().clone()
    VAE(**{**SWEEP, "loss": "bce"}).fit(tensor)
    assert torch.equal(tensor.detach(), before) and tensor.grad is None


# ------------------------------------------------------------ the fitted configuration
CHANGES = {
    "loss": "mse",
    "precision": "bfloat16",
    "n_components": 5,
    "encoder_params": {"hidden_layer_sizes": (32, 16)},
    "device": "cuda:7",
    "batch_size": 3,
    "max_iter": 50,
    "learning_rate": 0.5,
    "random_state": 9,
    "compile": True,
    "verbose": 1,
    "warm_start": True,
    "early_stopping": True,
    "lr_schedule": "constant",
}
EXTRA_CHANGES = {
    DenoisingAutoencoder: {"noise": "masking", "noise_level": 0.9},
    BetaVAE: {"beta": 100.0},
}


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inference_uses_the_fitted_configuration(cls):
    # issue 11, #9: set_params after fit changes the next fit, never the model.
    data = X[:40]
    est = cls(n_components=3, loss="bce", **FAST).fit(data)

    def everything():
        Z = est.transform(data)
        return [
            Z,
            est.inverse_transform(Z),
            est.score_samples(data),
            np.array([est.score(data)]),
            est.sample(5, random_state=0),
            est.interpolate(data[0], data[1], n_steps=4),
            est.get_feature_names_out(),
        ]

    before = everything()
    est.set_params(**CHANGES, **EXTRA_CHANGES.get(cls, {}))
    after = everything()
    for old, new in zip(before, after):
        assert old.dtype == new.dtype and np.array_equal(old, new)
