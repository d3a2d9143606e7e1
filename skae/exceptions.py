"""Exceptions raised by skae.

skae raises scikit-learn's exceptions wherever scikit-learn would: ``ValueError``
and ``TypeError`` for bad input or parameters, ``NotFittedError`` for a method
called before ``fit``, ``MemoryError`` (naming the parameter) for a size that
cannot fit in memory. Its own classes are few::

    ValueError, TypeError
     └── InvalidParameterError   a constructor parameter is out of range or unknown
    RuntimeError
     └── PluginError             a plugin failed to load, raised, or clashed
"""

from __future__ import annotations


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value.

    It subclasses both ``ValueError`` and ``TypeError``, like scikit-learn's own
    ``InvalidParameterError``, so either ``except`` clause catches it.

    Examples
    --------
    >>> from skae import VAE, InvalidParameterError
    >>> try:
    ...     VAE(n_components=0).fit([[0.0, 1.0], [1.0, 0.0]])
    ... except ValueError as exc:  # or TypeError, or InvalidParameterError
    ...     print(type(exc).__name__)
    InvalidParameterError
    """


class PluginError(RuntimeError):
    """A plugin failed: its import or hook raised, or two plugins claim one name.

    The message names the plugin and the distribution it came from; the original
    exception, if any, is chained as ``__cause__``.

    Examples
    --------
    >>> import skae
    >>> class Broken:
    ...     @skae.hookimpl
    ...     def register_architectures(self):
    ...         raise RuntimeError("no torch here")
    >>> skae.register_plugin(Broken(), name="broken")
    'broken'
    >>> try:
    ...     skae.registry.architectures()
    ... except skae.PluginError as exc:
    ...     print("broken" in str(exc))
    True
    >>> skae.unregister_plugin("broken")
    """
