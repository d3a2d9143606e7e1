"""The GPU knobs, mixed ``precision`` and ``compile``: off by default, and working.

They pay off on GPUs; on this CPU they only have to train correctly. The CUDA
tests run where a GPU is present.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skae import VAE, AutoencoderTransformer, DenoisingAutoencoder

X = load_digits().data[:256] / 16.0
FAST = {"n_components": 4, "max_iter": 3, "random_state": 0, "device": "cpu"}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_knobs_are_off_by_default():
    params = AutoencoderTransformer().get_params()
    assert params["precision"] == "float32" and params["compile"] is False


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
@pytest.mark.parametrize("cls", [AutoencoderTransformer, DenoisingAutoencoder, VAE])
def test_mixed_precision_trains_like_float32(cls, precision):
    # Enough steps for float16's loss scale to settle (it skips steps at first).
    exact = cls(**{**FAST, "max_iter": 15}).fit(X)
    mixed = cls(**{**FAST, "max_iter": 15}, precision=precision).fit(X)
    assert all(p.dtype == torch.float32 for p in mixed.module_.parameters())
    assert np.isfinite(mixed.loss_curve_).all()
    assert mixed.loss_curve_[-1] == pytest.approx(
        exact.loss_curve_[-1], rel=0.1, abs=0.1
    )
    Z = mixed.transform(X.astype(np.float32))
    assert Z.dtype == np.float32 and np.isfinite(Z).all()
    assert np.isfinite(mixed.score_samples(X)).all()
    # Inference runs in the fitted precision too: close to float32, not equal
    # (the module itself, called without autocast, computes in float32) ...
    with torch.inference_mode():
        Z_exact = mixed.module_.encode(torch.from_numpy(X.astype(np.float32))).numpy()
    np.testing.assert_allclose(Z, Z_exact, atol=0.05 * np.abs(Z_exact).max())
    assert not np.array_equal(Z, Z_exact)
    # ... and stays the fitted precision when the parameter changes after fit.
    mixed.set_params(precision="float32")
    np.testing.assert_array_equal(mixed.transform(X.astype(np.float32)), Z)


@pytest.mark.slow
# torch's own tracing warns about .grad on non-leaf tensors (a graph break at
# the seeded draw); the warning is torch's, not a fault of the model.
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor:UserWarning")
def test_compiled_training_matches_eager():
    """torch.compile traces the loss (tens of seconds on a CPU, once)."""
    eager = VAE(**FAST).fit(X)
    compiled = VAE(**FAST, compile=True).fit(X)
    np.testing.assert_allclose(compiled.loss_curve_, eager.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(compiled.transform(X), eager.transform(X), atol=1e-3)


@CUDA
@pytest.mark.parametrize("precision", ["float32", "bfloat16", "float16"])
def test_cuda_training_and_inference(precision):
    est = VAE(**{**FAST, "device": "cuda"}, precision=precision).fit(X)
    assert est.device_.startswith("cuda")
    assert np.isfinite(est.transform(X)).all() and np.isfinite(est.sample(5)).all()
