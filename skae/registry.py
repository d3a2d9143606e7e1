"""The plugin registry: which architectures and noise schemes exist, by name.

The pluggy plugin manager is built lazily, on first use, never at import. It
registers skae's built-in plugins first, then every plugin found in the ``skae``
entry-point group (unless ``SKAE_DISABLE_PLUGIN_AUTOLOAD`` is set), then the
plugins code registers at run time with :func:`register_plugin`.

>>> from skae import registry
>>> {"mlp", "conv"} <= set(registry.architectures())
True
>>> registry.architectures()["mlp"].provider.distribution
'skae'
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import pluggy

from . import __version__, hookspecs
from .exceptions import PluginError
from .hookspecs import Architecture, NoiseScheme, hookimpl

ENTRY_POINT_GROUP = "skae"
DISABLE_AUTOLOAD_ENV = "SKAE_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_PLUGINS = ("skae.builtins.mlp", "skae.builtins.conv", "skae.builtins.noise")
RUNTIME = "(registered at run time)"

Spec = TypeVar("Spec", Architecture, NoiseScheme)


@dataclass(frozen=True)
class Provider:
    """Where a registered name comes from."""

    plugin: str
    distribution: str
    version: str = ""

    @property
    def runtime(self) -> bool:
        """Whether the plugin was registered by code, not installed."""
        return self.distribution == RUNTIME

    def __str__(self) -> str:
        if self.runtime:
            return f"plugin {self.plugin!r} {RUNTIME}"
        return f"plugin {self.plugin!r} from {self.distribution} {self.version}".strip()


@dataclass(frozen=True)
class Entry(Generic[Spec]):
    """A registered spec and the plugin that provides it."""

    spec: Spec
    provider: Provider


@dataclass
class _State:
    manager: pluggy.PluginManager | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    cache: dict[str, dict[str, Entry]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


_state = _State()

# hook name -> (spec class, what its specs are called in messages)
_HOOKS = {
    "register_architectures": (Architecture, "architecture"),
    "register_noise_schemes": (NoiseScheme, "noise scheme"),
}


def _add(pm: pluggy.PluginManager, plugin: object, provider: Provider) -> None:
    """Register one plugin; pluggy rejects bad signatures and unknown hooks."""
    try:
        pm.register(plugin, name=provider.plugin)
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        raise PluginError(f"skae could not register {provider}: {exc}") from exc
    _state.providers[provider.plugin] = provider


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        dist = ep.dist
        provider = Provider(
            ep.name,
            dist.name if dist is not None else "an unknown distribution",
            dist.version if dist is not None else "",
        )
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"skae could not import {provider} (entry point {ep.value!r}): "
                f"{type(exc).__name__}: {exc}. Fix or uninstall that distribution, "
                f"or set {DISABLE_AUTOLOAD_ENV}=1 to skip installed plugins."
            ) from exc
        _add(pm, plugin, provider)


def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, built on first call."""
    with _state.lock:
        if _state.manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            for module_name in BUILTIN_PLUGINS:
                module = importlib.import_module(module_name)
                _add(pm, module, Provider(module_name, "skae", __version__))
            if not os.environ.get(DISABLE_AUTOLOAD_ENV):
                _load_entry_points(pm)
            _state.manager = pm
        return _state.manager


def reset() -> None:
    """Forget every plugin; the next use rebuilds the registry from scratch.

    Use it after installing or uninstalling a plugin distribution in a running
    session. Plugins registered at run time must be registered again.
    """
    with _state.lock:
        _state.manager = None
        _state.providers.clear()
        _state.cache.clear()


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object at run time (in a notebook, a script or a test).

    Parameters
    ----------
    plugin : object
        A module, class or instance with ``@skae.hookimpl`` functions.
    name : str, optional
        The plugin's name; pluggy derives one when omitted.

    Returns
    -------
    name : str
        The name the plugin was registered under.
    """
    with _state.lock:
        pm = plugin_manager()
        name = name or pm.get_canonical_name(plugin)
        _add(pm, plugin, Provider(name, RUNTIME))
        _state.cache.clear()
        return name


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered at run time, by name."""
    with _state.lock:
        provider = _state.providers.get(name)
        if provider is None or not provider.runtime:
            runtime = sorted(p for p, v in _state.providers.items() if v.runtime)
            raise ValueError(
                f"No plugin named {name!r} was registered at run time; "
                f"those are {runtime}."
            )
        plugin_manager().unregister(name=name)
        del _state.providers[name]
        _state.cache.clear()


def _collect(hook_name: str) -> dict[str, Entry]:
    spec_type, noun = _HOOKS[hook_name]
    pm = plugin_manager()
    found: dict[str, Entry] = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order
        provider = _state.providers[impl.plugin_name]
        try:
            specs = impl.function()
        except Exception as exc:
            raise PluginError(
                f"The {hook_name} hook of {provider} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(specs, (list, tuple)) or not all(
            isinstance(s, spec_type) for s in specs
        ):
            raise PluginError(
                f"The {hook_name} hook of {provider} must return a list of "
                f"skae.{spec_type.__name__} objects; got {specs!r}."
            )
        for spec in specs:
            if spec.name in found:
                raise PluginError(
                    f"Two plugins register the {noun} {spec.name!r}: "
                    f"{found[spec.name].provider} and {provider}. "
                    "Uninstall or unregister one of them."
                )
            found[spec.name] = Entry(spec, provider)
    return found


def _entries(hook_name: str) -> dict[str, Entry]:
    with _state.lock:
        if hook_name not in _state.cache:
            _state.cache[hook_name] = _collect(hook_name)
        return dict(_state.cache[hook_name])


def architectures() -> dict[str, Entry[Architecture]]:
    """Every registered architecture, by name, with its provider."""
    return _entries("register_architectures")


def noise_schemes() -> dict[str, Entry[NoiseScheme]]:
    """Every registered noise scheme, by name, with its provider."""
    return _entries("register_noise_schemes")


class _CarriedSpecs:
    """A plugin made of specs that arrived inside a pickle (see ``adopt``)."""

    def __init__(self, specs: list[Architecture | NoiseScheme]) -> None:
        self.specs = specs

    @hookimpl
    def register_architectures(self) -> list[Architecture]:
        return [s for s in self.specs if isinstance(s, Architecture)]

    @hookimpl
    def register_noise_schemes(self) -> list[NoiseScheme]:
        return [s for s in self.specs if isinstance(s, NoiseScheme)]


def runtime_spec(spec_type: type[Spec], name: object) -> Spec | None:
    """The spec behind ``name`` if a run-time plugin provides it, else None.

    Estimators carry such specs in their pickles so that a worker process
    (``GridSearchCV(n_jobs=2)``), whose registry lacks them, can still use them.
    """
    if not isinstance(name, str):
        return None
    table = architectures() if spec_type is Architecture else noise_schemes()
    entry = table.get(name)
    return entry.spec if entry is not None and entry.provider.runtime else None


def adopt(specs: list[Architecture | NoiseScheme]) -> None:
    """Register carried specs whose names this process does not know yet."""
    with _state.lock:
        known = {Architecture: architectures(), NoiseScheme: noise_schemes()}
        missing = [s for s in specs if s.name not in known[type(s)]]
        if missing:
            names = "+".join(s.name for s in missing)
            register_plugin(_CarriedSpecs(missing), name=f"carried:{names}")
