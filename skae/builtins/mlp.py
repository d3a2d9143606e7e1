"""The built-in ``"mlp"`` architecture: fully connected encoder and mirrored decoder."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence

from torch import nn

from ..hookspecs import Architecture, hookimpl

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (a key of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}; use one of {sorted(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def check_layer_sizes(hidden_layer_sizes: object) -> tuple[int, ...]:
    """Validate ``hidden_layer_sizes``: a sequence of positive ints (or one int)."""
    sizes = (
        (hidden_layer_sizes,)
        if isinstance(hidden_layer_sizes, numbers.Integral)
        else hidden_layer_sizes
    )
    if not isinstance(sizes, Sequence) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
        for s in sizes
    ):
        raise ValueError(
            "encoder_params['hidden_layer_sizes'] must be a sequence of positive "
            f"ints, such as (256,) or (256, 64); got {hidden_layer_sizes!r}."
        )
    return tuple(int(s) for s in sizes)


def dense_stack(widths: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers through ``widths``, with activations between (not after)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(activation_layer(activation))
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def build_mlp(
    n_features: int,
    n_encoder_outputs: int,
    n_components: int,
    *,
    hidden_layer_sizes: Sequence[int] | int = (256,),
    activation: str = "relu",
) -> tuple[nn.Module, nn.Module]:
    """Encoder ``n_features -> *hidden -> n_encoder_outputs``, decoder mirrored.

    Parameters
    ----------
    n_features, n_encoder_outputs, n_components : int
        See :class:`skae.Architecture`.
    hidden_layer_sizes : sequence of int, default=(256,)
        Widths of the encoder's hidden layers; the decoder uses them reversed.
        ``(256,)`` with ``n_components=64`` on MNIST gives 784-256-64.
    activation : str, default="relu"
        One of ``"relu"``, ``"leaky_relu"``, ``"elu"``, ``"gelu"``, ``"silu"``,
        ``"tanh"``, ``"sigmoid"``.
    """
    hidden = check_layer_sizes(hidden_layer_sizes)
    activation_layer(activation)  # fail on a bad name before building anything
    encoder = dense_stack([n_features, *hidden, n_encoder_outputs], activation)
    decoder = dense_stack([n_components, *reversed(hidden), n_features], activation)
    return encoder, decoder


@hookimpl
def register_architectures() -> list[Architecture]:
    return [
        Architecture(
            "mlp",
            build_mlp,
            "Fully connected encoder and mirrored decoder "
            "(hidden_layer_sizes, activation).",
        )
    ]
