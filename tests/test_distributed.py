"""Data-parallel training on torch.distributed: 2 gloo processes on loopback, CPU."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch.distributed as dist
from sklearn.datasets import load_digits

import skae
from skae import AutoencoderTransformer

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="no torch.distributed")

X = (load_digits().data[:500] / 16).astype(np.float32)

RANK_SCRIPT = """
import json, sys
import numpy as np, torch, torch.distributed as dist
torch.set_num_threads(1)
from sklearn.datasets import load_digits
import skae

rank, store, out, case = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
X = (load_digits().data[:500] / 16).astype(np.float32)
if case == "widths" and rank == 1:
    X = X[:, :32]
result = {}
try:
    if case == "batchnorm":  # 131 rows: a last batch of 3 splits 2 + 1
        from torch import nn
        def bn(n_features, n_encoder_outputs, n_components):
            return (
                nn.Sequential(nn.Linear(n_features, 8), nn.BatchNorm1d(8),
                              nn.Linear(8, n_encoder_outputs)),
                nn.Linear(n_components, n_features),
            )
        with skae.data_parallel():
            skae.AutoencoderTransformer(2, encoder=bn, max_iter=1).fit(X[:131])
    with skae.data_parallel() as shard:
        ae = skae.AutoencoderTransformer(
            2, batch_size=64, max_iter=3, random_state=0
        ).fit(X)
        ae.save(f"{out}/model.skae")
        vae = skae.VAE(2, batch_size=64, max_iter=2, random_state=0).fit(X)
    result = {
        "rank": shard.rank,
        "world": shard.world,
        "loss_curve": ae.loss_curve_,
        "codes": ae.transform(X[:20]).tolist(),
        "vae_weights": [p.detach().sum().item() for p in vae.module_.parameters()],
        "vae_scores": vae.score_samples(X[:5]).tolist(),
    }
except ValueError as exc:
    result = {"error": str(exc)}
with open(f"{out}/rank{rank}.json", "w") as f:
    json.dump(result, f)
dist.destroy_process_group()
"""


def run_ranks(tmp_path, case="same"):
    script = tmp_path / "rank.py"
    script.write_text(textwrap.dedent(RANK_SCRIPT))
    ranks = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(r),
                str(tmp_path / "store"),
                str(tmp_path),
                case,
            ]
        )
        for r in range(2)
    ]
    for process in ranks:
        assert process.wait(timeout=240) == 0
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


def test_two_ranks_train_like_one_process_with_the_same_global_batch(tmp_path):
    ranks = run_ranks(tmp_path)
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["world"] == 2
    # Every rank ends with the same model ...
    np.testing.assert_array_equal(ranks[0]["codes"], ranks[1]["codes"])
    np.testing.assert_array_equal(ranks[0]["vae_weights"], ranks[1]["vae_weights"])
    # (and the VAE's variances, calibrated after training, with them)
    np.testing.assert_array_equal(ranks[0]["vae_scores"], ranks[1]["vae_scores"])
    assert ranks[0]["loss_curve"] == ranks[1]["loss_curve"]
    # ... equal to a single-process fit with the same global batch.
    alone = AutoencoderTransformer(2, batch_size=64, max_iter=3, random_state=0).fit(X)
    np.testing.assert_allclose(ranks[0]["loss_curve"], alone.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(ranks[0]["codes"], alone.transform(X[:20]), atol=1e-4)
    # Only rank 0 wrote the file.
    saved = skae.load(tmp_path / "model.skae")
    np.testing.assert_allclose(saved.transform(X[:20]), ranks[0]["codes"], atol=1e-6)


def test_ranks_that_disagree_on_the_data_width_are_refused(tmp_path):
    ranks = run_ranks(tmp_path, case="widths")
    for rank in ranks:
        assert "ranks disagree on the data's shape" in rank["error"]
    assert not (tmp_path / "model.skae").exists()


def test_batch_statistics_on_a_one_row_part_are_refused_on_every_rank(tmp_path):
    # Refused before any step: no rank waits for another in an all-reduce.
    ranks = run_ranks(tmp_path, case="batchnorm")
    for rank in ranks:
        assert "each batch split over 2 data-parallel ranks" in rank["error"]


def test_data_parallel_needs_an_initialised_process_group():
    with pytest.raises(ValueError, match="initialised torch.distributed"):
        with skae.data_parallel():
            pass
