"""Keeping models: pickle and joblib, and the safe ``save``/``skae.load`` format."""

import base64
import hashlib
import json
import os
import pickle
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from safetensors import safe_open
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from torch import nn

import skae
from skae import VAE, AutoencoderTransformer, BetaVAE, DenoisingAutoencoder

ESTIMATORS = [AutoencoderTransformer, DenoisingAutoencoder, VAE, BetaVAE]
X = load_digits().data[:100] / 16.0
FAST = {
    "max_iter": 2,
    "random_state": 0,
    "device": "cpu",
    "encoder_params": {"hidden_layer_sizes": (16, 8)},
}
CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda c: c.__name__)
def fitted(request):
    return request.param(n_components=3, **FAST).fit(X)


@pytest.fixture(scope="module")
def ae():
    return AutoencoderTransformer(n_components=3, **FAST).fit(X)


@pytest.fixture(scope="module")
def vae():
    return VAE(n_components=3, **FAST).fit(X)


def outputs(est):
    Z = est.transform(X)
    return [
        Z,
        est.inverse_transform(Z),
        est.sample(5, random_state=0),
        est.score_samples(X),
    ]


def assert_same_outputs(a, b):
    for x, y in zip(outputs(a), outputs(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def assert_same_fitted_state(a, b):
    keys = sorted(k for k in vars(a) if k.endswith("_") and k != "module_")
    assert keys == sorted(k for k in vars(b) if k.endswith("_") and k != "module_")
    for key in keys:
        np.testing.assert_equal(getattr(a, key), getattr(b, key))
    state_a, state_b = a.module_.state_dict(), b.module_.state_dict()
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k].cpu(), state_b[k].cpu()) for k in state_a)


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------ pickle and joblib
@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_pickle_and_joblib_reproduce_outputs_exactly(fitted, how, tmp_path):
    if how == "pickle":
        copy = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "model.joblib")
        copy = joblib.load(tmp_path / "model.joblib")
    assert_same_fitted_state(fitted, copy)
    assert_same_outputs(fitted, copy)


@pytest.mark.skipif(CUDA, reason="needs a machine without CUDA")
@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_a_cuda_pickle_loads_on_the_cpu_with_a_warning(ae, how, tmp_path):
    est = clone(ae)
    est.__dict__.update(ae.__dict__)
    est.device_ = "cuda"  # as if fitted on a GPU
    if how == "pickle":
        data = pickle.dumps(est)
        with pytest.warns(UserWarning, match="fitted on 'cuda'.*loaded on the CPU"):
            copy = pickle.loads(data)
    else:
        joblib.dump(est, tmp_path / "model.joblib")
        with pytest.warns(UserWarning, match="fitted on 'cuda'.*loaded on the CPU"):
            copy = joblib.load(tmp_path / "model.joblib")
    assert copy.device_ == "cpu"
    assert_same_outputs(ae, copy)


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_cuda_round_trips(cls, tmp_path):
    est = cls(n_components=3, **{**FAST, "device": "cuda"}).fit(X)
    assert est.device_.startswith("cuda")
    for copy in (pickle.loads(pickle.dumps(est)), roundtrip(est, tmp_path)):
        assert copy.device_ == est.device_
        assert next(copy.module_.parameters()).is_cuda
        assert_same_outputs(est, copy)


# ------------------------------------------------------------ save and load
def roundtrip(est, tmp_path, name="model.skae"):
    est.save(tmp_path / name)
    return skae.load(tmp_path / name)


def test_save_and_load_reproduce_the_estimator(fitted, tmp_path):
    copy = roundtrip(fitted, tmp_path)
    assert type(copy) is type(fitted)
    assert copy.get_params() == fitted.get_params()
    assert_same_fitted_state(fitted, copy)
    assert_same_outputs(fitted, copy)
    assert not copy.module_.training
    assert leftovers(tmp_path) == []


def test_save_and_load_keep_every_fitted_attribute(tmp_path):
    frame = pd.DataFrame(X, columns=[f"pixel {i}" for i in range(64)])
    est = VAE(
        n_components=2,
        early_stopping=True,
        random_state=np.random.RandomState(3),
        **{k: v for k, v in FAST.items() if k != "random_state"},
    ).fit(frame)
    copy = roundtrip(est, tmp_path)
    assert_same_fitted_state(est, copy)
    assert list(copy.feature_names_in_) == list(frame.columns)
    assert copy.validation_loss_curve_ == est.validation_loss_curve_
    assert copy.get_params()["encoder_params"] == {"hidden_layer_sizes": (16, 8)}
    # The RandomState is stored as it was when fit started: refitting the
    # loaded copy reproduces the saved model exactly.
    np.testing.assert_array_equal(
        clone(copy).fit(frame).transform(frame), est.transform(frame)
    )


def test_save_and_load_the_conv_architecture(tmp_path):
    est = DenoisingAutoencoder(
        n_components=2,
        encoder="conv",
        encoder_params={"input_shape": (1, 8, 8), "channels": (4,)},
        **{k: v for k, v in FAST.items() if k != "encoder_params"},
    ).fit(X)
    copy = roundtrip(est, tmp_path)
    assert copy.get_params() == est.get_params()
    assert_same_outputs(est, copy)


def test_a_loaded_estimator_keeps_training(fitted, tmp_path):
    copy = roundtrip(fitted, tmp_path).set_params(warm_start=True)
    copy.fit(X)
    assert copy.n_iter_ == fitted.n_iter_ + 2
    assert copy.loss_curve_[: fitted.n_iter_] == fitted.loss_curve_


def test_save_is_deterministic_and_accepts_str_paths(fitted, tmp_path):
    fitted.save(str(tmp_path / "a.skae"))
    fitted.save(tmp_path / "b.skae")
    assert (tmp_path / "a.skae").read_bytes() == (tmp_path / "b.skae").read_bytes()
    assert_same_outputs(fitted, skae.load(str(tmp_path / "a.skae")))


@pytest.mark.skipif(CUDA, reason="needs a machine without CUDA")
def test_a_cuda_file_loads_on_the_cpu_with_a_warning(ae, tmp_path):
    est = clone(ae)
    est.__dict__.update(ae.__dict__)
    est.device_ = "cuda:1"
    est.save(tmp_path / "model.skae")
    with pytest.warns(UserWarning, match="fitted on 'cuda:1'.*loaded on the CPU"):
        copy = skae.load(tmp_path / "model.skae")
    assert copy.device_ == "cpu"
    assert_same_outputs(ae, copy)


def test_saving_an_unfitted_estimator(tmp_path):
    with pytest.raises(NotFittedError):
        VAE().save(tmp_path / "model.skae")
    assert list(tmp_path.iterdir()) == []


def build_small(n_features, n_encoder_outputs, n_components):
    return nn.Linear(n_features, n_encoder_outputs), nn.Linear(n_components, n_features)


def add_noise(batch, level, generator):
    return batch + level * torch.randn(
        batch.shape, generator=generator, device=batch.device
    )


@pytest.mark.parametrize(
    "est, param",
    [
        (AutoencoderTransformer(encoder=build_small), "encoder"),
        (DenoisingAutoencoder(noise=add_noise), "noise"),
    ],
)
def test_save_refuses_callables_and_keeps_the_old_file(ae, est, param, tmp_path):
    path = tmp_path / "model.skae"
    ae.save(path)
    old = path.read_bytes()
    est.set_params(n_components=3, **{**FAST, "encoder_params": None}).fit(X)
    with pytest.raises(
        ValueError,
        match=rf"'{param}' parameter is the callable \w+.*register_plugin.*pickle",
    ):
        est.save(path)
    assert path.read_bytes() == old
    assert leftovers(tmp_path) == []
    # pickle keeps such estimators.
    assert_same_outputs(est, pickle.loads(pickle.dumps(est)))


def test_save_refuses_subclasses(tmp_path):
    class MyVAE(VAE):
        pass

    est = MyVAE(n_components=2, **FAST).fit(X)
    with pytest.raises(ValueError, match="not .*MyVAE.*pickle"):
        est.save(tmp_path / "model.skae")


def test_save_stores_the_parameters_the_model_was_fitted_with(ae, tmp_path):
    # issue 11 #2: set_params after fit no longer makes save write a file that
    # does not load; the file holds the model as fitted.
    est = clone(ae)
    est.__dict__.update(ae.__dict__)
    est.set_params(n_components=4, max_iter=50)
    copy = roundtrip(est, tmp_path)
    assert copy.get_params() == ae.get_params()
    assert_same_outputs(ae, copy)


def test_save_after_changing_encoder_params_in_place(tmp_path):
    # issue 11 #2: the dict is copied when fit starts, so changing it in place
    # afterwards changes neither the model nor what save writes.
    params = {"hidden_layer_sizes": [16, 8]}
    est = AutoencoderTransformer(
        n_components=3, **{**FAST, "encoder_params": params}
    ).fit(X)
    params["hidden_layer_sizes"].append(4)
    params["activation"] = "tanh"
    copy = roundtrip(est, tmp_path)
    assert copy.get_params()["encoder_params"] == {"hidden_layer_sizes": [16, 8]}
    assert_same_outputs(est, copy)


@pytest.mark.parametrize("how", ["save", "pickle"])
def test_save_and_pickle_during_a_refit_to_another_width(how, tmp_path):
    # issue 11 #2: another thread refitting on data of another width never
    # lets save or pickle see new attributes with old weights.
    est = AutoencoderTransformer(
        n_components=2,
        max_iter=1,
        device="cpu",
        random_state=0,
        encoder_params={"hidden_layer_sizes": (4,)},
    ).fit(X)
    stop = threading.Event()

    def refit():
        while not stop.is_set():
            for width in (32, 64):
                est.fit(X[:, :width])

    thread = threading.Thread(target=refit)
    thread.start()
    try:
        for i in range(15):
            if how == "save":
                copy = roundtrip(est, tmp_path, f"{i}.skae")
            else:
                copy = pickle.loads(pickle.dumps(est))
            assert copy.transform(X[:, : copy.n_features_in_]).shape == (100, 2)
    finally:
        stop.set()
        thread.join()


def test_the_fitted_state_protocol_round_trips_without_a_file(fitted):
    state = fitted._fitted_state()
    assert state.estimator == type(fitted).__name__
    assert state.params == fitted.get_params(deep=False)
    assert "module_" not in state.attributes
    copy = type(fitted)._from_fitted_state(state)
    assert_same_fitted_state(fitted, copy)
    assert_same_outputs(fitted, copy)


def test_the_device_fallback_is_written_once():
    calls = [
        (path.name, line)
        for path in Path(skae.__file__).parent.rglob("*.py")
        for line in path.read_text().splitlines()
        if "loadable_device(" in line and not line.lstrip().startswith("def ")
    ]
    assert [name for name, _ in calls] == ["_fitted.py"], calls


_SAVE_WITH_FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import pickle, resource, signal, sys
    est = pickle.load(open(sys.argv[1], "rb"))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
    try:
        est.save(sys.argv[2])
    except OSError as exc:
        print("save failed:", exc)
    """
)


@pytest.mark.skipif(os.name != "posix", reason="needs RLIMIT_FSIZE")
def test_a_save_that_fails_midway_keeps_the_old_file(vae, tmp_path):
    path = tmp_path / "model.skae"
    old_est = vae
    old_est.save(path)
    old = path.read_bytes()
    new_est = VAE(n_components=4, **FAST).fit(X)
    (tmp_path / "new.pkl").write_bytes(pickle.dumps(new_est))
    # The write of the new file stops after 1000 bytes, as if the disk were full.
    run = subprocess.run(
        [sys.executable, "-c", _SAVE_WITH_FILE_SIZE_LIMIT, tmp_path / "new.pkl", path],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "save failed: [Errno 27] File too large" in run.stdout, run.stderr
    assert path.read_bytes() == old
    assert leftovers(tmp_path) == []
    assert_same_outputs(old_est, skae.load(path))


def test_saving_onto_a_folder_fails_and_leaves_nothing_behind(fitted, tmp_path):
    (tmp_path / "model.skae").mkdir()
    (tmp_path / "model.skae" / "keep").write_text("x")
    with pytest.raises(OSError):
        fitted.save(tmp_path / "model.skae")
    assert (tmp_path / "model.skae" / "keep").read_text() == "x"
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------ damaged files
@pytest.fixture
def saved(vae, tmp_path):
    path = tmp_path / "model.skae"
    vae.save(path)
    return path


def data_start(data):
    return 8 + int.from_bytes(data[:8], "little")


@pytest.mark.parametrize("keep", [0, 3, 8, 100, "header", "half", -1])
def test_a_truncated_file(saved, keep):
    data = saved.read_bytes()
    keep = {"header": data_start(data), "half": len(data) // 2}.get(keep, keep)
    saved.write_bytes(data[:keep])
    with pytest.raises(
        ValueError, match=r"Cannot load .*(truncated|too short).*Save the model again"
    ):
        skae.load(saved)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_bytes_in_the_weights(saved, where):
    data = bytearray(saved.read_bytes())
    start = data_start(data)
    index = {"first": start, "middle": (start + len(data)) // 2, "last": -1}[where]
    data[index] ^= 0x10
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum does not match.*edited"):
        skae.load(saved)


@pytest.mark.parametrize(
    "old, new, match",
    [
        # Valid JSON, plausible values: only the checksum tells.
        (rb"\"n_iter_\":2", rb"\"n_iter_\":7", "checksum does not match"),
        (rb"\"n_components\":3", rb"\"n_components\":4", "checksum does not match"),
        (
            rb"\"estimator\":\"VAE\"",
            rb"\"estimator\":\"AEV\"",
            "checksum does not match",
        ),
        # Broken JSON inside the metadata, and in the header itself.
        (rb"\"n_iter_\":2", rb"\"n_iter_\":}", "not valid JSON"),
        (rb'{"__metadata__"', rb'["__metadata__"', "not valid JSON"),
    ],
)
def test_an_edited_header(saved, old, new, match):
    data = saved.read_bytes()
    assert data.count(old) == 1
    saved.write_bytes(data.replace(old, new))
    with pytest.raises(ValueError, match=f"Cannot load .*({match})"):
        skae.load(saved)


class Payload:
    """A pickle that would leave a mark on the disk when unpickled."""

    def __init__(self, mark):
        self.mark = str(mark)

    def __reduce__(self):
        return (open, (self.mark, "w"))


@pytest.mark.parametrize(
    "kind, match",
    [
        # issue 11 #6: a pickle renamed to .skae is named as such, with advice.
        ("pickle", "is a pickle, not a file in skae's format.*joblib.load.*trust"),
        ("joblib", "is a pickle, not a file in skae's format.*joblib.load.*trust"),
        ("pickle0", "not a file in skae's format.*pickle.load.*trust"),
        ("empty", "0 bytes long, too short"),
        ("text", "not a file in skae's format"),
    ],
)
def test_files_that_are_not_skae_models(tmp_path, kind, match):
    path, mark = tmp_path / "model.skae", tmp_path / "pwned"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(Payload(mark)))
    elif kind == "pickle0":
        path.write_bytes(pickle.dumps(Payload(mark), protocol=0))
    elif kind == "joblib":
        joblib.dump(Payload(mark), path)
    else:
        path.write_bytes(b"" if kind == "empty" else b"hello, world" * 10)
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(path)
    assert not mark.exists(), "loading ran code from the file"


def test_random_damage_to_the_header_gives_one_exception_type(saved):
    # issue 11 #5: whatever the damage, a ValueError that says "Cannot load".
    data = saved.read_bytes()
    end = data_start(data)
    rng = np.random.default_rng(0)
    for _ in range(150):
        damaged = bytearray(data)
        for index in rng.integers(0, end, size=rng.integers(1, 4)):
            damaged[index] = rng.integers(0, 256)
        saved.write_bytes(bytes(damaged))
        try:
            skae.load(saved)  # damage to the padding, say, is harmless
        except ValueError as exc:
            assert str(exc).startswith("Cannot load "), exc


def test_a_safetensors_file_without_skae_metadata(tmp_path):
    path = tmp_path / "weights.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a skae model file.*pickle"):
        skae.load(path)


# ------------------------------------------------------------ versions and plugins
def rewrite(path, edit):
    """Edit the JSON document of a .skae file and store a matching checksum.

    The checksum is recomputed as docs/persistence.md specifies it, so these
    files are what another (compatible or newer) skae would write.
    """

    def canonical(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    with safe_open(path, framework="pt") as file:
        document = json.loads(file.metadata()["skae"])["document"]
        tensors = {k: file.get_tensor(k) for k in file.keys()}
    edit(document)
    sha = hashlib.sha256(canonical(document).encode())
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        sha.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    metadata = {"skae": canonical({"document": document, "sha256": sha.hexdigest()})}
    safetensors.torch.save_file(tensors, path, metadata=metadata)


def test_the_checksum_is_the_documented_one(saved):
    before = saved.read_bytes()
    rewrite(saved, lambda doc: None)
    assert saved.read_bytes() == before


def test_a_file_from_another_skae_version_loads_with_a_warning(vae, saved):
    expected = vae
    rewrite(saved, lambda doc: doc.update(skae_version="0.0.1"))
    with pytest.warns(
        UserWarning, match=r"saved with skae 0\.0\.1.*format is the same"
    ):
        copy = skae.load(saved)
    assert_same_outputs(expected, copy)


def test_a_file_in_a_newer_format_is_refused(saved):
    rewrite(saved, lambda doc: doc.update(format_version=2, skae_version="9.0"))
    with pytest.raises(
        ValueError, match=r"skae 9\.0 in format version 2.*Upgrade skae"
    ):
        skae.load(saved)


def test_a_file_with_an_unknown_parameter_is_refused(saved):
    rewrite(saved, lambda doc: doc["params"].update(gamma=0.5))
    with pytest.raises(ValueError, match=r"parameter\(s\) \['gamma'\].*does not know"):
        skae.load(saved)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda doc: doc["attributes"].update(n_features_in_=10), "weights do not fit"),
        (
            lambda doc: doc["attributes"].update(__class__="x"),
            "attributes are malformed",
        ),
        (
            lambda doc: doc["params"].update(encoder_params={"eval": "1"}),
            "unknown JSON tag",
        ),
        (lambda doc: doc["params"].update(n_components={"tuple": 3}), "malformed"),
        (lambda doc: doc.pop("params"), "malformed"),
        (lambda doc: doc.update(format_version="1"), "format version '1' is not valid"),
        (lambda doc: doc["attributes"].update(device_="tpu"), "'tpu' is not a device"),
    ],
)
def test_crafted_documents_with_a_valid_checksum(saved, edit, match):
    rewrite(saved, edit)
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(saved)


def test_a_file_naming_an_unknown_class_is_refused(saved):
    rewrite(saved, lambda doc: doc.update(estimator="os.system"))
    with pytest.raises(ValueError, match="'os.system' that this skae"):
        skae.load(saved)


class TinyPlugin:
    @skae.hookimpl
    def register_architectures(self):
        return [skae.Architecture("tiny_linear", build_small, "one linear layer")]


def test_a_file_naming_an_uninstalled_architecture(tmp_path):
    path = tmp_path / "model.skae"
    skae.register_plugin(TinyPlugin(), name="tiny")
    try:
        est = AutoencoderTransformer(
            n_components=3,
            encoder="tiny_linear",
            **{k: v for k, v in FAST.items() if k != "encoder_params"},
        ).fit(X)
        est.save(path)
    finally:
        skae.unregister_plugin("tiny")
    with pytest.raises(
        ValueError,
        match=r"architecture 'tiny_linear' \(from plugin 'tiny'.*\), which is not "
        r"registered.*register_plugin",
    ):
        skae.load(path)
    skae.register_plugin(TinyPlugin(), name="tiny")
    try:
        assert_same_outputs(est, skae.load(path))
    finally:
        skae.unregister_plugin("tiny")


# ------------------------------------------------------------ odd paths (issue 11 #1, #6)
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def test_save_through_a_symlink_replaces_its_target(ae, vae, tmp_path):
    target, link = tmp_path / "target.skae", tmp_path / "link.skae"
    vae.save(target)
    link.symlink_to(target)
    ae.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_same_outputs(ae, skae.load(target))
    assert leftovers(tmp_path) == []


def test_save_through_a_dangling_symlink_creates_its_target(ae, tmp_path):
    (tmp_path / "sub").mkdir()
    link, target = tmp_path / "link.skae", tmp_path / "sub" / "target.skae"
    link.symlink_to(target)
    ae.save(link)
    assert link.is_symlink()
    assert_same_outputs(ae, skae.load(target))
    assert leftovers(tmp_path) == leftovers(tmp_path / "sub") == []


@needs_fifo
@pytest.mark.parametrize("through_link", [False, True])
def test_save_refuses_a_fifo_and_leaves_it(ae, tmp_path, through_link):
    fifo = tmp_path / "pipe.skae"
    os.mkfifo(fifo)
    path = fifo
    if through_link:
        path = tmp_path / "link.skae"
        path.symlink_to(fifo)
    with pytest.raises(OSError, match=r"Cannot save to .*named pipe \(FIFO\), not a"):
        ae.save(path)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def _character_device(path: Path) -> Path:
    """A character device node like /dev/null at ``path``, or skip (needs root)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (AttributeError, PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return path


@pytest.mark.parametrize("through_link", [False, True])
def test_save_refuses_a_device_node_and_leaves_it(ae, tmp_path, through_link):
    # A node of its own in tmp_path, not /dev/null: were the guard to fail,
    # saving as root would replace the real /dev/null.
    node = _character_device(tmp_path / "null.skae")
    path = node
    if through_link:
        path = tmp_path / "link.skae"
        path.symlink_to(node)
    before = os.lstat(node)
    with pytest.raises(OSError, match=r"Cannot save to .*character device, not a"):
        ae.save(path)
    after = os.lstat(node)
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert path.is_symlink() == through_link
    assert leftovers(tmp_path) == []


def test_save_refuses_a_folder_and_a_symlink_to_one(ae, tmp_path):
    folder = tmp_path / "folder.skae"
    folder.mkdir()
    link = tmp_path / "link.skae"
    link.symlink_to(folder)
    for path in (folder, link):
        with pytest.raises(IsADirectoryError, match="Cannot save to .*it is a folder"):
            ae.save(path)
    assert link.is_symlink() and folder.is_dir() and list(folder.iterdir()) == []
    assert leftovers(tmp_path) == []


def test_save_keeps_the_permissions_of_the_file_it_replaces(ae, tmp_path):
    path = tmp_path / "model.skae"
    ae.save(path)
    path.chmod(0o640)
    ae.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_save_to_the_longest_file_name(ae, tmp_path):
    name = "m" * 245 + ".skae"  # 250 characters: most file systems allow 255
    assert len(name) == 250
    copy = roundtrip(ae, tmp_path, name)
    assert_same_outputs(ae, copy)
    assert leftovers(tmp_path) == []


def test_save_into_a_missing_folder_names_the_path(ae, tmp_path):
    path = tmp_path / "missing" / "model.skae"
    with pytest.raises(FileNotFoundError) as info:
        ae.save(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert "does not exist" in str(info.value)


def test_save_under_a_file_used_as_a_folder_names_the_path(ae, tmp_path):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "model.skae"
    with pytest.raises(NotADirectoryError) as info:
        ae.save(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert (tmp_path / "file").read_text() == "x"


def load_within(path, seconds=10):
    """skae.load(path) in a thread, failing (not hanging) if it blocks."""
    outcome = {}

    def target():
        try:
            outcome["result"] = skae.load(path)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"skae.load({path}) blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@needs_fifo
def test_load_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "model.skae"
    os.mkfifo(fifo)
    link = tmp_path / "link.skae"
    link.symlink_to(fifo)
    for path in (fifo, link):
        with pytest.raises(ValueError, match=r"Cannot load .*named pipe \(FIFO\)"):
            load_within(path)


def test_load_refuses_folders_and_devices(tmp_path):
    (tmp_path / "folder.skae").mkdir()
    with pytest.raises(ValueError, match="Cannot load .*it is a folder"):
        load_within(tmp_path / "folder.skae")
    if os.path.exists("/dev/zero"):  # only stat()ed, never opened
        (tmp_path / "zero.skae").symlink_to("/dev/zero")
        with pytest.raises(ValueError, match="Cannot load .*character device"):
            load_within(tmp_path / "zero.skae")


def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.skae"):
        skae.load(tmp_path / "missing.skae")


# ------------------------------------------------------------ hand-made files
def header_and_body(path):
    data = Path(path).read_bytes()
    start = data_start(data)
    return json.loads(data[8:start]), data[start:]


def write_raw(path, header, body=b"", size=None):
    """A file with any header (a dict, or raw bytes) and body; ``size`` pads it
    with a hole (a sparse file)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(raw)) + raw + body)
        if size is not None:
            file.truncate(size)


def edit_metadata_text(path, old, new):
    """Replace text inside the skae metadata string; the checksum is not fixed."""
    header, body = header_and_body(path)
    text = header["__metadata__"]["skae"]
    assert text.count(old) == 1
    header["__metadata__"]["skae"] = text.replace(old, new)
    write_raw(path, header, body)


def layout(specs):
    """safetensors entries for ``{name: (dtype, shape)}``, tiled in order."""
    itemsize = {"F32": 4, "F64": 8, "U8": 1}
    entries, end = {}, 0
    for name, (dtype, shape) in specs.items():
        size = itemsize[dtype] * int(np.prod(shape))
        entries[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [end, end + size],
        }
        end += size
    return entries, end


# ------------------------------------------------------------ hangs and sizes (issue 11 #3)
def test_a_large_sparse_file_of_zeros_is_refused_quickly(tmp_path):
    path = tmp_path / "zeros.skae"
    try:
        write_raw(path, b"", size=64 * 2**30)
    except OSError:
        pytest.skip("this file system has no sparse files")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="Cannot load .*not valid JSON"):
        skae.load(path)
    assert time.perf_counter() - start < 2


def test_a_header_size_beyond_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "model.skae"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{" * 100)
    with pytest.raises(ValueError, match="not a file in skae's format.*header of"):
        skae.load(path)


def test_a_sparse_file_declaring_huge_weights_is_refused_before_reading(saved):
    header, _ = header_and_body(saved)
    metadata = header.pop("__metadata__")
    specs = {k: (v["dtype"], v["shape"]) for k, v in header.items()}
    name = max(specs, key=lambda k: np.prod(specs[k][1]))
    specs[name] = ("F32", [2**16, 2**18])  # 64 GiB of float32
    entries, end = layout(specs)
    raw = json.dumps({"__metadata__": metadata, **entries}).encode()
    try:
        write_raw(saved, raw, size=8 + len(raw) + end)
    except OSError:
        pytest.skip("this file system has no 64 GiB sparse files")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"Cannot load .*weights do not fit.*{name}"):
        skae.load(saved)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    "edit, match",
    [
        # The sizes must tile the body exactly, and match the dtypes and shapes.
        (lambda e: e["decoder.0.bias"]["data_offsets"].__setitem__(1, 10**12), "size"),
        (lambda e: e["decoder.0.bias"].update(shape=[10**9]), "wrong size"),
        (lambda e: e["decoder.0.bias"].update(dtype="F128"), "oddly"),
        (lambda e: e["decoder.0.bias"].update(shape=[-1]), "oddly"),
        (lambda e: e["decoder.0.bias"].update(data_offsets=[0, 0]), "wrong size"),
        (lambda e: e["decoder.0.bias"].update(extra=1), "oddly"),
        (lambda e: e.update(junk=[1, 2]), "oddly"),
    ],
)
def test_declared_sizes_are_checked_before_reading(saved, edit, match):
    header, body = header_and_body(saved)
    edit(header)
    write_raw(saved, header, body)
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(saved)


def test_bytes_after_the_last_tensor_are_refused(saved):
    saved.write_bytes(saved.read_bytes() + b"\0" * 16)
    with pytest.raises(ValueError, match="Cannot load .*after its last tensor"):
        skae.load(saved)


# ------------------------------------------------------------ forged files (issue 11 #4, #5)
# rewrite() stores a valid checksum: these files pass the integrity check, as
# an attacker's would, and must be refused by what they say.
_LOAD_IN_A_FRESH_PROCESS = textwrap.dedent(
    """
    import resource, sys
    import skae
    skae.load(sys.argv[1])  # a good file first: imports and caches are warm
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        skae.load(sys.argv[2])
    except ValueError as exc:
        print("refused:", exc)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("grew MB:", (after - before) // 1024)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KB on Linux")
def test_a_forged_width_allocates_nothing_before_it_is_refused(vae, tmp_path):
    good, forged = tmp_path / "good.skae", tmp_path / "forged.skae"
    vae.save(good)
    vae.save(forged)
    rewrite(forged, lambda doc: doc["attributes"].update(n_features_in_=500_000))
    run = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_A_FRESH_PROCESS, good, forged],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "refused: Cannot load" in run.stdout and "weights do not fit" in run.stdout
    grew = int(run.stdout.rsplit("grew MB:", 1)[1])
    assert grew < 50, run.stdout  # a module of that width would take ~1 GB


@pytest.mark.parametrize(
    "encoder_params",
    [
        {"dict": {"hidden_layer_sizes": {"tuple": [10**12]}}},
        {"dict": {"hidden_layer_sizes": {"tuple": [16, 8, 10**9]}}},
        {"dict": {"hidden_layer_sizes": {"tuple": [16, 2**70]}}},
    ],
)
def test_forged_architecture_sizes_are_refused_without_allocating(
    saved, encoder_params
):
    rewrite(saved, lambda doc: doc["params"].update(encoder_params=encoder_params))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="Cannot load .*(weights do not fit|built)"):
        skae.load(saved)
    assert time.perf_counter() - start < 5


def test_forged_weights_larger_than_the_parameters_imply(saved):
    with safe_open(saved, framework="pt") as file:
        metadata = file.metadata()
        tensors = {k: file.get_tensor(k) for k in file.keys()}
    tensors["decoder.2.bias"] = torch.zeros(64 * 1000)
    safetensors.torch.save_file(tensors, saved, metadata=metadata)
    rewrite(saved, lambda doc: None)  # a valid checksum for the new tensors
    with pytest.raises(
        ValueError, match=r"weights do not fit.*decoder\.2\.bias.*64000"
    ):
        skae.load(saved)


def ndarray(dtype, shape, data):
    return {"ndarray": {"dtype": dtype, "shape": shape, "data": data}}


@pytest.mark.parametrize(
    "value, match",
    [
        (ndarray("<U25000000", [1], ["a"]), "'<U25000000' for strings of up to 1"),
        (ndarray("<U1", [1], ["abc"]), "'<U1' for strings of up to 3"),
        (ndarray("<i16", [1], [1]), "dtype"),
        (ndarray("V8", [1], [1]), "dtype"),
        (ndarray("not a dtype", [1], [1]), "dtype"),
        (ndarray("<f8", [10**6, 10**6], [1.0]), "malformed 'ndarray'"),
        (ndarray("<f8", [2], ["1", "2"]), "odd items"),
        (ndarray("<i1", [1], [1000]), "does not fit"),
        (ndarray("object", [1], [1]), "odd items"),
        ({"tuple": list(range(20_000))}, "20000 items"),
        ({"tuple": 3}, "malformed 'tuple'"),
        ({"set": [1]}, "unknown JSON tag 'set'"),
        ({"tuple": [], "dict": {}}, "unexpected JSON value"),
    ],
)
def test_forged_values_are_refused_before_they_are_built(saved, value, match):
    rewrite(saved, lambda doc: doc["params"].update(encoder_params=value))
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(saved)


def random_state(**changes):
    state = {"keys": [1] * 624, "pos": 624, "has_gauss": 0, "cached_gaussian": 0.0}
    return {"RandomState": {**state, **changes}}


@pytest.mark.parametrize(
    "where, key, value, match",
    [
        # The cases of issue 11 #5, then their neighbours.
        ("params", "precision", "float64", "'precision' parameter"),
        ("params", "loss", "hinge", "'loss' parameter"),
        ("params", "n_components", -5, "'n_components' parameter"),
        ("params", "n_components", 2**80, "(weights do not fit|built)"),
        ("params", "device", "cpu\n", "'device' parameter"),
        ("params", "max_iter", 0, "'max_iter' parameter"),
        ("params", "learning_rate", -1.0, "'learning_rate' parameter"),
        ("params", "encoder", ["mlp"], "'encoder' parameter"),
        ("params", "encoder", "nonexistent", "'nonexistent'.*not registered"),
        ("params", "encoder_params", {"dict": {"bogus": 1}}, "not valid.*bogus"),
        ("params", "random_state", random_state(keys=[1, 2]), "RandomState"),
        ("params", "random_state", random_state(pos=10**30), "RandomState"),
        ("params", "random_state", random_state(keys=[-1] * 624), "RandomState"),
        ("params", "random_state", random_state(keys=[2**40] * 624), "RandomState"),
        ("params", "random_state", random_state(has_gauss="x"), "RandomState"),
        ("params", "random_state", random_state(extra=1), "RandomState"),
        ("params", "random_state", -1, "'random_state' parameter"),
        ("attributes", "n_features_in_", "64", "n_features_in_ .*positive int"),
        ("attributes", "n_features_in_", 0, "n_features_in_ .*positive int"),
        ("attributes", "n_features_in_", True, "n_features_in_ .*positive int"),
        ("attributes", "n_features_in_", 64.0, "n_features_in_ .*positive int"),
        ("attributes", "device_", "cpu\n", r"device_ 'cpu\\n' is not a device"),
        ("attributes", "device_", "auto", "device_ 'auto' is not a device"),
        ("attributes", "device_", 0, "device_ 0 is not a device"),
        ("attributes", "loss_curve_", [1.0, "x"], "loss_curve_ .*finite floats"),
        ("attributes", "loss_curve_", {"tuple": [1.0, 2.0]}, "loss_curve_"),
        ("attributes", "n_iter_", 3, "n_iter_ .*length of loss_curve_"),
        ("attributes", "n_iter_", "2", "n_iter_"),
        ("attributes", "validation_loss_curve_", 1.0, "validation_loss_curve_"),
        ("attributes", "best_validation_loss_", "0.5", "best_validation_loss_"),
        ("attributes", "best_validation_loss_", 0.5, "best_validation_loss_"),
        ("attributes", "validation_loss_curve_", [0.5] * 3, "validation_loss_curve_"),
        ("attributes", "n_features_in_", None, "n_features_in_"),
    ],
)
def test_forged_parameters_and_attributes_are_refused(saved, where, key, value, match):
    rewrite(saved, lambda doc: doc[where].update({key: value}))
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(saved)


def test_forged_feature_names_are_refused(tmp_path):
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(64)])
    path = tmp_path / "model.skae"
    AutoencoderTransformer(n_components=2, **FAST).fit(frame).save(path)
    names = ["c"] * 64
    for value in (
        ndarray("object", [63], names[:63]),
        ndarray("<U1", [64], names),
        ndarray("<U25000000", [64], names),
        ["c"] * 64,
        None,
    ):
        rewrite(
            path, lambda doc, v=value: doc["attributes"].update(feature_names_in_=v)
        )
        with pytest.raises(ValueError, match="Cannot load .*feature_names_in_|dtype"):
            skae.load(path)


def test_missing_and_unknown_attributes_are_refused(saved):
    rewrite(saved, lambda doc: doc["attributes"].pop("n_iter_"))
    with pytest.raises(
        ValueError, match=r"attributes are malformed: missing \['n_iter_'\]"
    ):
        skae.load(saved)


@pytest.mark.parametrize(
    "old, new, match",
    [
        ('"n_iter_":2', '"n_iter_":' + "9" * 5000, "not valid JSON.*digits"),
        (
            '"n_iter_":2',
            '"n_iter_":' + "[" * 100_000 + "]" * 100_000,
            "nested too deeply",
        ),
        ('"n_iter_":2', '"n_iter_":' + "[" * 40 + "]" * 40, "nested too deeply"),
        ('"n_iter_":2', '"n_iter_":NaN', "not valid JSON.*NaN"),
        ('"n_iter_":2', '"n_iter_":Infinity', "not valid JSON.*Infinity"),
        ('"n_iter_":2', '"n_iter_":1e999', "(malformed|not valid|n_iter_)"),
    ],
)
def test_hostile_json_in_the_metadata(saved, old, new, match):
    edit_metadata_text(saved, old, new)
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(saved)


@pytest.mark.parametrize(
    "metadata, match",
    [
        ({"skae": 5}, "not strings"),
        ({"skae": {"document": {}}}, "not strings"),
        ({"skae": None}, "not strings"),
        ({"other": "x"}, "not a skae model file"),
        ([], "not a skae model file"),
        ({"skae": "[]"}, "malformed"),
        ({"skae": '{"document": [], "sha256": "x"}'}, "does not describe a model"),
    ],
)
def test_hostile_metadata_entries(saved, metadata, match):
    header, body = header_and_body(saved)
    header["__metadata__"] = metadata
    write_raw(saved, header, body)
    with pytest.raises(ValueError, match=f"Cannot load .*{match}"):
        skae.load(saved)


def test_a_deeply_nested_header(tmp_path):
    path = tmp_path / "model.skae"
    write_raw(path, b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(ValueError, match="Cannot load .*nested too deeply"):
        skae.load(path)


HOSTILE = [
    None, True, -1, 0, 2**64, -(2**64), 1e308, -0.0, "", "x" * 1000, "cpu\n",
    [], [1.5, None], {"dict": {}}, {"dict": {"a": {"tuple": [None]}}},
    {"tuple": [1, 2]}, ndarray("<f8", [2], [1.0, 2.0]), random_state(),
]  # fmt: skip


def test_any_value_anywhere_loads_or_is_refused_with_a_value_error(tmp_path):
    # issue 11 #5: one exception type, whatever a forged document holds.
    est = DenoisingAutoencoder(n_components=2, **FAST).fit(X)
    path = tmp_path / "model.skae"
    est.save(path)
    keys = [("params", k) for k in est.get_params()] + [
        ("attributes", k) for k in ("n_features_in_", "device_", "loss_curve_",
        "validation_loss_curve_", "best_validation_loss_", "n_iter_")
    ]  # fmt: skip
    original = path.read_bytes()
    loaded = 0
    for where, key in keys:
        for value in HOSTILE:
            path.write_bytes(original)
            rewrite(path, lambda doc, w=where, k=key, v=value: doc[w].update({k: v}))
            try:
                skae.load(path)
                loaded += 1
            except ValueError as exc:
                assert str(exc).startswith(f"Cannot load {str(path)!r}: "), exc
    assert loaded > 0  # some values are valid (verbose=True, say)


def build_not_on_meta(n_features, n_encoder_outputs, n_components):
    if torch.empty(0).is_meta:
        raise RuntimeError("this architecture needs real tensors")
    return build_small(n_features, n_encoder_outputs, n_components)


class RealOnlyPlugin:
    @skae.hookimpl
    def register_architectures(self):
        return [skae.Architecture("real_only", build_not_on_meta, "no meta device")]


def test_an_architecture_that_cannot_be_built_on_the_meta_device(tmp_path):
    # Such a plugin still loads; a forged width beyond what its declared
    # weights could serve is refused before anything is built for real.
    path = tmp_path / "model.skae"
    skae.register_plugin(RealOnlyPlugin(), name="real_only")
    try:
        est = AutoencoderTransformer(
            n_components=3,
            encoder="real_only",
            **{k: v for k, v in FAST.items() if k != "encoder_params"},
        ).fit(X)
        est.save(path)
        assert_same_outputs(est, skae.load(path))
        rewrite(path, lambda doc: doc["attributes"].update(n_features_in_=500_000))
        with pytest.raises(ValueError, match="cannot be built.*needs real tensors"):
            skae.load(path)
    finally:
        skae.unregister_plugin("real_only")


def test_save_refuses_what_load_would_refuse(tmp_path):
    # Values nested deeper than load reads, or containers larger than it
    # accepts, are refused at save time: save never writes a file load refuses.
    path = tmp_path / "model.skae"
    deep = [1.0]
    for _ in range(40):
        deep = [deep]
    for value, match in (
        ({"hidden_layer_sizes": (16,), "deep": deep}, "nested more than 32"),
        ({"hidden_layer_sizes": (16,), "long": list(range(20_000))}, "20000 items"),
    ):
        est = AutoencoderTransformer(n_components=2, **FAST)
        est.fit(X)
        est._fit_params = {**est._fit_params, "encoder_params": value}
        with pytest.raises(ValueError, match=match):
            est.save(path)
    assert list(tmp_path.iterdir()) == []


def test_save_accepts_bytes_paths(ae, tmp_path):
    ae.save(os.fsencode(tmp_path / "model.skae"))
    assert_same_outputs(ae, skae.load(os.fsencode(tmp_path / "model.skae")))


# A VAE saved by skae 0.1.0 before the fitted-state protocol (format version 1):
# VAE(n_components=2, max_iter=2, device="cpu", random_state=0,
# encoder_params={"hidden_layer_sizes": (3,)}).fit(np.linspace(0, 1, 24).reshape(6, 4))
_FORMAT_1_FILE = (
    "eNqdVF1oHFUULpSagtAX/zAgLPMS0XG9d/52UpoJgi0ViyLWKGTT4c7Mnd1L54+ZOxtjCASlgkhAH6IF"
    "H4roQ8FKKUUUkr15EqJQaKsvFvooFKX44M+Dvnju7GzcNdVA5mnvOed+5/u+c+6evO9A9S0rrhtTTgLC"
    "iesqR5eV4iyhylFlua0EqV/GNOFtCLcVkvtdxqnPy5wOIgmJ5a+2EkdZW1HbSpanPRbQvApmUdlhSWNK"
    "4jW9kkWcJUUTSqcaYZ7GDRlvoCZuorayApcJ5znzSk6LAbpHC+72SMSAGksTN0qLwoVUUkYRlAe0x3zq"
    "Vq38rKz6VyV+mfeq+LzRRMiwtGmsm1jHtm6pZhO1LBvbhmVh2zI1fQFuJW5IiVRVuCyRF40qCFpzedLg"
    "9G8aOz0kGUkeuLKY8HQgfe6Z4xWfMM0hWIWk2pGY26N5AXCQw9I4kpN4qJtwv+sW7A3pLdZsSPtpnLFI"
    "nkMSFXRH/Zh4SvJoyS14mmUs6YzU0sRPh0MZTqqOuaONA+bXo+6yIKAglSxBiWRSV/Ayq1jM6wsrK1J2"
    "BE0T6ObmhMsEAsf1ehCDfsVAdQQ4fpcGZVSTTguWDFIxeb3yurY6caXaNIG9K3ZC1SyS1PW7JOlUvqBq"
    "3ajPahfB2CglXNcqzJwkQRqDGTUtCPE0qgkiPD7RMCc+H6DAOsoczb20GF5cJHmFlPOhp1K5nOfIENtK"
    "vclVJ3gpYzmtiY0mftIvsV4ve9ElmmlVScsyAs9DsI4W0oLA1MNQn0Y21TTTpiGxp0NbJxjpCBtBgDzT"
    "I7SFkdnyTGrbGLUAECBhI6qJNlHTY6SQDzngS5l8ySd0TVFlR3mC0UGtfOxpGBaUQ+U8UrG2MAaxSFmn"
    "y/8HRNV2w2BN1a1RHG0PKsZuDPlGtXGMvbgY6j0kmZqKEZJA9abvxxdAUPHAmn9Q9rbmHrIARcXWGJ99"
    "mAMIKm5Z4yj7sgdQVE0zJFKUduBlsQK2meT/DbMbA+4Dhg3/BA343ismZ/vOBedp63NnYfWx2RfO3RGv"
    "kk/F89f/FOfDx7c2WjfE2nTqfPTzxZlf0bZzv3JJ/Pj2kRnl2XXhPHVjpvPD4a21F78Tbz76gbj68Ybz"
    "4fpl5+D1VRE+srb59VnhHPvkgdmv3v9NnDj/mbhz5GVx4HS5ceb0O87DV2+K1XBT3D71nDioHXKu3fU3"
    "b93ddrIts39qecK5tDEpspPf9F/5Y2JL//ZLYR2fFA9e8cVh4/KxixeoE5654twMt8VPr62ItzbnnKnF"
    "352Jd//qP2Tcdm6ti37vpXMzX3x/aHbulye2/gYK1ngB"
)


def test_a_file_written_before_the_fitted_state_protocol_loads(tmp_path):
    path = tmp_path / "old.skae"
    path.write_bytes(zlib.decompress(base64.b64decode(_FORMAT_1_FILE)))
    est = skae.load(path)
    assert type(est) is VAE and est.n_features_in_ == 4 and est.n_iter_ == 2
    assert est.get_params()["encoder_params"] == {"hidden_layer_sizes": (3,)}
    assert est._fit_params == est.get_params(deep=False)
    X_small = np.linspace(0, 1, 24).reshape(6, 4)
    np.testing.assert_allclose(
        est.transform(X_small), [[-0.5311, -0.35896]] * 6, atol=1e-4
    )
    again = roundtrip(est, tmp_path, "again.skae")
    np.testing.assert_array_equal(again.transform(X_small), est.transform(X_small))
