"""Conditions for :class:`skae.ConditionalVAE`: from labels to float rows and back.

A categorical ``y`` (any labels) becomes one-hot columns over ``classes_``; a
continuous ``y`` (one or more numeric columns) is standardised with
``condition_mean_`` and ``condition_scale_``. The functions here read and
write those fitted attributes as a dict (or any object that has them), and
check them when a saved model is loaded. :func:`build_conditional` builds the
module from a registered architecture, with the decoder's extra inputs.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.multiclass import type_of_target

from ._building import _call_build, check_encoder_params, check_shapes
from ._data import as_array_like
from ._engine.conditional import ConditionalVariationalAutoencoder
from ._engine.randomness import GLOBAL_RNG_LOCK
from ._format import Refused
from .exceptions import PluginError

#: Training conditions kept (continuous ``y``) for ``sample`` and the marginal.
CONDITION_SAMPLES = 1000
#: Of those, how many the marginal ``score_samples(X)`` averages over.
MARGINAL_CONDITIONS = 64
#: The ``condition`` parameter's values.
CONDITIONS = ("auto", "categorical", "continuous")
#: The fitted attributes of each kind of condition.
ATTRIBUTES = {
    "categorical": ("condition_type_", "classes_", "class_prior_"),
    "continuous": (
        "condition_type_", "condition_mean_", "condition_scale_", "condition_samples_"
    ),
}  # fmt: skip


def as_labels(y, n: int | None, owner: str) -> np.ndarray:
    """``y`` as a 1-D or 2-D array, with ``n`` rows when ``n`` is given."""
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None. Pass the "
            "labels (or continuous conditions) of the rows."
        )
    y = np.asarray(as_array_like(y, "y"))
    if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind not in "fc":
        y = y[:, 0]
    if y.ndim not in (1, 2) or len(y) == 0:
        raise ValueError(
            f"{owner}: y must be 1-D or 2-D and non-empty; got shape {y.shape}."
        )
    if n is not None and len(y) != n:
        raise ValueError(
            f"{owner}: y has {len(y)} rows but there are {n} samples; it needs "
            "one label (or condition row) per sample."
        )
    return y


def _finite(y: np.ndarray, owner: str) -> np.ndarray:
    """A continuous ``y`` as finite float64 columns, or a clear error."""
    try:
        values = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{owner}: a continuous condition y must be numeric ({exc})."
        ) from None
    if not np.isfinite(values).all():
        raise ValueError(
            f"{owner}: y contains NaN or infinity; a continuous condition must be "
            "finite. Impute or drop those rows."
        )
    return values.reshape(len(values), -1)


def fit_encoding(y: np.ndarray, condition: str, seed: int, owner: str) -> dict:
    """The fitted attributes that encode ``y``; ``seed`` picks the kept rows."""
    kind = condition
    if kind == "auto":
        bad = y.dtype.kind in "fc" and not np.isfinite(y).all()
        categorical = y.ndim == 1 and not bad
        if categorical:
            categorical = type_of_target(y) in ("binary", "multiclass")
        kind = "categorical" if categorical else "continuous"
    if kind == "continuous":
        values = _finite(y, owner)
        scale = values.std(axis=0)
        keep = np.random.default_rng(seed).permutation(len(values))
        return {
            "condition_type_": "continuous",
            "condition_mean_": values.mean(axis=0),
            "condition_scale_": np.where(scale > 0, scale, 1.0),
            "condition_samples_": values[keep[:CONDITION_SAMPLES]],
        }
    if y.ndim != 1:
        raise ValueError(
            f"{owner}: a categorical y must be 1-D (one label per row); got shape "
            f"{y.shape}. Use condition='continuous' for numeric columns."
        )
    try:
        classes, counts = np.unique(y, return_counts=True)
    except TypeError as exc:
        raise TypeError(
            f"{owner}: the labels in y cannot be sorted ({exc}); use labels of "
            "one type."
        ) from None
    if classes.dtype.kind in "fc" and not np.isfinite(classes).all():
        raise ValueError(f"{owner}: y contains NaN or infinity, which is no label.")
    return {
        "condition_type_": "categorical",
        "classes_": classes,
        "class_prior_": counts / counts.sum(),
    }


def encode(fitted, y: np.ndarray, owner: str) -> np.ndarray:
    """The float condition rows of ``y`` (float64), under ``fitted``'s encoding."""
    if fitted.condition_type_ == "continuous":
        values = _finite(y, owner)
        width = len(fitted.condition_mean_)
        if values.shape[1] != width:
            raise ValueError(
                f"{owner}: y has {values.shape[1]} condition column(s), but the "
                f"model was fitted with {width}."
            )
        return (values - fitted.condition_mean_) / fitted.condition_scale_
    classes = fitted.classes_
    if y.ndim != 1:
        raise ValueError(f"{owner}: y must hold one label per row; got {y.shape}.")
    try:
        seen = np.isin(y, classes)
    except TypeError:
        seen = np.zeros(len(y), dtype=bool)
    if not seen.all():
        unseen = list(dict.fromkeys(y[~seen].tolist()))[:5]
        raise ValueError(
            f"{owner}: y contains label(s) {unseen} not seen in fit; the fitted "
            f"classes are {classes.tolist()}."
        )
    return np.eye(len(classes))[np.searchsorted(classes, y)]


def beside(X, C: np.ndarray):
    """``[X, C]``, the rows the engine works on, sparse if ``X`` is."""
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(C.astype(X.dtype))], format="csr")
    return np.hstack([X, C.astype(X.dtype)])


def for_samples(fitted, y, n: int, rng: np.random.Generator, owner: str):
    """The condition of each of ``n`` samples, as labels or values.

    ``y=None`` draws them: labels with the frequencies ``class_prior_``,
    continuous conditions uniformly among ``condition_samples_``. One label
    (or one condition row) is repeated ``n`` times.
    """
    if fitted.condition_type_ == "categorical":
        if y is None:
            prior = fitted.class_prior_
            return fitted.classes_[rng.choice(len(prior), size=n, p=prior)]
        if np.ndim(y) == 0:
            return np.repeat(np.asarray(y)[None], n)
        return as_labels(y, n, owner)
    if y is None:
        kept = fitted.condition_samples_
        return kept[rng.integers(len(kept), size=n)]
    values = np.asarray(as_array_like(y, "y") if np.ndim(y) else [y])
    if values.ndim <= 1 and values.size == len(fitted.condition_mean_):
        return np.repeat(values.reshape(1, -1), n, axis=0)
    return as_labels(values, n, owner)


def prior_draws(fitted, y: np.ndarray, seed: int, owner: str):
    """``draw_codes(start, n)`` for ``sample``: ``[z, c]`` rows, z ~ p(z | c).

    The conditions ``y`` (one per sample) are encoded block by block, so their
    one-hot rows never exist for all samples at once. One generator seeded by
    ``seed`` serves the blocks in order, so the first block's draws do not
    depend on how many follow.
    """
    device = torch.device(fitted.device_)
    generator = torch.Generator(device=device).manual_seed(seed)

    def draw_codes(start: int, n: int) -> np.ndarray:
        block = encode(fitted, y[start : start + n], owner)
        with torch.inference_mode():
            c = torch.as_tensor(block, dtype=torch.float32, device=device)
            return fitted.module_.sample_latent(c, generator).cpu().numpy()

    return draw_codes


def marginal(fitted, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """The conditions and log-probabilities that the marginal sums over."""
    if fitted.condition_type_ == "categorical":
        return np.eye(len(fitted.classes_)), np.log(fitted.class_prior_)
    kept = fitted.condition_samples_[:MARGINAL_CONDITIONS]
    return encode(fitted, kept, owner), np.full(len(kept), -np.log(len(kept)))


def _floats(value, ndim: int) -> bool:
    return (
        isinstance(value, np.ndarray)
        and value.dtype.kind == "f"
        and value.ndim == ndim
        and value.size > 0
        and bool(np.isfinite(value).all())
    )


def importance(params: dict) -> dict:
    """The importance sampler's draws and seed, from the fit-time parameters."""
    seed = params["random_state"]
    seed = int(seed) if isinstance(seed, numbers.Integral) else 0
    return {"n_draws": params["n_importance_samples"], "seed": seed}


def split_attributes(attributes: dict) -> tuple[dict, dict, int]:
    """A saved model's attributes as (the base's, the condition's, the width).

    Raises :class:`~skae._format.Refused` if the condition's are missing or
    malformed.
    """
    rest = dict(attributes)
    kind = rest.get("condition_type_")
    if kind not in ATTRIBUTES or not set(ATTRIBUTES[kind]) <= set(rest):
        raise Refused(
            "its condition attributes (condition_type_ and those it needs) are "
            "missing or malformed. Fit and save the model again."
        )
    mine = {k: rest.pop(k) for k in ATTRIBUTES[kind]}
    return rest, mine, checked_width(mine)


def checked_width(a: dict) -> int:
    """The condition width that a saved model's attributes give, or Refused."""
    if a["condition_type_"] == "categorical":
        classes, prior = a["classes_"], a["class_prior_"]
        ok = (
            isinstance(classes, np.ndarray)
            and classes.ndim == 1
            and len(classes) > 0
            and len(np.unique(classes)) == len(classes)
            and _floats(prior, 1)
            and prior.shape == classes.shape
            and bool((prior > 0).all())
            and abs(prior.sum() - 1) < 1e-6
        )
        width = len(classes) if ok else 0
    else:
        mean, scale = a["condition_mean_"], a["condition_scale_"]
        kept = a["condition_samples_"]
        ok = _floats(mean, 1) and _floats(scale, 1) and _floats(kept, 2)
        ok = ok and mean.shape == scale.shape and kept.shape[1:] == mean.shape
        ok = ok and bool((scale > 0).all())
        width = len(mean) if ok else 0
    if not ok:
        raise Refused(
            "its condition attributes (classes_, class_prior_, or the "
            "condition_* arrays) are malformed. Fit and save the model again."
        )
    return width


def build_conditional(estimator, n_features: int, n_conditions: int, seed: int):
    """The conditional module for ``estimator``'s parameters.

    As :func:`skae._building.build_module`, with the Architecture contract's
    widths set for a conditional decoder: ``n_encoder_outputs = 2k`` (the
    posterior's means and log-variances) and ``n_components = k + c``, the
    decoder's input ``[z, c]``. So every registered architecture serves,
    unchanged; its faults are blamed as for the other estimators.
    """
    label, build, provider = estimator._architecture()
    source = provider or "a callable"
    fault = PluginError if provider else ValueError
    params = dict(estimator.encoder_params or {})
    check_encoder_params(label, source, fault, build, params)
    k = estimator.n_components
    widths = {
        "n_features": n_features,
        "n_encoder_outputs": 2 * k,
        "n_components": k + n_conditions,
    }
    with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        encoder, decoder = _call_build(label, source, fault, build, widths, params)
        parts = {"encoder": encoder, "decoder": decoder}
        check_shapes(label, source, fault, parts, widths)
        module = ConditionalVariationalAutoencoder(
            encoder,
            decoder,
            estimator.loss,
            k,
            n_conditions,
            **estimator._module_params(),
        )
    module.set_n_features(n_features)
    signature = estimator._module_signature()
    module.signature = {**signature, "n_conditions": n_conditions}
    return module
