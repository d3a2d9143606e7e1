"""The plugin manager behind :mod:`skae.registry`, and the tables of names it yields.

Plugins come in four kinds, registered in this order and reported in it:

- ``built-in``: skae's own modules (``skae.builtins.*``), on first use;
- ``installed``: the ``skae`` entry-point group, imported only when a question
  needs them (see :func:`full_manager`); a plugin that fails to import is kept
  as a :class:`Problem` instead of stopping the others;
- ``run-time``: registered by code with ``skae.register_plugin``;
- ``carried``: specs that arrived inside a pickle. They only fill names that
  no other plugin provides, so they never clash.

Every function here takes ``state.lock`` (re-entrant): the registry is shared by
every thread of the process.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import pluggy

from . import hookspecs
from ._version import __version__
from .exceptions import PluginError
from .hookspecs import Architecture, NoiseScheme

ENTRY_POINT_GROUP = "skae"
DISABLE_AUTOLOAD_ENV = "SKAE_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_PLUGINS = ("skae.builtins.mlp", "skae.builtins.conv", "skae.builtins.noise")
KINDS = ("built-in", "installed", "run-time", "carried")
RUNTIME = "(registered at run time)"
# hook name -> (spec class, what its specs are called in messages)
HOOKS = {
    "register_architectures": (Architecture, "architecture"),
    "register_noise_schemes": (NoiseScheme, "noise scheme"),
}
HOOK_OF = {spec_type: hook for hook, (spec_type, _) in HOOKS.items()}

Spec = TypeVar("Spec", Architecture, NoiseScheme)


@dataclass(frozen=True)
class Provider:
    """Where a registered name comes from.

    Examples
    --------
    >>> from skae import registry
    >>> provider = registry.noise_schemes()["masking"].provider
    >>> provider.distribution, provider.runtime
    ('skae', False)
    """

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
    """A registered spec and the plugin that provides it.

    Examples
    --------
    >>> from skae import registry
    >>> entry = registry.architectures()["mlp"]
    >>> entry.spec.name, entry.provider.distribution
    ('mlp', 'skae')
    """

    spec: Spec
    provider: Provider


@dataclass(frozen=True)
class Problem:
    """A failure kept for later, raised afresh only when a question needs it."""

    message: str
    cause: BaseException | None = None

    def error(self, message: str | None = None) -> PluginError:
        error = PluginError(message or self.message)
        error.__cause__ = self.cause
        return error


@dataclass
class Table:
    """The specs one hook returns, by name, and what went wrong collecting them."""

    entries: dict[str, Entry] = field(default_factory=dict)
    clashes: dict[str, Problem] = field(default_factory=dict)
    failures: list[Problem] = field(default_factory=list)


@dataclass
class State:
    manager: pluggy.PluginManager | None = None
    installed_loaded: bool = False
    providers: dict[str, Provider] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    broken: list[Problem] = field(default_factory=list)  # installed, not loaded
    cache: dict[tuple[str, bool], Table] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


state = State()


def kind_of(provider: Provider) -> str:
    """The kind of plugin behind ``provider``: one of :data:`KINDS`."""
    return state.kinds[provider.plugin]


def _add(pm: pluggy.PluginManager, plugin: object, provider: Provider, kind: str):
    """Register one plugin; pluggy rejects bad signatures and unknown hooks."""
    try:
        pm.register(plugin, name=provider.plugin)
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        raise PluginError(f"skae could not register {provider}: {exc}") from exc
    state.providers[provider.plugin] = provider
    state.kinds[provider.plugin] = kind
    state.cache.clear()


def manager() -> pluggy.PluginManager:
    """The plugin manager with the built-in and run-time plugins; built once."""
    with state.lock:
        if state.manager is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            for name in BUILTIN_PLUGINS:
                module = importlib.import_module(name)
                _add(pm, module, Provider(name, "skae", __version__), "built-in")
            state.manager = pm
        return state.manager


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Register every installed plugin; keep the failures of broken ones."""
    fix = (
        f"Fix or uninstall that distribution, or set {DISABLE_AUTOLOAD_ENV}=1 to "
        "skip installed plugins."
    )
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name):
            continue
        dist = ep.dist
        provider = Provider(
            ep.name,
            dist.name if dist is not None else "an unknown distribution",
            dist.version if dist is not None else "",
        )
        if pm.has_plugin(ep.name):
            taken = state.providers[ep.name]
            message = f"skae could not register {provider}: {taken} has its name."
            state.broken.append(Problem(f"{message} {fix}"))
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            state.broken.append(
                Problem(
                    f"skae could not import {provider} (entry point {ep.value!r}): "
                    f"{type(exc).__name__}: {exc}. {fix}",
                    exc,
                )
            )
            continue
        try:
            _add(pm, plugin, provider, "installed")
        except PluginError as exc:
            state.broken.append(Problem(f"{exc} {fix}", exc.__cause__))


def full_manager() -> pluggy.PluginManager:
    """The plugin manager with every plugin: the installed ones are loaded once."""
    with state.lock:
        pm = manager()
        if not state.installed_loaded:
            state.installed_loaded = True
            if not os.environ.get(DISABLE_AUTOLOAD_ENV):
                _load_entry_points(pm)
            state.cache.clear()
        return pm


def reset() -> None:
    """Forget every plugin; the next use rebuilds the registry from scratch."""
    with state.lock:
        state.manager = None
        state.installed_loaded = False
        state.providers.clear()
        state.kinds.clear()
        state.broken.clear()
        state.cache.clear()


def register(plugin: object, name: str | None, kind: str) -> str:
    """Register a run-time or carried plugin; return its name."""
    with state.lock:
        pm = manager()
        name = name or pm.get_canonical_name(plugin)
        _add(pm, plugin, Provider(name, RUNTIME), kind)
        return name


def unregister(name: str) -> None:
    """Remove a run-time or carried plugin by name."""
    with state.lock:
        provider = state.providers.get(name)
        if provider is None or not provider.runtime:
            runtime = sorted(p for p, v in state.providers.items() if v.runtime)
            raise ValueError(
                f"No plugin named {name!r} was registered at run time; "
                f"those are {runtime}."
            )
        manager().unregister(name=name)
        del state.providers[name]
        del state.kinds[name]
        state.cache.clear()


def _specs(impl, hook_name: str, provider: Provider) -> list | Problem:
    """What one plugin's hook returns, or the Problem with it."""
    spec_type, _ = HOOKS[hook_name]
    try:
        specs = impl.function()
    except Exception as exc:
        return Problem(
            f"The {hook_name} hook of {provider} raised {type(exc).__name__}: {exc}",
            exc,
        )
    if not isinstance(specs, (list, tuple)) or not all(
        isinstance(s, spec_type) and isinstance(s.name, str) for s in specs
    ):
        return Problem(
            f"The {hook_name} hook of {provider} must return a list of "
            f"skae.{spec_type.__name__} objects with str names; got {specs!r}."
        )
    return list(specs)


def _collect(hook_name: str, installed: bool) -> Table:
    _, noun = HOOKS[hook_name]
    pm = full_manager() if installed else manager()
    impls = sorted(
        getattr(pm.hook, hook_name).get_hookimpls(),  # registration order
        key=lambda impl: KINDS.index(state.kinds[impl.plugin_name]),
    )
    table = Table(failures=list(state.broken) if installed else [])
    for impl in impls:
        kind = state.kinds[impl.plugin_name]
        provider = state.providers[impl.plugin_name]
        if kind == "installed" and not installed:
            continue
        specs = _specs(impl, hook_name, provider)
        if isinstance(specs, Problem):
            table.failures.append(specs)
            continue
        for spec in specs:
            first = table.entries.get(spec.name)
            if first is None:
                table.entries[spec.name] = Entry(spec, provider)
            elif kind != "carried" and spec.name not in table.clashes:
                table.clashes[spec.name] = Problem(
                    f"Two plugins register the {noun} {spec.name!r}: "
                    f"{first.provider} and {provider}. "
                    "Uninstall or unregister one of them."
                )
    return table


def table(hook_name: str, installed: bool) -> Table:
    """The names ``hook_name`` yields, from every plugin or (``installed=False``)
    from the built-in, run-time and carried ones only; cached until the plugins
    change.
    """
    with state.lock:
        key = (hook_name, installed)
        if key not in state.cache:
            state.cache[key] = _collect(hook_name, installed)
        return state.cache[key]


def listing(hook_name: str) -> dict[str, Entry]:
    """Every name ``hook_name`` yields; PluginError if any plugin failed or clashed."""
    with state.lock:
        found = table(hook_name, installed=True)
        for problem in (*found.failures, *found.clashes.values()):
            raise problem.error()
        return dict(found.entries)
