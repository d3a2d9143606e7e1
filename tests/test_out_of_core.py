"""Out-of-core data: memmaps, HDF5 and Zarr arrays are streamed, never loaded whole."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import load_digits

import skae._storage
from skae import VAE, AutoencoderTransformer

X = (load_digits().data[:600] / 16).astype(np.float32)


@pytest.fixture
def streamed(monkeypatch):
    """Stream anything out of core, in chunks of 100 rows of digits."""
    monkeypatch.setattr(skae._storage, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(skae._storage, "CHUNK_BYTES", 100 * 64 * 4)


def memmap(tmp_path, data, dtype=np.float32):
    path = tmp_path / "X.dat"
    out = np.memmap(path, dtype=dtype, mode="w+", shape=data.shape)
    out[:] = data
    out.flush()
    return np.memmap(path, dtype=dtype, mode="r", shape=data.shape)


def hdf5(tmp_path, data):
    h5py = pytest.importorskip("h5py")
    file = h5py.File(tmp_path / "X.h5", "w")
    file.create_dataset("X", data=data, chunks=(50, data.shape[1]))
    return file["X"]


def zarr_array(tmp_path, data):
    zarr = pytest.importorskip("zarr")
    array = zarr.open_array(
        str(tmp_path / "X.zarr"),
        mode="w",
        shape=data.shape,
        chunks=(50, 64),
        dtype="f4",
    )
    array[:] = data
    return array


@pytest.mark.parametrize("store", [memmap, hdf5, zarr_array])
def test_streamed_fit_and_inference_on_storage(tmp_path, streamed, store):
    data = store(tmp_path, X)
    ae = AutoencoderTransformer(2, max_iter=3, early_stopping=True, random_state=0)
    ae.fit(data)
    assert ae.n_features_in_ == 64 and len(ae.loss_curve_) == 3
    assert not hasattr(ae, "feature_names_in_")
    Z = ae.transform(data)
    assert Z.dtype == np.float32
    # Inference on storage equals inference in memory, bit for bit.
    np.testing.assert_array_equal(Z, ae.transform(X))
    np.testing.assert_array_equal(ae.score_samples(data), ae.score_samples(X))
    vae = VAE(2, loss="bce", random_state=0).partial_fit(data).partial_fit(data)
    assert vae.n_iter_ == 2 and vae.sample(3, random_state=0).shape == (3, 64)


def test_streamed_training_is_reproducible_and_learns(tmp_path, streamed):
    data = memmap(tmp_path, X)
    fits = [
        AutoencoderTransformer(2, max_iter=4, random_state=0).fit(data) for _ in "ab"
    ]
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    assert fits[0].loss_curve_[-1] < fits[0].loss_curve_[0]


def test_small_storage_is_loaded_and_trains_like_memory(tmp_path):
    data = memmap(tmp_path, X)
    from_disk = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(data)
    in_memory = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(X)
    assert from_disk.loss_curve_ == in_memory.loss_curve_


def test_bad_storage_gets_clear_errors(tmp_path, streamed):
    with pytest.raises(ValueError, match=r"loss='bce' needs X in \[0, 1\]"):
        VAE(2, loss="bce").fit(memmap(tmp_path, (X * 16).astype(np.int16), np.int16))
    broken = X.copy()
    broken[450, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity .* rows 400 to 500"):
        AutoencoderTransformer(2).fit(memmap(tmp_path, broken))
    ae = AutoencoderTransformer(2, max_iter=1).fit(memmap(tmp_path, X))
    with pytest.raises(ValueError, match="X has 32 features"):
        ae.partial_fit(memmap(tmp_path, X[:, :32].copy()))
    with pytest.raises(ValueError, match="Expected a 2-D array"):
        ae.transform(
            np.memmap(tmp_path / "v.dat", dtype=np.float32, mode="w+", shape=(5,))
        )


def test_dask_arrays_with_unknown_chunks_are_refused():
    da = pytest.importorskip("dask.array")
    data = da.from_array(X, chunks=(100, 64))
    unknown = data[data[:, 0] >= 0]  # boolean indexing: chunk sizes are unknown
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        AutoencoderTransformer(2).fit(unknown)


MEMORY_SCRIPT = """
import json, sys, threading
import numpy as np, torch
torch.set_num_threads(1)
from skae import AutoencoderTransformer

def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024

path, n = sys.argv[1], int(sys.argv[2])
data = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, 784))
for start in range(0, n, 10_000):  # written in pieces: no big array in memory
    data[start:start + 10_000] = np.random.default_rng(start).random((min(10_000, n - start), 784))
data.flush()
del data
data = np.memmap(path, dtype=np.float32, mode="r", shape=(n, 784))
AutoencoderTransformer(64, max_iter=1).fit(data[:1000])  # warm up torch
before, peak, done = anon(), [0], threading.Event()

def watch():  # the peak, sampled every 5 ms
    while not done.wait(0.005):
        peak[0] = max(peak[0], anon())

watcher = threading.Thread(target=watch)
watcher.start()
ae = AutoencoderTransformer(64, max_iter=1, batch_size=256, random_state=0).fit(data)
codes = ae.transform(data)
done.set()
watcher.join()
print(json.dumps({"growth": max(peak[0], anon()) - before, "codes": codes.nbytes}))
"""


def test_memory_stays_bounded_on_a_large_memmap(tmp_path):
    # 50,000 x 784 float32: 157 MB, beyond the 64 MiB skae would load.
    n = 50_000
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(MEMORY_SCRIPT),
            str(tmp_path / "X.dat"),
            str(n),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # The peak growth of anonymous memory over fit plus transform: the codes
    # (12.8 MB) are the result; beyond them, one shuffle buffer (64 MiB) and
    # a chunk in flight, well below the data's 157 MB.
    assert result["growth"] - result["codes"] < 100 * 2**20, result


def test_dask_arrays_stream_in_fit_and_stay_lazy_in_inference(streamed):
    da = pytest.importorskip("dask.array")
    data = da.from_array(X, chunks=(100, 32))  # blocks split the columns too
    ae = AutoencoderTransformer(2, max_iter=3, random_state=0).fit(data)
    assert ae.n_features_in_ == 64 and len(ae.loss_curve_) == 3
    codes = ae.transform(data)
    assert isinstance(codes, da.Array) and codes.shape == (600, 2)
    assert codes.dtype == np.float32
    np.testing.assert_array_equal(codes.compute(), ae.transform(X))
    scores = ae.score_samples(data)
    assert isinstance(scores, da.Array) and scores.shape == (600,)
    np.testing.assert_array_equal(scores.compute(), ae.score_samples(X))
    back = ae.inverse_transform(da.from_array(ae.transform(X), chunks=(100, 2)))
    np.testing.assert_array_equal(back.compute(), ae.inverse_transform(ae.transform(X)))
