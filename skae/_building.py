"""Building a module from an architecture, with each fault blamed on its author.

Who is blamed for what (``docs/plugins.md`` states the same to plugin authors):

- the user, with :class:`InvalidParameterError`: ``encoder_params`` keys that
  ``build`` does not take or that it requires and lacks, and the
  ``InvalidParameterError``, ``ValueError`` or ``TypeError`` that ``build``
  raises to reject a value (or that torch raises for a size it cannot make);
- the machine, with ``MemoryError``: modules too large to allocate;
- the architecture (:class:`PluginError` naming the plugin, ``ValueError`` for
  a plain callable): a signature without the width arguments, any other
  exception from ``build``, and a return value that is not two modules of the
  right shapes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from ._engine.modules import BaseModule
from ._engine.randomness import GLOBAL_RNG_LOCK
from .exceptions import InvalidParameterError, PluginError

_WIDTHS = ("n_features", "n_encoder_outputs", "n_components")
# What torch says when a tensor is too large to allocate, or to describe.
_ALLOCATION_FAILURES = ("can't allocate memory", "not enough memory", "out of memory")
_SIZE_FAILURES = ("negative dimension", "overflow")


def _signature(build: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(build)
    except (TypeError, ValueError):  # some builtins and C callables have none
        return None


def check_encoder_params(
    label: str, source: str, fault: type[Exception], build: Callable, params: dict
) -> None:
    """Check ``build``'s signature against the widths and ``encoder_params``.

    A ``build`` that cannot take the width arguments is the architecture's
    fault; ``encoder_params`` keys it does not take, or required ones that
    are missing, are the user's.
    """
    signature = _signature(build)
    if signature is None:
        return
    parameters = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    keywords = {
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    lacking = [w for w in _WIDTHS if w not in keywords]
    if lacking:
        raise fault(
            f"Architecture {label} ({source}) must take the keyword arguments "
            f"{list(_WIDTHS)}; its build function lacks {lacking}."
        )
    accepted = sorted(keywords - set(_WIDTHS))
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"encoder_params has key(s) {unknown} that architecture {label} "
            f"does not take; it takes {accepted}."
        )
    required = sorted(
        p.name
        for p in parameters
        if p.name in accepted and p.default is p.empty and p.name not in params
    )
    if required:
        raise InvalidParameterError(
            f"Architecture {label} requires encoder_params key(s) {required}; "
            f"encoder_params={params!r} lacks them."
        )


def check_shapes(
    label: str, source: str, fault: type[Exception], parts: dict, widths: dict
) -> None:
    """Run two dummy rows through the encoder and decoder before any training."""
    probes = (
        ("encoder", widths["n_features"], widths["n_encoder_outputs"]),
        ("decoder", widths["n_components"], widths["n_features"]),
    )
    for part, n_in, n_out in probes:
        module = parts[part]
        if not isinstance(module, nn.Module):
            raise fault(
                f"Architecture {label} ({source}) must return (encoder, decoder) "
                f"torch.nn.Module objects; its {part} is {type(module).__name__}."
            )
        expected = (2, n_out)
        training = module.training
        try:
            # In eval mode, so the probe leaves no trace (BatchNorm statistics).
            with torch.no_grad():
                shape = tuple(module.eval()(torch.zeros(2, n_in)).shape)
        except Exception as exc:
            raise fault(
                f"Architecture {label} ({source}): its {part} fails on "
                f"input of shape (2, {n_in}); it should return shape {expected}. "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            module.train(training)
        if shape != expected:
            raise fault(
                f"Architecture {label} ({source}): its {part} maps input "
                f"of shape (2, {n_in}) to shape {shape}; expected {expected}."
            )
    if not any(p.requires_grad for part in parts.values() for p in part.parameters()):
        raise fault(
            f"Architecture {label} ({source}) built an encoder and a decoder with no "
            "trainable parameters: there is nothing to fit."
        )


def _describe(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return f"a {type(value).__name__} object"


def _call_build(
    label: str,
    source: str,
    fault: type[Exception],
    build: Callable,
    widths: dict,
    params: dict,
) -> tuple[object, object]:
    """``build(**widths, **params)`` as ``(encoder, decoder)``, errors blamed right."""
    sizes = ", ".join(f"{k}={v}" for k, v in widths.items())
    try:
        result = build(**widths, **params)
    except (ValueError, TypeError) as exc:  # InvalidParameterError included
        raise InvalidParameterError(
            f"Architecture {label} raised {type(exc).__name__} while building "
            f"with encoder_params={params!r}: {exc}"
        ) from exc
    except MemoryError as exc:
        if str(exc):  # raised on purpose, such as the built-ins' size checks
            raise
        raise MemoryError(
            f"Architecture {label} ran out of memory while building with "
            f"{sizes} and encoder_params={params!r}. Use smaller sizes "
            "(encoder_params, n_components)."
        ) from exc
    except Exception as exc:
        text = str(exc)
        if any(s in text for s in _ALLOCATION_FAILURES):
            raise MemoryError(
                f"Architecture {label} ran out of memory while building with "
                f"{sizes} and encoder_params={params!r}: {type(exc).__name__}: "
                f"{text} Use smaller sizes (encoder_params, n_components)."
            ) from exc
        if isinstance(exc, RuntimeError) and any(
            s in text.lower() for s in _SIZE_FAILURES
        ):
            raise InvalidParameterError(
                f"Architecture {label} cannot make tensors of the sizes that "
                f"{sizes} and encoder_params={params!r} give: "
                f"{type(exc).__name__}: {text}"
            ) from exc
        raise fault(
            f"Architecture {label} ({source}) failed to build: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise fault(
            f"Architecture {label} ({source}) must return (encoder, decoder), two "
            f"torch.nn.Module objects; it returned {_describe(result)}."
        )
    return result[0], result[1]


def build_module(
    module_class: type[BaseModule],
    *,
    label: str,
    build: Callable,
    provider: str | None,
    n_features: int,
    n_components: int,
    loss: str,
    encoder_params: dict,
    module_params: dict,
    seed: int,
) -> BaseModule:
    """Build encoder and decoder with ``build``, check them, wrap them in a module.

    ``label`` names the architecture in messages and ``provider`` the plugin it
    comes from (None for a plain callable). Bad ``encoder_params`` raise
    :class:`InvalidParameterError`, modules too large for memory raise
    ``MemoryError``; any other failure of the architecture, or a result that is
    not two modules of the right shapes, raise :class:`PluginError` for a
    registered plugin and ``ValueError`` for a callable (see the module's
    docstring). Initialisation draws from torch's global generator seeded with
    ``seed``, whose state is restored afterwards.
    """
    source = provider or "a callable"
    fault = PluginError if provider else ValueError
    check_encoder_params(label, source, fault, build, encoder_params)
    widths = {
        "n_features": n_features,
        "n_encoder_outputs": (2 if module_class.variational else 1) * n_components,
        "n_components": n_components,
    }
    # Building seeds torch's global generator inside fork_rng, under the lock
    # that training holds too: concurrent fits in threads never interleave there.
    with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        encoder, decoder = _call_build(
            label, source, fault, build, widths, encoder_params
        )
        check_shapes(
            label, source, fault, {"encoder": encoder, "decoder": decoder}, widths
        )
    return module_class(encoder, decoder, loss, n_components, **module_params)
