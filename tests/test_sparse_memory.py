"""Sparse input is densified one batch at a time, never whole.

Measured in a fresh process: the peak resident memory a fit and a transform
add must stay far below the size of the dense matrix.
"""

import json
import subprocess
import sys
import textwrap

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
