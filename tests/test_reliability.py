"""Faults during training and inference, and determinism: real training, no mocks.

Faults are injected through the public extension points: an ``encoder``
callable whose module raises on a chosen forward pass, or a ``noise`` callable
that raises on a chosen call.
"""

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from torch import nn

from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

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
