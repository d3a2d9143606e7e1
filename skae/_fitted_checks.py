"""Checks of a fitted state from an untrusted source (a file, before loading it).

Every fitted attribute's type, range and consistency, and the declared
weights against a module built from the parameters on torch's ``meta``
device, so that nothing is allocated before the sizes are known to agree.
Each check raises :class:`skae._format.Refused` saying what is wrong.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from . import _format, registry
from ._device import is_device_name
from ._format import Refused, TensorSpec
from ._samplers import is_latent_mixture
from .exceptions import InvalidParameterError, PluginError

REQUIRED = (
    "n_features_in_", "device_", "loss_curve_", "validation_loss_curve_",
    "best_validation_loss_", "n_iter_",
)  # fmt: skip
OPTIONAL = ("feature_names_in_", "latent_mixture_")


def check_architecture(encoder: object, owner: str, provider: str | None) -> None:
    if not isinstance(encoder, str):
        return  # _check_params names what is wrong with it
    try:
        registry.resolve_architecture(encoder, owner)
    except InvalidParameterError as exc:
        source = f" (from {provider:.200})" if isinstance(provider, str) else ""
        raise Refused(
            f"it uses the architecture {encoder!r:.80}{source}, which is not "
            "registered in this Python environment. Install the plugin that "
            "provides it, or register it with skae.register_plugin, then load again."
        ) from exc
    except PluginError as exc:
        raise Refused(f"its architecture {encoder!r:.80} is unusable: {exc}") from exc


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite_float(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _curve(value: object) -> bool:
    return isinstance(value, list) and all(_is_finite_float(v) for v in value)


def checked_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The fitted attributes, each of the right type and range, or Refused."""
    unknown = sorted(set(attributes) - set(REQUIRED) - set(OPTIONAL))
    missing = sorted(set(REQUIRED) - set(attributes))
    if unknown or missing:
        raise Refused(
            "its fitted attributes are malformed: "
            + (f"unknown {unknown!s:.200} " if unknown else "")
            + (f"missing {missing}" if missing else "")
        )
    a = attributes
    checks = {  # in order: later checks rely on earlier ones
        "n_features_in_": (lambda v: _is_int(v) and v >= 1, "a positive int"),
        "loss_curve_": (_curve, "a list of finite floats"),
        "n_iter_": (
            lambda v: _is_int(v) and v == len(a["loss_curve_"]),
            "an int, the length of loss_curve_",
        ),
        "validation_loss_curve_": (
            lambda v: v is None or (_curve(v) and len(v) <= a["n_iter_"]),
            "None or a list of finite floats, no longer than loss_curve_",
        ),
        "best_validation_loss_": (
            lambda v: (
                (v is None or _is_finite_float(v))
                and v == min(a["validation_loss_curve_"] or [None])
            ),
            "the least of validation_loss_curve_ (None without one)",
        ),
        "feature_names_in_": (
            lambda v: (
                isinstance(v, np.ndarray)
                and v.dtype == object
                and v.shape == (a["n_features_in_"],)
                and all(isinstance(n, str) for n in v)
            ),
            "an object array of n_features_in_ strings",
        ),
        "latent_mixture_": (
            lambda v: v is None or is_latent_mixture(v),
            "None or a Gaussian mixture: a dict of float arrays weights (m,), "
            "means (m, k) and covariances (m, k, k), the covariances positive "
            "definite",
        ),
    }
    for key, (ok, expected) in checks.items():
        if key in a and not ok(a[key]):
            raise Refused(
                f"its fitted attribute {key} ({a[key]!r:.80}) is not valid: it "
                f"must be {expected}. {_format.RESAVE}"
            )
    device = a["device_"]
    if not is_device_name(device) or device == "auto":
        raise Refused(
            f"its device_ {device!r:.80} is not a device: it must be 'cpu', "
            f"'cuda', 'cuda:N' or 'mps'. {_format.RESAVE}"
        )
    return dict(attributes)


def checked_module(
    estimator, n_features: int, specs: Mapping[str, TensorSpec], label: str
) -> torch.nn.Module:
    """The module the parameters build, once the declared ``specs`` fit it.

    They are checked first against a module built on the meta device, which
    records shapes and allocates nothing, so parameters that would build a
    huge module cost no memory. An architecture that cannot be built there is
    built for real, but only for an ``n_features_in_`` the weights could serve.
    """
    for device in ("meta", None):
        try:
            with torch.device(device or "cpu"):
                module = estimator._build_module(n_features, 0)
        except InvalidParameterError as exc:
            raise Refused(f"its parameters are not valid: {exc}") from exc
        except Exception as exc:  # a plugin's fault, or sizes torch cannot handle
            declared = sum(math.prod(spec.shape) for spec in specs.values())
            if device is None or n_features > declared:
                raise Refused(
                    f"its architecture {label:.80} cannot be built from its "
                    f"parameters and n_features_in_={n_features}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            continue
        _compare(_specs(module), specs, label)
    return module


def _specs(module: torch.nn.Module) -> dict[str, TensorSpec]:
    return {
        key: TensorSpec(t.dtype, tuple(t.shape))
        for key, t in module.state_dict().items()
    }


def _describe(spec: TensorSpec) -> str:
    return f"{str(spec.dtype).removeprefix('torch.')} of shape {spec.shape}"


def _compare(
    expected: Mapping[str, TensorSpec], declared: Mapping[str, TensorSpec], label: str
) -> None:
    if expected == dict(declared):
        return
    names = sorted(set(expected) ^ set(declared))
    if names:
        detail = f"tensor names differ: {names[:5]!r:.300}"
    else:
        key = next(k for k in sorted(expected) if expected[k] != declared[k])
        detail = (
            f"{key!r} is declared as {_describe(declared[key])}, but its "
            f"parameters build {_describe(expected[key])}"
        )
    raise Refused(
        f"its weights do not fit the {label:.80} architecture built from its "
        f"parameters ({detail}). {_format.RESAVE}"
    )
