"""Building a module from an architecture, with the plugin's faults named as such."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable

import torch
from torch import nn

from ._modules import BaseModule
from .exceptions import InvalidParameterError, PluginError

# Building seeds torch's global generator inside fork_rng; the lock keeps
# concurrent fits in threads from interleaving there.
_GLOBAL_RNG_LOCK = threading.Lock()
_WIDTHS = ("n_features", "n_encoder_outputs", "n_components")


def check_encoder_params(label: str, build: Callable, params: dict) -> None:
    """Reject ``encoder_params`` keys that ``build`` does not take."""
    signature = inspect.signature(build)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    accepted = sorted(set(signature.parameters) - set(_WIDTHS))
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"encoder_params has key(s) {unknown} that architecture {label} "
            f"does not take; it takes {accepted}."
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
    :class:`InvalidParameterError`; any other failure of the architecture, or
    modules of the wrong shape, raise :class:`PluginError` for a registered
    plugin and ``ValueError`` for a callable. Initialisation draws from torch's
    global generator seeded with ``seed``, whose state is restored afterwards.
    """
    check_encoder_params(label, build, encoder_params)
    widths = {
        "n_features": n_features,
        "n_encoder_outputs": (2 if module_class.variational else 1) * n_components,
        "n_components": n_components,
    }
    source = provider or "a callable"
    fault = PluginError if provider else ValueError
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        try:
            encoder, decoder = build(**widths, **encoder_params)
        except (ValueError, TypeError) as exc:
            raise InvalidParameterError(
                f"Architecture {label} raised {type(exc).__name__} while building "
                f"with encoder_params={encoder_params!r}: {exc}"
            ) from exc
        except Exception as exc:
            raise fault(
                f"Architecture {label} ({source}) failed to build: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        check_shapes(
            label, source, fault, {"encoder": encoder, "decoder": decoder}, widths
        )
    return module_class(encoder, decoder, loss, n_components, **module_params)
