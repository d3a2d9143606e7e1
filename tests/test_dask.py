"""Searches on a Dask cluster: scores, torch threads, the heap, plugins, a lost worker.

Needs the dask extra (``pip install -e ".[dask]"``); skipped without it. The
tests start their own ``distributed.LocalCluster``: loopback, 2 worker
processes of 1 thread each. The workers unpickle this module's functions and
classes by reference, as ``tests.test_dask``, from the repository root.
"""

import itertools
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV
from torch import nn

import skae
from skae import Architecture, AutoencoderTransformer, _parallel, registry
from skae._parallel import fixed_malloc_thresholds, worker_context, worker_threads

REASON = 'needs the dask extra: pip install -e ".[dask]"'
distributed = pytest.importorskip("distributed", reason=REASON)
joblib = pytest.importorskip("joblib")

ROOT = Path(__file__).resolve().parents[1]
X = load_digits().data[:240] / 16.0
FAST = {"max_iter": 2, "batch_size": 60, "random_state": 0, "device": "cpu"}
GRID = {"n_components": [2, 3]}
# Torch's count in a worker's task thread before skae runs there: anything but
# the worker's 1 thread, as a library or an earlier task might have left it.
BY_CHANCE = 3
RUN_TIME = "test_dask_linear"


@pytest.fixture(scope="module")
def client():
    # Spawned workers start with this sys.path: they import tests.test_dask
    # from the repository root, whichever way pytest was started.
    added = str(ROOT) not in sys.path
    if added:
        sys.path.insert(0, str(ROOT))
    try:
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",  # any free port: 8787 may be taken
                silence_logs=logging.CRITICAL,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
    finally:
        if added:
            sys.path.remove(str(ROOT))


def _search(search, client=None, **backend):
    if client is None:
        return search.fit(X)
    with joblib.parallel_backend("dask", **backend):
        return search.fit(X)


def _assert_same_scores(serial, parallel):
    keys = [k for k in serial.cv_results_ if k.endswith("test_score")]
    assert keys
    for key in keys:
        np.testing.assert_array_equal(
            parallel.cv_results_[key], serial.cv_results_[key]
        )
    assert serial.cv_results_["params"] == parallel.cv_results_["params"]


def _grid(**params):
    est = AutoencoderTransformer(**{**FAST, **params})
    return GridSearchCV(est, GRID, cv=3, error_score="raise", refit=False)


# ------------------------------------------------------------ helpers the workers run
def _in_worker() -> bool:
    return worker_threads() is not None


def _mark(folder, text) -> None:
    Path(folder, f"{os.getpid()}-{uuid.uuid4().hex}").write_text(text)


def _marks(folder):
    """``(pid, text)`` of every mark left in ``folder``."""
    return [(int(p.name.split("-")[0]), p.read_text()) for p in Path(folder).iterdir()]


def build_thread_recorder(n_features, n_encoder_outputs, n_components, *, record_dir):
    """A linear autoencoder whose encoder notes torch's thread count as it runs."""
    encoder = nn.Linear(n_features, n_encoder_outputs)

    def note(module, args):
        if _in_worker():
            mode = "infer" if torch.is_inference_mode_enabled() else "train"
            _mark(record_dir, f"{mode} {torch.get_num_threads()}")

    encoder.register_forward_pre_hook(note)
    return encoder, nn.Linear(n_components, n_features)


class ThreadsLeftToChance(AutoencoderTransformer):
    """Enters fit and score with torch at BY_CHANCE threads, as a worker may."""

    def fit(self, X, y=None):
        return self._at_chance(super().fit, X)

    def score(self, X, y=None):
        return self._at_chance(super().score, X)

    def _at_chance(self, method, X):
        if not _in_worker():
            return method(X)
        previous = torch.get_num_threads()
        torch.set_num_threads(BY_CHANCE)
        try:
            result = method(X)
            _mark(self.encoder_params["record_dir"], f"after {torch.get_num_threads()}")
            return result
        finally:
            torch.set_num_threads(previous)


def build_linear(n_features, n_encoder_outputs, n_components, *, record_dir=None):
    """A run-time plugin's architecture; notes which plugin provided it."""
    if record_dir is not None and _in_worker():
        provider = registry.architectures()[RUN_TIME].provider
        _mark(record_dir, provider.plugin)
    return nn.Linear(n_features, n_encoder_outputs), nn.Linear(n_components, n_features)


class LinearPlugin:
    @skae.hookimpl
    def register_architectures(self):
        return [Architecture(RUN_TIME, build_linear, "Linear, for test_dask.")]


def build_dies_once(n_features, n_encoder_outputs, n_components, *, flag):
    """The MLP, but the first build in a worker kills that worker's process."""
    if _in_worker() and not Path(flag).exists():
        Path(flag).touch()
        os._exit(1)  # the process dies mid-search; its nanny starts another
    build = registry.architectures()["mlp"].spec.build
    return build(n_features, n_encoder_outputs, n_components)


# ------------------------------------------------------------ tests
def test_importing_skae_imports_no_dask():
    code = "import sys, skae; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_torch_threads_is_the_workers_nthreads_inside_a_task(client):
    def inside():
        torch.set_num_threads(BY_CHANCE)
        with worker_context() as n:
            within = torch.get_num_threads()
        return n, within, torch.get_num_threads()

    assert client.submit(inside, pure=False).result() == (1, 1, BY_CHANCE)
    with worker_context() as n:  # in the client: no worker, no change
        assert n == torch.get_num_threads() == 1


def test_fixed_malloc_thresholds_are_read_from_the_environment():
    assert fixed_malloc_thresholds({}) is None  # glibc's thresholds slide
    assert fixed_malloc_thresholds({"MALLOC_TRIM_THRESHOLD_": "65536"}) == (
        128 * 1024,
        65536,
    )
    tunables = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=262144"}
    assert fixed_malloc_thresholds(tunables) == (262144, 128 * 1024)


GLIBC = pytest.mark.skipif(_parallel._glibc() is None, reason="needs glibc")


def _minor_faults() -> int:
    return int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[7])


def _fit_recording_thresholds(fixed_heap):
    """In a worker: the thresholds skae sets during a fit, and its page faults."""
    calls = []
    set_thresholds, raise_thresholds = (
        _parallel._set_thresholds,
        _parallel._raise_thresholds,
    )

    def record(mmap, trim):
        calls.append((mmap, trim))
        set_thresholds(mmap, trim)

    _parallel._set_thresholds = record
    if fixed_heap:
        _parallel._raise_thresholds = lambda: None
    try:
        # 240 rows through layers of 256 units: buffers of 240 KiB, over
        # glibc's fixed mmap threshold of 128 KiB.
        est = AutoencoderTransformer(**{**FAST, "max_iter": 30, "batch_size": 240})
        est.fit(X)  # the first fit in a process faults in code and imports
        calls.clear()
        faults = _minor_faults()
        est.fit(X)
        faults = _minor_faults() - faults
    finally:
        _parallel._set_thresholds = set_thresholds
        _parallel._raise_thresholds = raise_thresholds
    return calls, fixed_malloc_thresholds(), faults


@GLIBC
def test_fit_in_a_worker_raises_the_malloc_thresholds_and_restores_them(client):
    calls, fixed, faults = client.submit(
        _fit_recording_thresholds, False, pure=False
    ).result()
    # Dask's nanny fixed them: MALLOC_TRIM_THRESHOLD_=65536, mmap at glibc's 128 KiB.
    assert fixed == (128 * 1024, 65536)
    assert calls == [(32 << 20, 64 << 20), fixed]  # raised for the fit, then back
    _, _, fixed_faults = client.submit(
        _fit_recording_thresholds, True, pure=False
    ).result()
    # With the thresholds fixed, every step maps its buffers afresh, and the
    # kernel zeroes their pages: many times the page faults.
    assert faults * 3 < fixed_faults
    # Outside a worker nothing changes.
    assert _fit_recording_thresholds(False)[0] == []


def test_grid_search_on_dask_gives_the_serial_scores(client):
    serial = _search(_grid())
    parallel = _search(_grid(), client)
    _assert_same_scores(serial, parallel)


def test_randomized_search_on_dask_gives_the_serial_scores(client):
    def search():
        est = AutoencoderTransformer(**FAST)
        space = {"n_components": [2, 3, 4], "learning_rate": [3e-3, 1e-2]}
        return RandomizedSearchCV(
            est, space, n_iter=3, cv=2, random_state=0, refit=False, error_score="raise"
        )

    serial = _search(search())
    parallel = _search(search(), client)
    _assert_same_scores(serial, parallel)


def test_torch_uses_the_workers_threads_in_fit_and_score(client, tmp_path):
    est = ThreadsLeftToChance(
        encoder=build_thread_recorder,
        encoder_params={"record_dir": str(tmp_path)},
        **FAST,
    )
    search = GridSearchCV(
        est, {"n_components": [2, 3]}, cv=2, refit=False, error_score="raise"
    )
    _search(search, client)
    marks = _marks(tmp_path)
    seen = {text for _, text in marks}
    # Training and inference in the workers ran on 1 thread, the worker's
    # nthreads; afterwards, the count left by chance came back.
    assert seen == {"train 1", "infer 1", f"after {BY_CHANCE}"}
    assert {pid for pid, _ in marks} <= set(client.run(os.getpid).values())


def test_installed_plugin_reaches_the_workers(client):
    serial = _search(_grid(encoder="resmlp"))
    parallel = _search(_grid(encoder="resmlp"), client)
    _assert_same_scores(serial, parallel)

    def provider():
        return registry.architectures()["resmlp"].provider.distribution

    assert set(client.run(provider).values()) == {"skae-extras"}


def test_runtime_plugin_reaches_the_workers_inside_the_pickle(client, tmp_path):
    name = skae.register_plugin(LinearPlugin(), name="test-dask-linear")
    try:
        params = {"encoder": RUN_TIME, "encoder_params": {"record_dir": str(tmp_path)}}
        serial = _search(_grid(**params))
        parallel = _search(_grid(**params), client)
    finally:
        skae.unregister_plugin(name)
    _assert_same_scores(serial, parallel)
    marks = _marks(tmp_path)
    assert len(marks) == 2 * 3  # 2 candidates x 3 folds, all in workers
    # No worker registered the plugin: each adopted the spec its pickle carried.
    assert {text for _, text in marks} == {f"carried:{RUN_TIME}"}


def test_a_killed_worker_is_replaced_and_the_search_ends_the_same(client, tmp_path):
    flag = tmp_path / "killed-once"
    params = {"encoder": build_dies_once, "encoder_params": {"flag": str(flag)}}
    splits = list(KFold(3).split(X))

    def search():
        return GridSearchCV(
            AutoencoderTransformer(**FAST, **params),
            GRID,
            cv=splits,
            error_score="raise",
            refit=False,
        )

    serial = _search(search())
    assert not flag.exists()  # the serial search ran in this process
    before = set(client.run(os.getpid).values())
    # joblib scatters each argument over 1 kB to one worker, where it is lost
    # with that worker. Scattered to every worker, with the Active Memory
    # Manager (which drops copies it deems extra) stopped, X and the splits
    # survive.
    client.amm.stop()
    try:
        parallel = _search(search(), client, scatter=[X, *itertools.chain(*splits)])
    finally:
        client.amm.start()
    assert flag.exists()
    client.wait_for_workers(2, timeout=60)
    after = set(client.run(os.getpid).values())
    assert len(after) == 2 and len(after - before) == 1  # one new process
    _assert_same_scores(serial, parallel)
