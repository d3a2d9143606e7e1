"""The plugin system end to end: an installed distribution, run-time plugins, errors.

Needs the example plugin installed: ``pip install -e ./plugins/skae-extras``.
"""

import contextlib
import importlib.metadata
import math
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
import skae._plugins
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
    """A registry that rebuilds lazily, as in a new process, before and after."""
    monkeypatch.delenv(registry.DISABLE_AUTOLOAD_ENV, raising=False)
    registry.reset()
    yield
    registry.reset()


def _fake_distribution(
    root, module, source, *, dist="skae-broken", version="1.2.3", plugin="broken"
):
    """Write an installed distribution with a ``skae`` entry point into ``root``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[skae]\n{plugin} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


# ----------------------------------------------------------- installed plugin
def test_installed_plugin_is_discovered_through_its_entry_point():
    dist = importlib.metadata.distribution("skae-extras")
    group = [ep for ep in dist.entry_points if ep.group == registry.ENTRY_POINT_GROUP]
    assert [(ep.name, ep.value) for ep in group] == [("extras", "skae_extras")]
    assert registry._plugin_manager().get_plugin("extras") is skae_extras
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
    pm = registry._plugin_manager()
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


def test_plugin_whose_hook_raises(tmp_path, monkeypatch, fresh_registry, capsys):
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
        with pytest.raises(PluginError) as listing:
            registry.noise_schemes()
        # A name that a working plugin provides still works...
        DenoisingAutoencoder(noise="speckle", **FAST).fit(X)
        # ... and one that none provides may be the broken plugin's.
        with pytest.raises(PluginError) as unknown:
            DenoisingAutoencoder(noise="speckel", **FAST).fit(X)
        assert skae.cli.main(["plugins"]) == 1  # lists what works, reports the rest
    finally:
        sys.modules.pop(module, None)
    for error in (listing.value, unknown.value):
        message = str(error)
        assert (
            "register_noise_schemes hook of plugin 'broken' from skae-broken 1.2.3"
            in message
        )
        assert "KeyError" in message and "lost my noise" in message
        assert isinstance(error.__cause__, KeyError)
    assert str(unknown.value).startswith(
        "The 'noise' parameter of DenoisingAutoencoder names the noise scheme "
        "'speckel', which no working plugin registers"
    )
    assert "Did you mean 'speckle'?" in str(unknown.value)
    out, err = capsys.readouterr()
    assert re.search(r"^noise scheme\s+speckle\s+skae-extras", out, re.M)
    assert "skae: error: The register_noise_schemes hook of plugin 'broken'" in err


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
    assert not registry._plugin_manager().has_plugin("test-bad-hook")
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
    assert registry._plugin_manager().has_plugin("extras")  # autoload is on by default

    registry.reset()
    monkeypatch.setenv(registry.DISABLE_AUTOLOAD_ENV, "1")
    _fake_distribution(tmp_path, "skae_never_imported", "raise ImportError")
    monkeypatch.syspath_prepend(tmp_path)
    names = set(registry.architectures())
    assert {"mlp", "conv"} <= names and not names & {"resmlp", "conv1d"}
    assert "speckle" not in registry.noise_schemes()
    assert not registry._plugin_manager().has_plugin("extras")
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


def test_reset_rebuilds_the_registry(fresh_registry):
    linear = skae.Architecture("reset_me", lambda **w: (None, None))
    _runtime("test-reset", architectures=[linear])
    assert "reset_me" in registry.architectures()
    registry.reset()
    assert "reset_me" not in registry.architectures()
    assert {"mlp", "conv", "resmlp"} <= set(registry.architectures())


# ----------------------------------------------------------- only the names used
# Defect 2 of issue 9: a broken installed plugin, unrelated to the names an
# estimator uses, must not break fitting, pickling, save or load.
BROKEN_MODULE = "skae_broken_marker"


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch, fresh_registry):
    """An installed plugin whose import fails; the file it leaves says it was tried."""
    marker = tmp_path / "import-attempted"
    source = f"""
        from pathlib import Path

        Path({str(marker)!r}).write_text("tried")
        raise ImportError("no torch 9")
    """
    _fake_distribution(tmp_path, BROKEN_MODULE, source)
    monkeypatch.syspath_prepend(tmp_path)
    yield marker
    sys.modules.pop(BROKEN_MODULE, None)


def test_builtin_names_never_import_installed_plugins(broken_plugin, tmp_path):
    blob = pickle.dumps(AutoencoderTransformer())
    pickle.loads(blob)
    assert skae._plugins.state.manager is None  # pickling built no registry
    ae = AutoencoderTransformer(encoder="mlp", **FAST).fit(X)
    dae = DenoisingAutoencoder(encoder="conv", noise="masking", **FAST).fit(X)
    for est in (ae, dae):
        copy = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(copy.transform(X), est.transform(X))
        clone(copy).fit(X)
    ae.save(tmp_path / "ae.skae")
    loaded = skae.load(tmp_path / "ae.skae")
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))
    assert not broken_plugin.exists()
    assert not skae._plugins.state.installed_loaded


def test_a_broken_plugin_is_blamed_only_for_names_nobody_provides(
    broken_plugin, capsys
):
    params = {"encoder_params": {"width": 8, "n_blocks": 1}}
    AutoencoderTransformer(encoder="resmlp", **params, **FAST).fit(X)
    assert broken_plugin.exists()  # another plugin's name: installed ones load
    with pytest.raises(PluginError) as info:
        AutoencoderTransformer(encoder="resmpl", **FAST).fit(X)
    message = str(info.value)
    assert message.startswith(
        "The 'encoder' parameter of AutoencoderTransformer names the architecture "
        "'resmpl', which no working plugin registers; a plugin that failed may be "
        "the one that provides it. skae could not import plugin 'broken' from "
        "skae-broken 1.2.3"
    )
    assert "no torch 9" in message and registry.DISABLE_AUTOLOAD_ENV in message
    assert "Did you mean 'resmlp'?" in message and "'conv1d'" in message
    assert isinstance(info.value.__cause__, ImportError)
    with pytest.raises(PluginError, match="could not import plugin 'broken'"):
        registry.architectures()  # a listing is complete or fails
    assert skae.cli.main(["plugins"]) == 1
    out, err = capsys.readouterr()
    assert re.search(r"^architecture\s+resmlp\s+skae-extras", out, re.M)
    assert re.search(r"^architecture\s+mlp\s+skae", out, re.M)
    assert "skae: error: skae could not import plugin 'broken'" in err


def build_linear(n_features, n_encoder_outputs, n_components):
    return nn.Linear(n_features, n_encoder_outputs), nn.Linear(n_components, n_features)


def build_linear_again(n_features, n_encoder_outputs, n_components):
    return build_linear(n_features, n_encoder_outputs, n_components)


LINEAR = Architecture("test_linear", build_linear, "Linear both ways.")


@pytest.mark.parametrize("order", ["unpickle, then register", "register, unpickle"])
def test_registering_a_carried_plugin_again_is_no_clash(order):
    name = _runtime("test-linear", architectures=[LINEAR])
    try:
        est = AutoencoderTransformer(encoder="test_linear", **FAST).fit(X)
        blob = pickle.dumps(est)
        if order == "unpickle, then register":
            skae.unregister_plugin(name)
            loaded = pickle.loads(blob)
            provider = registry.architectures()["test_linear"].provider
            assert provider.plugin == "carried:test_linear"
            _runtime("test-linear", architectures=[LINEAR])  # a notebook cell rerun
        else:
            loaded = pickle.loads(blob)
        entry = registry.architectures()["test_linear"]  # no "Two plugins register"
        assert entry.provider.plugin == "test-linear" and entry.spec == LINEAR
        refit = clone(loaded).fit(X)
        np.testing.assert_allclose(refit.transform(X), est.transform(X), rtol=1e-5)
        again = pickle.loads(pickle.dumps(refit))
        np.testing.assert_array_equal(again.transform(X), refit.transform(X))
    finally:
        _unregister("test-linear", "carried:test_linear")


def test_a_plugin_registered_after_adoption_takes_the_name():
    name = _runtime("test-linear", architectures=[LINEAR])
    try:
        blob = pickle.dumps(AutoencoderTransformer(encoder="test_linear", **FAST))
        skae.unregister_plugin(name)
        pickle.loads(blob)
        changed = Architecture("test_linear", build_linear_again)
        _runtime("test-linear-2", architectures=[changed])
        entry = registry.architectures()["test_linear"]
        assert entry.spec is changed and entry.provider.plugin == "test-linear-2"
        AutoencoderTransformer(encoder="test_linear", **FAST).fit(X)
    finally:
        _unregister("test-linear-2", "carried:test_linear")


def test_carried_specs_only_for_run_time_names(fresh_registry):
    assert registry._carried_specs("mlp", "gaussian") == []
    assert skae._plugins.state.manager is None  # nothing registered, nothing built
    noise = NoiseScheme("test_flip", lambda batch, level, generator: batch.flip(1))
    _runtime("test-carried", architectures=[LINEAR], noise_schemes=[noise])
    assert registry._carried_specs("mlp", "gaussian") == []
    assert registry._carried_specs("test_linear", "test_flip") == [LINEAR, noise]
    assert registry._carried_specs(build_linear, None) == []
    assert registry._carried_specs("resmlp", "nope") == []
    assert not skae._plugins.state.installed_loaded  # no installed plugin imported
    registry._adopt([LINEAR, noise])  # known names: nothing to adopt
    assert not any(p.startswith("carried:") for p in skae._plugins.state.providers)


# ----------------------------------------------------------- a faulty build
# Defect 4 of issue 9: a bug in a plugin is the plugin's fault.
def build_one_module(n_features, n_encoder_outputs, n_components):
    return nn.Linear(n_features, n_encoder_outputs)


def build_three_modules(n_features, n_encoder_outputs, n_components):
    return (*build_linear(n_features, n_encoder_outputs, n_components), nn.ReLU())


def build_nothing(n_features, n_encoder_outputs, n_components):
    build_linear(n_features, n_encoder_outputs, n_components)  # forgot the return


def build_a_dict(n_features, n_encoder_outputs, n_components):
    return dict(zip(("encoder", "decoder"), build_linear(n_features, 2, 2)))


@pytest.mark.parametrize(
    "build, returned",
    [
        (build_one_module, "a Linear object"),
        (build_three_modules, "a tuple of 3 item(s)"),
        (build_nothing, "None"),
        (build_a_dict, "a dict object"),
    ],
)
def test_build_returning_other_than_two_modules_is_the_plugins_fault(build, returned):
    name = _runtime("test-return", architectures=[Architecture("odd", build)])
    try:
        with pytest.raises(PluginError) as info:
            AutoencoderTransformer(encoder="odd", **FAST).fit(X)
    finally:
        _unregister(name)
    assert str(info.value) == (
        "Architecture 'odd' (plugin 'test-return' (registered at run time)) must "
        "return (encoder, decoder), two torch.nn.Module objects; it returned "
        f"{returned}."
    )
    with pytest.raises(ValueError) as info:  # a plain callable
        AutoencoderTransformer(encoder=build, **FAST).fit(X)
    assert not isinstance(info.value, InvalidParameterError)
    assert f"{build.__name__} (a callable) must return" in str(info.value)


def _raising(exc):
    def build(n_features, n_encoder_outputs, n_components, *, width=2):
        raise exc

    return build


@pytest.mark.parametrize(
    "raised, expected",
    [
        (InvalidParameterError("encoder_params['width'] must be even"), "user"),
        (ValueError("encoder_params['width'] must be even"), "user"),
        (TypeError("encoder_params['width'] must be an int"), "user"),
        (KeyError("a bug"), "plugin"),
        (AttributeError("a bug"), "plugin"),
        (RuntimeError("a bug"), "plugin"),
    ],
)
def test_who_is_blamed_for_what_build_raises(raised, expected):
    spec = Architecture("raising", _raising(raised))
    name = _runtime("test-raise", architectures=[spec])
    try:
        est = AutoencoderTransformer(encoder="raising", **FAST)
        with pytest.raises((InvalidParameterError, PluginError)) as info:
            est.set_params(encoder_params={"width": 3}).fit(X)
    finally:
        _unregister(name)
    message = str(info.value)
    if expected == "user":
        assert isinstance(info.value, InvalidParameterError)
        assert message.startswith(
            f"Architecture 'raising' raised {type(raised).__name__} while building "
            "with encoder_params={'width': 3}:"
        )
    else:
        assert isinstance(info.value, PluginError)
        assert message.startswith(
            "Architecture 'raising' (plugin 'test-raise' (registered at run time)) "
            f"failed to build: {type(raised).__name__}"
        )
    assert info.value.__cause__ is raised


def build_without_widths(n_features, n_components):
    return nn.Linear(n_features, n_components), nn.Linear(n_components, n_features)


def build_needing_depth(n_features, n_encoder_outputs, n_components, *, depth):
    return build_linear(n_features, n_encoder_outputs, n_components)


def test_build_signature_faults_are_blamed_before_building():
    with pytest.raises(ValueError, match="lacks \\['n_encoder_outputs'\\]") as info:
        AutoencoderTransformer(encoder=build_without_widths, **FAST).fit(X)
    assert not isinstance(info.value, InvalidParameterError)
    with pytest.raises(
        InvalidParameterError,
        match=r"build_needing_depth requires encoder_params key\(s\) \['depth'\]",
    ):
        AutoencoderTransformer(encoder=build_needing_depth, **FAST).fit(X)
    AutoencoderTransformer(
        encoder=build_needing_depth, encoder_params={"depth": 2}, **FAST
    ).fit(X)


# ----------------------------------------------------------- impossible sizes
# Issue 11 #11: sizes that cannot work name the parameter, not the plugin.
@pytest.mark.parametrize(
    "params, named",
    [
        (
            {"encoder_params": {"hidden_layer_sizes": (10**12,)}},
            "encoder_params['hidden_layer_sizes']=(1000000000000,)",
        ),
        (
            {"encoder_params": {"hidden_layer_sizes": [2**70, 8]}},
            f"encoder_params['hidden_layer_sizes']={[2**70, 8]}",
        ),
        ({"n_components": 10**12}, "n_components=1000000000000"),
        (
            {"encoder": "conv", "encoder_params": {"channels": (8, 10**9)}},
            "encoder_params['channels']=(8, 1000000000)",
        ),
    ],
)
def test_impossible_builtin_sizes_are_refused_before_allocating(params, named):
    with pytest.raises(MemoryError) as info:
        AutoencoderTransformer(**{**FAST, **params}).fit(X)
    message = str(info.value)
    assert named in message and "of memory" in message, message
    assert "as float32" in message and "Use " in message


def build_wide(n_features, n_encoder_outputs, n_components, *, width=8):
    hidden = nn.Linear(n_features, width)
    return nn.Sequential(hidden, nn.Linear(width, n_encoder_outputs)), nn.Linear(
        n_components, n_features
    )


@pytest.mark.parametrize(
    "width, error, words",
    [
        (10**12, MemoryError, "ran out of memory while building"),
        (2**62, InvalidParameterError, "cannot make tensors of the sizes"),
        (2**70, InvalidParameterError, "raised TypeError while building"),
    ],
)
def test_impossible_plugin_sizes_name_encoder_params(width, error, words):
    name = _runtime("test-wide", architectures=[Architecture("wide", build_wide)])
    try:
        est = AutoencoderTransformer(encoder="wide", encoder_params={"width": width})
        with pytest.raises(error) as info:
            est.set_params(**FAST).fit(X)
    finally:
        _unregister(name)
    assert not isinstance(info.value, PluginError)
    message = str(info.value)
    assert words in message and f"encoder_params={{'width': {width}}}" in message


# ----------------------------------------------------------- noise results
# Issue 11 #12: what a noise scheme returns is checked, and the error names it.
def returns_a_column_less(batch, level, generator):
    return batch[:, :-1]


def returns_float64(batch, level, generator):
    return batch.double()


def returns_none(batch, level, generator):
    batch + level  # forgot the return


def returns_a_meta_tensor(batch, level, generator):
    return batch.to("meta")


def works_in_place(batch, level, generator):
    return batch.mul_(1 - level)


NOISE_FAULTS = [
    (returns_a_column_less, "returned a torch.float32 tensor of shape (100, 63)"),
    (returns_float64, "returned a torch.float64 tensor of shape (100, 64)"),
    (returns_none, "returned NoneType"),
    (returns_a_meta_tensor, "returned a tensor on meta"),
    (works_in_place, "modified the batch in place"),
]


@pytest.mark.parametrize("corrupt, problem", NOISE_FAULTS)
def test_noise_that_returns_the_wrong_thing_is_named(corrupt, problem):
    est = DenoisingAutoencoder(noise=corrupt, noise_level=0.5, **FAST)
    with pytest.raises(ValueError) as info:
        est.fit(X)
    assert not isinstance(info.value, InvalidParameterError)
    assert str(info.value).startswith(
        f"The 'noise' callable {corrupt.__name__} of DenoisingAutoencoder {problem} "
        "for a torch.float32 batch of shape (100, 64) on cpu."
    )
    scheme = NoiseScheme("faulty", corrupt, "", (0.0, 1.0))
    name = _runtime("test-faulty-noise", noise_schemes=[scheme])
    try:
        with pytest.raises(PluginError) as info:
            est.set_params(noise="faulty").fit(X)
    finally:
        _unregister(name)
    assert str(info.value).startswith(
        "The noise scheme 'faulty' (plugin 'test-faulty-noise' (registered at run "
        f"time)) of DenoisingAutoencoder {problem}"
    )


def raises_key_error(batch, level, generator):
    raise KeyError("lost my noise")


def test_noise_that_raises():
    with pytest.raises(KeyError) as info:
        DenoisingAutoencoder(noise=raises_key_error, **FAST).fit(X)
    assert getattr(info.value, "__notes__", ["(raised by The 'noise' callable"])[
        0
    ].startswith("(raised by The 'noise' callable raises_key_error")
    scheme = NoiseScheme("raising", raises_key_error)
    name = _runtime("test-raising-noise", noise_schemes=[scheme])
    try:
        with pytest.raises(PluginError, match="plugin 'test-raising-noise'") as info:
            DenoisingAutoencoder(noise="raising", **FAST).fit(X)
    finally:
        _unregister(name)
    assert isinstance(info.value.__cause__, KeyError)


def test_resolve_functions():
    label, build, provider = registry.resolve_architecture("mlp", "VAE")
    assert (label, build) == ("'mlp'", skae.builtins.mlp.build_mlp)
    assert provider == f"plugin 'skae.builtins.mlp' from skae {skae.__version__}"
    resolved = registry.resolve_architecture(build_linear, "VAE")
    assert (
        resolved == ("build_linear", build_linear, None) and resolved.provider is None
    )
    with pytest.raises(InvalidParameterError) as info:
        registry.resolve_architecture("mpl", "Owner")
    assert str(info.value).startswith(
        "The 'encoder' parameter of Owner must be a registered architecture name or "
        "a callable. Got 'mpl' instead. Did you mean 'mlp'? Registered "
        "architectures: 'conv', 'conv1d', 'mlp', 'resmlp'"
    )
    corrupt = registry.resolve_noise("masking", 1.0, "Owner")
    ones = torch.ones(2, 3)
    assert torch.equal(corrupt(ones, torch.Generator()), torch.zeros(2, 3))
    assert torch.equal(ones, torch.ones(2, 3))
    for level, words in [
        (1.5, r"must be in \[0.0, 1.0\] for noise='masking'. Got 1.5"),
        (math.nan, r"must be in \[0.0, 1.0\] for noise='masking'. Got nan"),
        ("0.5", "must be a float. Got '0.5'"),
        (True, "must be a float. Got True"),
    ]:
        with pytest.raises(InvalidParameterError, match=words):
            registry.resolve_noise("masking", level, "Owner")
    with pytest.raises(InvalidParameterError, match="must be finite. Got inf"):
        registry.resolve_noise("gaussian", math.inf, "Owner")
    with pytest.raises(InvalidParameterError, match="finite. Got inf"):
        registry.resolve_noise(returns_none, math.inf, "Owner")


def test_add_noise_checks_like_fit():
    from skae import images

    with pytest.raises(
        InvalidParameterError, match=r"\[0.0, 1.0\] for noise='masking'"
    ):
        images.add_noise(DenoisingAutoencoder(noise="masking", noise_level=1.5), X[:3])
    noisy = images.add_noise(
        DenoisingAutoencoder(noise="masking", noise_level=1), X[:3]
    )
    assert noisy.dtype == X.dtype and not noisy.any()
    with pytest.raises(ValueError, match="'noise' callable returns_float64"):
        images.add_noise(DenoisingAutoencoder(noise=returns_float64), X[:3])


# ----------------------------------------------------------- docs/plugins.md
# Defect 5 of issue 9: what the guide says about modules, and its examples, hold.
GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()


def _guide_file(name):
    """A file of the guide's walkthrough plugin: a block whose first line is # name."""
    for body in re.findall(r"^```\w*\n(.*?)^```", GUIDE, re.M | re.S):
        if body.startswith(f"# {name}\n"):
            return body.split("\n", 1)[1]
    raise LookupError(name)


def test_guide_error_examples_are_the_real_messages(
    tmp_path, monkeypatch, fresh_registry
):
    quoted = re.findall(r'`skae\.\w+`: "(.*?)" \|', GUIDE)
    examples = {
        start: next(q for q in quoted if q.startswith(start))
        for start in (
            "Architecture 'linear' raised",
            "Architecture 'linear' (plugin",
            "The noise scheme 'uniform'",
        )
    }
    _fake_distribution(
        tmp_path,
        "skae_hello",
        _guide_file("skae_hello.py"),
        dist="skae-hello",
        version="0.1.0",
        plugin="hello",
    )
    monkeypatch.syspath_prepend(tmp_path)
    try:
        with pytest.raises(InvalidParameterError) as rejected:
            AutoencoderTransformer(
                encoder="linear", encoder_params={"bias": 3}, **FAST
            ).fit(X)
        hello = sys.modules["skae_hello"]
        monkeypatch.setattr(hello, "build_linear", build_short_decoder)
        monkeypatch.setattr(hello, "uniform", returns_float64)
        registry.reset()  # the hooks run again, with the faulty functions
        with pytest.raises(PluginError) as misshapen:
            AutoencoderTransformer(n_components=3, encoder="linear", **FAST).fit(X)
        with pytest.raises(PluginError) as float64:
            DenoisingAutoencoder(noise="uniform", **{**FAST, "batch_size": 128}).fit(X)
    finally:
        sys.modules.pop("skae_hello", None)
    assert str(rejected.value) == examples["Architecture 'linear' raised"]
    assert str(misshapen.value) == examples["Architecture 'linear' (plugin"]
    noise_example = examples["The noise scheme 'uniform'"]
    assert noise_example.endswith(" ...")
    assert str(float64.value).startswith(noise_example[: -len(" ...")])


class ModeRecorder(nn.Module):
    """Passes its input on and notes whether it was called in train mode."""

    seen: list = []

    def forward(self, x):
        ModeRecorder.seen.append(self.training)
        return x


class TiedDecoder(nn.Module):
    """The encoder's linear layer, transposed: tied weights."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear
        self.bias = nn.Parameter(torch.zeros(linear.in_features))

    def forward(self, z):
        return nn.functional.linear(z, self.linear.weight.t(), self.bias)


def build_tied(n_features, n_encoder_outputs, n_components):
    linear = nn.Linear(n_features, n_encoder_outputs)
    return nn.Sequential(linear, ModeRecorder()), TiedDecoder(linear)


def test_modes_and_tied_weights_as_the_guide_says(tmp_path):
    name = _runtime("test-tied", architectures=[Architecture("tied", build_tied)])
    try:
        ModeRecorder.seen.clear()
        est = AutoencoderTransformer(n_components=3, encoder="tied", **FAST).fit(X)
        assert True in ModeRecorder.seen  # training steps
        encoder, decoder = est.module_.encoder, est.module_.decoder
        assert decoder.linear.weight is encoder[0].weight
        parameters = list(est.module_.parameters())
        assert len(parameters) == 3  # the shared weight counts once
        state = est.module_.state_dict()
        assert torch.equal(state["encoder.0.weight"], state["decoder.linear.weight"])
        est.save(tmp_path / "tied.skae")
        for copy in (
            pickle.loads(pickle.dumps(est)),
            skae.load(tmp_path / "tied.skae"),
        ):
            module = copy.module_
            assert module.decoder.linear.weight is module.encoder[0].weight
            ModeRecorder.seen.clear()
            np.testing.assert_array_equal(copy.transform(X), est.transform(X))
            np.testing.assert_array_equal(
                copy.inverse_transform(copy.transform(X[:5])),
                est.inverse_transform(est.transform(X[:5])),
            )
            assert ModeRecorder.seen and not any(ModeRecorder.seen)  # eval mode
    finally:
        _unregister(name)
