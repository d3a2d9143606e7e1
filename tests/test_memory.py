"""Peak memory, measured in fresh processes.

Sparse input is densified one batch at a time, never whole: the peak resident
memory a fit and a transform add must stay far below the size of the dense
matrix. ``sample`` draws and decodes in blocks: beyond its result, it holds
one block at a time.
"""

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, resource, warnings
    import numpy as np, scipy.sparse as sp, torch
    from skae import AutoencoderTransformer
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    X = sp.random(30_000, 4_000, density=1e-3, format="csr", dtype=np.float64,
                  random_state=0)
    est = AutoencoderTransformer(
        2, encoder_params={"hidden_layer_sizes": (8,)}, max_iter=1,
        batch_size=256, device="cpu", random_state=0,
    )
    est.fit(X[:512])  # first-call costs outside the measurement
    before = peak_mb()
    est.fit(X)
    Z = est.transform(X)
    print(json.dumps({"added_mb": peak_mb() - before,
                      "dense_mb": X.shape[0] * X.shape[1] * 4 / 2**20,
                      "finite": bool(np.isfinite(Z).all())}))
    """
)


def test_sparse_rows_are_densified_batch_by_batch():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["finite"]
    assert result["dense_mb"] > 400  # what densifying whole would cost (float32)
    assert result["added_mb"] < 60, result


SAMPLE_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, warnings
    import numpy as np, torch
    import skae
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    X = np.random.default_rng(0).random((300, 16))
    small = {"encoder_params": {"hidden_layer_sizes": (8,)}, "max_iter": 1}
    # Latent codes twice as wide as the rows.
    est = getattr(skae, sys.argv[1])(32, **small)
    n = 400_000
    given = {}
    if sys.argv[1] == "ConditionalVAE":  # 200 classes: one-hot rows 12x the result
        est.fit(X, np.arange(300) % 200)
        given = {"y": np.arange(n) % 200}
    else:
        est.fit(X)
    est.sample(5000, **{k: v[:5000] for k, v in given.items()})  # first-call costs
    before = peak_mb()
    out = est.sample(n, random_state=0, **given)
    added = peak_mb() - before
    assert out.shape == (n, 16) and np.isfinite(out).all()
    print(json.dumps({"added_mb": added, "result_mb": n * 16 * 8 / 2**20}))
    """
)


@pytest.mark.parametrize(
    "estimator", ["AutoencoderTransformer", "VAE", "ConditionalVAE"]
)
def test_sample_holds_one_block_beyond_its_result(estimator):
    done = subprocess.run(
        [sys.executable, "-c", SAMPLE_SCRIPT, estimator],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Drawing the 32-wide codes whole would add 2 x 98 MiB (the codes and
    # their shuffled copy) on top of the 49 MiB result.
    assert result["added_mb"] < result["result_mb"] + 30, result
