"""Keeping models: pickle and joblib, and the safe ``save``/``skae.load`` format."""

import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap

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
    # A RandomState parameter is stored with its state, so refits agree.
    np.testing.assert_array_equal(
        clone(est).fit(frame).transform(frame), clone(copy).fit(frame).transform(frame)
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


def test_save_refuses_parameters_that_no_longer_match_the_module(ae, tmp_path):
    est = clone(ae)
    est.__dict__.update(ae.__dict__)
    est.set_params(n_components=4)
    with pytest.raises(ValueError, match="no longer describe its fitted module"):
        est.save(tmp_path / "model.skae")
    est.set_params(n_components=3, encoder_params={"hidden_layer_sizes": (8,)})
    with pytest.raises(ValueError, match="no longer describe its fitted module"):
        est.save(tmp_path / "model.skae")


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


@pytest.mark.parametrize("kind", ["pickle", "joblib", "empty", "text"])
def test_files_that_are_not_skae_models(tmp_path, kind):
    path, mark = tmp_path / "model.skae", tmp_path / "pwned"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(Payload(mark)))
    elif kind == "joblib":
        joblib.dump(Payload(mark), path)
    else:
        path.write_bytes(b"" if kind == "empty" else b"hello, world" * 10)
    with pytest.raises(ValueError, match="Cannot load"):
        skae.load(path)
    assert not mark.exists(), "loading ran code from the file"


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
