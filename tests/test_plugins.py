"""The plugin system end to end: an installed distribution, run-time plugins, errors.

Needs the example plugin installed: ``pip install -e ./plugins/skae-extras``.
"""

import contextlib
import importlib.metadata
import os
import pickle
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pluggy
import pytest
import skae_extras
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from torch import nn

try:  # joblib < 1.6 vendors cloudpickle
    from joblib.externals import cloudpickle
except ImportError:
    import cloudpickle

import skae
import skae.builtins.conv
import skae.builtins.mlp
import skae.builtins.noise
import skae.cli
from skae import (
    VAE,
    Architecture,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    InvalidParameterError,
    NoiseScheme,
    PluginError,
    registry,
)

DIGITS = load_digits()
X = DIGITS.data[:200] / 16.0
Y = DIGITS.target[:200]
FAST = {"max_iter": 2, "batch_size": 100, "random_state": 0, "device": "cpu"}
EXTRAS_VERSION = importlib.metadata.version("skae-extras")
EXTRAS = registry.Provider("extras", "skae-extras", EXTRAS_VERSION)


def _unregister(*names):
    for name in names:
        with contextlib.suppress(ValueError):
            skae.unregister_plugin(name)


def _runtime(name, *, architectures=(), noise_schemes=()):
    """A plugin object made at run time, as a notebook user would write one."""

    class Plugin:
        @skae.hookimpl
        def register_architectures(self):
            return list(architectures)

        @skae.hookimpl
        def register_noise_schemes(self):
            return list(noise_schemes)

    return skae.register_plugin(Plugin(), name=name)


@pytest.fixture
def fresh_registry(monkeypatch):
    """Make the registry rebuild lazily, as in a new process; restored afterwards."""
    # Like registry.reset(), but monkeypatch puts the previous registry back.
    monkeypatch.setattr(registry, "_state", registry._State())
    monkeypatch.delenv(registry.DISABLE_AUTOLOAD_ENV, raising=False)


def _fake_distribution(root, module, source, *, dist="skae-broken", version="1.2.3"):
    """Write an installed distribution with a ``skae`` entry point into ``root``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[skae]\nbroken = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


# ----------------------------------------------------------- installed plugin
def test_installed_plugin_is_discovered_through_its_entry_point():
    dist = importlib.metadata.distribution("skae-extras")
    group = [ep for ep in dist.entry_points if ep.group == registry.ENTRY_POINT_GROUP]
    assert [(ep.name, ep.value) for ep in group] == [("extras", "skae_extras")]
    assert registry.plugin_manager().get_plugin("extras") is skae_extras
    for name, build in (
        ("resmlp", skae_extras.build_resmlp),
        ("conv1d", skae_extras.build_conv1d),
    ):
        entry = registry.architectures()[name]
        assert entry.provider.distribution == "skae-extras"
        assert entry.provider == EXTRAS and entry.spec.build is build
    for name in ("speckle", "swap"):
        assert registry.noise_schemes()[name].provider == EXTRAS


def test_plugin_names_work_in_a_plain_estimator():
    vae = VAE(n_components=3, encoder="conv1d", **FAST).fit(X)
    assert vae.transform(X).shape == (200, 3)
    assert any(isinstance(m, nn.Conv1d) for m in vae.module_.modules())
    dae = DenoisingAutoencoder(
        n_components=3, encoder="resmlp", noise="speckle", noise_level=0.5, **FAST
    ).fit(X)
    assert dae.inverse_transform(dae.transform(X[:4])).shape == (4, 64)
    modules = list(dae.module_.modules())
    assert any(isinstance(m, skae_extras.ResidualBlock) for m in modules)
    with pytest.raises(InvalidParameterError, match=r"\[0.0, 1.0\] for noise='swap'"):
        DenoisingAutoencoder(noise="swap", noise_level=2.0, **FAST).fit(X)


def test_plugin_name_in_a_pipeline():
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("ae", AutoencoderTransformer(n_components=8, encoder="resmlp", **FAST)),
            ("clf", LogisticRegression(max_iter=300)),
        ]
    ).fit(X, Y)
    assert pipe["clf"].n_features_in_ == 8
    assert any(
        isinstance(m, skae_extras.ResidualBlock) for m in pipe["ae"].module_.modules()
    )
    assert pipe.score(X, Y) > 0.2  # chance is 0.1


def test_grid_search_over_two_plugin_architectures():
    search = GridSearchCV(
        AutoencoderTransformer(n_components=3, **FAST),
        [
            {"encoder": ["resmlp"], "encoder_params": [{"width": 32}]},
            {"encoder": ["conv1d"], "encoder_params": [{"channels": [4]}]},
        ],
        cv=2,
    ).fit(X)
    assert list(search.cv_results_["param_encoder"]) == ["resmlp", "conv1d"]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    kind = {"resmlp": skae_extras.ResidualBlock, "conv1d": nn.Conv1d}[best.encoder]
    assert any(isinstance(m, kind) for m in best.module_.modules())


# ----------------------------------------------------------- run-time plugins
RECORDING = "pid_recording_linear"


def build_recording(n_features, n_encoder_outputs, n_components, *, record_dir):
    """A linear autoencoder that notes which process built it, from which plugin."""
    plugin = registry.architectures()[RECORDING].provider.plugin
    Path(record_dir, f"{os.getpid()}-{uuid.uuid4().hex}").write_text(plugin)
    return nn.Linear(n_features, n_encoder_outputs), nn.Linear(n_components, n_features)


@pytest.fixture
def recording_plugin(tmp_path):
    """A run-time plugin defined in this test module; unregistered afterwards."""
    spec = Architecture(RECORDING, build_recording, "Linear; records its builder.")
    name = _runtime("test-recording", architectures=[spec])
    # Worker processes cannot import this test module by name, so loky's
    # cloudpickle must ship its functions by value (as it does for __main__).
    this_module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(this_module)
    yield {"encoder": RECORDING, "encoder_params": {"record_dir": str(tmp_path)}}
    cloudpickle.unregister_pickle_by_value(this_module)
    _unregister(name, f"carried:{RECORDING}")


def _records(folder):
    return [
        (int(p.name.split("-")[0]), p.read_text())
        for p in Path(folder).iterdir()
        if p.is_file()
    ]


def test_runtime_plugin_in_grid_search_with_worker_processes(recording_plugin):
    search = GridSearchCV(
        AutoencoderTransformer(**recording_plugin, **FAST),
        {"n_components": [2, 3]},
        cv=2,
        n_jobs=2,  # joblib's default backend: loky worker processes
    ).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    records = _records(recording_plugin["encoder_params"]["record_dir"])
    in_workers = [plugin for pid, plugin in records if pid != os.getpid()]
    in_parent = [plugin for pid, plugin in records if pid == os.getpid()]
    # 2 candidates x 2 folds in the workers, the final refit here.
    assert len(in_workers) == 4 and in_parent == ["test-recording"]
    # The workers never registered the plugin: they used the spec from the pickle.
    assert set(in_workers) == {f"carried:{RECORDING}"}
    assert search.best_estimator_.transform(X).shape[1] in (2, 3)


def test_pickle_carries_runtime_spec_after_unregister(recording_plugin):
    est = AutoencoderTransformer(n_components=3, **recording_plugin, **FAST).fit(X)
    blob = pickle.dumps(est)
    skae.unregister_plugin("test-recording")
    assert RECORDING not in registry.architectures()
    with pytest.raises(InvalidParameterError, match=RECORDING):
        clone(est).fit(X)

    loaded = pickle.loads(blob)
    provider = registry.architectures()[RECORDING].provider
    assert provider.runtime and provider.plugin == f"carried:{RECORDING}"
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    refit = clone(loaded).fit(X)  # the adopted spec builds new modules too
    np.testing.assert_allclose(refit.transform(X), est.transform(X), rtol=1e-5)


def test_runtime_noise_scheme_is_used_by_denoising_autoencoder():
    calls = []

    def flip(batch, level, generator):
        calls.append(tuple(batch.shape))
        return batch.flip(1) * level

    name = _runtime("test-flip", noise_schemes=[NoiseScheme("flip", flip, "", (0, 1))])
    try:
        assert registry.noise_schemes()["flip"].provider.runtime
        DenoisingAutoencoder(noise="flip", noise_level=1.0, **FAST).fit(X)
        assert calls == [(100, 64)] * 4  # 2 epochs of 2 batches
    finally:
        _unregister(name)
    assert "flip" not in registry.noise_schemes()


# ----------------------------------------------------------- built-ins
def test_builtins_are_plugins_registered_through_the_same_hooks():
    pm = registry.plugin_manager()
    builtins = [skae.builtins.mlp, skae.builtins.conv, skae.builtins.noise]
    for module in builtins:
        assert module in pm.get_plugins()
        assert pm.get_name(module) == module.__name__
    # Registration order: built-ins first, then installed plugins.
    in_order = [name for name, _ in pm.list_name_plugin()]
    assert in_order[:3] == [module.__name__ for module in builtins]
    assert "extras" in in_order[3:]
    arch_plugins = [
        impl.plugin_name for impl in pm.hook.register_architectures.get_hookimpls()
    ]
    assert arch_plugins[:2] == ["skae.builtins.mlp", "skae.builtins.conv"]
    assert "extras" in arch_plugins
    noise_plugins = [
        impl.plugin_name for impl in pm.hook.register_noise_schemes.get_hookimpls()
    ]
    assert {"skae.builtins.noise", "extras"} <= set(noise_plugins)
    names = {spec.name for specs in pm.hook.register_architectures() for spec in specs}
    assert {"mlp", "conv", "resmlp", "conv1d"} <= names
    assert registry.architectures()["mlp"].provider == registry.Provider(
        "skae.builtins.mlp", "skae", skae.__version__
    )


# ----------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, closest, listed",
    [
        ({"encoder": "mpl"}, "'mlp'", "'conv', 'conv1d', 'mlp', 'resmlp'"),
        ({"encoder": "resmpl"}, "'resmlp'", "'conv1d'"),
        ({"noise": "speckel"}, "'speckle'", "'gaussian', 'masking'"),
    ],
)
def test_unknown_name_lists_names_and_suggests_the_closest(params, closest, listed):
    with pytest.raises(InvalidParameterError) as info:
        DenoisingAutoencoder(**params, **FAST).fit(X)
    message = str(info.value)
    assert f"Did you mean {closest}?" in message
    assert listed in message and "skae plugins" in message


@pytest.mark.parametrize(
    "kind, name, owner",
    [
        ("architecture", "mlp", "plugin 'skae.builtins.mlp' from skae"),
        (
            "architecture",
            "resmlp",
            f"plugin 'extras' from skae-extras {EXTRAS_VERSION}",
        ),
        ("noise scheme", "speckle", "plugin 'extras' from skae-extras"),
    ],
)
def test_two_plugins_with_one_name(kind, name, owner):
    build = skae.builtins.mlp.build_mlp
    if kind == "architecture":
        plugin = _runtime("test-dup", architectures=[Architecture(name, build)])
        table, est = registry.architectures, AutoencoderTransformer(encoder=name)
    else:
        plugin = _runtime("test-dup", noise_schemes=[NoiseScheme(name, torch.clone)])
        table, est = registry.noise_schemes, DenoisingAutoencoder(noise=name)
    try:
        with pytest.raises(
            PluginError, match=f"Two plugins register the {kind}"
        ) as info:
            table()
        assert owner in str(info.value)
        assert "plugin 'test-dup' (registered at run time)" in str(info.value)
        with pytest.raises(PluginError, match="test-dup"):
            est.fit(X)
    finally:
        _unregister(plugin)
    assert table()[name].provider.plugin != "test-dup"


def test_plugin_whose_import_fails(tmp_path, monkeypatch, fresh_registry):
    _fake_distribution(
        tmp_path, "skae_broken_import", "raise ImportError('no torch 9')"
    )
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.raises(PluginError) as info:
        registry.architectures()
    message = str(info.value)
    assert "plugin 'broken' from skae-broken 1.2.3" in message
    assert "skae_broken_import" in message and "no torch 9" in message
    assert registry.DISABLE_AUTOLOAD_ENV in message
    assert isinstance(info.value.__cause__, ImportError)


def test_plugin_whose_hook_raises(tmp_path, monkeypatch, fresh_registry):
    module = "skae_broken_hook"
    source = """
        import skae

        @skae.hookimpl
        def register_noise_schemes():
            raise KeyError("lost my noise")
    """
    _fake_distribution(tmp_path, module, source)
    monkeypatch.syspath_prepend(tmp_path)
    try:
        assert "mlp" in registry.architectures()  # the broken hook is not called
        with pytest.raises(PluginError) as info:
            DenoisingAutoencoder(**FAST).fit(X)
    finally:
        sys.modules.pop(module, None)
    message = str(info.value)
    assert "register_noise_schemes hook of plugin 'broken' from skae-broken 1.2.3" in (
        message
    )
    assert "KeyError" in message and "lost my noise" in message
    assert isinstance(info.value.__cause__, KeyError)


class WrongSignature:
    @skae.hookimpl
    def register_architectures(self, n_features):
        return []


class UnknownHook:
    @skae.hookimpl
    def register_activations(self):
        return []


@pytest.mark.parametrize(
    "plugin, match",
    [
        (WrongSignature(), r"register_architectures(?s:.*)'n_features'"),
        (UnknownHook(), "unknown hook 'register_activations'"),
    ],
)
def test_bad_hookimpl_is_rejected_at_registration(plugin, match):
    with pytest.raises(PluginError, match=match) as info:
        skae.register_plugin(plugin, name="test-bad-hook")
    assert "plugin 'test-bad-hook'" in str(info.value)
    assert isinstance(info.value.__cause__, pluggy.PluginValidationError)
    assert not registry.plugin_manager().has_plugin("test-bad-hook")
    assert "mlp" in registry.architectures()  # the registry still works


def build_wide_encoder(n_features, n_encoder_outputs, n_components):
    return nn.Linear(n_features, n_encoder_outputs + 1), nn.Linear(
        n_components, n_features
    )


def build_ignoring_n_encoder_outputs(n_features, n_encoder_outputs, n_components):
    return nn.Linear(n_features, n_components), nn.Linear(n_components, n_features)


def build_short_decoder(n_features, n_encoder_outputs, n_components):
    return nn.Linear(n_features, n_encoder_outputs), nn.Linear(n_components, 10)


@pytest.mark.parametrize(
    "cls, build, shapes",
    [
        (
            AutoencoderTransformer,
            build_wide_encoder,
            "encoder.*to shape (2, 4); expected (2, 3)",
        ),
        (
            VAE,
            build_ignoring_n_encoder_outputs,
            "encoder.*to shape (2, 3); expected (2, 6)",
        ),
        (
            VAE,
            build_short_decoder,
            "decoder.*input of shape (2, 3) to shape (2, 10); expected (2, 64)",
        ),
    ],
)
def test_factory_with_wrong_shapes_is_caught_at_fit(cls, build, shapes):
    name = _runtime("test-shapes", architectures=[Architecture("misshapen", build)])
    try:
        est = cls(n_components=3, encoder="misshapen", **FAST)
        with pytest.raises(PluginError) as info:
            est.fit(X)
    finally:
        _unregister(name)
    message = str(info.value)
    assert "Architecture 'misshapen' (plugin 'test-shapes'" in message
    assert re.search(re.escape(shapes).replace(r"\.\*", ".*"), message), message
    assert not hasattr(est, "module_")


def test_disable_autoload_env_var(tmp_path, monkeypatch, fresh_registry):
    assert registry.plugin_manager().has_plugin("extras")  # autoload is on by default

    monkeypatch.setattr(registry, "_state", registry._State())
    monkeypatch.setenv(registry.DISABLE_AUTOLOAD_ENV, "1")
    _fake_distribution(tmp_path, "skae_never_imported", "raise ImportError")
    monkeypatch.syspath_prepend(tmp_path)
    names = set(registry.architectures())
    assert {"mlp", "conv"} <= names and not names & {"resmlp", "conv1d"}
    assert "speckle" not in registry.noise_schemes()
    assert not registry.plugin_manager().has_plugin("extras")
    with pytest.raises(InvalidParameterError, match="'resmlp'.*skae plugins"):
        AutoencoderTransformer(encoder="resmlp").fit(X)


# ----------------------------------------------------------- skae plugins
def _check_listing(out):
    for kind, table in (
        ("architecture", registry.architectures()),
        ("noise scheme", registry.noise_schemes()),
    ):
        for name, entry in table.items():
            p = entry.provider
            row = rf"^{kind}\s+{name}\s+{re.escape(p.distribution)}\s+{p.version}\s"
            assert re.search(row, out, re.M), f"no row for {kind} {name!r}:\n{out}"
    extras = [line for line in out.splitlines() if "skae-extras" in line]
    assert len(extras) == 4 and all(EXTRAS_VERSION in line for line in extras)
    for name in ("resmlp", "conv1d", "speckle", "swap"):
        assert any(f" {name} " in line for line in extras)


def test_skae_plugins_command(capsys):
    assert skae.cli.main(["plugins"]) == 0
    _check_listing(capsys.readouterr().out)


def test_skae_plugins_console_script(monkeypatch):
    monkeypatch.delenv(registry.DISABLE_AUTOLOAD_ENV, raising=False)
    script = Path(sys.executable).parent / "skae"
    done = subprocess.run(
        [str(script), "plugins"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    _check_listing(done.stdout)


def test_reset_rebuilds_the_registry(monkeypatch):
    monkeypatch.setattr(registry, "_state", registry._State())
    linear = skae.Architecture("reset_me", lambda **w: (None, None))
    _runtime("test-reset", architectures=[linear])
    assert "reset_me" in registry.architectures()
    registry.reset()
    assert "reset_me" not in registry.architectures()
    assert {"mlp", "conv", "resmlp"} <= set(registry.architectures())
