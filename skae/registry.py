"""The plugin registry: which architectures and noise schemes exist, by name.

The registry is a pluggy plugin manager, built lazily and only as far as a
question needs. skae's built-in plugins (``skae.builtins.*``) are registered on
first use, never at import; plugins registered by code (:func:`register_plugin`)
join at once; installed plugins (the ``skae`` entry-point group, unless
``SKAE_DISABLE_PLUGIN_AUTOLOAD`` is set) are imported only when a name is
needed that the built-ins do not provide, or when every name is listed. So a
built-in name never imports a third-party plugin, and a broken one cannot
break ``fit(encoder="mlp")``, pickling or ``save``.

:func:`resolve_architecture` and :func:`resolve_noise` turn an estimator's
parameters into what building and training call, with the same checks for
every caller.

>>> from skae import registry
>>> {"mlp", "conv"} <= set(registry.architectures())
True
>>> registry.architectures()["mlp"].provider.distribution
'skae'
>>> registry.resolve_architecture("mlp", "AutoencoderTransformer").label
"'mlp'"
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import torch

from . import _plugins
from ._params import did_you_mean
from ._plugins import DISABLE_AUTOLOAD_ENV, ENTRY_POINT_GROUP, Entry, Provider
from .exceptions import InvalidParameterError, PluginError
from .hookspecs import Architecture, NoiseScheme, hookimpl

__all__ = [
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "Entry",
    "Provider",
    "ResolvedArchitecture",
    "architectures",
    "noise_schemes",
    "register_plugin",
    "reset",
    "resolve_architecture",
    "resolve_noise",
    "unregister_plugin",
]

_plugin_manager = _plugins.full_manager
_OUT_OF_MEMORY = (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))
_RUN_TIME = ("run-time", "carried")


class ResolvedArchitecture(NamedTuple):
    """What :func:`resolve_architecture` returns.

    Examples
    --------
    >>> from skae import registry
    >>> label, build, provider = registry.resolve_architecture(len, "VAE")
    >>> label, build is len, provider
    ('len', True, None)
    """

    label: str
    """The architecture in messages: ``"'mlp'"``, or a callable's name."""
    build: Callable
    """The factory; see :class:`skae.Architecture`."""
    provider: str | None
    """The plugin behind a registered name, as text; None for a callable."""


def architectures() -> dict[str, Entry[Architecture]]:
    """Every registered architecture, by name, with its provider.

    Raises :class:`~skae.PluginError` when a plugin is broken or two plugins
    register one name.

    Examples
    --------
    >>> from skae import registry
    >>> entries = registry.architectures()
    >>> sorted(n for n, e in entries.items() if e.provider.distribution == "skae")
    ['conv', 'mlp']
    """
    return _plugins.listing("register_architectures")


def noise_schemes() -> dict[str, Entry[NoiseScheme]]:
    """Every registered noise scheme, by name, with its provider.

    Raises :class:`~skae.PluginError` when a plugin is broken or two plugins
    register one name.

    Examples
    --------
    >>> from skae import registry
    >>> entries = registry.noise_schemes()
    >>> sorted(n for n, e in entries.items() if e.provider.distribution == "skae")
    ['gaussian', 'masking', 'salt_and_pepper']
    """
    return _plugins.listing("register_noise_schemes")


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

    Examples
    --------
    >>> import skae
    >>> class Identity:
    ...     @skae.hookimpl
    ...     def register_noise_schemes(self):
    ...         return [skae.NoiseScheme("identity", lambda x, level, gen: x + 0)]
    >>> skae.register_plugin(Identity(), name="identity-plugin")
    'identity-plugin'
    >>> "identity" in skae.registry.noise_schemes()
    True
    >>> skae.unregister_plugin("identity-plugin")
    """
    return _plugins.register(plugin, name, "run-time")


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered at run time, by name.

    Examples
    --------
    >>> import skae
    >>> skae.unregister_plugin(skae.register_plugin(object(), name="no-hooks"))
    """
    _plugins.unregister(name)


def reset() -> None:
    """Forget every plugin; the next use rebuilds the registry from scratch.

    Use it after installing or uninstalling a plugin distribution in a running
    session. Plugins registered at run time must be registered again.

    Examples
    --------
    >>> from skae import registry
    >>> registry.reset()  # say, after pip installing a plugin in this session
    >>> "mlp" in registry.architectures()  # rebuilt on first use
    True
    """
    _plugins.reset()


# ------------------------------------------------------------ resolving names
def _entry(hook_name: str, param: str, name: object, owner: str) -> Entry:
    """The entry for the name in parameter ``param`` of ``owner``, or a clear error.

    A built-in name never imports installed plugins; another name does. A
    plugin that failed to load is blamed only if no working plugin has the name.
    """
    _, noun = _plugins.HOOKS[hook_name]
    with _plugins.state.lock:
        if isinstance(name, str):
            core = _plugins.table(hook_name, installed=False)
            if name in core.clashes:
                raise core.clashes[name].error()
            first = core.entries.get(name)
            if first is not None and _plugins.kind_of(first.provider) == "built-in":
                return first
        table = _plugins.table(hook_name, installed=True)
        if isinstance(name, str) and name in table.clashes:
            raise table.clashes[name].error()
        if isinstance(name, str) and name in table.entries:
            return table.entries[name]
    names = sorted(table.entries)
    hint = did_you_mean(name, names) if isinstance(name, str) else ""
    listed = (
        f"{hint} Registered {noun}s: {', '.join(repr(n) for n in names)}. "
        "Plugins add more; run `skae plugins` to list them."
    )
    if table.failures:
        failed, more = table.failures[0], len(table.failures) - 1
        raise failed.error(
            f"The {param!r} parameter of {owner} names the {noun} {name!r}, which "
            "no working plugin registers; a plugin that failed may be the one that "
            f"provides it. {failed.message}"
            + (f" ({more} more plugin(s) failed too.)" if more else "")
            + listed
        )
    raise InvalidParameterError(
        f"The {param!r} parameter of {owner} must be a registered {noun} name or "
        f"a callable. Got {name!r} instead.{listed}"
    )


def resolve_architecture(encoder: object, owner: str) -> ResolvedArchitecture:
    """What the ``encoder`` parameter of ``owner`` (a class name) stands for.

    Returns ``(label, build, provider)``, ``provider`` None for a callable.
    Raises :class:`~skae.InvalidParameterError` for a name that is not
    registered (listing the names, suggesting the closest), and
    :class:`~skae.PluginError` when two plugins register the name, or when it
    is not registered and a plugin failed to load.

    Examples
    --------
    >>> from skae import registry
    >>> resolved = registry.resolve_architecture("mlp", "VAE")
    >>> resolved.label, resolved.provider
    ("'mlp'", "plugin 'skae.builtins.mlp' from skae ...")
    """
    if callable(encoder):
        label = getattr(encoder, "__name__", repr(encoder))
        return ResolvedArchitecture(label, encoder, None)
    entry = _entry("register_architectures", "encoder", encoder, owner)
    return ResolvedArchitecture(
        repr(entry.spec.name), entry.spec.build, str(entry.provider)
    )


class _Noise:
    """A noise scheme bound to its level; checks what the scheme returns.

    The checks read only shapes, dtypes, devices and the batch's version
    counter: no device sync, so they cost nothing measurable per step.
    """

    __slots__ = ("corrupt", "fault", "level", "source")

    def __init__(self, corrupt: Callable, level: float, source: str, fault: type):
        self.corrupt, self.level, self.source, self.fault = (
            corrupt,
            level,
            source,
            fault,
        )

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        version = batch._version
        try:
            out = self.corrupt(batch, self.level, generator)
        except _OUT_OF_MEMORY:
            raise
        except Exception as exc:
            if self.fault is PluginError:
                raise PluginError(
                    f"{self.source} raised {type(exc).__name__}: {exc}"
                ) from exc
            if hasattr(exc, "add_note"):  # Python 3.11+
                exc.add_note(f"(raised by {self.source})")
            raise
        if not isinstance(out, torch.Tensor):
            problem = f"returned {type(out).__name__}"
        elif out.shape != batch.shape or out.dtype != batch.dtype:
            problem = f"returned a {out.dtype} tensor of shape {tuple(out.shape)}"
        elif out.device != batch.device:
            problem = f"returned a tensor on {out.device}"
        elif batch._version != version:
            problem = "modified the batch in place"
        else:
            return out
        raise self.fault(
            f"{self.source} {problem} for a {batch.dtype} batch of shape "
            f"{tuple(batch.shape)} on {batch.device}. A noise scheme must return a "
            "new tensor with the batch's shape, dtype and device, and leave the "
            "batch unchanged."
        )


def resolve_noise(
    noise: object, noise_level: object, owner: str
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """What the ``noise`` and ``noise_level`` parameters of ``owner`` stand for.

    Returns ``corrupt(batch, generator)``: the scheme (a registered name, or a
    ``corrupt(batch, level, generator)`` callable) bound to ``noise_level``. It
    raises :class:`~skae.PluginError` (a registered scheme) or ``ValueError``
    (a callable), naming the scheme, when the scheme returns anything but a
    new tensor of the batch's shape, dtype and device. Raises
    :class:`~skae.InvalidParameterError` for a name that is not registered or a
    level outside the scheme's ``level_range`` (``[0, inf]`` for a callable) or
    not finite, and :class:`~skae.PluginError` as :func:`resolve_architecture`.

    Examples
    --------
    >>> import torch
    >>> from skae import registry
    >>> corrupt = registry.resolve_noise("masking", 1.0, "DenoisingAutoencoder")
    >>> corrupt(torch.ones(2, 3), torch.Generator().manual_seed(0)).sum().item()
    0.0
    """
    if callable(noise):
        label = getattr(noise, "__name__", repr(noise))
        corrupt, (low, high) = noise, (0.0, math.inf)
        source, fault = f"The 'noise' callable {label} of {owner}", ValueError
    else:
        entry = _entry("register_noise_schemes", "noise", noise, owner)
        corrupt, (low, high) = entry.spec.corrupt, entry.spec.level_range
        source = f"The noise scheme {noise!r} ({entry.provider}) of {owner}"
        fault = PluginError
    level = noise_level
    if not isinstance(level, numbers.Real) or isinstance(level, bool):
        raise InvalidParameterError(
            f"The 'noise_level' parameter of {owner} must be a float. "
            f"Got {level!r} instead."
        )
    if not low <= level <= high:
        raise InvalidParameterError(
            f"The 'noise_level' parameter of {owner} must be in [{low}, {high}] for "
            f"noise={noise!r}. Got {level!r} instead."
        )
    if not math.isfinite(level):
        raise InvalidParameterError(
            f"The 'noise_level' parameter of {owner} must be finite. "
            f"Got {level!r} instead."
        )
    return _Noise(corrupt, float(level), source, fault)


# ------------------------------------------------------------ pickles
class _CarriedSpecs:
    """A plugin made of specs that arrived inside a pickle (see :func:`_adopt`)."""

    def __init__(self, specs: list[Architecture | NoiseScheme]) -> None:
        self.specs = specs

    @hookimpl
    def register_architectures(self) -> list[Architecture]:
        return [s for s in self.specs if isinstance(s, Architecture)]

    @hookimpl
    def register_noise_schemes(self) -> list[NoiseScheme]:
        return [s for s in self.specs if isinstance(s, NoiseScheme)]


def _carried_specs(encoder: object, noise: object) -> list[Architecture | NoiseScheme]:
    """The specs of run-time plugins behind these names, for a pickle to carry.

    An estimator's pickle carries them so that a process whose registry lacks
    them (a ``GridSearchCV(n_jobs=2)`` worker) can still use them. This never
    builds the registry (with no run-time plugin there is nothing to carry),
    never imports installed plugins, and never raises for a broken plugin.
    """
    state = _plugins.state
    with state.lock:
        if not any(kind in _RUN_TIME for kind in state.kinds.values()):
            return []
        carried = []
        for hook_name, name in (
            ("register_architectures", encoder),
            ("register_noise_schemes", noise),
        ):
            if not isinstance(name, str):
                continue
            table = _plugins.table(hook_name, installed=False)
            entry = table.entries.get(name)
            if entry is not None and name not in table.clashes:
                if _plugins.kind_of(entry.provider) in _RUN_TIME:
                    carried.append(entry.spec)
        return carried


def _adopt(specs: list[Architecture | NoiseScheme]) -> None:
    """Register the carried specs whose names no built-in or run-time plugin has.

    They become a run-time plugin named ``carried:<names>``. A carried spec
    only fills a name that no other plugin provides, so registering the same
    plugin again, before or after, never clashes; and adopting imports no
    installed plugin (one with the same name takes precedence).
    """
    if not specs:
        return
    with _plugins.state.lock:
        missing = [
            spec
            for spec in specs
            if spec.name
            not in _plugins.table(_plugins.HOOK_OF[type(spec)], installed=False).entries
        ]
        if missing:
            name = "carried:" + "+".join(s.name for s in missing)
            unique, n = name, 2
            while unique in _plugins.state.providers:
                unique, n = f"{name}#{n}", n + 1
            _plugins.register(_CarriedSpecs(missing), unique, "carried")
