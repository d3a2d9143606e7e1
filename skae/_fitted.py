"""The fitted-state protocol: what a fitted estimator is, for pickle and for files.

:class:`FittedStateMixin` gives the estimators ``save``, ``__getstate__`` and
``__setstate__``, and the two halves of the protocol that ``save`` and
:func:`skae.load` use:

- ``_fitted_state()`` takes a consistent snapshot: the class name, the
  parameters the model was fitted with, the fitted attributes and the weights;
- ``_from_fitted_state(state)`` rebuilds an estimator from one, trusting
  nothing: the parameters pass the same validation as ``fit``, every fitted
  attribute is checked, and the declared weights are checked against a module
  built from the parameters on torch's ``meta`` device (no memory) before
  anything is allocated.

This module imports no estimator module and no :mod:`skae.persistence`; the
estimator supplies the hooks ``_snapshot``, ``_publish``, ``_check_params``,
``_build_module`` and the private ``_fit_params`` attribute.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from sklearn.utils.validation import check_is_fitted

from . import _format, registry
from ._device import loadable_device
from ._distributed import writes_files
from ._fitted_checks import (
    OPTIONAL,
    REQUIRED,
    check_architecture,
    checked_attributes,
    checked_module,
)
from ._format import Refused, TensorSpec
from .exceptions import InvalidParameterError, PluginError

MAX_PARAM_ITEMS = 10_000  # items in any list, tuple or dict among the parameters


@dataclass(frozen=True)
class FittedState:
    """Everything a fitted estimator is, as plain data and tensors.

    Attributes
    ----------
    estimator : str
        The estimator's class name.
    params : dict
        The constructor parameters the model was fitted with.
    attributes : dict
        The fitted attributes (``n_features_in_``, ``device_``, ...) except
        ``module_``.
    specs : dict of str to TensorSpec
        The dtype and shape of every tensor of the module's ``state_dict``.
    read_weights : callable
        Returns the ``state_dict`` as CPU tensors; from a file, it reads them
        only when called, after ``specs`` have been checked.
    provider : str or None
        The plugin that provided the architecture, for messages.
    """

    estimator: str
    params: dict[str, Any]
    attributes: dict[str, Any]
    specs: Mapping[str, TensorSpec]
    read_weights: Callable[[], dict[str, torch.Tensor]]
    provider: str | None = None


def _placed(module: torch.nn.Module, device: str, owner: str):
    """``module`` on ``device``, or on the CPU (warning) if this machine lacks it."""
    device = loadable_device(device, owner)
    return module.to(device), device


class FittedStateMixin:
    """Pickling, ``save`` and the fitted-state protocol for skae's estimators."""

    # ------------------------------------------------------------ the protocol
    def _fitted_state(self) -> FittedState:
        """A consistent :class:`FittedState` of this fitted estimator.

        Raises ``NotFittedError`` if the estimator is not fitted.
        """
        check_is_fitted(self)
        fitted = self._snapshot()
        params = copy.deepcopy(fitted._fit_params)
        attributes = {
            key: copy.deepcopy(getattr(fitted, key))
            for key in REQUIRED + OPTIONAL
            if hasattr(fitted, key)
        }
        # Copies that share no memory (tied weights): safetensors needs them.
        weights = {
            key: value.detach().to("cpu", copy=True).contiguous()
            for key, value in fitted.module_.state_dict().items()
        }
        provider = None
        if isinstance(params.get("encoder"), str):
            owner = type(self).__name__
            provider = registry.resolve_architecture(params["encoder"], owner).provider
        return FittedState(
            estimator=type(self).__name__,
            params=params,
            attributes=attributes,
            specs={
                key: TensorSpec(t.dtype, tuple(t.shape)) for key, t in weights.items()
            },
            read_weights=lambda: weights,
            provider=provider,
        )

    @classmethod
    def _from_fitted_state(cls, state: FittedState):
        """A fitted estimator rebuilt from ``state``, which is not trusted.

        Raises :class:`skae._format.Refused` (a ``ValueError``) saying what is
        wrong. Nothing larger than the declared weights is allocated before
        they have been checked against the parameters.
        """
        name, params = cls.__name__, state.params
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise Refused(
                f"its {name} has parameter(s) {unknown} that this skae does not "
                "know. Load it with the skae version that saved it, or upgrade skae."
            )
        check_architecture(params.get("encoder"), name, state.provider)
        estimator = cls(**params)
        try:
            estimator._check_params()
        except InvalidParameterError as exc:
            raise Refused(f"its parameters are not valid: {exc}") from exc
        except PluginError as exc:
            raise Refused(f"a plugin failed while checking it: {exc}") from exc
        attributes = checked_attributes(state.attributes)
        n_features = attributes["n_features_in_"]
        label = repr(params.get("encoder", "mlp"))
        module = checked_module(estimator, n_features, state.specs, label)
        mixture = attributes.get("latent_mixture_")
        if mixture is not None and mixture["means"].shape[1] != estimator.n_components:
            raise Refused(
                f"its latent_mixture_ has {mixture['means'].shape[1]} dimensions, "
                f"but n_components is {estimator.n_components}. {_format.RESAVE}"
            )
        weights = state.read_weights()
        if not all(torch.isfinite(w).all() for w in weights.values()):
            raise Refused(f"its weights hold NaN or infinite values. {_format.RESAVE}")
        try:
            module.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise Refused(f"its weights do not load into its module ({exc})") from exc
        module.eval()
        module, device = _placed(module, attributes["device_"], name)
        estimator._publish(
            {
                **attributes,
                "module_": module,
                "device_": device,
                # with the defaults of parameters newer than the file
                "_fit_params": copy.deepcopy(estimator.get_params(deep=False)),
            }
        )
        return estimator

    # ------------------------------------------------------------ saving
    def save(self, path) -> None:
        """Save the fitted estimator to ``path`` in skae's safe format.

        What is saved is the model as fitted: the parameters it was fitted
        with (changes made with ``set_params`` or in place since then are not
        saved), its fitted attributes and its weights, all from one consistent
        snapshot. Parameters are stored as JSON and weights with safetensors,
        so :func:`skae.load` runs no code from the file. The file is written
        atomically: an interrupted save never destroys an earlier file. A
        symlink is followed and its target replaced; anything else that is
        not a regular file is refused. Inside :func:`skae.data_parallel`,
        only rank 0 writes (on the other ranks ``save`` does nothing).

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, conventionally ending in ``.skae``.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        ValueError
            If a parameter cannot be stored as JSON, such as a callable
            ``encoder``, or the estimator is a subclass of skae's.
        OSError
            If the file cannot be written, or ``path`` is a folder, a FIFO, a
            device or another file that is not a regular file.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import skae
        >>> X = np.random.default_rng(0).random((50, 6))
        >>> ae = skae.AutoencoderTransformer(max_iter=2, random_state=0).fit(X)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.skae")
        >>> ae.save(path)
        >>> np.array_equal(skae.load(path).transform(X), ae.transform(X))
        True
        """
        if not writes_files():  # a rank other than 0 in skae.data_parallel()
            return
        state = self._fitted_state()
        cls = type(self)
        if not cls.__module__.startswith("skae.") or "<" in cls.__qualname__:
            raise ValueError(
                f"save stores skae's own estimators, not {cls.__module__}."
                f"{cls.__qualname__}. Keep this one with pickle or joblib."
            )
        params = {
            key: _format.encode_value(value, f"The {key!r} parameter")
            for key, value in state.params.items()
        }
        attributes = {
            key: _format.encode_value(value, f"The fitted attribute {key!r}")
            for key, value in state.attributes.items()
        }
        try:  # never write a file that load would refuse
            for value in params.values():
                _format.decode_value(value, MAX_PARAM_ITEMS)
        except Refused as exc:
            raise ValueError(f"This {cls.__name__} cannot be saved: {exc}.") from exc
        body = {
            "architecture": {"name": params["encoder"], "provider": state.provider},
            "params": params,
            "attributes": attributes,
        }
        data = _format.dumps(state.estimator, body, state.read_weights())
        _format.write_atomically(path, data)

    # ------------------------------------------------------------ pickling
    def __getstate__(self) -> dict:
        fitted = self._snapshot()  # consistent, even while another thread fits
        state = super(FittedStateMixin, fitted).__getstate__()
        module = state.get("module_")
        if module is not None and state.get("device_") != "cpu":
            state["module_"] = copy.deepcopy(module).cpu()
            # Its optimizer and generator live on the device: partial_fit after
            # unpickling starts them anew (see BaseAutoencoder._resumed_state).
            state.pop("_training_state", None)
        fit_params = state.get("_fit_params", {})
        names = [(p.get("encoder"), p.get("noise")) for p in (state, fit_params)]
        carried = {
            (type(spec), spec.name): spec
            for encoder, noise in names
            for spec in registry._carried_specs(encoder, noise)
        }
        carried = list(carried.values())
        if carried:
            state["_carried_specs"] = carried
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        carried = state.pop("_carried_specs", None)
        if carried:
            registry._adopt(carried)
        super().__setstate__(state)
        if "module_" in state:
            self.module_, self.device_ = _placed(
                self.module_, self.device_, type(self).__name__
            )
